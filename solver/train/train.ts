// train(model, options): gradient descent (Adam or SGD) on the discrete loss
// with a chosen gradient engine (raw AD, AD + a correction, or the continuous
// adjoint). Deterministic: the start is the model's seeded initialisation and
// nothing else is random. Each iteration records, at the parameters before
// its update: the discrete loss, the flow loss (the same copies interpolated
// in t and solved accurately by the reference's RK4) and the total variation
// Σ_n ‖θ_{n+1} − θ_n‖₁ of each per-step parameter across layers (docs/design.md#training-consequence:
// raw AD on leapfrog makes it large; a flow has it small).
import { realiseMarkov } from '../engine/markov';
import { referenceUnavailable } from '../check/referenceAvailability';
import type { DiagnosticCode, Model, Shape } from '../model';
import { TRAINING_CORRECTIONS, type TrainingCorrection } from '../registry/corrections';
import { initBackend, sizeHint, type BackendPreference } from '../engine/backend';
import { compileModel, CompileError, sizeOf, type CompiledModel } from '../engine/compile';
import type { TF } from '../engine/tf';
import { MAX_CHECK_ELEMENTS, MAX_TRAIN_STEPS } from '../check';
import { initialParameters } from '../engine/parameters';
import { copiesPerParameter } from '../engine/discrete';
import { schemeOf, type Scheme } from '../schemes/schemes';
import { parameterCopies } from '../schemes/copies';
import { makeOptimizer, type OptimizerName } from './optimizers';
import {
  adGradient,
  adjointGradient,
  correctGradient,
  discreteLoss,
  flowLoss,
  type TrainContext,
  type TrainGradient,
} from './gradients';

export interface TrainOptions {
  iterations?: number;
  optimizer?: OptimizerName;
  learningRate?: number;
  /** Default: `adjoint` when the model says grad=adjoint, its gradfix when that is filter121/average, else raw `ad`. */
  gradient?: TrainGradient;
  backend?: BackendPreference;
  signal?: AbortSignal;
  timeBudgetMs?: number;
  /** Compute the flow loss every k-th iteration (and at the end); default 1. */
  flowEvery?: number;
  onIteration?: (record: IterationRecord) => void;
  /** Start from these values instead of the seeded initialisation (layout as CheckOptions.parameterValues). */
  initial?: Float32Array[];
}

export interface IterationRecord {
  iteration: number;
  /** Discrete loss at the parameters before this iteration's update. */
  loss: number;
  /** Flow loss at the same parameters (NaN on iterations where it is skipped). */
  flowLoss: number;
  /** Per per-step parameter: Σ_n ‖θ_{n+1} − θ_n‖₁. */
  totalVariation: Record<string, number>;
  gradientNorm: number;
  /** The continuous reference's own error estimate (gradient=adjoint only). */
  referenceError?: number;
}

export interface LearnedParameter {
  name: string;
  shape: Shape;
  perStep: boolean /** One row per copy (one row for shared). */;
  values: number[][];
}

export interface TrainResult {
  stopped: 'completed' | 'cancelled' | 'timeout' | 'diverged';
  message?: string;
  backend: string;
  gradient: TrainGradient;
  optimizer: OptimizerName;
  learningRate: number;
  iterations: number;
  history: IterationRecord[];
  /** At the learned parameters. */
  final: { loss: number; flowLoss: number; totalVariation: Record<string, number> };
  parameters: LearnedParameter[];
  /** The learned values in engine layout (for runCheck's parameterValues). */
  values: Float32Array[];
}

/** Refused before anything is allocated, or the model cannot be compiled. */
export class TrainError extends Error {
  constructor(
    message: string,
    readonly code: DiagnosticCode,
  ) {
    super(message);
    this.name = 'TrainError';
  }
}

/** Σ over consecutive copies (layer order) of ‖θ_{n+1} − θ_n‖₁, per per-step parameter (`copies` per parameter). */
export function totalVariation(model: Model, values: Float32Array[], copies: number): Record<string, number> {
  const N = copies;
  const out: Record<string, number> = {};
  model.params.forEach((p, i) => {
    if (!p.perStep) return;
    const P = sizeOf(p.shape),
      v = values[i];
    let s = 0;
    for (let n = 0; n + 1 < N; n++) for (let k = 0; k < P; k++) s += Math.abs(v[(n + 1) * P + k] - v[n * P + k]);
    out[p.name] = s;
  });
  return out;
}

export function defaultGradient(model: Model): TrainGradient {
  if (model.options.grad === 'adjoint') return 'adjoint';
  const fix = model.options.gradfix;
  return (TRAINING_CORRECTIONS as readonly string[]).includes(fix) ? (fix as TrainingCorrection) : 'ad';
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The options with their defaults. */
type TrainSettings = Required<
  Pick<TrainOptions, 'iterations' | 'optimizer' | 'learningRate' | 'gradient' | 'flowEvery'>
>;

function trainSettings(model: Model, options: TrainOptions): TrainSettings {
  return {
    iterations: options.iterations ?? 100,
    optimizer: options.optimizer ?? 'adam',
    learningRate: options.learningRate ?? 1e-2,
    gradient: options.gradient ?? defaultGradient(model),
    flowEvery: Math.max(1, Math.floor(options.flowEvery ?? 1)),
  };
}

/** Refuses, before any allocation, what cannot be trained; returns the model's scheme. */
function refuseUntrainable(model: Model, { iterations, learningRate, gradient }: TrainSettings): Scheme {
  const { steps: N, dt: h } = model.options;
  const noReference = gradient === 'adjoint' ? referenceUnavailable(model) : undefined;
  if (noReference)
    throw new TrainError(
      `the continuous adjoint is not available here: ${noReference.reason}; train with ad`,
      'reference-unavailable',
    );
  if (!(Number.isInteger(iterations) && iterations >= 0))
    throw new TrainError(`iterations must be a whole number ≥ 0, not ${iterations}`, 'invalid-options');
  if (!(learningRate > 0) || !Number.isFinite(learningRate))
    throw new TrainError(`the learning rate must be positive, not ${learningRate}`, 'invalid-options');
  if (!(N >= 1) || !(h > 0) || !Number.isFinite(h))
    throw new TrainError(`cannot solve with steps=${N} and dt=${h}`, 'invalid-options');
  const elements = model.params.reduce(
    (acc, p) => acc + sizeOf(p.shape) * (p.perStep ? copiesPerParameter(model) : 1),
    0,
  );
  if (N > MAX_TRAIN_STEPS || elements > MAX_CHECK_ELEMENTS) {
    throw new TrainError(
      `Too large to train: ${N} steps and ${elements} parameter values (limits ${MAX_TRAIN_STEPS} steps, ${MAX_CHECK_ELEMENTS} values).`,
      'model-too-large',
    );
  }
  if (model.params.length === 0) throw new TrainError('the model has no parameters to train', 'no-parameters');
  try {
    return schemeOf(model);
  } catch (e) {
    throw new TrainError((e as Error).message, 'unsupported-scheme');
  }
}

function compileForTraining(tf: TF, model: Model): CompiledModel {
  try {
    return compileModel(tf, model).compiled;
  } catch (e) {
    if (e instanceof CompileError) throw new TrainError(e.message, e.code);
    throw e;
  }
}

/** The context of the gradient engines, and the starting values (a copy: training updates them in place). */
function trainingStart(
  tf: TF,
  cm: CompiledModel,
  model: Model,
  scheme: Scheme,
  gradient: TrainGradient,
  initial?: Float32Array[],
): { ctx: TrainContext; values: Float32Array[] } {
  const { steps: N, dt: h, t0 } = model.options;
  const pc = parameterCopies(scheme, N, h, t0);
  const ctx: TrainContext = {
    tf,
    cm,
    model,
    scheme,
    N,
    h,
    t0,
    copies: pc.count,
    taus: pc.times,
    weights: pc.weights,
    sizes: model.params.map((p) => sizeOf(p.shape)),
  };
  if (gradient !== 'ad' && gradient !== 'adjoint' && pc.count !== N) {
    throw new TrainError(
      `${gradient} corrects one copy per step; with tie=stage train with ad or adjoint`,
      'invalid-options',
    );
  }
  const values = (initial ?? initialParameters(tf, model)).map((v) => Float32Array.from(v));
  model.params.forEach((p, i) => {
    const want = (p.perStep ? pc.count : 1) * ctx.sizes[i];
    if (values[i]?.length !== want)
      throw new TrainError(
        `initial values of ${p.name}: ${values[i]?.length} values, expected ${want}`,
        'invalid-options',
      );
  });
  return { ctx, values };
}

/** What one iteration measures at the current values: the loss, the gradient the optimiser steps along, the flow loss (or NaN). */
interface Measured {
  loss: number;
  G: Float32Array[];
  flow: number;
  referenceError?: number;
}

function measure(
  ctx: TrainContext,
  values: Float32Array[],
  settings: TrainSettings,
  it: number,
  interrupt: () => void,
): Measured {
  const { gradient } = settings;
  if (gradient === 'adjoint') {
    const a = adjointGradient(ctx, values, interrupt);
    return { G: a.G, flow: a.flowLoss, referenceError: a.referenceError, loss: discreteLoss(ctx, values) };
  }
  const { loss, G } = adGradient(ctx, values);
  return {
    loss,
    G: gradient !== 'ad' ? correctGradient(ctx, G, gradient) : G,
    flow: it % settings.flowEvery === 0 ? flowLoss(ctx, values) : NaN,
  };
}

function iterationRecord(ctx: TrainContext, values: Float32Array[], it: number, m: Measured): IterationRecord {
  let sq = 0;
  for (const g of m.G) for (let k = 0; k < g.length; k++) sq += g[k] * g[k];
  const record: IterationRecord = {
    iteration: it,
    loss: m.loss,
    flowLoss: m.flow,
    totalVariation: totalVariation(ctx.model, values, ctx.copies),
    gradientNorm: Math.sqrt(sq),
  };
  if (m.referenceError !== undefined) record.referenceError = m.referenceError;
  return record;
}

/** The learned values, one row per copy (one row for shared parameters). */
function learnedParameters(ctx: TrainContext, values: Float32Array[]): LearnedParameter[] {
  return ctx.model.params.map((p, i) => {
    const P = ctx.sizes[i];
    const count = p.perStep ? ctx.copies : 1;
    return {
      name: p.name,
      shape: p.shape,
      perStep: p.perStep,
      values: Array.from({ length: count }, (_, n) => Array.from(values[i].subarray(n * P, (n + 1) * P))),
    };
  });
}

export async function train(declared: Model, options: TrainOptions = {}): Promise<TrainResult> {
  const started = performance.now();
  const settings = trainSettings(declared, options);
  const { iterations, optimizer, learningRate, gradient } = settings;
  const scheme = refuseUntrainable(declared, settings);
  const { tf, backend } = await initBackend(options.backend ?? 'auto', sizeHint(declared));
  // Markov variables: the path a check at the starting values draws, held fixed through training (engine/markov.ts).
  const model = declared.markov?.length
    ? realiseMarkov(tf, declared, options.initial ?? initialParameters(tf, declared)).model
    : declared;
  const cm = compileForTraining(tf, model);
  const deadline = options.timeBudgetMs !== undefined ? started + options.timeBudgetMs : Infinity;
  const stopReason = (): TrainResult['stopped'] | undefined =>
    options.signal?.aborted ? 'cancelled' : performance.now() > deadline ? 'timeout' : undefined;
  const interrupt = () => {
    const r = stopReason();
    if (r) throw Object.assign(new Error(r), { name: 'TrainStopped', reason: r });
  };

  try {
    const { ctx, values } = trainingStart(tf, cm, model, scheme, gradient, options.initial);
    const opt = makeOptimizer(optimizer, learningRate);
    const history: IterationRecord[] = [];
    let stopped: TrainResult['stopped'] = 'completed';
    let message: string | undefined;
    for (let it = 0; it < iterations; it++) {
      await tick();
      const r = stopReason();
      if (r) {
        stopped = r;
        break;
      }
      let m: Measured;
      try {
        m = measure(ctx, values, settings, it, interrupt);
      } catch (e) {
        if ((e as Error).name === 'TrainStopped') {
          stopped = (e as Error & { reason: TrainResult['stopped'] }).reason;
          break;
        }
        throw e;
      }
      const record = iterationRecord(ctx, values, it, m);
      history.push(record);
      options.onIteration?.(record);
      if (!Number.isFinite(m.loss) || !Number.isFinite(record.gradientNorm)) {
        stopped = 'diverged';
        message = `training diverged at iteration ${it}: the ${Number.isFinite(m.loss) ? 'gradient' : 'loss'} is not finite (lower the learning rate)`;
        break;
      }
      opt.step(values, m.G);
    }
    if (stopped === 'cancelled') message = 'training cancelled';
    if (stopped === 'timeout') message = `training exceeded its time budget of ${options.timeBudgetMs} ms`;
    const final = {
      loss: discreteLoss(ctx, values),
      flowLoss: flowLoss(ctx, values),
      totalVariation: totalVariation(model, values, ctx.copies),
    };
    return {
      stopped,
      message,
      backend,
      gradient,
      optimizer,
      learningRate,
      iterations: history.length,
      history,
      final,
      parameters: learnedParameters(ctx, values),
      values,
    };
  } finally {
    cm.dispose();
  }
}
