// runCheck: the engine's one entry point, the pipeline of the check's phases (solver/check/, one file each):
// compile, discrete solve + AD, continuous reference, finite differences, layer analysis (densities, the
// correction (docs/design.md#corrections), the oscillation detector (docs/design.md#detector)), confirmation
// and refinement, findings. It returns the typed Report (solver/report.ts). Between phases it yields and
// checks for cancellation and the time budget.
import type { Diagnostic, Model, ParamDecl } from './model';
import type { Finding, Report } from './report';
import { initBackend, sizeHint } from './engine/backend';
import { nonSmoothOperations } from './engine/kinks';
import { overallVerdict } from './engine/verdict';
import type { CheckOptions } from './check/options';
import { checkRun, emptyReport, finishReport, optionsRange, pacing, type CheckRun } from './check/run';
import { SolveMemoryExceeded } from './engine/memoryGuard';
import { solveMemoryMessage } from './presentation/findingText';
import { compilePhase } from './check/compile';
import { adPhase, blowUpFinding, lossOnly, parameterInputs } from './check/gradients';
import { referencePhase } from './check/reference';
import { gradcheckPhase } from './check/finiteDifferences';
import { analysisPhase, mapAnalysis } from './check/layers';
import { isMapScheme } from './schemes/registry';
import { confirmationPhase } from './check/confirmation';
import { assignVerdicts, findingsPhase, type Measurements } from './check/findings';
import type { CompiledModel } from './engine/compile';
import { statePathRows } from './check/statePaths';
import { rhsPathOf } from './engine/scalarKernel/solve';
import { volterraFindings, volterraPath } from './check/volterra';
import { withInitialValues } from './check/initialValues';

export {
  type CheckOptions,
  type CheckPhase,
  MAX_CHECK_ELEMENTS,
  MAX_CHECK_STEPS,
  MAX_TRAIN_STEPS,
  MAX_REFINEMENT_STEPS,
  MAX_STUDY_STEPS,
  MIN_COARSE_CONFIRM_STEPS,
} from './check/options';

export async function runCheck(declared: Model, given: CheckOptions = {}): Promise<Report> {
  const started = performance.now();
  // No parameter declared: the initial values are checked in their place (check/initialValues.ts).
  const initial = withInitialValues(declared);
  const model = initial ?? declared;
  // Values given for the declared (empty) parameter list do not apply to the initial values.
  const options: CheckOptions =
    initial && given.parameterValues ? { ...given, parameterValues: undefined, parameterSource: undefined } : given;
  const pace = pacing(options, started);
  pace.checkpoint();
  const handle = await initBackend(options.backend ?? 'auto', sizeHint(model)); // auto: measured per size class
  const run = checkRun(handle, model, options, started, pace);
  const compiled = compilePhase(run);
  // The report says why its backend runs (a rule, a remembered or a fresh measurement, a fallback).
  const reason = handle.reason ? { backendReason: handle.reason } : {};
  if ('refused' in compiled) return { ...emptyReport(run, NaN, [compiled.refused]), ...reason };
  // The report says how its discrete solves ran (one op for the whole solve, or per evaluation, and why).
  const probed = run.correction === 'adjoint121' && model.params.some((p) => p.perStep);
  const solvePath = volterraPath(compiled.cm) ?? rhsPathOf(compiled.cm, run.scheme, probed);
  try {
    const report = await measure(run, compiled.cm);
    const volterra = volterraFindings(model, compiled.cm);
    return { ...report, findings: [...report.findings, ...volterra], ...reason, ...solvePath };
  } catch (e) {
    if (!(e instanceof SolveMemoryExceeded)) throw e;
    const finding: Finding = {
      code: 'model-too-large',
      severity: 'error',
      message: solveMemoryMessage(e.step, e.steps, e.heapMb, e.limitMb),
      range: optionsRange(model),
    };
    return { ...emptyReport(run, NaN, [finding]), ...reason, ...solvePath };
  } finally {
    compiled.cm.dispose();
  }
}

/** The phases after compiling, on the compiled model (the caller disposes it). */
async function measure(run: CheckRun, cm: CompiledModel): Promise<Report> {
  const { model } = run;
  const inputs = parameterInputs(run, cm);
  if (model.params.length === 0) {
    // Nothing to differentiate: solve and report the loss only.
    const { loss, findings } = lossOnly(run, cm);
    return emptyReport(run, loss, findings);
  }
  const phase = run.options.onPhase ?? (() => {});
  phase('solve');
  await run.phase();
  const ad = adPhase(run, cm, inputs);
  const blowUp = blowUpFinding(run, cm, inputs, ad);
  if (blowUp) return emptyReport(run, ad.loss, [blowUp]);
  phase('reference');
  await run.phase();
  const ref = referencePhase(run, cm, inputs, ad);
  phase('finite differences');
  await run.phase();
  const gradcheck = gradcheckPhase(run, cm, inputs, ad);
  phase('analysis');
  await run.phase();
  const layers = analysisPhase(run, inputs, ad, ref, gradcheck);
  const analysis = isMapScheme(model.options.meth)
    ? mapAnalysis(layers)
    : await confirmationPhase(run, cm, inputs, layers, ref);
  const measurements: Measurements = { analysis, gradcheck, ref, kinks: nonSmoothOperations(model) };
  assignVerdicts(run, measurements);
  const findings = findingsPhase(run, measurements);
  const { parameters } = analysis;
  return finishReport(
    run,
    {
      loss: ad.loss,
      referenceError: ref?.referenceError ?? NaN,
      parameters,
      verdict: overallVerdict(parameters),
      statePaths: statePathRows(model, ref?.paths),
    },
    findings,
  );
}

export type { Diagnostic, ParamDecl };
