// Corrections of AD gradients (docs/design.md#corrections): post-processing of the per-layer
// densities d_n = G_n / (h w_n) so that they approximate g(t) as h → 0.
// Sequences are rows of P values, flattened row-major. Everything here is
// plain arithmetic on numbers; the one TF.js part (the per-step adjoint that
// adjoint121 needs) lives in engine/stepAdjoint.ts.
import type { GradFix } from '../model';
import type { ParameterCopies } from '../schemes/copies';

export type Correction = Exclude<GradFix, 'none'>;

/**
 * Rows at each end replaced by linear extrapolation from the two nearest
 * interior rows. One row for leapfrog (docs/design.md#corrections); multistep schemes whose
 * start steps or final corrector leave boundary layers need more (milne with
 * its 3 start steps: 5 at the start, 2 at the end, measured).
 */
export interface Edges {
  first: number;
  last: number;
}
export const ONE_ROW: Edges = { first: 1, last: 1 };

/** Replaces `edges.first` leading and `edges.last` trailing rows by linear extrapolation (needs 2 interior rows). */
function extrapolateEdges(c: Float32Array, N: number, P: number, edges: Edges): Float32Array {
  const f = edges.first,
    l = edges.last;
  if (N - f - l < 2) return c;
  for (let k = 0; k < P; k++) {
    const a = c[f * P + k],
      b = c[(f + 1) * P + k];
    for (let n = 0; n < f; n++) c[n * P + k] = a + (n - f) * (b - a);
    const y = c[(N - 1 - l) * P + k],
      x = c[(N - 2 - l) * P + k];
    for (let n = N - l; n < N; n++) c[n * P + k] = y + (n - (N - 1 - l)) * (y - x);
  }
  return c;
}

export type EndTreatment = 'linear' | 'quadratic' | 'zero-pad' | 'pair-average' | 'copy';

/** A corrected sequence and the times its rows sit at (the layer times, except for `average`). */
export interface Corrected {
  values: Float32Array;
  times: number[];
}

/**
 * filter121: c_n = (d_{n−1} + 2d_n + d_{n+1})/4 on 1 ≤ n ≤ N−2 (d_n already
 * carries the weights, i.e. G_N := 0 and 2G_0 in place of G_0 for leapfrog).
 * End layers: linear extrapolation from the two nearest filtered interior
 * layers, c_0 = 2c_1 − c_2 and c_{N−1} = 2c_{N−2} − c_{N−3} (chosen by
 * measurement, see test/unit/engine.test.ts and the engine notes).
 */
export function filter121(
  d: ArrayLike<number>,
  N: number,
  P: number,
  ends: EndTreatment = 'linear',
  edges: Edges = ONE_ROW,
): Float32Array {
  const c = new Float32Array(N * P);
  if (edges.first > 1 || edges.last > 1) {
    const inner = filter121(d, N, P, ends);
    return extrapolateEdges(inner, N, P, edges);
  }
  if (N < 3) {
    for (let i = 0; i < N * P; i++) c[i] = d[i];
    return c;
  }
  for (let n = 1; n < N - 1; n++) {
    const o = n * P;
    for (let k = 0; k < P; k++) c[o + k] = (d[o - P + k] + 2 * d[o + k] + d[o + P + k]) / 4;
  }
  if (ends === 'linear') {
    // endValue's 'linear' row by row (the default; a closure pair per column cost more than the filter).
    const last = (N - 1) * P;
    for (let k = 0; k < P; k++) {
      c[k] = N >= 4 ? 2 * c[P + k] - c[2 * P + k] : c[P + k];
      c[last + k] = N >= 4 ? 2 * c[last - P + k] - c[last - 2 * P + k] : c[last - P + k];
    }
    return c;
  }
  for (let k = 0; k < P; k++) {
    const first = endValue(
      ends,
      'first',
      (i) => c[i * P + k],
      (i) => d[i * P + k],
      N,
    );
    const last = endValue(
      ends,
      'last',
      (i) => c[i * P + k],
      (i) => d[i * P + k],
      N,
    );
    c[k] = first;
    c[(N - 1) * P + k] = last;
  }
  return c;
}

function endValue(
  kind: EndTreatment,
  side: 'first' | 'last',
  c: (i: number) => number,
  d: (i: number) => number,
  N: number,
): number {
  // Index helpers mirrored for the last layer.
  const C = side === 'first' ? c : (i: number) => c(N - 1 - i);
  const D = side === 'first' ? d : (i: number) => d(N - 1 - i);
  switch (kind) {
    case 'linear':
      return N >= 4 ? 2 * C(1) - C(2) : C(1);
    case 'quadratic':
      return N >= 5 ? 3 * C(1) - 3 * C(2) + C(3) : N >= 4 ? 2 * C(1) - C(2) : C(1);
    case 'zero-pad': // virtual d_{−1} = d_N = 0
      return (2 * D(0) + D(1)) / 4;
    case 'pair-average':
      return (D(0) + D(1)) / 2;
    case 'copy':
      return C(1);
  }
}

/**
 * average: (G_n + G_{n+1})/(2h) = (d_n + d_{n+1})/2, located at t_{n+½}
 * (first order: the alternating parts cancel up to O(h)). The last row would
 * need G_N := 0, which is an end effect, not a density: it is extrapolated
 * linearly from the two rows before it instead.
 */
export function average(
  d: ArrayLike<number>,
  N: number,
  P: number,
  times: number[],
  edges: Edges = { first: 0, last: 1 },
): Corrected {
  const values = new Float32Array(N * P);
  const at = new Array<number>(N);
  for (let n = 0; n < N - 1; n++) {
    at[n] = (times[n] + times[n + 1]) / 2;
    for (let k = 0; k < P; k++) values[n * P + k] = (d[n * P + k] + d[(n + 1) * P + k]) / 2;
  }
  if (N >= 1) at[N - 1] = N >= 2 ? times[N - 1] + (times[N - 1] - times[N - 2]) / 2 : times[0];
  for (let k = 0; k < P; k++) {
    const last = (N - 1) * P + k;
    values[last] = N >= 3 ? 2 * values[(N - 2) * P + k] - values[(N - 3) * P + k] : N === 2 ? values[k] : d[k];
  }
  if (edges.first > 0 || edges.last > 1) extrapolateEdges(values, N, P, edges);
  return { values, times: at };
}

/**
 * adjoint121: ∂θf_nᵀ (m_{n−1} + 2m_n + m_{n+1})/4 at t_n, where m_n is the
 * normalised per-step adjoint (ν_n / (h w_n), ν_n = ∂L/∂f_n, so that
 * d_n = ∂θf_nᵀ m_n; for leapfrog m_n = 2μ_n, μ_n = λ_{n+1}). The filter acts on
 * the adjoint and the Jacobian stays the layer's own. End layers: linear
 * extrapolation, as for filter121.
 * m: N rows of S adjoint values; `vjp(n, cotangent)` returns ∂θf_nᵀ·cotangent
 * for every corrected parameter (sizes[j] values each), called for 1 ≤ n ≤ N−2.
 */
export function adjoint121(
  m: ArrayLike<number>,
  N: number,
  S: number,
  sizes: number[],
  vjp: (n: number, cotangent: Float32Array) => ArrayLike<number>[],
  edges: Edges = ONE_ROW,
): Float32Array[] {
  const out = sizes.map((P) => new Float32Array(N * P));
  if (N < 4) throw new Error('adjoint121 needs at least 4 steps');
  const cot = new Float32Array(S);
  for (let n = 1; n < N - 1; n++) {
    for (let k = 0; k < S; k++) cot[k] = (m[(n - 1) * S + k] + 2 * m[n * S + k] + m[(n + 1) * S + k]) / 4;
    vjp(n, cot).forEach((v, j) => out[j].set(v, n * sizes[j]));
  }
  sizes.forEach((P, j) => extrapolateEdges(out[j], N, P, edges));
  return out;
}

/** Where the copies of a per-stage parameter sit: copy n·s + i is stage i of step n. */
export type StageLayout = Pick<ParameterCopies, 'steps' | 'stages' | 'h' | 't0' | 'c' | 'b'>;

/** Linear interpolation (extrapolation beyond the ends) of rows given at ascending times xs, at time t. */
function interpolateRows(
  values: ArrayLike<number>,
  xs: number[],
  P: number,
  t: number,
  out: Float32Array,
  offset: number,
): void {
  const M = xs.length;
  if (M === 1) {
    for (let k = 0; k < P; k++) out[offset + k] = values[k];
    return;
  }
  let i = Math.floor((t - xs[0]) / (xs[1] - xs[0])); // uniform spacing
  i = Math.max(0, Math.min(M - 2, i));
  const w = (t - xs[i]) / (xs[i + 1] - xs[i]);
  for (let k = 0; k < P; k++) out[offset + k] = (1 - w) * values[i * P + k] + w * values[(i + 1) * P + k];
}

/**
 * stagesum: D_n = Σ_i G_{n,i} / h placed at t_n + h Σ b_i c_i, then linearly
 * interpolated in t to each stage time t_n + c_i h (linear extrapolation at
 * the ends). G is raw (not divided by weights), N·s rows of P values.
 * Second order for midpoint, Heun and Ralston (docs/design.md#corrections).
 */
export function stagesum(G: ArrayLike<number>, layout: StageLayout, P: number): Float32Array {
  const { steps: N, stages: s, h, t0, c, b } = layout;
  const centre = b.reduce((acc, bi, i) => acc + bi * c[i], 0);
  const D = new Float32Array(N * P);
  const xs = new Array<number>(N);
  for (let n = 0; n < N; n++) {
    xs[n] = t0 + h * (n + centre);
    for (let i = 0; i < s; i++) for (let k = 0; k < P; k++) D[n * P + k] += G[(n * s + i) * P + k] / h;
  }
  const out = new Float32Array(N * s * P);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < s; i++) interpolateRows(D, xs, P, t0 + h * (n + c[i]), out, (n * s + i) * P);
  return out;
}

/**
 * κ = ‖d_{n,i} − stagesum interpolant‖ / ‖interpolant‖ over interior steps
 * (skip `skip` steps at each end), d_{n,i} the per-stage densities.
 */
export function stageImbalance(
  d: ArrayLike<number>,
  interpolant: ArrayLike<number>,
  layout: Pick<StageLayout, 'steps' | 'stages'>,
  P: number,
  skip = 3,
): number {
  const { steps: N, stages: s } = layout;
  let num = 0,
    den = 0;
  for (let n = skip; n < N - skip; n++) {
    for (let j = n * s * P; j < (n + 1) * s * P; j++) {
      num += (d[j] - interpolant[j]) ** 2;
      den += interpolant[j] ** 2;
    }
  }
  if (!Number.isFinite(num) || !Number.isFinite(den)) return 1e6;
  if (den === 0) return num === 0 ? 0 : 1e6;
  return Math.min(Math.sqrt(num / den), 1e6);
}

/**
 * The correction a scheme calls for with untied parameters, or undefined when
 * the raw AD densities already converge: filter121 for the weakly stable
 * multistep schemes (leapfrog, milne, and any user LMM with a second root on
 * the unit circle), stagesum for per-stage explicit RK with 2 stages.
 */
export function recommendedCorrection(info: {
  kind: 'rk' | 'lmm' | 'leapfrog' | string;
  weaklyStable: boolean;
  stages: number;
  perStage: boolean;
  hasPerStep: boolean;
}): Correction | undefined {
  if (!info.hasPerStep) return undefined;
  if (info.weaklyStable) return 'filter121';
  if (info.perStage && info.stages === 2) return 'stagesum';
  return undefined;
}
