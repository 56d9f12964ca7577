// The typed protocol between the ODE Lens client (VS Code side) and the language
// server, on top of LSP. Both sides import these definitions; any LSP client can
// use them too (the method names are plain strings).
//
//   server → client  notification  odeLens/checkStatus  CheckStatusParams
//   server → client  notification  odeLens/report       ReportParams
//   client → server  request       odeLens/getReport    { uri }  → Report | null
//   client → server  request       odeLens/runCheck     { uri }  → RunCheckResult
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { Report } from '../solver/report';

export type { Report };

/** Life cycle of one background gradient check. */
export type CheckState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export type BackendSetting = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
const BACKEND_SETTINGS: readonly BackendSetting[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface CheckStatusParams {
  uri: string;
  state: CheckState;
  /** Document version the check belongs to. */
  version?: number;
  /** Backend that ran the check (tensorflow, wasm or cpu), when known. */
  backend?: string;
  /** Wall-clock time of the check in the worker (done), or of the attempt (failed). */
  ms?: number;
  /** Human-readable detail: why it failed, or "cached". */
  message?: string;
  /** Number of findings (done only). */
  findings?: number;
  /** True when the result came from the content-hash cache. */
  cached?: boolean;
}

export interface ReportParams {
  uri: string;
  /** Document version whose exact content the report describes. */
  version?: number;
  report: Report;
}

export interface UriParams { uri: string }

export interface RunCheckResult {
  state: CheckState;
  report: Report | null;
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
  export const type = new RequestType<UriParams, Report | null, void>(method);
}

export namespace RunCheckRequest {
  export const method = 'odeLens/runCheck';
  export const type = new RequestType<UriParams, RunCheckResult, void>(method);
}

/** The `odeLens` settings section as the server uses it (see package.json). */
export interface OdeLensSettings {
  check: { enabled: boolean; debounceMs: number; timeBudgetMs: number };
  backend: BackendSetting;
}

export const DEFAULT_SETTINGS: OdeLensSettings = {
  check: { enabled: true, debounceMs: 400, timeBudgetMs: 20000 },
  backend: 'auto',
};

/** Validates and completes a (partial, untrusted) settings object. */
export function normaliseSettings(raw: unknown): OdeLensSettings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const check = (r.check && typeof r.check === 'object' ? r.check : {}) as Record<string, unknown>;
  const num = (v: unknown, d: number, min: number, max: number) =>
    typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : d;
  const backend = BACKEND_SETTINGS.includes(r.backend as BackendSetting) ? (r.backend as BackendSetting) : DEFAULT_SETTINGS.backend;
  return {
    check: {
      enabled: typeof check.enabled === 'boolean' ? check.enabled : DEFAULT_SETTINGS.check.enabled,
      debounceMs: num(check.debounceMs, DEFAULT_SETTINGS.check.debounceMs, 0, 60_000),
      timeBudgetMs: num(check.timeBudgetMs, DEFAULT_SETTINGS.check.timeBudgetMs, 100, 3_600_000),
    },
    backend,
  };
}

/** Diagnostic source of everything the server publishes. */
export const DIAGNOSTIC_SOURCE = 'ODE Lens';

/** Finding codes the quick fix "Correct AD gradients with filter121" applies to. */
export const GRADFIX_FIXABLE_CODES: readonly string[] = ['oscillating-gradient', 'weakly-stable-scheme', 'stage-imbalance'];

export const QUICK_FIX_TITLE = 'Correct AD gradients with filter121';
