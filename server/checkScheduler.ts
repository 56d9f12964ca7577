// When each open document's content gets its gradient check: debounced after an edit,
// at once when asked; a pending or running check of content that changed is cancelled;
// content seen before is answered from the report cache. The checks themselves run in
// the worker (CheckRunner: one warm worker thread, time budget, crash recovery). Each
// outcome is recorded on the document and handed to the listener, which publishes it.
import type { Range } from '../solver/model';
import { findOption } from '../solver/model';
import { checkTimeMs } from '../solver/presentation/format';
import type { CheckStatusParams, RunCheckResult } from '../protocol/customMessages';
import type { OdeLensSettings } from '../protocol/settings';
import type { CheckOutcome, CheckRequest, CheckRunner, CheckRunnerOptions } from './checkRunner';
import type { DocumentStore, OpenDocument } from './documentStore';
import { reportVariant, type CheckResult, type ReportCache } from './reportCache';
import { contentKey } from './modelFiles';
import { modelErrorsMessage } from '../solver/language/index';
import { warningCount } from './diagnostics';
import type { Diagnostic as LspDiagnostic } from 'vscode-languageserver/node';

/** What the scheduler tells the rest of the server. */
export interface CheckListener {
  /** The document's diagnostics changed (a report or a failure arrived, or checks were switched off): returns them as published. */
  publish(doc: OpenDocument): readonly LspDiagnostic[];
  /** The document's check state changed (doc.state is already set). */
  status(doc: OpenDocument, params: Omit<CheckStatusParams, 'uri' | 'version'>): void;
  /** A report for the document's current content (its summary is what goes to the client). */
  report(doc: OpenDocument, result: CheckResult): void;
}

/** The part of CheckRunner the scheduler uses. */
export type Runner = Pick<CheckRunner, 'start' | 'run' | 'cancel' | 'isActive' | 'dispose'>;

export interface CheckSchedulerOptions {
  store: DocumentStore;
  cache: ReportCache;
  settings: (uri: string) => Promise<OdeLensSettings>;
  /** Makes the runner, on first use; the hooks keep the scheduler informed. */
  createRunner: (hooks: Pick<CheckRunnerOptions, 'onStart' | 'onProgress' | 'onLateReport'>) => Runner;
  listener: CheckListener;
  log: (message: string) => void;
}

export class CheckScheduler {
  private runner: Runner | undefined;
  /** Per URI: a debounced check waiting to start, and who waits for its result. */
  private readonly timers = new Map<string, { handle: NodeJS.Timeout; resolve: (r: RunCheckResult) => void }>();

  constructor(private readonly o: CheckSchedulerOptions) {}

  /** Starts the worker ahead of the first check so it is warm. */
  start(): void {
    this.getRunner().start();
  }

  /** The document's content changed (it is analysed and published): check it after the debounce. */
  changed(st: OpenDocument): void {
    // No check runs for this text: the status item says why (and not the figures of an earlier text).
    const why = checkable(st);
    if (why) this.sendStatus(st, { state: 'cancelled', message: why, ...(st.restricted ? { restricted: true } : {}) });
    void this.schedule(st, false);
  }

  /**
   * Schedules a check of the document's current content (debounced, or now when forced). `parameters`: check at
   * the values of a learned-parameters file instead of the seeded ones (now, and not cached: the cache is keyed
   * by content).
   */
  async schedule(
    st: OpenDocument,
    force: boolean,
    refine = false,
    parameters?: CheckRequest['parameters'],
  ): Promise<RunCheckResult> {
    const why = checkable(st);
    if (why) return { state: 'cancelled', report: null, message: why };
    const hash = st.hash;
    const settings = await this.o.settings(st.uri);
    if (!this.o.store.isCurrent(st, hash)) return { state: 'cancelled', report: null, message: 'the document changed' };
    st.checksDisabled = !settings.check.enabled && !force;
    if (st.checksDisabled) {
      this.o.listener.publish(st);
      const message = 'gradient checks are disabled (odeLens.check.enabled)';
      this.sendStatus(st, { state: 'cancelled', message });
      return { state: 'cancelled', report: null, message };
    }
    const variant = reportVariant(settings.backend, settings.check.finiteDifferences);
    const hit = force || parameters ? undefined : this.o.cache.get(variant, hash);
    if (hit) {
      this.clearTimer(st);
      this.applyReport(st, hash, hit, true);
      return { state: 'done', report: hit.summary };
    }
    this.clearTimer(st);
    this.sendStatus(st, { state: 'queued' });
    return new Promise<RunCheckResult>((resolve) => {
      const handle = setTimeout(
        () => {
          this.timers.delete(st.uri);
          if (!this.o.store.isCurrent(st, hash))
            return resolve({ state: 'cancelled', report: null, message: 'the document changed' });
          const text = st.text;
          this.getRunner()
            .run({
              key: st.uri,
              text,
              backend: settings.backend,
              timeBudgetMs: settings.check.timeBudgetMs,
              threads: settings.check.threads,
              ...(settings.check.finiteDifferences ? {} : { finiteDifferences: false }),
              context: this.o.store.checkContext(st),
              refine,
              parameters,
            })
            .then((outcome) => resolve(this.onOutcome(st, hash, settings, outcome, !!parameters)))
            .catch((e) => {
              this.o.log(`ODE Lens: check scheduling failed: ${String(e)}`);
              resolve({ state: 'failed', report: null, message: String(e) });
            });
        },
        force ? 0 : settings.check.debounceMs,
      );
      this.timers.set(st.uri, { handle, resolve });
    });
  }

  /** Cancels the document's waiting and running checks. */
  cancel(st: OpenDocument): void {
    this.clearTimer(st);
    const active = this.runner?.isActive(st.uri) ?? false;
    if (active) this.runner!.cancel(st.uri);
    if (st.state === 'queued' || st.state === 'running') this.sendStatus(st, { state: 'cancelled' });
  }

  async dispose(): Promise<void> {
    await this.runner?.dispose();
    this.runner = undefined;
  }

  private getRunner(): Runner {
    if (!this.runner) {
      this.runner = this.o.createRunner({
        onStart: (req) => {
          const st = this.o.store.get(req.key);
          if (st && st.hash === contentKey(req.text, req.context?.files)) this.sendStatus(st, { state: 'running' });
        },
        onProgress: (req, phase) => {
          const st = this.o.store.get(req.key);
          if (st && st.hash === contentKey(req.text, req.context?.files))
            this.sendStatus(st, { state: 'running', phase });
        },
        onLateReport: (req, result) => {
          if (!req.parameters)
            this.o.cache.set(
              reportVariant(req.backend, req.finiteDifferences !== false),
              contentKey(req.text, req.context?.files),
              result,
            );
        },
      });
    }
    return this.runner;
  }

  private sendStatus(st: OpenDocument, params: Omit<CheckStatusParams, 'uri' | 'version'>): void {
    st.state = params.state;
    this.o.listener.status(st, params);
  }

  private clearTimer(st: OpenDocument): void {
    const t = this.timers.get(st.uri);
    if (!t) return;
    this.timers.delete(st.uri);
    clearTimeout(t.handle);
    t.resolve({ state: 'cancelled', report: null, message: 'superseded' });
  }

  private applyReport(st: OpenDocument, hash: string, result: CheckResult, cached: boolean): void {
    const report = result.summary;
    st.last = { hash, version: st.version, report, tables: result.tables };
    const published = this.o.listener.publish(st);
    this.sendStatus(st, {
      state: 'done',
      backend: report.backend,
      ms: checkTimeMs(report.timings),
      findings: warningCount(published),
      cached,
      message: cached ? 'cached' : undefined,
      ...(report.checkedParameters?.kind === 'given' ? { parameters: report.checkedParameters.source } : {}),
    });
    this.o.listener.report(st, result);
  }

  /** `atGivenParameters`: the check ran at a parameters file's values, so its report is not the content's (not cached). */
  private onOutcome(
    st: OpenDocument,
    hash: string,
    settings: OdeLensSettings,
    outcome: CheckOutcome,
    atGivenParameters: boolean,
  ): RunCheckResult {
    const current = this.o.store.isCurrent(st, hash);
    switch (outcome.kind) {
      case 'done':
        if (!atGivenParameters)
          this.o.cache.set(reportVariant(settings.backend, settings.check.finiteDifferences), hash, outcome.result);
        if (current) {
          st.failure = undefined;
          this.applyReport(st, hash, outcome.result, false);
        }
        return { state: 'done', report: outcome.result.summary };
      case 'failed': {
        const message =
          outcome.reason === 'timeout'
            ? `Gradient check stopped: ${outcome.message} (setting odeLens.check.timeBudgetMs).`
            : outcome.reason === 'crash'
              ? `Gradient check failed: ${outcome.message}. The worker was restarted.`
              : `Gradient check failed: ${outcome.message}`;
        if (current) {
          st.failure = {
            hash,
            diagnostic: {
              range: checkRange(st),
              severity: 'warning',
              code:
                outcome.reason === 'timeout'
                  ? 'check-timeout'
                  : outcome.reason === 'crash'
                    ? 'check-crashed'
                    : 'check-failed',
              message,
            },
          };
          this.o.listener.publish(st);
          this.sendStatus(st, { state: 'failed', ms: Math.round(outcome.ms), message });
        }
        return { state: 'failed', report: null, message };
      }
      case 'skipped':
        if (current) this.sendStatus(st, { state: 'cancelled', message: outcome.message });
        return { state: 'cancelled', report: null, message: outcome.message };
      case 'cancelled':
        if (
          current &&
          !this.timers.has(st.uri) &&
          !this.runner?.isActive(st.uri) &&
          (st.state === 'queued' || st.state === 'running')
        )
          this.sendStatus(st, { state: 'cancelled' });
        return { state: 'cancelled', report: null };
    }
  }
}

/** Why nothing is checked in an untrusted workspace (the status items show it). */
export const RESTRICTED_MESSAGE = 'Restricted Mode: gradient checks and data files need a trusted workspace';

/** Why the document cannot be checked, or undefined when it can. */
function checkable(st: OpenDocument): string | undefined {
  if (st.restricted) return RESTRICTED_MESSAGE;
  if (st.filesPending) return 'reading the files the model names';
  if (!st.analysis.model) return modelErrorsMessage(st.analysis.diagnostics);
  return undefined;
}

/** Where a diagnostic about the check as a whole goes: the `meth` setting, else the first `@` line, else line 0. */
function checkRange(st: OpenDocument): Range {
  const model = st.analysis.model;
  const meth = model && findOption(model, 'meth');
  if (meth) return meth.range;
  if (model?.optionLines.length) return model.optionLines[0].range;
  return {
    start: { line: 0, character: 0 },
    end: { line: 0, character: Math.max(0, st.text.split(/\r\n|\r|\n/)[0].length) },
  };
}
