// runCheck: the engine's one entry point, the pipeline of the check's phases (solver/check/, one file each):
// compile, discrete solve + AD, continuous reference, finite differences, layer analysis (densities, the
// correction (docs/design.md#corrections), the oscillation detector (docs/design.md#detector)), confirmation
// and refinement, findings. It returns the typed Report (solver/report.ts). Between phases it yields and
// checks for cancellation and the time budget.
import { findOption, type Diagnostic, type Model, type ParamDecl } from './model';
import type { Finding, Report } from './report';
import { initBackend, sizeHint } from './engine/backend';
import { nonSmoothOperations } from './engine/kinks';
import { earlySolves } from './engine/earlySolves';
import { overallVerdict } from './engine/verdict';
import type { CheckOptions } from './check/options';
import {
  checkRun,
  emptyReport,
  finishReport,
  finiteDifferencesOff,
  optionsRange,
  pacing,
  type CheckRun,
} from './check/run';
import { SolveMemoryExceeded } from './engine/memoryGuard';
import { solveMemoryMessage } from './presentation/findingText';
import { compilePhase } from './check/compile';
import { adPhase, blowUpFinding, lossOnly, parameterInputs, type AdGradients } from './check/gradients';
import { referencePhase } from './check/reference';
import { refinedAdLimitMs } from './check/refinedReference';
import { gradcheckPhase } from './check/finiteDifferences';
import { analysisPhase, mapAnalysis } from './check/layers';
import { isMapScheme } from './schemes/registry';
import { confirmationPhase } from './check/confirmation';
import { assignVerdicts, findingsPhase, type Measurements } from './check/findings';
import type { CompiledModel } from './engine/compile';
import type { ReferenceResult } from './engine/reference';
import { solvesRecordFirings, type GradcheckResult } from './engine/finiteDifferences';
import { statePathRows } from './check/statePaths';
import { rhsPathOf } from './engine/scalarKernel/solve';
import { volterraFindings, volterraPath } from './check/volterra';
import { withInitialValues } from './check/initialValues';
import { refinedCause } from './check/referenceAvailability';
import { MAX_CHECK_STEPS } from './check/options';
import { stepHalvedMessage, stepHalvingFailedMessage } from './presentation/findingText';
import { compileElsewhere, referenceElsewhere, releaseSecondThread, startSecondThread } from './check/thread';
import { initialParameters } from './engine/parameters';
import { realiseMarkov } from './engine/markov';
import { markovFindings } from './check/markov';

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

/** Halvings of dt at most for an XPPAUT method that chooses its own steps (dt/8): each costs a whole check again. */
export const MAX_STEP_HALVINGS = 3;

/**
 * XPPAUT's adaptive and stiff methods (qualrk, cvode, gear, …) shrink their step where the dynamics need it; ODE Lens
 * checks them as one fixed-step unrolled solve at the file's dt. When that solve blows up, the check is run again on
 * dt/2, dt/4, up to dt/8 (still one fixed-step solve, 2^k steps per dt), and the report says which step it took and
 * why (finding `step-halved` on the meth value): the first step at which neither the solve nor the reference's
 * accurate solve (RK4 on half the checked step) blows up, else the first at which the solve stays finite. A solve
 * that is finite at dt is never halved, whatever the reference does (the discrete model checked is the file's). When
 * every step blows up, the report at the file's dt is returned and its blow-up says the halvings did not help.
 */
export async function runCheck(declared: Model, given: CheckOptions = {}): Promise<Report> {
  const started = performance.now();
  // No parameter declared: the initial values are checked in their place (check/initialValues.ts).
  const initial = withInitialValues(declared);
  const model = initial ?? declared;
  // Values given for the declared (empty) parameter list do not apply to the initial values.
  const options: CheckOptions =
    initial && given.parameterValues ? { ...given, parameterValues: undefined, parameterSource: undefined } : given;
  // The check's time (timings.totalMs) runs from here to the report it returns: a halved check's includes the solves
  // that blew up. The phases' times are those of the returned attempt.
  const timed = (r: Report): Report => ({ ...r, timings: { ...r.timings, totalMs: performance.now() - started } });
  const report = await checkAt(model, options);
  if (!halvable(model, options, report)) return timed(report);
  const { steps, dt, meth } = model.options;
  const blowUp = report.findings.find((f) => f.code === 'blow-up');
  const noted = (r: Report, k: number): Report => {
    const halved: Finding = {
      code: 'step-halved',
      severity: 'information',
      message: stepHalvedMessage(findOption(model, 'meth')?.value ?? meth, meth, k, dt, blowUp?.message ?? ''),
      range: optionsRange(model),
    };
    return { ...r, findings: [halved, ...r.findings] };
  };
  let finite: Report | undefined;
  for (let k = 1; k <= MAX_STEP_HALVINGS && steps * 2 ** k <= MAX_CHECK_STEPS; k++) {
    const budget =
      options.timeBudgetMs === undefined ? {} : { timeBudgetMs: options.timeBudgetMs - (performance.now() - started) };
    const finer = { ...model, options: { ...model.options, steps: steps * 2 ** k, dt: dt / 2 ** k } };
    const r = await checkAt(finer, { ...options, ...budget });
    if (!r.findings.some((f) => f.code === 'blow-up') && !referenceBlewUp(r)) return timed(noted(r, k));
    if (!finite && !solveBlewUp(r)) finite = noted(r, k);
  }
  if (finite) return timed(finite);
  return timed({
    ...report,
    findings: report.findings.map((f) =>
      f.code === 'blow-up' ? { ...f, message: `${f.message} ${stepHalvingFailedMessage(MAX_STEP_HALVINGS)}` } : f,
    ),
  });
}

/** The reference's accurate solve (explicit RK4) blew up where the checked solve did not (check/reference.ts). */
const referenceBlewUp = (r: Report) => r.referenceUnavailable?.cause === 'unstable';

/** The discrete solve is not finite (not a gradient, not the reference). */
const solveBlewUp = (r: Report) => !Number.isFinite(r.loss) && r.findings.some((f) => f.code === 'blow-up');

/**
 * A check that may be run again on a smaller step: its method chooses its own steps in XPPAUT, its solve blew up,
 * and the checked values do not depend on the step count (given per-step values have one copy per step).
 */
function halvable(model: Model, options: CheckOptions, report: Report): boolean {
  if (!model.options.stepControl || !solveBlewUp(report)) return false;
  return !(options.parameterValues && model.params.some((p) => p.perStep));
}

/**
 * One check at the model's own steps and dt. A model with Markov variables is checked on one realisation of its
 * chains, drawn here at the checked parameter values and held fixed (engine/markov.ts): every phase, and the second
 * thread, get the realised model.
 */
async function checkAt(declared: Model, options: CheckOptions): Promise<Report> {
  const started = performance.now();
  const pace = pacing(options, started);
  pace.checkpoint();
  const handle = await initBackend(options.backend ?? 'auto', sizeHint(declared)); // auto: measured per size class
  // Steps the compile phase refuses are not realised first (it reports them).
  const { steps, dt } = declared.options;
  const solvable = steps >= 1 && steps <= MAX_CHECK_STEPS && dt > 0 && Number.isFinite(dt);
  if (!declared.markov?.length || !solvable) return checkRealised(declared, options, handle, started, pace);
  const values = options.parameterValues ?? initialParameters(handle.tf, declared);
  const { model, jumps } = realiseMarkov(handle.tf, declared, values);
  const report = await checkRealised(model, options, handle, started, pace);
  return { ...report, findings: [...markovFindings(model, jumps), ...report.findings] };
}

/** The check of a model whose Markov variables (if any) are realised. */
async function checkRealised(
  model: Model,
  options: CheckOptions,
  handle: Awaited<ReturnType<typeof initBackend>>,
  started: number,
  pace: ReturnType<typeof pacing>,
): Promise<Report> {
  const run = checkRun(handle, model, options, started, pace);
  const compiled = compilePhase(run);
  // The report says why its backend runs (a rule, a remembered or a fresh measurement, a fallback).
  const reason = handle.reason ? { backendReason: handle.reason } : {};
  if ('refused' in compiled) return { ...emptyReport(run, NaN, [compiled.refused]), ...reason };
  // Its startup (the bundle and TF.js) runs while this thread runs AD.
  run.secondThread = startSecondThread(options, model, compiled.solveWork);
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
  // The reference and the finite differences are independent given AD, and the reference reads AD only for refined
  // grids: it may run on the second thread (check/thread.ts) beside AD and the finite differences (from AD on, for
  // refined grids), else here between them, as always. The second thread then takes part of the finite differences.
  const refined = refinedCause(model);
  // A reference that reads AD is handed over after it: the helper compiles the model meanwhile.
  if (refined) {
    // Once AD has run too long for the refined reference to follow it, the helper would be idle until the finite
    // differences: it takes the perturbed solves they will likely need (none when they are off).
    compileElsewhere(run, () => {
      if (finiteDifferencesOff(run)) return undefined;
      const solves = earlySolves(model, inputs.values, solvesRecordFirings(cm, run.scheme));
      return solves && { solves, values: inputs.values, afterMs: refinedAdLimitMs(run, refined.cause) };
    });
  }
  let elsewhere = refined ? undefined : referenceElsewhere(run, inputs);
  let ref: ReferenceResult | undefined;
  let gradcheck: GradcheckResult[] | undefined;
  let ad: AdGradients;
  try {
    ad = adPhase(run, cm, inputs);
    const blowUp = blowUpFinding(run, cm, inputs, ad);
    if (blowUp) return emptyReport(run, ad.loss, [blowUp]);
    const adResult = () => ad;
    if (elsewhere && !elsewhere.worthIt(run)) elsewhere = undefined;
    if (refined) elsewhere = referenceElsewhere(run, inputs, ad);
    if (!elsewhere) {
      phase('reference');
      await run.phase();
      ref = referencePhase(run, cm, inputs, adResult);
    }
    phase('finite differences');
    await run.phase();
    gradcheck = await gradcheckPhase(run, cm, inputs, ad);
    if (elsewhere) {
      phase('reference');
      await run.phase();
      ref = await elsewhere.result(() => referencePhase(run, cm, inputs, adResult));
    }
  } finally {
    elsewhere?.abandon();
    releaseSecondThread(run);
  }
  phase('analysis');
  await run.phase();
  const layers = analysisPhase(run, inputs, ad, ref, gradcheck);
  const analysis = isMapScheme(model.options.meth)
    ? mapAnalysis(layers)
    : await confirmationPhase(run, cm, inputs, layers, ref);
  const measurements: Measurements = { analysis, gradcheck, ref, kinks: nonSmoothOperations(model), loss: ad.loss };
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
