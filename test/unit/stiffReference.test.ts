// The continuous reference of a stiff model: a diffusion lattice whose explicit RK4 blows up on the usual grid is
// solved again on a step of its own at which RK4 is stable (spectral radius of ∂f/∂x by power iteration), and then
// agrees with the float64 gradient of the flow to its reported error; over its budget it stays n/a, with the figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import { referenceBlowUpMessage } from '../../solver/presentation/findingText';
import { type Lattice, latticeModel, lossGradient, sensitivities } from '../support/diffusionLattice';
import { referenceInput } from '../../bench/referenceCopies';

// ρ(∂f/∂x) ≈ 4d + a = 101: RK4 on the usual grid (h/2 = 0.05, H·ρ ≈ 5) blows up; backward Euler at dt = 0.1 does not.
const LATTICE: Lattice = { m: 20, d: 25, a: 1, s: 0.1, u0: 5, total: 2 };
const lattice = () => latticeModel(LATTICE);

/**
 * d/dθ of ½‖u(T)‖² for θ = (d, a, s) in float64, by the forward sensitivities S_θ' = A S_θ + ∂f/∂θ solved with RK4
 * on a step 50 times below RK4's stability limit (the exact flow to 1e-12 here).
 */
function exactGradient(T: number): number[] {
  const K = 10000;
  return lossGradient(LATTICE, sensitivities(LATTICE, K, T / K));
}

async function reference(budgetMs?: number) {
  const model = lattice();
  const { tf } = await initBackend('cpu');
  const values = initialParameters(tf, model);
  const { compiled: cm } = compileModel(tf, model);
  try {
    const inp: ReferenceInput = {
      ...referenceInput(model, values),
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
    stiff.spectralRadius > 0.8 * (4 * LATTICE.d + LATTICE.a) &&
      stiff.spectralRadius <= 4 * LATTICE.d + LATTICE.a + 1e-3,
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
