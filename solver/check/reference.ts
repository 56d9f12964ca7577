// Phase 3, the continuous reference: the gradient of the ODE flow the discrete gradients are compared with
// (engine/reference.ts), unless the caller skipped it or the model has none (check/referenceAvailability.ts); for a map
// (no flow) the map's own adjoint (engine/mapReference.ts); for Volterra integrals and delays, the limit of refined
// grids (check/refinedReference.ts).
import type { CompiledModel } from '../engine/compile';
import { continuousReference, type ReferenceResult } from '../engine/reference';
import { mapReference } from '../engine/mapReference';
import { isMapScheme } from '../schemes/registry';
import type { AdGradients, ParameterInputs } from './gradients';
import { refinedCause, unrefinedReference } from './referenceAvailability';
import { refinedReference } from './refinedReference';
import type { CheckRun } from './run';

export function referencePhase(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
): ReferenceResult | undefined {
  const t = performance.now();
  try {
    if (run.options.reference === false || run.referenceUnavailable) return undefined;
    const refinable = refinedCause(run.model);
    if (refinable) {
      const outcome = refinedReference(run, cm, inputs, ad, refinable.cause === 'volterra');
      if ('unavailable' in outcome) {
        run.referenceUnavailable = unrefinedReference(run.model, outcome.unavailable);
        return undefined;
      }
      run.refinedReference = outcome.refined;
      return outcome.ref;
    }
    const { steps: N, dt: h, t0 } = run.model.options;
    return (isMapScheme(run.model.options.meth) ? mapReference : continuousReference)(
      run.tf,
      cm,
      { N, h, t0, layerTimes: run.layout.times, params: inputs.referenceParams },
      run.checkpoint,
    );
  } finally {
    run.timings.referenceMs = performance.now() - t;
  }
}
