// The common case of a layer analysis in one pass over the rows: densities,
// filter121 with linear ends, the detector on the densities and both errors
// against the reference. Separately these are four passes over millions of
// values (docs/performance.md#layer-analysis); the results are theirs
// (test/unit/layerPass.test.ts holds them to densities, filter121,
// detectOscillation and relErrorPair).
import { DETECTOR, detectorResult, errorRatio, type DetectorResult } from './detect';

export interface LayerPass {
  detector: DetectorResult;
  /** ‖d − g‖/‖g‖ and ‖c − g‖/‖g‖ (NaN without g or c). */
  relError: number;
  correctedRelError: number;
  /**
   * With `times`: ‖average(d) − g re-sampled at its times‖/‖…‖, averageError's figure bit for bit
   * (layerAnalysis.ts; the same values summed in the same order); undefined when the rows' times
   * do not let the pass take it (an average time outside its own interval).
   */
  averageRelError?: number;
}

/** Per row m of average(d): the interval i_m and weight w_m at which resample reads g (as averageError finds them). */
function averageWeights(times: readonly number[], N: number): number[] | undefined {
  if (N < 3) return undefined;
  const w: number[] = [];
  let i = 0;
  for (let m = 0; m < N; m++) {
    const t = m < N - 1 ? (times[m] + times[m + 1]) / 2 : times[N - 1] + (times[N - 1] - times[N - 2]) / 2;
    while (i < N - 2 && times[i + 1] <= t) i++;
    if (i !== Math.min(m, N - 2)) return undefined; // the pass reads g at rows m and m + 1 (the last: N − 2, N − 1)
    w.push((t - times[i]) / (times[i + 1] - times[i]));
  }
  return w;
}

/** d_n = G_n·scale_n as the pass computes it (and a Float32Array holds it). */
export function densityArray(G: Float32Array, N: number, P: number, scale: ArrayLike<number>): Float32Array {
  const d = new Float32Array(N * P);
  for (let n = 0; n < N; n++) {
    const o = n * P,
      s = scale[n];
    for (let k = 0; k < P; k++) d[o + k] = Math.fround(G[o + k] * s);
  }
  return d;
}

/** d's values at `columns` only: N rows of columns.length values (a report's few plotted components). */
export function densityColumns(
  G: Float32Array,
  N: number,
  P: number,
  scale: ArrayLike<number>,
  columns: readonly number[],
): Float32Array {
  const C = columns.length,
    d = new Float32Array(N * C);
  for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) d[n * C + j] = Math.fround(G[n * P + columns[j]] * scale[n]);
  return d;
}

/**
 * Rows of d the pass holds: a ring of RING rows kept between calls, whose last four rows move to its start when
 * it fills (the row kernels read rows n − 4 … n side by side). d as an array of N·P values, written to fresh pages
 * and read again only at a report's few columns, cost a wide network's pass a fifth of its time
 * (docs/performance.md); its values are densityArray's.
 */
const RING = 16;
let ringBuffer = new Float32Array(0);

/**
 * d_n = G_n·scale_n for N rows of P values; with `filtered` and g, the errors of d and of c = filter121(d)
 * (linear ends, one row) against g; the detector (α, β) on d. The filter needs N ≥ 3. Neither d nor c is kept:
 * a report carries a few of their columns (densityColumns, filter121Rows).
 */
export function layerPass(
  G: Float32Array,
  N: number,
  P: number,
  scale: ArrayLike<number>,
  filtered: boolean,
  g?: Float32Array,
  times?: readonly number[],
): LayerPass {
  if (filtered && N < 3) throw new RangeError('filter121 in one pass needs at least 3 rows');
  const R = Math.min(N, RING);
  if (ringBuffer.length < R * P) ringBuffer = new Float32Array(R * P);
  const d = ringBuffer;
  // Rows 0 … 3, for c's first row (the ring has moved on when the pass reaches it).
  const head = new Float32Array(Math.min(N, 4) * P);
  const { skip, minSteps } = DETECTOR;
  const detecting = N >= minSteps && P > 0;
  // The sums, in one place the row kernels below carry on (each adds its row in the order the single loop did).
  const acc = new Float64Array(SUMS);
  // average(d) against g: row m = n − 1 at row n, ‖·‖² of even and odd flat indices apart (relError's order).
  const aw = g && times ? averageWeights(times, N) : undefined;
  // Row n: d_n; c_{n−1} (needs d_{n−2…n}); the detector's row n−2 (needs d_{n−4…n}); the errors of row n−1.
  // o: row n in G and g; od: row n in the ring.
  let slot = -1;
  for (let n = 0; n < N; n++) {
    if (++slot === R) {
      d.copyWithin(0, (R - 4) * P, R * P);
      slot = 4;
    }
    const o = n * P,
      od = slot * P,
      s = scale[n];
    const m = n - 2,
      detect = detecting && m >= skip && m < N - skip;
    const f = filtered && n >= 2; // c_{n−1} is an interior row (1 ≤ n − 1 ≤ N − 2)
    if (detect && f && g) {
      // The bulk of the rows: everything at once.
      if (aw) averagedBulkRow(G, d, g, o, od, P, s, aw[n - 1], acc);
      else bulkRow(G, d, g, o, od, P, s, acc);
    } else {
      for (let k = 0; k < P; k++) d[od + k] = Math.fround(G[o + k] * s);
      if (f && g) errorsRow(d, g, od - P, o - P, P, acc);
      if (aw && g && n >= 1) averageRow(d, g, od, o, P, aw[n - 1], acc);
      if (detect) detectorRow(d, od - 2 * P, P, acc);
    }
    if (n < 4) head.set(d.subarray(od, od + P), o);
  }
  // The rows the loop left out of the errors: c's end rows (linear), d's last row (in the ring at `slot`).
  const last = (N - 1) * P,
    odLast = slot * P;
  if (g && filtered) {
    endErrorsRow(head, 0, g, 0, P, N, P, acc);
    endErrorsRow(d, odLast, g, last, -P, N, P, acc);
  }
  if (aw && g) {
    // average's last row: extrapolated from the two before it; g read on the last interval.
    const w = aw[N - 1],
      u = 1 - w,
      o = last,
      od = odLast;
    let v0 = acc[V0],
      v1 = acc[V1],
      u0 = acc[U0],
      u1 = acc[U1];
    for (let k = 0; k < P; k++) {
      const i = o + k,
        a = Math.fround(
          2 * Math.fround((d[od - P + k] + d[od + k]) / 2) - Math.fround((d[od - 2 * P + k] + d[od - P + k]) / 2),
        ),
        b = Math.fround(u * g[o - P + k] + w * g[i]),
        e = a - b;
      if (i & 1) {
        v1 += e * e;
        u1 += b * b;
      } else {
        v0 += e * e;
        u0 += b * b;
      }
    }
    acc[V0] = v0;
    acc[V1] = v1;
    acc[U0] = u0;
    acc[U1] = u1;
  }
  const errors = g && filtered;
  return {
    ...(aw && g ? { averageRelError: errorRatio(acc[V0] + acc[V1], acc[U0] + acc[U1]) } : {}),
    detector: detecting
      ? detectorResult(acc[A1], acc[A2], acc[DD])
      : { alpha: 0, beta: 0, oscillating: false, applicable: false },
    relError: errors ? errorRatio(acc[NA], acc[DEN]) : NaN,
    correctedRelError: errors ? errorRatio(acc[NC], acc[DEN]) : NaN,
  };
}

// The pass's sums in `acc`: the detector's ‖a¹‖², ‖a²‖², ‖d‖²; ‖d − g‖², ‖c − g‖², ‖g‖²; average's
// ‖e‖² and ‖b‖² at even and odd flat indices.
export const A1 = 0,
  A2 = 1,
  DD = 2,
  NA = 3,
  NC = 4,
  DEN = 5,
  V0 = 6,
  V1 = 7,
  U0 = 8,
  U1 = 9,
  SUMS = 10;

// The row kernels are small functions of their own, called once per row: V8 optimises each early and whole,
// where the one long loop ran interpreted, then as on-stack replacement code deoptimised and recompiled
// several times per call. Each reads its sums into locals and writes them back (a closure's shared
// accumulators cost two thirds of the pass's time on wide networks).

/** The bulk row n (offset o in G and g, od in d): d_n, c_{n−1}, the detector's row n − 2 and the errors of row n − 1. */
function bulkRow(
  G: Float32Array,
  d: Float32Array,
  g: Float32Array,
  o: number,
  od: number,
  P: number,
  s: number,
  acc: Float64Array,
): void {
  const o1 = od - P,
    o2 = o1 - P,
    o3 = o2 - P,
    o4 = o3 - P,
    og1 = o - P;
  let a1 = acc[A1],
    a2 = acc[A2],
    dd = acc[DD],
    na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const dn = Math.fround(G[o + k] * s);
    d[od + k] = dn;
    const d1 = d[o1 + k],
      d2 = d[o2 + k],
      d3 = d[o3 + k],
      d4 = d[o4 + k];
    const cm = Math.fround((d2 + 2 * d1 + dn) / 4);
    const x1 = (-d3 + 2 * d2 - d1) / 4,
      x2 = (-d4 + 2 * d2 - dn) / 4;
    a1 += x1 * x1;
    a2 += x2 * x2;
    dd += d2 * d2;
    const r = g[og1 + k],
      ea = d1 - r,
      ec = cm - r;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
  }
  acc[A1] = a1;
  acc[A2] = a2;
  acc[DD] = dd;
  acc[NA] = na;
  acc[NC] = nc;
  acc[DEN] = den;
}

/**
 * bulkRow and averageRow's sums in one loop (one read of the rows they share), weight w. Two columns a turn, so
 * that average's sums at even and odd flat indices need no test per value; the detector's sums in units of 1/16
 * (its differences without their /4, the partial sums scaled by 16 on the way in and out: powers of two, so
 * every sum is the one the plain loop gives, term by term in the same order; test/unit/layerPass.test.ts).
 */
export function averagedBulkRow(
  G: Float32Array,
  d: Float32Array,
  g: Float32Array,
  o: number,
  od: number,
  P: number,
  s: number,
  w: number,
  acc: Float64Array,
): void {
  // Rows n − 1 … n − 4 in d; row n − 1 in g.
  const e1 = od - P,
    e2 = e1 - P,
    e3 = e2 - P,
    e4 = e3 - P,
    og1 = o - P,
    u = 1 - w,
    odd = (og1 & 1) === 1;
  let a1 = acc[A1] * 16,
    a2 = acc[A2] * 16,
    dd = acc[DD],
    na = acc[NA],
    nc = acc[NC],
    den = acc[DEN],
    // Column k's average sums (flat index og1 + k) and column k + 1's.
    va = odd ? acc[V1] : acc[V0],
    vb = odd ? acc[V0] : acc[V1],
    ua = odd ? acc[U1] : acc[U0],
    ub = odd ? acc[U0] : acc[U1];
  let k = 0;
  for (; k + 1 < P; k += 2) {
    const j = o + k,
      j1 = og1 + k,
      q = od + k;
    // Column k.
    const dn = Math.fround(G[j] * s);
    d[q] = dn;
    const d1 = d[e1 + k],
      d2 = d[e2 + k],
      x1 = 2 * d2 - d[e3 + k] - d1,
      x2 = 2 * d2 - d[e4 + k] - dn,
      r = g[j1],
      ea = d1 - r,
      ec = Math.fround((d2 + 2 * d1 + dn) / 4) - r,
      b = Math.fround(u * r + w * g[j]),
      e = Math.fround((d1 + dn) / 2) - b;
    a1 += x1 * x1;
    a2 += x2 * x2;
    dd += d2 * d2;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
    va += e * e;
    ua += b * b;
    // Column k + 1.
    const dn_ = Math.fround(G[j + 1] * s);
    d[q + 1] = dn_;
    const d1_ = d[e1 + k + 1],
      d2_ = d[e2 + k + 1],
      x1_ = 2 * d2_ - d[e3 + k + 1] - d1_,
      x2_ = 2 * d2_ - d[e4 + k + 1] - dn_,
      r_ = g[j1 + 1],
      ea_ = d1_ - r_,
      ec_ = Math.fround((d2_ + 2 * d1_ + dn_) / 4) - r_,
      b_ = Math.fround(u * r_ + w * g[j + 1]),
      e_ = Math.fround((d1_ + dn_) / 2) - b_;
    a1 += x1_ * x1_;
    a2 += x2_ * x2_;
    dd += d2_ * d2_;
    na += ea_ * ea_;
    nc += ec_ * ec_;
    den += r_ * r_;
    vb += e_ * e_;
    ub += b_ * b_;
  }
  if (k < P) {
    // An odd P's last column: column k's parity.
    const dn = Math.fround(G[o + k] * s);
    d[od + k] = dn;
    const d1 = d[e1 + k],
      d2 = d[e2 + k],
      x1 = 2 * d2 - d[e3 + k] - d1,
      x2 = 2 * d2 - d[e4 + k] - dn,
      r = g[og1 + k],
      ea = d1 - r,
      ec = Math.fround((d2 + 2 * d1 + dn) / 4) - r,
      b = Math.fround(u * r + w * g[o + k]),
      e = Math.fround((d1 + dn) / 2) - b;
    a1 += x1 * x1;
    a2 += x2 * x2;
    dd += d2 * d2;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
    va += e * e;
    ua += b * b;
  }
  acc[A1] = a1 / 16;
  acc[A2] = a2 / 16;
  acc[DD] = dd;
  acc[NA] = na;
  acc[NC] = nc;
  acc[DEN] = den;
  acc[odd ? V1 : V0] = va;
  acc[odd ? V0 : V1] = vb;
  acc[odd ? U1 : U0] = ua;
  acc[odd ? U0 : U1] = ub;
}

/** average(d)'s row n − 1 (rows n − 1 and n: at od in d, at o in g for row n) against the same rows of g, weight w. */
function averageRow(
  d: Float32Array,
  g: Float32Array,
  od: number,
  o: number,
  P: number,
  w: number,
  acc: Float64Array,
): void {
  const u = 1 - w,
    o1 = o - P,
    od1 = od - P;
  let v0 = acc[V0],
    v1 = acc[V1],
    u0 = acc[U0],
    u1 = acc[U1];
  for (let k = 0; k < P; k++) {
    const i = o1 + k,
      b = Math.fround(u * g[i] + w * g[o + k]),
      e = Math.fround((d[od1 + k] + d[od + k]) / 2) - b;
    if (i & 1) {
      v1 += e * e;
      u1 += b * b;
    } else {
      v0 += e * e;
      u0 += b * b;
    }
  }
  acc[V0] = v0;
  acc[V1] = v1;
  acc[U0] = u0;
  acc[U1] = u1;
}

/** c at flat index o of an interior row: filter121's (d_{n−1} + 2 d_n + d_{n+1})/4, as a float32 array holds it. */
function interior(d: Float32Array, o: number, P: number): number {
  return Math.fround((d[o - P] + 2 * d[o] + d[o + P]) / 4);
}

/**
 * c at column k of an end row (at od in d; step P for the first row, −P for the last): linear from the two interior
 * rows next to it (the only one when N = 3).
 */
function endValue(d: Float32Array, od: number, step: number, N: number, P: number, k: number): number {
  const o1 = od + step + k,
    c1 = interior(d, o1, P);
  return N >= 4 ? Math.fround(2 * c1 - interior(d, o1 + step, P)) : c1;
}

/** ‖d − g‖², ‖c − g‖² and ‖g‖² of the interior row at od in d, o in g. */
function errorsRow(d: Float32Array, g: Float32Array, od: number, o: number, P: number, acc: Float64Array): void {
  let na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const r = g[o + k],
      ea = d[od + k] - r,
      ec = interior(d, od + k, P) - r;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
  }
  acc[NA] = na;
  acc[NC] = nc;
  acc[DEN] = den;
}

/** The same sums of an end row (at od in d, o in g; step as endValue's). */
function endErrorsRow(
  d: Float32Array,
  od: number,
  g: Float32Array,
  o: number,
  step: number,
  N: number,
  P: number,
  acc: Float64Array,
): void {
  let na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const r = g[o + k],
      ea = d[od + k] - r,
      ec = endValue(d, od, step, N, P, k) - r;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
  }
  acc[NA] = na;
  acc[NC] = nc;
  acc[DEN] = den;
}

/**
 * The rows of c = filter121(d) with linear ends and one end row (N ≥ 3; fewer rows are d's own), at `columns`
 * or all of them: what rows(filter121(d, N, P), N, P, columns) gives, without the N·P array.
 */
export function filter121Rows(d: Float32Array, N: number, P: number, columns?: number[]): number[][] {
  const cols = columns ?? Array.from({ length: P }, (_, k) => k);
  const out: number[][] = [];
  for (let n = 0; n < N; n++)
    out.push(
      cols.map((k) =>
        N < 3
          ? d[n * P + k]
          : n === 0
            ? endValue(d, 0, P, N, P, k)
            : n === N - 1
              ? endValue(d, n * P, -P, N, P, k)
              : interior(d, n * P + k, P),
      ),
    );
  return out;
}

/** The detector's sums of the row at offset om (it reads two rows either side). */
function detectorRow(d: Float32Array, om: number, P: number, acc: Float64Array): void {
  let a1 = acc[A1],
    a2 = acc[A2],
    dd = acc[DD];
  for (let k = 0; k < P; k++) {
    const x = d[om + k];
    const x1 = (-d[om - P + k] + 2 * x - d[om + P + k]) / 4,
      x2 = (-d[om - 2 * P + k] + 2 * x - d[om + 2 * P + k]) / 4;
    a1 += x1 * x1;
    a2 += x2 * x2;
    dd += x * x;
  }
  acc[A1] = a1;
  acc[A2] = a2;
  acc[DD] = dd;
}
