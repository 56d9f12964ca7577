// The continuous reference of a stiff model: a diffusion lattice whose explicit RK4 blows up on the usual grid is
// solved again on a step of its own at which RK4 is stable (spectral radius of ∂f/∂x by power iteration), and then
// agrees with the float64 gradient of the flow to its reported error; over its budget it stays n/a, with the figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import { referenceBlowUpMessage } from '../../solver/presentation/findingText';

/** Lattice size and parameters: diffusion d between neighbours (no flux at the ends), decay a, source s. */
const M = 20;
const D = 25,
  A = 1,
  S = 0.1;

// ρ(∂f/∂x) ≈ 4d + a = 101: RK4 on the usual grid (h/2 = 0.05, H·ρ ≈ 5) blows up; backward Euler at dt = 0.1 does not.
const SOURCE = `par d=${D}, a=${A}, s=${S}
u0'=d*(u1-u0)-a*u0+s
u[1..${M - 2}]'=d*(u[j+1]-2*u[j]+u[j-1])-a*u[j]+s
u${M - 1}'=d*(u${M - 2}-u${M - 1})-a*u${M - 1}+s
init u0=5
@ meth=backeul, dt=0.1, total=2
done
`;

function lattice(): Model {
  const r = analyse(SOURCE);
  assert.ok(r.model, JSON.stringify(r.diagnostics.filter((d) => d.severity === 'error')));
  return r.model;
}

/**
 * d/dθ of ½‖u(T)‖² for θ = (d, a, s) in float64, by the forward sensitivities S_θ' = A S_θ + ∂f/∂θ solved with RK4
 * on a step 50 times below RK4's stability limit (the exact flow to 1e-12 here).
 */
function exactGradient(T: number): number[] {
  const f = (y: Float64Array): Float64Array => {
    const out = new Float64Array(4 * M);
    const lap = (v: Float64Array, o: number, j: number) =>
      (j > 0 ? v[o + j - 1] - v[o + j] : 0) + (j < M - 1 ? v[o + j + 1] - v[o + j] : 0);
    for (let j = 0; j < M; j++) {
      const u = y[j];
      out[j] = D * lap(y, 0, j) - A * u + S;
      out[M + j] = D * lap(y, M, j) - A * y[M + j] + lap(y, 0, j); // ∂/∂d
      out[2 * M + j] = D * lap(y, 2 * M, j) - A * y[2 * M + j] - u; // ∂/∂a
      out[3 * M + j] = D * lap(y, 3 * M, j) - A * y[3 * M + j] + 1; // ∂/∂s
    }
    return out;
  };
  let y = new Float64Array(4 * M);
  y[0] = 5;
  const K = 10000,
    H = T / K;
  const axpy = (x: Float64Array, k: Float64Array, c: number) => x.map((v, i) => v + c * k[i]);
  for (let n = 0; n < K; n++) {
    const k1 = f(y),
      k2 = f(axpy(y, k1, H / 2)),
      k3 = f(axpy(y, k2, H / 2)),
      k4 = f(axpy(y, k3, H));
    y = y.map((v, i) => v + (H / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
  }
  return [1, 2, 3].map((p) => {
    let g = 0;
    for (let j = 0; j < M; j++) g += y[j] * y[p * M + j];
    return g;
  });
}

async function reference(budgetMs?: number) {
  const model = lattice();
  const { tf } = await initBackend('cpu');
  const values = initialParameters(tf, model);
  const { compiled: cm } = compileModel(tf, model);
  try {
    const { steps: N, dt: h } = model.options;
    const inp: ReferenceInput = {
      N,
      h,
      t0: 0,
      layerTimes: Array.from({ length: N }, (_, n) => n * h),
      params: model.params.map((p, i) => ({
        perStep: p.perStep,
        values: values[i],
        shape: internalShape(p.shape),
        size: sizeOf(p.shape),
      })),
      ...(budgetMs !== undefined ? { stiffBudgetMs: budgetMs } : {}),
    };
    return continuousReference(tf, cm, inp);
  } finally {
    cm.dispose();
  }
}

test('a stiff diffusion lattice: the reference on its own stable step agrees with the float64 gradient to its reported error', async () => {
  const r = await reference();
  assert.equal(r.nonFinite, false);
  const stiff = r.stiff!;
  assert.ok(stiff?.solved, JSON.stringify(stiff));
  // ρ ≤ 4d + a by Gershgorin; the power iteration finds most of it.
  assert.ok(
    stiff.spectralRadius > 0.8 * (4 * D + A) && stiff.spectralRadius <= 4 * D + A + 1e-3,
    `${stiff.spectralRadius}`,
  );
  assert.ok(stiff.steps > stiff.usualSteps, JSON.stringify(stiff));
  assert.ok((2 / stiff.steps) * stiff.spectralRadius < 2.79, JSON.stringify(stiff));
  const exact = exactGradient(2);
  const got = r.g.map((g) => g[0]);
  let num = 0,
    den = 0;
  exact.forEach((e, i) => {
    num += (got[i] - e) ** 2;
    den += e * e;
  });
  const err = Math.sqrt(num / den);
  assert.ok(r.referenceError < 1e-2, `reported ${r.referenceError}`);
  assert.ok(
    err <= r.referenceError,
    `error ${err} against the float64 gradient, reported ${r.referenceError}: ${got} vs ${exact}`,
  );
});

test('over its budget the stiff reference is not solved, and the check says so with the figures', async () => {
  const r = await reference(0);
  assert.equal(r.nonFinite, true);
  assert.equal(r.stiff?.refused, 'time');
  assert.equal(r.stiff?.solved, false);
  // (and no time for the refined limit of backward Euler either: backwardEuler.test.ts takes that path)
  const report = await runCheck(lattice(), { backend: 'cpu', stiffReferenceBudgetMs: 0, refinedReferenceBudgetMs: 0 });
  assert.equal(report.referenceUnavailable?.cause, 'unstable');
  assert.equal(report.stiffReference, undefined);
  assert.match(
    report.referenceUnavailable!.message,
    /The model is stiff: the spectral radius of ∂f\/∂x at the initial state is about [0-9.]+, .* a stable grid of \d+ steps would take about [0-9.e-]+ s, over the reference's budget of 0 s for a stiff model/,
  );
  // Within its default budget the same check has a reference and says how it was taken.
  const solved = await runCheck(lattice(), { backend: 'cpu' });
  assert.equal(solved.referenceUnavailable, undefined);
  assert.ok(solved.stiffReference && solved.stiffReference.steps > solved.stiffReference.usualSteps);
  assert.ok(Number.isFinite(solved.referenceError) && solved.referenceError < 1e-2, `${solved.referenceError}`);
});

test('a reference that still blows up where the usual step was stable at the start is not called stiff', () => {
  const figures = { spectralRadius: 2, usualSteps: 100, steps: 400, seconds: 0.3, budgetSeconds: 4 };
  const grows = referenceBlowUpMessage({ ...figures, stiffAtStart: false, refused: 'unstable' });
  assert.match(
    grows,
    /Finer steps were tried: .* the growth comes later along the solution .* still blows up on 400 steps/,
  );
  assert.doesNotMatch(grows, /stiff/);
  const stiff = referenceBlowUpMessage({ ...figures, stiffAtStart: true, refused: 'memory' });
  assert.match(
    stiff,
    /The model is stiff: .* a stable grid of 400 steps \(about 0\.3 s\) would not fit in the reference's memory/,
  );
});
