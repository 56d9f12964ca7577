// Phase 2, discrete solve + AD: the parameter values, the AD gradients through the unrolled solve
// (engine/discrete.ts) with, for adjoint121, the step-adjoint probe's corrected values, and the blow-up
// findings when the loss or a gradient is not finite.
import type { Model, Range } from '../model';
import type { Finding } from '../report';
import type { TF, Tensor } from '../engine/tf';
import { internalShape, sizeOf, type CompiledModel } from '../engine/compile';
import { initialParameters } from '../engine/parameters';
import { solveDiscrete, type ParamsFor } from '../engine/integrate';
import { wholeTrajectory } from '../engine/lazySteps';
import { copiesPerParameter, copyTensors, discreteGradients, discreteLoss, paramsFor } from '../engine/discrete';
import { equalCopies, type ReferenceInput } from '../engine/reference';
import { adjoint121, type Edges } from '../engine/corrections';
import type { CopyLayout } from '../engine/layerAnalysis';
import { stepAdjointProbe, type StepAdjointProbe } from '../engine/stepAdjoint';
import type { Scheme } from '../schemes/schemes';
import {
  blowUpMessage,
  initialRhsMessage,
  newtonFailureMessage,
  algebraicFailureMessage,
  nonFiniteGradientMessage,
  nonFiniteMessage,
} from '../presentation/findingText';
import { NEWTON_TOLERANCE, newtonFailure } from '../engine/implicitStep';
import { algebraicFailure, clearAlgebraicFailure } from '../engine/algebraic';
import { optionsRange, type CheckRun } from './run';
import { formatNumber } from '../presentation/format';
import { workClock } from '../engine/work';
import { firingsOf } from '../engine/finiteDifferences';
import type { Firings } from '../engine/scalarKernel/events';

/** The values checked, per parameter (model.params order). */
export interface ParameterInputs {
  values: Float32Array[];
  /** Elements of one copy. */
  sizes: number[];
  /** The reference's view of each parameter, with whether its per-step copies are all equal. */
  referenceParams: ReferenceInput['params'];
}

/** The given (or seeded) values, checked against the model's shapes and copy count. */
export function parameterInputs(run: CheckRun, cm: CompiledModel): ParameterInputs {
  const { tf, model, options, layout } = run;
  const values = options.parameterValues ?? startingValues(tf, model, cm);
  model.params.forEach((p, i) => {
    const want = (p.perStep ? run.copies : 1) * sizeOf(p.shape);
    if (values[i]?.length !== want)
      throw new Error(`parameterValues[${i}] (${p.name}) has ${values[i]?.length} values, expected ${want}`);
  });
  const sizes = model.params.map((p) => sizeOf(p.shape));
  // Whether each per-step parameter's copies are all equal (the reference's grid and the refinement's re-sampling ask):
  // by construction for the seeded initialisation, else scanned once.
  // Each state's offset among all states' elements (an initial value's place in p(t0)).
  const stateAt = new Map<string, number>();
  let at = 0;
  for (const s of model.states) {
    stateAt.set(s.name, at);
    at += sizeOf(s.shape);
  }
  const referenceParams = model.params.map((p, i) => {
    const q = { perStep: p.perStep, values: values[i], shape: internalShape(p.shape), size: sizes[i] };
    const initialValueAt = p.initialValueOf !== undefined ? stateAt.get(p.initialValueOf) : undefined;
    return {
      ...q,
      equalCopies: p.perStep && (!options.parameterValues || equalCopies(q, layout.count)),
      ...(initialValueAt !== undefined ? { initialValueAt } : {}),
    };
  });
  return { values, sizes, referenceParams };
}

/** The seeded parameters; a state's initial value checked as a parameter starts at the compiled initial state. */
function startingValues(tf: TF, model: Model, cm: CompiledModel): Float32Array[] {
  if (!model.params.some((p) => p.initialValueOf !== undefined)) return initialParameters(tf, model);
  return model.params.map((p) => {
    const k = model.states.findIndex((s) => s.name === p.initialValueOf);
    return Float32Array.from(cm.x0[k].dataSync());
  });
}

/** The AD phase's result: the discrete loss, its gradient per parameter, and adjoint121's values per per-step parameter. */
export interface AdGradients {
  loss: number;
  G: Float32Array[];
  /** adjoint121 only (else empty): the corrected values of each per-step parameter, undefined for shared ones. */
  adjointValues: (Float32Array | undefined)[];
  /** The firings of AD's forward solve, the unperturbed one of finite differences (finiteDifferenceWork's `unperturbed`). */
  unperturbed?: { firings?: Firings };
}

export function adPhase(run: CheckRun, cm: CompiledModel, inputs: ParameterInputs): AdGradients {
  const clock = workClock();
  const { tf, model, scheme, layout, edges } = run;
  const probe = run.correction === 'adjoint121' ? probeFor(tf, cm, model) : undefined;
  try {
    // Without a probe, AD's solve is finite differences' unperturbed one (the same model on the same values), except
    // in a DAE: its Newton solves start from the previous evaluation's algebraic values, so that finite differences'
    // numbers depend on the solves before theirs, the unperturbed one among them.
    const unperturbed = !probe && !model.algebraic;
    const { result, firings } = unperturbed
      ? firingsOf(cm, scheme, () => adGradients(tf, cm, scheme, model, inputs.values))
      : { result: adGradients(tf, cm, scheme, model, inputs.values, probe), firings: undefined };
    const { loss, G, nu } = result;
    const adjointValues =
      probe && nu && Number.isFinite(loss)
        ? adjointCorrections(model, layout, inputs.sizes, probe.probe, nu, edges)
        : [];
    return { loss, G, adjointValues, ...(unperturbed ? { unperturbed: { firings } } : {}) };
  } finally {
    probe?.probe.dispose();
    run.timings.adMs = clock.wallMs();
    run.adWorkMs = clock.workMs();
  }
}

/** A model without parameters: only its loss, and the blow-up finding when that is not finite. */
export function lossOnly(run: CheckRun, cm: CompiledModel): { loss: number; findings: Finding[] } {
  const { tf, scheme, model } = run;
  const { meth } = model.options;
  let loss = NaN;
  tf.tidy(() => {
    loss = discreteLoss(tf, cm, scheme, model, []).dataSync()[0];
  });
  if (Number.isFinite(loss)) {
    const nothing: Finding = {
      code: 'nothing-to-check',
      severity: 'information',
      message: `Nothing to check: the model has neither a parameter nor a state whose initial value it sets, so there is no gradient to compare; the solve runs (${meth}, ${model.options.steps} steps) and its loss is ${formatNumber(loss, 5)}. Declare a \`par\` (or an initial value) to check its gradient.`,
      range: model.equations[0]?.range ?? optionsRange(model),
    };
    return { loss, findings: [nothing] };
  }
  const where = locateBlowUp(tf, cm, scheme, model, []);
  const finding: Finding = {
    code: 'blow-up',
    severity: 'error',
    ...(where ? blowUpAt(cm, model, where) : { message: nonFiniteMessage('loss'), range: optionsRange(model) }),
  };
  return { loss, findings: [finding] };
}

/** The blow-up finding when the loss or a gradient is not finite (the first state and step that blew up, when found). */
export function blowUpFinding(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
): Finding | undefined {
  const { tf, scheme, model } = run;
  if (!Number.isFinite(ad.loss)) {
    const tensors = copyTensors(tf, model, inputs.values); // only on the failure path
    let where: BlowUp | undefined;
    try {
      where = locateBlowUp(tf, cm, scheme, model, tensors);
    } finally {
      tf.dispose(tensors.flat());
    }
    if (!where)
      return {
        code: 'blow-up',
        severity: 'error',
        message: nonFiniteMessage('loss'),
        range: model.loss?.range ?? optionsRange(model),
      };
    return { code: 'blow-up', severity: 'error', ...blowUpAt(cm, model, where) };
  }
  const i = ad.G.findIndex((g) => !allFinite(g));
  if (i < 0) return undefined;
  return {
    code: 'blow-up',
    severity: 'error',
    message: nonFiniteGradientMessage(model.params[i].name, ad.loss, model.options.total),
    range: model.params[i].range,
  };
}

/** Where a solve stopped being finite: its first step and state, and f's own state when f(x0) is not finite. */
interface BlowUp {
  step: number;
  state: number;
  initial?: { rhsState: number; start: string };
}

/**
 * The blow-up finding's message and line for a located blow-up: f not finite at the initial state; a backward
 * Euler step that Newton's method did not solve (on the state whose equation kept the largest residual); else the
 * first state that is not finite blew up.
 */
function blowUpAt(cm: CompiledModel, model: Model, where: BlowUp): { message: string; range: Range } {
  const { dt: h, t0, meth } = model.options;
  const time = t0 + where.step * h;
  const at = (k: number, message: string) => ({
    message,
    range: model.equations.find((e) => e.state === model.states[k].name)?.range ?? optionsRange(model),
  });
  if (where.initial)
    return at(
      where.initial.rhsState,
      initialRhsMessage(model.states[where.initial.rhsState].name, t0, where.initial.start),
    );
  // A DAE's algebraic equations Newton's method did not solve within the step (at one of its stages): on that `0 =` line.
  const program = cm.wholeSolve?.program;
  const unsolved = program && model.algebraic ? algebraicFailure(program) : undefined;
  if (
    unsolved &&
    unsolved.t > time - h - 1e-9 * Math.max(1, Math.abs(time)) &&
    unsolved.t <= time + 1e-9 * Math.max(1, Math.abs(time))
  ) {
    const names = model.algebraic?.variables.map((v) => v.name) ?? [];
    return {
      message: algebraicFailureMessage(names, where.step, unsolved, meth, h),
      range: model.algebraic?.equations[unsolved.equation]?.range ?? optionsRange(model),
    };
  }
  const failed = newtonFailure(cm);
  if (meth === 'backeul' && failed && Math.abs(failed.t - time) <= 1e-9 * Math.max(1, Math.abs(time))) {
    let k = 0,
      rest = failed.element;
    while (k < cm.x0.length - 1 && rest >= cm.x0[k].size) rest -= cm.x0[k++].size;
    const name = cm.x0[k].size > 1 ? `${model.states[k].name}[${rest}]` : model.states[k].name;
    return at(k, newtonFailureMessage(name, where.step, time, h, failed.residual, failed.iterations, NEWTON_TOLERANCE));
  }
  return at(where.state, blowUpMessage(model.states[where.state].name, where.step, time, meth, h));
}

/** First step whose state is not finite (re-solves without a tape; only on the failure path). */
function locateBlowUp(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, copies: Tensor[][]): BlowUp | undefined {
  return tf.tidy(() => {
    const { steps: N, dt: h, t0 } = model.options;
    const at = paramsFor(model, copies);
    // A DAE's first Newton failure of this solve names the step (blowUpAt).
    if (cm.wholeSolve?.program) clearAlgebraicFailure(cm.wholeSolve.program);
    const traj = solveDiscrete(tf, cm, scheme, N, h, t0, at);
    const S = cm.x0.length;
    const sums = stateSums(tf, cm, traj);
    for (let n = 0; n < traj.length; n++)
      for (let k = 0; k < S; k++)
        if (!Number.isFinite(sums[n * S + k]))
          return { step: n, state: k, ...(n === 1 ? initialRhs(tf, cm, model, traj[0], at, t0) : {}) };
    return undefined;
  });
}

/**
 * Σ|x| per step and state tensor, [(N + 1)·S] (float32: a sum past its range is not finite either): from the solve's
 * whole trajectory in one read when it has one (a kernel per step and state was 0.23 s of a blown-up check of 4000
 * steps, a CPU profile), else per step.
 */
function stateSums(tf: TF, cm: CompiledModel, traj: Tensor[][]): Float32Array {
  const whole = wholeTrajectory(traj);
  const sizes = cm.x0.map((x) => x.size),
    width = sizes.reduce((a, b) => a + b, 0),
    S = sizes.length;
  if (!whole || whole.shape[0] !== traj.length || whole.shape[1] !== width)
    return tf.stack(traj.map((xs) => tf.stack(xs.map((x) => tf.sum(tf.abs(x)))))).dataSync() as Float32Array;
  const d = whole.dataSync();
  const sums = new Float32Array(traj.length * S);
  for (let n = 0; n < traj.length; n++)
    for (let k = 0, at = n * width; k < S; at += sizes[k++]) {
      // As TF.js cpu's sum: in order, in double, stored as float32.
      let s = 0;
      for (let e = 0; e < sizes[k]; e++) s += Math.abs(d[at + e]);
      sums[n * S + k] = s;
    }
  return sums;
}

/**
 * When the first step is not finite, whether f itself is not finite at the initial state (x = 0 in sin(1/x)):
 * no step size helps there. The start's values as `name = value`, for the message. Volterra models have no
 * plain f to evaluate.
 */
function initialRhs(
  tf: TF,
  cm: CompiledModel,
  model: Model,
  x0: Tensor[],
  at: ParamsFor,
  t0: number,
): { initial?: { rhsState: number; start: string } } {
  if (cm.volterra) return {};
  try {
    const f = cm.rhs(x0, at(0), t0).map((v) => tf.sum(tf.abs(v)).dataSync()[0]);
    const rhsState = f.findIndex((v) => !Number.isFinite(v));
    if (rhsState < 0) return {};
    const values = x0.map((x) => x.dataSync());
    const start = model.states
      .slice(0, 4)
      .map((st, k) => `${st.name} = ${values[k].length === 1 ? formatNumber(values[k][0]) : '…'}`)
      .join(', ');
    return { initial: { rhsState, start: model.states.length > 4 ? `${start}, …` : start } };
  } catch {
    return {};
  }
}

/** Every value finite: Σ a_k·0 stays 0 exactly then (Inf·0 and NaN·0 are NaN); four sums, twice as fast as a test per value. */
function allFinite(a: Float32Array): boolean {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    k = 0;
  for (; k + 4 <= a.length; k += 4) {
    s0 += a[k] * 0;
    s1 += a[k + 1] * 0;
    s2 += a[k + 2] * 0;
    s3 += a[k + 3] * 0;
  }
  for (; k < a.length; k++) s0 += a[k] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/** The step-adjoint probe and the copy index of the current solve's per-step tensors (by identity). */
interface CopyProbe {
  probe: StepAdjointProbe;
  index: Map<Tensor, number>;
}

/** The step-adjoint probe for adjoint121: copies identified by the first per-step parameter's tensors. */
export function probeFor(tf: TF, cm: CompiledModel, model: Model): CopyProbe | undefined {
  const first = model.params.findIndex((p) => p.perStep);
  if (first < 0) return undefined;
  const index = new Map<Tensor, number>();
  return { probe: stepAdjointProbe(tf, cm, copiesPerParameter(model), (p) => index.get(p[first])), index };
}

/** AD gradients of the discrete solve (engine/discrete.ts); with the adjoint121 probe also ν, copy-major: `count` rows of all state values. */
export function adGradients(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  probe?: CopyProbe,
  seen?: (traj: Tensor[][]) => void,
): { loss: number; G: Float32Array[]; nu?: Float32Array } {
  if (!probe) return discreteGradients(tf, cm, scheme, model, values, undefined, seen);
  const first = model.params.findIndex((p) => p.perStep);
  const probes = probe.probe.probes;
  const { loss, G, extraGrads } = discreteGradients(tf, probe.probe.cm, scheme, model, values, {
    sources: probes,
    begin: (copies) => {
      probe.index.clear();
      copies[first].forEach((t, n) => probe.index.set(t, n));
      probe.probe.begin();
    },
  });
  const count = copiesPerParameter(model);
  const per = probes.map((e) => e.size / count);
  const S = per.reduce((a, b) => a + b, 0);
  const nu = new Float32Array(count * S);
  let o = 0;
  extraGrads.forEach((d, k) => {
    if (d) for (let n = 0; n < count; n++) nu.set(d.subarray(n * per[k], (n + 1) * per[k]), n * S + o);
    o += per[k];
  });
  return { loss, G, nu };
}

/** adjoint121 values per per-step parameter (undefined for shared ones) from ν and the probe's per-layer vjps. */
export function adjointCorrections(
  model: Model,
  layout: CopyLayout,
  sizes: number[],
  probe: StepAdjointProbe,
  nu: Float32Array,
  edges: Edges,
): (Float32Array | undefined)[] {
  const which = model.params.map((p, i) => (p.perStep ? i : -1)).filter((i) => i >= 0);
  const count = layout.count;
  const S = nu.length / count;
  const m = new Float32Array(nu.length);
  for (let j = 0; j < count; j++) {
    const s = 1 / (layout.h * (layout.weights[j] || 1));
    for (let k = 0; k < S; k++) m[j * S + k] = nu[j * S + k] * s;
  }
  const out = adjoint121(
    m,
    count,
    S,
    which.map((i) => sizes[i]),
    (n, cot) => probe.vjp(n, cot, which),
    edges,
  );
  const res: (Float32Array | undefined)[] = model.params.map(() => undefined);
  which.forEach((i, j) => {
    res[i] = out[j];
  });
  return res;
}
