// `data NAME = "file.csv"`: the file is read through workspaceFiles (inside the
// workspace, regular files only, a size limit, cached while unchanged) and parsed with
// csv-parse into numbers once per content: the server parses it ahead in slices, and
// what the analysis keeps is numbers, not the CSV's strings. Every failure becomes one
// diagnostic on the path's range; nothing here throws.

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

/** The observations of a data file: increasing times, and the other columns' names and values. */
export interface Observations {
  readonly times: number[];
  readonly columns: string[];
  readonly values: number[][];
  /** The row number (as the messages count rows) of the first observation. */
  readonly firstRow: number;
}

type Malformed = { readonly malformed: string };

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
  const fail = (message: string, code: Diagnostic['code']): undefined => {
    out.push(diag(code, 'error', `Data '${stmt.name}': ${message}`, stmt.pathRange));
    return undefined;
  };
  const read = readWorkspaceFile(stmt.path, context, CSV_OBSERVATIONS);
  if (!read.ok)
    return fail(
      read.message,
      read.refusal === 'outside-workspace'
        ? 'data-outside-workspace'
        : read.refusal === 'malformed'
          ? 'data-malformed'
          : 'data-file',
    );
  const { times, columns, values, firstRow } = read.value;
  const k = times.findIndex(
    (time) => time < interval[0] - 1e-12 || time > interval[1] + 1e-9 * Math.max(1, Math.abs(interval[1])),
  );
  if (k >= 0)
    return fail(
      `row ${firstRow + k}: time ${times[k]} is outside the solved interval [${interval[0]}, ${interval[1]}] (set @ t0= and total=)`,
      'data-malformed',
    );
  return {
    name: stmt.name,
    path: stmt.path,
    resolvedPath: read.resolvedPath,
    times,
    columns,
    values,
    range: stmt.range,
    nameRange: stmt.nameRange,
    pathRange: stmt.pathRange,
  };
}

/** csv-parse's options for a data file: trimmed cells, no empty lines, `#` comments. */
const CSV_OPTIONS = { skip_empty_lines: true, trim: true, comment: '#', bom: true, relax_column_count: false } as const;

const invalidCsv = (path: string, e: unknown): Malformed => ({
  malformed: `"${path}" is not a valid CSV file: ${e instanceof Error ? e.message : String(e)}`,
});

/** The characters fed to the streaming parser at a time, between which the event loop runs. */
const SLICE = 1 << 16;

/** A data file's observations, parsed once per content (see FileFormat). */
export const CSV_OBSERVATIONS: FileFormat<Observations> = {
  name: 'csv-observations',
  parse(text, path) {
    let rows: string[][];
    try {
      rows = parseCsv(text, CSV_OPTIONS) as string[][];
    } catch (e) {
      return invalidCsv(path, e);
    }
    const b = new ObservationsBuilder(path);
    for (const row of rows) if (!b.add(row)) break;
    return b.finish();
  },
  async parseAsync(text, path) {
    // Each record is converted as it comes, so the CSV's strings do not pile up.
    const b = new ObservationsBuilder(path);
    try {
      await new Promise<void>((done, fail) => {
        const parser = parseCsvStream(CSV_OPTIONS);
        // Once the file is malformed (or csv-parse gives up) the rest is not read.
        let stopped = false;
        const stop = () => {
          stopped = true;
          parser.destroy();
          done();
        };
        parser.on('readable', () => {
          for (let r = parser.read(); r !== null && !stopped; r = parser.read()) if (!b.add(r as string[])) stop();
        });
        parser.on('error', (e) => {
          if (stopped) return;
          stopped = true;
          fail(e);
        });
        parser.on('end', () => done());
        let i = 0;
        const feed = () => {
          if (stopped) return;
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
    return b.finish();
  },
};

/**
 * The observations in CSV rows, one row at a time: an optional header (a first row that is
 * not all numbers), the time column (`t`, else the first), finite numbers, increasing times.
 */
class ObservationsBuilder {
  private header: string[] | undefined;
  private hasHeader = false;
  private timeCol = 0;
  private malformed: string | undefined;
  private readonly times: number[] = [];
  private readonly values: number[][] = [];

  constructor(private readonly path: string) {}

  /** Takes one row; false once the file is malformed (the rest is not read). */
  add(row: string[]): boolean {
    if (this.malformed !== undefined) return false;
    if (!this.header) {
      this.hasHeader = row.some((cell) => plainNumber(cell) === undefined);
      this.header = this.hasHeader ? row : row.map((_, i) => (i === 0 ? 't' : `v${i}`));
      if (this.header.length < 2) {
        this.malformed = `"${this.path}" needs a time column and at least one value column`;
        return false;
      }
      this.timeCol = Math.max(
        0,
        this.header.findIndex((h) => h.toLowerCase() === 't'),
      );
      if (this.hasHeader) return true;
    }
    const line = this.times.length + this.firstRow;
    const nums: number[] = [];
    for (let c = 0; c < row.length; c++) {
      const v = plainNumber(row[c]);
      if (v === undefined) {
        this.malformed = `row ${line}, column '${this.header[c]}': '${row[c]}' is not a finite number`;
        return false;
      }
      if (c !== this.timeCol) nums.push(v);
    }
    const time = plainNumber(row[this.timeCol]) as number;
    const last = this.times[this.times.length - 1];
    if (this.times.length > 0 && time <= last) {
      this.malformed = `row ${line}: the times must increase (t = ${time} after t = ${last})`;
      return false;
    }
    this.times.push(time);
    this.values.push(nums);
    return true;
  }

  private get firstRow(): number {
    return this.hasHeader ? 2 : 1;
  }

  finish(): Observations | Malformed {
    if (this.malformed !== undefined) return { malformed: this.malformed };
    if (!this.header) return { malformed: `"${this.path}" is empty` };
    if (this.times.length === 0) return { malformed: `"${this.path}" has no observations (only a header)` };
    const timeCol = this.timeCol;
    return {
      times: this.times,
      columns: this.header.filter((_, c) => c !== timeCol),
      values: this.values,
      firstRow: this.firstRow,
    };
  }
}
