// `data NAME = "file.csv"`: resolves the path inside the workspace, reads the
// file and parses it with csv-parse. Every failure becomes one diagnostic on
// the path's range; nothing here throws.

import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { AnalysisContext, DataDecl, Diagnostic } from '../model';
import type { DataStmt } from './ast';
import { diag } from './ranges';

/** Largest data file read (bytes of text): a bigger one is refused with a diagnostic. */
const MAX_DATA_CHARS = 20_000_000;

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function plainNumber(s: string): number | undefined {
  if (s.trim() === '') return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/**
 * Reads one data set. `interval` is [t0, t0 + total]: observation times must lie in it.
 * Returns the declaration, or undefined after pushing a diagnostic.
 */
export function readData(
  stmt: DataStmt,
  context: AnalysisContext,
  interval: [number, number],
  out: Diagnostic[],
): DataDecl | undefined {
  const fail = (message: string, code = 'data-file'): undefined => {
    out.push(diag(code, 'error', `Data '${stmt.name}': ${message}`, stmt.pathRange));
    return undefined;
  };
  if (stmt.path.trim() === '') return fail('the file name is empty');
  const base = context.documentPath ? dirname(context.documentPath) : (context.workspaceRoot ?? process.cwd());
  const root = context.workspaceRoot ?? base;
  const resolved = resolve(base, stmt.path);
  if (!inside(resolve(root), resolved))
    return fail(
      `"${stmt.path}" is outside the workspace (${root}); data files must be inside it`,
      'data-outside-workspace',
    );

  let text: string;
  try {
    if (context.readFile) text = context.readFile(resolved);
    else {
      // Follow links before the workspace check, so a link cannot lead outside.
      const real = realpathSync(resolved);
      if (!inside(realpathSync(resolve(root)), real))
        return fail(
          `"${stmt.path}" leads outside the workspace (${root}); data files must be inside it`,
          'data-outside-workspace',
        );
      text = readFileSync(real, 'utf8');
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') return fail(`file "${stmt.path}" not found (looked for ${resolved})`);
    if (code === 'EISDIR') return fail(`"${stmt.path}" is a folder, not a CSV file`);
    return fail(`cannot read "${stmt.path}" (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof text !== 'string') return fail(`cannot read "${stmt.path}"`);
  if (text.length > MAX_DATA_CHARS) return fail(`"${stmt.path}" is too large (more than ${MAX_DATA_CHARS} characters)`);

  let rows: string[][];
  try {
    rows = parseCsv(text, {
      skip_empty_lines: true,
      trim: true,
      comment: '#',
      bom: true,
      relax_column_count: false,
    }) as string[][];
  } catch (e) {
    return fail(
      `"${stmt.path}" is not a valid CSV file: ${e instanceof Error ? e.message : String(e)}`,
      'data-malformed',
    );
  }
  if (rows.length === 0) return fail(`"${stmt.path}" is empty`, 'data-malformed');

  // A first row that is not all numbers is the header.
  const hasHeader = rows[0].some((cell) => plainNumber(cell) === undefined);
  const header = hasHeader ? rows[0] : rows[0].map((_, i) => (i === 0 ? 't' : `v${i}`));
  const body = hasHeader ? rows.slice(1) : rows;
  if (header.length < 2)
    return fail(`"${stmt.path}" needs a time column and at least one value column`, 'data-malformed');
  if (body.length === 0) return fail(`"${stmt.path}" has no observations (only a header)`, 'data-malformed');
  let timeCol = header.findIndex((h) => h.toLowerCase() === 't');
  if (timeCol < 0) timeCol = 0;

  const times: number[] = [];
  const values: number[][] = [];
  for (let r = 0; r < body.length; r++) {
    const row = body[r];
    const line = r + (hasHeader ? 2 : 1);
    const nums: number[] = [];
    for (let c = 0; c < row.length; c++) {
      const v = plainNumber(row[c]);
      if (v === undefined)
        return fail(`row ${line}, column '${header[c]}': '${row[c]}' is not a finite number`, 'data-malformed');
      nums.push(v);
    }
    const time = nums[timeCol];
    if (times.length > 0 && time <= times[times.length - 1]) {
      return fail(
        `row ${line}: the times must increase (t = ${time} after t = ${times[times.length - 1]})`,
        'data-malformed',
      );
    }
    if (time < interval[0] - 1e-12 || time > interval[1] + 1e-9 * Math.max(1, Math.abs(interval[1]))) {
      return fail(
        `row ${line}: time ${time} is outside the solved interval [${interval[0]}, ${interval[1]}] (set @ t0= and total=)`,
        'data-malformed',
      );
    }
    times.push(time);
    values.push(nums.filter((_, c) => c !== timeCol));
  }
  const decl: DataDecl = {
    name: stmt.name,
    path: stmt.path,
    resolvedPath: resolved,
    times,
    columns: header.filter((_, c) => c !== timeCol),
    values,
    range: stmt.range,
    nameRange: stmt.nameRange,
    pathRange: stmt.pathRange,
  };
  return decl;
}
