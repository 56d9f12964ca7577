// Phase 5, layer analysis: per per-step parameter the densities, the correction, the detector and the errors
// against the reference (engine/layerAnalysis.ts); per parameter its metrics and the rows the report carries.
import type { ParamDecl } from '../model';
import { CORRECTED_NORM_ERROR, MAX_REPORTED_COMPONENTS, type ParameterMetrics, type ParameterReport } from '../report';
import type { ReferenceResult } from '../engine/reference';
import type { GradcheckResult } from '../engine/finiteDifferences';
import { detectOscillation, largestColumns, relError, rows } from '../engine/detect';
import { analyseLayers, postProcessingErrors, type CopyLayout, type LayerResult } from '../engine/layerAnalysis';
import type { AdGradients, ParameterInputs } from './gradients';
import type { CheckRun } from './run';

/** Per parameter (model.params order): the layer analysis (per-step parameters only) and the report's entry. */
export interface LayerAnalysis {
  results: (LayerResult | undefined)[];
  parameters: ParameterReport[];
}

export function analysisPhase(
  run: CheckRun,
  inputs: ParameterInputs,
  ad: AdGradients,
  ref: ReferenceResult | undefined,
  gradcheck: GradcheckResult[] | undefined,
): LayerAnalysis {
  const { model, layout, correction, edges } = run;
  const { G } = ad;
  const results: (LayerResult | undefined)[] = model.params.map((p, i) =>
    p.perStep
      ? analyseLayers(
          G[i],
          inputs.sizes[i],
          layout,
          correction,
          model.options.gradfix,
          ref?.g[i],
          ad.adjointValues[i],
          edges,
        )
      : undefined,
  );
  const parameters = model.params.map((p, i) => {
    const metrics: ParameterMetrics = { alpha: 0, beta: 0, relError: 0, correctedRelError: 0, gradcheckRelError: 0 };
    metrics.gradcheckRelError = gradcheck ? gradcheck[i].relError : NaN;
    if (gradcheck && !gradcheck[i].converged) metrics.gradcheckUnresolved = true;
    if (allZero(G[i])) metrics.vanishing = true;
    const r = results[i];
    const g = ref?.g[i];
    if (r && g) {
      // filter121 as the analysis applied it (adjoint121 without its values falls back to it) is priced already.
      const filtered =
        !layout.perStage &&
        !r.correctedTimes &&
        (correction === 'filter121' || (correction === 'adjoint121' && !ad.adjointValues[i]));
      metrics.correctionErrors = postProcessingErrors(G[i], inputs.sizes[i], layout, g, edges, () => r.d, {
        ...(filtered ? { filter121: r.correctedRelError } : {}),
        ...(r.averageRelError !== undefined ? { average: r.averageRelError } : {}),
      });
    }
    if (r && !layout.perStage) zigzagCopies(metrics, inputs.values[i], inputs.sizes[i]);
    return r
      ? perStepReport(p, metrics, r, inputs.sizes[i], layout, ref?.g[i])
      : sharedReport(p, metrics, G[i], ref?.g[i]);
  });
  return { results, parameters };
}

/**
 * The detector on the copies themselves, one row per step: seeded copies are equal (α = 0), independent random ones
 * are white noise (β ≈ 4, under the threshold); a period-2 pattern in the values is what raw AD under a weakly
 * stable scheme trains into them (docs/design.md#training-consequence).
 */
function zigzagCopies(metrics: ParameterMetrics, values: Float32Array, P: number): void {
  const z = detectOscillation(values, values.length / P, P);
  if (!z.oscillating) return;
  metrics.copiesAlpha = z.alpha;
  metrics.copiesBeta = z.beta;
}

/** The 2-norm of rows of values. */
function norm(rows: ArrayLike<number>[]): number {
  let s = 0;
  for (const row of rows) for (let k = 0; k < row.length; k++) s += row[k] * row[k];
  return Math.sqrt(s);
}

/** A shared parameter: one row, its error against the reference's ∫g dt (no correction applies). */
function sharedReport(
  p: ParamDecl,
  metrics: ParameterMetrics,
  G: Float32Array,
  g: Float32Array | undefined,
): ParameterReport {
  metrics.relError = g ? relError(G, g) : NaN;
  metrics.correctedRelError = metrics.relError;
  const row = [Array.from(G)];
  return {
    name: p.name,
    shape: p.shape,
    perStep: false,
    range: p.range,
    metrics,
    layerTimes: [],
    raw: row,
    corrected: row,
    reference: g ? [Array.from(g)] : [],
    oscillating: false,
    ...(p.initialValueOf !== undefined ? { initialValueOf: p.initialValueOf } : {}),
  };
}

/** A per-step parameter: the detector's figures and a row per copy (at most MAX_REPORTED_COMPONENTS components). */
function perStepReport(
  p: ParamDecl,
  metrics: ParameterMetrics,
  r: LayerResult,
  P: number,
  layout: CopyLayout,
  g: Float32Array | undefined,
): ParameterReport {
  metrics.alpha = r.alpha;
  metrics.beta = r.beta;
  if (r.kappa !== undefined) metrics.kappa = r.kappa;
  metrics.relError = r.relError;
  metrics.correctedRelError = r.correctedRelError;
  if (g && r.oscillating && r.correctedRelError >= CORRECTED_NORM_ERROR)
    metrics.correctedNormRatio = norm(r.correctedRows()) / norm([g]);
  const count = layout.count;
  const columns = largestColumns(g ? g : r.d, count, P, MAX_REPORTED_COMPONENTS);
  return {
    name: p.name,
    shape: p.shape,
    perStep: true,
    range: p.range,
    metrics,
    layerTimes: layout.times,
    raw: r.rawRows(columns),
    corrected: r.correctedRows(columns),
    reference: g ? rows(g, count, P, columns) : [],
    ...(columns ? { components: columns } : {}),
    oscillating: r.oscillating || r.stageImbalanced,
    ...(r.correctedTimes ? { correctedTimes: r.correctedTimes } : {}),
    ...(layout.perStage ? { stages: layout.stage } : {}),
  };
}

/** Every value exactly zero (stops at the first that is not). */
function allZero(a: Float32Array): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== 0) return false;
  return true;
}

/**
 * A map's layer analysis: its per-iteration gradients are exact for the map, and a sign that alternates from one
 * iteration to the next is the map's own (x(t+1) = −0.9 x), not a parasitic mode of a discretisation, so nothing is
 * flagged, the detector's α and β are not given, and no step refinement is tried (a map has no step to refine).
 */
export function mapAnalysis(analysis: LayerAnalysis): LayerAnalysis {
  for (const r of analysis.results) if (r) Object.assign(r, { oscillating: false, stageImbalanced: false });
  for (const p of analysis.parameters) {
    p.oscillating = false;
    if (p.perStep) Object.assign(p.metrics, { alpha: NaN, beta: NaN });
  }
  return analysis;
}
