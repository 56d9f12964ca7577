// A check's rows, kept apart from its summary: packed into one Float64Array per series (cheap to hand
// from the worker to the server, which holds them), and answered a query at a time, downsampled to the
// resolution the asker draws at. The plots ask for the rows they show; nobody else needs them.
import type { ParameterReport, Report, RowQuery, RowSeriesData, RowsAnswer, RowTable, StatePathRows } from './report';

export type { RowQuery, RowSeries, RowSeriesData, RowsAnswer, RowTable, RowTableInfo, RowView } from './report';

export const MAX_QUERY_COLUMNS = 8;
/** Points (x, y pairs) an answer may hold in all: about 400 kB of JSON. */
export const MAX_ANSWER_POINTS = 20_000;

// ---------------------------------------------------------------- packing

function packMatrix(rows: readonly (readonly number[])[], count: number, columns: number, pick?: number): Float64Array {
  const out = new Float64Array(count * columns).fill(Number.NaN);
  for (let n = 0; n < count; n++) {
    const row = rows[n];
    if (!row) continue;
    if (pick !== undefined) out[n] = row[pick] ?? Number.NaN;
    else for (let j = 0; j < columns && j < row.length; j++) out[n * columns + j] = row[j];
  }
  return out;
}

function columnNorms(values: Float64Array, rows: number, columns: number): number[] {
  const norms = new Array<number>(columns).fill(0);
  for (let n = 0; n < rows; n++)
    for (let j = 0; j < columns; j++) {
      const v = values[n * columns + j];
      if (Number.isFinite(v)) norms[j] += v * v;
    }
  return norms.map(Math.sqrt);
}

const LAYER_SERIES = ['raw', 'corrected', 'reference'] as const;

function layersTable(p: ParameterReport): RowTable {
  const rows = p.layerTimes.length;
  const columns = Math.max(0, ...LAYER_SERIES.map((s) => p[s][0]?.length ?? 0));
  const times = Float64Array.from(p.layerTimes);
  const correctedTimes = p.correctedTimes ? Float64Array.from(p.correctedTimes) : times;
  const series: RowSeriesData[] = [
    { name: 'raw', x: times, values: packMatrix(p.raw, rows, columns) },
    { name: 'corrected', x: correctedTimes, values: packMatrix(p.corrected, correctedTimes.length, columns) },
    { name: 'reference', x: times, values: packMatrix(p.reference, rows, columns) },
  ];
  const hasReference = p.reference.some((row) => row.some(Number.isFinite));
  return {
    info: {
      view: 'layers',
      target: p.name,
      rows,
      columns,
      ...(p.components ? { componentIndices: p.components } : {}),
      columnNorms: columnNorms(series[hasReference ? 2 : 0].values, rows, columns),
      series: series.map((s) => s.name),
      x: 'layer time',
    },
    series,
  };
}

/** A shared parameter's single row, turned so that x runs over its components. */
function sensitivitiesTable(p: ParameterReport): RowTable {
  const count = Math.max(0, ...LAYER_SERIES.map((s) => p[s][0]?.length ?? 0));
  const x = Float64Array.from({ length: count }, (_, j) => p.components?.[j] ?? j);
  const series = LAYER_SERIES.map((name) => ({
    name,
    x,
    values: Float64Array.from({ length: count }, (_, j) => p[name][0]?.[j] ?? Number.NaN),
  }));
  const hasReference = series[2].values.some(Number.isFinite);
  return {
    info: {
      view: 'sensitivities',
      target: p.name,
      rows: count,
      columns: 1,
      columnNorms: columnNorms(series[hasReference ? 2 : 0].values, count, 1),
      series: series.map((s) => s.name),
      x: 'component',
    },
    series,
  };
}

/** Target of the trajectory and adjoint tables: every state component, one column each. */
export const STATE_TARGET = 'state';

/** Node values as the reference keeps them: `columns` per node, row-major (engine/statePath.ts's NodeValues). */
export interface PathSource {
  columns: number;
  values: Float32Array;
}

/**
 * The node arrays a StatePathRows was made from (check/statePaths.ts), so that its tables are packed from them
 * without its rows, which are built only when something reads them (200,001 rows of x and of p on ml1.ode: about
 * 70 ms of a check to build and pack again).
 */
export const pathSources = new WeakMap<StatePathRows, { x: PathSource; p?: PathSource }>();

/** packMatrix of the rows check/statePaths.ts's rowsOf makes from `source`, without making them. */
function packSource(source: PathSource, count: number, columns: number): Float64Array {
  const out = new Float64Array(count * columns).fill(Number.NaN);
  const { columns: width, values } = source;
  for (let n = 0; n < count; n++) {
    const at = n * width,
      length = Math.min(width, values.length - at);
    for (let j = 0; j < columns && j < length; j++) out[n * columns + j] = values[at + j];
  }
  return out;
}

/** x(t) or p(t) at the reference's nodes: one series named after it, a column per state component. */
function pathTable(
  paths: StatePathRows,
  view: 'trajectory' | 'adjoint',
  rowsOf: () => number[][],
  source?: PathSource,
): RowTable {
  const rows = paths.times.length;
  const columns = paths.labels.length;
  const values = source ? packSource(source, rows, columns) : packMatrix(rowsOf(), rows, columns);
  const name = view === 'trajectory' ? 'x' : 'p';
  return {
    info: {
      view,
      target: STATE_TARGET,
      rows,
      columns,
      columnLabels: paths.labels,
      columnNorms: columnNorms(values, rows, columns),
      series: [name],
      x: 't',
    },
    series: [{ name, x: Float64Array.from(paths.times), values }],
  };
}

/**
 * The report's rows as tables: a layers table per per-step parameter, a sensitivities table per other one,
 * and the trajectory x(t) and adjoint p(t) when the reference recorded them.
 */
export function packRows(report: Report): RowTable[] {
  const tables = report.parameters.map((p) =>
    p.perStep && p.layerTimes.length > 0 ? layersTable(p) : sensitivitiesTable(p),
  );
  const paths = report.statePaths;
  if (paths && paths.times.length > 0) {
    const sources = pathSources.get(paths);
    tables.push(pathTable(paths, 'trajectory', () => paths.x, sources?.x));
    if (sources ? sources.p : paths.p) tables.push(pathTable(paths, 'adjoint', () => paths.p ?? [], sources?.p));
  }
  return tables;
}

/** The buffers of the tables, once each (a postMessage transfer list). */
export function rowBuffers(tables: readonly RowTable[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of tables)
    for (const s of t.series) {
      seen.add(s.x.buffer as ArrayBuffer);
      seen.add(s.values.buffer as ArrayBuffer);
    }
  return [...seen];
}

/** The values the tables hold (for cache bounds). */
export function rowValues(tables: readonly RowTable[]): number {
  let n = 0;
  for (const t of tables) for (const s of t.series) n += s.values.length;
  return n;
}

// ---------------------------------------------------------------- answering

/** In an ascending array, the first index with x[i] > v (`after`) or x[i] >= v; x.length when none. */
function firstIndex(x: Float64Array, v: number, after: boolean): number {
  let lo = 0,
    hi = x.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (x[mid] < v || (after && x[mid] === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/**
 * One column of one series over [first, end): every point when they fit in 2 per bucket, else per bucket
 * (equal widths in x) its smallest and its largest value, in their order along x, and its first non-finite
 * value as a gap — so a period-2 oscillation still fills its band at any zoom.
 */
function column(
  s: RowSeriesData,
  columns: number,
  j: number,
  first: number,
  end: number,
  from: number,
  to: number,
  buckets: number,
): { x: number[]; y: (number | null)[]; reduced: boolean } {
  const x: number[] = [],
    y: (number | null)[] = [];
  const at = (n: number) => s.values[n * columns + j];
  if (end - first <= 2 * buckets) {
    for (let n = first; n < end; n++) {
      x.push(s.x[n]);
      y.push(finiteOrNull(at(n)));
    }
    return { x, y, reduced: false };
  }
  const width = (to - from) / buckets || 1;
  let n = first;
  while (n < end) {
    const b = Math.min(buckets - 1, Math.floor((s.x[n] - from) / width));
    let lo = -1,
      hi = -1,
      gap = -1;
    for (; n < end && Math.min(buckets - 1, Math.floor((s.x[n] - from) / width)) === b; n++) {
      const v = at(n);
      if (!Number.isFinite(v)) {
        if (gap < 0) gap = n;
      } else {
        if (lo < 0 || v < at(lo)) lo = n;
        if (hi < 0 || v > at(hi)) hi = n;
      }
    }
    for (const k of [...new Set([lo, hi, gap].filter((i) => i >= 0))].sort((a, c) => a - c)) {
      x.push(s.x[k]);
      y.push(finiteOrNull(at(k)));
    }
  }
  return { x, y, reduced: true };
}

/** The rows a query asks for, or why there are none. */
export function answerRows(tables: readonly RowTable[], q: RowQuery): RowsAnswer | string {
  const table = tables.find((t) => t.info.view === q.view && t.info.target === q.target);
  if (!table) return `the report holds no ${q.view} rows for ${q.target}`;
  const { info } = table;
  const columns = [...new Set(q.columns)].filter((j) => Number.isInteger(j) && j >= 0 && j < info.columns);
  if (columns.length === 0) return `no column of ${q.target}'s ${q.view} rows was asked for (it has ${info.columns})`;
  if (columns.length > MAX_QUERY_COLUMNS) return `at most ${MAX_QUERY_COLUMNS} columns can be asked for at once`;
  const series = table.series.filter((s) => !q.series || q.series.includes(s.name));
  const xs = series.flatMap((s) => (s.x.length ? [s.x[0], s.x[s.x.length - 1]] : []));
  const from = Number.isFinite(q.from) ? (q.from as number) : Math.min(...xs);
  const to = Number.isFinite(q.to) ? (q.to as number) : Math.max(...xs);
  const requested = Number.isFinite(q.buckets) ? Math.max(1, Math.floor(q.buckets)) : 1;
  const perBucket = 3 * Math.max(1, series.length * columns.length);
  const buckets = Math.max(1, Math.min(requested, Math.floor(MAX_ANSWER_POINTS / perBucket)));
  const answer: RowsAnswer = { view: info.view, target: info.target, rows: 0, buckets, downsampled: false, series: [] };
  for (const s of series) {
    const first = firstIndex(s.x, from, false),
      end = firstIndex(s.x, to, true);
    answer.rows = Math.max(answer.rows, Math.max(0, end - first));
    for (const j of columns) {
      const c = column(s, info.columns, j, first, end, from, to, buckets);
      answer.downsampled ||= c.reduced;
      answer.series.push({ series: s.name, column: j, x: c.x, y: c.y });
    }
  }
  return answer;
}
