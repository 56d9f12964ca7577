// θ(t) between per-step copies: the piecewise-linear interpolant through their layer times (the
// continuous reference's parameter path; engine/reference.ts, batchedAdjoint.ts, fusedMlp/reference.ts).

/** Piecewise-linear interpolation weights of copies (through times τ) at time t: copies a, b and b's weight. */
export function interpWeights(tau: number[], t: number): [number, number, number] {
  const N = tau.length;
  if (N === 1) return [0, 0, 0];
  let i = 0;
  if (t <= tau[0]) i = 0;
  else if (t >= tau[N - 1]) i = N - 2;
  else {
    let lo = 0,
      hi = N - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (tau[mid] <= t) lo = mid;
      else hi = mid;
    }
    i = lo;
  }
  const w = (t - tau[i]) / (tau[i + 1] - tau[i]);
  return [i, i + 1, w];
}

/** θ at weights (a, b, w) of interpWeights into out[o …]: copy a when w = 0 (a layer time), else (1 − w)·a + w·b. */
export function interpolateCopies(
  v: Float32Array,
  P: number,
  [a, b, w]: [number, number, number],
  out: Float32Array,
  o: number,
): void {
  const oa = a * P,
    ob = b * P;
  if (w === 0) {
    out.set(v.subarray(oa, oa + P), o);
    return;
  }
  const u = 1 - w;
  for (let k = 0; k < P; k++) out[o + k] = u * v[oa + k] + w * v[ob + k];
}
