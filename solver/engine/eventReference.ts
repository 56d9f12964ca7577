// The check's continuous reference for a model with events (scalarKernel/referenceEvents.ts solves it):
// events located at their crossing times, the adjoint's jump conditions there, on two reference grids
// (H = h and h/2, halved again while they disagree) whose difference is the reported error. Only
// x(T) losses, shared parameters and scalar resets inside the fused subset; check/referenceAvailability.ts
// says why otherwise.
import { visitExpressions, type Model } from '../model';
import type { TF } from './tf';
import type { CompiledModel } from './compile';
import { STIFF_REFERENCE_BUDGET_MS, type ReferenceInput, type ReferenceResult } from './reference';
import { workClock } from './work';
import { compileScalarProgram } from './scalarRhs';
import { eventProgram, type Firings } from './scalarKernel/events';
import { concatElements, MAX_PATH_COMPONENTS } from './statePath';
import {
  adjointRefusal,
  eventAdjoint,
  eventSolve,
  type EventAdjoint,
  type EventSolve,
  type EventSolveInput,
  type Firing,
  type Refusal,
} from './scalarKernel/referenceEvents';

/** Estimated error (a third of the two solves' difference) above which the step is halved again. */
const REFINE_ABOVE = 1e-4;
/** Most reference steps × states a halving may reach (about 10 µs each, forward and adjoint, in plain JS). */
const MAX_STATE_STEPS = 1 << 18;
/**
 * Most a halving may reach when the two steps' firing counts differ by one: a single crossing too close to call on
 * the coarser step, which a finer one settles (XPPAUT's qif-noise: 826 against 827 firings on 160,000 and 320,000
 * steps, 827 on 640,000), within the time budget. Counts further apart are dynamics the step does not resolve and
 * keep the cap above (XPPAUT's duck: 7 against 4 firings, and the error still 0.23 on a million steps). The sub-steps
 * are kept for the adjoint, about 60 bytes per state and step.
 */
const MAX_NEAR_MISS_STATE_STEPS = 1 << 23;

const fmt = (x: number) => Number(x.toPrecision(3)).toString();

/** The events whose condition or resets read noise (ran, normal: drawn per grid step, so a firing inside a step would read another draw than the network's). */
function noisyEvents(model: Model): Set<number> {
  const noise = new Set((model.tables ?? []).filter((t) => t.origin !== 'table').map((t) => t.name));
  const out = new Set<number>();
  (model.events ?? []).forEach((ev, i) =>
    visitExpressions([ev.condition, ...ev.resets.map((r) => r.value)], (e) => {
      if (e.kind === 'call' && noise.has(e.callee)) out.add(i);
    }),
  );
  return out;
}

/** Why the model's events have no reference before solving anything, or undefined when they may have one. */
export function eventReferenceUnsupported(model: Model): string | undefined {
  if (model.params.some((p) => p.perStep)) return 'per-step parameters with events';
  if (model.data.length > 0) return 'a data loss with events';
  if (!compileScalarProgram(model)) return 'the model is outside the fused scalar subset';
  if (!eventProgram(model)) return 'an event resets an array state or uses a construct outside the fused scalar subset';
  return undefined;
}

/**
 * Whether the event reference halves its step once more after solving on two steps: while they disagree (firing
 * counts, or gradients apart by more than REFINE_ABOVE) and the finer of the next pair stays within
 * MAX_STATE_STEPS; past that only for counts one firing apart, within MAX_NEAR_MISS_STATE_STEPS and the time
 * budget (the next halving costs about twice the last, `levelMs`).
 */
export function halveAgain(at: {
  counts: number[];
  /** The two steps' gradients apart (relative; Infinity when the counts differ). */
  apart: number;
  /** Steps × states of the finer solve. */
  stateSteps: number;
  spentMs: number;
  levelMs: number;
  budgetMs: number;
}): boolean {
  if (!(at.apart / 3 > REFINE_ABOVE)) return false;
  if (4 * at.stateSteps <= MAX_STATE_STEPS) return true;
  return (
    Math.abs(at.counts[0] - at.counts[1]) === 1 &&
    4 * at.stateSteps <= MAX_NEAR_MISS_STATE_STEPS &&
    at.spentMs + 2 * at.levelMs <= at.budgetMs
  );
}

export function eventReference(
  tf: TF,
  model: Model,
  cm: CompiledModel,
  inp: ReferenceInput,
  /** Called between solves (throws when the check was cancelled). */
  signalCheck?: () => void,
  /** The network's own firings at the checked values (one discrete solve), read only for a firing near t0 or T. */
  networkFirings?: () => Firings | undefined,
): { result: ReferenceResult } | Refusal {
  const rhs = compileScalarProgram(model),
    events = eventProgram(model);
  if (!rhs || !events) return { event: 0, reason: eventReferenceUnsupported(model) ?? 'outside the fused subset' };
  const theta = new Float64Array(rhs.params);
  let at = 0;
  for (const q of inp.params) {
    theta.set(q.values.subarray(0, q.size), at);
    at += q.size;
  }
  const { N, h, t0 } = inp;
  const base: Omit<EventSolveInput, 'K'> = {
    rhs,
    events,
    x0: concatElements(cm.x0),
    theta,
    t0,
    T: t0 + N * h,
  };
  // H = h and h/2 (h/2 and h/4 below 32 steps), halved again while the two solves disagree (their firing counts,
  // or their gradients by more than REFINE_ABOVE) and the finer one stays within MAX_STATE_STEPS. A step's adjoint
  // is solved only when its firing count agrees with the other step's: counts that differ need no gradient to
  // compare (the adjoint was 0.63 s of a check's 0.74 s reference that ended with counts that differ). Its only
  // refusal, a grazing firing, is found from the forward solve alone, in the same order as before.
  type Solved = { K: number; inp: EventSolveInput; fw: EventSolve; adjoint?: Adjoint };
  type Adjoint = { loss: { loss: number; pT: Float64Array }; adj: EventAdjoint };
  const solveAt = (K: number): Solved | Refusal => {
    signalCheck?.();
    const inpK = { ...base, K };
    const fw = eventSolve(inpK);
    if ('reason' in fw) return fw;
    return adjointRefusal(inpK, fw) ?? { K, inp: inpK, fw };
  };
  const adjointOf = (s: Solved): Adjoint | Refusal => {
    if (s.adjoint) return s.adjoint;
    const loss = lossGradient(tf, cm, s.fw.xT);
    const adj = eventAdjoint(s.inp, s.fw, loss.pT);
    if ('reason' in adj) return adj;
    s.adjoint = { loss, adj };
    return s.adjoint;
  };
  const S = rhs.states;
  // A solve that is not finite on H = h is tried on finer steps (the network may be finite where RK4 on H is not).
  let coarse = solveAt(N >= 32 ? N : 2 * N);
  for (
    let K = 2 * (N >= 32 ? N : 2 * N);
    'reason' in coarse && coarse.nonFinite && 2 * K * S <= MAX_STATE_STEPS;
    K *= 2
  )
    coarse = solveAt(K);
  if ('reason' in coarse) return coarse;
  // The network's firings, solved once, and only for a firing near t0 or T.
  let network: Firings | undefined | null = null;
  const firingsOfNetwork = () => (network === null ? (network = networkFirings?.()) : network);
  // A firing near t0 or T the network does not fire too refuses the reference before any finer solve.
  const early = edgeRefusal(coarse.fw.firings, t0, h, N, events.events.length, firingsOfNetwork);
  if (early) return early;
  const noisy = noisyEvents(model);
  const drawn = coarse.fw.firings.find((f) => noisy.has(f.event));
  if (drawn)
    return {
      event: drawn.event,
      reason: `an event that reads noise (ran, normal), drawn per grid step, fires (t = ${fmt(drawn.t)})`,
    };
  let fine: Solved, fineAdjoint: Adjoint | undefined, apart: number;
  const budgetMs = inp.stiffBudgetMs ?? STIFF_REFERENCE_BUDGET_MS;
  const spent = workClock();
  for (;;) {
    const level = workClock();
    const next = solveAt(2 * coarse.K);
    if ('reason' in next) return next;
    fine = next;
    const counts = [coarse.fw.firings.length, fine.fw.firings.length];
    if (counts[0] !== counts[1]) apart = Infinity;
    else {
      const a = adjointOf(coarse),
        b = adjointOf(fine);
      if ('reason' in a) return a;
      if ('reason' in b) return b;
      fineAdjoint = b;
      const norm = (v: Float64Array) => Math.hypot(...v);
      const diff = norm(b.adj.g.map((v, k) => v - a.adj.g[k]));
      const scale = norm(b.adj.g);
      apart = scale > 0 ? diff / scale : diff > 0 ? 1 : 0;
    }
    const again = halveAgain({
      counts,
      apart,
      stateSteps: fine.K * S,
      spentMs: spent.workMs(),
      levelMs: level.workMs(),
      budgetMs,
    });
    if (!again) {
      if (counts[0] !== counts[1])
        return {
          event: 0,
          reason: `the number of firings changes with the reference step (${counts[0]} against ${counts[1]} at H = ${fmt(((N * h) / fine.K) * 2)} and ${fmt((N * h) / fine.K)}): a crossing too close to call, or dynamics too fast or too sensitive for the step`,
        };
      break;
    }
    coarse = fine;
  }
  const edge = edgeRefusal(fine.fw.firings, t0, h, N, events.events.length, firingsOfNetwork);
  if (edge) return edge;
  // The loop leaves with counts that agree, hence with the fine step's adjoint.
  const { loss, adj } = fineAdjoint!;
  const referenceError = Math.max(apart / 3, 2 ** -24 * Math.sqrt(fine.K));
  const perParameter = (flat: Float64Array) => {
    let o = 0;
    return inp.params.map((q) => {
      const out = Float32Array.from(flat.subarray(o, o + q.size));
      o += q.size;
      return out;
    });
  };
  const g = perParameter(adj.g);
  const K = fine.K,
    H = (N * h) / K;
  const columns = Math.min(MAX_PATH_COMPONENTS, S);
  const values = new Float32Array((K + 1) * columns);
  for (let k = 0; k <= K; k++) for (let c = 0; c < columns; c++) values[k * columns + c] = fine.fw.nodes[k * S + c];
  const nonFinite =
    !Number.isFinite(loss.loss) || !Number.isFinite(referenceError) || g.some((v) => !v.every(Number.isFinite));
  return {
    result: {
      g,
      referenceError,
      lossAccurate: loss.loss,
      gridTimes: Array.from({ length: K + 1 }, (_v, k) => t0 + k * H),
      nonFinite,
      paths: { times: Array.from({ length: K + 1 }, (_v, k) => t0 + k * H), x: { columns, values } },
      events: { firings: fine.fw.firings.length, fixed: perParameter(adj.gFixed) },
    },
  };
}

/**
 * A firing within one step h of t0 or T: whether the network fires it inside the interval is then a matter of its
 * own step. The network fires an event in step n, (t_n, t_{n+1}], when its condition crosses there, and its firings
 * drift by a step or so from the flow's along a long solve; so the flow's gradient judges AD when the network fires
 * as often as the flow and fires the flow's first (last) firing's event in the first (last) step too. Undefined when
 * no firing is that close or the network agrees; else why there is no reference.
 */
function edgeRefusal(
  firings: Firing[],
  t0: number,
  h: number,
  N: number,
  events: number,
  networkFirings: (() => Firings | undefined) | undefined,
): Refusal | undefined {
  const T = t0 + N * h;
  const first = firings[0],
    last = firings.at(-1);
  const atStart = first && first.t - t0 < h ? first : undefined;
  const atEnd = last && T - last.t < h ? last : undefined;
  const edge = atStart ?? atEnd;
  if (!edge) return undefined;
  const where = `an event fires within one step of ${atStart ? 'the start' : 'the end'} (t = ${edge.t.toPrecision(4)})`;
  const network = networkFirings?.();
  if (!network)
    return {
      event: edge.event,
      reason: `${where}, so whether it fires inside the interval changes with the parameters`,
    };
  const agrees =
    network.count === firings.length &&
    (!atStart || network.first === atStart.event) &&
    (!atEnd || network.last === (N - 1) * events + atEnd.event);
  if (agrees) return undefined;
  return {
    event: edge.event,
    reason: `${where} and the network does not fire it in that step (${network.count} firings against the flow's ${firings.length}), so whether it fires inside the interval changes with the parameters`,
  };
}

/** ℓ(x(T)) and ∂ℓ/∂x(T) by AD of the compiled loss alone. */
export function lossGradient(tf: TF, cm: CompiledModel, xT: Float64Array): { loss: number; pT: Float64Array } {
  let loss = NaN;
  const pT = new Float64Array(xT.length);
  tf.tidy(() => {
    let at = 0;
    const xs = cm.x0.map((x) => {
      const v = tf.tensor(Float32Array.from(xT.subarray(at, at + x.size)), x.shape);
      at += x.size;
      return v;
    });
    const { value, grads } = tf.engine().gradients(() => cm.loss(xs), xs, undefined, true);
    loss = value.dataSync()[0];
    at = 0;
    grads.forEach((gr, i) => {
      if (gr) pT.set(gr.dataSync(), at);
      at += cm.x0[i].size;
    });
  });
  return { loss, pT };
}
