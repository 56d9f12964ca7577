// The continuous reference on step H = 2h, 4h and 8h (tied copies, no data losses)
// agrees with the one on the usual grid, for per-step densities at layer times
// inside the coarse steps (Hermite x and p; on the h-grid for leapfrog and
// Euler, at t_n + h/2 for step-tied Runge–Kutta) and for ∫ g dt of shared
// parameters; the coarsest grid whose truncation estimate passes is taken, g at
// many points comes in chunks, and untied copies never take a coarse grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import {
  continuousReference,
  GRID_GRADIENT_FLOATS,
  referenceOn,
  type ReferenceInput,
} from '../../solver/engine/reference';
import { schemeByName } from '../../solver/schemes/schemes';
import { parameterCopies } from '../../solver/schemes/copies';
import type { Model } from '../../solver/model';
import { bin, call, end, num, spiral } from './engineFixtures';
import { analyse } from '../../solver/language/index';
import { referenceInput } from '../../bench/referenceCopies';

const backend = 'cpu' as const;

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

async function compare(model: Model, N: number, untie = false, factors: (2 | 4 | 8)[] = [2, 4, 8]) {
  const { tf } = await initBackend(backend);
  const values = initialParameters(tf, model);
  const h = model.options.dt;
  const copies = parameterCopies(schemeByName(model.options.meth), N, h, 0).times;
  if (untie)
    values.forEach((v, i) => {
      if (!model.params[i].perStep) return;
      const P = v.length / copies.length;
      for (let n = 0; n < copies.length; n++)
        for (let k = 0; k < P; k++) v[n * P + k] *= 1 + 0.2 * Math.sin((3 * n) / copies.length + i);
    });
  const { compiled: cm } = compileModel(tf, model);
  const before = tf.memory().numTensors;
  try {
    const inp: ReferenceInput = {
      N,
      h,
      t0: 0,
      layerTimes: copies,
      params: model.params.map((p, i) => ({
        perStep: p.perStep,
        values: values[i],
        shape: internalShape(p.shape),
        size: sizeOf(p.shape),
      })),
    };
    const out = {
      auto: continuousReference(tf, cm, inp),
      coarse: untie || !factors.includes(2) ? undefined : referenceOn(tf, cm, inp, 2),
      coarse4: untie || !factors.includes(4) ? undefined : referenceOn(tf, cm, inp, 4),
      coarse8: untie || N < 64 || !factors.includes(8) ? undefined : referenceOn(tf, cm, inp, 8),
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
    const { auto, coarse, coarse4, coarse8, fine } = await compare(spiral({ steps: N, meth }), N);
    // 8h needs 16 steps: with N = 64 the coarsest grid tried is 4h, and it passes.
    assert.equal(auto.gridTimes.length, N / 4 + 1, `${meth}: tied copies take H = 4h`);
    // Layer times at t_n + h/2 (step-tied Runge–Kutta) put the usual grid at h/2.
    assert.equal(fine.gridTimes.length, (meth === 'heun' || meth === 'rk4' ? 2 * N : N) + 1);
    for (const [name, r] of [
      ['2h', coarse!],
      ['4h', coarse4!],
      ['8h', coarse8!],
    ] as const) {
      for (let i = 0; i < fine.g.length; i++) {
        const e = rel(r.g[i], fine.g[i]);
        assert.ok(e < 1e-5, `${meth}: parameter ${i}: ${name} vs fine ${e}`);
      }
      assert.ok(
        Math.abs(r.lossAccurate - fine.lossAccurate) <= 1e-6 * Math.abs(fine.lossAccurate),
        `${name} loss ${r.lossAccurate} vs ${fine.lossAccurate}`,
      );
    }
    assert.ok(
      auto.referenceError < 1e-5 && auto.referenceError >= 2 ** -24 * Math.sqrt(N / 4),
      `reference error ${auto.referenceError}`,
    );
  }
});

test('coarse reference: ∫ g dt of shared parameters matches the fine grid', async () => {
  const N = 32;
  const base = spiral({ steps: N, meth: 'rk4' });
  const model: Model = { ...base, params: base.params.map((p) => ({ ...p, perStep: false })) };
  const { coarse, coarse4, fine } = await compare(model, N);
  for (let i = 0; i < fine.g.length; i++) {
    for (const [name, r] of [
      ['2h', coarse!],
      ['4h', coarse4!],
    ] as const) {
      const e = rel(r.g[i], fine.g[i]);
      assert.ok(e < 1e-5, `parameter ${i}: ${name} vs fine ${e}`);
    }
  }
});

test('coarse reference: the coarsest grid whose estimate passes; a stiffer network falls back from 8h, and stays accurate', async () => {
  const N = 128;
  const easy = await compare(spiral({ steps: N, meth: 'leapfrog' }), N, false, [8]);
  assert.ok(easy.coarse8!.truncation <= 2 ** -24 * Math.sqrt(N), `spiral: 8h estimate ${easy.coarse8!.truncation}`);
  assert.equal(easy.auto.gridTimes.length, N / 8 + 1, 'spiral: H = 8h');
  // 64 states, width 16, over 2 time units: the 8h estimate misses the tolerance, 4h passes.
  const d = 64,
    width = 16;
  const base = spiral({ steps: N, meth: 'leapfrog', width, total: 2 });
  const model: Model = {
    ...base,
    states: [{ ...base.states[0], shape: [d], init: num(0.5) }],
    params: base.params.map((p) => ({
      ...p,
      shape: p.name === 'W1' ? [width, d] : p.name === 'W2' ? [d, width] : p.shape,
      init: p.init.kind === 'normal' ? { ...p.init, std: p.name === 'W1' ? 0.3 * Math.sqrt(2 / d) : 0.3 } : p.init,
    })),
    loss: { ...base.loss!, expr: bin('*', num(0.5), call('sum', bin('^', bin('-', end('x'), num(0.1)), num(2)))) },
  };
  const { auto, coarse8, fine } = await compare(model, N, false, [8]);
  const tolerance = 2 ** -24 * Math.sqrt(N);
  assert.ok(coarse8!.truncation > tolerance, `8h estimate ${coarse8!.truncation} should miss ${tolerance}`);
  assert.ok(auto.gridTimes.length > N / 8 + 1, 'not on 8h');
  for (let i = 0; i < fine.g.length; i++)
    assert.ok(rel(auto.g[i], fine.g[i]) < 1e-5, `parameter ${i}: ${rel(auto.g[i], fine.g[i])}`);
});

test('coarse reference: g at more points than one batched vjp may hold comes in chunks, equal to the fine grid', async () => {
  // Shared parameters of 5·4096 values at 513 h-nodes: just more than GRID_GRADIENT_FLOATS, so two chunks.
  const N = 512,
    width = 4096;
  const base = spiral({ steps: N, meth: 'leapfrog', width });
  const model: Model = {
    ...base,
    params: base.params.map((p) => ({
      ...p,
      perStep: false,
      init: p.init.kind === 'normal' ? { ...p.init, std: p.name === 'W2' ? 0.3 * Math.sqrt(16 / width) : 0.3 } : p.init,
    })),
  };
  assert.ok((N + 1) * (5 * width + 4) > GRID_GRADIENT_FLOATS, 'the case must need more than one chunk'); // W1, b1, W2 and x, p
  const { auto, coarse8, fine } = await compare(model, N, false, [8]);
  assert.equal(auto.gridTimes.length, N / 8 + 1, 'tied copies take H = 8h');
  for (let i = 0; i < fine.g.length; i++)
    assert.ok(rel(coarse8!.g[i], fine.g[i]) < 1e-5, `parameter ${i}: ${rel(coarse8!.g[i], fine.g[i])}`);
});

test('coarse reference: a coarse solve whose nodes are not finite is no reference (no g at all, not the finite part of one)', async () => {
  // A decay rate that puts H = 8h far outside RK4's stability (a·8h = 8): x overflows within the coarse solve's
  // 32 steps, while its first points are still finite; the loss reads y, so p stays finite. The usual grid
  // (a·h = 1) is stable.
  const text = [
    'state x, y',
    'init x = 1',
    'init y = 1',
    'param a per-step = 100',
    "x' = -a*x",
    "y' = -y",
    'loss = y(T)^2',
    '@ total=2.56, steps=256, meth=euler',
  ].join('\n');
  const model = analyse(text).model!;
  const { tf } = await initBackend(backend);
  const { compiled: cm } = compileModel(tf, model);
  try {
    assert.ok(cm.wholeSolve?.program, 'the case runs on the JS reference');
    const inp = referenceInput(model, initialParameters(tf, model));
    const coarse = referenceOn(tf, cm, inp, 8);
    assert.equal(coarse.nonFinite, true);
    assert.ok(
      coarse.g.every((g) => g.every((v) => !Number.isFinite(v))),
      'no g value from a blown-up coarse solve',
    );
    const auto = continuousReference(tf, cm, inp);
    assert.equal(auto.nonFinite, false, 'the usual grid is the reference');
    assert.ok(auto.gridTimes.length >= 257, `${auto.gridTimes.length - 1} steps`);
  } finally {
    cm.dispose();
  }
});

test('the seeded initialisation ties every per-step copy (runCheck takes its copies as equal without a scan)', async () => {
  const { tf } = await initBackend(backend);
  const model = spiral({ steps: 32 });
  const values = initialParameters(tf, model);
  model.params.forEach((p, i) => {
    if (!p.perStep) return;
    const P = values[i].length / 32;
    for (let n = 1; n < 32; n++)
      assert.deepEqual(values[i].subarray(n * P, (n + 1) * P), values[i].subarray(0, P), `${p.name} copy ${n}`);
  });
  // The same values given explicitly are scanned: the reports agree (the coarse grid and the N/2 re-sampling alike),
  // except where they say the values came from.
  const strip = ({ timings: _t, checkedParameters: _c, ...r }: Awaited<ReturnType<typeof runCheck>>) => r;
  assert.deepEqual(
    strip(await runCheck(model, { backend })),
    strip(await runCheck(model, { backend, parameterValues: values })),
  );
});

test('coarse reference: untied copies (kinks of θ(t) inside a coarse step) keep step h', async () => {
  const N = 64;
  const { auto } = await compare(spiral({ steps: N }), N, true);
  // Never coarser than h (untied copies are then checked on h/2 as well: referenceError.test.ts).
  assert.ok(auto.gridTimes.length >= N + 1, `${auto.gridTimes.length - 1} steps`);
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
      for (const [cot, withParams, withState] of [
        [[0.4, -1.1], false, true],
        [[-0.2, 0.9], true, true],
        [[1.3, 0.5], true, false],
      ] as const) {
        const c = [tf.tensor([[cot[0]], [cot[1]]])];
        const got = lin.back(c, withParams, withState),
          want = cm.rhsVjp!(x, th, 0.25, c, withParams);
        assert.equal(got.vx.length, withState ? 1 : 0);
        if (withState) assert.ok(rel(got.vx[0].dataSync(), want.vx[0].dataSync()) < 1e-6);
        for (let i = 0; i < got.vp.length; i++)
          assert.ok(rel(got.vp[i].dataSync(), want.vp[i].dataSync()) < 1e-6, `parameter ${i}`);
        assert.equal(got.vp.length, withParams ? th.length : 0);
      }
    });
  } finally {
    cm.dispose();
  }
});
