import type { TF, Tensor } from './tf';

/** The key of a solve's whole trajectory, when it has one (wholeTrajectory). */
const WHOLE = Symbol('whole trajectory');
/** The key of the whole trajectory a solve made as it ran (not one made on first read). */
const MADE = Symbol('whole trajectory made by the solve');

/**
 * x_0..x_N whose entries are made when first read (a loss on x(T) makes one). A proxy over the array:
 * an accessor defined per step was 0.23 s of a 1.1 s check over 20,000 steps (a CPU profile). `whole`: the
 * same values as one [N + 1, S] tensor (row n: the states of step n, flat in order), for a reader of every step.
 */
export function lazySteps(N: number, make: (n: number) => Tensor[], whole?: Tensor): Tensor[][] {
  const cache: Tensor[][] = new Array(N + 1);
  const step = (key: string | symbol): number => {
    if (typeof key !== 'string') return -1;
    const n = Number(key);
    return Number.isInteger(n) && n >= 0 && n <= N && String(n) === key ? n : -1;
  };
  return new Proxy(cache, {
    get(target, key, receiver) {
      if (key === WHOLE || key === MADE) return whole;
      const n = step(key);
      if (n < 0) return Reflect.get(target, key, receiver);
      target[n] ??= make(n);
      return target[n];
    },
    has: (target, key) => step(key) >= 0 || Reflect.has(target, key),
  });
}

/**
 * The states of row n of a trajectory [N+1, S] (state i at columns at[i]…at[i]+sizes[i]), reshaped to `shapes`,
 * as slices of the row: the gradient of a slice is its input's shape of zeros around the slice, so slicing each
 * state from the whole trajectory made AD add S tensors of (N+1)·S floats (kohonen.ode, 101 states over 16,000
 * steps: a quarter of the check's time); from the row, S small ones and one of the trajectory's size.
 */
export function rowStates(
  tf: TF,
  trajectory: Tensor,
  n: number,
  at: readonly number[],
  sizes: readonly number[],
  shapes: readonly number[][],
): Tensor[] {
  const S = trajectory.shape[1] as number;
  if (shapes.length === 1) return [tf.reshape(tf.slice(trajectory, [n, at[0]], [1, sizes[0]]), shapes[0])];
  const row = tf.slice(trajectory, [n, 0], [1, S]);
  return shapes.map((shape, i) => tf.reshape(tf.slice(row, [0, at[i]], [1, sizes[i]]), shape));
}

/**
 * Gives steps (an array of x_0..x_N) a whole trajectory made on first read and kept: for a solve whose steps are
 * slices of something larger (a packed state), what wholeTrajectory's readers would otherwise slice per step and state.
 */
export function attachWholeTrajectory(steps: Tensor[][], make: () => Tensor): void {
  let whole: Tensor | undefined;
  Object.defineProperty(steps, WHOLE, { get: () => (whole ??= make()) });
}

/** A lazy trajectory's values as one [N + 1, S] tensor, when its solve made one (one read instead of a slice per step). */
export function wholeTrajectory(steps: Tensor[][]): Tensor | undefined {
  return (steps as unknown as Record<symbol, Tensor | undefined>)[WHOLE];
}

/** The key of a batched solve's final rows (row-major [B, S]). */
const FINAL_ROWS = Symbol('final rows of a batched solve');

/** Gives a batched solve's steps its final rows, all states flat (row-major [B, S]). */
export function withFinalRows(steps: Tensor[][], rows: Float32Array): Tensor[][] {
  Object.defineProperty(steps, FINAL_ROWS, { value: rows });
  return steps;
}

/** A batched solve's final rows, when it kept them as one array (withFinalRows). */
export function finalRows(steps: Tensor[][]): Float32Array | undefined {
  return (steps as unknown as Record<symbol, Float32Array | undefined>)[FINAL_ROWS];
}

/** The key of a packed solve's steps, each all states flat as one vector [S]. */
const PACKED = Symbol('packed steps');

/** Gives a packed solve's steps (unpacked per state when read) the packed vector [S] of each step. */
export function attachPackedSteps(steps: Tensor[][], packed: (n: number) => Tensor): void {
  Object.defineProperty(steps, PACKED, { value: packed });
}

/**
 * Row n of a trajectory as [1, S], all states flat: one slice of the whole trajectory its solve made, or its packed
 * state; undefined where it would first have to be made (a stack of every step, or a concat of the states).
 */
export function madeRow(tf: TF, steps: Tensor[][], n: number): Tensor | undefined {
  const keys = steps as unknown as Record<symbol, unknown>;
  const whole = keys[MADE] as Tensor | undefined;
  if (whole) return tf.slice(whole, [n, 0], [1, whole.shape[1] as number]);
  const packed = keys[PACKED] as ((n: number) => Tensor) | undefined;
  return packed && tf.reshape(packed(n), [1, -1]);
}
