// Phase 4, finite differences (gradcheck): the AD gradients against central differences of the same
// discrete loss (engine/finiteDifferences.ts), unless the caller skipped it; its passes at finer steps within a time
// budget proportional to the AD solve's measured cost (FD_BUDGET_FACTOR, at least FD_MIN_BUDGET_MS).
import type { CompiledModel } from '../engine/compile';
import {
  FD_BUDGET_FACTOR,
  FD_MIN_BUDGET_MS,
  finiteDifferenceCheck,
  type GradcheckResult,
} from '../engine/finiteDifferences';
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
      ? finiteDifferenceCheck(
          run.tf,
          cm,
          run.scheme,
          run.model,
          inputs.values,
          ad.G,
          ad.loss,
          'auto',
          run.options.finiteDifferenceBudgetMs ?? Math.max(FD_MIN_BUDGET_MS, FD_BUDGET_FACTOR * run.adWorkMs),
        )
      : undefined;
  run.timings.finiteDifferenceMs = performance.now() - t;
  return gradcheck;
}
