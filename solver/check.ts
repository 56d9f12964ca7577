// runCheck: the engine's one entry point. Solves the model's discrete network,
// takes AD gradients through the unrolled solve, compares them with the
// continuous reference and with finite differences, runs the oscillation
// detector (docs/design.md#detector) and the correction (docs/design.md#corrections), and returns the
// typed Report (solver/report.ts).
import type { Diagnostic, Model, ParamDecl, Range } from './model';
import { findOption } from './model';
import {
  MAX_REPORTED_COMPONENTS,
  type Finding,
  type ParameterMetrics,
  type ParameterReport,
  type Report,
} from './report';
import { initBackend, sizeHint, type BackendPreference } from './engine/backend';
import type { TF, Tensor } from './engine/tf';
import { compileModel, CompileError, internalShape, sizeOf, type CompiledModel } from './engine/compile';
import { initialParameters } from './engine/parameters';
import { solveDiscrete } from './engine/integrate';
import { copiesPerParameter, copyTensors, discreteGradients, discreteLoss, paramsFor } from './engine/discrete';
import { finiteDifferenceCheck, GRADCHECK_TOLERANCE, MIN_RESOLUTION } from './engine/finiteDifferences';
import { continuousReference, equalCopies } from './engine/reference';
import { DETECTOR, largestColumns, relError, rows } from './engine/detect';
import { adjoint121, type Edges } from './engine/corrections';
import {
  analyseLayers,
  detectLayers,
  resample,
  copyLayout,
  correctionEdges,
  effectiveCorrection,
  FLOAT32_ERROR_FLOOR,
  recommendedFor,
  studyOrders,
  type CopyLayout,
  type LayerResult,
} from './engine/layerAnalysis';
import { stepAdjointProbe, type StepAdjointProbe } from './engine/stepAdjoint';
import { verdictFor, overallVerdict } from './engine/verdict';
import { schemeOf, type Scheme } from './schemes/schemes';
import { nonSmoothOperations } from './engine/kinks';
import {
  blowUpMessage,
  invalidOptionsMessage,
  nonFiniteMessage,
  REFERENCE_BLOW_UP_MESSAGE,
  tooLargeMessage,
  gradcheckMismatchMessage,
  gradcheckUnresolvedMessage,
  oscillatingGradientMessage,
  stageImbalanceMessage,
  studySentence,
  vanishingGradientMessage,
  weaklyStableSchemeMessage,
} from './presentation/findingText';

export interface CheckOptions {
  backend?: BackendPreference;
  signal?: AbortSignal;
  timeBudgetMs?: number;
  /**
   * Parameter values to check instead of the seeded initialisation (e.g. after
   * training): one Float32Array per model.params entry, row-major, N×P for
   * per-step parameters (copy n at offset n·P), P for shared ones.
   */
  parameterValues?: Float32Array[];
  /**
   * Refinement study (docs/design.md#detector): re-solve the same θ(t) with 2N and 4N steps
   * (true = up to 4N; a number = that many extra levels), each with AD, the
   * correction and the continuous reference, giving observed orders. Levels
   * beyond MAX_STUDY_STEPS steps or the element limit are skipped. Without
   * it, flagged parameters still get α at N/2 (N ≥ 32, even; else 2N) (refinedAlpha, refinedSteps).
   */
  refinement?: boolean | number;
  /** Skip the continuous reference (errors are then NaN); default true. */
  reference?: boolean;
  /** Skip the finite-difference gradcheck; default true. */
  gradcheck?: boolean;
}

/** Largest step count of a refinement-study level. */
export const MAX_STUDY_STEPS = 4096;

/** Size limits of one check (per-step copies count N times; the reference keeps up to 4 interpolated copies). */
export const MAX_CHECK_STEPS = 100_000;
export const MAX_CHECK_ELEMENTS = 10_000_000;

function namedError(name: 'CheckCancelled' | 'CheckTimeout', message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** First step whose state is not finite (re-solves without a tape; only on the failure path). */
function locateBlowUp(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  copies: Tensor[][],
): { step: number; state: number } | undefined {
  return tf.tidy(() => {
    const { steps: N, dt: h, t0 } = model.options;
    const at = paramsFor(model, copies);
    const traj = solveDiscrete(tf, cm, scheme, N, h, t0, at);
    const sums = tf.stack(traj.map((xs) => tf.stack(xs.map((x) => tf.sum(tf.abs(x)))))).dataSync();
    const S = cm.x0.length;
    for (let n = 0; n < traj.length; n++)
      for (let k = 0; k < S; k++) if (!Number.isFinite(sums[n * S + k])) return { step: n, state: k };
    return undefined;
  });
}

/** AD gradients of the discrete solve (engine/discrete.ts); with the adjoint121 probe also ν, copy-major: `count` rows of all state values. */
function adGradients(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  model: Model,
  values: Float32Array[],
  probe?: CopyProbe,
): { loss: number; G: Float32Array[]; nu?: Float32Array } {
  if (!probe) return discreteGradients(tf, cm, scheme, model, values);
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

/** Every value exactly zero (stops at the first that is not). */
function allZero(a: Float32Array): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== 0) return false;
  return true;
}

/** The step-adjoint probe and the copy index of the current solve's per-step tensors (by identity). */
interface CopyProbe {
  probe: StepAdjointProbe;
  index: Map<Tensor, number>;
}

/** The step-adjoint probe for adjoint121: copies identified by the first per-step parameter's tensors. */
function probeFor(tf: TF, cm: CompiledModel, model: Model): CopyProbe | undefined {
  const first = model.params.findIndex((p) => p.perStep);
  if (first < 0) return undefined;
  const index = new Map<Tensor, number>();
  return { probe: stepAdjointProbe(tf, cm, copiesPerParameter(model), (p) => index.get(p[first])), index };
}

/** adjoint121 values per per-step parameter (undefined for shared ones) from ν and the probe's per-layer vjps. */
function adjointCorrections(
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

/**
 * Per-step copies re-sampled at other (uniformly spaced) times by cubic Hermite interpolation with
 * centred slopes (Catmull–Rom: θ(t) is C¹, so a refinement study sees no kinks that the coarse
 * level's knots would otherwise leave in g(t)); linear extrapolation beyond the first/last copy.
 */
function resampleSmooth(values: Float32Array, P: number, from: number[], to: number[]): Float32Array {
  const N = from.length;
  if (N < 3) return resample(values, P, from, to);
  const out = new Float32Array(to.length * P);
  const dt = from[1] - from[0];
  to.forEach((t, m) => {
    const x = (t - from[0]) / dt;
    const o = m * P;
    if (x <= 0 || x >= N - 1) {
      const i = x <= 0 ? 0 : N - 2;
      const w = x - i;
      for (let k = 0; k < P; k++) out[o + k] = (1 - w) * values[i * P + k] + w * values[(i + 1) * P + k];
      return;
    }
    const i = Math.min(N - 2, Math.floor(x));
    const u = x - i,
      u2 = u * u,
      u3 = u2 * u;
    const h00 = 2 * u3 - 3 * u2 + 1,
      h10 = u3 - 2 * u2 + u,
      h01 = -2 * u3 + 3 * u2,
      h11 = u3 - u2;
    // Centred slopes, one-sided at the first and last copy: slope at i = (v[i+1] − v[i−1])/2, or v[1] − v[0];
    // at i+1 = (v[i+2] − v[i])/2, or v[N−1] − v[N−2]. Folded into one coefficient per row i−1 … i+2.
    const firstRow = i === 0,
      lastRow = i + 1 === N - 1;
    const cm = firstRow ? 0 : -0.5 * h10,
      c2 = lastRow ? 0 : 0.5 * h11;
    const c0 = h00 - (firstRow ? h10 : 0) - (lastRow ? h11 : 0.5 * h11);
    const c1 = h01 + (firstRow ? h10 : 0.5 * h10) + (lastRow ? h11 : 0);
    const rm = Math.max(0, i - 1) * P,
      r0 = i * P,
      r1 = (i + 1) * P,
      r2 = Math.min(N - 1, i + 2) * P;
    for (let k = 0; k < P; k++)
      out[o + k] = cm * values[rm + k] + c0 * values[r0 + k] + c1 * values[r1 + k] + c2 * values[r2 + k];
  });
  return out;
}

/**
 * Copies re-sampled to another step count, stage sequence by stage sequence (each has distinct, ascending times).
 * Equal copies (a tied flow, as initialised) stay the same copies: a view when there are fewer.
 */
function resampleCopies(
  values: Float32Array,
  P: number,
  from: CopyLayout,
  to: CopyLayout,
  equal: boolean,
): Float32Array {
  if (equal && to.count <= from.count) return values.subarray(0, to.count * P);
  if (from.stages === 1) return resampleSmooth(values, P, from.times, to.times);
  const s = from.stages;
  const out = new Float32Array(to.count * P);
  for (let i = 0; i < s; i++) {
    const pick = (l: CopyLayout, a: Float32Array) => {
      const r = new Float32Array(l.steps * P);
      for (let n = 0; n < l.steps; n++) r.set(a.subarray((n * s + i) * P, (n * s + i + 1) * P), n * P);
      return r;
    };
    const times = (l: CopyLayout) => Array.from({ length: l.steps }, (_, n) => l.times[n * s + i]);
    const r = resampleSmooth(pick(from, values), P, times(from), times(to));
    for (let n = 0; n < to.steps; n++) out.set(r.subarray(n * P, (n + 1) * P), (n * s + i) * P);
  }
  return out;
}

/** Largest N for which a flagged oscillation is confirmed by a second step count (N/2, or 2N below MIN_COARSE_CONFIRM_STEPS or for odd N). */
export const MAX_REFINEMENT_STEPS = 512;

/** From this N on (N even) a flagged oscillation is confirmed at N/2 instead of 2N when no study is requested. */
export const MIN_COARSE_CONFIRM_STEPS = 32;

/** α measured at N2 steps is what an O(h) effect gives (α·N/N2), not a constant α. */
function alphaDecays(alpha: number, refined: number, N2: number, N: number): boolean {
  return N2 > N ? refined < 0.65 * alpha : refined > alpha / 0.65;
}

function zeroMetrics(): ParameterMetrics {
  return { alpha: 0, beta: 0, relError: 0, correctedRelError: 0, gradcheckRelError: 0 };
}

function optionsRange(model: Model): Range | undefined {
  return (
    findOption(model, 'meth')?.valueRange ??
    model.optionLines[0]?.range ??
    model.params[0]?.range ??
    model.states[0]?.range
  );
}

const ORIGIN: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

export async function runCheck(model: Model, options: CheckOptions = {}): Promise<Report> {
  const started = performance.now();
  const deadline = options.timeBudgetMs !== undefined ? started + options.timeBudgetMs : Infinity;
  const checkpoint = () => {
    if (options.signal?.aborted) throw namedError('CheckCancelled', 'gradient check cancelled');
    if (performance.now() > deadline)
      throw namedError('CheckTimeout', `gradient check exceeded its time budget of ${options.timeBudgetMs} ms`);
  };
  const phase = async () => {
    await tick();
    checkpoint();
  };

  checkpoint();
  const { tf, backend } = await initBackend(options.backend ?? 'auto', sizeHint(model)); // auto: measured per size class
  const opt = model.options;
  const N = opt.steps,
    h = opt.dt,
    t0 = opt.t0;
  const scheme = schemeOf(model);
  const layout = copyLayout(scheme, N, h, t0);
  const edges = correctionEdges(scheme);
  const hasPerStep = model.params.some((p) => p.perStep);
  const recommended = recommendedFor(layout, hasPerStep);
  const { correction, note: correctionNote } = effectiveCorrection(opt.gradfix, layout, hasPerStep);
  const timings = { totalMs: 0, adMs: 0, referenceMs: 0, finiteDifferenceMs: 0 };
  const findings: Finding[] = [];
  const base = {
    version: 1 as const,
    scheme: opt.meth,
    steps: N,
    dt: h,
    t0,
    total: opt.total,
    gradfix: opt.gradfix,
    correction,
    backend,
    ...(recommended ? { recommendedCorrection: recommended } : {}),
  };
  const finish = (rest: Pick<Report, 'loss' | 'referenceError' | 'parameters' | 'verdict'>): Report => {
    timings.totalMs = performance.now() - started;
    return { ...base, ...rest, findings, timings };
  };
  const emptyReport = (loss: number) => finish({ loss, referenceError: 0, parameters: [] });

  if (!(N >= 1) || !(h > 0) || !Number.isFinite(h)) {
    findings.push({
      code: 'invalid-options',
      severity: 'error',
      message: invalidOptionsMessage(N, h),
      range: optionsRange(model) ?? ORIGIN,
    });
    return emptyReport(NaN);
  }

  const copyTotal = copiesPerParameter(model);
  const elements = model.params.reduce((acc, p) => acc + sizeOf(p.shape) * (p.perStep ? copyTotal : 1), 0);
  if (N > MAX_CHECK_STEPS || elements > MAX_CHECK_ELEMENTS) {
    findings.push({
      code: 'model-too-large',
      severity: 'error',
      message: tooLargeMessage(N, elements, MAX_CHECK_STEPS, MAX_CHECK_ELEMENTS),
      range: optionsRange(model) ?? ORIGIN,
    });
    return emptyReport(NaN);
  }

  // Without a loss the compiled model checks ½‖x(T)‖²; the front end says so (presentation/findingText.ts).
  let compiled: CompiledModel;
  try {
    ({ compiled } = compileModel(tf, model));
  } catch (err) {
    if (err instanceof CompileError) {
      findings.push({ code: err.code, severity: 'error', message: err.message, range: err.range });
      return emptyReport(NaN);
    }
    throw err;
  }
  const cm = compiled;
  let tensors: Tensor[][] | undefined;
  try {
    const values = options.parameterValues ?? initialParameters(tf, model);
    model.params.forEach((p, i) => {
      const want = (p.perStep ? copyTotal : 1) * sizeOf(p.shape);
      if (values[i]?.length !== want)
        throw new Error(`parameterValues[${i}] (${p.name}) has ${values[i]?.length} values, expected ${want}`);
    });
    const sizes = model.params.map((p) => sizeOf(p.shape));
    // Whether each per-step parameter's copies are all equal (the reference's grid and the refinement's re-sampling ask):
    // by construction for the seeded initialisation, else scanned once.
    const referenceParams = model.params.map((p, i) => {
      const q = { perStep: p.perStep, values: values[i], shape: internalShape(p.shape), size: sizes[i] };
      return { ...q, equalCopies: p.perStep && (!options.parameterValues || equalCopies(q, layout.count)) };
    });
    if (model.params.length === 0) {
      // Nothing to differentiate: solve and report the loss only.
      let loss = NaN;
      tf.tidy(() => {
        loss = discreteLoss(tf, cm, scheme, model, []).dataSync()[0];
      });
      if (!Number.isFinite(loss)) {
        const where = locateBlowUp(tf, cm, scheme, model, []);
        const state = where ? model.states[where.state] : undefined;
        findings.push({
          code: 'blow-up',
          severity: 'error',
          message:
            where && state
              ? blowUpMessage(state.name, where.step, t0 + where.step * h, opt.meth, h)
              : nonFiniteMessage('loss'),
          range: (state && model.equations.find((e) => e.state === state.name)?.range) ?? optionsRange(model) ?? ORIGIN,
        });
      }
      return emptyReport(loss);
    }
    // ---- AD through the unrolled solve ----
    await phase();
    let t = performance.now();
    const probe = correction === 'adjoint121' ? probeFor(tf, cm, model) : undefined;
    let adjointValues: (Float32Array | undefined)[] = [];
    let loss = NaN,
      G: Float32Array[] = [];
    try {
      const res = adGradients(tf, cm, scheme, model, values, probe);
      loss = res.loss;
      G = res.G;
      if (probe && res.nu && Number.isFinite(loss))
        adjointValues = adjointCorrections(model, layout, sizes, probe.probe, res.nu, edges);
    } finally {
      probe?.probe.dispose();
    }
    timings.adMs = performance.now() - t;

    const blowUp = (what: string): Report => {
      tensors = copyTensors(tf, model, values); // only on the failure path
      const where = locateBlowUp(tf, cm, scheme, model, tensors);
      if (where) {
        const state = model.states[where.state];
        const eq = model.equations.find((e) => e.state === state.name);
        const time = t0 + where.step * h;
        findings.push({
          code: 'blow-up',
          severity: 'error',
          message: blowUpMessage(state.name, where.step, time, opt.meth, h),
          range: eq?.range ?? optionsRange(model) ?? ORIGIN,
        });
      } else {
        findings.push({
          code: 'blow-up',
          severity: 'error',
          message: nonFiniteMessage(what),
          range: model.loss?.range ?? optionsRange(model) ?? ORIGIN,
        });
      }
      return emptyReport(loss);
    };
    if (!Number.isFinite(loss)) return blowUp('loss');
    for (let i = 0; i < G.length; i++) {
      if (!allFinite(G[i])) {
        findings.push({
          code: 'blow-up',
          severity: 'error',
          message: nonFiniteMessage(`AD gradient of ${model.params[i].name}`),
          range: model.params[i].range,
        });
        return emptyReport(loss);
      }
    }

    // ---- Continuous reference ----
    await phase();
    t = performance.now();
    const wantReference = options.reference !== false;
    const ref = wantReference
      ? continuousReference(tf, cm, { N, h, t0, layerTimes: layout.times, params: referenceParams }, checkpoint)
      : undefined;
    timings.referenceMs = performance.now() - t;

    // ---- Finite differences (gradcheck) ----
    await phase();
    t = performance.now();
    const gradcheck =
      options.gradcheck !== false ? finiteDifferenceCheck(tf, cm, scheme, model, values, G, loss) : undefined;
    timings.finiteDifferenceMs = performance.now() - t;
    await phase();

    // ---- Densities, correction, detector, metrics ----
    const results: (LayerResult | undefined)[] = model.params.map((p, i) =>
      p.perStep
        ? analyseLayers(G[i], sizes[i], layout, correction, opt.gradfix, ref?.g[i], adjointValues[i], edges)
        : undefined,
    );
    const parameters: ParameterReport[] = model.params.map((p, i) => {
      const P = sizes[i];
      const metrics = zeroMetrics();
      metrics.gradcheckRelError = gradcheck ? gradcheck[i].relError : NaN;
      if (gradcheck && !gradcheck[i].converged) metrics.gradcheckUnresolved = true;
      if (allZero(G[i])) metrics.vanishing = true;
      const r = results[i];
      if (!r) {
        metrics.relError = ref ? relError(G[i], ref.g[i]) : NaN;
        metrics.correctedRelError = metrics.relError;
        const row = [Array.from(G[i])];
        return {
          name: p.name,
          shape: p.shape,
          perStep: false,
          range: p.range,
          metrics,
          layerTimes: [],
          raw: row,
          corrected: row,
          reference: ref ? [Array.from(ref.g[i])] : [],
          oscillating: false,
        };
      }
      metrics.alpha = r.alpha;
      metrics.beta = r.beta;
      if (r.kappa !== undefined) metrics.kappa = r.kappa;
      metrics.relError = r.relError;
      metrics.correctedRelError = r.correctedRelError;
      const count = layout.count;
      const columns = largestColumns(ref ? ref.g[i] : r.d, count, P, MAX_REPORTED_COMPONENTS);
      return {
        name: p.name,
        shape: p.shape,
        perStep: true,
        range: p.range,
        metrics,
        layerTimes: layout.times,
        raw: rows(r.d, count, P, columns),
        corrected: rows(r.corrected, count, P, columns),
        reference: ref ? rows(ref.g[i], count, P, columns) : [],
        ...(columns ? { components: columns } : {}),
        oscillating: r.oscillating || r.stageImbalanced,
        ...(r.correctedTimes ? { correctedTimes: r.correctedTimes } : {}),
        ...(layout.perStage ? { stages: layout.stage } : {}),
      };
    });

    let flagged = parameters.filter((p) => p.oscillating);
    // Borderline tensors (α above its threshold, β not): refinement decides (docs/design.md#detector).
    const borderline = parameters.filter((p, i) => !p.oscillating && results[i] && p.metrics.alpha > DETECTOR.alpha);
    const studyLevels =
      options.refinement === true
        ? 2
        : typeof options.refinement === 'number'
          ? Math.max(0, Math.min(4, Math.floor(options.refinement)))
          : 0;

    // Refinement (docs/design.md#detector): the same θ(t) re-solved with 2N, 4N, … steps.
    // Flagged (and borderline) parameters always get α at a second step
    // count: a constant α means the oscillation does not vanish with h; an α
    // that scales with h means an O(h) effect. Without a study that second
    // level is N/2 (N ≥ 32, even: half the cost of the base solve, and the
    // same information: α across a halving of h); with a study, its 2N level.
    const confirm = flagged.length + borderline.length > 0;
    const coarseConfirm =
      confirm && studyLevels === 0 && N >= MIN_COARSE_CONFIRM_STEPS && N % 2 === 0 && N <= MAX_REFINEMENT_STEPS;
    const levels = Math.max(studyLevels, confirm && !coarseConfirm && N <= MAX_REFINEMENT_STEPS ? 1 : 0);
    const perStepElements = model.params.reduce(
      (acc, p, i) => acc + (p.perStep ? (sizes[i] * layout.count) / N : 0),
      0,
    );
    /** Records α at N2 steps for flagged parameters and confirms borderline ones whose α keeps its size. */
    const confirmWith = (N2: number, res2: ({ alpha: number; oscillating: boolean } | undefined)[]) => {
      const ratio = N2 / N; // an O(h) effect scales α by 1/ratio
      const keeps = (a: number, a2: number) => (ratio > 1 ? a2 >= 0.7 * a : a2 <= a / 0.7);
      parameters.forEach((p, i) => {
        const r2 = res2[i];
        if (!r2) return;
        if (p.oscillating) {
          p.metrics.refinedAlpha = r2.alpha;
          p.metrics.refinedSteps = N2;
        } else if (borderline.includes(p) && r2.oscillating && keeps(p.metrics.alpha, r2.alpha)) {
          // Confirmed: the alternating part keeps its size with the step halved (or doubled).
          p.oscillating = true;
          results[i]!.oscillating = true;
          p.metrics.refinedAlpha = r2.alpha;
          p.metrics.refinedSteps = N2;
        }
      });
    };
    if (coarseConfirm) {
      await phase();
      t = performance.now();
      const N2 = N / 2,
        h2 = 2 * h;
      const model2: Model = { ...model, options: { ...opt, steps: N2, dt: h2 } };
      const layout2 = copyLayout(scheme, N2, h2, t0);
      const values2 = model.params.map((p, i) =>
        p.perStep ? resampleCopies(values[i], sizes[i], layout, layout2, !!referenceParams[i].equalCopies) : values[i],
      );
      const { G: G2 } = adGradients(tf, cm, scheme, model2, values2);
      confirmWith(
        N2,
        model.params.map((p, i) =>
          p.perStep && results[i] ? detectLayers(G2[i], sizes[i], layout2, correction, opt.gradfix, edges) : undefined,
        ),
      );
      timings.adMs += performance.now() - t;
    }
    // Errors against the reference resolve nothing below float32 rounding or below the reference's own estimated error.
    const errorFloor = Math.max(FLOAT32_ERROR_FLOOR, Number.isFinite(ref?.referenceError) ? ref!.referenceError : 0);
    for (let level = 1; level <= levels; level++) {
      const factor = 2 ** level;
      const N2 = factor * N;
      if (N2 > MAX_STUDY_STEPS || N2 * perStepElements > MAX_CHECK_ELEMENTS) break;
      await phase();
      t = performance.now();
      const full = level <= studyLevels; // with reference and errors, or α only
      const h2 = h / factor;
      const model2: Model = { ...model, options: { ...opt, steps: N2, dt: h2 } };
      const layout2 = copyLayout(scheme, N2, h2, t0);
      const values2 = model.params.map((p, i) =>
        p.perStep ? resampleCopies(values[i], sizes[i], layout, layout2, !!referenceParams[i].equalCopies) : values[i],
      );
      const probe2 = full && correction === 'adjoint121' ? probeFor(tf, cm, model2) : undefined;
      let res2: LayerResult[] = [];
      let shared2: number[] = [];
      try {
        const { G: G2, nu } = adGradients(tf, cm, scheme, model2, values2, probe2);
        const adj2 = probe2 && nu ? adjointCorrections(model2, layout2, sizes, probe2.probe, nu, edges) : [];
        timings.adMs += performance.now() - t;
        t = performance.now();
        const ref2 =
          full && wantReference
            ? continuousReference(
                tf,
                cm,
                {
                  N: N2,
                  h: h2,
                  t0,
                  layerTimes: layout2.times,
                  params: model.params.map((p, i) => ({
                    perStep: p.perStep,
                    values: values2[i],
                    shape: internalShape(p.shape),
                    size: sizes[i],
                  })),
                },
                checkpoint,
              )
            : undefined;
        timings.referenceMs += performance.now() - t;
        shared2 = model.params.map((p, i) => (!p.perStep && ref2 ? relError(G2[i], ref2.g[i]) : NaN));
        res2 = model.params.map((p, i) =>
          p.perStep
            ? analyseLayers(G2[i], sizes[i], layout2, correction, opt.gradfix, ref2?.g[i], adj2[i], edges)
            : undefined,
        ) as LayerResult[];
      } finally {
        probe2?.probe.dispose();
      }
      if (level === 1) confirmWith(N2, res2);
      parameters.forEach((p, i) => {
        const r2: Pick<LayerResult, 'relError' | 'correctedRelError' | 'alpha' | 'kappa'> | undefined =
          res2[i] ?? (full ? { relError: shared2[i], correctedRelError: shared2[i], alpha: 0 } : undefined);
        if (!r2) return;
        if (!full) return;
        const r1 = results[i] ?? {
          relError: p.metrics.relError,
          correctedRelError: p.metrics.relError,
          alpha: 0,
          kappa: undefined,
        };
        const study = p.refinement ?? {
          levels: [
            {
              steps: N,
              relError: r1.relError,
              correctedRelError: r1.correctedRelError,
              alpha: r1.alpha,
              ...(r1.kappa !== undefined ? { kappa: r1.kappa } : {}),
            },
          ],
          rawOrders: [],
          correctedOrders: [],
          rawOrder: NaN,
          correctedOrder: NaN,
          errorFloor,
        };
        study.levels.push({
          steps: N2,
          relError: r2.relError,
          correctedRelError: r2.correctedRelError,
          alpha: r2.alpha,
          ...(r2.kappa !== undefined ? { kappa: r2.kappa } : {}),
        });
        const raw = studyOrders(
          study.levels.map((l) => l.relError),
          errorFloor,
        );
        const corrected = studyOrders(
          study.levels.map((l) => l.correctedRelError),
          errorFloor,
        );
        Object.assign(study, {
          rawOrders: raw.orders,
          rawOrder: raw.order,
          correctedOrders: corrected.orders,
          correctedOrder: corrected.order,
        });
        p.refinement = study;
      });
    }
    flagged = parameters.filter((p) => p.oscillating);
    if (correctionNote && opt.gradfix !== 'none') {
      findings.push({
        code: 'correction-substituted',
        severity: 'information',
        message: correctionNote,
        range: findOption(model, 'gradfix')?.valueRange ?? optionsRange(model) ?? ORIGIN,
      });
    }
    for (const p of flagged) {
      const m = p.metrics;
      const i = model.params.findIndex((q) => q.name === p.name);
      const r = results[i]!;
      const study = studySentence(p, correction);
      if (r.oscillating) {
        const decays = m.refinedAlpha !== undefined && alphaDecays(m.alpha, m.refinedAlpha, m.refinedSteps ?? 2 * N, N);
        findings.push({
          code: 'oscillating-gradient',
          severity: decays ? 'information' : 'warning',
          parameter: p.name,
          metrics: m,
          range: p.range,
          message: oscillatingGradientMessage({
            name: p.name,
            metrics: m,
            gradfix: opt.gradfix,
            correction,
            steps: N,
            decays,
            study,
          }),
        });
      }
      if (r.stageImbalanced) {
        findings.push({
          code: 'stage-imbalance',
          severity: 'warning',
          parameter: p.name,
          metrics: m,
          range: p.range,
          message: stageImbalanceMessage({
            name: p.name,
            metrics: m,
            gradfix: opt.gradfix,
            correction,
            recommended: recommended ?? correction,
            study,
          }),
        });
      }
    }
    const oscillatingFlagged = flagged.filter(
      (p) => results[model.params.findIndex((q) => q.name === p.name)]?.oscillating,
    );
    if (oscillatingFlagged.length > 0 && layout.weaklyStable) {
      const worst = oscillatingFlagged.reduce((a, b) => (b.metrics.relError > a.metrics.relError ? b : a));
      findings.push({
        code: 'weakly-stable-scheme',
        severity: 'warning',
        parameter: worst.name,
        metrics: worst.metrics,
        range: optionsRange(model) ?? worst.range,
        message: weaklyStableSchemeMessage({
          meth: opt.meth,
          flagged: oscillatingFlagged.map((p) => p.name),
          worst: worst.name,
          metrics: worst.metrics,
          steps: N,
          gradfix: opt.gradfix,
          grad: opt.grad,
          correction,
          recommended,
        }),
      });
    }
    // Zero-weight copies are flagged statically by the front end (schemes/analysis.ts); here they shape the verdict.
    const kinks = nonSmoothOperations(model);
    parameters.forEach((p, i) => {
      p.verdict = verdictFor(p, {
        gradfix: opt.gradfix,
        correction,
        recommended,
        scheme: opt.meth,
        zeroWeightCopies: results[i]?.zeroWeightCopies ?? 0,
        stageImbalanced: results[i]?.stageImbalanced ?? false,
        oscillating: results[i]?.oscillating ?? false,
        hasReference: !!ref,
        referenceError: ref?.referenceError ?? NaN,
        kinks,
        steps: N,
      });
    });
    parameters.forEach((p, i) => {
      if (p.metrics.vanishing) {
        // Finite differences and the reference agree with a zero gradient: what matters is that there is none.
        findings.push({
          code: 'vanishing-gradient',
          severity: kinks.length > 0 ? 'warning' : 'information',
          parameter: p.name,
          metrics: p.metrics,
          range: p.range,
          message: vanishingGradientMessage(p.name, kinks),
        });
      } else if (p.metrics.gradcheckUnresolved && gradcheck) {
        const g = gradcheck[i];
        findings.push({
          code: 'gradcheck-unresolved',
          severity: 'information',
          parameter: p.name,
          metrics: p.metrics,
          range: p.range,
          message: gradcheckUnresolvedMessage({
            name: p.name,
            relError: p.metrics.gradcheckRelError,
            step: g.step,
            resolution: g.resolution,
            tooSmall: g.resolution < MIN_RESOLUTION,
            kinks,
          }),
        });
      } else if (p.metrics.gradcheckRelError > GRADCHECK_TOLERANCE) {
        findings.push({
          code: 'gradcheck-mismatch',
          severity: 'warning',
          parameter: p.name,
          metrics: p.metrics,
          range: p.range,
          message: gradcheckMismatchMessage(p.name, p.metrics.gradcheckRelError, kinks),
        });
      }
    });
    if (ref?.nonFinite) {
      findings.push({
        code: 'blow-up',
        severity: 'error',
        message: REFERENCE_BLOW_UP_MESSAGE,
        range: optionsRange(model) ?? ORIGIN,
      });
    }
    return finish({
      loss,
      referenceError: ref?.referenceError ?? NaN,
      parameters,
      verdict: overallVerdict(parameters),
    });
  } finally {
    if (tensors) tf.dispose(tensors.flat());
    cm.dispose();
  }
}

export type { Diagnostic, ParamDecl };
