// Progress of the gradient checks in the window: a background check shows in the status bar with its phase
// (solve, reference, finite differences, analysis) until it ends; a check the user asked for shows a
// notification with a Cancel button. Cancelling asks the server to stop it (odeLens/cancelCheck).
import * as vscode from 'vscode';
import type { CheckStatusParams } from '../protocol/customMessages';

interface Running {
  report: (phase: string) => void;
  end: () => void;
}

export class CheckProgress implements vscode.Disposable {
  private readonly running = new Map<string, Running>();
  private readonly foregroundReport = new Map<string, (phase: string) => void>();

  update(s: CheckStatusParams): void {
    const active = s.state === 'queued' || s.state === 'running';
    if (s.phase) this.foregroundReport.get(s.uri)?.(s.phase);
    const r = this.running.get(s.uri);
    if (!active) {
      r?.end();
      this.running.delete(s.uri);
      return;
    }
    if (r) {
      if (s.phase) r.report(s.phase);
      return;
    }
    this.start(s.uri, vscode.ProgressLocation.Window, s.phase);
  }

  /** A notification with Cancel for a check of `uri` the user asked for, open until `work` settles. */
  foreground<T>(title: string, uri: string, work: Promise<T>, cancel: () => void): Thenable<T> {
    const options = { location: vscode.ProgressLocation.Notification, title, cancellable: true };
    return vscode.window.withProgress(options, (p, token) => {
      token.onCancellationRequested(cancel);
      this.foregroundReport.set(uri, (phase) => p.report({ message: phase }));
      return work.finally(() => this.foregroundReport.delete(uri));
    });
  }

  private start(uri: string, location: vscode.ProgressLocation, phase?: string): void {
    let end = () => {};
    let report: (phase: string) => void = () => {};
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    void vscode.window.withProgress({ location, title: 'ODE Lens' }, (p) => {
      report = (m) => p.report({ message: `checking: ${m}` });
      if (phase) report(phase);
      return ended;
    });
    this.running.set(uri, { report: (m) => report(m), end });
  }

  dispose(): void {
    for (const r of this.running.values()) r.end();
    this.running.clear();
  }
}
