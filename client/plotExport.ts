// Saves a chart the plot page exports (its PNG or its data as CSV): the user picks where, next to the
// model by default; the page never writes files itself (a webview cannot).
import * as vscode from 'vscode';
import type { ExportFormat } from '../protocol/webviewMessages';

const FILTERS: Record<ExportFormat, Record<string, string[]>> = {
  png: { 'PNG image': ['png'] },
  csv: { 'CSV table': ['csv'] },
};

/** The bytes to write: a PNG arrives as a data: URL, a CSV as text. Undefined for a PNG that is not one. */
export function exportBytes(format: ExportFormat, data: string): Uint8Array | undefined {
  if (format === 'csv') return new TextEncoder().encode(data);
  const m = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(data);
  return m ? Buffer.from(m[1], 'base64') : undefined;
}

export async function saveExport(
  model: vscode.Uri,
  format: ExportFormat,
  fileName: string,
  data: string,
): Promise<void> {
  const bytes = exportBytes(format, data);
  if (!bytes) {
    void vscode.window.showWarningMessage('ODE Lens: the chart could not be exported (not a PNG image).');
    return;
  }
  const safeName = fileName.replace(/[/\\]/g, '_');
  const target = await vscode.window.showSaveDialog({
    defaultUri: vscode.Uri.joinPath(model, '..', safeName),
    filters: FILTERS[format],
    title: format === 'png' ? 'Save the chart as PNG' : 'Save the chart data as CSV',
  });
  if (!target) return;
  try {
    await vscode.workspace.fs.writeFile(target, bytes);
    void vscode.window.showInformationMessage(`ODE Lens: saved ${target.path.split('/').pop()}`);
  } catch (e) {
    void vscode.window.showWarningMessage(
      `ODE Lens: could not save ${target.fsPath}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}
