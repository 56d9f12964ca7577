// The check's second thread: the continuous reference (check/reference.ts) runs on a worker thread while the
// finite differences (check/finiteDifferences.ts) run on the calling one. Given AD's result the two are
// independent; on two cores their wall times overlap (docs/engine.md#threads). The finite differences are shared
// too: after its reference (or without one) the helper takes units of them (engine/finiteDifferences.ts:
// FiniteDifferenceWork) that the check's thread has not claimed.
//
// One helper thread per process, started when a check starts (its startup — loading the bundle and TF.js — runs
// while the model compiles and AD runs) and kept for the next checks. After AD the check posts the model, its
// options, the parameter values and AD's result; the helper compiles the model again and runs the same reference
// phase on the same backend, so the report is the one a single thread makes. The job is claimed by whoever starts
// it first (a shared word, compare-and-exchange): when the caller's finite differences are done and the helper has
// not started it (still loading, or busy), the caller runs the reference itself. So a small check never waits for
// the helper, and a lost helper (failed to start, died) costs its time and no result. Cancelling a check (or
// leaving it early) terminates the helper when it holds the job, as the reference does not stop between its
// solves; the next check starts another.
//
// The finite differences' units (the combined probe's tensors, then one tensor each) have one claim word each: the
// check's thread claims them from the first, the helper from the last, each unit run whole by whoever claimed it, so
// the results are those of one thread (the time budget aside: it counts the work of both). The check's thread waits
// only for units the helper has claimed; a lost helper's units it runs itself. The helper keeps the model it compiled
// for the check (its reference's, or a compile job's) until the check's finite differences or its end (`release`), as
// compiling a large array model again costs a few hundred ms. A check whose reference follows AD (refined grids) posts
// its model before AD (`compileElsewhere`): the helper, idle until then, compiles it while AD runs, not after it
// beside the check's own finite differences (sine-circle.ode: 0.3–0.4 s of compiling after AD). Once AD has run too long
// for that reference to follow it, the helper also takes the finite differences' first perturbed solves
// (engine/earlySolves.ts) until the check's next job comes.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMainThread, resourceLimits, Worker } from 'node:worker_threads';
import type { Model } from '../model';
import type { ReferenceResult } from '../engine/reference';
import { SolveMemoryExceeded } from '../engine/memoryGuard';
import type { GradcheckResult } from '../engine/finiteDifferences';
import type { EarlySolves } from '../engine/earlySolves';
import type { Firings } from '../engine/scalarKernel/events';
import type { AdGradients, ParameterInputs } from './gradients';
import type { CheckOptions } from './options';
import type { CheckRun } from './run';

/** The helper's bundle, beside the running one (scripts/build.mjs builds it from check/threadMain.ts). */
export const THREAD_BUNDLE = 'checkThread.js';
/** The CLI's loader (scripts/cliLoader.cjs, built as dist/cli.js), which also starts the thread's bundle. */
const CODE_CACHE_LOADER = 'cli.js';

/** Threads a check uses unless told otherwise (the CLI's --threads, the editor's odeLens.checkThreads). */
export const DEFAULT_CHECK_THREADS = 2;

/**
 * AD (one discrete solve and its adjoint) cheaper than this: the reference stays on the calling thread. Such a
 * check takes about 100 ms in all, and its reference a few tens of ms, which posting the model and compiling it
 * again would mostly spend.
 */
export const THREAD_MIN_AD_MS = 25;

/**
 * A fused model whose discrete solve runs fewer operations than this does not start the helper: its whole check
 * takes well under 100 ms (XPPAUT's small samples: 10⁴–10⁵ operations, 6–80 ms in a warm process), less than the
 * helper takes to load, and a process exits only once its helper has loaded (about 50 ms more for such a check
 * in the CLI).
 */
export const THREAD_MIN_SOLVE_WORK = 200_000;

/** The job's claim word: nobody has started it, the helper has, the caller has. */
export const UNCLAIMED = 0,
  BY_HELPER = 1,
  BY_CALLER = 2;

/** What a check sends its helper: the options it may read (no signal, no callbacks, no parameter values). */
export type ThreadOptions = Omit<
  CheckOptions,
  'signal' | 'onPhase' | 'parameterValues' | 'threads' | 'threadScript' | 'threadMinAdMs' | 'threadMinSolveWork'
>;

/** A check's model to compile and keep for the check's later jobs (posted before AD; nothing is answered). */
export interface CompileJob {
  type: 'compile';
  /** The check (its jobs carry the same number): the helper keeps one check's model. */
  check: number;
  model: Model;
  options: ThreadOptions;
  backend: CheckRun['backend'];
  startedAt: number;
  /**
   * Perturbed solves to take at these parameter values (engine/earlySolves.ts) from `afterMs` past the job's posting
   * (when AD has run so long that no reference will follow it) until another job comes.
   */
  early?: { solves: EarlySolves; values: Float32Array[]; afterMs: number };
  /** When the job was posted (as `startedAt`): AD starts then. */
  postedAt: number;
}

export interface ReferenceJob {
  type: 'reference';
  id: number;
  /** The check it is part of: the helper's model kept for it serves (CompileJob), else `model` is compiled. */
  check: number;
  /** One Int32 on a SharedArrayBuffer: UNCLAIMED, BY_HELPER or BY_CALLER. */
  claim: Int32Array;
  /** Left out when the check's model was posted to compile (the helper declines the job if it has none). */
  model?: Model;
  options: ThreadOptions;
  /** The backend the check runs on: the helper runs the same one, or declines the job. */
  backend: CheckRun['backend'];
  /** When the check started, ms since the epoch (the time budget counts from it). */
  startedAt: number;
  inputs: ParameterInputs;
  /** AD's result, when the job is posted after AD (a refined reference reads it); else the job runs beside AD. */
  ad?: { result: AdGradients; workMs: number };
  /** The check's finite differences may follow: the helper keeps its compiled model for them (until `release`). */
  keep: boolean;
}

/** A share of a check's finite differences: the units (FiniteDifferenceWork.units) the check's thread has not claimed. */
export interface FiniteDifferenceJob {
  type: 'finite differences';
  id: number;
  /** One Int32 per unit on a SharedArrayBuffer: UNCLAIMED, BY_HELPER or BY_CALLER. */
  claims: Int32Array;
  /** The shared meter's words (engine/finiteDifferences.ts: sharedMeter): the time budget counts both threads' work. */
  meter: Int32Array;
  /** The unperturbed solve's firings, solved by the check's thread (FiniteDifferenceWork.unperturbed). */
  unperturbed: { firings?: Firings };
  /** The units as the check's thread made them: the helper runs none when its own differ. */
  units: number[][];
  /**
   * The check, whose compiled model the helper keeps when it ran its reference or a compile job (a model of large
   * arrays takes a tenth of a second to post and a few tenths to compile again), and the model to compile otherwise:
   * left out when the helper has it or will have it before this job.
   */
  source: { check: number; model?: { model: Model; options: ThreadOptions } };
  backend: CheckRun['backend'];
  startedAt: number;
  values: Float32Array[];
  G: Float32Array[];
  loss: number;
  budgetMs: number;
  /** The perturbed solves the helper took before AD (CompileJob.early): the units find theirs there. */
  early?: EarlySolves;
}

/** The check has ended: the helper drops the model it kept for it. */
export interface ReleaseMessage {
  type: 'release';
  check: number;
}

export type ToHelper = CompileJob | ReferenceJob | FiniteDifferenceJob | ReleaseMessage;

/** The results of one unit the helper ran: per tensor of the unit, in its order. */
export interface UnitResults {
  unit: number;
  results: GradcheckResult[];
}

/** What the reference phase (check/reference.ts) sets on the check besides its result: the helper sends these back. */
export const REFERENCE_FIELDS = [
  'referenceUnavailable',
  'refinedReference',
  'stiffReference',
  'eventReference',
  'mapEventEdges',
] as const satisfies readonly (keyof CheckRun)[];
export type ReferenceFields = Pick<CheckRun, (typeof REFERENCE_FIELDS)[number]>;

/** The reference phase's fields of a check, as the helper posts them. */
export const referenceFields = (run: CheckRun): ReferenceFields =>
  Object.fromEntries(REFERENCE_FIELDS.map((k) => [k, run[k]])) as ReferenceFields;

export type FromHelper =
  | { type: 'ready' }
  | { type: 'skipped'; id: number }
  /** The helper cannot run the check's backend (the caller runs the reference). */
  | { type: 'declined'; id: number; reason: string }
  | { type: 'reference'; id: number; ref: ReferenceResult | undefined; fields: ReferenceFields; ms: number }
  | { type: 'finite differences'; id: number; units: UnitResults[] }
  | {
      type: 'failed';
      id: number;
      name: string;
      message: string;
      memory?: { step: number; steps: number; heapMb: number; limitMb: number };
    };

/** The helper's answer to one job, or `lost` when it went away (failed to start, died, was terminated). */
type Answer = Exclude<FromHelper, { type: 'ready' }> | { type: 'lost'; reason: string };

/** Helpers that exited before ever starting (a broken bundle): after this many the process stays single-threaded. */
const MAX_FAILED_STARTS = 2;

class Helper {
  readonly worker: Worker;
  ready = false;
  gone = false;
  private readonly waiting = new Map<number, (a: Answer) => void>();

  constructor(readonly script: string) {
    // Started from a worker (the editor's check worker), it gets that worker's heap limits (its young generation).
    const limits = isMainThread ? {} : { resourceLimits };
    // Beside the CLI's loader (dist/cli.js), the loader runs the bundle with V8's code cache: the thread is ready
    // about 35 ms sooner, and a check's reference on it starts that much earlier.
    const loader = join(dirname(script), CODE_CACHE_LOADER);
    this.worker = existsSync(loader)
      ? new Worker(loader, { ...limits, workerData: { threadBundle: script } })
      : new Worker(script, limits);
    this.worker.on('message', (m: FromHelper) => {
      if (m.type === 'ready') {
        this.ready = true;
        failedStarts.delete(script);
        return;
      }
      if (m.type === 'reference') counts.answered++;
      if (m.type === 'finite differences') counts.finiteDifferenceUnits += m.units.length;
      this.answer(m.id, m);
    });
    this.worker.on('error', (e) => this.lose(`the check's second thread failed: ${e.message}`));
    this.worker.on('exit', (code) => this.lose(`the check's second thread exited (${code})`));
    // Idle, it does not keep the process alive (after the listeners: adding a 'message' listener refs it again).
    this.worker.unref();
  }

  /** Throws, as `tell` does, when the job cannot be posted (a value structured clone refuses): the caller keeps it. */
  ask(job: ReferenceJob | FiniteDifferenceJob): Promise<Answer> {
    if (this.gone) return Promise.resolve({ type: 'lost', reason: "the check's second thread is gone" });
    // Posted first, outside a promise's executor, which would turn the throw into a rejection nobody awaits yet. Its
    // answer comes as a later message event, after `waiting` has it.
    this.worker.postMessage(job);
    this.worker.ref(); // an answer is awaited: the process must not exit without it
    return new Promise((resolve) => this.waiting.set(job.id, resolve));
  }

  /** A message that expects no answer. */
  tell(m: CompileJob | ReleaseMessage): void {
    if (!this.gone) this.worker.postMessage(m);
  }

  private answer(id: number, a: Answer): void {
    const resolve = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0 && !this.gone) this.worker.unref();
    resolve?.(a);
  }

  private lose(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    if (!this.ready) failedStarts.set(this.script, (failedStarts.get(this.script) ?? 0) + 1);
    if (helper === this) helper = undefined;
    for (const id of [...this.waiting.keys()]) this.answer(id, { type: 'lost', reason });
  }

  /** Stops the thread now (it may be in the middle of a solve). */
  terminate(reason: string): void {
    this.lose(reason);
    void this.worker.terminate();
  }
}

let helper: Helper | undefined;
/** Per bundle, its helpers that exited before they were ready. */
const failedStarts = new Map<string, number>();
let nextId = 1;
/**
 * In this process: helpers started, models posted to compile before AD, reference jobs handed to them, references
 * they ran, helpers stopped in a job, finite-difference jobs handed to them (those without a model: the helper had
 * the check's) and units of those they ran (tests read them).
 */
const counts = {
  started: 0,
  compileJobs: 0,
  jobs: 0,
  answered: 0,
  terminated: 0,
  finiteDifferenceJobs: 0,
  finiteDifferenceJobsOnKeptModel: 0,
  finiteDifferenceUnits: 0,
};

export function secondThreadCounts(): Readonly<typeof counts> & { alive: boolean; ready: boolean } {
  const alive = !!helper && !helper.gone;
  return { ...counts, alive, ready: alive && !!helper?.ready };
}

function bundlePath(options: CheckOptions): string | undefined {
  if (options.threadScript) return resolve(options.threadScript);
  if (typeof __dirname !== 'string') return undefined;
  const beside = join(__dirname, THREAD_BUNDLE);
  return existsSync(beside) ? beside : undefined;
}

/** Whether the options let a check use its second thread. */
function threaded(options: CheckOptions): boolean {
  return (options.threads ?? DEFAULT_CHECK_THREADS) >= 2 && options.reference !== false;
}

/**
 * Whether a check may use the second thread: not for a model without parameters (no reference), a small fused one
 * (`solveWork`, THREAD_MIN_SOLVE_WORK), or a TF.js tensor model (no `solveWork`) unless `threadTensorModels`: with
 * both threads in TF.js's cpu backend, V8's parallel garbage collection of the two heaps competes for 2 cores (the
 * bench's d64 w256 N256 network: AD 50 → 220 ms, the check 483 → 544 ms; with --single-threaded-gc 504 → 446 ms).
 */
function mayUseSecondThread(options: CheckOptions, model: Model, solveWork?: number): boolean {
  if (!threaded(options) || model.params.length === 0) return false;
  if (solveWork === undefined) return options.threadTensorModels === true;
  return solveWork >= (options.threadMinSolveWork ?? THREAD_MIN_SOLVE_WORK);
}

/**
 * Starts the helper (when the check may use it and none runs), so that it has loaded by the time AD is done.
 * Returns whether the check may hand its reference over (mayUseSecondThread).
 */
export function startSecondThread(options: CheckOptions, model: Model, solveWork?: number): boolean {
  if (!mayUseSecondThread(options, model, solveWork)) return false;
  const script = bundlePath(options);
  if (!script || (failedStarts.get(script) ?? 0) >= MAX_FAILED_STARTS) return true;
  if (helper && !helper.gone && helper.script === script) return true;
  helper?.terminate('another bundle was asked for');
  try {
    helper = new Helper(script);
    counts.started++;
  } catch {
    failedStarts.set(script, (failedStarts.get(script) ?? 0) + 1);
    helper = undefined;
  }
  return true;
}

/** The reference of one check, run by the helper or, when the helper has not started it, by the caller. */
export interface ReferenceElsewhere {
  /**
   * After AD, for a job posted before it: false when AD was cheap (a small check) and this thread took the job back
   * (the helper had not started it); the check then runs its reference itself, as one thread does.
   */
  worthIt(run: CheckRun): boolean;
  /** The reference's result; `local` runs it on this thread (the caller's phase, with its timing). */
  result(local: () => ReferenceResult | undefined): Promise<ReferenceResult | undefined>;
  /** The check ends without the result (a blow-up, an error, a cancellation): the helper drops or stops the job. */
  abandon(): void;
}

const small = (run: CheckRun) => run.adWorkMs < (run.options.threadMinAdMs ?? THREAD_MIN_AD_MS);

/**
 * Posts the check's model to the helper to compile and keep, for a check whose reference is handed over after AD:
 * its reference job and its finite differences then find the model compiled. Until then the helper takes the early
 * perturbed solves `earlyFor` makes (only when the job is posted), which the check's finite differences find in
 * `run.earlySolves`. Nothing when the check stays on
 * this thread (one thread asked for, a native backend, no helper).
 */
export function compileElsewhere(run: CheckRun, earlyFor?: () => CompileJob['early']): void {
  const h = helper;
  if (!run.secondThread || run.backend === 'tensorflow' || !h || h.gone) return;
  const check = nextId++;
  const early = earlyFor?.();
  try {
    h.tell({
      type: 'compile',
      check,
      model: run.model,
      options: threadOptions(run.options),
      backend: run.backend,
      startedAt: performance.timeOrigin + run.started,
      postedAt: performance.timeOrigin + performance.now(),
      ...(early ? { early } : {}),
    });
  } catch {
    // The model could not be posted: the later jobs carry it.
    return;
  }
  counts.compileJobs++;
  run.helperModel = { check, posted: true };
  if (early) run.earlySolves = early.solves;
}

/**
 * Hands the check's reference to the helper: before AD (`ad` undefined) when the reference does not read it, else
 * after AD. Undefined when it stays on this thread (one thread asked for, no reference to run, a small check, a native
 * backend with threads of its own, no helper).
 */
export function referenceElsewhere(
  run: CheckRun,
  inputs: ParameterInputs,
  ad?: AdGradients,
): ReferenceElsewhere | undefined {
  const { options } = run;
  if (!run.secondThread || run.referenceUnavailable || run.backend === 'tensorflow') return undefined;
  if (ad && small(run)) return undefined;
  const h = helper;
  if (!h || h.gone) return undefined;
  const claim = new Int32Array(new SharedArrayBuffer(4));
  const posted = run.helperModel?.posted === true;
  const job: ReferenceJob = {
    type: 'reference',
    id: nextId++,
    check: run.helperModel?.check ?? nextId++,
    claim,
    ...(posted ? {} : { model: run.model }),
    options: threadOptions(options),
    backend: run.backend,
    startedAt: performance.timeOrigin + run.started,
    inputs,
    ...(ad ? { ad: { result: ad, workMs: run.adWorkMs } } : {}),
    keep: options.gradcheck !== false,
  };
  let answer: Promise<Answer>;
  try {
    answer = h.ask(job);
  } catch {
    // The model or its values could not be posted: this thread runs the reference.
    return undefined;
  }
  counts.jobs++;
  if (job.keep) run.helperModel = { check: job.check, posted, claim };
  // A cancelled check stops its reference at once (an idle helper stays).
  const { settle, abandon } = watchJob(
    h,
    answer,
    options.signal,
    () => Atomics.compareExchange(claim, 0, UNCLAIMED, BY_CALLER) === BY_HELPER,
  );
  const takeBack = () => {
    if (Atomics.compareExchange(claim, 0, UNCLAIMED, BY_CALLER) !== UNCLAIMED) return false;
    settle();
    return true;
  };
  return {
    worthIt(r) {
      return !small(r) || !takeBack();
    },
    async result(local) {
      // The helper has not started it: this thread runs it now rather than wait.
      if (takeBack()) return local();
      const a = await answer;
      settle();
      run.checkpoint();
      switch (a.type) {
        case 'reference':
          Object.assign(run, a.fields);
          run.timings.referenceMs = a.ms;
          run.timings.referenceConcurrent = true;
          return a.ref;
        case 'failed':
          throw rebuiltError(a);
        default:
          // Skipped, declined or lost: this thread runs it (the same phase gives the same result or error).
          return local();
      }
    },
    abandon,
  };
}

/** The options a check sends its helper (ThreadOptions). */
function threadOptions(options: CheckOptions): ThreadOptions {
  const {
    signal,
    onPhase,
    parameterValues,
    threads,
    threadScript,
    threadMinAdMs,
    threadMinSolveWork,
    threadTensorModels,
    ...rest
  } = options;
  return rest;
}

/** A check's finite differences shared with the helper: the check's thread claims units, the helper the rest. */
export interface FiniteDifferencesElsewhere {
  /** Claims unit k for this thread; false when the helper has it. */
  claim(unit: number): boolean;
  /**
   * Once this thread has tried to claim every unit: the results of the units the helper ran, awaited only when it
   * holds any. A unit it could not deliver (it was lost, failed or declined) is missing: this thread runs it.
   */
  helperResults(): Promise<UnitResults[]>;
  /** The check ends without them (an error, a cancellation): the helper stops when it holds a unit. */
  abandon(): void;
}

/**
 * Whether a check may share its finite differences (their `units`, FiniteDifferenceWork.units) with the helper: not
 * those whose reference stays on this thread (referenceElsewhere's rules: one thread asked for, a small check, a
 * native backend, no helper), nor below two units.
 */
export function mayShareFiniteDifferences(run: CheckRun, units: number[][]): boolean {
  if (!run.secondThread || run.backend === 'tensorflow' || small(run) || units.length < 2) return false;
  return !!helper && !helper.gone;
}

/**
 * Posts the check's finite differences to the helper after AD (mayShareFiniteDifferences said it may), with the
 * shared meter's words and the unperturbed solve's firings. Undefined when the helper is gone or the job could not
 * be posted: they stay on this thread.
 */
export function finiteDifferencesElsewhere(
  run: CheckRun,
  values: Float32Array[],
  ad: AdGradients,
  units: number[][],
  budgetMs: number,
  meter: Int32Array,
  unperturbed: { firings?: Firings },
): FiniteDifferencesElsewhere | undefined {
  const { options } = run;
  const h = helper;
  if (!h || h.gone) return undefined;
  // When the model was posted to compile, or the helper has started the reference (it runs this job after either), its
  // compiled model serves: no model is posted. Otherwise the model goes along, and the kept one still serves if the
  // helper runs that reference first.
  const kept = run.helperModel;
  const helperHasModel = !!kept && (kept.posted || (!!kept.claim && Atomics.load(kept.claim, 0) === BY_HELPER));
  const claims = new Int32Array(new SharedArrayBuffer(4 * units.length));
  const job: FiniteDifferenceJob = {
    type: 'finite differences',
    id: nextId++,
    claims,
    meter,
    unperturbed,
    units,
    source: {
      check: kept?.check ?? nextId++,
      ...(helperHasModel ? {} : { model: { model: run.model, options: threadOptions(options) } }),
    },
    backend: run.backend,
    startedAt: performance.timeOrigin + run.started,
    values,
    G: ad.G,
    loss: ad.loss,
    budgetMs,
    ...(run.earlySolves ? { early: run.earlySolves } : {}),
  };
  let answer: Promise<Answer>;
  try {
    answer = h.ask(job);
  } catch {
    return undefined;
  }
  // The helper drops the kept model after this job.
  run.helperModel = undefined;
  counts.finiteDifferenceJobs++;
  if (helperHasModel) counts.finiteDifferenceJobsOnKeptModel++;
  const helperHolds = () => units.some((_u, k) => Atomics.load(claims, k) === BY_HELPER);
  // Whatever is unclaimed becomes this thread's (the helper starts nothing more); a unit the helper is in stops it.
  const { settle, abandon } = watchJob(h, answer, options.signal, () => {
    for (let k = 0; k < units.length; k++) Atomics.compareExchange(claims, k, UNCLAIMED, BY_CALLER);
    return helperHolds();
  });
  return {
    claim: (k) => Atomics.compareExchange(claims, k, UNCLAIMED, BY_CALLER) === UNCLAIMED,
    async helperResults() {
      if (!helperHolds()) {
        settle();
        return [];
      }
      const a = await answer;
      settle();
      run.checkpoint();
      return a.type === 'finite differences' ? a.units : [];
    },
    abandon,
  };
}

/**
 * A posted job's end: `release` claims for this thread what the helper has not started and says whether the helper
 * still holds part of the job; a cancelled check (or one that leaves it) then terminates the helper unless it has
 * answered. `settle` once the answer is in hand or the job taken back.
 */
function watchJob(
  h: Helper,
  answer: Promise<Answer>,
  signal: AbortSignal | undefined,
  release: () => boolean,
): { settle: () => void; abandon: () => void } {
  let answered = false;
  void answer.then(() => {
    answered = true;
  });
  const stop = () => {
    if (release() && !answered) {
      counts.terminated++;
      h.terminate('the check was cancelled');
    }
  };
  signal?.addEventListener('abort', stop, { once: true });
  let settled = false;
  const settle = () => {
    settled = true;
    signal?.removeEventListener('abort', stop);
  };
  return {
    settle,
    abandon() {
      if (settled) return;
      settle();
      stop();
    },
  };
}

/** The check has ended: the helper drops the model it kept for the check's finite differences, if it still holds it. */
export function releaseSecondThread(run: CheckRun): void {
  if (!run.helperModel) return;
  helper?.tell({ type: 'release', check: run.helperModel.check });
  run.helperModel = undefined;
}

/** The helper's error as the caller's phase would have thrown it (the check reports it the same way). */
function rebuiltError(a: Extract<FromHelper, { type: 'failed' }>): Error {
  if (a.memory) return new SolveMemoryExceeded(a.memory.step, a.memory.steps, a.memory.heapMb, a.memory.limitMb);
  const e = new Error(a.message);
  e.name = a.name;
  return e;
}
