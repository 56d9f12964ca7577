// Applies LSP text edits to a text the way an editor does (vscode-languageserver-textdocument), to read
// the file a quick fix, a rename or a formatting request would leave behind.
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Range } from '../../solver/model';

export function applyEdits(text: string, edits: readonly { range: Range; newText: string }[]): string {
  return TextDocument.applyEdits(TextDocument.create('file:///model.ode', 'ode', 0, text), [...edits]);
}
