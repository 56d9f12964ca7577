// ODE Lens VS Code client: starts the language server (dist/server.js over IPC), shows the
// check status (status bar, language status, progress with cancel), hosts the gradient plots
// webview and the explanations of diagnostic codes, and runs the CodeLens commands. Thin by
// design: everything that knows about models lives in the server and the engine. In Restricted
// Mode (an untrusted workspace) the server runs the language features only.
import { delimiter } from 'node:path';
import * as vscode from 'vscode';
import {
  LanguageClient,
  TransportKind,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import {
  CheckStatusNotification,
  GetReportRequest,
  ReportNotification,
  RowsRequest,
  CancelCheckRequest,
  RunCheckRequest,
  type RunCheckResult,
} from '../protocol/customMessages';
import { CheckProgress } from './checkProgress';
import { DOCS_SCHEME, EXPLAIN_COMMAND, ExplanationPages, linkExplanations, showExplanation } from './explainDiagnostic';
import { CheckLanguageStatus } from './languageStatus';
import { installNativeBackend, nativeNodePath } from './nativeBackend';
import { Training } from './training';
import { PlotPanel, type PlotPanelHost } from './plotPanel';
import { registerPlotSerializer } from './plotSerializer';
import { CheckStatusBar } from './statusBar';

let client: LanguageClient | undefined;

function createClient(context: vscode.ExtensionContext): LanguageClient {
  const serverModule = vscode.Uri.joinPath(context.extensionUri, 'dist', 'server.js').fsPath;
  // Each keystroke parses the whole model; a larger young generation keeps the syntax tree
  // out of repeated scavenges (a 2,000-line model parses in 3 ms with it, 15 ms without).
  const execArgv = ['--max-semi-space-size=32'];
  // The native backend installed on demand (nativeBackend.ts) resolves through NODE_PATH.
  const nodePath = nativeNodePath(context);
  const env = nodePath
    ? { ...process.env, NODE_PATH: [nodePath, process.env.NODE_PATH].filter(Boolean).join(delimiter) }
    : undefined;
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc, options: { execArgv, env } },
    debug: {
      module: serverModule,
      transport: TransportKind.ipc,
      options: { execArgv: [...execArgv, '--nolazy', '--inspect=6019'], env },
    },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'ode' },
      { scheme: 'untitled', language: 'ode' },
    ],
    outputChannelName: 'ODE Lens',
    // Read at every (re)start: a workspace trusted later restarts the server with checks on.
    initializationOptions: () => ({ restricted: !vscode.workspace.isTrusted }),
    middleware: {
      // The server links each code to the shipped page; open it inside VS Code instead.
      handleDiagnostics: (uri, diagnostics, next) => next(uri, linkExplanations(diagnostics)),
    },
    // The server pulls `odeLens.*` with workspace/configuration; `odeLens.trace.server` is handled by the client.
  };
  return new LanguageClient('odeLens', 'ODE Lens', serverOptions, clientOptions);
}

/** The .ode document a command applies to: an explicit URI argument, else the active editor. */
function targetDocument(arg?: unknown): vscode.TextDocument | undefined {
  const uri = arg instanceof vscode.Uri ? arg.toString() : typeof arg === 'string' ? arg : undefined;
  if (uri) {
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
    if (doc) return doc;
  }
  const editor = vscode.window.activeTextEditor;
  if (editor?.document.languageId === 'ode') return editor.document;
  // The plots panel may have focus: fall back to a visible .ode editor.
  return vscode.window.visibleTextEditors.find((e) => e.document.languageId === 'ode')?.document;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const statusBar = new CheckStatusBar();
  const languageStatus = new CheckLanguageStatus(!vscode.workspace.isTrusted);
  const progress = new CheckProgress();
  context.subscriptions.push(statusBar, languageStatus, progress);

  const cancelCheck = async (uri: string) => {
    if (client) await client.sendRequest(CancelCheckRequest.type, { uri });
  };

  const runCheck = async (
    uri: string,
    refine = false,
    parameters?: vscode.Uri,
  ): Promise<RunCheckResult | undefined> => {
    if (!client) return undefined;
    const at = parameters ? { parameters: parameters.toString() } : {};
    const result = await progress.foreground(
      refine
        ? 'ODE Lens: refinement study'
        : parameters
          ? 'ODE Lens: gradient check at learned parameters'
          : 'ODE Lens: gradient check',
      uri,
      client.sendRequest(RunCheckRequest.type, { uri, refine, ...at }),
      () => void cancelCheck(uri),
    );
    if (result.state === 'failed')
      void vscode.window.showWarningMessage(`ODE Lens: ${result.message ?? 'the gradient check failed'}`);
    else if (result.state === 'cancelled' && result.message && result.message !== 'superseded')
      void vscode.window.showInformationMessage(`ODE Lens: no gradient check: ${result.message}.`);
    return result;
  };

  const host: PlotPanelHost = {
    getReport: async (uri) => (client ? client.sendRequest(GetReportRequest.type, { uri }) : null),
    getRows: async (params) =>
      client ? client.sendRequest(RowsRequest.type, params) : { message: 'the language server is not running' },
    runCheck: (uri) => void runCheck(uri),
  };

  /** Checks a model at a learned-parameters file's values and says what the check found there. */
  const checkAtParameters = async (doc: vscode.TextDocument, parameters: vscode.Uri) => {
    const result = await runCheck(doc.uri.toString(), false, parameters);
    const report = result?.state === 'done' ? result.report : null;
    if (!report) return result;
    const at = report.checkedParameters.kind === 'given' ? report.checkedParameters.source : 'the seeded parameters';
    const findings = report.findings.filter((f) => f.severity === 'error' || f.severity === 'warning').length;
    void vscode.window.showInformationMessage(
      `ODE Lens checked ${vscode.workspace.asRelativePath(doc.uri)} at the parameters in ${at}: ${findings} finding${findings === 1 ? '' : 's'}${report.verdict ? ` — ${report.verdict.explanation}` : ''}`,
    );
    return result;
  };

  client = createClient(context);
  const training = new Training(client, {
    showDashboard: (doc) => PlotPanel.createOrShow(context.extensionUri, host, doc),
    checkAtParameters: async (doc, parameters) => void (await checkAtParameters(doc, parameters)),
  });
  context.subscriptions.push(training);
  // Handlers registered before start() survive restarts of the client.
  client.onNotification(CheckStatusNotification.type, (params) => {
    statusBar.update(params);
    languageStatus.update(params);
    progress.update(params);
    PlotPanel.instance?.onStatus(params);
  });
  client.onNotification(ReportNotification.type, (params) => PlotPanel.instance?.onReport(params));

  context.subscriptions.push(
    registerPlotSerializer(context.extensionUri, host),
    vscode.commands.registerCommand('odeLens.showGradientPlots', (arg?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc) {
        void vscode.window.showInformationMessage('ODE Lens: open an .ode model to show its gradient plots.');
        return;
      }
      PlotPanel.createOrShow(context.extensionUri, host, doc);
    }),
    vscode.commands.registerCommand('odeLens.runCheck', async (arg?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc) {
        void vscode.window.showInformationMessage('ODE Lens: open an .ode model to run a gradient check.');
        return undefined;
      }
      return runCheck(doc.uri.toString());
    }),
    vscode.commands.registerCommand('odeLens.refine', async (arg?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc) return undefined;
      const result = await runCheck(doc.uri.toString(), true);
      if (result?.state === 'done') PlotPanel.createOrShow(context.extensionUri, host, doc);
      return result;
    }),
    vscode.commands.registerCommand('odeLens.cancelCheck', async (arg?: unknown) => {
      const doc = targetDocument(arg);
      if (doc) await cancelCheck(doc.uri.toString());
    }),
    vscode.commands.registerCommand('odeLens.train', async (arg?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc || !client) {
        void vscode.window.showInformationMessage('ODE Lens: open an .ode model to train it.');
        return undefined;
      }
      return training.run(doc);
    }),
    vscode.commands.registerCommand('odeLens.cancelTraining', async (arg?: unknown) => {
      const doc = targetDocument(arg);
      return doc ? training.cancel(doc) : false;
    }),
    vscode.commands.registerCommand('odeLens.writeTrainedParameters', async (arg?: unknown, gradient?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc) return undefined;
      return training.writeParameters(doc, typeof gradient === 'string' ? gradient : undefined);
    }),
    vscode.commands.registerCommand('odeLens.checkAtParameters', async (arg?: unknown, file?: unknown) => {
      const doc = targetDocument(arg);
      if (!doc) {
        void vscode.window.showInformationMessage('ODE Lens: open an .ode model to check it at learned parameters.');
        return undefined;
      }
      const parameters =
        file instanceof vscode.Uri
          ? file
          : typeof file === 'string'
            ? vscode.Uri.parse(file)
            : (
                await vscode.window.showOpenDialog({
                  defaultUri: vscode.Uri.joinPath(doc.uri, '..'),
                  filters: { 'Learned parameters': ['json'] },
                  openLabel: 'Check at These Parameters',
                })
              )?.[0];
      return parameters ? checkAtParameters(doc, parameters) : undefined;
    }),
    vscode.workspace.registerTextDocumentContentProvider(DOCS_SCHEME, new ExplanationPages(context.extensionUri)),
    vscode.commands.registerCommand(EXPLAIN_COMMAND, (code?: unknown) => showExplanation(code)),
    vscode.workspace.onDidGrantWorkspaceTrust(async () => {
      // Trusted now: restart the server with checks and data files on.
      if (!client) return;
      statusBar.reset();
      languageStatus.update({ uri: '', state: 'cancelled', message: 'workspace trusted: checking' });
      await client.restart();
    }),
    vscode.commands.registerCommand('odeLens.installNativeBackend', () => installNativeBackend(context)),
    vscode.commands.registerCommand('odeLens.restartServer', async () => {
      if (!client) return;
      statusBar.reset();
      await client.restart();
      await PlotPanel.instance?.refresh();
    }),
  );

  try {
    await client.start();
  } catch (e) {
    void vscode.window.showErrorMessage(
      `ODE Lens: the language server did not start: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

export async function deactivate(): Promise<void> {
  const c = client;
  client = undefined;
  if (c) await c.stop();
}
