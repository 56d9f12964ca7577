// "Train raw vs corrected" for the editor: trains the model twice (raw AD, then the recommended correction) in
// a worker thread of its own, so checks and the language features go on. Each finished iteration is reported
// as it finishes; a cancel stops the run in progress, which still answers with what it learned so far (as
// `odelens train` does on Ctrl-C); a worker that does not stop within the grace period is terminated.
import { Worker } from 'node:worker_threads';
import type { TrainIteration, TrainSummary } from '../protocol/customMessages';
import type { FromWorker, ToWorker } from '../protocol/workerMessages';
import type { BackendSetting } from '../protocol/settings';
import type { DocumentPaths } from '../protocol/workerMessages';

export interface TrainJob {
  text: string;
  /** The model file's name, as the learned-parameters file records it. */
  fileName: string;
  backend: BackendSetting;
  context?: DocumentPaths;
  /** The gradients to compare, in order (raw `ad` first). */
  gradients: string[];
  iterations: number;
  onIteration: (iteration: TrainIteration) => void;
}

/** A running training: its answer, and the way to stop it. */
export interface Training {
  done: Promise<TrainSummary>;
  cancel(): void;
}

/** How long a cancelled training may take to answer with what it learned before its worker is terminated. */
const CANCEL_GRACE_MS = 10_000;

export function startTraining(workerPath: string, job: TrainJob): Training {
  const worker = new Worker(workerPath, { stdout: true, stderr: true });
  worker.unref();
  let settled = false;
  let cancelled = false;
  let resolve!: (s: TrainSummary) => void;
  const done = new Promise<TrainSummary>((r) => {
    resolve = r;
  });
  let graceTimer: NodeJS.Timeout | undefined;
  const finish = (s: TrainSummary) => {
    if (settled) return;
    settled = true;
    clearTimeout(graceTimer);
    void worker.terminate();
    resolve(s);
  };
  worker.on('message', (m: FromWorker) => {
    if (m.type === 'trainProgress') {
      const { type: _type, id: _id, ...iteration } = m;
      job.onIteration(iteration);
    } else if (m.type === 'trained')
      finish({
        lines: m.runs.map((r) => r.line),
        runs: m.runs,
        error: m.error,
        cancelled: cancelled || m.cancelled || undefined,
      });
  });
  worker.on('error', (e) => finish({ lines: [], error: `the training worker crashed: ${e.message}` }));
  worker.on('exit', (code) => finish({ lines: [], error: `the training worker exited (code ${code})` }));
  const msg: ToWorker = {
    type: 'train',
    id: 1,
    text: job.text,
    fileName: job.fileName,
    backend: job.backend,
    context: job.context,
    gradients: job.gradients,
    iterations: job.iterations,
  };
  worker.postMessage(msg);
  return {
    done,
    cancel() {
      if (settled || cancelled) return;
      cancelled = true;
      worker.postMessage({ type: 'cancel', id: 1 } satisfies ToWorker);
      graceTimer = setTimeout(() => finish({ lines: [], cancelled: true }), CANCEL_GRACE_MS);
      graceTimer.unref();
    },
  };
}
