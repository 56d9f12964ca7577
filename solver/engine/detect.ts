// Oscillation detector (DESIGN 1.4), the filter121 correction (DESIGN 1.3)
// and the error norms. Sequences are N rows of P values, flattened row-major.

export const DETECTOR = { skip: 3, minSteps: 16, alpha: 0.1, beta: 10 } as const;
/** Caps ratios so they stay finite (JSON has no Infinity). */
export const RATIO_CAP = 1e6;

export interface DetectorResult { alpha: number; beta: number; oscillating: boolean; applicable: boolean }

function cap(x: number): number {
  return Number.isFinite(x) ? Math.min(x, RATIO_CAP) : RATIO_CAP;
}

/**
 * α = ‖a¹‖/‖d‖, β = 4‖a¹‖/‖a²‖ on interior rows (skip 3 at each end),
 * a¹_n = (−d_{n−1} + 2d_n − d_{n+1})/4, a²_n = (−d_{n−2} + 2d_n − d_{n+2})/4.
 * Flags when α > 0.1 and β > 10; needs N ≥ 16.
 */
export function detectOscillation(d: Float32Array | number[], N: number, P: number): DetectorResult {
  if (N < DETECTOR.minSteps || P === 0) return { alpha: 0, beta: 0, oscillating: false, applicable: false };
  let a1 = 0, a2 = 0, dd = 0;
  for (let n = DETECTOR.skip; n < N - DETECTOR.skip; n++) {
    for (let k = 0; k < P; k++) {
      const c = d[n * P + k];
      const l1 = d[(n - 1) * P + k], r1 = d[(n + 1) * P + k];
      const l2 = d[(n - 2) * P + k], r2 = d[(n + 2) * P + k];
      const x1 = (-l1 + 2 * c - r1) / 4;
      const x2 = (-l2 + 2 * c - r2) / 4;
      a1 += x1 * x1;
      a2 += x2 * x2;
      dd += c * c;
    }
  }
  const n1 = Math.sqrt(a1), n2 = Math.sqrt(a2), nd = Math.sqrt(dd);
  const alpha = nd > 0 ? cap(n1 / nd) : 0;
  const beta = n1 === 0 ? 0 : cap((4 * n1) / n2);
  return { alpha, beta, oscillating: alpha > DETECTOR.alpha && beta > DETECTOR.beta, applicable: true };
}

/**
 * filter121: c_n = (d_{n−1} + 2d_n + d_{n+1})/4 on 1 ≤ n ≤ N−2 (d_n already
 * carries the weights, i.e. G_N := 0 and 2G_0 in place of G_0 for leapfrog).
 * End layers: linear extrapolation from the two nearest filtered interior
 * layers, c_0 = 2c_1 − c_2 and c_{N−1} = 2c_{N−2} − c_{N−3} (chosen by
 * measurement, see test/unit/engine.test.ts and the engine notes).
 */
export function filter121(d: Float32Array | number[], N: number, P: number, ends: EndTreatment = 'linear'): Float32Array {
  const c = new Float32Array(N * P);
  if (N < 3) {
    for (let i = 0; i < N * P; i++) c[i] = d[i];
    return c;
  }
  for (let n = 1; n < N - 1; n++)
    for (let k = 0; k < P; k++) c[n * P + k] = (d[(n - 1) * P + k] + 2 * d[n * P + k] + d[(n + 1) * P + k]) / 4;
  for (let k = 0; k < P; k++) {
    const first = endValue(ends, 'first', (i) => c[i * P + k], (i) => d[i * P + k], N);
    const last = endValue(ends, 'last', (i) => c[i * P + k], (i) => d[i * P + k], N);
    c[k] = first;
    c[(N - 1) * P + k] = last;
  }
  return c;
}

export type EndTreatment = 'linear' | 'quadratic' | 'zero-pad' | 'pair-average' | 'copy';

function endValue(kind: EndTreatment, side: 'first' | 'last', c: (i: number) => number, d: (i: number) => number, N: number): number {
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

/** ‖a − b‖ / ‖b‖ (finite; 0 when both vanish). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] * b[i];
  }
  if (!Number.isFinite(num) || !Number.isFinite(den)) return RATIO_CAP;
  if (den === 0) return num === 0 ? 0 : RATIO_CAP;
  return cap(Math.sqrt(num / den));
}

export function rows(a: Float32Array, N: number, P: number): number[][] {
  const out: number[][] = [];
  for (let n = 0; n < N; n++) {
    const row = new Array<number>(P);
    for (let k = 0, o = n * P; k < P; k++) row[k] = a[o + k];
    out.push(row);
  }
  return out;
}
