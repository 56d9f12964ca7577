// Document and range formatting, by the front end's formatter (which leaves
// lines the parser rejects unchanged, so it is safe on files with errors).
import type { TextEdit } from 'vscode-languageserver-types';
import type { Range } from '../model';
import { formatEdits, formatRange as formatLines } from '../language/format';
import type { ServiceDocument } from './document';

export function formatDocument(doc: ServiceDocument): TextEdit[] {
  try {
    return formatEdits(doc.text);
  } catch {
    return []; // a formatter bug must not cost the user their request
  }
}

export function formatRange(doc: ServiceDocument, range: Range): TextEdit[] {
  // A selection that ends at the start of a line does not include that line.
  const end = range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range.end.line;
  // Whole logical lines: a selection inside a `\` continuation formats its statement.
  const start = doc.logicalLineStart(range.start.line);
  let last = end;
  while (last + 1 < doc.lines.length && /\\[ \t]*$/.test(doc.lineText(last))) last++;
  try {
    return formatLines(doc.text, start, last);
  } catch {
    return [];
  }
}
