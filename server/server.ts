// The ODE Lens language server: LSP wiring only. Fast path: analyse on every change and
// publish syntax/semantic diagnostics at once (DocumentStore). Slow path: the gradient
// check runs in a warm worker thread (CheckScheduler over CheckRunner: debounced,
// cancelled on change, answered from the ReportCache by content hash) and its findings
// are merged in for that exact content. Code actions and editor features come from the
// language service (solver/service). Works over IPC (VS Code) and --stdio.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CodeLensRefreshRequest,
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
  RowsRequest,
  CancelCheckRequest,
  CancelTrainingRequest,
  RunCheckRequest,
  type RunCheckResult,
  TrainProgressNotification,
  TrainRequest,
  type TrainSummary,
} from '../protocol/customMessages';
import { TRAINING_CORRECTIONS } from '../solver/registry/corrections';
import { RESTRICTED_MESSAGE } from './checkScheduler';
import { codeLenses, verdictLine } from './codeLenses';
import { startTraining, type Training } from './trainRunner';
import { CheckRunner } from './checkRunner';
import { CheckScheduler } from './checkScheduler';
import { CODE_ACTION_KINDS, onCodeAction } from './codeActionHandler';
import { diagnosticsOf } from './diagnostics';
import { DocumentStore, type OpenDocument } from './documentStore';
import { FileWatcher } from './fileWatcher';
import { LANGUAGE_FEATURE_CAPABILITIES, registerLanguageFeatures } from './languageFeatures';
import { ReportCache } from './reportCache';
import { rowsOf } from './rows';
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
    status: (st, params) => {
      void connection.sendNotification(CheckStatusNotification.type, { uri: st.uri, version: st.version, ...params });
      // The lens shows the check's state and verdict: refreshed when its line changes, not on every phase
      // (each refresh shows VS Code's command-less placeholders until the lenses come back).
      const line = verdictLine(st);
      if (codeLensRefresh && lensLines.get(st.uri) !== line) {
        lensLines.set(st.uri, line);
        void connection.sendRequest(CodeLensRefreshRequest.type).catch(() => {});
      }
    },
    // The summary only (a few kB at any size): the rows stay here until a plot asks (RowsRequest).
    report: (st, result) =>
      void connection.sendNotification(ReportNotification.type, {
        uri: st.uri,
        version: st.version,
        key: st.last?.hash,
        report: result.summary,
      }),
  },
  log,
});

// ---------------------------------------------------------------- diagnostics

/** Publishes the document's diagnostics and returns them (the status item counts the same list). */
function publish(st: OpenDocument): LspDiagnostic[] {
  const diagnostics = diagnosticsOf(st);
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

/** The client re-asks for CodeLenses when told (LSP 3.16 workspace/codeLens/refresh). */
let codeLensRefresh = false;
/** The verdict line each document's lens last showed. */
const lensLines = new Map<string, string>();

connection.onInitialize((params: InitializeParams): InitializeResult => {
  codeLensRefresh = params.capabilities.workspace?.codeLens?.refreshSupport === true;
  const folders = params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : []);
  store.setWorkspaceFolders(folders);
  // Restricted Mode (the client says the workspace is not trusted): language features only.
  store.restricted = (params.initializationOptions as { restricted?: unknown } | undefined)?.restricted === true;
  settings.initialize(params);
  watcher.initialize(params);
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      codeActionProvider: { codeActionKinds: CODE_ACTION_KINDS, resolveProvider: false },
      codeLensProvider: { resolveProvider: false },
      ...LANGUAGE_FEATURE_CAPABILITIES,
    },
    serverInfo: { name: 'ODE Lens', version: '0.1.0' },
  };
});

connection.onInitialized(async () => {
  await settings.initialized();
  if (settings.global.check.enabled && !store.restricted) scheduler.start();
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
  lensLines.delete(e.document.uri);
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

connection.onRequest(RowsRequest.type, (params) => rowsOf(store.get(params.uri), params));

connection.onRequest(RunCheckRequest.type, async (params): Promise<RunCheckResult> => {
  const st = store.get(params.uri);
  if (!st) return { state: 'cancelled', report: null, message: 'the document is not open' };
  let parameters: { source: string; text: string } | undefined;
  if (params.parameters) {
    const read = await readParameters(params.parameters);
    if ('message' in read) return { state: 'failed', report: null, message: read.message };
    parameters = read;
  }
  return scheduler.schedule(st, true, params.refine === true, parameters);
});

connection.onRequest(CancelCheckRequest.type, (params) => {
  const st = store.get(params.uri);
  if (!st || (st.state !== 'queued' && st.state !== 'running')) return { cancelled: false };
  st.cancelledHash = st.hash;
  scheduler.cancel(st);
  publish(st);
  return { cancelled: true };
});

connection.onCodeLens((params) => codeLenses(store.get(params.textDocument.uri)));

/** A document's name (the last part of its URI's path), as the learned-parameters file records the model. */
const documentName = (uri: string) =>
  decodeURIComponent(
    uri
      .replace(/[?#].*$/, '')
      .split(/[/:]/)
      .pop() || uri,
  );

/** The text of a learned-parameters file (a file: URI) and its name, or why it cannot be read. */
async function readParameters(uri: string): Promise<{ source: string; text: string } | { message: string }> {
  const source = documentName(uri);
  try {
    if (!uri.startsWith('file:')) return { message: `cannot read parameters from ${uri}: not a file` };
    return { source, text: await readFile(fileURLToPath(uri), 'utf8') };
  } catch (e) {
    return { message: `cannot read parameters from ${source}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** The running training of each document (one at a time per document). */
const trainings = new Map<string, Training>();

connection.onRequest(TrainRequest.type, async (params, token): Promise<TrainSummary> => {
  const st = store.get(params.uri);
  if (!st?.analysis.model) return { lines: [], error: 'the model has errors or is not open' };
  if (st.restricted) return { lines: [], error: RESTRICTED_MESSAGE };
  if (trainings.has(st.uri)) return { lines: [], error: 'this model is already training' };
  const recommended = st.last?.report.recommendedCorrection;
  const corrected = TRAINING_CORRECTIONS.find((c) => c === recommended) ?? TRAINING_CORRECTIONS[0];
  const iterations = Math.max(1, Math.min(10_000, Math.round(params.iterations ?? 100)));
  const settingsNow = await settings.forDocument(st.uri);
  const gradients = ['ad', corrected];
  const training = startTraining(join(__dirname, 'checkWorker.js'), {
    text: st.text,
    fileName: documentName(st.uri),
    backend: settingsNow.backend,
    context: store.documentPaths(st.uri),
    gradients,
    iterations,
    onIteration: (it) =>
      void connection.sendNotification(TrainProgressNotification.type, { uri: st.uri, iterations, gradients, ...it }),
  });
  trainings.set(st.uri, training);
  const sub = token.onCancellationRequested(() => training.cancel());
  try {
    return await training.done;
  } finally {
    sub.dispose();
    trainings.delete(st.uri);
  }
});

connection.onRequest(CancelTrainingRequest.type, (params) => {
  const training = trainings.get(params.uri);
  training?.cancel();
  return { cancelled: !!training };
});

connection.onShutdown(() => scheduler.dispose());

documents.listen(connection);
connection.listen();
