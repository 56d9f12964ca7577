// Data losses `x(obs)`: AD through the interpolated discrete states agrees
// with finite differences, and the continuous reference (adjoint with jumps
// at the observation times) agrees with AD of a fine RK4 solve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import type { TF, Tensor } from '../../solver/engine/tf';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { trajectoryLoss, observationWeights } from '../../solver/engine/observe';
import { continuousReference, accurateLoss } from '../../solver/engine/reference';
import { schemeByName } from '../../solver/schemes/schemes';
import { parameterCopies } from '../../solver/schemes/copies';

const layerTimes = (meth: string, N: number) => parameterCopies(schemeByName(meth), N, 1 / N, 0).times;
import type { Expr, Model, SchemeName } from '../../solver/model';
import { spiral, bin, call, num, R } from './engineFixtures';

const backend = 'cpu' as const;

const matrix = (rows: number[][]): Expr => ({
  kind: 'vector',
  range: R,
  elements: rows.map((r) => ({ kind: 'vector', range: R, elements: r.map(num) })),
});
const atData = (state: string, data: string): Expr => ({ kind: 'stateAtData', state, data, range: R });

/** The spiral network (shared or per-step) with a loss on observations at `times`. */
function dataModel(o: { times: number[]; perStep: boolean; steps: number; meth: SchemeName }): Model {
  const m = spiral({ steps: o.steps, meth: o.meth, width: 8 });
  const targets = o.times.map((t) => [Math.cos(3 * t), Math.sin(2 * t) - 0.5]);
  m.params = m.params.map((p) => ({ ...p, perStep: o.perStep }));
  m.data = [
    {
      name: 'obs',
      path: 'obs.csv',
      times: o.times,
      columns: ['a', 'b'],
      values: targets,
      range: R,
      nameRange: R,
      pathRange: R,
    },
  ];
  m.loss = {
    expr: bin('*', num(0.5), call('sum', bin('^', bin('-', atData('x', 'obs'), matrix(targets)), num(2)))),
    range: R,
  };
  return m;
}

/** Loss and AD gradient (per parameter, summed over copies when `sum`) of the discrete solve. */
function adOf(tf: TF, model: Model, values: Float32Array[]): { loss: number; G: Float32Array[] } {
  const { compiled: cm } = compileModel(tf, model);
  const { steps: N, dt: h, t0 } = model.options;
  const scheme = schemeByName(model.options.meth);
  try {
    let loss = NaN;
    const G: Float32Array[] = [];
    tf.tidy(() => {
      const copies = model.params.map((p, i) => {
        const P = sizeOf(p.shape);
        return Array.from({ length: p.perStep ? N : 1 }, (_, n) =>
          tf.tensor(values[i].subarray(n * P, (n + 1) * P), internalShape(p.shape)),
        );
      });
      const flat = copies.flat();
      const { value, grads } = tf.engine().gradients(
        () => {
          const traj = solveDiscrete(tf, cm, scheme, N, h, t0, (n) => copies.map((c) => c[Math.min(n, c.length - 1)]));
          return trajectoryLoss(tf, cm, traj, t0, h);
        },
        flat,
        undefined,
        true,
      );
      loss = value.dataSync()[0];
      let k = 0;
      for (const c of copies) {
        const P = c[0].size;
        const out = new Float32Array(c.length * P);
        for (let n = 0; n < c.length; n++, k++) out.set((grads[k] as Tensor).dataSync(), n * P);
        G.push(out);
      }
    });
    return { loss, G };
  } finally {
    cm.dispose();
  }
}

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let k = 0; k < a.length; k++) {
    num += (a[k] - b[k]) ** 2;
    den += b[k] ** 2;
  }
  return Math.sqrt(num / den);
}

test('observation weights interpolate linearly and are exact on the grid', () => {
  const { index, weight } = observationWeights([0, 0.25, 0.3, 1], 0, 0.25, 4);
  assert.deepEqual(index, [0, 1, 1, 3]);
  assert.ok(Math.abs(weight[2] - 0.2) < 1e-12);
  assert.equal(weight[1], 0);
  assert.equal(weight[3], 1);
});

test('data loss: AD through the interpolated states matches finite differences (float64-free central differences along a direction)', async () => {
  const { tf } = await initBackend(backend);
  const model = dataModel({ times: [0.1, 0.33, 0.5, 0.71, 1], perStep: true, steps: 32, meth: 'leapfrog' });
  const values = initialParameters(tf, model);
  const { loss, G } = adOf(tf, model, values);
  assert.ok(Number.isFinite(loss) && loss > 0);
  // Directional derivative along the gradient itself (largest float32 signal).
  const eps = 1e-2;
  const moved = (s: number) => values.map((v, i) => Float32Array.from(v, (x, k) => x + s * eps * G[i][k]));
  const fd = (adOf(tf, model, moved(1)).loss - adOf(tf, model, moved(-1)).loss) / (2 * eps);
  const ad = G.reduce((acc, g) => acc + g.reduce((a, x) => a + x * x, 0), 0);
  assert.ok(Math.abs(fd - ad) / Math.abs(ad) < 1e-2, `fd ${fd} vs ad ${ad}`);
  // The engine's own gradcheck on the same model agrees.
  const report = await runCheck(model, { backend });
  assert.ok(report.parameters.length === 3);
  for (const p of report.parameters)
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: ${p.metrics.gradcheckRelError}`);
});

test('data loss: the continuous reference (adjoint jumps) matches AD of a fine RK4 solve', async () => {
  const { tf } = await initBackend(backend);
  for (const times of [
    [0.25, 0.5, 0.75, 1],
    [0.1, 0.3, 0.55, 0.8],
  ]) {
    // Shared parameters: ∫ g dt against the summed AD gradient of RK4 with 512 steps.
    const coarse = dataModel({ times, perStep: false, steps: 32, meth: 'rk4' });
    const values = initialParameters(tf, coarse);
    const { compiled: cm } = compileModel(tf, coarse);
    let ref;
    let flow: number;
    try {
      const inp = {
        N: 32,
        h: 1 / 32,
        t0: 0,
        layerTimes: layerTimes('rk4', 32),
        params: coarse.params.map((p, i) => ({
          perStep: false,
          values: values[i],
          shape: internalShape(p.shape),
          size: sizeOf(p.shape),
        })),
      };
      ref = continuousReference(tf, cm, inp);
      flow = accurateLoss(tf, cm, inp);
    } finally {
      cm.dispose();
    }
    const fine = adOf(tf, { ...coarse, options: { ...coarse.options, steps: 512, dt: 1 / 512 } }, values);
    assert.ok(Math.abs(ref.lossAccurate - fine.loss) / fine.loss < 1e-4, `loss ${ref.lossAccurate} vs ${fine.loss}`);
    assert.ok(Math.abs(flow - fine.loss) / fine.loss < 1e-4, `flow loss ${flow} vs ${fine.loss}`);
    for (let i = 0; i < values.length; i++) {
      const e = rel(ref.g[i], fine.G[i]);
      assert.ok(e < 2e-3, `times ${times}: parameter ${i} reference vs fine AD ${e}`);
    }
    assert.ok(ref.referenceError < 1e-3, `reference error ${ref.referenceError}`);
  }
});

test('data loss: per-step reference densities match fine Euler AD densities at the layer times', async () => {
  const { tf } = await initBackend(backend);
  const times = [0.3, 0.5, 0.8, 1];
  const N = 16;
  const model = dataModel({ times, perStep: true, steps: N, meth: 'euler' });
  const values = initialParameters(tf, model);
  // Make copies differ smoothly in t so θ(t) is not constant.
  values.forEach((v, i) => {
    const P = v.length / N;
    for (let n = 0; n < N; n++) for (let k = 0; k < P; k++) v[n * P + k] *= 1 + 0.3 * Math.sin((2 * n) / N + i);
  });
  const { compiled: cm } = compileModel(tf, model);
  const taus = layerTimes('euler', N);
  let ref;
  try {
    ref = continuousReference(tf, cm, {
      N,
      h: 1 / N,
      t0: 0,
      layerTimes: taus,
      params: model.params.map((p, i) => ({
        perStep: true,
        values: values[i],
        shape: internalShape(p.shape),
        size: sizeOf(p.shape),
      })),
    });
  } finally {
    cm.dispose();
  }
  // Fine Euler, 64× more copies: θ resampled linearly; density G_m / h_f at the coarse layer times t_n (right limits).
  const M = 64 * N,
    hf = 1 / M;
  const fineValues = values.map((v) => {
    const P = v.length / N;
    const out = new Float32Array(M * P);
    for (let m = 0; m < M; m++) {
      const t = m * hf,
        x = t * N,
        n = Math.min(N - 2, Math.floor(x)),
        w = x - n;
      for (let k = 0; k < P; k++) out[m * P + k] = (1 - w) * v[n * P + k] + w * v[(n + 1) * P + k];
    }
    return out;
  });
  const fine = adOf(tf, { ...model, options: { ...model.options, steps: M, dt: hf } }, fineValues);
  for (let i = 0; i < values.length; i++) {
    const P = values[i].length / N;
    const dens = new Float32Array(N * P);
    for (let n = 0; n < N; n++) for (let k = 0; k < P; k++) dens[n * P + k] = fine.G[i][n * 64 * P + k] / hf;
    const e = rel(ref.g[i], dens);
    assert.ok(e < 0.03, `parameter ${i}: per-step reference vs fine Euler density ${e}`);
  }
});

test('data loss: observations outside the solve are refused with a diagnostic', async () => {
  const model = dataModel({ times: [0.5, 1.5], perStep: false, steps: 16, meth: 'rk4' });
  const report = await runCheck(model, { backend });
  assert.ok(
    report.findings.some((f) => f.code === 'data-out-of-range' && f.severity === 'error'),
    JSON.stringify(report.findings.map((f) => f.code)),
  );
});
