// The continuous reference on step H = 2h and 4h (tied copies, no data losses)
// agrees with the one on the usual grid, for per-step densities at layer times
// inside the coarse steps (Hermite x and p; on the h-grid for leapfrog and
// Euler, at t_n + h/2 for step-tied Runge–Kutta) and for ∫ g dt of shared
// parameters; untied copies never take a coarse grid.
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
    const out = {
      auto: continuousReference(tf, cm, inp),
      coarse: untie ? undefined : referenceOn(tf, cm, inp, 2),
      coarse4: untie ? undefined : referenceOn(tf, cm, inp, 4),
      fine: referenceOn(tf, cm, inp, 1),
    };
    assert.equal(tf.memory().numTensors, before, 'the reference frees every tensor it made');
    return out;
  } finally {
    cm.dispose();
  }
}

test('coarse reference: per-step densities inside the coarse steps match the fine grid (leapfrog, euler, heun, rk4)', async () => {
  for (const meth of ['leapfrog', 'euler', 'heun', 'rk4'] as const) {
    const N = 64;
    const { auto, coarse, coarse4, fine } = await compare(spiral({ steps: N, meth }), N);
    assert.equal(auto.gridTimes.length, N / 4 + 1, `${meth}: tied copies take H = 4h`);
    // Layer times at t_n + h/2 (step-tied Runge–Kutta) put the usual grid at h/2.
    assert.equal(fine.gridTimes.length, (meth === 'heun' || meth === 'rk4' ? 2 * N : N) + 1);
    for (const [name, r] of [['2h', coarse!], ['4h', coarse4!]] as const) {
      for (let i = 0; i < fine.g.length; i++) {
        const e = rel(r.g[i], fine.g[i]);
        assert.ok(e < 1e-5, `${meth}: parameter ${i}: ${name} vs fine ${e}`);
      }
      assert.ok(Math.abs(r.lossAccurate - fine.lossAccurate) <= 1e-6 * Math.abs(fine.lossAccurate), `${name} loss ${r.lossAccurate} vs ${fine.lossAccurate}`);
    }
    assert.ok(auto.referenceError < 1e-5 && auto.referenceError >= 2 ** -24 * Math.sqrt(N / 4), `reference error ${auto.referenceError}`);
  }
});

test('coarse reference: ∫ g dt of shared parameters matches the fine grid', async () => {
  const N = 32;
  const base = spiral({ steps: N, meth: 'rk4' });
  const model: Model = { ...base, params: base.params.map((p) => ({ ...p, perStep: false })) };
  const { coarse, coarse4, fine } = await compare(model, N);
  for (let i = 0; i < fine.g.length; i++) {
    for (const [name, r] of [['2h', coarse!], ['4h', coarse4!]] as const) {
      const e = rel(r.g[i], fine.g[i]);
      assert.ok(e < 1e-5, `parameter ${i}: ${name} vs fine ${e}`);
    }
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
