// The ODE Lens language server: LSP wiring only. Fast path: analyse on every change and
// publish syntax/semantic diagnostics at once (DocumentStore). Slow path: the gradient
// check runs in a warm worker thread (CheckScheduler over CheckRunner: debounced,
// cancelled on change, answered from the ReportCache by content hash) and its findings
// are merged in for that exact content. Code actions and editor features come from the
// language service (solver/service). Works over IPC (VS Code) and --stdio.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CodeActionKind,
  createConnection,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Diagnostic as LspDiagnostic,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CheckStatusNotification,
  GetReportRequest,
  ReportNotification,
  RunCheckRequest,
  type RunCheckResult,
} from '../protocol/customMessages';
import { CheckRunner } from './checkRunner';
import { CheckScheduler } from './checkScheduler';
import { onCodeAction } from './codeActionHandler';
import { documentDiagnostics, toLspDiagnostic } from './diagnostics';
import { DocumentStore, type OpenDocument } from './documentStore';
import { FileWatcher } from './fileWatcher';
import { LANGUAGE_FEATURE_CAPABILITIES, registerLanguageFeatures } from './languageFeatures';
import { ReportCache } from './reportCache';
import { SettingsSource } from './settings';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);

const log = (m: string) => connection.console.log(m);

const settings = new SettingsSource(connection);
const store = new DocumentStore(log, () => settings.global.data.maxFileSizeMB * 1024 * 1024);
const watcher = new FileWatcher(connection, log);
const scheduler = new CheckScheduler({
  store,
  cache: new ReportCache(),
  settings: (uri) => settings.forDocument(uri),
  createRunner: (hooks) =>
    new CheckRunner(join(__dirname, 'checkWorker.js'), { warmupBackend: settings.global.backend, log, ...hooks }),
  listener: {
    publish,
    status: (st, params) =>
      void connection.sendNotification(CheckStatusNotification.type, { uri: st.uri, version: st.version, ...params }),
    report: (st, report) =>
      void connection.sendNotification(ReportNotification.type, { uri: st.uri, version: st.version, report }),
  },
  log,
});

// ---------------------------------------------------------------- diagnostics

/** Publishes the document's diagnostics and returns them (the status item counts the same list). */
function publish(st: OpenDocument): LspDiagnostic[] {
  const checked = !st.checksDisabled;
  const findings = checked && st.last && st.last.hash === st.hash ? st.last.report.findings : [];
  const failure =
    checked && st.failure && st.failure.hash === st.hash ? toLspDiagnostic(st.failure.diagnostic, true) : undefined;
  const diagnostics = documentDiagnostics(st.analysis.diagnostics, findings, failure);
  void connection.sendDiagnostics({ uri: st.uri, version: st.version, diagnostics });
  return diagnostics;
}

function update(doc: TextDocument): void {
  const text = doc.getText();
  const known = store.get(doc.uri);
  if (known && known.text === text) {
    known.version = doc.version;
    return;
  }
  if (known) scheduler.cancel(known);
  const st = store.setContent(doc.uri, doc.version, text);
  analysed(st);
  void refreshFiles(st);
}

/** Publishes a document's new analysis and schedules its check (not while its files are being read). */
function analysed(st: OpenDocument): void {
  if (st.filesPending) return;
  publish(st);
  scheduler.changed(st);
}

/** Reads the document's files that are new or changed (off the main thread); analyses it again if any was. */
async function refreshFiles(st: OpenDocument): Promise<void> {
  const before = st.hash;
  if ((await store.refreshFiles(st)) && st.hash !== before) {
    scheduler.cancel(st);
    analysed(st);
  }
  watchOpenFiles();
}

/** Watches the files the open models read (and forgets the others). */
function watchOpenFiles(): void {
  const paths = new Set([...store.values()].flatMap((d) => d.files.map((f) => f.resolved)));
  store.files.retain(paths);
  watcher.watch(paths);
}

// ---------------------------------------------------------------- LSP handlers

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const folders = params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : []);
  store.setWorkspaceFolders(folders);
  settings.initialize(params);
  watcher.initialize(params);
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
  await settings.initialized();
  if (settings.global.check.enabled) scheduler.start();
});

connection.onDidChangeConfiguration((change) => {
  settings.changed(change.settings);
  for (const st of store.values()) void refreshFiles(st); // the size limit may have changed
  for (const st of store.values()) {
    scheduler.cancel(st);
    void scheduler.schedule(st, false).then(() => publish(st));
  }
});

documents.onDidChangeContent((e) => update(e.document));

// A file a model names changed on disk: read it again and re-check the models that read it.
connection.onDidChangeWatchedFiles(({ changes }) => {
  const paths = new Set(changes.filter((c) => c.uri.startsWith('file:')).map((c) => fileURLToPath(c.uri)));
  for (const p of paths) store.files.forget(p);
  for (const st of store.values()) if (st.files.some((f) => paths.has(f.resolved))) void refreshFiles(st);
});

documents.onDidClose((e) => {
  const st = store.get(e.document.uri);
  if (st) scheduler.cancel(st);
  store.delete(e.document.uri);
  watchOpenFiles();
  features.forget(e.document.uri);
  settings.forget(e.document.uri);
  void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
});

connection.onCodeAction((params) => onCodeAction(store.get(params.textDocument.uri), params));

// Editor features (hover, completion, rename, …): the language service over the current text.
const features = registerLanguageFeatures(
  connection,
  (uri) => {
    const st = store.get(uri);
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
  const st = store.get(params.uri);
  return st?.last?.report ?? null;
});

connection.onRequest(RunCheckRequest.type, async (params): Promise<RunCheckResult> => {
  const st = store.get(params.uri);
  if (!st) return { state: 'cancelled', report: null, message: 'the document is not open' };
  return scheduler.schedule(st, true);
});

connection.onShutdown(() => scheduler.dispose());

documents.listen(connection);
connection.listen();
