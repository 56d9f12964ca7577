// The reference solve's state x(t) and adjoint p(t) at its grid nodes, read back once for the plots
// (the trajectory and adjoint views): the forward and backward solves have them already, so this is
// one read-back per solve, not another solve.
import { wholeTrajectory } from './lazySteps';
import type { TF, Tensor } from './tf';

/** Components per node a path keeps (the first ones, all states flattened in order). */
export const MAX_PATH_COMPONENTS = 256;

/** x or p at the nodes: (nodes × columns) values, row-major; columns are the states' flattened components in order. */
export interface NodeValues {
  columns: number;
  values: Float32Array;
}

export interface StatePaths {
  /** Times of the nodes, ascending. */
  times: number[];
  x: NodeValues;
  /** Absent when the adjoint solve does not keep p at its nodes (losses with observation jumps). */
  p?: NodeValues;
}

/** `nodes[k][i]`: state i at node k. One kernel per state and one read-back. */
export function readNodes(tf: TF, nodes: Tensor[][]): NodeValues {
  const m = tf.tidy(() => {
    const perState = (nodes[0] ?? []).map((_s, i) => tf.stack(nodes.map((n) => tf.reshape(n[i], [-1]))));
    const all = perState.length === 1 ? perState[0] : tf.concat(perState, 1);
    const columns = Math.min(MAX_PATH_COMPONENTS, all.shape[1] ?? 0);
    return columns === all.shape[1] ? all : tf.slice(all, [0, 0], [-1, columns]);
  });
  const columns = m.shape[1] ?? 0;
  const values = Float32Array.from(m.dataSync() as Float32Array);
  m.dispose();
  return { columns, values };
}

/**
 * readNodes of every `stride`-th step of a solve's trajectory: from its whole trajectory in one read when the solve
 * made one (a slice and a stack per node were a third of mackey.ode's refined reference, 12,001 nodes), else per node.
 */
export function everyStride(tf: TF, traj: Tensor[][], stride: number): NodeValues {
  const count = Math.floor((traj.length - 1) / stride) + 1;
  const whole = wholeTrajectory(traj);
  const width = (traj[0] ?? []).reduce((a, x) => a + x.size, 0);
  if (!whole || whole.shape[0] !== traj.length || whole.shape[1] !== width)
    return readNodes(
      tf,
      Array.from({ length: count }, (_, n) => traj[n * stride]),
    );
  const columns = Math.min(MAX_PATH_COMPONENTS, width);
  const d = whole.dataSync() as Float32Array;
  const values = new Float32Array(count * columns);
  for (let n = 0; n < count; n++) values.set(d.subarray(n * stride * width, n * stride * width + columns), n * columns);
  return { columns, values };
}

/** The elements of several tensors, one after the other (e.g. a model's states as one vector). */
export function concatElements(xs: Tensor[]): Float32Array {
  const out = new Float32Array(xs.reduce((a, x) => a + x.size, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x.dataSync(), at);
    at += x.size;
  }
  return out;
}
