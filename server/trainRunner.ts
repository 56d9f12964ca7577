// "Train raw vs corrected" for the editor: trains the model twice (raw AD, then the recommended correction) in
// a worker thread of its own, so checks and the language features go on; cancelling terminates the worker.
import { Worker } from 'node:worker_threads';
import type { CancellationToken } from 'vscode-languageserver/node';
import type { TrainSummary } from '../protocol/customMessages';
import type { FromWorker, ToWorker } from '../protocol/workerMessages';
import type { BackendSetting } from '../protocol/settings';
import type { DocumentPaths } from '../protocol/workerMessages';

export interface TrainJob {
  text: string;
  backend: BackendSetting;
  context?: DocumentPaths;
  /** The gradients to compare, in order (raw `ad` first). */
  gradients: string[];
  iterations: number;
  onProgress: (gradient: string, iteration: number) => void;
}

export function runTraining(workerPath: string, job: TrainJob, token: CancellationToken): Promise<TrainSummary> {
  return new Promise<TrainSummary>((resolve) => {
    const worker = new Worker(workerPath, { stdout: true, stderr: true });
    worker.unref();
    let settled = false;
    const finish = (s: TrainSummary) => {
      if (settled) return;
      settled = true;
      sub.dispose();
      void worker.terminate();
      resolve(s);
    };
    const sub = token.onCancellationRequested(() => finish({ lines: [], cancelled: true }));
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'trainProgress') job.onProgress(m.gradient, m.iteration);
      else if (m.type === 'trained') finish({ lines: m.lines, error: m.error });
    });
    worker.on('error', (e) => finish({ lines: [], error: `the training worker crashed: ${e.message}` }));
    worker.on('exit', (code) => finish({ lines: [], error: `the training worker exited (code ${code})` }));
    const msg: ToWorker = {
      type: 'train',
      id: 1,
      text: job.text,
      backend: job.backend,
      context: job.context,
      gradients: job.gradients,
      iterations: job.iterations,
    };
    worker.postMessage(msg);
  });
}
