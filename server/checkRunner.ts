// Runs gradient checks in one warm worker thread, never on the server's main loop.
// - one job at a time; a newer job for the same key (document) replaces the older one;
// - cancel: the job resolves as cancelled at once, the worker gets a `cancel` (AbortSignal);
//   if it has not stopped within `cancelGraceMs` while other work waits, it is terminated
//   and a fresh worker is started;
// - time budget: a job still running `budgetGraceMs` after its budget is stopped by
//   terminating the worker (the engine normally stops itself at the budget);
// - a crashed worker (uncaught error, out of memory, exit) fails its job and is restarted.
import { Worker } from 'node:worker_threads';
import type { CheckResult } from './reportCache';
import type { BackendSetting } from '../protocol/settings';
import type { FromWorker, ToWorker } from '../protocol/workerMessages';

/** A check job: the worker's `check` message without its id, under the key of the document it is for. */
export type CheckRequest = Omit<Extract<ToWorker, { type: 'check' }>, 'type' | 'id'> & { key: string };

export type CheckOutcome =
  | { kind: 'done'; result: CheckResult }
  | { kind: 'failed'; reason: 'error' | 'timeout' | 'crash'; message: string; ms: number }
  | { kind: 'skipped'; message: string }
  | { kind: 'cancelled' };

/** The check worker's young generation, MB (V8 makes it three semi-spaces: 64 MB each, as `node --max-semi-space-size=64`). */
const WORKER_YOUNG_GENERATION_MB = 192;

export interface CheckRunnerOptions {
  cancelGraceMs?: number;
  budgetGraceMs?: number;
  /** Heap limit of the worker; a model that exhausts it crashes the worker, not the server. */
  maxOldGenerationSizeMb?: number;
  /** Backend to warm up when a worker starts; undefined = no warm-up. */
  warmupBackend?: BackendSetting;
  log?: (message: string) => void;
  /** A job started running in the worker. */
  onStart?: (request: CheckRequest) => void;
  /** A running job entered a phase of the check. */
  onProgress?: (request: CheckRequest, phase: string) => void;
  /** A job that had been cancelled still finished: its report is valid for its text (cache it). */
  onLateReport?: (request: CheckRequest, result: CheckResult) => void;
}

interface Job {
  id: number;
  request: CheckRequest;
  resolve: (o: CheckOutcome) => void;
  settled: boolean;
  cancelledAt?: number;
  startedAt?: number;
  budgetTimer?: NodeJS.Timeout;
}

export class CheckRunner {
  private worker: Worker | undefined;
  private warming = false;
  private warmTimer: NodeJS.Timeout | undefined;
  private busy: Job | undefined;
  private queue: Job[] = [];
  private nextId = 1;
  private pumpTimer: NodeJS.Timeout | undefined;
  private crashes: number[] = [];
  private restartDelayTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly opts: Required<
    Omit<CheckRunnerOptions, 'warmupBackend' | 'onStart' | 'onProgress' | 'onLateReport'>
  > &
    CheckRunnerOptions;
  /** Counters, for tests and the server log. */
  readonly stats = { workersStarted: 0, workersTerminated: 0, crashes: 0, jobs: 0 };

  constructor(
    private readonly workerPath: string,
    options: CheckRunnerOptions = {},
  ) {
    this.opts = {
      cancelGraceMs: 1000,
      budgetGraceMs: 2000,
      maxOldGenerationSizeMb: 2048,
      log: () => {},
      ...options,
    };
  }

  /** Starts the worker ahead of the first check so it is warm. */
  start(): void {
    if (!this.worker && !this.disposed) this.spawn();
  }

  /** Queues a check; any earlier job for the same key is cancelled. */
  run(request: CheckRequest): Promise<CheckOutcome> {
    this.cancel(request.key);
    return new Promise<CheckOutcome>((resolve) => {
      if (this.disposed) return resolve({ kind: 'cancelled' });
      this.queue.push({ id: this.nextId++, request, resolve, settled: false });
      this.stats.jobs++;
      this.pump();
    });
  }

  /** Cancels the queued and running checks of `key` (all keys when undefined). */
  cancel(key?: string): void {
    for (const job of this.queue.filter((j) => key === undefined || j.request.key === key))
      this.settle(job, { kind: 'cancelled' });
    this.queue = this.queue.filter((j) => !j.settled);
    const busy = this.busy;
    if (busy && !busy.cancelledAt && (key === undefined || busy.request.key === key)) {
      busy.cancelledAt = Date.now();
      this.settle(busy, { kind: 'cancelled' });
      this.post({ type: 'cancel', id: busy.id });
      this.pump();
    }
  }

  /** True while a check (not a warm-up) is queued or running for `key`. */
  isActive(key: string): boolean {
    return (
      (!!this.busy && !this.busy.settled && this.busy.request.key === key) ||
      this.queue.some((j) => j.request.key === key)
    );
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.cancel();
    clearTimeout(this.pumpTimer);
    clearTimeout(this.restartDelayTimer);
    clearTimeout(this.warmTimer);
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private settle(job: Job, outcome: CheckOutcome): void {
    if (job.settled) return;
    job.settled = true;
    job.resolve(outcome);
  }

  private post(msg: ToWorker): void {
    try {
      this.worker?.postMessage(msg);
    } catch (e) {
      this.opts.log(`ODE Lens: cannot post to the check worker: ${String(e)}`);
    }
  }

  private spawn(): void {
    // Back off when workers keep crashing (a model that always kills it must not spin).
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < 30_000);
    if (this.crashes.length >= 3 && !this.restartDelayTimer) {
      this.restartDelayTimer = setTimeout(() => {
        this.restartDelayTimer = undefined;
        this.crashes = [];
        this.pump();
      }, 2000);
      return;
    }
    if (this.restartDelayTimer) return;
    const worker = new Worker(this.workerPath, {
      // A young generation of 192 MB (semi-spaces of 64 MB, as `npm run bench` runs): the unrolled solve's
      // tape keeps every step's objects alive, and with the default each AD pass spent ~20 % in scavenges.
      resourceLimits: {
        maxOldGenerationSizeMb: this.opts.maxOldGenerationSizeMb,
        maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB,
      },
      // Never inherit stdout: over --stdio it is the LSP channel. Worker output goes to the log.
      stdout: true,
      stderr: true,
    });
    const forward = (chunk: Buffer | string) => {
      const text = String(chunk).trimEnd();
      if (text) this.opts.log(`[check worker] ${text}`);
    };
    worker.stdout.on('data', forward);
    worker.stderr.on('data', forward);
    // The worker alone must not keep a process alive (the LSP connection does that for the server).
    worker.unref();
    this.worker = worker;
    this.stats.workersStarted++;
    worker.on('message', (m: FromWorker) => this.onMessage(worker, m));
    worker.on('error', (e) => this.onExit(worker, `the check worker crashed: ${e?.message ?? String(e)}`));
    worker.on('exit', (code) => this.onExit(worker, `the check worker exited (code ${code})`));
    if (this.opts.warmupBackend) {
      this.warming = true;
      this.post({ type: 'warmup', backend: this.opts.warmupBackend });
      // Never let a stuck warm-up hold real work.
      this.warmTimer = setTimeout(() => {
        if (this.worker === worker && this.warming) {
          this.opts.log('ODE Lens: warm-up of the check worker took too long; restarting it');
          this.terminate(worker);
          this.pump();
        }
      }, 60_000);
    }
  }

  private terminate(worker: Worker): void {
    if (this.worker === worker) {
      this.worker = undefined;
      this.warming = false;
      clearTimeout(this.warmTimer);
    }
    this.stats.workersTerminated++;
    worker.removeAllListeners('message');
    worker.removeAllListeners('exit');
    worker.removeAllListeners('error');
    worker.on('error', () => {});
    void worker.terminate();
    const busy = this.busy;
    if (busy) {
      clearTimeout(busy.budgetTimer);
      this.busy = undefined;
    }
  }

  private onExit(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    this.opts.log(`ODE Lens: ${message}`);
    this.crashes.push(Date.now());
    this.stats.crashes++;
    const busy = this.busy;
    this.terminate(worker);
    if (busy)
      this.settle(busy, { kind: 'failed', reason: 'crash', message, ms: Date.now() - (busy.startedAt ?? Date.now()) });
    this.pump();
  }

  private onMessage(worker: Worker, m: FromWorker): void {
    if (this.worker !== worker) return;
    if (m.type === 'ready') return;
    if (m.type === 'warm') {
      this.warming = false;
      clearTimeout(this.warmTimer);
      this.opts.log(
        `ODE Lens: check worker warm in ${Math.round(m.ms)} ms${m.backend ? ` (backend ${m.backend})` : ''}${m.message ? `: ${m.message}` : ''}`,
      );
      this.pump();
      return;
    }
    const job = this.busy;
    if (!job || job.id !== m.id) return;
    if (m.type === 'progress') {
      if (!job.settled) this.opts.onProgress?.(job.request, m.phase);
      return;
    }
    clearTimeout(job.budgetTimer);
    this.busy = undefined;
    if (m.type === 'result') {
      const result = { summary: m.summary, tables: m.tables };
      if (job.settled) this.opts.onLateReport?.(job.request, result);
      this.settle(job, { kind: 'done', result });
    } else if (m.type === 'error') {
      this.settle(job, {
        kind: 'failed',
        reason: m.name === 'CheckTimeout' ? 'timeout' : 'error',
        message: m.message,
        ms: m.ms,
      });
    } else if (m.type === 'skipped') {
      this.settle(job, { kind: 'skipped', message: m.message });
    } else {
      this.settle(job, { kind: 'cancelled' });
    }
    this.pump();
  }

  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    if (this.disposed) return;
    if (this.busy) {
      const busy = this.busy;
      // A cancelled job that does not stop holds the worker: give it a grace period, then kill it.
      if (busy.cancelledAt !== undefined && this.queue.length > 0) {
        const left = busy.cancelledAt + this.opts.cancelGraceMs - Date.now();
        if (left <= 0) {
          this.opts.log('ODE Lens: a cancelled check did not stop in time; restarting the check worker');
          if (this.worker) this.terminate(this.worker);
        } else {
          this.pumpTimer = setTimeout(() => this.pump(), left);
          return;
        }
      } else return;
    }
    if (this.queue.length === 0) return;
    if (!this.worker) this.spawn();
    if (!this.worker || this.warming) return; // backing off, or warming up (the warm message pumps)
    const job = this.queue.shift()!;
    this.busy = job;
    job.startedAt = Date.now();
    const worker = this.worker;
    job.budgetTimer = setTimeout(() => {
      if (this.busy !== job) return;
      this.opts.log(
        `ODE Lens: a check exceeded its time budget (${job.request.timeBudgetMs} ms); restarting the check worker`,
      );
      this.terminate(worker);
      this.settle(job, {
        kind: 'failed',
        reason: 'timeout',
        message: `the gradient check did not finish within its time budget of ${job.request.timeBudgetMs} ms`,
        ms: Date.now() - (job.startedAt ?? Date.now()),
      });
      this.pump();
    }, job.request.timeBudgetMs + this.opts.budgetGraceMs);
    const { key: _key, ...check } = job.request;
    this.post({ type: 'check', id: job.id, ...check });
    this.opts.onStart?.(job.request);
  }
}
