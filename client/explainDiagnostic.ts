// Every diagnostic code explained inside VS Code: the server links each diagnostic to its section of the
// shipped docs/diagnostics.md (codeDescription, a file: URI any client can open); the client turns that link
// into the command below, which renders the code's section (VS Code's own Markdown renderer) in a panel.
import * as vscode from 'vscode';

export const EXPLAIN_COMMAND = 'odeLens.explainDiagnostic';
const DOCS_PAGE = 'docs/diagnostics.md';

/** The `command:` link that opens the explanation of `code`. */
export function explainUri(code: string): vscode.Uri {
  return vscode.Uri.parse(`command:${EXPLAIN_COMMAND}?${encodeURIComponent(JSON.stringify([code]))}`);
}

/** Rewrites the server's links to the shipped page into the explain command (other links stay). */
export function linkExplanations(diagnostics: vscode.Diagnostic[]): vscode.Diagnostic[] {
  for (const d of diagnostics) {
    const code = d.code;
    if (typeof code !== 'object' || !code.target.path.endsWith(DOCS_PAGE) || !code.target.fragment) continue;
    d.code = { value: code.value, target: explainUri(code.target.fragment) };
  }
  return diagnostics;
}

/** The section of the page under `### code`, up to the next heading of that level or above. */
export function section(page: string, code: string): string | undefined {
  const lines = page.split('\n');
  const start = lines.findIndex((l) => l.trim() === `### ${code}`);
  if (start < 0) return undefined;
  let end = lines.findIndex((l, i) => i > start && /^#{1,3} /.test(l));
  if (end < 0) end = lines.length;
  return lines.slice(start, end).join('\n');
}

let panel: vscode.WebviewPanel | undefined;

export async function showExplanation(extensionUri: vscode.Uri, code: unknown): Promise<void> {
  const name = typeof code === 'string' ? code : '';
  const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(extensionUri, DOCS_PAGE));
  const markdown =
    section(new TextDecoder().decode(bytes), name) ?? `### ${name}\n\nODE Lens has no explanation of this code.`;
  const html = await vscode.commands.executeCommand<string>('markdown.api.render', markdown).then(
    (h) => h,
    () => undefined,
  );
  if (!panel) {
    panel = vscode.window.createWebviewPanel(
      'odeLens.explanation',
      'ODE Lens',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      { enableScripts: false },
    );
    panel.onDidDispose(() => {
      panel = undefined;
    });
  } else panel.reveal(vscode.ViewColumn.Beside);
  panel.title = `ODE Lens: ${name}`;
  const body =
    html ?? `<pre>${markdown.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!)}</pre>`;
  panel.webview.html = `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';"><style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground);line-height:1.5;max-width:50em}code{font-family:var(--vscode-editor-font-family)}</style></head><body class="odelens-explanation" data-code="${name.replace(/[^a-z0-9-]/g, '')}">${body}</body></html>`;
}
