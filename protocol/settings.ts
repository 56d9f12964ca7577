// The `odeLens` settings section (package.json `contributes.configuration`) as the
// server reads it: from workspace/configuration, or from initializationOptions for
// clients without it. Untrusted input: normaliseSettings validates and completes it.

import { BACKEND_NAMES, isBackendName, type BackendName } from '../solver/registry/backends';

/** The `odeLens.backend` setting: one of the backends of the registry (package.json's enum is checked against it). */
export type BackendSetting = BackendName;
export const BACKEND_SETTINGS: readonly BackendSetting[] = BACKEND_NAMES;

/** The `odeLens` settings section as the server uses it (see package.json). */
export interface OdeLensSettings {
  /**
   * threads: 2 runs a check's continuous reference on a second thread beside its finite differences, 1 does not.
   * finiteDifferences: false checks AD against the continuous reference alone.
   */
  check: { enabled: boolean; debounceMs: number; timeBudgetMs: number; threads: number; finiteDifferences: boolean };
  backend: BackendSetting;
  /** Files a model names (`data`, `table`): the largest read, in MB. */
  data: { maxFileSizeMB: number };
}

export const DEFAULT_SETTINGS: OdeLensSettings = {
  check: { enabled: true, debounceMs: 400, timeBudgetMs: 20000, threads: 2, finiteDifferences: true },
  backend: 'auto',
  data: { maxFileSizeMB: 10 },
};

/** Validates and completes a (partial, untrusted) settings object. */
export function normaliseSettings(raw: unknown): OdeLensSettings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const check = (r.check && typeof r.check === 'object' ? r.check : {}) as Record<string, unknown>;
  const data = (r.data && typeof r.data === 'object' ? r.data : {}) as Record<string, unknown>;
  const num = (v: unknown, d: number, min: number, max: number) =>
    typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : d;
  const backend = isBackendName(r.backend) ? r.backend : DEFAULT_SETTINGS.backend;
  return {
    check: {
      enabled: typeof check.enabled === 'boolean' ? check.enabled : DEFAULT_SETTINGS.check.enabled,
      debounceMs: num(check.debounceMs, DEFAULT_SETTINGS.check.debounceMs, 0, 60_000),
      timeBudgetMs: num(check.timeBudgetMs, DEFAULT_SETTINGS.check.timeBudgetMs, 100, 3_600_000),
      threads: check.threads === 1 || check.threads === 2 ? check.threads : DEFAULT_SETTINGS.check.threads,
      finiteDifferences:
        typeof check.finiteDifferences === 'boolean'
          ? check.finiteDifferences
          : DEFAULT_SETTINGS.check.finiteDifferences,
    },
    backend,
    data: { maxFileSizeMB: num(data.maxFileSizeMB, DEFAULT_SETTINGS.data.maxFileSizeMB, 0.001, 100_000) },
  };
}
