// `data NAME = "file.csv"`: the file is read through workspaceFiles (inside the
// workspace, regular files only, a size limit, cached while unchanged) and parsed with
// csv-parse. Every failure becomes one diagnostic on the path's range; nothing here throws.

import { parse as parseCsvStream } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import type { AnalysisContext, DataDecl, Diagnostic } from '../model';
import type { DataStmt } from './ast';
import { diag } from './ranges';
import { readWorkspaceFile, type FileFormat } from './workspaceFiles';

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
  const read = readWorkspaceFile(stmt.path, context, CSV_ROWS);
  if (!read.ok)
    return fail(
      failure(
        read.message,
        read.refusal === 'outside-workspace'
          ? 'data-outside-workspace'
          : read.refusal === 'malformed'
            ? 'data-malformed'
            : 'data-file',
      ),
    );
  const rows = read.value;
  const observed = observationsOnce(stmt.path, rows, interval);
  if (failed(observed)) return fail(observed);
  return {
    name: stmt.name,
    path: stmt.path,
    resolvedPath: read.resolvedPath,
    times: observed.times,
    columns: observed.columns,
    values: observed.values,
    range: stmt.range,
    nameRange: stmt.nameRange,
    pathRange: stmt.pathRange,
  };
}

/** csv-parse's options for a data file: trimmed cells, no empty lines, `#` comments. */
const CSV_OPTIONS = { skip_empty_lines: true, trim: true, comment: '#', bom: true, relax_column_count: false } as const;

const invalidCsv = (path: string, e: unknown) => ({
  malformed: `"${path}" is not a valid CSV file: ${e instanceof Error ? e.message : String(e)}`,
});
const someRows = (path: string, rows: string[][]) => (rows.length === 0 ? { malformed: `"${path}" is empty` } : rows);

/** The characters fed to the streaming parser at a time, between which the event loop runs. */
const SLICE = 1 << 16;

/** A CSV file as rows of trimmed cells (no empty lines or `#` comments); at least one row. */
export const CSV_ROWS: FileFormat<string[][]> = {
  name: 'csv-rows',
  parse(text, path) {
    try {
      return someRows(path, parseCsv(text, CSV_OPTIONS) as string[][]);
    } catch (e) {
      return invalidCsv(path, e);
    }
  },
  async parseAsync(text, path) {
    const rows: string[][] = [];
    try {
      await new Promise<void>((done, fail) => {
        const parser = parseCsvStream(CSV_OPTIONS);
        let failed = false;
        parser.on('readable', () => {
          for (let r = parser.read(); r !== null; r = parser.read()) rows.push(r as string[]);
        });
        parser.on('error', (e) => {
          failed = true;
          fail(e);
        });
        parser.on('end', () => done());
        let i = 0;
        const feed = () => {
          if (failed) return;
          if (i >= text.length) return void parser.end();
          // Never split a surrogate pair between two slices.
          let j = Math.min(text.length, i + SLICE);
          if (j < text.length && (text.charCodeAt(j - 1) & 0xfc00) === 0xd800) j++;
          parser.write(text.slice(i, j));
          i = j;
          setImmediate(feed);
        };
        feed();
      });
    } catch (e) {
      return invalidCsv(path, e);
    }
    return someRows(path, rows);
  },
};

/** The observations of the rows parsed last (an edit of the model does not convert its data again). */
const converted = new WeakMap<string[][], { key: string; result: Observations | DataFailure }>();

function observationsOnce(path: string, rows: string[][], interval: [number, number]): Observations | DataFailure {
  const key = `${path}\0${interval[0]}\0${interval[1]}`;
  const hit = converted.get(rows);
  if (hit?.key === key) return hit.result;
  const result = observations(path, rows, interval);
  converted.set(rows, { key, result });
  return result;
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
