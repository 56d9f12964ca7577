// The check's second thread (dist/checkThread.js, started by check/thread.ts): runs the continuous reference of the
// checks that hand it theirs, one at a time, each on the check's own backend, and posts back its result, what the
// phase set on the check, and its wall time; an error comes back by name and message, to be thrown by the check.
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../engine/backend';
import { SolveMemoryExceeded } from '../engine/memoryGuard';
import { compilePhase } from './compile';
import { referencePhase } from './reference';
import { checkRun, pacing } from './run';
import { BY_HELPER, UNCLAIMED, referenceFields, type FromHelper, type ReferenceJob } from './thread';

const port = parentPort;
if (!port) throw new Error("checkThread.js runs as a check's second thread (node:worker_threads)");
const post = (m: FromHelper, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

async function reference(job: ReferenceJob): Promise<void> {
  // The check's thread may have run it already (this thread was busy or still loading).
  if (Atomics.compareExchange(job.claim, 0, UNCLAIMED, BY_HELPER) !== UNCLAIMED)
    return post({ type: 'skipped', id: job.id });
  try {
    const handle = await initBackend(job.backend);
    if (handle.backend !== job.backend)
      return post({ type: 'declined', id: job.id, reason: `backend ${job.backend} is not available here` });
    // The time budget counts from the check's start, on this thread's clock.
    const started = job.startedAt - performance.timeOrigin;
    const run = checkRun(handle, job.model, job.options, started, pacing(job.options, started));
    if (job.ad) run.adWorkMs = job.ad.workMs;
    const compiled = compilePhase(run);
    // The check's thread compiled the same model: a refusal here cannot happen, but is not this thread's to report.
    if ('refused' in compiled)
      return post({ type: 'declined', id: job.id, reason: `the model did not compile: ${compiled.refused.message}` });
    try {
      const ad = job.ad?.result;
      const ref = referencePhase(run, compiled.cm, job.inputs, () => {
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
    } finally {
      compiled.cm.dispose();
    }
  } catch (e) {
    // A reference that turned to refined grids (a stiff model's implicit scheme) reads AD: the check runs it.
    if (e instanceof AdNotGiven) return post({ type: 'declined', id: job.id, reason: e.message });
    const memory =
      e instanceof SolveMemoryExceeded
        ? { step: e.step, steps: e.steps, heapMb: e.heapMb, limitMb: e.limitMb }
        : undefined;
    const error = e instanceof Error ? e : new Error(String(e));
    post({ type: 'failed', id: job.id, name: error.name, message: error.message, ...(memory ? { memory } : {}) });
  }
}

class AdNotGiven extends Error {
  constructor() {
    super("the reference needs AD's result, which the job was posted without");
  }
}

// One job at a time, in the order they came.
let chain: Promise<void> = Promise.resolve();
port.on('message', (job: ReferenceJob) => {
  if (job?.type === 'reference') chain = chain.then(() => reference(job));
});
post({ type: 'ready' });
