// Brings the plot panel back after a reload of the window: VS Code hands over the panel and the state
// the page saved (vscode.setState: its document, view and selections), and the panel reopens on that
// document; the page restores its view from the same state.
import * as vscode from 'vscode';
import type { PlotPageState } from '../protocol/webviewMessages';
import { PlotPanel, type PlotPanelHost } from './plotPanel';

function activeModel(): vscode.TextDocument | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  return doc?.languageId === 'ode' ? doc : undefined;
}

export function registerPlotSerializer(extensionUri: vscode.Uri, host: PlotPanelHost): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(PlotPanel.viewType, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      const uri = (state as PlotPageState | undefined)?.uri;
      let document: vscode.TextDocument | undefined;
      try {
        document = uri ? await vscode.workspace.openTextDocument(vscode.Uri.parse(uri)) : activeModel();
      } catch {
        document = activeModel(); // the model was moved or deleted meanwhile
      }
      if (document) PlotPanel.revive(panel, extensionUri, host, document);
      else panel.dispose();
    },
  });
}
