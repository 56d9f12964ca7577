// Phase 6, confirmation and refinement (docs/design.md#detector): the same θ(t) re-solved at a second step
// count. Flagged (and borderline) parameters always get α at a second step count: a constant α means the
// oscillation does not vanish with h; an α that scales with h means an O(h) effect. Without a study that
// second level is N/2 (N ≥ 32, even: half the cost of the base solve, and the same information: α across a
// halving of h); with a study, its 2N level. A study re-solves with 2N, 4N, … steps, each with AD, the
// correction and the reference, and records the observed orders.
import type { Model } from '../model';
import type { ParameterReport } from '../report';
import { internalShape, type CompiledModel } from '../engine/compile';
import { continuousReference, type ReferenceResult } from '../engine/reference';
import { DETECTOR, relError } from '../engine/detect';
import {
  analyseLayers,
  copyLayout,
  detectLayers,
  FLOAT32_ERROR_FLOOR,
  studyOrders,
  type CopyLayout,
  type LayerResult,
} from '../engine/layerAnalysis';
import { adGradients, adjointCorrections, probeFor, type ParameterInputs } from './gradients';
import type { LayerAnalysis } from './layers';
import { MAX_CHECK_ELEMENTS, MAX_REFINEMENT_STEPS, MAX_STUDY_STEPS, MIN_COARSE_CONFIRM_STEPS } from './options';
import { resampleCopies } from './resample';
import type { CheckRun } from './run';
import { stiffBudgetMs } from './reference';

/** Which second step counts this check solves at. */
export interface ConfirmationPlan {
  /** Parameters with α above its threshold but β not: the second step count decides (docs/design.md#detector). */
  borderline: ParameterReport[];
  /** Levels of the requested refinement study (with reference and errors). */
  studyLevels: number;
  /** Confirm at N/2 (no study, N even and at least MIN_COARSE_CONFIRM_STEPS). */
  coarse: boolean;
  /** Levels 2N, 4N, … to solve: the study's, or 2N alone (α only) to confirm. */
  levels: number;
}

/**
 * β at or below which a borderline α is what uncorrelated copies give, not an oscillation the N/2 level could
 * confirm (docs/design.md#detector): white noise across the copies has β = 4 (its alternating and lag-2 parts
 * alike; trained weights' gradients look so), an alternating part of amplitude A over noise of size σ raises it
 * to 4·√(1 + A²/cσ²), and a smooth part lowers it. At β ≤ 5 (A²/cσ² ≤ 0.56) the N/2 level would need its noise to
 * shrink by more than half to reach β > 10, α there may grow at most by 1/0.7 (confirmWith), and the
 * densities' noise comes from the copies themselves, which N/2 re-samples (its smooth part grows there,
 * lowering β further). The 2N level of a study or of a short or odd N still takes every borderline parameter.
 */
export const BORDERLINE_BETA = 5;

export function confirmationPlan(
  run: Pick<CheckRun, 'model' | 'options'>,
  { results, parameters }: LayerAnalysis,
): ConfirmationPlan {
  const N = run.model.options.steps;
  const refinement = run.options.refinement;
  const flagged = parameters.filter((p) => p.oscillating);
  const borderline = parameters.filter((p, i) => !p.oscillating && results[i] && p.metrics.alpha > DETECTOR.alpha);
  const studyLevels =
    refinement === true ? 2 : typeof refinement === 'number' ? Math.max(0, Math.min(4, Math.floor(refinement))) : 0;
  const halving = studyLevels === 0 && N >= MIN_COARSE_CONFIRM_STEPS && N % 2 === 0 && N <= MAX_REFINEMENT_STEPS;
  // At N/2 only a borderline β above what noise gives can still be confirmed.
  const open = halving ? borderline.filter((p) => p.metrics.beta > BORDERLINE_BETA) : borderline;
  const confirm = flagged.length + open.length > 0;
  const coarse = confirm && halving;
  const levels = Math.max(studyLevels, confirm && !coarse && N <= MAX_REFINEMENT_STEPS ? 1 : 0);
  return { borderline: open, studyLevels, coarse, levels };
}

/**
 * Confirms or refines the layer analysis in place (refinedAlpha and refinedSteps, borderline parameters found
 * oscillating, the refinement study of each parameter) and returns it.
 */
export async function confirmationPhase(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  analysis: LayerAnalysis,
  ref: ReferenceResult | undefined,
): Promise<LayerAnalysis> {
  const { model, layout } = run;
  const N = model.options.steps;
  const plan = confirmationPlan(run, analysis);
  if (plan.coarse) {
    await run.phase();
    coarseConfirmation(run, cm, inputs, analysis, plan.borderline);
  }
  // Errors against the reference resolve nothing below float32 rounding or below the reference's own estimated error.
  const errorFloor = Math.max(FLOAT32_ERROR_FLOOR, Number.isFinite(ref?.referenceError) ? ref!.referenceError : 0);
  const perStepElements = model.params.reduce(
    (acc, p, i) => acc + (p.perStep ? (inputs.sizes[i] * layout.count) / N : 0),
    0,
  );
  for (let level = 1; level <= plan.levels; level++) {
    const N2 = 2 ** level * N;
    if (N2 > MAX_STUDY_STEPS || N2 * perStepElements > MAX_CHECK_ELEMENTS) break;
    await run.phase();
    const full = level <= plan.studyLevels; // with reference and errors, or α only
    const { results, shared } = refinementLevel(run, cm, inputs, level, full);
    if (level === 1) confirmWith(analysis, plan.borderline, N, N2, results);
    if (full) recordStudy(analysis, N, N2, results, shared, errorFloor);
  }
  return analysis;
}

/** The model, copy layout and parameter values of the same θ(t) at N2 steps of h2. */
function atSteps(
  run: CheckRun,
  inputs: ParameterInputs,
  N2: number,
  h2: number,
): { model2: Model; layout2: CopyLayout; values2: Float32Array[] } {
  const { model, scheme, layout } = run;
  const model2: Model = { ...model, options: { ...model.options, steps: N2, dt: h2 } };
  const layout2 = copyLayout(scheme, N2, h2, model.options.t0);
  const values2 = model.params.map((p, i) =>
    p.perStep
      ? resampleCopies(inputs.values[i], inputs.sizes[i], layout, layout2, !!inputs.referenceParams[i].equalCopies)
      : inputs.values[i],
  );
  return { model2, layout2, values2 };
}

/** α at N/2 for the flagged and borderline parameters (AD and the detector only). */
function coarseConfirmation(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  analysis: LayerAnalysis,
  borderline: ParameterReport[],
): void {
  const t = performance.now();
  const { tf, model, scheme, correction, edges } = run;
  const { steps: N, dt: h, gradfix } = model.options;
  const N2 = N / 2;
  const { model2, layout2, values2 } = atSteps(run, inputs, N2, 2 * h);
  const { G: G2 } = adGradients(tf, cm, scheme, model2, values2);
  const detected = model.params.map((p, i) =>
    p.perStep && analysis.results[i]
      ? detectLayers(G2[i], inputs.sizes[i], layout2, correction, gradfix, edges)
      : undefined,
  );
  confirmWith(analysis, borderline, N, N2, detected);
  run.timings.adMs += performance.now() - t;
}

/** One refinement level (2^level·N steps): the layer analysis of every per-step parameter, and the shared ones' errors (full levels only). */
function refinementLevel(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  level: number,
  full: boolean,
): { results: LayerResult[]; shared: number[] } {
  let t = performance.now();
  const { tf, model, scheme, correction, edges } = run;
  const { steps: N, dt: h, t0, gradfix } = model.options;
  const factor = 2 ** level;
  const N2 = factor * N,
    h2 = h / factor;
  const { model2, layout2, values2 } = atSteps(run, inputs, N2, h2);
  const { sizes } = inputs;
  const probe2 = full && correction === 'adjoint121' ? probeFor(tf, cm, model2) : undefined;
  try {
    const { G: G2, nu } = adGradients(tf, cm, scheme, model2, values2, probe2);
    const adj2 = probe2 && nu ? adjointCorrections(model2, layout2, sizes, probe2.probe, nu, edges) : [];
    run.timings.adMs += performance.now() - t;
    t = performance.now();
    const ref2 =
      // The adjoint reference only: a model without one, or whose reference came from refined grids, has none per level.
      full && run.options.reference !== false && !run.referenceUnavailable && !run.refinedReference
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
                initialValueAt: inputs.referenceParams[i].initialValueAt,
              })),
              stiffBudgetMs: stiffBudgetMs(run),
            },
            run.checkpoint,
          )
        : undefined;
    run.timings.referenceMs += performance.now() - t;
    const shared = model.params.map((p, i) => (!p.perStep && ref2 ? relError(G2[i], ref2.g[i]) : NaN));
    const results = model.params.map((p, i) =>
      p.perStep ? analyseLayers(G2[i], sizes[i], layout2, correction, gradfix, ref2?.g[i], adj2[i], edges) : undefined,
    ) as LayerResult[];
    return { results, shared };
  } finally {
    probe2?.probe.dispose();
  }
}

/** Records α at N2 steps for flagged parameters and confirms borderline ones whose α keeps its size. */
function confirmWith(
  analysis: LayerAnalysis,
  borderline: ParameterReport[],
  N: number,
  N2: number,
  res2: ({ alpha: number; oscillating: boolean } | undefined)[],
): void {
  const ratio = N2 / N; // an O(h) effect scales α by 1/ratio
  const keeps = (a: number, a2: number) => (ratio > 1 ? a2 >= 0.7 * a : a2 <= a / 0.7);
  analysis.parameters.forEach((p, i) => {
    const r2 = res2[i];
    if (!r2) return;
    if (p.oscillating) {
      p.metrics.refinedAlpha = r2.alpha;
      p.metrics.refinedSteps = N2;
    } else if (borderline.includes(p) && r2.oscillating && keeps(p.metrics.alpha, r2.alpha)) {
      // Confirmed: the alternating part keeps its size with the step halved (or doubled).
      p.oscillating = true;
      analysis.results[i]!.oscillating = true;
      p.metrics.refinedAlpha = r2.alpha;
      p.metrics.refinedSteps = N2;
    }
  });
}

/** Adds the N2 level to each parameter's refinement study (created with the N level on first use) and its observed orders. */
function recordStudy(
  analysis: LayerAnalysis,
  N: number,
  N2: number,
  res2: LayerResult[],
  shared2: number[],
  errorFloor: number,
): void {
  analysis.parameters.forEach((p, i) => {
    const r2: Pick<LayerResult, 'relError' | 'correctedRelError' | 'alpha' | 'kappa'> = res2[i] ?? {
      relError: shared2[i],
      correctedRelError: shared2[i],
      alpha: 0,
    };
    const r1 = analysis.results[i] ?? {
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
