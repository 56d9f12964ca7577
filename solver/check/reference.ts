// Phase 3, the continuous reference: the gradient of the ODE flow the discrete gradients are compared with
// (engine/reference.ts), unless the caller skipped it or the model has none (check/referenceAvailability.ts); for a map
// (no flow) the map's own adjoint (engine/mapReference.ts), with events stepped back through their resets; for events, the adjoint with jump conditions at the
// located firings (engine/eventReference.ts); for Volterra integrals and delays, the limit of refined grids
// (check/refinedReference.ts).
import type { CompiledModel } from '../engine/compile';
import {
  continuousReference,
  STIFF_REFERENCE_BUDGET_MS,
  type ReferenceResult,
  type StiffReference,
} from '../engine/reference';
import { mapEventsReference, mapReference } from '../engine/mapReference';
import { eventReference } from '../engine/eventReference';
import { unperturbedFirings } from '../engine/finiteDifferences';
import { isMapScheme } from '../schemes/registry';
import type { AdGradients, ParameterInputs } from './gradients';
import { eventsUnavailable, mapEventsUnavailable, refinedCause, unrefinedReference } from './referenceAvailability';
import { refinedReference } from './refinedReference';
import { optionsRange, type CheckRun } from './run';
import { referenceBlowUpMessage } from '../presentation/findingText';

/**
 * `ad` gives AD's result, which only the refined references read (a second thread may run this phase before AD
 * is done: check/thread.ts).
 */
export function referencePhase(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: () => AdGradients,
): ReferenceResult | undefined {
  const t = performance.now();
  try {
    if (run.options.reference === false || run.referenceUnavailable) return undefined;
    const { model } = run;
    const { steps: N, dt: h, t0 } = model.options;
    const input = {
      N,
      h,
      t0,
      layerTimes: run.layout.times,
      params: inputs.referenceParams,
      stiffBudgetMs: stiffBudgetMs(run),
    };
    const events = model.events?.[0];
    if (events && isMapScheme(model.options.meth)) {
      // The map's adjoint through the resets at the network's firing iterations (engine/mapReference.ts).
      const r = mapEventsReference(run.tf, model, cm, input, run.checkpoint);
      if ('reason' in r) {
        run.referenceUnavailable = mapEventsUnavailable(r.reason, model.events![r.event]?.range ?? events.range);
        return undefined;
      }
      run.eventReference = { firings: r.firings.firings, steps: N };
      run.mapEventEdges = r.firings.edges;
      return r.result;
    }
    if (events) {
      // Events located at their firing times (engine/eventReference.ts); a firing it cannot differentiate says why.
      const r = eventReference(run.tf, model, cm, input, run.checkpoint, () =>
        unperturbedFirings(run.tf, cm, run.scheme, model, inputs.values),
      );
      if ('reason' in r) {
        run.referenceUnavailable = eventsUnavailable(r.reason, model.events![r.event]?.range ?? events.range);
        return undefined;
      }
      run.eventReference = { firings: r.result.events?.firings ?? 0, steps: r.result.gridTimes.length - 1 };
      return r.result;
    }
    const refinable = refinedCause(model);
    if (refinable) {
      const outcome = refinedReference(run, cm, inputs, ad(), refinable.cause);
      if ('unavailable' in outcome) {
        run.referenceUnavailable = unrefinedReference(model, outcome.unavailable);
        return undefined;
      }
      run.refinedReference = outcome.refined;
      return outcome.ref;
    }
    const ref = isMapScheme(model.options.meth)
      ? mapReference(run.tf, model, cm, input, run.checkpoint)
      : continuousReference(run.tf, cm, input, run.checkpoint);
    // Its explicit solve blew up where the model's own did not (that stops the check before), and no stable step
    // of its own fitted the budget. A model checked by an implicit scheme (stable at any step) gets the limit of that
    // scheme's refined grids instead; else no reference.
    if (ref.nonFinite && !Number.isFinite(ref.lossAccurate)) {
      const implicit = run.scheme.kind === 'rk' && !!run.scheme.implicit && !model.params.some((p) => p.perStep);
      const refined = implicit ? refinedReference(run, cm, inputs, ad(), 'stiff') : undefined;
      if (refined && 'ref' in refined) {
        run.refinedReference = refined.refined;
        return refined.ref;
      }
      run.referenceUnavailable = {
        cause: 'unstable',
        reason: "its accurate solve (explicit RK4 on a finer step) blows up while the model's own solve stays finite",
        message: referenceBlowUpMessage(ref.stiff && stiffFigures(ref.stiff), refined?.unavailable),
        range: optionsRange(model),
      };
      return undefined;
    }
    if (ref.stiff?.solved)
      run.stiffReference = {
        spectralRadius: ref.stiff.spectralRadius,
        usualSteps: ref.stiff.usualSteps,
        steps: ref.stiff.steps,
      };
    return ref;
  } finally {
    run.timings.referenceMs = performance.now() - t;
  }
}

/** The time the reference of a stiff model may spend on a stable step: its own budget, at most half the time left. */
export function stiffBudgetMs(run: CheckRun): number {
  const { timeBudgetMs, stiffReferenceBudgetMs } = run.options;
  const left = timeBudgetMs !== undefined ? (timeBudgetMs - (performance.now() - run.started)) / 2 : Infinity;
  return Math.max(0, Math.min(stiffReferenceBudgetMs ?? STIFF_REFERENCE_BUDGET_MS, left));
}

/** The figures of a stable step that was not solved, for the reference-unavailable note. */
function stiffFigures(s: StiffReference) {
  return {
    spectralRadius: s.spectralRadius,
    usualSteps: s.usualSteps,
    stiffAtStart: s.stiffAtStart,
    steps: s.steps,
    seconds: s.ms / 1000,
    budgetSeconds: s.budgetMs / 1000,
    refused: s.refused ?? 'unstable',
  };
}
