// RK4's error in t on a grid of half the usual step, from that solve's own nodes (engine/reference.ts).
// With per-step copies that differ, θ(t) turns at every layer time and is linear between them; inside a
// step f then moves with t through θ faster than with x, and RK4's error is mostly its quadrature in t
// (Simpson's, as for y' = f(t)), which the embedded FSAL estimate cannot see. On half the usual step,
// every pair of steps (2m, 2m + 1) spans one usual step, over which θ is linear: the pair's increment is
// composite Simpson on H in t, and Simpson on 2H through the same nodes (y' at 2m, 2m + 1, 2m + 2) is the
// quadrature of the usual step. Their difference D_m is (16 − 1)× the pair's quadrature error where
// Simpson's error goes as its step⁵; its running sum over the pairs carries it to each usual node, as the
// embedded estimate does. No evaluation of f beyond the solve's own: y' at the nodes is f (forward) or
// (∂x f)ᵀp (adjoint), computed anyway.

/** Rows of a solve's nodes: node k's values (length `size`). */
export type NodeRow = (k: number) => ArrayLike<number>;

/**
 * ‖E‖/‖y‖ over the usual nodes of a solve on half the usual step with K (even) steps of H: E the running
 * sum of D_m = ±(y_{2m+2} − y_{2m}) − 2H/6·(y'_{2m} + 4y'_{2m+1} + y'_{2m+2}), summed in the solve's direction
 * (`backward`: from T down, y' = −(the rows of `slope`), as for the adjoint p' = −(∂x f)ᵀp). Undivided: the
 * caller scales D to the pair's error.
 */
export function pairQuadratureDifference(
  y: NodeRow,
  slope: NodeRow,
  K: number,
  H: number,
  size: number,
  backward: boolean,
): number {
  if (K < 2 || K % 2 !== 0) return Number.NaN;
  const E = new Float64Array(size);
  const c = (2 * H) / 6;
  let num = 0,
    den = 0;
  for (let i = 0; i < K / 2; i++) {
    const m = backward ? K / 2 - 1 - i : i;
    const a = y(2 * m),
      b = y(2 * m + 2),
      sa = slope(2 * m),
      sm = slope(2 * m + 1),
      sb = slope(2 * m + 2);
    const to = backward ? a : b;
    for (let r = 0; r < size; r++) {
      const quad = c * (sa[r] + 4 * sm[r] + sb[r]);
      // Forward: y_b − y_a = ∫ y'; backward (p' = −v): p_a − p_b = ∫ v.
      E[r] += backward ? a[r] - b[r] - quad : b[r] - a[r] - quad;
      num += E[r] * E[r];
      den += to[r] * to[r];
    }
  }
  return den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
}
