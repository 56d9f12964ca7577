// Every diagnostic code explained inside VS Code: the server links each diagnostic to its section of the
// shipped docs/diagnostics.md (codeDescription, a file: URI any client can open); the client turns that link
// into a page of its own per code (odelens-docs:/<code>.md, served from the shipped page), which the code link
// opens in an editor, and the Explain command opens rendered (Markdown preview).
import * as vscode from 'vscode';

export const EXPLAIN_COMMAND = 'odeLens.explainDiagnostic';
export const DOCS_SCHEME = 'odelens-docs';
const DOCS_PAGE = 'docs/diagnostics.md';

/** The page of one code. */
export function explanationUri(code: string): vscode.Uri {
  return vscode.Uri.from({ scheme: DOCS_SCHEME, path: `/${code}.md` });
}

/** Rewrites the server's links to the shipped page into the code's own page (other links stay). */
export function linkExplanations(diagnostics: vscode.Diagnostic[]): vscode.Diagnostic[] {
  for (const d of diagnostics) {
    const code = d.code;
    if (typeof code !== 'object' || !code.target.path.endsWith(DOCS_PAGE) || !code.target.fragment) continue;
    d.code = { value: code.value, target: explanationUri(code.target.fragment) };
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

/** Serves odelens-docs:/<code>.md from the shipped page. */
export class ExplanationPages implements vscode.TextDocumentContentProvider {
  constructor(private readonly extensionUri: vscode.Uri) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const code = uri.path.replace(/^\//, '').replace(/\.md$/, '');
    const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(this.extensionUri, DOCS_PAGE));
    const text = section(new TextDecoder().decode(bytes), code);
    return `# ODE Lens: ${code}\n\n${text?.replace(/^### .*\n/, '') ?? 'ODE Lens has no explanation of this code.'}\n`;
  }
}

/** Opens the code's page rendered (Markdown preview), or as text where no preview is available. */
export async function showExplanation(code: unknown): Promise<void> {
  if (typeof code !== 'string' || !/^[a-z0-9-]+$/.test(code)) return;
  const uri = explanationUri(code);
  try {
    await vscode.commands.executeCommand('markdown.showPreviewToSide', uri);
  } catch {
    await vscode.window.showTextDocument(uri, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }
}
