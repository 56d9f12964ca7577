// Data losses on the discrete solve: `x(obs)` is the state at each
// observation time t_k, by linear interpolation between the two steps around
// it, x(t_k) ≈ (1 − w) x_n + w x_{n+1} with w = (t_k − t_n)/h.
//
// Why interpolation and not "times must lie on the grid": observation times
// come from a CSV file and the step count is edited freely; refusing every
// step count that does not divide the data would make the check useless
// while typing. Linear interpolation is differentiable (two stacks and two
// multiplies, so AD flows through it), exact at grid times, and its O(h²)
// error is no larger than the discretisation error of the second-order
// schemes the tool is about. Times outside [t0, T] are refused by the
// compiler (`data-out-of-range`).
import type { TF, Tensor } from './tf';
import { finalRows, madeRow } from './lazySteps';
import type { CompiledModel } from './compile';

/** Step index n and weight w of each observation time on the grid t0 + n h (n = 0..N). */
export function observationWeights(
  times: number[],
  t0: number,
  h: number,
  N: number,
): { index: number[]; weight: number[] } {
  const index: number[] = [],
    weight: number[] = [];
  for (const t of times) {
    const x = (t - t0) / h;
    const n = Math.max(0, Math.min(N - 1, Math.floor(x + 1e-9)));
    index.push(n);
    weight.push(Math.min(1, Math.max(0, x - n)));
  }
  return { index, weight };
}

/**
 * The states at the observation times, by the interpolation above: `o(data, si)`
 * for the compiled loss. `row(si, n)` is state si at step n, flattened (for a batch:
 * [B, size]); the rows around each time are stacked along `axis` (0 for one
 * trajectory, 1 for a batch). A stack, not a gather from all steps: gather's
 * gradient needs UnsortedSegmentSum, which tfjs-wasm does not have.
 */
function observer(
  tf: TF,
  cm: CompiledModel,
  N: number,
  t0: number,
  h: number,
  axis: 0 | 1,
  row: (si: number, n: number) => Tensor,
) {
  const memo = new Map<string, Tensor>();
  return (data: string, si: number): Tensor => {
    const key = `${data}\u0000${si}`;
    const hit = memo.get(key);
    if (hit) return hit;
    const d = cm.observed.find((x) => x.name === data);
    if (!d) throw new Error(`no observations for ${data}`);
    const { index, weight } = observationWeights(d.times, t0, h, Math.max(1, N));
    const K = d.times.length;
    const rows = (steps: number[]) =>
      tf.stack(
        steps.map((n) => row(si, n)),
        axis,
      );
    let out: Tensor;
    if (N === 0) out = rows(index.map(() => 0));
    else {
      const a = rows(index),
        b = rows(index.map((n) => n + 1));
      out = tf.add(a, tf.mul(tf.sub(b, a), tf.tensor2d(weight, [K, 1])));
    }
    memo.set(key, out);
    return out;
  };
}

/** The model's state elements, all states together (the width of a row its default loss reads). */
const stateElements = (cm: CompiledModel) => cm.x0.reduce((a, x) => a + x.size, 0);

/**
 * The loss of a discrete trajectory x_0..x_N (internal layout, one entry per
 * state). Call inside a tidy or a gradient scope.
 */
export function trajectoryLoss(tf: TF, cm: CompiledModel, traj: Tensor[][], t0: number, h: number): Tensor {
  if (cm.observed.length === 0) {
    // The default loss reads x(T) as one row: per state, a slice, a square and a sum, and their gradients, were
    // about 80 ms of kohonen.ode's AD (101 states).
    const row = cm.rowLoss && madeRow(tf, traj, traj.length - 1);
    return row && row.size === stateElements(cm) ? cm.rowLoss!.one(row) : cm.loss(traj[traj.length - 1]);
  }
  const final = traj[traj.length - 1];
  const at = observer(tf, cm, traj.length - 1, t0, h, 0, (si, n) => tf.reshape(traj[n][si], [-1]));
  // Internal layout of the logical [K] (scalar state) is the column [K, 1]; [K, n] stays.
  return cm.loss(final, (data, si) => {
    const out = at(data, si);
    return cm.stateShapes[si].length === 0 ? tf.reshape(out, [out.shape[0], 1]) : out;
  });
}

/**
 * The B losses of a batch of discrete trajectories (cm.batched's layout: each
 * state [B, r, c]), for batched finite differences. `x(obs)` becomes
 * [B, K, 1] (scalar states) or [B, K, n] by the same interpolation.
 */
export function trajectoryLossBatched(
  tf: TF,
  cm: CompiledModel,
  traj: Tensor[][],
  t0: number,
  h: number,
  B: number,
): Tensor {
  const batched = cm.batched;
  if (!batched) throw new Error('the model cannot be batched');
  const final = traj[traj.length - 1];
  if (cm.observed.length === 0) {
    const rows = cm.rowLoss && finalRows(traj);
    return rows && rows.length === B * stateElements(cm)
      ? tf.tensor1d(cm.rowLoss!.batch(rows, B))
      : batched.loss(final, B);
  }
  const at = observer(tf, cm, traj.length - 1, t0, h, 1, (si, n) =>
    tf.reshape(tf.broadcastTo(traj[n][si], [B, ...traj[n][si].shape.slice(-2)]), [B, -1]),
  );
  return batched.loss(final, B, at);
}
