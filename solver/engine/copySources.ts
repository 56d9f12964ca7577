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

/** The stacks a lazily split copy list comes from. */
export const stackedCopies = new WeakMap<Tensor[], CopyStack[]>();

/** `count` copies read from `stacks`, each stack split by `split` the first time one of its copies is read. */
export function lazyCopies(count: number, stacks: CopyStack[], split: (stacked: Tensor) => Tensor[]): Tensor[] {
  const copies: Tensor[] = new Array(count);
  for (const stack of stacks) {
    let parts: Tensor[] | undefined;
    for (let c = 0; c < stack.copies; c++)
      Object.defineProperty(copies, stack.first + c, {
        enumerable: true,
        get: () => (parts ??= split(stack.tensor))[c],
      });
  }
  stackedCopies.set(copies, stacks);
  return copies;
}
