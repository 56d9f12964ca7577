// The "Gradient Plots" webview panel: one dashboard that shows the report of the active
// .ode document (per-layer gradients, trajectory, adjoint, sensitivities, refinement study),
// opened beside the editor, and the live curves of a training. It passes the report's summary to the page, forwards the page's
// requests for rows to the server (odeLens/rows): the page never holds more than it draws,
// and saves the charts the page exports (plotExport.ts). A reload brings it back (plotSerializer.ts).
// Strict CSP, scripts by nonce, resources from dist/ only, typed messages only.
import * as vscode from 'vscode';
import { makeNonce, renderWebviewHtml } from '../webview/html';
import { isWebviewToHost, type HostToWebview } from '../protocol/webviewMessages';
import type {
  CheckStatusParams,
  ReportParams,
  RowsParams,
  RowsResult,
  TrainIteration,
} from '../protocol/customMessages';
import type { ReportSummary } from '../protocol/report';
import { saveExport } from './plotExport';

export type TrainingMessage = Extract<HostToWebview, { type: 'trainStart' | 'trainIterations' | 'trainEnd' }>;

export interface PlotPanelHost {
  /** Asks the server for the document's latest report (its summary). */
  getReport(uri: string): Promise<ReportSummary | null>;
  /** Asks the server for some rows of the document's latest report. */
  getRows(params: RowsParams): Promise<RowsResult>;
  /** Runs the check now (the Run button of the empty state). */
  runCheck(uri: string): void;
}

export class PlotPanel implements vscode.Disposable {
  static readonly viewType = 'odeLens.gradientPlots';
  private static current: PlotPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private lastReport: HostToWebview | undefined;
  private lastStatus: HostToWebview | undefined;
  /** The latest training of the document on show, replayed to a (re)loaded page: its start, its iterations, its end. */
  private training: { start: TrainingMessage; iterations: TrainIteration[]; end?: TrainingMessage } | undefined;

  static createOrShow(extensionUri: vscode.Uri, host: PlotPanelHost, document: vscode.TextDocument): PlotPanel {
    const column = vscode.ViewColumn.Beside;
    if (PlotPanel.current) {
      PlotPanel.current.panel.reveal(column, true);
      PlotPanel.current.show(document);
      return PlotPanel.current;
    }
    const dist = vscode.Uri.joinPath(extensionUri, 'dist');
    const panel = vscode.window.createWebviewPanel(
      PlotPanel.viewType,
      'Gradient Plots',
      { viewColumn: column, preserveFocus: true },
      PlotPanel.options(dist),
    );
    PlotPanel.current = new PlotPanel(panel, dist, host, document);
    return PlotPanel.current;
  }

  /** A panel VS Code restored after a reload (plotSerializer.ts), on the document it showed. */
  static revive(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    host: PlotPanelHost,
    document: vscode.TextDocument,
  ): PlotPanel {
    const dist = vscode.Uri.joinPath(extensionUri, 'dist');
    panel.webview.options = PlotPanel.options(dist);
    PlotPanel.current?.dispose();
    PlotPanel.current = new PlotPanel(panel, dist, host, document);
    return PlotPanel.current;
  }

  private static options(dist: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, enableForms: false, enableCommandUris: false, localResourceRoots: [dist] };
  }

  /** The open panel, if any. */
  static get instance(): PlotPanel | undefined {
    return PlotPanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    private readonly dist: vscode.Uri,
    private readonly host: PlotPanelHost,
    private document: vscode.TextDocument,
  ) {
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      // Follow the active .ode editor.
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && e.document.languageId === 'ode' && e.document.uri.toString() !== this.uri) this.show(e.document);
      }),
    );
    this.render();
  }

  get uri(): string {
    return this.document.uri.toString();
  }

  private render(): void {
    this.ready = false;
    const webview = this.panel.webview;
    webview.html = renderWebviewHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(this.dist, 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(this.dist, 'webview.css')).toString(),
    });
    this.updateTitle();
  }

  private updateTitle(): void {
    const name = this.document.uri.path.split('/').pop() ?? 'model';
    this.panel.title = `Gradient Plots: ${name}`;
  }

  /** Switches the panel to a document and loads its report. */
  show(document: vscode.TextDocument): void {
    if (document.uri.toString() !== this.uri) this.training = undefined;
    this.document = document;
    this.lastReport = undefined;
    this.lastStatus = undefined;
    this.updateTitle();
    void this.refresh();
  }

  /** Fetches the current report from the server and posts it. */
  async refresh(): Promise<void> {
    const uri = this.uri;
    let report: ReportSummary | null = null;
    try {
      report = await this.host.getReport(uri);
    } catch {
      report = null;
    }
    if (uri !== this.uri) return; // switched meanwhile
    // A report notification may have arrived while we waited; do not go back to null.
    if (report === null && this.lastReport?.type === 'report' && this.lastReport.report) return;
    this.post({ type: 'report', uri, fileName: this.document.uri.path.split('/').pop(), report });
  }

  /** A finished check (odeLens/report). */
  onReport(params: ReportParams): void {
    if (params.uri !== this.uri) return;
    this.post({
      type: 'report',
      uri: params.uri,
      fileName: this.document.uri.path.split('/').pop(),
      key: params.key,
      report: params.report,
    });
  }

  /** Check progress (odeLens/checkStatus). */
  onStatus(params: CheckStatusParams): void {
    if (params.uri !== this.uri) return;
    this.post({ type: 'status', uri: params.uri, state: params.state, message: params.message });
  }

  /** A training of the document on show started, finished an iteration, or ended (client/training.ts). */
  onTraining(message: TrainingMessage): void {
    if (message.uri !== this.uri) return;
    if (message.type === 'trainStart') this.training = { start: message, iterations: [] };
    else if (!this.training) return;
    else if (message.type === 'trainIterations') this.training.iterations.push(...message.iterations);
    else this.training.end = message;
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  /** Brings a (re)loaded page up to date with the training: everything so far, in three messages. */
  private replayTraining(): void {
    const t = this.training;
    if (!t) return;
    void this.panel.webview.postMessage(t.start);
    if (t.iterations.length)
      void this.panel.webview.postMessage({ type: 'trainIterations', uri: t.start.uri, iterations: t.iterations });
    if (t.end) void this.panel.webview.postMessage(t.end);
  }

  private post(message: HostToWebview): void {
    if (message.type === 'report') this.lastReport = message;
    else this.lastStatus = message;
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  private onMessage(m: unknown): void {
    if (!isWebviewToHost(m)) return; // typed messages only
    switch (m.type) {
      case 'ready':
        this.ready = true;
        if (this.lastReport) void this.panel.webview.postMessage(this.lastReport);
        else void this.refresh();
        if (this.lastStatus) void this.panel.webview.postMessage(this.lastStatus);
        this.replayTraining();
        break;
      case 'runCheck':
        if (m.uri === this.uri) this.host.runCheck(m.uri);
        break;
      case 'rows':
        if (m.uri === this.uri) void this.forwardRows(m.uri, m.requestId, { uri: m.uri, key: m.key, query: m.query });
        break;
      case 'export':
        if (m.uri === this.uri) void saveExport(this.document.uri, m.format, m.fileName, m.data);
        break;
    }
  }

  /** Answers the page's request for rows with the server's answer (never stored: the page asks again when it needs to). */
  private async forwardRows(uri: string, requestId: number, params: RowsParams): Promise<void> {
    let result: RowsResult;
    try {
      result = await this.host.getRows(params);
    } catch (e) {
      result = { message: `the rows could not be fetched: ${e instanceof Error ? e.message : String(e)}` };
    }
    const answer: HostToWebview = { type: 'rows', uri, requestId, result };
    if (this.ready && uri === this.uri) void this.panel.webview.postMessage(answer);
  }

  dispose(): void {
    if (PlotPanel.current === this) PlotPanel.current = undefined;
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }
}
