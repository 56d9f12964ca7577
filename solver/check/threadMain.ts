// The check's second thread (dist/checkThread.js, started by check/thread.ts): runs the continuous reference of the
// checks that hand it theirs, one at a time, each on the check's own backend, and posts back its result, what the
// phase set on the check, and its wall time; an error comes back by name and message, to be thrown by the check.
// Then it runs the units of the check's finite differences that the check's thread has not claimed, on the model it
// compiled for the check when it kept it (for its reference, or a compile job posted before AD), and posts back their
// results.
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../engine/backend';
import type { CompiledModel } from '../engine/compile';
import { finiteDifferenceWork, scalarProbeLosses, sharedMeter } from '../engine/finiteDifferences';
import { solveEarly } from '../engine/earlySolves';
import { SolveMemoryExceeded } from '../engine/memoryGuard';
import { compilePhase } from './compile';
import { referencePhase } from './reference';
import { checkRun, pacing, type CheckRun } from './run';
import {
  BY_HELPER,
  UNCLAIMED,
  referenceFields,
  type CompileJob,
  type FiniteDifferenceJob,
  type FromHelper,
  type ReferenceJob,
  type ToHelper,
  type UnitResults,
} from './thread';

const port = parentPort;
if (!port) throw new Error("checkThread.js runs as a check's second thread (node:worker_threads)");
const post = (m: FromHelper, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

/** A check's model as this thread compiled it, with its run. */
interface Compiled {
  run: CheckRun;
  cm: CompiledModel;
}

/** One check's model, compiled for its compile job or its reference (ReferenceJob.keep), kept for its later jobs. */
let kept: { check: number; compiled: Compiled } | undefined;

function drop(): void {
  kept?.compiled.cm.dispose();
  kept = undefined;
}

/** The model kept for `check`, taken out of `kept` (the job keeps it again when it should); else any other is dropped. */
function takeKept(check: number): Compiled | undefined {
  if (kept?.check !== check) {
    drop();
    return undefined;
  }
  const c = kept.compiled;
  kept = undefined;
  return c;
}

/** A job's model compiled on the job's backend, or why this thread declines it. */
async function compiled(
  job: Pick<CompileJob, 'backend' | 'startedAt' | 'model' | 'options'>,
): Promise<Compiled | { declined: string }> {
  const handle = await initBackend(job.backend);
  if (handle.backend !== job.backend) return { declined: `backend ${job.backend} is not available here` };
  // The time budget counts from the check's start, on this thread's clock.
  const started = job.startedAt - performance.timeOrigin;
  const run = checkRun(handle, job.model, job.options, started, pacing(job.options, started));
  const c = compilePhase(run);
  // The check's thread compiled the same model: a refusal here cannot happen, but is not this thread's to report.
  if ('refused' in c) return { declined: `the model did not compile: ${c.refused.message}` };
  return { run, cm: c.cm };
}

/** The error as the check's thread rebuilds it (check/thread.ts: rebuiltError). */
function failed(id: number, e: unknown): FromHelper {
  const memory =
    e instanceof SolveMemoryExceeded
      ? { step: e.step, steps: e.steps, heapMb: e.heapMb, limitMb: e.limitMb }
      : undefined;
  const error = e instanceof Error ? e : new Error(String(e));
  return { type: 'failed', id, name: error.name, message: error.message, ...(memory ? { memory } : {}) };
}

/** A compile job: the model compiled now (while the check runs AD) and kept for the check's reference and finite differences. */
async function compile(job: CompileJob): Promise<void> {
  drop();
  // The check ended before its turn came (a new edit cancelled it): nothing of it will follow.
  if (ended.has(job.check)) return;
  try {
    const c = await compiled(job);
    // Declined or failed: the later jobs find no model and are declined; the check's thread runs them.
    if ('declined' in c) return;
    kept = { check: job.check, compiled: c };
    const { early } = job;
    if (!early) return;
    const { run, cm } = c;
    // From when AD has run too long for a reference to follow it, until the check's next job comes (its reference or
    // finite differences, after AD) or it ends.
    await nextJobOr(early.afterMs - (performance.timeOrigin + performance.now() - job.postedAt));
    await solveEarly(
      early.solves,
      (param, step) => scalarProbeLosses(run.tf, cm, run.scheme, run.model, early.values, param, step),
      () => queued > 0 || ended.has(job.check),
    );
  } catch {
    // As declined; the check's thread solves what was not solved here.
  }
}

async function reference(job: ReferenceJob): Promise<void> {
  // The check's thread may have run it already (this thread was busy or still loading).
  if (Atomics.compareExchange(job.claim, 0, UNCLAIMED, BY_HELPER) !== UNCLAIMED) {
    if (kept?.check !== job.check) drop();
    return post({ type: 'skipped', id: job.id });
  }
  try {
    const c =
      takeKept(job.check) ??
      (job.model ? await compiled({ ...job, model: job.model }) : { declined: "the check's compiled model is gone" });
    if ('declined' in c) return post({ type: 'declined', id: job.id, reason: c.declined });
    const { run, cm } = c;
    if (job.ad) run.adWorkMs = job.ad.workMs;
    let keep = false;
    try {
      const ad = job.ad?.result;
      const ref = referencePhase(run, cm, job.inputs, () => {
        if (!ad) throw new AdNotGiven();
        return ad;
      });
      post({
        type: 'reference',
        id: job.id,
        ref,
        fields: referenceFields(run),
        ms: run.timings.referenceMs,
      });
      keep = job.keep;
    } finally {
      if (keep) kept = { check: job.check, compiled: c };
      else cm.dispose();
    }
  } catch (e) {
    // A reference that turned to refined grids (a stiff model's implicit scheme) reads AD: the check runs it.
    if (e instanceof AdNotGiven) return post({ type: 'declined', id: job.id, reason: e.message });
    post(failed(job.id, e));
  }
}

const sameUnits = (a: number[][], b: number[][]) =>
  a.length === b.length && a.every((u, k) => u.length === b[k].length && u.every((i, j) => i === b[k][j]));

async function finiteDifferences(job: FiniteDifferenceJob): Promise<void> {
  const { source } = job;
  let c = takeKept(source.check);
  try {
    const unclaimed = () => job.units.some((_u, k) => Atomics.load(job.claims, k) === UNCLAIMED);
    // The check's thread may have claimed them all (this thread was in the reference).
    if (!unclaimed()) return post({ type: 'finite differences', id: job.id, units: [] });
    if (!c) {
      // The reference whose model was to serve did not keep it (it declined or failed): the check's thread runs them.
      if (!source.model) return post({ type: 'declined', id: job.id, reason: 'the compiled model was not kept' });
      const made = await compiled({ ...job, ...source.model });
      if ('declined' in made) return post({ type: 'declined', id: job.id, reason: made.declined });
      c = made;
    }
    const { run, cm } = c;
    const work = finiteDifferenceWork(
      run.tf,
      cm,
      run.scheme,
      run.model,
      job.values,
      job.G,
      job.loss,
      'auto',
      job.unperturbed,
      // This thread's early solves ended before this job began: none is in progress to wait for.
      job.early && { solves: job.early, waitMs: 0 },
    );
    const meter = sharedMeter(job.meter);
    // Both threads derive the units alike from the same values; should they not, the check's thread runs them all.
    if (!sameUnits(work.units, job.units))
      return post({ type: 'declined', id: job.id, reason: 'the units of finite differences differ on this thread' });
    const ran: UnitResults[] = [];
    for (let k = job.units.length - 1; k >= 0; k--) {
      if (Atomics.compareExchange(job.claims, k, UNCLAIMED, BY_HELPER) !== UNCLAIMED) continue;
      const results = work.settle([k], job.budgetMs, meter);
      ran.push({ unit: k, results: job.units[k].map((i) => results[i]!) });
    }
    post({ type: 'finite differences', id: job.id, units: ran });
  } catch (e) {
    // The check's thread runs the units again and meets the same error as one thread would.
    post(failed(job.id, e));
  } finally {
    c?.cm.dispose();
  }
}

class AdNotGiven extends Error {
  constructor() {
    super("the reference needs AD's result, which the job was posted without");
  }
}

/** Checks whose release came while their jobs still waited in the chain. */
const ended = new Set<number>();

/** Jobs that came and have not started: a compile job's early solves stop for them. */
let queued = 0;
/** Ends a compile job's wait for its early solves (nextJobOr) when another job comes. */
let wake: (() => void) | undefined;

/** Longest wait a timer takes: Node runs a longer one (or Infinity, a check with no limit for its AD) after 1 ms. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms`, or sooner when a job comes; a wait beyond any timer ends only with the next job. */
function nextJobOr(ms: number): Promise<void> {
  if (ms <= 0 || queued > 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = ms <= LONGEST_TIMER_MS ? setTimeout(done, ms) : undefined;
    function done() {
      clearTimeout(timer);
      wake = undefined;
      resolve();
    }
    wake = done;
  });
}
// One job at a time, in the order they came.
let chain: Promise<void> = Promise.resolve();
const enqueue = (job: () => Promise<void> | void) => {
  queued++;
  wake?.();
  chain = chain.then(() => {
    queued--;
    return job();
  });
};
port.on('message', (m: ToHelper) => {
  if (m?.type === 'compile') enqueue(() => compile(m));
  else if (m?.type === 'reference') enqueue(() => reference(m));
  else if (m?.type === 'finite differences') enqueue(() => finiteDifferences(m));
  else if (m?.type === 'release') {
    ended.add(m.check);
    enqueue(() => {
      ended.delete(m.check);
      if (kept?.check === m.check) drop();
    });
  }
});
post({ type: 'ready' });
