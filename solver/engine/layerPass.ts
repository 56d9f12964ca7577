// The common case of a layer analysis in one pass over the rows: densities,
// filter121 with linear ends, the detector on the densities and both errors
// against the reference. Separately these are four passes over millions of
// values (docs/performance.md#layer-analysis); the results are theirs
// (test/unit/layerPass.test.ts holds them to densities, filter121,
// detectOscillation and relErrorPair).
import { DETECTOR, detectorResult, errorRatio, type DetectorResult } from './detect';

export interface LayerPass {
  d: Float32Array;
  /** filter121 of d with linear ends (undefined without `filtered`). */
  c?: Float32Array;
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
 * d_n = G_n·scale_n for N rows of P values; with `filtered`, c = filter121(d) (linear ends, one row)
 * and, given g, the errors of d and c against it; the detector (α, β) on d. The filter needs N ≥ 3.
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
  const c = filtered ? new Float32Array(N * P) : undefined;
  const { skip, minSteps } = DETECTOR;
  const detecting = N >= minSteps && P > 0;
  let a1 = 0,
    a2 = 0,
    dd = 0,
    na = 0,
    nc = 0,
    den = 0;
  // average(d) against g: row m = n − 1 at row n, ‖·‖² of even and odd flat indices apart (relError's order).
  const aw = g && times ? averageWeights(times, N) : undefined;
  let v0 = 0,
    v1 = 0,
    u0 = 0,
    u1 = 0;
  // Row n: d_n; c_{n−1} (needs d_{n−2…n}); the detector's row n−2 (needs d_{n−4…n}); the errors of row n−1.
  for (let n = 0; n < N; n++) {
    const o = n * P,
      s = scale[n];
    const m = n - 2,
      detect = detecting && m >= skip && m < N - skip;
    const f = c !== undefined && n >= 2; // c_{n−1} is an interior row (1 ≤ n − 1 ≤ N − 2)
    if (detect && f && g) {
      // The bulk of the rows: everything at once.
      const o1 = o - P,
        o2 = o1 - P,
        o3 = o2 - P,
        o4 = o3 - P;
      for (let k = 0; k < P; k++) {
        const dn = Math.fround(G[o + k] * s);
        d[o + k] = dn;
        const d1 = d[o1 + k],
          d2 = d[o2 + k],
          d3 = d[o3 + k],
          d4 = d[o4 + k];
        const cm = Math.fround((d2 + 2 * d1 + dn) / 4);
        c[o1 + k] = cm;
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
      if (aw) {
        // average(d)'s row n − 1 (rows n − 1 and n of d) against the same rows of g, inline: accumulators a
        // closure shares live in its context, and that cost this pass two thirds of its time on wide networks.
        const w = aw[n - 1],
          u = 1 - w;
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
      }
      continue;
    }
    for (let k = 0; k < P; k++) d[o + k] = Math.fround(G[o + k] * s);
    if (f) {
      const o1 = o - P,
        o2 = o1 - P;
      for (let k = 0; k < P; k++) c[o1 + k] = (d[o2 + k] + 2 * d[o1 + k] + d[o + k]) / 4;
      if (g)
        for (let k = 0; k < P; k++) {
          const r = g[o1 + k],
            ea = d[o1 + k] - r,
            ec = c[o1 + k] - r;
          na += ea * ea;
          nc += ec * ec;
          den += r * r;
        }
    }
    if (aw && g && n >= 1) {
      const w = aw[n - 1],
        u = 1 - w;
      for (let k = 0; k < P; k++) {
        const i = o - P + k,
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
    }
    if (detect) {
      const om = m * P;
      for (let k = 0; k < P; k++) {
        const x = d[om + k];
        const x1 = (-d[om - P + k] + 2 * x - d[om + P + k]) / 4,
          x2 = (-d[om - 2 * P + k] + 2 * x - d[om + 2 * P + k]) / 4;
        a1 += x1 * x1;
        a2 += x2 * x2;
        dd += x * x;
      }
    }
  }
  // filter121's linear ends, and the rows the loop left out of the errors (c's end rows; d's last row).
  const last = (N - 1) * P;
  if (c) {
    for (let k = 0; k < P; k++) {
      c[k] = N >= 4 ? 2 * c[P + k] - c[2 * P + k] : c[P + k];
      c[last + k] = N >= 4 ? 2 * c[last - P + k] - c[last - 2 * P + k] : c[last - P + k];
    }
  }
  if (g && c) {
    for (const n of [0, N - 1]) {
      for (let k = 0, o = n * P; k < P; k++) {
        const r = g[o + k],
          ea = d[o + k] - r,
          ec = c[o + k] - r;
        na += ea * ea;
        nc += ec * ec;
        den += r * r;
      }
    }
  }
  if (aw && g) {
    // average's last row: extrapolated from the two before it; g read on the last interval.
    const w = aw[N - 1],
      u = 1 - w,
      o = last;
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
  }
  const errors = g && c;
  return {
    ...(aw && g ? { averageRelError: errorRatio(v0 + v1, u0 + u1) } : {}),
    d,
    c,
    detector: detecting ? detectorResult(a1, a2, dd) : { alpha: 0, beta: 0, oscillating: false, applicable: false },
    relError: errors ? errorRatio(na, den) : NaN,
    correctedRelError: errors ? errorRatio(nc, den) : NaN,
  };
}
