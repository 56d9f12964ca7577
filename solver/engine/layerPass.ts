// The common case of a layer analysis in one pass over the rows: densities,
// filter121 with linear ends, the detector on the densities and both errors
// against the reference. Separately these are four passes over millions of
// values (docs/performance.md#layer-analysis); the results are theirs
// (test/unit/layerPass.test.ts holds them to densities, filter121,
// detectOscillation and relErrorPair).
import { DETECTOR, detectorResult, errorRatio, type DetectorResult } from './detect';

export interface LayerPass {
  d: Float32Array;
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

/**
 * d_n = G_n·scale_n for N rows of P values; with `filtered` and g, the errors of d and of c = filter121(d)
 * (linear ends, one row) against g; the detector (α, β) on d. The filter needs N ≥ 3. c is not kept: a
 * report carries a few of its columns (filter121Rows), and N·P values more cost a wide network's pass a
 * third of its time in fresh pages alone.
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
  const d = new Float32Array(N * P);
  const { skip, minSteps } = DETECTOR;
  const detecting = N >= minSteps && P > 0;
  // The sums, in one place the row kernels below carry on (each adds its row in the order the single loop did).
  const acc = new Float64Array(SUMS);
  // average(d) against g: row m = n − 1 at row n, ‖·‖² of even and odd flat indices apart (relError's order).
  const aw = g && times ? averageWeights(times, N) : undefined;
  // Row n: d_n; c_{n−1} (needs d_{n−2…n}); the detector's row n−2 (needs d_{n−4…n}); the errors of row n−1.
  for (let n = 0; n < N; n++) {
    const o = n * P,
      s = scale[n];
    const m = n - 2,
      detect = detecting && m >= skip && m < N - skip;
    const f = filtered && n >= 2; // c_{n−1} is an interior row (1 ≤ n − 1 ≤ N − 2)
    if (detect && f && g) {
      // The bulk of the rows: everything at once.
      if (aw) averagedBulkRow(G, d, g, o, P, s, aw[n - 1], acc);
      else bulkRow(G, d, g, o, P, s, acc);
      continue;
    }
    for (let k = 0; k < P; k++) d[o + k] = Math.fround(G[o + k] * s);
    if (f && g) errorsRow(d, g, o - P, P, acc);
    if (aw && g && n >= 1) averageRow(d, g, o, P, aw[n - 1], acc);
    if (detect) detectorRow(d, m * P, P, acc);
  }
  // The rows the loop left out of the errors: c's end rows (linear), d's last row.
  const last = (N - 1) * P;
  if (g && filtered) for (const n of [0, N - 1]) endErrorsRow(d, g, n, N, P, acc);
  if (aw && g) {
    // average's last row: extrapolated from the two before it; g read on the last interval.
    const w = aw[N - 1],
      u = 1 - w,
      o = last;
    let v0 = acc[V0],
      v1 = acc[V1],
      u0 = acc[U0],
      u1 = acc[U1];
    for (let k = 0; k < P; k++) {
      const i = o + k,
        a = Math.fround(
          2 * Math.fround((d[o - P + k] + d[i]) / 2) - Math.fround((d[o - 2 * P + k] + d[o - P + k]) / 2),
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
    d,
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

/** The bulk row n (offset o): d_n, c_{n−1}, the detector's row n − 2 and the errors of row n − 1. */
function bulkRow(
  G: Float32Array,
  d: Float32Array,
  g: Float32Array,
  o: number,
  P: number,
  s: number,
  acc: Float64Array,
): void {
  const o1 = o - P,
    o2 = o1 - P,
    o3 = o2 - P,
    o4 = o3 - P;
  let a1 = acc[A1],
    a2 = acc[A2],
    dd = acc[DD],
    na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const dn = Math.fround(G[o + k] * s);
    d[o + k] = dn;
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
    const r = g[o1 + k],
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
  P: number,
  s: number,
  w: number,
  acc: Float64Array,
): void {
  const o1 = o - P,
    o2 = o1 - P,
    o3 = o2 - P,
    o4 = o3 - P,
    u = 1 - w,
    odd = (o1 & 1) === 1;
  let a1 = acc[A1] * 16,
    a2 = acc[A2] * 16,
    dd = acc[DD],
    na = acc[NA],
    nc = acc[NC],
    den = acc[DEN],
    // Column k's average sums (flat index o1 + k) and column k + 1's.
    va = odd ? acc[V1] : acc[V0],
    vb = odd ? acc[V0] : acc[V1],
    ua = odd ? acc[U1] : acc[U0],
    ub = odd ? acc[U0] : acc[U1];
  let k = 0;
  for (; k + 1 < P; k += 2) {
    const j = o + k,
      j1 = o1 + k,
      j2 = o2 + k;
    // Column k.
    const dn = Math.fround(G[j] * s);
    d[j] = dn;
    const d1 = d[j1],
      d2 = d[j2],
      x1 = 2 * d2 - d[o3 + k] - d1,
      x2 = 2 * d2 - d[o4 + k] - dn,
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
    d[j + 1] = dn_;
    const d1_ = d[j1 + 1],
      d2_ = d[j2 + 1],
      x1_ = 2 * d2_ - d[o3 + k + 1] - d1_,
      x2_ = 2 * d2_ - d[o4 + k + 1] - dn_,
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
    d[o + k] = dn;
    const d1 = d[o1 + k],
      d2 = d[o2 + k],
      x1 = 2 * d2 - d[o3 + k] - d1,
      x2 = 2 * d2 - d[o4 + k] - dn,
      r = g[o1 + k],
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

/** average(d)'s row n − 1 (rows n − 1 and n of d, at offset o for row n) against the same rows of g, weight w. */
function averageRow(d: Float32Array, g: Float32Array, o: number, P: number, w: number, acc: Float64Array): void {
  const u = 1 - w,
    o1 = o - P;
  let v0 = acc[V0],
    v1 = acc[V1],
    u0 = acc[U0],
    u1 = acc[U1];
  for (let k = 0; k < P; k++) {
    const i = o1 + k,
      b = Math.fround(u * g[i] + w * g[o + k]),
      e = Math.fround((d[i] + d[o + k]) / 2) - b;
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

/** c at column k of end row n (0 or N − 1): linear from the two interior rows next to it (the only one when N = 3). */
function endValue(d: Float32Array, n: number, N: number, P: number, k: number): number {
  const step = n === 0 ? P : -P,
    o1 = n * P + step + k,
    c1 = interior(d, o1, P);
  return N >= 4 ? Math.fround(2 * c1 - interior(d, o1 + step, P)) : c1;
}

/** ‖d − g‖², ‖c − g‖² and ‖g‖² of the interior row at offset o. */
function errorsRow(d: Float32Array, g: Float32Array, o: number, P: number, acc: Float64Array): void {
  let na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const r = g[o + k],
      ea = d[o + k] - r,
      ec = interior(d, o + k, P) - r;
    na += ea * ea;
    nc += ec * ec;
    den += r * r;
  }
  acc[NA] = na;
  acc[NC] = nc;
  acc[DEN] = den;
}

/** The same sums of end row n (0 or N − 1). */
function endErrorsRow(d: Float32Array, g: Float32Array, n: number, N: number, P: number, acc: Float64Array): void {
  const o = n * P;
  let na = acc[NA],
    nc = acc[NC],
    den = acc[DEN];
  for (let k = 0; k < P; k++) {
    const r = g[o + k],
      ea = d[o + k] - r,
      ec = endValue(d, n, N, P, k) - r;
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
        N < 3 ? d[n * P + k] : n === 0 || n === N - 1 ? endValue(d, n, N, P, k) : interior(d, n * P + k, P),
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
