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

/** Why a data set cannot be read: the message (after "Data 'NAME': ") and its code. */
interface DataFailure {
  readonly failure: string;
  readonly code: Diagnostic['code'];
}

function failure(message: string, code: Diagnostic['code'] = 'data-file'): DataFailure {
  return { failure: message, code };
}

function failed<T extends object>(result: T | DataFailure): result is DataFailure {
  return 'failure' in result;
}

/** The observations of a data set: times, and the other columns' names and values. */
interface Observations {
  readonly times: number[];
  readonly columns: string[];
  readonly values: number[][];
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
  const fail = (f: DataFailure): undefined => {
    out.push(diag(f.code, 'error', `Data '${stmt.name}': ${f.failure}`, stmt.pathRange));
    return undefined;
  };
  const located = locate(stmt, context);
  if (failed(located)) return fail(located);
  const text = readText(stmt.path, context, located);
  if (typeof text !== 'string') return fail(text);
  const rows = parseRows(stmt.path, text);
  if (!Array.isArray(rows)) return fail(rows);
  const observed = observations(stmt.path, rows, interval);
  if (failed(observed)) return fail(observed);
  return {
    name: stmt.name,
    path: stmt.path,
    resolvedPath: located.resolved,
    times: observed.times,
    columns: observed.columns,
    values: observed.values,
    range: stmt.range,
    nameRange: stmt.nameRange,
    pathRange: stmt.pathRange,
  };
}

/** Where the file is: the path resolved against the document's folder, which must be inside the workspace. */
function locate(stmt: DataStmt, context: AnalysisContext): { resolved: string; root: string } | DataFailure {
  if (stmt.path.trim() === '') return failure('the file name is empty');
  const base = context.documentPath ? dirname(context.documentPath) : (context.workspaceRoot ?? process.cwd());
  const root = context.workspaceRoot ?? base;
  const resolved = resolve(base, stmt.path);
  if (!inside(resolve(root), resolved))
    return failure(
      `"${stmt.path}" is outside the workspace (${root}); data files must be inside it`,
      'data-outside-workspace',
    );
  return { resolved, root };
}

/** The file's text, through the context's reader or from the disk (following links, which must stay in the workspace). */
function readText(
  path: string,
  context: AnalysisContext,
  { resolved, root }: { resolved: string; root: string },
): string | DataFailure {
  let text: string;
  try {
    if (context.readFile) text = context.readFile(resolved);
    else {
      // Follow links before the workspace check, so a link cannot lead outside.
      const real = realpathSync(resolved);
      if (!inside(realpathSync(resolve(root)), real))
        return failure(
          `"${path}" leads outside the workspace (${root}); data files must be inside it`,
          'data-outside-workspace',
        );
      text = readFileSync(real, 'utf8');
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') return failure(`file "${path}" not found (looked for ${resolved})`);
    if (code === 'EISDIR') return failure(`"${path}" is a folder, not a CSV file`);
    return failure(`cannot read "${path}" (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof text !== 'string') return failure(`cannot read "${path}"`);
  if (text.length > MAX_DATA_CHARS) return failure(`"${path}" is too large (more than ${MAX_DATA_CHARS} characters)`);
  return text;
}

/** The CSV rows (trimmed cells, no empty lines or `#` comments); at least one. */
function parseRows(path: string, text: string): string[][] | DataFailure {
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
    return failure(
      `"${path}" is not a valid CSV file: ${e instanceof Error ? e.message : String(e)}`,
      'data-malformed',
    );
  }
  if (rows.length === 0) return failure(`"${path}" is empty`, 'data-malformed');
  return rows;
}

/**
 * The observations in the rows: an optional header (a first row that is not all numbers), the
 * time column (`t`, else the first), finite numbers, increasing times inside `interval`.
 */
function observations(path: string, rows: string[][], interval: [number, number]): Observations | DataFailure {
  const hasHeader = rows[0].some((cell) => plainNumber(cell) === undefined);
  const header = hasHeader ? rows[0] : rows[0].map((_, i) => (i === 0 ? 't' : `v${i}`));
  const body = hasHeader ? rows.slice(1) : rows;
  if (header.length < 2)
    return failure(`"${path}" needs a time column and at least one value column`, 'data-malformed');
  if (body.length === 0) return failure(`"${path}" has no observations (only a header)`, 'data-malformed');
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
        return failure(`row ${line}, column '${header[c]}': '${row[c]}' is not a finite number`, 'data-malformed');
      nums.push(v);
    }
    const time = nums[timeCol];
    if (times.length > 0 && time <= times[times.length - 1]) {
      return failure(
        `row ${line}: the times must increase (t = ${time} after t = ${times[times.length - 1]})`,
        'data-malformed',
      );
    }
    if (time < interval[0] - 1e-12 || time > interval[1] + 1e-9 * Math.max(1, Math.abs(interval[1]))) {
      return failure(
        `row ${line}: time ${time} is outside the solved interval [${interval[0]}, ${interval[1]}] (set @ t0= and total=)`,
        'data-malformed',
      );
    }
    times.push(time);
    values.push(nums.filter((_, c) => c !== timeCol));
  }
  return { times, columns: header.filter((_, c) => c !== timeCol), values };
}

/**
 * The text of another file a model names (a `table` file), found and read as data files are: relative to
 * the model, inside the workspace only. Returns the text or why it cannot be read.
 */
export function readWorkspaceFile(
  path: string,
  context: AnalysisContext,
): { text: string } | { failure: string; code: Diagnostic['code'] } {
  const located = locate({ path } as DataStmt, context);
  if (failed(located)) return located;
  const text = readText(path, context, located);
  return typeof text === 'string' ? { text } : text;
}
