// Per-step copies re-sampled to another step count, for the confirmation and the refinement study: the same
// θ(t) at the other level's copy times.
import { resample, type CopyLayout } from '../engine/layerAnalysis';

/**
 * Per-step copies re-sampled at other (uniformly spaced) times by cubic Hermite interpolation with
 * centred slopes (Catmull–Rom: θ(t) is C¹, so a refinement study sees no kinks that the coarse
 * level's knots would otherwise leave in g(t)); linear extrapolation beyond the first/last copy.
 */
function resampleSmooth(values: Float32Array, P: number, from: number[], to: number[]): Float32Array {
  const N = from.length;
  if (N < 3) return resample(values, P, from, to);
  const out = new Float32Array(to.length * P);
  const dt = from[1] - from[0];
  to.forEach((t, m) => {
    const x = (t - from[0]) / dt;
    const o = m * P;
    if (x <= 0 || x >= N - 1) {
      const i = x <= 0 ? 0 : N - 2;
      const w = x - i;
      for (let k = 0; k < P; k++) out[o + k] = (1 - w) * values[i * P + k] + w * values[(i + 1) * P + k];
      return;
    }
    const i = Math.min(N - 2, Math.floor(x));
    const u = x - i,
      u2 = u * u,
      u3 = u2 * u;
    const h00 = 2 * u3 - 3 * u2 + 1,
      h10 = u3 - 2 * u2 + u,
      h01 = -2 * u3 + 3 * u2,
      h11 = u3 - u2;
    // Centred slopes, one-sided at the first and last copy: slope at i = (v[i+1] − v[i−1])/2, or v[1] − v[0];
    // at i+1 = (v[i+2] − v[i])/2, or v[N−1] − v[N−2]. Folded into one coefficient per row i−1 … i+2.
    const firstRow = i === 0,
      lastRow = i + 1 === N - 1;
    const cm = firstRow ? 0 : -0.5 * h10,
      c2 = lastRow ? 0 : 0.5 * h11;
    const c0 = h00 - (firstRow ? h10 : 0) - (lastRow ? h11 : 0.5 * h11);
    const c1 = h01 + (firstRow ? h10 : 0.5 * h10) + (lastRow ? h11 : 0);
    const rm = Math.max(0, i - 1) * P,
      r0 = i * P,
      r1 = (i + 1) * P,
      r2 = Math.min(N - 1, i + 2) * P;
    for (let k = 0; k < P; k++)
      out[o + k] = cm * values[rm + k] + c0 * values[r0 + k] + c1 * values[r1 + k] + c2 * values[r2 + k];
  });
  return out;
}

/**
 * Copies re-sampled to another step count, stage sequence by stage sequence (each has distinct, ascending times).
 * Equal copies (a tied flow, as initialised) stay the same copies: a view when there are fewer.
 */
export function resampleCopies(
  values: Float32Array,
  P: number,
  from: CopyLayout,
  to: CopyLayout,
  equal: boolean,
): Float32Array {
  if (equal && to.count <= from.count) return values.subarray(0, to.count * P);
  if (from.stages === 1) return resampleSmooth(values, P, from.times, to.times);
  const s = from.stages;
  const out = new Float32Array(to.count * P);
  for (let i = 0; i < s; i++) {
    const pick = (l: CopyLayout, a: Float32Array) => {
      const r = new Float32Array(l.steps * P);
      for (let n = 0; n < l.steps; n++) r.set(a.subarray((n * s + i) * P, (n * s + i + 1) * P), n * P);
      return r;
    };
    const times = (l: CopyLayout) => Array.from({ length: l.steps }, (_, n) => l.times[n * s + i]);
    const r = resampleSmooth(pick(from, values), P, times(from), times(to));
    for (let n = 0; n < to.steps; n++) out.set(r.subarray(n * P, (n + 1) * P), (n * s + i) * P);
  }
  return out;
}
