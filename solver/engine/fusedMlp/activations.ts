// The elementwise activations of a fused MLP field, as TF.js's cpu kernels compute them (the value in
// double, stored as float32) and as TF.js's gradients combine them (each tensor op rounded to float32),
// so that the fused field's values and gradients are those of the per-operation compile, bit for bit.
const f32 = Math.fround;

export interface Activation {
  /** y = act(x), float32. */
  value(x: number): number;
  /** dL/dx from dL/dy, x and y, in the float32 steps of TF.js's gradient of the op. */
  back(dy: number, x: number, y: number): number;
}

/** Activations by the language's function name (solver/ops/table.ts). */
export const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  // Tanh_grad: mul(sub(1, square(y)), dy)
  tanh: { value: (x) => f32(Math.tanh(x)), back: (dy, _x, y) => f32(f32(1 - f32(y * y)) * dy) },
  // Sigmoid_grad: mul(dy, mul(y, sub(1, y)))
  sigmoid: { value: (x) => f32(1 / (1 + Math.exp(-x))), back: (dy, _x, y) => f32(dy * f32(y * f32(1 - y))) },
  // Relu_grad: mul(dy, step(x)) with step(NaN) = NaN
  relu: { value: (x) => Math.max(0, x), back: (dy, x) => f32(dy * (Number.isNaN(x) ? NaN : x > 0 ? 1 : 0)) },
  // Sin_grad: mul(cos(x), dy); Cos_grad: mul(neg(sin(x)), dy); Exp_grad: mul(dy, y)
  sin: { value: (x) => f32(Math.sin(x)), back: (dy, x) => f32(f32(Math.cos(x)) * dy) },
  cos: { value: (x) => f32(Math.cos(x)), back: (dy, x) => f32(-f32(Math.sin(x)) * dy) },
  exp: { value: (x) => f32(Math.exp(x)), back: (dy, _x, y) => f32(dy * y) },
};
