// Cubic Hermite interpolation between reference nodes: the one basis the reference's grid gradients, its
// state at a time and the plain-JS passes (MLP fields, fused scalar programs) all use, so they round alike.

/** The basis at s ∈ [0, 1] of a step H: weights of x_k, x_{k+1} (values) and f_k, f_{k+1} (H-scaled slopes). */
export function hermiteBasis(s: number, H: number): { v0: number; v1: number; d0: number; d1: number } {
  const s2 = s * s,
    s3 = s2 * s;
  return { v0: 2 * s3 - 3 * s2 + 1, v1: -2 * s3 + 3 * s2, d0: (s3 - 2 * s2 + s) * H, d1: (s3 - s2) * H };
}

/** Point j of a grid m times finer than K reference steps of size H: its step k and the basis there. */
export function gridHermite(j: number, m: number, K: number, H: number) {
  const k = Math.min(K - 1, Math.floor(j / m));
  return { k, ...hermiteBasis(j / m - k, H) };
}

/**
 * The cubic Hermite value at point w from the values xk, xk1 and slopes fk, fk1 at the ends of its step: values +
 * slopes, or values − slopes for the adjoint p, which runs backward (p' = −v). Each pair is summed in double and
 * rounded to float32, the weights too: the reference's tensor path and its plain-JS passes (fused scalar programs,
 * MLP fields) take their grid points from here, so they round alike.
 */
export function hermiteValue(
  w: { v0: number; v1: number; d0: number; d1: number },
  xk: number,
  xk1: number,
  fk: number,
  fk1: number,
  sign: 1 | -1,
): number {
  const f32 = Math.fround;
  const value = f32(f32(w.v0) * xk + f32(w.v1) * xk1),
    slope = f32(f32(w.d0) * fk + f32(w.d1) * fk1);
  return f32(sign > 0 ? value + slope : value - slope);
}
