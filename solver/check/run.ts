// The state every phase of one check shares: the model with its scheme, copy layout and correction, the
// backend, the timings, and the pacing between phases (cancellation and the time budget).
import type { EarlySolves } from '../engine/earlySolves';
import type { MapFirings } from '../engine/mapReference';
import type { Model, Range } from '../model';
import { findOption } from '../model';
import {
  REPORT_VERSION,
  type Finding,
  type EventReference,
  type RefinedReference,
  type StiffReferenceSteps,
  type ReferenceUnavailable,
  type Report,
} from '../report';
import { referenceUnavailable } from './referenceAvailability';
import type { BackendHandle } from '../engine/backend';
import type { TF } from '../engine/tf';
import { copiesPerParameter } from '../engine/discrete';
import type { Correction, Edges } from '../engine/corrections';
import {
  copyLayout,
  correctionEdges,
  effectiveCorrection,
  recommendedFor,
  type CopyLayout,
} from '../engine/layerAnalysis';
import { schemeOf, type Scheme } from '../schemes/schemes';
import type { CheckOptions } from './options';

/** Between phases: throws CheckCancelled when the caller aborted, CheckTimeout past the time budget. */
interface Pacing {
  checkpoint: () => void;
  /** Yields to the event loop (so an abort can arrive), then checkpoints. */
  phase: () => Promise<void>;
}

function namedError(name: 'CheckCancelled' | 'CheckTimeout', message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export function pacing(options: CheckOptions, started: number): Pacing {
  const deadline = options.timeBudgetMs !== undefined ? started + options.timeBudgetMs : Infinity;
  const checkpoint = () => {
    if (options.signal?.aborted) throw namedError('CheckCancelled', 'gradient check cancelled');
    if (performance.now() > deadline)
      throw namedError('CheckTimeout', `gradient check exceeded its time budget of ${options.timeBudgetMs} ms`);
  };
  return {
    checkpoint,
    phase: async () => {
      await tick();
      checkpoint();
    },
  };
}

/** One check in progress: what every phase reads, and the timings the phases add to. */
export interface CheckRun extends Pacing {
  tf: TF;
  backend: BackendHandle['backend'];
  model: Model;
  options: CheckOptions;
  started: number;
  scheme: Scheme;
  /** Copies of each per-step parameter (engine/discrete.ts: copiesPerParameter). */
  copies: number;
  layout: CopyLayout;
  edges: Edges;
  /** The correction applied (gradfix, or the one substituted for it, with its note). */
  correction: Correction;
  correctionNote?: string;
  recommended?: Correction;
  /** Set when the model has no continuous reference, with the reason (check/referenceAvailability.ts). */
  referenceUnavailable?: ReferenceUnavailable;
  /** Set when the reference was taken from refined grids (check/refinedReference.ts). */
  refinedReference?: RefinedReference;
  /** Set when the reference of a stiff model was solved on a stable step (engine/reference.ts: stableReference). */
  stiffReference?: StiffReferenceSteps;
  /** Set when the reference located the model's events (engine/eventReference.ts), or stepped back through a map's. */
  eventReference?: EventReference;
  /** A map's event conditions exactly on the edge of their test, moving with parameters they read (engine/mapReference.ts). */
  mapEventEdges?: MapFirings['edges'];
  timings: Report['timings'];
  /** The check may hand its reference to the second thread (check/thread.ts: startSecondThread decided). */
  secondThread?: boolean;
  /**
   * The check's model on the second thread (check/thread.ts), kept for its finite differences: `posted` to compile
   * before AD, or compiled by the reference job whose `claim` says whether the helper has started it.
   */
  helperModel?: { check: number; posted: boolean; claim?: Int32Array };
  /** The perturbed solves the second thread takes while AD runs (check/thread.ts: compileElsewhere). */
  earlySolves?: EarlySolves;
  /** The AD phase's cost, load-independent (check/work.ts), for predictions (check/refinedReference.ts). */
  adWorkMs: number;
}

/** The check runs no finite differences (CheckOptions.gradcheck false: the CLI's --no-gradcheck, the editor's setting). */
export const finiteDifferencesOff = (run: Pick<CheckRun, 'options'>): boolean => run.options.gradcheck === false;

export function checkRun(
  handle: Pick<BackendHandle, 'tf' | 'backend'>,
  model: Model,
  options: CheckOptions,
  started: number,
  pace: Pacing,
): CheckRun {
  const { steps: N, dt: h, t0, gradfix } = model.options;
  const scheme = schemeOf(model);
  const layout = copyLayout(scheme, N, h, t0);
  const hasPerStep = model.params.some((p) => p.perStep);
  const { correction, note } = effectiveCorrection(gradfix, layout, hasPerStep);
  return {
    ...pace,
    tf: handle.tf,
    backend: handle.backend,
    model,
    options,
    started,
    scheme,
    copies: copiesPerParameter(model),
    layout,
    edges: correctionEdges(scheme),
    correction,
    correctionNote: note,
    recommended: recommendedFor(layout, hasPerStep),
    referenceUnavailable: referenceUnavailable(model, { mapAdjoint: true, refined: true, eventReference: true }),
    timings: { totalMs: 0, adMs: 0, referenceMs: 0, finiteDifferenceMs: 0 },
    adWorkMs: 0,
  };
}

/** The report of a finished (or refused) check; its total time runs until now. */
export function finishReport(
  run: CheckRun,
  rest: Pick<Report, 'loss' | 'referenceError' | 'parameters' | 'verdict' | 'statePaths'>,
  findings: Finding[],
): Report {
  const opt = run.model.options;
  run.timings.totalMs = performance.now() - run.started;
  return {
    version: REPORT_VERSION,
    scheme: opt.meth,
    steps: opt.steps,
    dt: opt.dt,
    t0: opt.t0,
    total: opt.total,
    gradfix: opt.gradfix,
    correction: run.correction,
    checkedParameters: {
      kind: run.options.parameterValues ? 'given' : 'seeded',
      source: run.options.parameterValues ? (run.options.parameterSource ?? 'given values') : `seed=${opt.seed}`,
      names: run.model.params.map((p) => p.name),
    },
    backend: run.backend,
    ...(run.recommended ? { recommendedCorrection: run.recommended } : {}),
    ...(run.referenceUnavailable ? { referenceUnavailable: run.referenceUnavailable } : {}),
    ...(finiteDifferencesOff(run) ? { finiteDifferencesOff: true as const } : {}),
    ...(run.refinedReference ? { refinedReference: run.refinedReference } : {}),
    ...(run.stiffReference ? { stiffReference: run.stiffReference } : {}),
    ...(run.eventReference ? { eventReference: run.eventReference } : {}),
    ...rest,
    findings,
    timings: run.timings,
  };
}

/** The report of a check that stopped before measuring gradients: its findings say why. */
export function emptyReport(run: CheckRun, loss: number, findings: Finding[]): Report {
  return finishReport(run, { loss, referenceError: 0, parameters: [] }, findings);
}

const ORIGIN: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

/** Where a finding about the model's options goes: the method's value, else the first option line, parameter or state. */
export function optionsRange(model: Model, fallback: Range = ORIGIN): Range {
  return (
    findOption(model, 'meth')?.valueRange ??
    model.optionLines[0]?.range ??
    model.params[0]?.range ??
    model.states[0]?.range ??
    fallback
  );
}
