// Applies LSP text edits to a text as an editor does, with vscode-languageserver-textdocument.
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { TextEdit } from 'vscode-languageserver-types';

export type { TextEdit };

export function applyEdits(text: string, edits: TextEdit[]): string {
  return TextDocument.applyEdits(TextDocument.create('file:///model.ode', 'ode', 0, text), edits);
}
