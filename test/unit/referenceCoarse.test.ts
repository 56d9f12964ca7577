// The continuous reference on step H = 2h (tied copies, no data losses) agrees
// with the one on step h, for per-step densities at odd layer times (step
// midpoints: Hermite x and p) and for ∫ g dt of shared parameters; untied
// copies never take the coarse grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialParameters } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { continuousReference, referenceOn, type ReferenceInput } from '../../solver/engine/reference';
import { parameterCopies, schemeByName } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';
import { spiral } from './engineFixtures';

const backend = 'cpu' as const;

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

async function compare(model: Model, N: number, untie = false) {
  const { tf } = await initBackend(backend);
  const values = initialParameters(tf, model);
  const copies = parameterCopies(schemeByName(model.options.meth), N, 1 / N, 0).times;
  if (untie) values.forEach((v, i) => { if (!model.params[i].perStep) return; const P = v.length / copies.length; for (let n = 0; n < copies.length; n++) for (let k = 0; k < P; k++) v[n * P + k] *= 1 + 0.2 * Math.sin(3 * n / copies.length + i); });
  const { compiled: cm } = compileModel(tf, model);
  const before = tf.memory().numTensors;
  try {
    const inp: ReferenceInput = {
      N, h: 1 / N, t0: 0, layerTimes: copies,
      params: model.params.map((p, i) => ({ perStep: p.perStep, values: values[i], shape: internalShape(p.shape), size: sizeOf(p.shape) })),
    };
    const out = { auto: continuousReference(tf, cm, inp), coarse: referenceOn(tf, cm, inp, true), fine: referenceOn(tf, cm, inp, false) };
    assert.equal(tf.memory().numTensors, before, 'the reference frees every tensor it made');
    return out;
  } finally {
    cm.dispose();
  }
}

test('coarse reference: per-step densities at nodes and midpoints match the fine grid (leapfrog, euler)', async () => {
  for (const meth of ['leapfrog', 'euler'] as const) {
    const N = 64;
    const { auto, coarse, fine } = await compare(spiral({ steps: N, meth }), N);
    assert.equal(auto.gridTimes.length, N / 2 + 1, `${meth}: tied copies take H = 2h`);
    assert.equal(fine.gridTimes.length, N + 1);
    for (let i = 0; i < fine.g.length; i++) {
      const e = rel(coarse.g[i], fine.g[i]);
      assert.ok(e < 1e-5, `${meth}: parameter ${i}: coarse vs fine ${e}`);
    }
    assert.ok(Math.abs(coarse.lossAccurate - fine.lossAccurate) <= 1e-6 * Math.abs(fine.lossAccurate), `loss ${coarse.lossAccurate} vs ${fine.lossAccurate}`);
    assert.ok(auto.referenceError < 1e-5 && auto.referenceError >= 2 ** -24 * Math.sqrt(N / 2), `reference error ${auto.referenceError}`);
  }
});

test('coarse reference: ∫ g dt of shared parameters matches the fine grid', async () => {
  const N = 32;
  const base = spiral({ steps: N, meth: 'rk4' });
  const model: Model = { ...base, params: base.params.map((p) => ({ ...p, perStep: false })) };
  const { coarse, fine } = await compare(model, N);
  for (let i = 0; i < fine.g.length; i++) {
    const e = rel(coarse.g[i], fine.g[i]);
    assert.ok(e < 1e-5, `parameter ${i}: coarse vs fine ${e}`);
  }
});

test('coarse reference: untied copies (kinks of θ(t) inside a coarse step) keep step h', async () => {
  const N = 64;
  const { auto } = await compare(spiral({ steps: N }), N, true);
  assert.equal(auto.gridTimes.length, N + 1);
});

test('rhsLinearize: repeated products equal rhsVjp (state only, with parameters, parameters only)', async () => {
  const { tf } = await initBackend(backend);
  const model = spiral({ steps: 8 });
  const values = initialParameters(tf, model);
  const { compiled: cm } = compileModel(tf, model);
  try {
    tf.tidy(() => {
      const th = model.params.map((p, i) => tf.tensor(values[i].subarray(0, sizeOf(p.shape)), internalShape(p.shape)));
      const x = [tf.tensor([[0.7], [-0.3]])];
      const lin = cm.rhsLinearize!(x, th, 0.25);
      for (const [cot, withParams, withState] of [[[0.4, -1.1], false, true], [[-0.2, 0.9], true, true], [[1.3, 0.5], true, false]] as const) {
        const c = [tf.tensor([[cot[0]], [cot[1]]])];
        const got = lin.back(c, withParams, withState), want = cm.rhsVjp!(x, th, 0.25, c, withParams);
        assert.equal(got.vx.length, withState ? 1 : 0);
        if (withState) assert.ok(rel(got.vx[0].dataSync(), want.vx[0].dataSync()) < 1e-6);
        for (let i = 0; i < got.vp.length; i++) assert.ok(rel(got.vp[i].dataSync(), want.vp[i].dataSync()) < 1e-6, `parameter ${i}`);
        assert.equal(got.vp.length, withParams ? th.length : 0);
      }
    });
  } finally {
    cm.dispose();
  }
});
