// Where a solve's parameter copies come from. The AD pass stacks each per-step parameter's copies
// into a few source tensors (discrete.ts: copyStacks); splitting them costs an unstack kernel that
// creates every copy's tensor, and its gradient a stack. A solve that reads the copies as data (the
// fused MLP solve, engine/fusedMlp/solveProgram.ts) takes the stacks instead, so the copies are
// split only when something reads one.
import type { Tensor } from './tf';

/**
 * The parameters of every model parameter for one parameter copy (per-step parameters take copy
 * `copy`; shared ones ignore it and must return the same tensor object for every copy, so blends
 * skip them).
 */
export type ParamsFor = (copy: number) => Tensor[];

/** One stacked source: copies first … first + copies − 1 of a parameter, stacked along axis 0. */
export interface CopyStack {
  first: number;
  copies: number;
  tensor: Tensor;
}

/** The copies behind a ParamsFor (discrete.ts: paramsFor): per parameter, its copy tensors. */
export const copySources = new WeakMap<ParamsFor, { perStep: boolean[]; copies: Tensor[][] }>();

/** The stacks a lazily split copy list (lazyCopies) comes from. */
export const stackedCopies = new WeakMap<Tensor[], CopyStack[]>();

/**
 * `count` copies read from `stacks`, split by `split` when a copy is first read (a proxy: a
 * property per copy cost 8 % of a small network's forward+backward).
 */
export function lazyCopies(count: number, stacks: CopyStack[], split: (stacked: Tensor) => Tensor[]): Tensor[] {
  const copies: Tensor[] = new Array(count);
  let whole = false;
  const splitAll = () => {
    whole = true;
    for (const stack of stacks) split(stack.tensor).forEach((t, c) => (copies[stack.first + c] = t));
  };
  /** A copy's index: a property key of digits. */
  const index = (key: string | symbol) => typeof key === 'string' && key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57;
  const lazy = new Proxy(copies, {
    get(target, key, receiver) {
      if (!whole && index(key)) splitAll();
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (!whole && index(key)) splitAll();
      return Reflect.has(target, key);
    },
  });
  stackedCopies.set(lazy, stacks);
  return lazy;
}
