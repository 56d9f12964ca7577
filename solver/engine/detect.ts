// Oscillation detector (docs/design.md#detector) and the error norms. Sequences are N rows of P values, flattened row-major.
import { RATIO_CAP } from '../report';

export { RATIO_CAP };

/** Detector settings; `kappa` is the stage-imbalance threshold of per-stage copies. */
export const DETECTOR = { skip: 3, minSteps: 16, alpha: 0.1, beta: 10, kappa: 0.3 } as const;

export interface DetectorResult {
  alpha: number;
  beta: number;
  oscillating: boolean;
  applicable: boolean;
}

function cap(x: number): number {
  return Number.isFinite(x) ? Math.min(x, RATIO_CAP) : RATIO_CAP;
}

/**
 * α = ‖a¹‖/‖d‖, β = 4‖a¹‖/‖a²‖ on interior rows (skip 3 at each end),
 * a¹_n = (−d_{n−1} + 2d_n − d_{n+1})/4, a²_n = (−d_{n−2} + 2d_n − d_{n+2})/4.
 * Flags when α > 0.1 and β > 10; needs N ≥ 16.
 */
export function detectOscillation(d: ArrayLike<number>, N: number, P: number): DetectorResult {
  if (N < DETECTOR.minSteps || P === 0) return { alpha: 0, beta: 0, oscillating: false, applicable: false };
  // Sums split by the parity of k: each chain of dependent adds is half as long (the loop's bound). The
  // differences without their /4, the sums divided by 16 at the end: a power of two, so the same figures.
  let a1 = 0,
    a2 = 0,
    dd = 0,
    b1 = 0,
    b2 = 0,
    ee = 0;
  for (let n = DETECTOR.skip; n < N - DETECTOR.skip; n++) {
    const o = n * P;
    let k = 0;
    for (; k + 1 < P; k += 2) {
      const c = d[o + k],
        c2 = d[o + k + 1];
      const x1 = -d[o - P + k] + 2 * c - d[o + P + k],
        y1 = -d[o - P + k + 1] + 2 * c2 - d[o + P + k + 1];
      const x2 = -d[o - 2 * P + k] + 2 * c - d[o + 2 * P + k],
        y2 = -d[o - 2 * P + k + 1] + 2 * c2 - d[o + 2 * P + k + 1];
      a1 += x1 * x1;
      b1 += y1 * y1;
      a2 += x2 * x2;
      b2 += y2 * y2;
      dd += c * c;
      ee += c2 * c2;
    }
    if (k < P) {
      const c = d[o + k];
      const x1 = -d[o - P + k] + 2 * c - d[o + P + k],
        x2 = -d[o - 2 * P + k] + 2 * c - d[o + 2 * P + k];
      a1 += x1 * x1;
      a2 += x2 * x2;
      dd += c * c;
    }
  }
  return detectorResult((a1 + b1) / 16, (a2 + b2) / 16, dd + ee);
}

/** α, β and the flag from the sums ‖a¹‖², ‖a²‖², ‖d‖² over the interior rows. */
export function detectorResult(a1: number, a2: number, dd: number): DetectorResult {
  const n1 = Math.sqrt(a1),
    n2 = Math.sqrt(a2),
    nd = Math.sqrt(dd);
  const alpha = nd > 0 ? cap(n1 / nd) : 0;
  const beta = n1 === 0 ? 0 : cap((4 * n1) / n2);
  return { alpha, beta, oscillating: alpha > DETECTOR.alpha && beta > DETECTOR.beta, applicable: true };
}

/** ‖a − b‖ / ‖b‖ (finite; 0 when both vanish). Two partial sums of each: one chain of dependent adds is the loop's bound. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num0 = 0,
    num1 = 0,
    den0 = 0,
    den1 = 0;
  const n = b.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const e0 = a[i] - b[i],
      e1 = a[i + 1] - b[i + 1],
      b0 = b[i],
      b1 = b[i + 1];
    num0 += e0 * e0;
    num1 += e1 * e1;
    den0 += b0 * b0;
    den1 += b1 * b1;
  }
  if (i < n) {
    const e = a[i] - b[i];
    num0 += e * e;
    den0 += b[i] * b[i];
  }
  return errorRatio(num0 + num1, den0 + den1);
}

/** relError(a, b) and relError(c, b) in one pass over b. */
export function relErrorPair(a: ArrayLike<number>, c: ArrayLike<number>, b: ArrayLike<number>): [number, number] {
  let na = 0,
    nc = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    const bi = b[i],
      ea = a[i] - bi,
      ec = c[i] - bi;
    na += ea * ea;
    nc += ec * ec;
    den += bi * bi;
  }
  return [errorRatio(na, den), errorRatio(nc, den)];
}

/** √(num/den), capped; 0 when both vanish. */
export function errorRatio(num: number, den: number): number {
  if (!Number.isFinite(num) || !Number.isFinite(den)) return RATIO_CAP;
  if (den === 0) return num === 0 ? 0 : RATIO_CAP;
  return cap(Math.sqrt(num / den));
}

/** N rows of P values as arrays; with `columns`, only those components of each row. */
export function rows(a: Float32Array, N: number, P: number, columns?: number[]): number[][] {
  const out: number[][] = [];
  for (let n = 0; n < N; n++) {
    const o = n * P;
    if (columns) {
      out.push(columns.map((k) => a[o + k]));
      continue;
    }
    const row = new Array<number>(P);
    for (let k = 0; k < P; k++) row[k] = a[o + k];
    out.push(row);
  }
  return out;
}

/** The `limit` columns of N×P rows with the largest norms, ascending; undefined when P ≤ limit (all of them). */
export function largestColumns(a: Float32Array, N: number, P: number, limit: number): number[] | undefined {
  if (P <= limit) return undefined;
  const norms = new Float64Array(P);
  // Four rows per update of a column's sum: the read–modify–write of norms[k], not the squares, bounds the loop.
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const o0 = n * P,
      o1 = o0 + P,
      o2 = o1 + P,
      o3 = o2 + P;
    for (let k = 0; k < P; k++) {
      const x0 = a[o0 + k],
        x1 = a[o1 + k],
        x2 = a[o2 + k],
        x3 = a[o3 + k];
      norms[k] += x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3;
    }
  }
  for (; n < N; n++) for (let k = 0, o = n * P; k < P; k++) norms[k] += a[o + k] * a[o + k];
  for (let k = 0; k < P; k++) if (Number.isNaN(norms[k])) norms[k] = Infinity; // a non-finite column is worth showing
  // The limit-th largest norm; then the columns above it, and those equal to it in index order.
  const cut = kthSmallest(Float64Array.from(norms), P - limit);
  const out: number[] = [];
  for (let k = 0; k < P; k++) if (norms[k] > cut) out.push(k);
  for (let k = 0; k < P && out.length < limit; k++) if (norms[k] === cut) out.push(k);
  return out.sort((x, y) => x - y);
}

/** The k-th smallest value (0-based) of x, which it reorders (quickselect: a full sort of 16 K norms cost 1.4 ms). No NaN. */
function kthSmallest(x: Float64Array, k: number): number {
  let lo = 0,
    hi = x.length - 1;
  while (lo < hi) {
    // Median of three as the pivot, then Hoare's partition.
    const mid = (lo + hi) >>> 1;
    const a = x[lo],
      b = x[mid],
      c = x[hi];
    const pivot = a < b ? (b < c ? b : Math.max(a, c)) : a < c ? a : Math.max(b, c);
    let i = lo,
      j = hi;
    while (i <= j) {
      while (x[i] < pivot) i++;
      while (x[j] > pivot) j--;
      if (i <= j) {
        const t = x[i];
        x[i] = x[j];
        x[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return x[k];
  }
  return x[k];
}
