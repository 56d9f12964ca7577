// The gradient engines training can use, all returning gradients in the
// layout of the parameter values (per-step: N×P, copy n at offset n·P;
// shared: P):
//   ad         AD through the unrolled discrete solve (TF.js);
//   filter121, average   AD post-processed by a correction (docs/design.md#corrections):
//              the densities d_n = G_n/(h w_n) are corrected and turned back
//              into copy gradients h·w_n·c_n;
//   adjoint    the continuous adjoint (engine/reference.ts): copy n gets
//              h·w_n·g(t_n), the reference density at its layer time times
//              the copy's quadrature weight — the same convention as the AD
//              densities, so a convergent scheme's AD gradient and this one
//              agree as h → 0; shared parameters get ∫ g dt.
import type { Model } from '../model';
import {
  CORRECTIONS,
  GRADFIX_NAMES,
  TRAINING_CORRECTIONS,
  type GradFix,
  type TrainingCorrection,
} from '../registry/corrections';
import { GRAD_ENGINE_NAMES, type GradEngine } from '../registry/gradEngines';
import type { TF } from '../engine/tf';
import { internalShape, type CompiledModel } from '../engine/compile';
import { copyTensors, discreteGradients, discreteLoss as engineDiscreteLoss } from '../engine/discrete';
import { resample } from '../engine/layerAnalysis';
import { continuousReference, accurateLoss, type ReferenceInput } from '../engine/reference';
import { filter121, average } from '../engine/corrections';
import type { Scheme } from '../schemes/schemes';
import { isMapScheme } from '../schemes/registry';

/** The gradients training can use: every gradient engine, and the corrections training applies to AD. */
export type TrainGradient = GradEngine | TrainingCorrection;
export const TRAIN_GRADIENTS: readonly TrainGradient[] = [...GRAD_ENGINE_NAMES, ...TRAINING_CORRECTIONS];
/** The corrections a check applies but training does not. */
export const CHECK_ONLY_CORRECTIONS: readonly GradFix[] = GRADFIX_NAMES.filter(
  (n) => n !== 'none' && !CORRECTIONS[n].training,
);

export interface TrainContext {
  tf: TF;
  cm: CompiledModel;
  model: Model;
  scheme: Scheme;
  N: number;
  h: number;
  t0: number;
  /** Copies of each per-step parameter (N, or N·s for tie=stage; schemes/copies.ts). */
  copies: number;
  /** Layer time and quadrature weight of each per-step copy. */
  taus: number[];
  weights: number[];
  /** Values per copy of each parameter. */
  sizes: number[];
}

/** Discrete loss only (no tape). */
export function discreteLoss(ctx: TrainContext, values: Float32Array[]): number {
  let v = NaN;
  const { tf, cm, scheme, model } = ctx;
  tf.tidy(() => {
    v = engineDiscreteLoss(tf, cm, scheme, model, copyTensors(tf, model, values)).dataSync()[0];
  });
  return v;
}

/** Discrete loss and its AD gradient (engine/discrete.ts). */
export function adGradient(ctx: TrainContext, values: Float32Array[]): { loss: number; G: Float32Array[] } {
  const { loss, G } = discreteGradients(ctx.tf, ctx.cm, ctx.scheme, ctx.model, values);
  return { loss, G };
}

/** AD copy gradients → densities → correction → copy gradients (per-step parameters only). */
export function correctGradient(ctx: TrainContext, G: Float32Array[], kind: TrainingCorrection): Float32Array[] {
  const { h, weights, taus } = ctx;
  const M = ctx.copies;
  if (M !== ctx.N)
    throw new Error(
      `${kind} corrects one copy per step; this model has ${M} copies per parameter (tie=stage): use stagesum in a check, or train with ad or adjoint`,
    );
  return ctx.model.params.map((p, i) => {
    if (!p.perStep) return G[i];
    const P = ctx.sizes[i];
    const d = new Float32Array(M * P);
    // A copy with weight 0 gets no gradient (AB2's θ_0): density 0, left at 0.
    for (let n = 0; n < M; n++)
      if (weights[n] > 0) for (let k = 0; k < P; k++) d[n * P + k] = G[i][n * P + k] / (h * weights[n]);
    let c: Float32Array;
    if (kind === 'filter121') c = filter121(d, M, P);
    else {
      // average sits at t_{n+½}: back to the layer times by linear interpolation.
      const a = average(d, M, P, taus);
      c = resample(a.values, P, a.times, taus);
    }
    const out = new Float32Array(M * P);
    for (let n = 0; n < M; n++) for (let k = 0; k < P; k++) out[n * P + k] = c[n * P + k] * h * weights[n];
    return out;
  });
}

function referenceInput(ctx: TrainContext, values: Float32Array[]): ReferenceInput {
  return {
    N: ctx.N,
    h: ctx.h,
    t0: ctx.t0,
    layerTimes: ctx.taus,
    params: ctx.model.params.map((p, i) => ({
      perStep: p.perStep,
      values: values[i],
      shape: internalShape(p.shape),
      size: ctx.sizes[i],
    })),
  };
}

/** Gradient from the continuous adjoint, with the reference's own error estimate. */
export function adjointGradient(
  ctx: TrainContext,
  values: Float32Array[],
  signalCheck?: () => void,
): { G: Float32Array[]; flowLoss: number; referenceError: number; nonFinite: boolean } {
  const ref = continuousReference(ctx.tf, ctx.cm, referenceInput(ctx, values), signalCheck);
  const G = ctx.model.params.map((p, i) => {
    if (!p.perStep) return ref.g[i];
    const P = ctx.sizes[i];
    const out = new Float32Array(ctx.copies * P);
    for (let n = 0; n < ctx.copies; n++)
      for (let k = 0; k < P; k++) out[n * P + k] = ref.g[i][n * P + k] * ctx.h * ctx.weights[n];
    return out;
  });
  return { G, flowLoss: ref.lossAccurate, referenceError: ref.referenceError, nonFinite: ref.nonFinite };
}

/** The flow loss: copies interpolated in t, solved by the reference's RK4; NaN (n/a) with events, delays or integrals, which that solver does not run. */
export function flowLoss(ctx: TrainContext, values: Float32Array[]): number {
  if (isMapScheme(ctx.model.options.meth)) return NaN; // a map has no flow
  if (ctx.cm.timeStepping || ctx.cm.volterra) return NaN;
  return accurateLoss(ctx.tf, ctx.cm, referenceInput(ctx, values));
}
