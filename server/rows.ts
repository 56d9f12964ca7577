// Answers a plot's request for rows (odeLens/rows) from the document's latest check: the rows are
// packed in typed arrays, and an answer covers the components asked for, downsampled to the plot's
// width (solver/rows.ts), so it stays small whatever the model's size.
import { answerRows } from '../solver/rows';
import type { RowsParams, RowsResult } from '../protocol/customMessages';
import type { OpenDocument } from './documentStore';

export function rowsOf(st: OpenDocument | undefined, params: RowsParams): RowsResult {
  const last = st?.last;
  if (!last) return { message: 'no gradient check result yet for this document' };
  if (params.key !== undefined && params.key !== last.hash)
    return { key: last.hash, stale: true, message: 'the report was replaced by a newer check' };
  const q = params.query as Partial<RowsParams['query']> | undefined;
  // Any LSP client may ask: a malformed query gets a message, never an exception.
  if (
    !q ||
    typeof q !== 'object' ||
    typeof q.view !== 'string' ||
    typeof q.target !== 'string' ||
    !Array.isArray(q.columns)
  )
    return { key: last.hash, message: 'a rows query names a view, a target and its columns' };
  const rows = answerRows(last.tables, params.query);
  return typeof rows === 'string' ? { key: last.hash, message: rows } : { key: last.hash, rows };
}
