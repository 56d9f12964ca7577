// protocol/ holds every message type that crosses a process or thread boundary, and
// nothing else: each side imports it from here, so a message has one definition.
//   customMessages.ts   server ↔ client: the LSP extension below
//   settings.ts         client → server: the `odeLens` settings section
//   webviewMessages.ts  client ↔ plot webview
//   workerMessages.ts   server ↔ check worker thread
//   report.ts           the engine's Report type, re-exported for client and webview
// It imports only types from solver/ (the report, file paths) and vscode-jsonrpc (message types).
//
// The typed protocol between the ODE Lens client (VS Code side) and the language
// server, on top of LSP; any LSP client can use it too (the method names are plain strings).
//
//   server → client  notification  odeLens/checkStatus  CheckStatusParams
//   server → client  notification  odeLens/report       ReportParams     (the summary: no rows)
//   client → server  request       odeLens/getReport    { uri }  → ReportSummary | null
//   client → server  request       odeLens/runCheck     { uri }  → RunCheckResult
//   client → server  request       odeLens/rows         RowsParams → RowsResult (the rows a view draws)
// A finished check sends only its summary (a few kB at any size); the rows stay in the server
// and a plot asks for what it shows: some components of one table, downsampled to its width.
//   client → server  request       odeLens/cancelCheck  { uri }  → { cancelled }
//   client → server  request       odeLens/train        TrainParams → TrainSummary (raw AD, then the correction)
//   server → client  notification  odeLens/trainProgress TrainProgressParams (one per finished iteration)
//   client → server  request       odeLens/cancelTraining { uri } → { cancelled }
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { ReportSummary, RowQuery, RowsAnswer } from './report';

export type { ReportSummary };

/** Life cycle of one background gradient check. */
export type CheckState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface CheckStatusParams {
  uri: string;
  state: CheckState;
  /** Document version the check belongs to. */
  version?: number;
  /** Backend that ran the check (tensorflow, wasm or cpu), when known. */
  backend?: string;
  /**
   * Done: the check's time, whole ms, from its report (checkTimeMs of timings.totalMs: the number the plots' header,
   * the hovers and `odelens check` show). Failed: the wall-clock time of the attempt in the worker.
   */
  ms?: number;
  /** Human-readable detail: why it failed, or "cached". */
  message?: string;
  /** Number of findings (done only). */
  findings?: number;
  /** True when the result came from the content-hash cache. */
  cached?: boolean;
  /** The phase a running check is in (solve, reference, finite differences, analysis). */
  phase?: string;
  /** Restricted Mode: the workspace is not trusted, so no check runs. */
  restricted?: boolean;
  /** The check ran at the parameter values of this file (its name), not the seeded ones. */
  parameters?: string;
}

export interface ReportParams {
  uri: string;
  /** Document version whose exact content the report describes. */
  version?: number;
  /** Names this report's rows: a rows request carries it, so rows of another report are never drawn under it. */
  key?: string;
  report: ReportSummary;
}

/** A request for some rows of the document's latest report (its `rowTables` say what there is). */
export interface RowsParams {
  uri: string;
  /** The report's key (ReportParams.key); rows of a later report are refused as stale. Absent: the latest. */
  key?: string;
  query: RowQuery;
}

export type RowsResult =
  | { key: string; rows: RowsAnswer }
  /** No rows: no report yet, a stale key, or a query the report cannot answer (the message says which). */
  | { key?: string; message: string; stale?: boolean };

export interface UriParams {
  uri: string;
}

export interface RunCheckParams extends UriParams {
  /** Run the refinement study (N, 2N, 4N steps with observed orders) as well. */
  refine?: boolean;
  /** Check at the parameter values in this file (a file: URI; the format of `odelens train --out`) instead of the seeded ones. */
  parameters?: string;
}

export interface RunCheckResult {
  state: CheckState;
  report: ReportSummary | null;
  message?: string;
}

export namespace CheckStatusNotification {
  export const method = 'odeLens/checkStatus';
  export const type = new NotificationType<CheckStatusParams>(method);
}

export namespace ReportNotification {
  export const method = 'odeLens/report';
  export const type = new NotificationType<ReportParams>(method);
}

export namespace GetReportRequest {
  export const method = 'odeLens/getReport';
  export const type = new RequestType<UriParams, ReportSummary | null, void>(method);
}

export namespace RowsRequest {
  export const method = 'odeLens/rows';
  export const type = new RequestType<RowsParams, RowsResult, void>(method);
}

export namespace RunCheckRequest {
  export const method = 'odeLens/runCheck';
  export const type = new RequestType<RunCheckParams, RunCheckResult, void>(method);
}

export interface TrainParams extends UriParams {
  iterations?: number;
}

/** One training run's outcome: its summary line, and what it learned (also when it was stopped early). */
export interface TrainedRun {
  gradient: string;
  /** completed, cancelled, timeout or diverged. */
  stopped: string;
  iterations: number;
  /** "ad: loss 0.84 → 0.012, flow loss 0.013, total variation 3.1 (50 iterations)". */
  line: string;
  /** The learned parameters as `odelens train --out` writes them (JSON text, written to a file as is). */
  parametersJson: string;
}

export interface TrainSummary {
  /** One line per gradient: raw AD, then the recommended correction. */
  lines: string[];
  /** The runs that produced parameters, in order (a cancelled run keeps what it learned so far). */
  runs?: TrainedRun[];
  error?: string;
  cancelled?: boolean;
}

/** Trains the model with raw and with corrected gradients (a worker of its own); cancel it with CancelTrainingRequest. */
export namespace TrainRequest {
  export const method = 'odeLens/train';
  export const type = new RequestType<TrainParams, TrainSummary, void>(method);
}

/** Stops the document's training: the train request then answers with what each run learned so far. */
export namespace CancelTrainingRequest {
  export const method = 'odeLens/cancelTraining';
  export const type = new RequestType<UriParams, { cancelled: boolean }, void>(method);
}

/** One finished iteration, sent as it finishes: each curve grows by one point (the figures before its update). */
export interface TrainIteration {
  gradient: string;
  iteration: number;
  /** Discrete loss. */
  loss: number;
  /** Flow loss (the same parameters solved accurately); null on iterations where it is not computed. */
  flowLoss: number | null;
  /** Σ over the per-step parameters of Σ_n ‖θ_{n+1} − θ_n‖₁. */
  totalVariation: number;
}

export interface TrainProgressParams extends TrainIteration {
  uri: string;
  /** Iterations per run. */
  iterations: number;
  /** The runs, in order (raw `ad` first). */
  gradients: string[];
}

export namespace TrainProgressNotification {
  export const method = 'odeLens/trainProgress';
  export const type = new NotificationType<TrainProgressParams>(method);
}

/** Cancels the document's queued or running check; its last findings stay, marked as of an earlier version. */
export namespace CancelCheckRequest {
  export const method = 'odeLens/cancelCheck';
  export const type = new RequestType<UriParams, { cancelled: boolean }, void>(method);
}

/** Diagnostic source of everything the server publishes. */
export const DIAGNOSTIC_SOURCE = 'ODE Lens';
