// The language-status item of .ode files (the `{}` in the status bar): the backend, the time of the last
// check and a link to the settings; busy with a Cancel link while a check runs; in Restricted Mode, why no
// check runs and a link to Workspace Trust.
import * as vscode from 'vscode';
import type { CheckStatusParams } from '../protocol/customMessages';

export class CheckLanguageStatus implements vscode.Disposable {
  private readonly item = vscode.languages.createLanguageStatusItem('odeLens.check', { language: 'ode' });
  private lastDone: { backend?: string; at: Date; findings?: number } | undefined;

  constructor(restricted: boolean) {
    this.item.name = 'ODE Lens';
    if (restricted) this.showRestricted();
    else this.idle('no check yet');
  }

  update(s: CheckStatusParams): void {
    if (s.restricted) {
      this.showRestricted();
      return;
    }
    this.item.severity = vscode.LanguageStatusSeverity.Information;
    if (s.state === 'queued' || s.state === 'running') {
      this.item.busy = true;
      this.item.text = `ODE Lens: checking${s.phase ? ` (${s.phase})` : '…'}`;
      this.item.command = { title: 'Cancel', command: 'odeLens.cancelCheck', arguments: [s.uri] };
      return;
    }
    this.item.busy = false;
    if (s.state === 'done') {
      this.lastDone = { backend: s.backend, at: new Date(), findings: s.findings };
      this.idle();
    } else if (s.state === 'failed') {
      this.item.severity = vscode.LanguageStatusSeverity.Warning;
      this.idle(s.message ?? 'the check failed');
    } else this.idle(s.message ?? 'check cancelled');
  }

  private idle(note?: string): void {
    const d = this.lastDone;
    const at = d ? d.at.toLocaleTimeString() : undefined;
    this.item.text = `ODE Lens: ${d?.backend ?? 'backend not chosen yet'}${at ? ` · checked ${at}` : ''}`;
    this.item.detail = note ?? (d?.findings !== undefined ? `${d.findings} finding${d.findings === 1 ? '' : 's'}` : '');
    this.item.command = { title: 'Settings', command: 'workbench.action.openSettings', arguments: ['odeLens'] };
  }

  private showRestricted(): void {
    this.item.busy = false;
    this.item.severity = vscode.LanguageStatusSeverity.Warning;
    this.item.text = 'ODE Lens: Restricted Mode';
    this.item.detail = 'gradient checks and data files need a trusted workspace';
    this.item.command = { title: 'Manage Workspace Trust', command: 'workbench.trust.manage' };
  }

  dispose(): void {
    this.item.dispose();
  }
}
