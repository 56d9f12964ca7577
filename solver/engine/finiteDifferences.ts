// The gradcheck: central differences of the discrete loss along one seeded
// direction per parameter tensor, all perturbed solves batched into one.
import type { Model } from '../model';
import type { TF, Tensor } from './tf';
import { internalShape, sizeOf, type CompiledModel } from './compile';
import { Rng, signAt } from './random';
import { solveDiscrete, solvePackedState, solvesByKernel } from './integrate';
import { trajectoryLossBatched } from './observe';
import { copiesPerParameter, paramsFor, stackedLoss } from './discrete';
import type { Scheme } from '../schemes/schemes';
import { workClock } from './work';
import { sameFirings, type Firings } from './scalarKernel/events';
import { stepWithin, unreadParameter } from './finiteDifferenceSteps';
import { takeEarly, type EarlySolves } from './earlySolves';

export type FiniteDifferenceMode = 'auto' | 'loop' | 'batched';

/**
 * Central differences of the discrete loss, one direction per parameter
 * tensor (all its copies): v ∝ r + G/‖G‖ with r seeded random signs
 * (unit variance, ⟨r, G⟩ ≥ 0), scaled to unit rms, so v tests a random
 * direction (errors in any component) and the AD gradient's own direction
 * (scaled gradients), weighing alike in ⟨G, v⟩. Step:
 * float32-aware (see finiteDifferenceDirections), 1e-3 to 3e-2 × max(rms θ, 1)
 * per unit-rms component (× rms θ for a tensor under 1e-3 whose loss such steps resolve). Returns |fd − ⟨G, v⟩| / |fd| per tensor. The 2·P
 * perturbed solves run as one batched solve when the model allows it
 * (`mode`: 'auto' picks batched when possible; 'loop' and 'batched' force one).
 * `budgetMs`: the time the passes at finer steps may bring the whole to (the first pass is always taken); a pass
 * is started only when its time, predicted from the passes so far per solve, fits, and the tensors it would have
 * refined say so (GradcheckResult.budget). With events on the whole-solve kernel a quotient counts only when its
 * perturbed solves fire at the unperturbed one's steps (GradcheckResult.firings; docs/engine.md, finite differences).
 */
export function finiteDifferenceCheck(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  G: Float32Array[],
  loss: number,
  mode: FiniteDifferenceMode = 'auto',
  budgetMs = Infinity,
): GradcheckResult[] {
  const meter = localMeter();
  const work = finiteDifferenceWork(tf, cm, scheme, model, values, G, loss, mode);
  return work.settle(
    work.units.map((_u, k) => k),
    budgetMs,
    meter,
  ) as GradcheckResult[];
}

/**
 * What the time budget of finite differences is measured in: their work so far (engine/work.ts) and their solves,
 * over every thread that shares them (check/thread.ts splits one check's finite differences between two).
 */
export interface FiniteDifferenceMeter {
  spentMs(): number;
  solves(): number;
  solved(count: number): void;
  /** Solves another thread took before this meter started (engine/earlySolves.ts), with their work. */
  solvedEarlier(count: number, ms: number): void;
}

/** The work of this thread from now on. */
export function localMeter(): FiniteDifferenceMeter {
  const clock = workClock();
  let solves = 0,
    earlierMs = 0;
  return {
    spentMs: () => clock.workMs() + earlierMs,
    solves: () => solves,
    solved: (count) => {
      solves += count;
    },
    solvedEarlier: (count, ms) => {
      solves += count;
      earlierMs += ms;
    },
  };
}

/** Words of a shared meter: work in μs and solves, summed over the threads that share it. */
export const SHARED_METER_WORDS = 2;

/**
 * The work of every thread holding `words` (Int32 on a SharedArrayBuffer, SHARED_METER_WORDS of them), this one's
 * counted from now on: each thread adds its own work in μs when the meter is read (2³¹ μs: 35 minutes).
 */
export function sharedMeter(words: Int32Array): FiniteDifferenceMeter {
  const clock = workClock();
  let reportedUs = 0;
  return {
    spentMs: () => {
      const us = Math.round(clock.workMs() * 1000);
      Atomics.add(words, 0, us - reportedUs);
      reportedUs = us;
      return Atomics.load(words, 0) / 1000;
    },
    solves: () => Atomics.load(words, 1),
    solved: (count) => {
      Atomics.add(words, 1, count);
    },
    solvedEarlier: (count, ms) => {
      Atomics.add(words, 0, Math.round(ms * 1000));
      Atomics.add(words, 1, count);
    },
  };
}

/**
 * A check's finite differences as units of work that can run on different threads: unit 0 is the combined probe's
 * members when there is one (combinedProbe: they are settled together, or solved one by one when it fails), each
 * other unit one tensor (no solve runs before the first `settle`). `settle` runs units to the end of their ladders
 * and returns their tensors' results; a tensor's result depends on its unit's own solves only, so any split of the
 * units gives the results of one call with all of them, except where the time budget (measured by `meter`, per
 * solve) stops a ladder.
 */
export interface FiniteDifferenceWork {
  units: number[][];
  settle(units: number[], budgetMs: number, meter: FiniteDifferenceMeter): (GradcheckResult | undefined)[];
  /**
   * The unperturbed solve's firings (unperturbedFirings), solved at the first call (counted on `meter`) unless given to
   * finiteDifferenceWork: another thread's work on the same check takes them from this one.
   */
  unperturbed(meter: FiniteDifferenceMeter): { firings?: Firings };
}

export function finiteDifferenceWork(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  G: Float32Array[],
  loss: number,
  mode: FiniteDifferenceMode,
  unperturbed?: { firings?: Firings },
  early?: { solves: EarlySolves; waitMs: number },
): FiniteDifferenceWork {
  const { dirs, eps, predicted, rounding } = finiteDifferenceDirections(model, values, G, loss);
  // The predicted change ε·|⟨G, v⟩| in units of the loss's float32 rounding.
  const resolution = (i: number, step: number) => (rounding > 0 ? Math.abs(step * predicted[i]) / rounding : Infinity);
  const derivative = (l: [number, number], step: number) => (l[0] - l[1]) / (2 * step);
  const mismatch = (fd: number, ad: number) => {
    const num = (fd - ad) ** 2,
      den = fd * fd;
    return !Number.isFinite(num) ? 1e6 : den > 0 ? Math.min(Math.sqrt(num / den), 1e6) : num > 0 ? 1 : 0;
  };
  // AD holds each firing at its grid step; a probe whose + or − solve fires elsewhere crossed a jump of the
  // network's loss, and its quotient is no check of AD (firings recorded on the whole-solve kernel only). Solved at
  // the first units settled, so that the units are known before any solve.
  let base: Firings | undefined = unperturbed?.firings;
  let baseSolved = !!unperturbed;
  const keeps = (f: ProbeFirings) => !base || f.every((x) => !x || sameFirings(x, base!));
  const solveBase = (meter: FiniteDifferenceMeter) => {
    if (baseSolved) return;
    base = unperturbedFirings(tf, cm, scheme, model, values);
    baseSolved = true;
    if (base) meter.solved(1);
  };
  // An unread parameter's + and − solves would be the unperturbed solve bit for bit, so its probes take AD's loss and
  // the unperturbed firings without solving, and its quotient is (loss − loss)/2ε as theirs would be (sine-circle.ode's
  // sig: 2 of its 10 solves of 6,000 steps).
  const unread = model.params.map(unreadParameter);
  const moves = (probe: Probe) => !probe.members.every((i) => unread[i]);
  // A slot the second thread did not finish within waitMs: it is lost or stalled, and no other slot is waited for.
  let waitMs = early?.waitMs ?? 0;
  /** A probe of one scalar parameter as `early` holds it, found by its perturbed values (takeEarly). */
  const earlierLosses = (table: EarlySolves, probe: Probe) => {
    const i = probe.members[0];
    if (probe.members.length !== 1 || values[i].length !== 1) return undefined;
    const moved = new Float32Array(2);
    const realized = writeMoved(values[i], dirs[i], probe.steps[0], 0, 1, moved, 0, 1);
    const r = takeEarly(table, i, moved[0], moved[1], waitMs);
    if (r === 'stalled') waitMs = 0;
    return r === 'stalled' ? undefined : r && { ...r, realized };
  };
  /**
   * centralLosses of the probes, solving only those that move a value and that the second thread did not solve
   * before AD (`early`, found by their perturbed values: the same losses). Counted on `meter`.
   */
  const probeLosses = (probes: Probe[], meter: FiniteDifferenceMeter) => {
    const taken = probes.map((probe) => (early && moves(probe) ? earlierLosses(early.solves, probe) : undefined));
    const solving = probes.filter((probe, k) => moves(probe) && !taken[k]);
    const solved = solving.length > 0 ? centralLosses(tf, cm, scheme, model, values, dirs, mode, solving) : undefined;
    meter.solved(2 * solving.length);
    const losses: [number, number][] = [],
      realized: number[] = [],
      firings: ProbeFirings[] = [];
    let k = 0;
    for (const [j, probe] of probes.entries()) {
      const earlier = taken[j];
      if (earlier) {
        meter.solvedEarlier(2, earlier.ms);
        losses.push(earlier.losses);
        realized.push(earlier.realized);
        // Early solves are taken only where the solves record no firings (earlySolves).
        firings.push([undefined, undefined]);
        continue;
      }
      if (moves(probe)) {
        losses.push(solved!.losses[k]);
        realized.push(solved!.realized[k]);
        firings.push(solved!.firings[k++]);
        continue;
      }
      losses.push([loss, loss]);
      realized.push(movedValues(values, dirs, probe).realized);
      firings.push([base, base]);
    }
    return { losses, realized, firings };
  };
  /** Per tensor i of `only`, its losses and firings at steps[i]. */
  const tensorwise = (steps: number[], only: number[], meter: FiniteDifferenceMeter) =>
    byTensor(only, probeLosses(singleProbes(only, steps), meter));
  const P = model.params.length;
  // Tensors first along one combined probe (combinedProbe's rule): when it agrees with AD, each of its tensors
  // is settled by it; when it does not, they are solved one by one below, as the others are.
  const combined = combinedProbe(model, eps, predicted, rounding);
  const units = [
    ...(combined ? [combined.members] : []),
    ...model.params
      .map((_p, i) => i)
      .filter((i) => !combined?.members.includes(i))
      .map((i) => [i]),
  ];
  const settle = (chosen: number[], budgetMs: number, meter: FiniteDifferenceMeter) => {
    solveBase(meter);
    const results: (GradcheckResult | undefined)[] = new Array(P);
    const fd: number[] = new Array(P);
    const crossed: boolean[] = new Array(P).fill(false);
    const withCombined = combined && chosen.includes(0) ? combined : undefined;
    const single = chosen.filter((k) => !(combined && k === 0)).map((k) => units[k][0]);
    const tensors = chosen.flatMap((k) => units[k]).sort((a, b) => a - b);
    const firstProbes = [...(withCombined ? [withCombined] : []), ...singleProbes(single, eps)];
    const first = probeLosses(firstProbes, meter);
    single.forEach((i, k) => {
      fd[i] = derivative(first.losses[k + (withCombined ? 1 : 0)], eps[i]);
      crossed[i] = !keeps(first.firings[k + (withCombined ? 1 : 0)]);
    });
    if (withCombined) {
      const [plus, minus] = first.losses[0];
      const error = mismatch((plus - minus) / 2, first.realized[0]);
      const bound = (withCombined.members.length + 1) * error;
      if (bound <= GRADCHECK_TOLERANCE && keeps(first.firings[0]))
        withCombined.members.forEach((i, k) => {
          const step = withCombined.steps[k];
          results[i] = {
            relError: bound,
            converged: true,
            step,
            resolution: resolution(i, step),
            probe: 'combined',
            ...(base ? { firings: { steps: [step], moved: 0 } } : {}),
          };
        });
      else {
        const again = tensorwise(eps, withCombined.members, meter);
        for (const i of withCombined.members) {
          fd[i] = derivative(again.losses[i], eps[i]);
          crossed[i] = !keeps(again.firings[i]);
        }
      }
    }
    // Per tensor: the steps taken, how many of them (the largest) moved a firing, the quotients at those that kept
    // the firings (only these are compared with AD), and whether those agree with each other.
    const taken: number[][] = Array.from({ length: P }, () => []);
    const moved: number[] = new Array(P).fill(0);
    const compared: number[][] = Array.from({ length: P }, () => []);
    const stable: boolean[] = new Array(P).fill(true);
    /** Judges tensor i's quotient d at `step`; returns whether a finer step could still settle it. */
    const judge = (i: number, step: number, d: number, crossedHere: boolean): boolean => {
      if (crossedHere && compared[i].length > 0) {
        // A finer step moves a firing that coarser ones kept (a grazing firing): the ladder ends at the last kept one.
        const r = results[i]!;
        if (r.relError > GRADCHECK_TOLERANCE) results[i] = { ...r, converged: false };
        return false;
      }
      taken[i].push(step);
      if (crossedHere) moved[i]++;
      const res = resolution(i, step),
        rel = mismatch(d, predicted[i]);
      const at = {
        step,
        resolution: res,
        probe: 'tensor',
        ...(base ? { firings: { steps: taken[i].slice(), moved: moved[i] } } : {}),
      } as const;
      if (crossedHere) {
        results[i] = { relError: rel, converged: false, ...at };
        return true;
      }
      const prev = compared[i].at(-1);
      compared[i].push(d);
      if (prev === undefined) {
        results[i] = { relError: rel, converged: true, ...at };
        return rel > GRADCHECK_TOLERANCE;
      }
      // Agreement of two steps proves nothing when rounding alone could move them (both 0, say).
      const spread = mismatch(prev, d);
      stable[i] &&= spread <= GRADCHECK_TOLERANCE && res >= MIN_RESOLUTION;
      // Two compared quotients that scatter away from AD: a third step cannot settle them (scatters).
      const scattered =
        compared[i].length === 2 && rel > GRADCHECK_TOLERANCE && scatters(prev, d, predicted[i], spread);
      results[i] =
        rel <= GRADCHECK_TOLERANCE || stable[i]
          ? { relError: rel, converged: true, ...at }
          : {
              relError: Math.min(results[i]!.relError, rel),
              converged: false,
              ...at,
              ...(scattered ? { scatter: { steps: taken[i].slice(moved[i]), spread } } : {}),
            };
      return rel > GRADCHECK_TOLERANCE && compared[i].length < COMPARED_STEPS && !scattered;
    };
    let failed = tensors.filter((i) => !results[i] && judge(i, eps[i], fd[i], crossed[i]));
    // A mismatch counts only when FD has converged in the step: those tensors again at ε/4, then ε/16. Agreement
    // with AD at any step settles it; a mismatch stands only when all three steps agree with each other (a strongly
    // nonlinear loss can keep two coarse steps close and both off — v3 of the Morris–Lecar sample: 6.9 % and 5.6 %
    // at ε and ε/4, 0.3 % at ε/16 — and on a chaotic loss two steps can agree by chance); else FD cannot judge AD.
    // Two quotients that scatter away from AD (scatters) end the ladder at the second step: no third can settle them.
    // A tensor FD already cannot resolve at its step (below MIN_RESOLUTION) is not refined: a finer step moves the loss
    // less against the same rounding, so it can neither settle nor show agreement beyond chance. Steps that moved a
    // firing do not count among the three: past them the ladder goes on by fourths while the next step still resolves
    // the loss (up to FINEST_STEP). The passes stop where the next one's time, predicted per solve from those so far,
    // would exceed the budget.
    const last = (i: number) => taken[i][taken[i].length - 1];
    const finest = (i: number) => last(i) / 4 < eps[i] / FINEST_STEP;
    for (;;) {
      failed = failed.filter((i) => {
        const r = results[i]!;
        const unresolved = moved[i] > 0 ? resolution(i, last(i) / 4) < MIN_RESOLUTION : r.resolution < MIN_RESOLUTION;
        const stop = finest(i) ? 'finest' : unresolved ? 'resolution' : undefined;
        if (!stop) return true;
        results[i] = { ...r, converged: false, ...(r.firings ? { firings: { ...r.firings, stop } } : {}) };
        return false;
      });
      if (failed.length === 0) break;
      const spentMs = meter.spentMs();
      const nextMs = (spentMs / Math.max(1, meter.solves())) * 2 * failed.length;
      if (spentMs + nextMs > budgetMs) {
        for (const i of failed) {
          const r = results[i]!;
          results[i] = {
            ...r,
            converged: false,
            budget: { steps: taken[i], spentMs, nextMs, budgetMs, solves: 2 * failed.length },
            ...(r.firings ? { firings: { ...r.firings, stop: 'budget' } } : {}),
          };
        }
        break;
      }
      const finer = eps.slice();
      for (const i of failed) finer[i] = last(i) / 4;
      const again = tensorwise(finer, failed, meter);
      failed = failed.filter((i) =>
        judge(i, finer[i], derivative(again.losses[i], finer[i]), !keeps(again.firings[i])),
      );
    }
    return results;
  };
  return {
    units,
    settle,
    unperturbed: (meter) => {
      solveBase(meter);
      return base ? { firings: base } : {};
    },
  };
}

/** The + and − solves' firings of one probe (undefined where the solve does not record them). */
type ProbeFirings = [Firings | undefined, Firings | undefined];

/**
 * The unperturbed solve's firings, for models whose firings the solves record (events on the whole-solve kernel);
 * else undefined. One solve, the same as the AD solve's forward (finite differences compare their probes' firings
 * with it; the continuous reference, its firings near the ends of the interval).
 */
export function unperturbedFirings(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, values: Float32Array[]) {
  // Nothing to record, nothing to solve (firingsOf would still run the solve).
  if (!solvesRecordFirings(cm, scheme)) return undefined;
  return firingsOf(cm, scheme, () => {
    tf.tidy(() => {
      stackedLoss(tf, cm, scheme, model, values).dataSync();
    });
  }).firings;
}

/** Whether the model's solves record their events' firings (events on the whole-solve kernel). */
export const solvesRecordFirings = (cm: CompiledModel, scheme: Scheme): boolean =>
  !!cm.wholeSolve?.events && solvesByKernel(cm, scheme);

/**
 * `solve()` (solves on the parameter values) and the firings of its latest solve on the whole-solve kernel
 * (unperturbedFirings' answer when `solve` is the AD solve, whose forward is that solve: check/gradients.ts's adPhase
 * hands them to finiteDifferenceWork, which then solves it no more).
 */
export function firingsOf<T>(cm: CompiledModel, scheme: Scheme, solve: () => T): { result: T; firings?: Firings } {
  const ws = cm.wholeSolve;
  if (!ws?.events || !solvesByKernel(cm, scheme)) return { result: solve() };
  ws.takeFirings();
  const result = solve();
  return { result, firings: ws.takeFirings() };
}

/** Quotients a mismatch must stand at, agreeing with each other, before it counts (steps that moved a firing aside). */
const COMPARED_STEPS = 3;

/**
 * Relative difference mismatch(coarser, finer) of two compared quotients above which they scatter (20 times
 * GRADCHECK_TOLERANCE): they differ by more than the coarser one's own size.
 */
export const SCATTER_SPREAD = 1;

/**
 * AD's directional derivative above this many times both compared quotients: the adjoint carries a sensitivity the
 * perturbed solves do not show at these steps (the adjoint of chaotic dynamics grows like e^{λT} while a perturbed
 * solve stays on its attractor: cgl, AD 3·10¹⁸ against quotients of 10³–10⁴).
 */
export const SCATTER_SENSITIVITY = 100;

/**
 * Whether the compared quotients `coarser` (at step 4h) and `finer` (at h) of a tensor whose AD derivative is `ad`
 * scatter so that the third step (h/4) cannot settle them, `spread` being mismatch(coarser, finer): they differ by
 * more than the coarser one's own size (SCATTER_SPREAD; a bend both coarse steps straddle keeps them close, and two
 * that agree may yet show a standing mismatch at the third), and AD exceeds both SCATTER_SENSITIVITY-fold. A central
 * difference is the mean of the loss's derivative over its step: for a loss that turns on a scale 1/k within it
 * (A·sin kθ), a quotient at step h is about AD/(k·h) unless h lands near a zero of the sine, so AD a hundredfold
 * above the quotients at 4h and at h says k·h is about a hundred, and the third step is still about 25-fold off. Quotients far
 * above AD are not enough: a coarse step across a steep stretch can give them and the third step settle (XPPAUT's
 * osc.ode: 90.8 and 364 at ε and ε/4, AD 1.07, and within 0.2 % at ε/16); nor are quotients that spread and move
 * away from AD (acoaster's 834 and 14,850, AD 16,970, settle at ε/16). Far beyond both, the finer quotient is also
 * further from AD than τ·16/(1 − τ)·|AD|, the reach of a 16-fold approach of a smooth loss. A quotient that is NaN
 * (a perturbed solve that failed) is no evidence: the ladder goes on.
 */
export function scatters(coarser: number, finer: number, ad: number, spread: number): boolean {
  return spread > SCATTER_SPREAD && Math.abs(ad) > SCATTER_SENSITIVITY * Math.max(Math.abs(coarser), Math.abs(finer));
}

/**
 * The finest step of the ladder, ε over this: a firing moved even there sits almost on its grid point, or the firing
 * times are chaotic (XPPAUT's lorknead: every step down to ε/4096 moved one), and each finer pass costs two solves.
 */
const FINEST_STEP = 4 ** 5;

/**
 * One central difference: the parameter tensors it moves together, each by its own step along its own
 * direction (θ_i ± steps[k]·v_i for members[k]).
 */
export interface Probe {
  members: number[];
  steps: number[];
}

/**
 * The combined probe (docs/engine.md, finite differences): the tensors (per-step or with more than one
 * element) whose own step moves the loss by at least COMBINED_MIN_CHANGE rounding units, moved at once, each by
 * C/⟨G_i, v_i⟩ with C the smallest of those changes ε_i·⟨G_i, v_i⟩, so that every tensor moves the loss by the
 * same C (no tensor's error drowns in another's larger change) and no step exceeds the tensor's own.
 * Undefined below two such tensors. A combined difference that agrees with AD to GRADCHECK_TOLERANCE/(M + 1),
 * M members, bounds the error of any one tensor below the tolerance (a tensor off by 4 % moves the sum of M
 * equal parts by more than that); its figure times M + 1 is each member's.
 */
export function combinedProbe(model: Model, eps: number[], predicted: number[], rounding: number): Probe | undefined {
  if (!Number.isFinite(rounding)) return undefined;
  const members = model.params
    .map((_p, i) => i)
    .filter((i) => {
      const p = model.params[i],
        change = eps[i] * predicted[i];
      return (
        (p.perStep || sizeOf(p.shape) > 1) &&
        Number.isFinite(change) &&
        change > 0 &&
        change >= COMBINED_MIN_CHANGE * rounding
      );
    });
  if (members.length < 2) return undefined;
  const C = Math.min(...members.map((i) => eps[i] * predicted[i]));
  return { members, steps: members.map((i) => C / predicted[i]) };
}

/** The loss change, in rounding units of the loss, a step is sized for (finiteDifferenceDirections). */
const RESOLVED_CHANGE = 1e3;

/**
 * Fewest rounding units a tensor's own step must move the loss by to join the combined probe: the probe then
 * moves it by M·C ≥ 200 units, whose rounding (≈ 0.7/(M·C) relative) stays far below GRADCHECK_TOLERANCE/(M + 1).
 * Long solves hold every step at its largest and still resolve a few hundred units (d 2, width 128, N 8192).
 */
const COMBINED_MIN_CHANGE = 100;

/**
 * Fewest rounding units ε·|⟨G, v⟩| must span for a central difference to judge AD: below
 * it float32 rounding alone (≈ 0.7/resolution relative) can exceed the tolerance.
 */
export const MIN_RESOLUTION = 10;

/**
 * The time budget of the passes at finer steps (finiteDifferenceCheck's `budgetMs`, check/finiteDifferences.ts): this
 * many times the AD solve's measured cost (forward and adjoint: about three perturbed solves), and at least
 * FD_MIN_BUDGET_MS, so that a cheap model always takes every pass. The first pass (2 solves per probe) always runs.
 */
export const FD_BUDGET_FACTOR = 1.5;
export const FD_MIN_BUDGET_MS = 4000;

/** Relative gradcheck mismatch above which AD and finite differences disagree. */
export const GRADCHECK_TOLERANCE = 0.05;

/**
 * One tensor's gradcheck: the relative mismatch at the step used, and whether the
 * finite difference had converged in the step (false: FD from 16·step down to step,
 * or from 4·step when they scatter, do not agree with each other, or resolve too little
 * of the loss's rounding, so FD cannot judge AD).
 */
export interface GradcheckResult {
  relError: number;
  converged: boolean;
  step: number;
  /** ε·|⟨G, v⟩| at `step` over the loss's modelled rounding 2⁻²⁴·√N·|L| (below MIN_RESOLUTION the change is too small to resolve). */
  resolution: number;
  /** Settled by the combined probe of several tensors (combinedProbe; relError is then its bound), or the tensor's own. */
  probe: 'combined' | 'tensor';
  /**
   * Set when the finer steps that could settle this tensor were not taken for the time budget: the steps taken, the
   * work spent so far, the predicted work of the next pass (`solves` perturbed solves) and the budget, in ms.
   */
  budget?: { steps: number[]; spentMs: number; nextMs: number; budgetMs: number; solves: number };
  /**
   * Set when the ladder ended at its second compared step because the two quotients scatter away from AD (scatters):
   * the steps compared, largest first, and the quotients' relative difference.
   */
  scatter?: { steps: number[]; spread: number };
  /** Where the solves record their firings (events on the whole-solve kernel): which steps moved one. */
  firings?: GradcheckFirings;
}

/**
 * The steps a tensor's finite differences took, largest first up to the one reported, of which the first `moved`
 * moved a firing across a grid point (a perturbed solve fired at other steps than the unperturbed one): those
 * quotients were not compared with AD. `moved === steps.length`: none was. `stop`: why the ladder took no finer
 * step before it settled (the next one would resolve the loss too little, the ladder's finest step, or the time budget).
 */
export interface GradcheckFirings {
  steps: number[];
  moved: number;
  stop?: 'resolution' | 'finest' | 'budget';
}

/** Finite differences judged AD at steps that kept every firing (the events' jumps were not crossed). */
export const firingsKept = (f: GradcheckFirings | undefined) => !!f && f.moved < f.steps.length;

/** Every step finite differences took moved a firing: none was compared with AD. */
export const firingsMoved = (f: GradcheckFirings | undefined) => !!f && f.moved > 0 && f.moved === f.steps.length;

/**
 * One tensor's probe direction v_k = fround((sign·r_k + g_k·scale)·norm), r_k the seeded random
 * sign k. Evaluated where the perturbed values are written, never stored: on 2 million values a
 * stored v cost a pass and 8 MB a check.
 */
export interface Direction {
  bits: Uint32Array;
  g: Float32Array;
  sign: number;
  scale: number;
  norm: number;
}

/** Component k of a direction (the float32 value the solves are perturbed along). */
function directionAt(d: Direction, k: number): number {
  return Math.fround((d.sign * signAt(d.bits, k) + d.g[k] * d.scale) * d.norm);
}

/** A direction's values in one array (tests and small tensors). */
export function directionValues(d: Direction): Float32Array {
  return Float32Array.from({ length: d.g.length }, (_, k) => directionAt(d, k));
}

/**
 * The direction, step ε and predicted ⟨G, v⟩ of each parameter tensor (seeded; drawn in parameter order); `loss` is L(θ).
 * ⟨G, v⟩ is that of the unrounded v, from the sums of one pass: v's float32 rounding moves it by ~1e-7 relative.
 */
export function finiteDifferenceDirections(
  model: Model,
  values: Float32Array[],
  G: Float32Array[],
  loss: number,
): { dirs: Direction[]; eps: number[]; predicted: number[]; rounding: number } {
  const rng = new Rng((model.options.seed ^ 0x5eed1e55) >>> 0);
  const predicted: number[] = [];
  const scales: number[] = [];
  const dirs = G.map((g, i) => {
    // Random signs: as good a probe as normals, and cheap for millions of entries.
    const n = g.length,
      r = rng.signs(n),
      theta = values[i];
    // ⟨r, G⟩, ‖G‖² and ‖θ‖² (for the step's scale) in one pass, 32 signs a word, two partial sums of each
    // (a chain of dependent adds bounds the loop).
    let along0 = 0,
      along1 = 0,
      gg0 = 0,
      gg1 = 0,
      tt0 = 0,
      tt1 = 0;
    const words = n >>> 5;
    for (let w = 0; w < words; w++) {
      const word = r[w],
        o = w << 5;
      for (let b = 0; b < 32; b += 2) {
        const g0 = g[o + b],
          g1 = g[o + b + 1],
          t0 = theta[o + b],
          t1 = theta[o + b + 1];
        along0 += ((((word >>> b) & 1) << 1) - 1) * g0;
        along1 += ((((word >>> (b + 1)) & 1) << 1) - 1) * g1;
        gg0 += g0 * g0;
        gg1 += g1 * g1;
        tt0 += t0 * t0;
        tt1 += t1 * t1;
      }
    }
    for (let k = words << 5; k < n; k++) {
      along0 += signAt(r, k) * g[k];
      gg0 += g[k] * g[k];
      tt0 += theta[k] * theta[k];
    }
    const along = along0 + along1,
      gg = gg0 + gg1,
      gNorm = Math.sqrt(gg);
    scales.push(Math.sqrt((tt0 + tt1) / Math.max(1, n)));
    // r on G's side, so that r and G/‖G‖ never cancel. The two parts weigh alike in ⟨G, v⟩ (‖G‖ against
    // |⟨r, G⟩| ≈ ‖G‖): with G/rms(G) instead, the G part outweighed r by √n and an AD gradient with half
    // its components zeroed went unnoticed in 58 of 100 random networks.
    const sign = along < 0 ? -1 : 1;
    const scale = gNorm > 0 ? 1 / gNorm : 0;
    // Unit rms: ‖v‖² = n + 1 + 2|⟨r, G⟩|/‖G‖ before scaling.
    const norm = gNorm > 0 ? Math.sqrt(n / (n + 1 + 2 * Math.abs(along) * scale)) : 1;
    predicted.push(norm * (sign * along + scale * gg));
    return { bits: r, g, sign, scale, norm };
  });
  // Float32-aware: the loss carries rounding ≈ 2⁻²⁴·√N·|L| (N steps); the smallest step whose predicted change
  // ε·⟨G, v⟩ is 10³ times that keeps rounding at 0.1 % (central differences truncate as ε², so no larger).
  const rounding = 2 ** -24 * Math.sqrt(Math.max(1, model.options.steps)) * Math.abs(loss);
  const eps = scales.map((rms, i) =>
    stepWithin(
      rms,
      Number.isFinite(rounding) && predicted[i] !== 0 ? (RESOLVED_CHANGE * rounding) / Math.abs(predicted[i]) : 0,
    ),
  );
  return { dirs, eps, predicted, rounding };
}

/**
 * θ + ε·v and θ − ε·v over `count` values from offset `from` of the tensor, rounded to float32 as the solve
 * sees them, written from out[plus] and out[minus] on (v evaluated once for both). Returns ⟨G, (θ₊ − θ₋)/2⟩
 * over them (G the direction's own gradient): the change AD predicts along the rounded values the solves see.
 */
export function writeMoved(
  base: Float32Array,
  d: Direction,
  step: number,
  from: number,
  count: number,
  out: Float32Array,
  plus: number,
  minus: number,
): number {
  const { bits, g, sign, scale, norm } = d;
  let k = 0,
    along0 = 0,
    along1 = 0;
  // Whole words of 32 signs when aligned (signAt's arithmetic, the word read once): a quarter faster.
  if ((from & 31) === 0) {
    for (; k + 32 <= count; k += 32) {
      const word = bits[(from + k) >>> 5],
        j0 = from + k,
        p0 = plus + k,
        m0 = minus + k;
      for (let b = 0; b < 32; b += 2) {
        const v0 = Math.fround((sign * ((((word >>> b) & 1) << 1) - 1) + g[j0 + b] * scale) * norm),
          v1 = Math.fround((sign * ((((word >>> (b + 1)) & 1) << 1) - 1) + g[j0 + b + 1] * scale) * norm);
        const x0 = base[j0 + b],
          x1 = base[j0 + b + 1];
        out[p0 + b] = x0 + step * v0;
        out[m0 + b] = x0 - step * v0;
        out[p0 + b + 1] = x1 + step * v1;
        out[m0 + b + 1] = x1 - step * v1;
        along0 += g[j0 + b] * (out[p0 + b] - out[m0 + b]);
        along1 += g[j0 + b + 1] * (out[p0 + b + 1] - out[m0 + b + 1]);
      }
    }
  }
  for (; k < count; k++) {
    const j = from + k,
      v = directionAt(d, j);
    out[plus + k] = base[j] + step * v;
    out[minus + k] = base[j] - step * v;
    along0 += g[j] * (out[plus + k] - out[minus + k]);
  }
  return (along0 + along1) / 2;
}

/** Losses [L(θ + ε_i v_i), L(θ − ε_i v_i)] per parameter tensor i. */
export const finiteDifferenceLosses = (...args: Parameters<typeof tensorLosses>): [number, number][] =>
  tensorLosses(...args).losses;

/** finiteDifferenceLosses with each tensor's + and − solves' firings. */
function tensorLosses(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  dirs: Direction[],
  eps: number[],
  mode: FiniteDifferenceMode = 'auto',
  only?: number[],
): { losses: [number, number][]; firings: ProbeFirings[] } {
  const wanted = only ?? model.params.map((_p, i) => i);
  return byTensor(wanted, centralLosses(tf, cm, scheme, model, values, dirs, mode, singleProbes(wanted, eps)));
}

/**
 * [L(θ + step), L(θ − step)] for scalar parameter `param` alone, solved as the ladder's own probe of it is solved
 * (centralLosses), so that a probe with the same perturbed values has the same losses (engine/earlySolves.ts).
 */
export function scalarProbeLosses(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  param: number,
  step: number,
): [number, number] {
  // Direction +1: one set sign, no gradient part.
  const up: Direction = { bits: Uint32Array.of(1), g: Float32Array.of(0), sign: 1, scale: 0, norm: 1 };
  const dirs = values.map(() => up);
  return centralLosses(tf, cm, scheme, model, values, dirs, 'auto', [{ members: [param], steps: [step] }]).losses[0];
}

/** A probe of each tensor of `only` alone, at its step. */
const singleProbes = (only: number[], steps: number[]): Probe[] =>
  only.map((i) => ({ members: [i], steps: [steps[i]] }));

/** The results of singleProbes(only, …), indexed by tensor: probe k's are tensor only[k]'s. */
function byTensor(
  only: number[],
  r: { losses: [number, number][]; firings: ProbeFirings[] },
): { losses: [number, number][]; firings: ProbeFirings[] } {
  const losses: [number, number][] = [],
    firings: ProbeFirings[] = [];
  only.forEach((i, k) => {
    losses[i] = r.losses[k];
    firings[i] = r.firings[k];
  });
  return { losses, firings };
}

/**
 * Per probe, the losses [L(θ + u), L(θ − u)] (u its members' steps along their directions), ⟨G, (θ₊ − θ₋)/2⟩
 * over the values written (writeMoved), and the two solves' firings (undefined where not recorded).
 */
export function centralLosses(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  dirs: Direction[],
  mode: FiniteDifferenceMode,
  probes: Probe[],
): { losses: [number, number][]; realized: number[]; firings: ProbeFirings[] } {
  if (mode === 'batched' && !cm.batched) throw new Error('this model cannot be batched');
  const loop = () => {
    const losses: [number, number][] = [],
      realized: number[] = [],
      firings: ProbeFirings[] = [];
    for (const probe of probes) {
      const r = loopLosses(tf, cm, scheme, model, values, dirs, probe);
      losses.push(r.losses);
      realized.push(r.realized);
      firings.push(r.firings);
    }
    return { losses, realized, firings };
  };
  // The implicit step (backeul) solves one system per step, not a batch of them; events and delays batch on
  // the whole-solve kernel only. Initial values checked as parameters move the start of each solve, which the
  // batched packed and kernel solves do not read.
  if (
    mode === 'loop' ||
    !cm.batched ||
    cm.initialValues ||
    (scheme.kind === 'rk' && scheme.implicit) ||
    (cm.timeStepping && !solvesByKernel(cm, scheme))
  )
    return loop();
  if (mode === 'auto' && smallFusedMlp(cm)) return loop();
  const losses: [number, number][] = [],
    realized: number[] = [],
    firings: ProbeFirings[] = [];
  try {
    for (const chunk of batchChunks(model, probes)) {
      const r = batchedLosses(
        tf,
        cm,
        scheme,
        model,
        values,
        dirs,
        chunk.map((k) => probes[k]),
      );
      chunk.forEach((k, j) => {
        losses[k] = [r.losses[2 * j], r.losses[2 * j + 1]];
        realized[k] = r.realized[j];
        firings[k] = [r.firings[2 * j], r.firings[2 * j + 1]];
      });
    }
  } catch (err) {
    // 'auto': a batched solve that fails (a shape the batched layout missed) must not cost the user the check.
    if (mode === 'batched') throw err;
    return loop();
  }
  return { losses, realized, firings };
}

/**
 * Multiply–adds of one evaluation of f up to which an MLP field solved as one op (engine/fusedMlp/) takes its
 * perturbed solves one at a time: the batched solve runs a few TF.js kernels a step, whose dispatch outweighs
 * such a field's arithmetic (d 2, width 128: N 1024 40–70 against 90–120 ms of CPU, N 8192 0.30–0.48 against
 * 0.52–1.06 s, two solves), while from d 64, width 256 (32,768) its products are the cheaper (145 against 170 ms).
 */
const LOOPED_MLP_MACS = 4096;

/** An MLP field whose discrete solve is one op and whose evaluation is small (LOOPED_MLP_MACS). */
function smallFusedMlp(cm: CompiledModel): boolean {
  const field = cm.mlp?.owner === cm.rhs && cm.solveProgram?.owner === cm.rhs ? cm.mlp.field : undefined;
  if (!field) return false;
  let n = field.size,
    macs = 0;
  for (const layer of field.layers) {
    macs += n * layer.out;
    n = layer.out;
  }
  return macs <= LOOPED_MLP_MACS;
}

/** A probe's + and − values (the tensors it moves replaced) and ⟨G, (θ₊ − θ₋)/2⟩ over them (writeMoved). */
function movedValues(
  values: Float32Array[],
  dirs: Direction[],
  probe: Probe,
): { plus: Float32Array[]; minus: Float32Array[]; realized: number } {
  const plus = values.slice(),
    minus = values.slice();
  let realized = 0;
  probe.members.forEach((i, k) => {
    const n = values[i].length,
      both = new Float32Array(2 * n);
    realized += writeMoved(values[i], dirs[i], probe.steps[k], 0, n, both, 0, n);
    plus[i] = both.subarray(0, n);
    minus[i] = both.subarray(n);
  });
  return { plus, minus, realized };
}

/** One solve per sign (the fallback when an expression cannot be batched). */
function loopLosses(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  dirs: Direction[],
  probe: Probe,
): { losses: [number, number]; realized: number; firings: ProbeFirings } {
  const { plus, minus, realized } = movedValues(values, dirs, probe);
  const out: number[] = [],
    firings: (Firings | undefined)[] = [];
  // A solve that is not the kernel's records nothing: forget what an earlier one left.
  cm.wholeSolve?.takeFirings();
  for (const vals of [plus, minus])
    tf.tidy(() => {
      out.push(stackedLoss(tf, cm, scheme, model, vals).dataSync()[0]);
      firings.push(cm.wholeSolve?.takeFirings());
    });
  return { losses: [out[0], out[1]], realized, firings: [firings[0], firings[1]] };
}

/** Floats one batched solve may hold (parameters and kept states), ~64 MB. */
const BATCH_FLOATS = 1 << 24;

/** Probes (indices) grouped so that each group's batched solve stays under BATCH_FLOATS. */
function batchChunks(model: Model, probes: Probe[]): number[][] {
  const count = copiesPerParameter(model);
  const N = model.options.steps;
  // Per batch element: the states at every step and a few stage values each (a rough bound).
  const perSolve = 8 * (N + 1) * model.states.reduce((a, s) => a + sizeOf(s.shape), 0);
  const chunks: number[][] = [];
  let cur: number[] = [],
    elems = 0;
  probes.forEach((probe, k) => {
    const e = probe.members.reduce((a, i) => {
      const p = model.params[i];
      return a + sizeOf(p.shape) * (p.perStep ? count : 1);
    }, 0);
    if (cur.length > 0 && 2 * (cur.length + 1) * (elems + e + perSolve) > BATCH_FLOATS) {
      chunks.push(cur);
      cur = [];
      elems = 0;
    }
    cur.push(k);
    elems += e;
  });
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

/**
 * The perturbed parameters of a batched solve live in one buffer kept between checks: freshly
 * allocated, the 50 MB of a d = 64, width 256 network cost 25 ms a check in page faults and
 * collection. Safe to reuse: every tensor over it is disposed before batchedLosses returns.
 */
let scratchBuffer = new Float32Array(0);
function perturbedScratch(floats: number): Float32Array {
  if (scratchBuffer.length < floats) scratchBuffer = new Float32Array(floats);
  return scratchBuffer;
}

/** A tensor's internal shape with scalars as [1, 1] (the batched rank-3 layout's trailing dimensions). */
function paddedShape(shape: number[]): number[] {
  const s = internalShape(shape);
  return s.length === 0 ? [1, 1] : s;
}

/**
 * Per parameter, one tensor per copy: batch B = 2·probes for the tensors some probe moves (element 2k is
 * θ + u_k, 2k+1 is θ − u_k), batch 1 for the rest; and per probe ⟨G, (θ₊ − θ₋)/2⟩ (writeMoved). The
 * perturbed values live in the reused scratch; call inside a tidy.
 */
function perturbedCopies(
  tf: TF,
  model: Model,
  values: Float32Array[],
  dirs: Direction[],
  probes: Probe[],
): { copies: Tensor[][]; realized: number[] } {
  const count = copiesPerParameter(model);
  const B = 2 * probes.length;
  const moved = model.params.map((_p, j) => probes.some((q) => q.members.includes(j)));
  // Each perturbed tensor's B·copies values, side by side in the reused scratch.
  const offsets: number[] = [];
  let floats = 0;
  model.params.forEach((p, j) => {
    offsets[j] = floats;
    if (moved[j]) floats += (p.perStep ? count : 1) * B * sizeOf(p.shape);
  });
  const scratch = perturbedScratch(floats);
  const realized = probes.map(() => 0);
  const copies = model.params.map((p, j) => {
    const c = p.perStep ? count : 1;
    const inner = paddedShape(p.shape);
    const P = sizeOf(p.shape);
    // One tensor per copy over a view of the data (no unstack: that would copy it all once more).
    const perCopy = (data: Float32Array, batch: number) =>
      Array.from({ length: c }, (_, n) =>
        tf.tensor(data.subarray(n * batch * P, (n + 1) * batch * P), [batch, ...inner]),
      );
    if (!moved[j]) return perCopy(values[j], 1);
    const base = values[j],
      v = dirs[j];
    // Per probe, this tensor's step in it (undefined: the probe leaves it at θ).
    const steps = probes.map((q) => {
      const at = q.members.indexOf(j);
      return at < 0 ? undefined : q.steps[at];
    });
    const data = scratch.subarray(offsets[j], offsets[j] + c * B * P);
    for (let n = 0; n < c; n++) {
      const src = base.subarray(n * P, (n + 1) * P);
      steps.forEach((e, k) => {
        const plus = (n * B + 2 * k) * P,
          minus = plus + P;
        if (e === undefined) {
          data.set(src, plus);
          data.set(src, minus);
        } else realized[k] += writeMoved(base, v, e, n * P, P, data, plus, minus);
      });
    }
    return perCopy(data, B);
  });
  return { copies, realized };
}

/**
 * The B solves' trajectories from the per-copy parameters (packed states for scalar models), and on the kernel
 * each solve's firings into `firings`. Call inside a tidy.
 */
function batchedTrajectory(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  copies: Tensor[][],
  B: number,
  firings: Firings[],
): Tensor[][] {
  const batched = cm.batched!;
  const { steps: N, dt: h, t0 } = model.options;
  const byKernel = solvesByKernel(cm, scheme)
    ? cm.wholeSolve!.solveBatched(scheme, N, h, t0, paramsFor(model, copies), B, cm.observed.length > 0, firings)
    : undefined;
  if (byKernel) return byKernel;
  // Too large a batch for the kernel to keep: the caller ('auto') solves the perturbations one by one.
  if (cm.timeStepping) throw new Error('the batched trajectory of a model with events or delays is too large to keep');
  if (cm.packed) {
    // Scalar models: the B solves on packed states [B, S, 1], unpacked to each state's [B, 1, 1].
    const S = cm.x0.length,
      packed = cm.packed;
    const x0 = tf.broadcastTo(tf.reshape(packed.x0, [1, S, 1]), [B, S, 1]);
    return solvePackedState(
      tf,
      cm,
      x0,
      (x, p, t) => packed.batchedRhs(x, p, t),
      (x, i) => tf.slice(x, [0, i, 0], [B, 1, 1]),
      scheme,
      N,
      h,
      t0,
      paramsFor(model, copies),
    );
  }
  const x0 = cm.x0.map((x, k) =>
    tf.broadcastTo(tf.reshape(x, [1, ...paddedShape(cm.stateShapes[k])]), [B, ...paddedShape(cm.stateShapes[k])]),
  );
  const view: CompiledModel = { ...cm, x0, rhs: (s, p, t) => batched.rhs(s, p, t) };
  return solveDiscrete(tf, view, scheme, N, h, t0, paramsFor(model, copies));
}

/**
 * One solve for the 2·|probes| perturbed parameter sets: batch element 2k is θ + u_k, 2k+1 is θ − u_k;
 * tensors no probe moves keep a batch of 1 and broadcast. (Built here, not with broadcasting backend
 * ops: tfjs-cpu's broadcast add/mul is 20× slower on wide models.)
 */
function batchedLosses(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  dirs: Direction[],
  probes: Probe[],
): { losses: Float32Array; realized: number[]; firings: (Firings | undefined)[] } {
  const B = 2 * probes.length;
  let realized: number[] = [];
  const firings: Firings[] = [];
  const y = tf.tidy(() => {
    const moved = perturbedCopies(tf, model, values, dirs, probes);
    realized = moved.realized;
    const traj = batchedTrajectory(tf, cm, scheme, model, moved.copies, B, firings);
    return trajectoryLossBatched(tf, cm, traj, model.options.t0, model.options.dt, B);
  });
  try {
    return { losses: y.dataSync() as Float32Array, realized, firings };
  } finally {
    y.dispose();
  }
}
