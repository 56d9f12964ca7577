// The reference of a model whose continuous adjoint the reference solver does not run: Volterra integrals (the
// adjoint is an integral equation running backward) and delays (the adjoint reads p(t + tau)); and of a stiff model
// whose explicit RK4 reference blows up and has no stable step within its budget (check/reference.ts). The continuous
// gradient is then taken as the limit of the gradients of a convergent one-step discretisation as the step
// shrinks: the same model solved on 2N and 4N steps of h/2 and h/4, differentiated by AD (docs/design.md#reference-gradients).
// The discretisation is one whose discrete adjoint converges to the continuous one: XPPAUT's volterra scheme
// (implicit trapezoid with product integration) for integrals, whatever `meth` says, RK4 for delays, whose
// history is interpolated on the grid, and a stiff model's own implicit scheme (backward Euler, stable at any step). A weakly stable `meth` (leapfrog) is never used, since its AD gradients
// do not converge (the zig-zag the check exists to catch). The order of convergence is observed from three
// levels when the model's own scheme is the refinement scheme (its AD at N is the first level), else assumed 1
// (the conservative bound); the error of the finest level is |G_4N − G_2N| / (2^p − 1), plus float32 rounding.
// Only shared parameters: a per-step copy has no limit as the step shrinks without re-sampling θ(t).
import type { Model } from '../model';
import type { CompiledModel } from '../engine/compile';
import type { ReferenceResult } from '../engine/reference';
import { SolveMemoryExceeded } from '../engine/memoryGuard';
import { everyStride, type NodeValues, type StatePaths } from '../engine/statePath';
import type { Tensor } from '../engine/tf';
import { schemeOf, type Scheme } from '../schemes/schemes';
import { MAX_CHECK_STEPS } from './options';
import { adGradients, type AdGradients, type ParameterInputs } from './gradients';
import { workClock } from '../engine/work';
import type { CheckRun } from './run';
import type { RefinedReference } from '../report';

/** The step counts of the refined levels, as multiples of N. */
const LEVELS = [2, 4] as const;

/**
 * Largest time the refined solves may take (the check stays well under 10 s). The 2N solve is started only when
 * the two levels cannot cost less than this at linear growth from the AD at N (per evaluation of the right-hand
 * side: RK4's levels of an euler model cost four times as much per step); the 4N solve only when its cost,
 * extrapolated from the measured growth N → 2N, fits in what is left.
 */
export const REFINED_REFERENCE_BUDGET_MS = 4000;

/** Bounds of the observed order of convergence (a first-order scheme at worst; RK4 at best). */
const MIN_ORDER = 1,
  MAX_ORDER = 4;

const ROUNDING = 2 ** -24;

/** Why a model's reference is the limit of refined grids. */
export type Refinable = 'volterra' | 'delays' | 'stiff';

/** The scheme the refined levels run, the `meth` their model carries, and its name in the report. */
function refinementScheme(model: Model, kind: Refinable): { scheme: Scheme; meth: string; name: string } {
  // XPPAUT runs integrals by its volterra scheme whatever `meth` says (engine/volterraSolve.ts).
  if (kind === 'volterra') return { scheme: schemeOf(model), meth: model.options.meth, name: 'volterra' };
  // A stiff model's own implicit scheme: an explicit one would need the step that already failed the budget.
  if (kind === 'stiff') return { scheme: schemeOf(model), meth: model.options.meth, name: model.options.meth };
  const meth = 'rk4';
  return { scheme: schemeOf({ ...model, options: { ...model.options, meth } }), meth, name: meth };
}

/** Right-hand side evaluations a step of the scheme costs (an implicit scheme's Newton iterations not counted). */
function evaluationsPerStep(scheme: Scheme): number {
  return scheme.kind === 'rk' ? scheme.tableau.b.length : scheme.predictor ? 2 : 1;
}

/**
 * The refined levels' budget and their cost per ms of the check's AD at N (the AD as if run on their scheme, times
 * the levels' multiples: each costs at least k times that, up to k² for a Volterra history that fills no window).
 */
function levelsCost(run: CheckRun, kind: Refinable): { budget: number; schemeRatio: number; perAdMs: number } {
  const budget = Math.min(
    run.options.refinedReferenceBudgetMs ?? REFINED_REFERENCE_BUDGET_MS,
    run.options.timeBudgetMs !== undefined ? run.options.timeBudgetMs / 2 : Infinity,
  );
  // RK4's four evaluations a step against euler's one (a delay model's levels, 6000 euler steps of XPPAUT's
  // sine-circle: 32× its AD, not 6×).
  const schemeRatio = evaluationsPerStep(refinementScheme(run.model, kind).scheme) / evaluationsPerStep(run.scheme);
  return { budget, schemeRatio, perAdMs: schemeRatio * LEVELS.reduce((s, k) => s + k, 0) };
}

/**
 * The AD work (ms) past which the refined levels would not fit their budget (refinedReference's first test, made
 * before AD): a check whose AD takes longer has no refined reference to run after it.
 */
export function refinedAdLimitMs(run: CheckRun, kind: Refinable): number {
  const { budget, perAdMs } = levelsCost(run, kind);
  return budget / perAdMs;
}

/** The refined reference, or why there is none (the caller reports it as reference-unavailable). */
export type RefinedOutcome = { ref: ReferenceResult; refined: RefinedReference } | { unavailable: string };

const allFinite = (g: Float32Array) => g.every(Number.isFinite);

function norm(G: Float32Array[]): number {
  let s = 0;
  for (const g of G) for (let k = 0; k < g.length; k++) s += g[k] * g[k];
  return Math.sqrt(s);
}

function distance(A: Float32Array[], B: Float32Array[]): number {
  let s = 0;
  A.forEach((a, i) => {
    const b = B[i];
    for (let k = 0; k < a.length; k++) s += (a[k] - b[k]) ** 2;
  });
  return Math.sqrt(s);
}

/**
 * AD of the model on 2N and 4N steps. `ad` is the check's own AD at N (the first level when the schemes agree);
 * `kind`: why (`volterra`: XPPAUT's volterra scheme, whose cost grows as N² with the history).
 */
export function refinedReference(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
  kind: Refinable,
): RefinedOutcome {
  const volterra = kind === 'volterra';
  const { tf, model } = run;
  const { steps: N, dt: h, t0 } = model.options;
  if (model.params.some((p) => p.perStep))
    return { unavailable: 'per-step parameters have no limit on refined grids without re-sampling θ(t)' };
  const finest = LEVELS[LEVELS.length - 1] * N;
  if (finest > MAX_CHECK_STEPS)
    return { unavailable: `the refined solves would need ${finest} steps (the limit is ${MAX_CHECK_STEPS})` };
  const { budget, schemeRatio, perAdMs } = levelsCost(run, kind);
  const levelsText = LEVELS.map((k) => `${k}N`).join(' and ');
  const tooLong = (seconds: number) => ({
    unavailable: `the refined solves (${levelsText} steps) would take about ${seconds.toFixed(1)} s`,
  });
  const { scheme, meth, name } = refinementScheme(model, kind);
  // The AD at N as if it had run the refinement's scheme.
  const atN = run.adWorkMs * schemeRatio;
  const atLeast = run.adWorkMs * perAdMs;
  if (atLeast > budget) return tooLong(atLeast / 1000);
  const same = volterra || model.options.meth === meth;
  const levels: AdGradients['G'][] = [];
  const fineModel = (k: number): Model => ({ ...model, options: { ...model.options, steps: k * N, dt: h / k, meth } });
  let loss = NaN;
  let path: NodeValues = { columns: 0, values: new Float32Array(0) };
  // The work of each level measured so far, from the AD at N (multiple 1); `spent` is the refined levels' part.
  const multiples = [1, ...LEVELS];
  const works = [atN];
  let spent = 0;
  try {
    for (const [i, k] of LEVELS.entries()) {
      run.checkpoint();
      if (i > 0) {
        // The growth per doubling as measured (between linear and quadratic), carried to the next level.
        const perDoubling = Math.min(4, Math.max(2, works[i - 1] > 0 ? works[i] / works[i - 1] : 2));
        const next = works[i] * perDoubling ** Math.log2(k / multiples[i]);
        if (spent + next > budget) return tooLong((spent + next) / 1000);
      }
      const clock = workClock();
      // The finest solve's path at the model's own grid times, for the trajectory view.
      const seen = i === LEVELS.length - 1 ? (traj: Tensor[][]) => (path = everyStride(tf, traj, k)) : undefined;
      const r = adGradients(tf, cm, scheme, fineModel(k), inputs.values, undefined, seen);
      levels.push(r.G);
      loss = r.loss;
      works.push(clock.workMs());
      spent += works[i + 1];
    }
  } catch (e) {
    if (e instanceof SolveMemoryExceeded)
      return { unavailable: `the refined solves (${finest} steps) would not fit in memory` };
    throw e;
  }
  const [G2, G4] = levels;
  const scale = norm(G4);
  const d2 = distance(G4, G2);
  let order = MIN_ORDER;
  if (same) {
    const d1 = distance(G2, ad.G);
    order = d2 > 0 ? Math.min(MAX_ORDER, Math.max(MIN_ORDER, Math.log2(d1 / d2))) : MAX_ORDER;
  }
  const truncation = scale > 0 ? d2 / (2 ** order - 1) / scale : 0;
  const referenceError = truncation + ROUNDING * Math.sqrt(finest);
  // A refined solve that overflows (RK4 on a stiff delay model, say) judges nothing; the model's own solve was finite.
  if (!Number.isFinite(loss) || !Number.isFinite(referenceError) || levels.some((G) => !G.every(allFinite)))
    return { unavailable: `the refined solves (${finest} steps with ${name}) do not stay finite` };
  const k = LEVELS[LEVELS.length - 1];
  const gridTimes = Array.from({ length: finest + 1 }, (_, n) => t0 + (n * h) / k);
  const paths: StatePaths = {
    times: Array.from({ length: N + 1 }, (_, n) => t0 + n * h),
    x: path,
  };
  return {
    ref: { g: G4, referenceError, lossAccurate: loss, gridTimes, nonFinite: false, paths },
    refined: { scheme: name, steps: LEVELS.map((k) => k * N), order, observed: same },
  };
}
