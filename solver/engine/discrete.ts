// The discrete network the checks differentiate: the model's solve with one
// parameter tensor per copy, and the loss on its trajectory.
import type { Model } from '../model';
import type { TF, Tensor } from './backend';
import { internalShape, sizeOf, type CompiledModel } from './compile';
import { solveDiscrete } from './integrate';
import { trajectoryLoss } from './observe';
import { copyCount, schemeOf, type Scheme } from '../schemes/schemes';

/** Copies of each per-step parameter: N, or N·s for per-stage (tie=stage) Runge–Kutta. */
export function copiesPerParameter(model: Model): number {
  try {
    return copyCount(schemeOf(model), model.options.steps);
  } catch {
    return model.options.steps; // unknown scheme: runCheck reports it
  }
}

/** Parameters for one copy (numbered as in schemes/copies.ts); shared parameters give their one tensor. */
export function paramsFor(model: Model, copies: Tensor[][]) {
  const per = model.params.map((p) => p.perStep);
  return (copy: number): Tensor[] => copies.map((c, j) => (per[j] ? c[copy] : c[0]));
}

/** x(T) and data losses of the discrete solve (engine/observe.ts). */
export function discreteLoss(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, copies: Tensor[][]): Tensor {
  const { steps: N, dt: h, t0 } = model.options;
  const traj = solveDiscrete(tf, cm, scheme, N, h, t0, paramsFor(model, copies));
  return trajectoryLoss(tf, cm, traj, t0, h);
}

/** One tensor per copy of every parameter (internal shapes), from values in the check's layout (copy n at offset n·P). */
export function copyTensors(tf: TF, model: Model, values: Float32Array[]): Tensor[][] {
  const count = copiesPerParameter(model);
  return model.params.map((p, i) => {
    const P = sizeOf(p.shape), shape = internalShape(p.shape);
    return Array.from({ length: p.perStep ? count : 1 }, (_, n) => tf.tensor(values[i].subarray(n * P, (n + 1) * P), shape));
  });
}

/** Extra sources of one AD pass (their gradients are returned too) and a hook that sees the copies before the solve. */
export interface ExtraSources { sources: Tensor[]; begin(copies: Tensor[][]): void }

/**
 * Loss and AD gradients (per parameter, in the values' layout) of the discrete solve.
 * The sources are one stacked tensor per parameter [copies, ...shape], split inside the
 * scope (one unstack kernel, one stack in the backward): TF.js's tape filter costs
 * tape length × number of sources, which with one source per copy grew as N².
 */
export function discreteGradients(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, values: Float32Array[], extra?: ExtraSources): { loss: number; G: Float32Array[]; extraGrads: (Float32Array | undefined)[] } {
  let loss = NaN;
  const count = copiesPerParameter(model);
  // Results leave the tidy through the closure: returning the Float32Arrays
  // from tf.tidy would make it walk every element looking for tensors.
  const G: Float32Array[] = [];
  const extraGrads: (Float32Array | undefined)[] = [];
  tf.tidy(() => {
    const stacked = model.params.map((p, i) => tf.tensor(values[i], p.perStep ? [count, ...internalShape(p.shape)] : internalShape(p.shape)));
    const { value, grads } = tf.engine().gradients(() => {
      const copies = model.params.map((p, i) => (p.perStep ? tf.unstack(stacked[i]) : [stacked[i]]));
      extra?.begin(copies);
      return discreteLoss(tf, cm, scheme, model, copies);
    }, [...stacked, ...(extra?.sources ?? [])], undefined, true);
    loss = value.dataSync()[0];
    // The read-back is the caller's to keep (tfjs hands out the backend's buffer or a copy; a disposed tensor's stays valid).
    stacked.forEach((_s, i) => { const g = grads[i]; G.push(g ? (g.dataSync() as Float32Array) : new Float32Array(values[i].length)); });
    extra?.sources.forEach((_s, k) => { const g = grads[stacked.length + k]; extraGrads.push(g ? Float32Array.from(g.dataSync()) : undefined); });
  });
  return { loss, G, extraGrads };
}
