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
  if (!params.query || typeof params.query !== 'object') return { key: last.hash, message: 'no query' };
  const rows = answerRows(last.tables, params.query);
  return typeof rows === 'string' ? { key: last.hash, message: rows } : { key: last.hash, rows };
}
