// "Train raw vs corrected" from the CodeLens: the server trains the model with raw AD and with the recommended
// correction in a worker of its own; this shows its progress (cancellable) and the one-line summaries.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { TrainProgressNotification, TrainRequest, type TrainSummary } from '../protocol/customMessages';

/** Enough iterations for the zig-zag of raw AD to show in the total variation, short enough to wait for. */
const ITERATIONS = 50;

export class Training implements vscode.Disposable {
  private readonly output = vscode.window.createOutputChannel('ODE Lens Training');
  private readonly reporters = new Map<string, (gradient: string, iteration: number, of: number) => void>();

  constructor(client: LanguageClient) {
    client.onNotification(TrainProgressNotification.type, (p) =>
      this.reporters.get(p.uri)?.(p.gradient, p.iteration, p.iterations),
    );
  }

  async run(client: LanguageClient, document: vscode.TextDocument): Promise<TrainSummary | undefined> {
    const uri = document.uri.toString();
    const options = {
      location: vscode.ProgressLocation.Notification,
      title: 'ODE Lens: training with raw and corrected gradients',
      cancellable: true,
    };
    const summary = await vscode.window.withProgress(options, async (progress, token) => {
      let last = 0;
      this.reporters.set(uri, (gradient, iteration, of) => {
        // Two runs of `of` iterations: each iteration is 50/of percent of the bar.
        const done = ((gradient === 'ad' ? 0 : of) + iteration + 1) / (2 * of);
        progress.report({ message: `${gradient}: iteration ${iteration + 1} of ${of}`, increment: 100 * done - last });
        last = 100 * done;
      });
      try {
        return await client.sendRequest(TrainRequest.type, { uri, iterations: ITERATIONS }, token);
      } finally {
        this.reporters.delete(uri);
      }
    });
    if (!summary || summary.cancelled) {
      void vscode.window.showInformationMessage('ODE Lens: training cancelled.');
      return summary;
    }
    const name = vscode.workspace.asRelativePath(document.uri);
    this.output.appendLine(`${name}: ${ITERATIONS} iterations each`);
    for (const l of summary.lines) this.output.appendLine(`  ${l}`);
    if (summary.error) {
      this.output.appendLine(`  stopped: ${summary.error}`);
      void vscode.window.showWarningMessage(`ODE Lens: training stopped: ${summary.error}`);
    } else void vscode.window.showInformationMessage(`ODE Lens trained ${name}: ${summary.lines.join(' | ')}`);
    return summary;
  }

  dispose(): void {
    this.output.dispose();
  }
}
