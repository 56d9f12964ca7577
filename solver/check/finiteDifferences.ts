// Phase 4, finite differences (gradcheck): the AD gradients against central differences of the same
// discrete loss (engine/finiteDifferences.ts), unless the caller skipped it; its passes at finer steps within a time
// budget proportional to the AD solve's measured cost (FD_BUDGET_FACTOR, at least FD_MIN_BUDGET_MS). With the
// check's second thread their units are shared with it (check/thread.ts): this thread claims them from the first.
import type { CompiledModel } from '../engine/compile';
import {
  FD_BUDGET_FACTOR,
  FD_MIN_BUDGET_MS,
  finiteDifferenceWork,
  localMeter,
  SHARED_METER_WORDS,
  sharedMeter,
  type GradcheckResult,
} from '../engine/finiteDifferences';
import { earlySolvesTaken } from '../engine/earlySolves';
import type { AdGradients, ParameterInputs } from './gradients';
import { finiteDifferencesOff, type CheckRun } from './run';
import { finiteDifferencesElsewhere, mayShareFiniteDifferences } from './thread';

/** Least time the check's thread waits for a perturbed solve the second thread is in (engine/earlySolves.ts). */
const EARLY_WAIT_MIN_MS = 100;

export async function gradcheckPhase(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
): Promise<GradcheckResult[] | undefined> {
  if (finiteDifferencesOff(run)) return undefined;
  const t = performance.now();
  const budgetMs = run.options.finiteDifferenceBudgetMs ?? Math.max(FD_MIN_BUDGET_MS, FD_BUDGET_FACTOR * run.adWorkMs);
  try {
    return await gradcheck(run, cm, inputs, ad, budgetMs);
  } finally {
    run.timings.finiteDifferenceMs = performance.now() - t;
    const early = run.earlySolves && earlySolvesTaken(run.earlySolves);
    if (early) run.timings.finiteDifferencesEarly = early;
  }
}

/** Every tensor's result: on this thread, or its units shared with the second thread when the check may. */
async function gradcheck(
  run: CheckRun,
  cm: CompiledModel,
  inputs: ParameterInputs,
  ad: AdGradients,
  budgetMs: number,
): Promise<GradcheckResult[]> {
  const { tf, scheme, model } = run;
  const { values } = inputs;
  const meter = localMeter();
  // Which units there are is known before any solve (the directions and the combined probe).
  // A pair of perturbed solves costs about AD's forward and adjoint or less: twice that bounds a wait for one.
  const early = run.earlySolves && { solves: run.earlySolves, waitMs: Math.max(EARLY_WAIT_MIN_MS, 2 * run.adWorkMs) };
  const work = finiteDifferenceWork(tf, cm, scheme, model, values, ad.G, ad.loss, 'auto', ad.unperturbed, early);
  const all = work.units.map((_u, k) => k);
  if (!mayShareFiniteDifferences(run, work.units)) return work.settle(all, budgetMs, meter) as GradcheckResult[];
  // The helper takes the unperturbed solve's firings from this thread (one solve fewer there; models with events).
  const words = new Int32Array(new SharedArrayBuffer(4 * SHARED_METER_WORDS));
  const shared = sharedMeter(words);
  const unperturbed = work.unperturbed(shared);
  const elsewhere = finiteDifferencesElsewhere(run, values, ad, work.units, budgetMs, words, unperturbed);
  if (!elsewhere) return work.settle(all, budgetMs, shared) as GradcheckResult[];
  try {
    const results: (GradcheckResult | undefined)[] = new Array(model.params.length);
    const settle = (k: number) => {
      const r = work.settle([k], budgetMs, shared);
      for (const i of work.units[k]) results[i] = r[i];
    };
    for (const k of all) {
      if (!elsewhere.claim(k)) continue;
      settle(k);
      // A cancellation reaches the helper between units.
      await run.phase();
    }
    const theirs = await elsewhere.helperResults();
    let onHelper = 0;
    for (const { unit, results: r } of theirs)
      work.units[unit].forEach((i, j) => {
        results[i] = r[j];
        onHelper++;
      });
    // Units the helper claimed and did not deliver (it was lost, failed or declined).
    for (const k of all) if (work.units[k].some((i) => !results[i])) settle(k);
    if (onHelper > 0) run.timings.finiteDifferencesOnSecondThread = onHelper;
    return results as GradcheckResult[];
  } finally {
    elsewhere.abandon();
  }
}
