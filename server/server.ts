// The ODE Lens language server: LSP glue only. Fast path: analyse on every change and
// publish syntax/semantic diagnostics at once. Slow path: the gradient check runs in a
// warm worker thread (debounced, cancelled on change, cached by content hash) and its
// findings are merged in for that exact content. Works over IPC (VS Code) and --stdio.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  CodeAction,
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic as LspDiagnostic,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { analyseDocument, type AnalysedDocument } from '../solver/language/index';
import type { Range } from '../solver/model';
import { findOption } from '../solver/model';
import type { Report } from '../solver/report';
import { CheckRunner, type CheckOutcome } from './checkRunner';
import { documentDiagnostics, toLspDiagnostic, warningCount } from './diagnostics';
import { fileURLToPath } from 'node:url';
import { sep } from 'node:path';
import type { DocumentPaths } from './workerProtocol';
import { LANGUAGE_FEATURE_CAPABILITIES, registerLanguageFeatures } from './languageFeatures';
import {
  CheckStatusNotification,
  DEFAULT_SETTINGS,
  DIAGNOSTIC_SOURCE,
  GetReportRequest,
  GRADFIX_FIXABLE_CODES,
  normaliseSettings,
  QUICK_FIX_TITLE,
  ReportNotification,
  RunCheckRequest,
  type CheckState,
  type CheckStatusParams,
  type OdeLensSettings,
  type RunCheckResult,
} from './protocol';
import { gradfixEdit, quickFixTitle } from './quickfix';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

const log = (m: string) => connection.console.log(m);

interface DocState {
  uri: string;
  version: number;
  text: string;
  hash: string;
  /** Diagnostics, model and the syntax tree (reused by the language features) of `text`. */
  analysis: AnalysedDocument;
  /** A debounced check waiting to start, and who waits for its result. */
  timer?: { handle: NodeJS.Timeout; resolve: (r: RunCheckResult) => void };
  /** The latest report for this document (maybe for an earlier content). */
  last?: { hash: string; version: number; report: Report };
  /** A failed check for some content (shown only for that exact content). */
  failure?: { hash: string; diagnostic: LspDiagnostic };
  /** Last status sent to the client. */
  state?: CheckState;
  checksDisabled?: boolean;
}

const states = new Map<string, DocState>();

// ---------------------------------------------------------------- settings

let hasConfigurationCapability = false;
let globalSettings: OdeLensSettings = DEFAULT_SETTINGS;
const documentSettings = new Map<string, Promise<OdeLensSettings>>();

function getSettings(uri: string): Promise<OdeLensSettings> {
  if (!hasConfigurationCapability) return Promise.resolve(globalSettings);
  let s = documentSettings.get(uri);
  if (!s) {
    s = connection.workspace
      .getConfiguration({ scopeUri: uri, section: 'odeLens' })
      .then((raw) => (raw == null ? globalSettings : normaliseSettings(raw)), () => globalSettings);
    documentSettings.set(uri, s);
  }
  return s;
}

// ---------------------------------------------------------------- cache (by content hash)

// Least recently used, bounded by count and by the number of floats the reports hold
// (a width-128, N=1024 model's report holds millions).
const CACHE_MAX_ENTRIES = 64;
const CACHE_MAX_VALUES = 8_000_000;
const cache = new Map<string, { report: Report; ms: number; values: number }>();
let cachedValues = 0;
const hashOf = (text: string) => createHash('sha1').update(text).digest('hex');
const cacheKey = (backend: string, hash: string) => `${backend}:${hash}`;

function reportValues(r: Report): number {
  let n = 0;
  for (const p of r.parameters) for (const rows of [p.raw, p.corrected, p.reference]) for (const row of rows) n += row.length;
  return n;
}

function cacheGet(key: string) {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit); // most recently used last
  }
  return hit;
}

function cacheDelete(key: string) {
  const old = cache.get(key);
  if (!old) return;
  cachedValues -= old.values;
  cache.delete(key);
}

function cacheSet(key: string, value: { report: Report; ms: number }) {
  cacheDelete(key);
  const values = reportValues(value.report);
  if (values > CACHE_MAX_VALUES) return;
  cache.set(key, { ...value, values });
  cachedValues += values;
  while (cache.size > CACHE_MAX_ENTRIES || cachedValues > CACHE_MAX_VALUES) cacheDelete(cache.keys().next().value!);
}

// ---------------------------------------------------------------- worker

let runner: CheckRunner | undefined;

function getRunner(): CheckRunner {
  if (!runner) {
    runner = new CheckRunner(join(__dirname, 'checkWorker.js'), {
      warmupBackend: globalSettings.backend,
      log,
      onStart: (req) => {
        const st = states.get(req.key);
        if (st && st.hash === hashOf(req.text)) sendStatus(st, { state: 'running' });
      },
      onLateReport: (req, report, ms) => cacheSet(cacheKey(req.backend, hashOf(req.text)), { report, ms }),
    });
  }
  return runner;
}

// ---------------------------------------------------------------- diagnostics

let workspaceRoots: string[] = [];

/** The model file's path and its workspace folder, for `data` files; none for unsaved (untitled:) documents. */
function documentPaths(uri: string): DocumentPaths | undefined {
  if (!uri.startsWith('file:')) return undefined;
  const documentPath = fileURLToPath(uri);
  const workspaceRoot = workspaceRoots.find((root) => documentPath.startsWith(root.endsWith(sep) ? root : root + sep));
  return { documentPath, workspaceRoot };
}

function safeAnalyse(text: string, paths: DocumentPaths | undefined): AnalysedDocument {
  try {
    return analyseDocument(text, paths);
  } catch (e) {
    log(`ODE Lens: analyse failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return {
      diagnostics: [
        {
          code: 'internal-error',
          severity: 'error',
          message: `ODE Lens could not analyse this file (internal error: ${e instanceof Error ? e.message : String(e)})`,
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        },
      ],
    };
  }
}

/** The document's diagnostics as published (the status bar counts the same list). */
function diagnosticsOf(st: DocState): LspDiagnostic[] {
  const findings = !st.checksDisabled && st.last && st.last.hash === st.hash ? st.last.report.findings : [];
  const failure = !st.checksDisabled && st.failure && st.failure.hash === st.hash ? st.failure.diagnostic : undefined;
  return documentDiagnostics(st.analysis.diagnostics, findings, failure);
}

function publish(st: DocState): LspDiagnostic[] {
  const diagnostics = diagnosticsOf(st);
  void connection.sendDiagnostics({ uri: st.uri, version: st.version, diagnostics });
  return diagnostics;
}

function sendStatus(st: DocState, params: Omit<CheckStatusParams, 'uri' | 'version'>): void {
  st.state = params.state;
  void connection.sendNotification(CheckStatusNotification.type, { uri: st.uri, version: st.version, ...params });
}

/** Where a diagnostic about the check as a whole goes: the `meth` setting, else the first `@` line, else line 0. */
function checkRange(st: DocState): Range {
  const model = st.analysis.model;
  const meth = model && findOption(model, 'meth');
  if (meth) return meth.range;
  if (model?.optionLines.length) return model.optionLines[0].range;
  return { start: { line: 0, character: 0 }, end: { line: 0, character: Math.max(0, st.text.split(/\r\n|\r|\n/)[0].length) } };
}

// ---------------------------------------------------------------- scheduling

function checkable(st: DocState): string | undefined {
  const model = st.analysis.model;
  if (!model) return 'the model has errors';
  return undefined;
}

function clearTimer(st: DocState): void {
  const t = st.timer;
  if (!t) return;
  st.timer = undefined;
  clearTimeout(t.handle);
  t.resolve({ state: 'cancelled', report: null, message: 'superseded' });
}

function cancelPending(st: DocState): void {
  clearTimer(st);
  const active = runner?.isActive(st.uri) ?? false;
  if (active) runner!.cancel(st.uri);
  if (st.state === 'queued' || st.state === 'running') sendStatus(st, { state: 'cancelled' });
}

function applyReport(st: DocState, hash: string, report: Report, ms: number, cached: boolean): void {
  st.last = { hash, version: st.version, report };
  const published = publish(st);
  sendStatus(st, { state: 'done', backend: report.backend, ms: Math.round(ms), findings: warningCount(published), cached, message: cached ? 'cached' : undefined });
  void connection.sendNotification(ReportNotification.type, { uri: st.uri, version: st.version, report });
}

/** Schedules a check of the document's current content (debounced, or now when forced). */
async function scheduleCheck(st: DocState, force: boolean): Promise<RunCheckResult> {
  const why = checkable(st);
  if (why) return { state: 'cancelled', report: null, message: why };
  const hash = st.hash;
  const settings = await getSettings(st.uri);
  if (states.get(st.uri) !== st || st.hash !== hash) return { state: 'cancelled', report: null, message: 'the document changed' };
  st.checksDisabled = !settings.check.enabled && !force;
  if (st.checksDisabled) {
    publish(st);
    const message = 'gradient checks are disabled (odeLens.check.enabled)';
    sendStatus(st, { state: 'cancelled', message });
    return { state: 'cancelled', report: null, message };
  }
  const key = cacheKey(settings.backend, hash);
  const hit = force ? undefined : cacheGet(key);
  if (hit) {
    clearTimer(st);
    applyReport(st, hash, hit.report, hit.ms, true);
    return { state: 'done', report: hit.report };
  }
  clearTimer(st);
  sendStatus(st, { state: 'queued' });
  return new Promise<RunCheckResult>((resolve) => {
    const handle = setTimeout(
      () => {
        st.timer = undefined;
        if (states.get(st.uri) !== st || st.hash !== hash) return resolve({ state: 'cancelled', report: null, message: 'the document changed' });
        const text = st.text;
        getRunner()
          .run({ key: st.uri, text, backend: settings.backend, timeBudgetMs: settings.check.timeBudgetMs, context: documentPaths(st.uri) })
          .then((outcome) => resolve(onOutcome(st, hash, settings, outcome)))
          .catch((e) => {
            log(`ODE Lens: check scheduling failed: ${String(e)}`);
            resolve({ state: 'failed', report: null, message: String(e) });
          });
      },
      force ? 0 : settings.check.debounceMs,
    );
    st.timer = { handle, resolve };
  });
}

function onOutcome(st: DocState, hash: string, settings: OdeLensSettings, outcome: CheckOutcome): RunCheckResult {
  const current = states.get(st.uri) === st && st.hash === hash;
  switch (outcome.kind) {
    case 'done':
      cacheSet(cacheKey(settings.backend, hash), { report: outcome.report, ms: outcome.ms });
      if (current) {
        st.failure = undefined;
        applyReport(st, hash, outcome.report, outcome.ms, false);
      }
      return { state: 'done', report: outcome.report };
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
            severity: 2,
            code: outcome.reason === 'timeout' ? 'check-timeout' : outcome.reason === 'crash' ? 'check-crashed' : 'check-failed',
            source: DIAGNOSTIC_SOURCE,
            message,
            data: { fromCheck: true },
          },
        };
        publish(st);
        sendStatus(st, { state: 'failed', ms: Math.round(outcome.ms), message });
      }
      return { state: 'failed', report: null, message };
    }
    case 'skipped':
      if (current) sendStatus(st, { state: 'cancelled', message: outcome.message });
      return { state: 'cancelled', report: null, message: outcome.message };
    case 'cancelled':
      if (current && !st.timer && !runner?.isActive(st.uri) && (st.state === 'queued' || st.state === 'running'))
        sendStatus(st, { state: 'cancelled' });
      return { state: 'cancelled', report: null };
  }
}

function update(doc: TextDocument): void {
  const text = doc.getText();
  const hash = hashOf(text);
  let st = states.get(doc.uri);
  if (st && st.hash === hash) {
    st.version = doc.version;
    return;
  }
  const analysis = safeAnalyse(text, documentPaths(doc.uri));
  if (!st) {
    st = { uri: doc.uri, version: doc.version, text, hash, analysis };
    states.set(doc.uri, st);
  } else {
    cancelPending(st);
    Object.assign(st, { version: doc.version, text, hash, analysis });
  }
  publish(st);
  // No check runs for this text: the status item says why (and not the figures of an earlier text).
  const why = checkable(st);
  if (why) sendStatus(st, { state: 'cancelled', message: why });
  void scheduleCheck(st, false);
}

// ---------------------------------------------------------------- LSP handlers

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const caps = params.capabilities;
  const folders = params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : []);
  workspaceRoots = folders.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
  hasConfigurationCapability = !!caps.workspace?.configuration;
  // Clients without workspace/configuration (or tests) may pass settings as initializationOptions.
  const init = params.initializationOptions as { settings?: unknown } | undefined;
  if (init && typeof init === 'object') globalSettings = normaliseSettings((init as { settings?: unknown }).settings ?? init);
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix], resolveProvider: false },
      ...LANGUAGE_FEATURE_CAPABILITIES,
    },
    serverInfo: { name: 'ODE Lens', version: '0.1.0' },
  };
});

connection.onInitialized(async () => {
  if (hasConfigurationCapability) {
    void connection.client.register(DidChangeConfigurationNotification.type, { section: 'odeLens' }).catch(() => {});
    try {
      const raw = await connection.workspace.getConfiguration('odeLens');
      if (raw != null) globalSettings = normaliseSettings(raw);
    } catch {
      /* keep defaults */
    }
  }
  if (globalSettings.check.enabled) getRunner().start();
});

connection.onDidChangeConfiguration((change) => {
  documentSettings.clear();
  if (!hasConfigurationCapability) {
    const s = (change.settings as { odeLens?: unknown } | null)?.odeLens;
    if (s) globalSettings = normaliseSettings(s);
  }
  for (const st of states.values()) {
    cancelPending(st);
    void scheduleCheck(st, false).then(() => publish(st));
  }
});

documents.onDidChangeContent((e) => update(e.document));

documents.onDidClose((e) => {
  const st = states.get(e.document.uri);
  if (st) cancelPending(st);
  states.delete(e.document.uri);
  features.forget(e.document.uri);
  documentSettings.delete(e.document.uri);
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

connection.onCodeAction((params) => {
  const st = states.get(params.textDocument.uri);
  if (!st) return [];
  if (params.context.only && !params.context.only.some((k) => k === CodeActionKind.QuickFix || CodeActionKind.QuickFix.startsWith(`${k}.`) || k === CodeActionKind.Empty))
    return [];
  const fixable = (d: LspDiagnostic) => GRADFIX_FIXABLE_CODES.includes(String(d.code)) && (!d.source || d.source === DIAGNOSTIC_SOURCE);
  let relevant = params.context.diagnostics.filter(fixable);
  if (relevant.length === 0 && params.context.diagnostics.length === 0 && st.last?.hash === st.hash) {
    // Clients that send no diagnostics in the context: use what we published for the range.
    const r = params.range;
    relevant = st.last.report.findings
      .map((f) => toLspDiagnostic(f, true))
      .filter(fixable)
      .filter((d) => !(d.range.end.line < r.start.line || d.range.start.line > r.end.line));
  }
  if (relevant.length === 0) return [];
  // The report's recommended correction for the scheme (stagesum for per-stage RK), else filter121.
  const fixWith = st.last?.report.recommendedCorrection ?? 'filter121';
  const edit = gradfixEdit(st.text, st.analysis.model, fixWith);
  if (!edit) return [];
  const action = CodeAction.create(fixWith === 'filter121' ? QUICK_FIX_TITLE : quickFixTitle(fixWith), { changes: { [st.uri]: [edit] } }, CodeActionKind.QuickFix);
  action.diagnostics = relevant;
  action.isPreferred = true;
  return [action];
});

// Editor features (hover, completion, rename, …): the language service over the current text.
const features = registerLanguageFeatures(
  connection,
  (uri) => {
    const st = states.get(uri);
    if (!st) return undefined;
    return {
      text: st.text,
      version: st.version,
      model: st.analysis.model,
      syntax: st.analysis.syntax,
      report: st.last?.report,
      reportIsCurrent: !!st.last && st.last.hash === st.hash,
      pendingState: st.state === 'queued' || st.state === 'running' ? st.state : undefined,
    };
  },
  log,
);

connection.onRequest(GetReportRequest.type, (params) => {
  const st = states.get(params.uri);
  return st?.last?.report ?? null;
});

connection.onRequest(RunCheckRequest.type, async (params): Promise<RunCheckResult> => {
  const st = states.get(params.uri);
  if (!st) return { state: 'cancelled', report: null, message: 'the document is not open' };
  return scheduleCheck(st, true);
});

connection.onShutdown(async () => {
  await runner?.dispose();
  runner = undefined;
});

documents.listen(connection);
connection.listen();
