// The gradient-check worker thread: analyses the model text, runs the engine's
// check and posts back the report's summary and its rows packed in typed arrays, whose buffers
// are transferred: the server's main thread receives them without parsing millions of numbers. One check at a time; a `cancel` aborts the
// running check through its AbortSignal (the main thread terminates the worker
// if the engine does not stop in time). Kept warm between checks.
import { parentPort } from 'node:worker_threads';
import { analyse, modelErrorsMessage } from '../solver/language/index';
import { runCheck } from '../solver/check';
import { splitReport } from '../solver/summary';
import { rowBuffers } from '../solver/rows';
import type { FromWorker, ToWorker } from '../protocol/workerMessages';
import { train } from '../solver/train/train';
import type { TrainGradient } from '../solver/train/gradients';
import { trainSummaryLine } from '../solver/presentation/trainSummary';
import { parseParameters, savedParameters, savedParametersText } from '../solver/train/savedParameters';
import type { TrainedRun, TrainIteration } from '../protocol/customMessages';
import type { IterationRecord } from '../solver/train/train';

const port = parentPort;
if (!port) throw new Error('checkWorker.js must run in a worker thread');

const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
const running = new Map<number, AbortController>();

const WARMUP_MODEL = [
  'state x[2]',
  'init x = [1, 0]',
  'param W[2,2] = [[0, 1], [-1, 0]]',
  "x' = W @ x",
  'loss = 0.5 * sum(x(T)^2)',
  '@ total=1, steps=16, meth=rk4, seed=1',
  'done',
  '',
].join('\n');

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

async function check(msg: Extract<ToWorker, { type: 'check' }>): Promise<void> {
  const controller = new AbortController();
  running.set(msg.id, controller);
  const t0 = performance.now();
  try {
    const analysis = analyse(msg.text, msg.context);
    const model = analysis.model;
    if (!model) {
      post({ type: 'skipped', id: msg.id, message: modelErrorsMessage(analysis.diagnostics) });
      return;
    }
    const given = msg.parameters && parseParameters(msg.parameters.text, msg.parameters.source, model);
    if (typeof given === 'string') {
      post({ type: 'error', id: msg.id, message: given, ms: performance.now() - t0 });
      return;
    }
    const report = await runCheck(model, {
      backend: msg.backend,
      ...(given ? { parameterValues: given.values, parameterSource: msg.parameters?.source } : {}),
      signal: controller.signal,
      timeBudgetMs: msg.timeBudgetMs,
      ...(msg.threads !== undefined ? { threads: msg.threads } : {}),
      gradcheck: msg.finiteDifferences !== false,
      onPhase: (phase) => post({ type: 'progress', id: msg.id, phase }),
      ...(msg.refine ? { refinement: true } : {}),
    });
    if (controller.signal.aborted) post({ type: 'cancelled', id: msg.id, ms: performance.now() - t0 });
    else {
      // The check's time travels in the report (timings.totalMs), the one number every view shows.
      const { summary, tables } = splitReport(report);
      post({ type: 'result', id: msg.id, summary, tables }, rowBuffers(tables));
    }
  } catch (e) {
    const ms = performance.now() - t0;
    if (controller.signal.aborted) post({ type: 'cancelled', id: msg.id, ms });
    else
      post({ type: 'error', id: msg.id, message: errorMessage(e), name: e instanceof Error ? e.name : undefined, ms });
  } finally {
    running.delete(msg.id);
  }
}

/** An iteration's figures as the curves draw them: the flow loss null where skipped, the total variation summed over parameters. */
function trainIteration(gradient: string, r: IterationRecord): TrainIteration {
  return {
    gradient,
    iteration: r.iteration,
    loss: r.loss,
    flowLoss: Number.isFinite(r.flowLoss) ? r.flowLoss : null,
    totalVariation: Object.values(r.totalVariation).reduce((a, b) => a + b, 0),
  };
}

async function trainBoth(msg: Extract<ToWorker, { type: 'train' }>): Promise<void> {
  const model = analyse(msg.text, msg.context).model;
  if (!model) return post({ type: 'trained', id: msg.id, runs: [], error: 'the model has errors' });
  const controller = new AbortController();
  running.set(msg.id, controller);
  const runs: TrainedRun[] = [];
  try {
    for (const gradient of msg.gradients) {
      if (controller.signal.aborted) break;
      const result = await train(model, {
        backend: msg.backend,
        iterations: msg.iterations,
        gradient: gradient as TrainGradient,
        signal: controller.signal,
        // About 25 points of the flow loss per curve: each costs an accurate solve.
        flowEvery: Math.max(1, Math.ceil(msg.iterations / 25)),
        onIteration: (r) => post({ type: 'trainProgress', id: msg.id, ...trainIteration(gradient, r) }),
      });
      const saved = savedParameters(msg.fileName, model, result);
      runs.push({
        gradient,
        stopped: result.stopped,
        iterations: result.iterations,
        line: trainSummaryLine(result),
        parametersJson: savedParametersText(saved),
      });
      if (result.stopped === 'diverged') break;
    }
    post({ type: 'trained', id: msg.id, runs, cancelled: controller.signal.aborted });
  } catch (e) {
    post({ type: 'trained', id: msg.id, runs, error: errorMessage(e) });
  } finally {
    running.delete(msg.id);
  }
}

async function warmup(backend: ToWorker & { type: 'warmup' }): Promise<void> {
  const t0 = performance.now();
  try {
    const model = analyse(WARMUP_MODEL).model;
    if (!model) throw new Error('warm-up model did not analyse');
    const report = await runCheck(model, { backend: backend.backend, timeBudgetMs: 30_000 });
    post({ type: 'warm', backend: report.backend, ms: performance.now() - t0 });
  } catch (e) {
    post({ type: 'warm', ms: performance.now() - t0, message: errorMessage(e) });
  }
}

// Messages are handled strictly in order; a cancel must not wait behind a check.
let chain: Promise<void> = Promise.resolve();
port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'cancel':
      running.get(msg.id)?.abort();
      break;
    case 'check':
      chain = chain.then(() => check(msg));
      break;
    case 'train':
      chain = chain.then(() => trainBoth(msg));
      break;
    case 'warmup':
      chain = chain.then(() => warmup(msg));
      break;
  }
});

post({ type: 'ready' });
