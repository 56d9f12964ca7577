// The discrete network the checks differentiate: the model's solve with one
// parameter tensor per copy, and the loss on its trajectory.
import type { Model } from '../model';
import type { TF, Tensor } from './backend';
import type { CompiledModel } from './compile';
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
