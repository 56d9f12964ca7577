// Phase 3, the continuous reference: the gradient of the ODE flow the discrete gradients are compared with
// (engine/reference.ts), unless the caller skipped it or the model has none (check/referenceAvailability.ts); for a map
// (no flow) the map's own adjoint (engine/mapReference.ts).
import type { CompiledModel } from '../engine/compile';
import { continuousReference, type ReferenceResult } from '../engine/reference';
import { mapReference } from '../engine/mapReference';
import { eventReference } from '../engine/eventReference';
import { eventsUnavailable } from './referenceAvailability';
import { isMapScheme } from '../schemes/registry';
import type { ParameterInputs } from './gradients';
import type { CheckRun } from './run';

export function referencePhase(run: CheckRun, cm: CompiledModel, inputs: ParameterInputs): ReferenceResult | undefined {
  const t = performance.now();
  const { steps: N, dt: h, t0 } = run.model.options;
  const events = run.model.events?.[0];
  if (events && run.options.reference !== false && !run.referenceUnavailable) {
    // Events located at their firing times (engine/eventReference.ts); a firing it cannot differentiate says why.
    const r = eventReference(
      run.tf,
      run.model,
      cm,
      {
        N,
        h,
        t0,
        layerTimes: run.layout.times,
        params: inputs.referenceParams,
      },
      run.checkpoint,
    );
    if ('reason' in r)
      run.referenceUnavailable = eventsUnavailable(r.reason, run.model.events![r.event]?.range ?? events.range);
    run.timings.referenceMs = performance.now() - t;
    return 'result' in r ? r.result : undefined;
  }
  const ref =
    run.options.reference !== false && !run.referenceUnavailable
      ? (isMapScheme(run.model.options.meth) ? mapReference : continuousReference)(
          run.tf,
          cm,
          { N, h, t0, layerTimes: run.layout.times, params: inputs.referenceParams },
          run.checkpoint,
        )
      : undefined;
  run.timings.referenceMs = performance.now() - t;
  return ref;
}
