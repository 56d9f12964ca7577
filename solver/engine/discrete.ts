// The discrete network the checks differentiate: the model's solve with one
// parameter tensor per copy, and the loss on its trajectory.
import type { Model } from '../model';
import type { TF, Tensor } from './tf';
import { internalShape, sizeOf, type CompiledModel } from './compile';
import { solveDiscrete, type ParamsFor } from './integrate';
import { copySources, lazyCopies } from './copySources';
import { trajectoryLoss } from './observe';
import { schemeOf, type Scheme } from '../schemes/schemes';
import { copyCount } from '../schemes/copies';

/** Copies of each per-step parameter: N, or N·s for per-stage (tie=stage) Runge–Kutta. */
export function copiesPerParameter(model: Model): number {
  try {
    return copyCount(schemeOf(model), model.options.steps);
  } catch {
    return model.options.steps; // unknown scheme: runCheck reports it
  }
}

/** Parameters for one copy (numbered as in schemes/copies.ts); shared parameters give their one tensor. */
export function paramsFor(model: Model, copies: Tensor[][]): ParamsFor {
  const per = model.params.map((p) => p.perStep);
  const params = (copy: number): Tensor[] => copies.map((c, j) => (per[j] ? c[copy] : c[0]));
  copySources.set(params, { perStep: per, copies });
  return params;
}

/** x(T) and data losses of the discrete solve (engine/observe.ts). */
export function discreteLoss(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  copies: Tensor[][],
  seen?: (traj: Tensor[][]) => void,
): Tensor {
  const { steps: N, dt: h, t0 } = model.options;
  const traj = solveDiscrete(tf, cm, scheme, N, h, t0, paramsFor(model, copies));
  seen?.(traj);
  return trajectoryLoss(tf, cm, traj, t0, h);
}

/** One tensor per copy of every parameter (internal shapes), from values in the check's layout (copy n at offset n·P). */
export function copyTensors(tf: TF, model: Model, values: Float32Array[]): Tensor[][] {
  const count = copiesPerParameter(model);
  return model.params.map((p, i) => {
    const P = sizeOf(p.shape),
      shape = internalShape(p.shape);
    return Array.from({ length: p.perStep ? count : 1 }, (_, n) =>
      tf.tensor(values[i].subarray(n * P, (n + 1) * P), shape),
    );
  });
}

/** Extra sources of one AD pass (their gradients are returned too) and a hook that sees the copies before the solve. */
export interface ExtraSources {
  sources: Tensor[];
  begin(copies: Tensor[][]): void;
}

/**
 * Copies split from one stacked source. TF.js's tape filter costs tape length × number of sources
 * (one source per copy grew as N²), so few sources; on cpu one per parameter (its unstack is a copy:
 * d = 64, width 256, N = 64 took 10 % less AD time than in stacks of 16). tfjs-wasm's unstack costs
 * copies × stacked size (256 copies of 128×16: 292 ms in one stack, 5.4 ms in stacks of 16), so
 * there √N, at least 16.
 */
function copiesPerSource(count: number, backend: string): number {
  return backend === 'cpu' ? count : Math.max(16, Math.ceil(Math.sqrt(count)));
}

/** How `count` copies are stacked into sources on a backend: the first copy and the number of copies of each stack. */
export function copyStacks(count: number, backend: string): { first: number; copies: number }[] {
  const per = Math.max(1, copiesPerSource(count, backend));
  return Array.from({ length: Math.ceil(count / per) }, (_, c) => ({
    first: c * per,
    copies: Math.min(per, count - c * per),
  }));
}

/** The copies of a stacked tensor, inside a gradient scope: TF.js hands a one-output unstack's gradient a lone dy where it stacks a list, so a stack of one copy is reshaped instead. */
export function unstackCopies(tf: TF, stacked: Tensor): Tensor[] {
  return stacked.shape[0] === 1 ? [tf.reshape(stacked, stacked.shape.slice(1))] : tf.unstack(stacked);
}

/** Per parameter its sources (first copy index, copies, stacked tensor [copies, ...shape]; shared: the one value). */
function stackedSources(tf: TF, model: Model, values: Float32Array[]) {
  const count = copiesPerParameter(model);
  return model.params.map((p, i) => {
    const shape = internalShape(p.shape),
      P = sizeOf(p.shape);
    if (!p.perStep) return [{ first: 0, copies: 1, tensor: tf.tensor(values[i], shape) }];
    return copyStacks(count, tf.getBackend()).map(({ first, copies }) => ({
      first,
      copies,
      tensor: tf.tensor(values[i].subarray(first * P, (first + copies) * P), [copies, ...shape]),
    }));
  });
}

/** The copies of each parameter, split from their stacks when first read: a solve that takes the stacks (engine/copySources.ts) reads none. */
function splitWhenRead(tf: TF, model: Model, sources: ReturnType<typeof stackedSources>): Tensor[][] {
  const count = copiesPerParameter(model);
  return model.params.map((p, i) =>
    p.perStep ? lazyCopies(count, sources[i], (s) => unstackCopies(tf, s)) : [sources[i][0].tensor],
  );
}

/**
 * The discrete loss at the given values, the copies stacked as discreteGradients takes them (the fused MLP
 * solve reads the stacks: no tensor per copy). Call inside a tidy.
 */
export function stackedLoss(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, values: Float32Array[]): Tensor {
  return discreteLoss(tf, cm, scheme, model, splitWhenRead(tf, model, stackedSources(tf, model, values)));
}

/**
 * Loss and AD gradients (per parameter, in the values' layout) of the discrete solve.
 * The sources are stacked tensors [≤ copiesPerSource copies, ...shape] per parameter, split
 * inside the scope (unstack kernels, and stacks in the backward). `seen` reads the solve's trajectory.
 */
export function discreteGradients(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  extra?: ExtraSources,
  seen?: (traj: Tensor[][]) => void,
): { loss: number; G: Float32Array[]; extraGrads: (Float32Array | undefined)[] } {
  let loss = NaN;
  // Results leave the tidy through the closure: returning the Float32Arrays
  // from tf.tidy would make it walk every element looking for tensors.
  const G: Float32Array[] = [];
  const extraGrads: (Float32Array | undefined)[] = [];
  tf.tidy(() => {
    const sources = stackedSources(tf, model, values);
    const flat = sources.flat().map((s) => s.tensor);
    const { value, grads } = tf.engine().gradients(
      () => {
        const copies = splitWhenRead(tf, model, sources);
        extra?.begin(copies);
        return discreteLoss(tf, cm, scheme, model, copies, seen);
      },
      [...flat, ...(extra?.sources ?? [])],
      undefined,
      true,
    );
    loss = value.dataSync()[0];
    let k = 0;
    model.params.forEach((p, i) => {
      const own = sources[i].map(() => grads[k++]);
      // One source: the read-back is the caller's to keep (tfjs hands out the backend's buffer or a copy; a disposed tensor's stays valid).
      if (own.length === 1) {
        G.push(own[0] ? (own[0].dataSync() as Float32Array) : new Float32Array(values[i].length));
        return;
      }
      const P = sizeOf(p.shape),
        out = new Float32Array(values[i].length);
      own.forEach((g, c) => {
        if (g) out.set(g.dataSync(), sources[i][c].first * P);
      });
      G.push(out);
    });
    extra?.sources.forEach((_s, j) => {
      const g = grads[flat.length + j];
      extraGrads.push(g ? Float32Array.from(g.dataSync()) : undefined);
    });
  });
  return { loss, G, extraGrads };
}
