// The loss a model without a `loss =` line is checked on: ½‖x(T)‖², half the sum of squares of every state element at
// the final time. Per state it is a square and a sum, added over the states. Where a solve holds x(T) as one row (a
// whole-solve kernel's trajectory, a packed solve's state, the reference's states concatenated) the same value is
// one op on that row: per state a slice, a square, a sum and their gradients were about 80 ms of kohonen.ode's AD
// (101 states) and 0.26 s of nthet.ode's reference (200 states).
import { elementCount } from '../ops/shapes';
import { lift, type Fn } from './compileNode';
import type { TF, Tensor } from './tf';

/**
 * The default loss of x(T)'s elements flat in rows, states in order, with the per-state ops' float32 values on the cpu
 * backend (per state a sum in double, the states' sums added in float32, as its Sum and AddN kernels).
 */
export interface RowLoss {
  /**
   * Of one row [1, S], differentiable, with the per-state ops' gradient bit for bit. (Where the per-state ops read
   * x(T) as slices of a row, the slices' gradients add zeros around each state's, which turns a −0 into +0; this
   * keeps the −0 of the state's own gradient.)
   */
  one(row: Tensor): Tensor;
  /** The batched loss's B values of B rows (row-major [B, S]), in plain JS. */
  batch(rows: Float32Array, B: number): Float32Array;
}

export interface DefaultLoss {
  fn: Fn;
  batched: Fn;
  /** The same loss on rows; undefined off the cpu backend. */
  rows?: RowLoss;
}

export function defaultLoss(tf: TF, half: Tensor, stateShapes: readonly (readonly number[])[]): DefaultLoss {
  let fn: Fn = (env) => tf.mul(half, tf.addN(env.s.map((x) => tf.sum(tf.square(x)))));
  if (stateShapes.length === 1) fn = (env) => tf.mul(half, tf.sum(tf.square(env.s[0])));
  const sq = (x: Tensor) => tf.sum(tf.square(lift(tf, x)), [1, 2], true);
  const batched: Fn = (env) => tf.mul(half, env.s.length === 1 ? sq(env.s[0]) : tf.addN(env.s.map(sq)));
  const sizes = stateShapes.map((shape) => elementCount(shape as number[]));
  if (tf.getBackend() !== 'cpu') return { fn, batched };
  const S = sizes.reduce((a, b) => a + b, 0);
  const batch = (rows: Float32Array, B: number) => {
    const out = new Float32Array(B);
    for (let b = 0; b < B; b++) out[b] = halfSquares(rows, b * S, sizes);
    return out;
  };
  return { fn, batched, rows: { one: rowLoss(tf, sizes), batch } };
}

/** ½ Σ x² of the states laid out from `at` (`sizes` elements each), as the cpu backend's ops give it. */
function halfSquares(x: ArrayLike<number>, at: number, sizes: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < sizes.length; at += sizes[i++]) {
    let sum = 0;
    for (let j = at; j < at + sizes[i]; j++) sum += Math.fround(x[j] * x[j]);
    total = i === 0 ? Math.fround(sum) : Math.fround(total + Math.fround(sum));
  }
  return Math.fround(0.5 * total);
}

function rowLoss(tf: TF, sizes: readonly number[]): (row: Tensor) => Tensor {
  return tf.customGrad((...args) => {
    const row = args[0] as Tensor;
    const x = row.dataSync();
    return {
      value: tf.scalar(halfSquares(x, 0, sizes)),
      // Square's gradient dy·(2x) after Mul's dy·½; the sums' and AddN's pass dy on.
      gradFunc: (dy: Tensor) => {
        const g = Math.fround(dy.dataSync()[0] * 0.5);
        const out = new Float32Array(x.length);
        for (let j = 0; j < x.length; j++) out[j] = g * Math.fround(x[j] * 2);
        return tf.tensor(out, row.shape);
      },
    };
  }) as (row: Tensor) => Tensor;
}
