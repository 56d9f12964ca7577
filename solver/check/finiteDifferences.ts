// Phase 4, finite differences (gradcheck): the AD gradients against central differences of the same
// discrete loss (engine/finiteDifferences.ts), unless the caller skipped it.
import type { CompiledModel } from '../engine/compile';
import { finiteDifferenceCheck, type GradcheckResult } from '../engine/finiteDifferences';
import type { AdGradients, ParameterInputs } from './gradients';
import type { CheckRun } from './run';

export function gradcheckPhase(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
): GradcheckResult[] | undefined {
  const t = performance.now();
  const gradcheck =
    run.options.gradcheck !== false
      ? finiteDifferenceCheck(run.tf, cm, run.scheme, run.model, inputs.values, ad.G, ad.loss)
      : undefined;
  run.timings.finiteDifferenceMs = performance.now() - t;
  return gradcheck;
}
