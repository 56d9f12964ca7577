// The status bar item: backend and last check state of the active .ode document.
// "ODE Lens: cpu · 120 ms · 2 findings" (the time is the report's check time, the number the plots'
// header and `odelens check` show; the server counts the errors and warnings it published, so the
// number matches the Problems panel); "not checked: <why>" when no
// check runs for the text; a spinner and the phase while a check runs (click → cancel it);
// otherwise click → plots.
import * as vscode from 'vscode';
import type { CheckStatusParams } from '../protocol/customMessages';

export class CheckStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly byUri = new Map<string, CheckStatusParams>();
  private lastBackend: string | undefined;
  private readonly subs: vscode.Disposable[] = [];

  constructor() {
    this.item = vscode.window.createStatusBarItem('odeLens.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'ODE Lens';
    this.item.command = 'odeLens.showGradientPlots';
    this.subs.push(vscode.window.onDidChangeActiveTextEditor(() => this.render()));
    this.subs.push(vscode.window.onDidChangeVisibleTextEditors(() => this.render()));
    this.subs.push(vscode.workspace.onDidCloseTextDocument((d) => this.byUri.delete(d.uri.toString())));
    this.render();
  }

  update(status: CheckStatusParams): void {
    const previous = this.byUri.get(status.uri);
    // Keep the figures of the last finished check while a new one is queued or running.
    const merged: CheckStatusParams =
      status.state === 'queued' || status.state === 'running' || status.state === 'cancelled'
        ? { ...status, backend: status.backend ?? previous?.backend, ms: previous?.ms, findings: previous?.findings }
        : status;
    if (status.backend) this.lastBackend = status.backend;
    this.byUri.set(status.uri, merged);
    this.render();
  }

  /** A fresh server: forget states (the checks will be re-run). */
  reset(): void {
    this.byUri.clear();
    this.render();
  }

  private render(): void {
    // With the plots panel (or another non-editor view) focused, follow a visible .ode editor.
    const editor =
      vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors.find((e) => e.document.languageId === 'ode');
    if (!editor || editor.document.languageId !== 'ode') {
      this.item.hide();
      return;
    }
    const s = this.byUri.get(editor.document.uri.toString());
    const backend = s?.backend ?? this.lastBackend;
    const parts = [`ODE Lens${backend ? `: ${backend}` : ''}`];
    let icon = '$(pulse)';
    let tooltip = 'ODE Lens: no gradient check yet. Click to show gradient plots.';
    this.item.backgroundColor = undefined;
    this.item.command = 'odeLens.showGradientPlots';
    switch (s?.state) {
      case 'queued':
      case 'running':
        icon = '$(sync~spin)';
        parts.push(s.state === 'queued' ? 'queued' : `checking${s.phase ? `: ${s.phase}` : ''}…`);
        tooltip = `ODE Lens: gradient check ${s.state}. Click to cancel it.`;
        this.item.command = {
          title: 'Cancel the gradient check',
          command: 'odeLens.cancelCheck',
          arguments: [editor.document.uri],
        };
        break;
      case 'done':
        if (s.ms !== undefined) parts.push(`${s.ms} ms`);
        parts.push(`${s.findings ?? 0} finding${s.findings === 1 ? '' : 's'}`);
        if (s.parameters) parts.push(`at ${s.parameters}`);
        icon = s.findings ? '$(warning)' : '$(check)';
        tooltip = `ODE Lens: gradient check done${s.cached ? ' (cached result)' : ''} on ${s.backend ?? 'unknown backend'}${s.parameters ? ` at the parameters in ${s.parameters}` : ''}${s.ms !== undefined ? ` in ${s.ms} ms (the check from the parsed model to its report, as the plots' header and odelens check show it)` : ''}; findings: the errors and warnings in the Problems panel. Click to show gradient plots.`;
        break;
      case 'failed':
        icon = '$(error)';
        parts.push('check failed');
        tooltip = `ODE Lens: ${s.message ?? 'the gradient check failed'}`;
        this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
        break;
      case 'cancelled':
        parts.push(s.message ? `not checked: ${s.message}` : 'check cancelled');
        tooltip = `ODE Lens: gradient check cancelled${s.message ? `: ${s.message}` : ''}.`;
        break;
    }
    this.item.text = `${icon} ${parts.join(' · ')}`;
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: parts.join(', ') };
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
    for (const s of this.subs) s.dispose();
  }
}
