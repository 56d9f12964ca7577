// Analysis of one per-step parameter tensor at one step count (docs/design.md#corrections, #detector):
// normalised densities d = G/(h w), the model's correction, the detector
// (α, β per stage sequence), the stage imbalance κ and the errors against the
// continuous reference. Pure arithmetic: the check (solver/check/layers.ts) supplies G, g and, for
// adjoint121, the already corrected values.
import type { GradFix } from '../model';
import type { Scheme } from '../schemes/schemes';
import { parameterCopies, type ParameterCopies } from '../schemes/copies';
import {
  average,
  filter121,
  stagesum,
  stageImbalance,
  recommendedCorrection,
  ONE_ROW,
  type Correction,
  type Edges,
} from './corrections';
import { startSteps, type Scheme as AnyScheme } from '../schemes/schemes';
import { detectOscillation, errorRatio, relError, relErrorPair, rows, DETECTOR } from './detect';
import { densityArray, densityColumns, filter121Rows, layerPass } from './layerPass';

/** Where the copies of a per-step parameter sit and how they are weighted: the schemes' bookkeeping (schemes/copies.ts). */
export type CopyLayout = ParameterCopies;

export function copyLayout(scheme: Scheme, N: number, h: number, t0: number): CopyLayout {
  return parameterCopies(scheme, N, h, t0);
}

/**
 * End rows the across-layer corrections extrapolate: one at each end, except
 * after several multistep start steps or a predictor–corrector end (milne),
 * whose boundary layers are wider (docs/design.md#corrections).
 */
export function correctionEdges(scheme: AnyScheme): Edges {
  if (scheme.kind !== 'lmm') return ONE_ROW;
  const s0 = startSteps(scheme);
  return { first: s0 > 1 ? s0 + 2 : 1, last: scheme.predictor ? 2 : 1 };
}

export function recommendedFor(layout: CopyLayout, hasPerStep: boolean): Correction | undefined {
  return recommendedCorrection({
    kind: layout.multistep ? 'lmm' : 'rk',
    weaklyStable: layout.weaklyStable,
    stages: layout.stages,
    perStage: layout.perStage,
    hasPerStep,
  });
}

/** The correction actually applied for a gradfix (or shown for gradfix=none), and a note when it had to differ. */
export function effectiveCorrection(
  gradfix: GradFix,
  layout: CopyLayout,
  hasPerStep: boolean,
): { correction: Correction; note?: string } {
  const shown: Correction =
    gradfix === 'none' ? (recommendedFor(layout, hasPerStep) ?? (layout.perStage ? 'stagesum' : 'filter121')) : gradfix;
  if (layout.perStage && shown !== 'stagesum')
    return {
      correction: 'stagesum',
      note: `gradfix=${shown} filters across steps; per-stage parameters are corrected with stagesum instead.`,
    };
  if (!layout.perStage && shown === 'stagesum' && layout.multistep)
    return {
      correction: 'filter121',
      note: 'gradfix=stagesum applies to per-stage Runge–Kutta parameters; this multistep scheme is corrected with filter121 instead.',
    };
  if (shown === 'adjoint121' && layout.steps < 4)
    return { correction: 'filter121', note: 'adjoint121 needs at least 4 steps; filter121 is used instead.' };
  return { correction: shown };
}

export interface LayerResult {
  /** The densities d = G/(h w), all N·P of them (the one-pass analysis computes them again when asked). */
  readonly d: Float32Array;
  /** d's rows at `columns` (all without). */
  rawRows: (columns?: number[]) => number[][];
  /** The corrected rows at `columns` (all without): rows of the correction, kept whole only where it is not filter121's one pass. */
  correctedRows: (columns?: number[]) => number[][];
  correctedTimes?: number[];
  alpha: number;
  beta: number;
  kappa?: number;
  oscillating: boolean;
  stageImbalanced: boolean;
  /** The average correction's error against g, when the one-pass analysis took it (postProcessingErrors' figure). */
  averageRelError?: number;
  relError: number;
  correctedRelError: number;
  zeroWeightCopies: number;
}

/** Rows of stage i (every s-th copy). */
function stageRows(a: ArrayLike<number>, layout: CopyLayout, i: number, P: number): Float32Array {
  const N = layout.steps,
    s = layout.stages;
  const out = new Float32Array(N * P);
  for (let n = 0; n < N; n++) for (let k = 0; k < P; k++) out[n * P + k] = a[(n * s + i) * P + k];
  return out;
}

/** α, β of the worst stage sequence (by α among flagged ones, else overall). */
function detect(a: Float32Array, layout: CopyLayout, P: number): { alpha: number; beta: number; oscillating: boolean } {
  let best = { alpha: 0, beta: 0, oscillating: false };
  for (let i = 0; i < layout.stages; i++) {
    const r = detectOscillation(layout.stages === 1 ? a : stageRows(a, layout, i, P), layout.steps, P);
    if ((r.oscillating && !best.oscillating) || (r.oscillating === best.oscillating && r.alpha > best.alpha)) best = r;
  }
  return best;
}

/** Rows given at ascending times `from`, re-sampled at times `to` by linear interpolation (linear extrapolation at the ends). */
export function resample(values: ArrayLike<number>, P: number, from: number[], to: number[]): Float32Array {
  const N = from.length;
  const out = new Float32Array(to.length * P);
  to.forEach((t, m) => {
    let i = 0;
    while (i < N - 2 && from[i + 1] <= t) i++;
    const w = N > 1 ? (t - from[i]) / (from[i + 1] - from[i]) : 0;
    for (let k = 0; k < P; k++) {
      const a = values[i * P + k],
        b = N > 1 ? values[(i + 1) * P + k] : a;
      out[m * P + k] = (1 - w) * a + w * b;
    }
  });
  return out;
}

/** The factor 1/(h w) of each copy's density and the number of zero-weight copies (scaled by 1/h: they have no density to speak of). */
function densityScales(layout: CopyLayout): { scale: number[]; zeroWeightCopies: number } {
  const weights = layout.weights.slice(0, layout.count);
  return {
    scale: weights.map((w) => 1 / (layout.h * (w === 0 ? 1 : w))),
    zeroWeightCopies: weights.filter((w) => w === 0).length,
  };
}

/** Normalised densities d = G/(h w) and the number of zero-weight copies. */
function densities(G: Float32Array, P: number, layout: CopyLayout): { d: Float32Array; zeroWeightCopies: number } {
  const { scale, zeroWeightCopies } = densityScales(layout);
  const d = new Float32Array(layout.count * P);
  for (let j = 0; j < layout.count; j++) {
    const s = scale[j];
    for (let k = 0; k < P; k++) d[j * P + k] = G[j * P + k] * s;
  }
  return { d, zeroWeightCopies };
}

/**
 * Whether the one-pass analysis (engine/layerPass.ts) applies: one sequence of copies (no stages), the
 * detector on d (gradfix none) and, when a correction is asked for, filter121 with one end row.
 */
function onePass(
  layout: CopyLayout,
  gradfix: GradFix,
  correction?: Correction,
  adjointCorrected?: Float32Array,
  edges: Edges = ONE_ROW,
): boolean {
  const filter =
    correction === undefined || correction === 'filter121' || (correction === 'adjoint121' && !adjointCorrected);
  return (
    gradfix === 'none' &&
    layout.stages === 1 &&
    !layout.perStage &&
    layout.count === layout.steps &&
    layout.count >= 3 &&
    filter &&
    edges.first === 1 &&
    edges.last === 1
  );
}

/** The correction of d (and the stagesum interpolant of per-stage copies, which κ also needs). */
function corrected(
  d: Float32Array,
  G: Float32Array,
  P: number,
  layout: CopyLayout,
  correction: Correction,
  adjointCorrected: Float32Array | undefined,
  edges: Edges,
): { values: Float32Array; times?: number[]; interp?: Float32Array } {
  const { count } = layout;
  const interp = layout.perStage ? stagesum(G, layout, P) : undefined;
  switch (correction) {
    case 'filter121':
      return { values: filter121(d, count, P, 'linear', edges), interp };
    case 'average': {
      const a = average(d, count, P, layout.times, { first: edges.first - 1, last: edges.last });
      return { values: a.values, times: a.times, interp };
    }
    case 'adjoint121':
      return { values: adjointCorrected ?? filter121(d, count, P, 'linear', edges), interp };
    case 'stagesum':
      return { values: interp ?? d, interp };
  }
}

/** The detector alone (α, β, flag) on what the user's gradients are: d, or its correction when gradfix applies one. */
export function detectLayers(
  G: Float32Array,
  P: number,
  layout: CopyLayout,
  correction: Correction,
  gradfix: GradFix,
  edges: Edges = ONE_ROW,
): { alpha: number; beta: number; oscillating: boolean } {
  if (onePass(layout, gradfix)) return layerPass(G, layout.count, P, densityScales(layout).scale, false).detector;
  const { d } = densities(G, P, layout);
  if (gradfix === 'none') return detect(d, layout, P);
  const c = corrected(d, G, P, layout, correction, undefined, edges);
  return detect(c.values, c.times ? { ...layout, stages: 1 } : layout, P);
}

/**
 * G: raw AD gradient (count rows of P); g: reference at the copy times (or
 * undefined when none was computed); adjointCorrected: adjoint121's values
 * when that is the correction.
 */
export function analyseLayers(
  G: Float32Array,
  P: number,
  layout: CopyLayout,
  correction: Correction,
  gradfix: GradFix,
  g: Float32Array | undefined,
  adjointCorrected?: Float32Array,
  edges: Edges = ONE_ROW,
): LayerResult {
  if (onePass(layout, gradfix, correction, adjointCorrected, edges)) {
    const { scale, zeroWeightCopies } = densityScales(layout);
    const N = layout.count;
    const r = layerPass(G, N, P, scale, true, g, layout.times);
    const { alpha, beta, oscillating } = r.detector;
    // d whole only when asked for (without a reference, or a correction the pass did not price); the report's rows
    // from its few columns.
    let whole: Float32Array | undefined;
    const density = () => (whole ??= densityArray(G, N, P, scale));
    return {
      get d() {
        return density();
      },
      rawRows: (columns) =>
        columns ? rows(densityColumns(G, N, P, scale, columns), N, columns.length) : rows(density(), N, P),
      correctedRows: (columns) =>
        columns
          ? filter121Rows(densityColumns(G, N, P, scale, columns), N, columns.length)
          : filter121Rows(density(), N, P),
      alpha,
      beta,
      oscillating,
      stageImbalanced: false,
      relError: r.relError,
      correctedRelError: r.correctedRelError,
      ...(r.averageRelError !== undefined ? { averageRelError: r.averageRelError } : {}),
      zeroWeightCopies,
    };
  }
  const { d, zeroWeightCopies } = densities(G, P, layout);
  const c = corrected(d, G, P, layout, correction, adjointCorrected, edges);
  const applied = gradfix !== 'none';
  const det = detect(applied ? c.values : d, c.times ? { ...layout, stages: 1 } : layout, P);
  const kappa = c.interp ? stageImbalance(d, c.interp, layout, P, DETECTOR.skip) : undefined;
  const stageImbalanced =
    kappa !== undefined &&
    layout.steps >= DETECTOR.minSteps &&
    kappa > DETECTOR.kappa &&
    !(applied && correction === 'stagesum');
  let relErr = NaN,
    corrErr = NaN;
  if (g) {
    if (c.times) {
      relErr = relError(d, g);
      corrErr = relError(c.values, resample(g, P, layout.times, c.times));
    } else [relErr, corrErr] = relErrorPair(d, c.values, g);
  }
  return {
    d,
    rawRows: (columns) => rows(d, layout.count, P, columns),
    correctedRows: (columns) => rows(c.values, layout.count, P, columns),
    correctedTimes: c.times,
    alpha: det.alpha,
    beta: det.beta,
    kappa,
    oscillating: det.oscillating,
    stageImbalanced,
    relError: relErr,
    correctedRelError: corrErr,
    zeroWeightCopies,
  };
}

/**
 * The error against the reference of each correction a check can price from the AD gradient alone, without
 * another solve or a VJP per step: filter121 and average across steps, or stagesum for per-stage copies (the
 * only one that applies to them). Remedies quote these figures for the corrections the model does not use yet.
 */
export function postProcessingErrors(
  G: Float32Array,
  P: number,
  layout: CopyLayout,
  g: Float32Array,
  edges: Edges = ONE_ROW,
  densitiesOfG?: Float32Array | (() => Float32Array),
  known: Partial<Record<Correction, number>> = {},
): Partial<Record<Correction, number>> {
  // d only for a correction the analysis did not price already.
  let dOnce: Float32Array | undefined;
  const density = () =>
    (dOnce ??= typeof densitiesOfG === 'function' ? densitiesOfG() : (densitiesOfG ?? densities(G, P, layout).d));
  const priced: Correction[] = layout.perStage ? ['stagesum'] : ['filter121', 'average'];
  const errors: Partial<Record<Correction, number>> = {};
  for (const correction of priced) {
    // The analysis applied this correction: its error is that figure (the same sums, in another order).
    const applied = known[correction];
    if (applied !== undefined) {
      errors[correction] = applied;
      continue;
    }
    // The common cases in one pass each, without the corrected rows (two arrays of N·P values a parameter).
    if (correction === 'filter121' && edges.first === 1 && edges.last === 1 && layout.count >= 4) {
      errors[correction] = filter121Error(density(), layout.count, P, g);
      continue;
    }
    if (correction === 'average' && edges.first === 1 && edges.last === 1 && layout.count >= 3) {
      errors[correction] = averageError(density(), layout.count, P, layout.times, g);
      continue;
    }
    const c = corrected(density(), G, P, layout, correction, undefined, edges);
    errors[correction] = c.times ? relError(c.values, resample(g, P, layout.times, c.times)) : relError(c.values, g);
  }
  return errors;
}

/** Running sums of relError: ‖a − b‖² and ‖b‖² over even and odd indices apart, in index order (relError's figure exactly). */
class ErrorSums {
  n0 = 0;
  n1 = 0;
  d0 = 0;
  d1 = 0;
  /** Row values v[from …] against g from flat index o on, P values. */
  row(v: Float32Array, from: number, g: Float32Array, o: number, P: number): void {
    for (let k = 0; k < P; k++) this.add(o + k, v[from + k], g[o + k]);
  }
  add(i: number, a: number, b: number): void {
    const e = a - b;
    if (i & 1) {
      this.n1 += e * e;
      this.d1 += b * b;
    } else {
      this.n0 += e * e;
      this.d0 += b * b;
    }
  }
  ratio(): number {
    return errorRatio(this.n0 + this.n1, this.d0 + this.d1);
  }
}

/**
 * relError(filter121(d, N, P, 'linear'), g) without the filtered rows: the same float32 values summed in
 * relError's order, so the same figure. N ≥ 4.
 */
export function filter121Error(d: Float32Array, N: number, P: number, g: Float32Array): number {
  const f = (o: number) => Math.fround((d[o - P] + 2 * d[o] + d[o + P]) / 4);
  const ends = new Float32Array(2 * P);
  for (let k = 0; k < P; k++) {
    ends[k] = 2 * f(P + k) - f(2 * P + k);
    ends[P + k] = 2 * f((N - 2) * P + k) - f((N - 3) * P + k);
  }
  const s = new ErrorSums();
  s.row(ends, 0, g, 0, P);
  let { n0, n1, d0, d1 } = s;
  for (let i = P, end = (N - 1) * P; i < end; i++) {
    const b = g[i],
      e = Math.fround((d[i - P] + 2 * d[i] + d[i + P]) / 4) - b;
    if (i & 1) {
      n1 += e * e;
      d1 += b * b;
    } else {
      n0 += e * e;
      d0 += b * b;
    }
  }
  Object.assign(s, { n0, n1, d0, d1 });
  s.row(ends, P, g, (N - 1) * P, P);
  return s.ratio();
}

/**
 * relError(average(d, N, P, times).values, resample(g, P, times, average's times)) without either array:
 * the same float32 values (each row's interpolation weight as resample finds it) summed in relError's
 * order, so the same figure. N ≥ 3, edges of one row (average's own last row).
 */
export function averageError(d: Float32Array, N: number, P: number, times: number[], g: Float32Array): number {
  const at = new Array<number>(N);
  for (let n = 0; n < N - 1; n++) at[n] = (times[n] + times[n + 1]) / 2;
  at[N - 1] = times[N - 1] + (times[N - 1] - times[N - 2]) / 2;
  let i = 0;
  let n0 = 0,
    n1 = 0,
    d0 = 0,
    d1 = 0;
  for (let m = 0; m < N; m++) {
    const t = at[m];
    while (i < N - 2 && times[i + 1] <= t) i++;
    const w = (t - times[i]) / (times[i + 1] - times[i]);
    const lo = i * P,
      hi = lo + P,
      o = m * P;
    for (let k = 0; k < P; k++) {
      const a =
        m < N - 1
          ? Math.fround((d[o + k] + d[o + P + k]) / 2)
          : Math.fround(
              2 * Math.fround((d[o - P + k] + d[o + k]) / 2) - Math.fround((d[o - 2 * P + k] + d[o - P + k]) / 2),
            );
      const b = Math.fround((1 - w) * g[lo + k] + w * g[hi + k]),
        e = a - b,
        j = o + k;
      if (j & 1) {
        n1 += e * e;
        d1 += b * b;
      } else {
        n0 += e * e;
        d0 += b * b;
      }
    }
  }
  return errorRatio(n0 + n1, d0 + d1);
}

/** Observed order log_ratio(e_coarse / e_fine); NaN when either error vanishes. */
/**
 * Relative error at or below which float32 rounding, not the step, sets an AD density's error against the
 * reference (about 50 float32 ulps): rk4 on examples/spiral-rk4.ode measures 1.6e-6 to 2.6e-6 at 64, 128 and 256
 * steps, where its truncation error is below 1e-7. Orders between such errors are noise (−0.7 to 0.8 there).
 */
export const FLOAT32_ERROR_FLOOR = 3e-6;

/** Observed orders of a study whose level k has 2^k·N steps: between successive levels, and from the first to the last level above `floor` (NaN where a level is at or below it). */
export function studyOrders(errors: number[], floor: number): { orders: number[]; order: number } {
  const resolved = (e: number) => e > floor;
  const orders = errors
    .slice(1)
    .map((e, k) => (resolved(errors[k]) && resolved(e) ? observedOrder(errors[k], e, 2) : NaN));
  let last = errors.length - 1;
  while (last > 0 && !resolved(errors[last])) last--;
  const order = last > 0 && resolved(errors[0]) ? observedOrder(errors[0], errors[last], 2 ** last) : NaN;
  return { orders, order };
}

export function observedOrder(coarse: number, fine: number, ratio: number): number {
  if (!(coarse > 0) || !(fine > 0)) return NaN;
  return Math.log(coarse / fine) / Math.log(ratio);
}
