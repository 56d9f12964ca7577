// "Train with raw and corrected gradients": the server trains the model with raw AD and with the recommended
// correction in a worker of its own; this shows its progress (cancellable) and its live curves in the dashboard,
// then offers to write what each run learned (the `odelens train --out` JSON, next to the model) and to check
// the model at those parameters.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  CancelTrainingRequest,
  TrainProgressNotification,
  TrainRequest,
  type TrainedRun,
  type TrainProgressParams,
  type TrainSummary,
} from '../protocol/customMessages';
import type { TrainingMessage } from './plotPanel';

/** Iterations per run (odeLens.train.iterations): the default shows raw AD's zig-zag in the total variation, short enough to wait for. */
const iterationsSetting = (document: vscode.TextDocument) =>
  vscode.workspace.getConfiguration('odeLens', document.uri).get<number>('train.iterations', 50);

/** What the training needs from the rest of the extension. */
export interface TrainingHost {
  /** Opens the dashboard on the document; training messages go to it. */
  showDashboard(document: vscode.TextDocument): { onTraining(m: TrainingMessage): void } | undefined;
  /** Checks the document at the parameters of a file (its URI). */
  checkAtParameters(document: vscode.TextDocument, parameters: vscode.Uri): Promise<void>;
}

const runName = (gradient: string) => (gradient === 'ad' ? 'raw AD' : gradient);

/** Where a run's parameters go: next to the model, `<model>.<gradient>.params.json`. */
export function parametersFile(model: vscode.Uri, gradient: string): vscode.Uri {
  const base = model.path
    .split('/')
    .pop()!
    .replace(/\.ode$/i, '');
  return vscode.Uri.joinPath(model, '..', `${base}.${gradient}.params.json`);
}

export class Training implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel('ODE Lens Training');
  private readonly listeners = new Map<string, (p: TrainProgressParams) => void>();
  /** Per document: the runs of its last training that learned something (what "write parameters" writes). */
  private readonly learned = new Map<string, TrainedRun[]>();

  constructor(
    private readonly client: LanguageClient,
    private readonly host: TrainingHost,
  ) {
    client.onNotification(TrainProgressNotification.type, (p) => this.listeners.get(p.uri)?.(p));
  }

  async run(document: vscode.TextDocument): Promise<TrainSummary | undefined> {
    const uri = document.uri.toString();
    if (this.listeners.has(uri)) {
      void vscode.window.showInformationMessage('ODE Lens: this model is already training.');
      return undefined;
    }
    const dashboard = this.host.showDashboard(document);
    const options = {
      location: vscode.ProgressLocation.Notification,
      title: 'ODE Lens: training with raw and corrected gradients',
      cancellable: true,
    };
    let gradients: string[] = [];
    const summary = await vscode.window.withProgress(options, async (progress, token) => {
      let last = 0;
      this.listeners.set(uri, (p) => {
        if (gradients.length === 0) {
          gradients = p.gradients;
          dashboard?.onTraining({ type: 'trainStart', uri, gradients, iterations: p.iterations });
        }
        const { uri: _uri, iterations: _of, gradients: _runs, ...iteration } = p;
        dashboard?.onTraining({ type: 'trainIterations', uri, iterations: [iteration] });
        const done =
          (p.gradients.indexOf(p.gradient) * p.iterations + p.iteration + 1) / (p.gradients.length * p.iterations);
        progress.report({
          message: `${runName(p.gradient)}: iteration ${p.iteration + 1} of ${p.iterations}`,
          increment: 100 * done - last,
        });
        last = 100 * done;
      });
      // Cancelling stops the run in progress; the request still answers with what each run learned so far.
      const cancel = token.onCancellationRequested(
        () => void this.client.sendRequest(CancelTrainingRequest.type, { uri }),
      );
      try {
        return await this.client.sendRequest(TrainRequest.type, { uri, iterations: iterationsSetting(document) });
      } finally {
        cancel.dispose();
        this.listeners.delete(uri);
      }
    });
    this.learned.set(
      uri,
      (summary.runs ?? []).filter((r) => r.iterations > 0),
    );
    const outcome = summary.error ? 'failed' : summary.cancelled ? 'cancelled' : 'completed';
    dashboard?.onTraining({ type: 'trainEnd', uri, outcome, lines: summary.lines, message: summary.error });
    this.report(document, summary);
    void this.offer(document, summary);
    return summary;
  }

  private report(document: vscode.TextDocument, summary: TrainSummary): void {
    const name = vscode.workspace.asRelativePath(document.uri);
    this.output.appendLine(
      `${name}: ${iterationsSetting(document)} iterations each${summary.cancelled ? ' (cancelled)' : ''}`,
    );
    for (const l of summary.lines) this.output.appendLine(`  ${l}`);
    if (summary.error) this.output.appendLine(`  stopped: ${summary.error}`);
  }

  /** The end of a training: its summary, with a button per run that learned something to write its parameters. */
  private async offer(document: vscode.TextDocument, summary: TrainSummary): Promise<void> {
    const name = vscode.workspace.asRelativePath(document.uri);
    const runs = this.learned.get(document.uri.toString()) ?? [];
    const buttons = new Map(runs.map((r) => [`Write ${runName(r.gradient)} Parameters`, r]));
    const text = summary.error
      ? `ODE Lens: training stopped: ${summary.error}`
      : summary.cancelled
        ? `ODE Lens: training cancelled${summary.lines.length ? `: ${summary.lines.join(' | ')}` : '.'}`
        : `ODE Lens trained ${name}: ${summary.lines.join(' | ')}`;
    const show = summary.error ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const picked = await show(text, ...buttons.keys());
    const run = picked ? buttons.get(picked) : undefined;
    if (run) await this.write(document, run);
  }

  /** Stops the document's training (the runs keep what they learned so far). */
  async cancel(document: vscode.TextDocument): Promise<boolean> {
    return (await this.client.sendRequest(CancelTrainingRequest.type, { uri: document.uri.toString() })).cancelled;
  }

  /** Writes what a run of the document's last training learned (`gradient`, or picked), and offers to check at it. */
  async writeParameters(document: vscode.TextDocument, gradient?: string): Promise<vscode.Uri | undefined> {
    const runs = this.learned.get(document.uri.toString()) ?? [];
    if (runs.length === 0) {
      void vscode.window.showInformationMessage('ODE Lens: train this model first: no run has learned parameters yet.');
      return undefined;
    }
    const run =
      runs.find((r) => r.gradient === gradient) ??
      (runs.length === 1
        ? runs[0]
        : (
            await vscode.window.showQuickPick(
              runs.map((r) => ({ label: runName(r.gradient), description: r.line, run: r })),
              { placeHolder: 'Write the parameters learned with' },
            )
          )?.run);
    return run && this.write(document, run);
  }

  /** Writes a run's parameters next to the model, then offers to check the model at them. */
  private async write(document: vscode.TextDocument, run: TrainedRun): Promise<vscode.Uri | undefined> {
    const target =
      document.uri.scheme === 'file'
        ? parametersFile(document.uri, run.gradient)
        : await vscode.window.showSaveDialog({ filters: { 'Learned parameters': ['json'] } });
    if (!target) return undefined;
    try {
      await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(run.parametersJson));
    } catch (e) {
      void vscode.window.showErrorMessage(
        `ODE Lens: could not write ${target.fsPath}: ${e instanceof Error ? e.message : String(e)}`,
      );
      return undefined;
    }
    const file = vscode.workspace.asRelativePath(target);
    this.output.appendLine(`  ${runName(run.gradient)} parameters written to ${file}`);
    const check = 'Check Model at These Parameters';
    void vscode.window
      .showInformationMessage(
        `ODE Lens: learned parameters (${runName(run.gradient)}, ${run.iterations} iterations) written to ${file}.`,
        check,
      )
      .then((picked) => (picked === check ? this.host.checkAtParameters(document, target) : undefined));
    return target;
  }

  dispose(): void {
    this.output.dispose();
  }
}
