// The dashboard's views: what each lists in its selects, the rows it asks for (only what it draws), the
// chart it draws from them, and the CSV of that data. Pure functions of the report's summary and the rows;
// main.ts owns the page, the messages and the chart instance.
import type { ChartConfiguration, ChartDataset } from 'chart.js';
import type { ParameterSummary, ReportSummary, RowQuery, RowsAnswer, RowTableInfo } from '../protocol/report';
import { DATASET_LABELS, type DashboardView } from '../protocol/webviewMessages';
import { formatNumber as fmt } from '../solver/presentation/format';
import { componentName } from '../solver/presentation/componentName';
import { isMapScheme } from '../solver/schemes/registry';
import { type ChartColours, withAlpha } from './theme';

/** Components a state view draws at once when none is picked (the rows request's limit). */
export const MAX_DRAWN_COMPONENTS = 8;
/** `component` of a state view that draws the largest MAX_DRAWN_COMPONENTS components. */
export const LARGEST = -1;

export interface Choice {
  value: string;
  label: string;
}

export type Point = { x: number; y: number | null };
export type LineConfig = ChartConfiguration<'line', Point[]>;

/** What a view draws: one target (a parameter, or the state) and, for some views, one component. */
export interface Selection {
  target: string;
  component?: number;
}

export interface ViewSpec {
  /** Why the view has nothing to draw for this report, or undefined when it has. */
  unavailable(r: ReportSummary): string | undefined;
  /** The parameter select's choices (empty: the select is hidden). */
  targets(r: ReportSummary): Choice[];
  targetLabel: string;
  /** The component select's choices for a target (empty: hidden), and the default. */
  components(r: ReportSummary, target: string): { choices: Choice[]; fallback: number; title?: string };
  /** The rows request, or undefined when the view draws from the summary alone. */
  query(r: ReportSummary, s: Selection, buckets: number): RowQuery | undefined;
  chart(r: ReportSummary, s: Selection, rows: RowsAnswer | undefined, c: ChartColours): LineConfig;
  csv(r: ReportSummary, s: Selection, rows: RowsAnswer | undefined): string;
}

const tableOf = (r: ReportSummary, view: RowTableInfo['view'], target?: string) =>
  (r.rowTables ?? []).find((t) => t.view === view && t.rows > 0 && (target === undefined || t.target === target));

/** The label of the component in column j (the report may carry only some components: `componentIndices`). */
export function componentLabel(p: ParameterSummary, table: RowTableInfo, j: number): string {
  // A parameter's components are never named bare, even a scalar's.
  return componentName(p.name, p.shape.length ? p.shape : [1], table.componentIndices?.[j] ?? j);
}

const total = (p: ParameterSummary) => p.shape.reduce((a, b) => a * b, 1);
const largest = (norms: number[]) => norms.reduce((best, v, j) => (v > norms[best] ? j : best), 0);

/** The columns with the largest norms, at most `count`, in column order. */
export function largestColumns(norms: number[], count: number): number[] {
  return norms
    .map((_, j) => j)
    .sort((a, b) => norms[b] - norms[a])
    .slice(0, count)
    .sort((a, b) => a - b);
}

const MAX_COMPONENTS_LISTED = 1024;

function parameterChoices(r: ReportSummary, view: RowTableInfo['view']): Choice[] {
  return (r.rowTables ?? []).flatMap((t) => {
    const p = r.parameters.find((q) => q.name === t.target);
    return t.view === view && t.rows > 0 && p
      ? [{ value: p.name, label: `${p.name} [${p.shape.join('×')}]${p.oscillating ? ' ⚠ oscillating' : ''}` }]
      : [];
  });
}

const csvCell = (v: string | number | null | undefined) =>
  v === null || v === undefined
    ? ''
    : typeof v === 'number'
      ? String(v)
      : /[",\n]/.test(v)
        ? `"${v.replace(/"/g, '""')}"`
        : v;
const csvLines = (rows: (string | number | null | undefined)[][]) =>
  `${rows.map((r) => r.map(csvCell).join(',')).join('\n')}\n`;

/** Every drawn point of the rows, one line each: series, column, its label, x, y (empty when not finite). */
function rowsCsv(rows: RowsAnswer | undefined, xName: string, label: (column: number) => string): string {
  const lines: (string | number | null)[][] = [['series', 'column', 'component', xName, 'value']];
  for (const s of rows?.series ?? [])
    s.x.forEach((x, n) => lines.push([s.series, s.column, label(s.column), x, s.y[n]]));
  return csvLines(lines);
}

function lineChart(
  datasets: ChartDataset<'line', Point[]>[],
  title: string,
  xTitle: string,
  yTitle: string,
  c: ChartColours,
  log = false,
): LineConfig {
  const axis = (text: string) => ({
    type: (log ? 'logarithmic' : 'linear') as 'linear',
    title: { display: true, text, color: c.text },
    ticks: { color: c.text },
    grid: { color: c.grid },
  });
  return {
    type: 'line',
    data: { datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: { x: axis(xTitle), y: axis(yTitle) },
      plugins: {
        legend: { labels: { color: c.text } },
        title: { display: true, text: title, color: c.text },
        tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmt(ctx.parsed.y ?? undefined)}` } },
      },
    },
  };
}

const pointsOf = (rows: RowsAnswer | undefined, series: string, column: number): Point[] => {
  const s = rows?.series.find((q) => q.series === series && q.column === column);
  return s ? s.x.map((x, n) => ({ x, y: s.y[n] })) : [];
};

// ---------------------------------------------------------------- per-layer gradients

const LAYER_STYLE = {
  raw: { label: DATASET_LABELS.raw, width: 1.5, points: true },
  // `average` sits between layers (t_{n+½}): the rows carry the corrected series' own times.
  corrected: { label: DATASET_LABELS.corrected, width: 1.5, points: true },
  reference: { label: DATASET_LABELS.reference, width: 6, points: false },
} as const;

const layers: ViewSpec = {
  unavailable: (r) =>
    tableOf(r, 'layers')
      ? undefined
      : "This model has no per-step parameters: there is no per-layer gradient to plot. Shared parameters get gradients that converge at the scheme's order: see the sensitivities.",
  targets: (r) => parameterChoices(r, 'layers'),
  targetLabel: 'Per-step parameter',
  components(r, target) {
    const table = tableOf(r, 'layers', target);
    const p = r.parameters.find((q) => q.name === target);
    if (!table || !p) return { choices: [], fallback: 0 };
    const norms = table.columnNorms;
    let indices = norms.map((_, j) => j);
    if (indices.length > MAX_COMPONENTS_LISTED) indices = largestColumns(norms, MAX_COMPONENTS_LISTED);
    return {
      choices: indices.map((j) => ({
        value: String(j),
        label: `${componentLabel(p, table, j)} · ‖ref‖ ${fmt(norms[j])}`,
      })),
      fallback: largest(norms),
      title: table.componentIndices
        ? `The ${table.componentIndices.length} of ${total(p)} components with the largest continuous gradient (the metrics cover all ${total(p)}).`
        : '',
    };
  },
  query: (_r, s, buckets) => ({ view: 'layers', target: s.target, columns: [s.component ?? 0], buckets }),
  chart(r, s, rows, c) {
    const j = s.component ?? 0;
    const colour = { raw: c.raw, corrected: c.corrected, reference: withAlpha(c.reference, 0.55) };
    // Drawn in reverse order: the wide, translucent reference lies under the two AD series.
    const datasets = (['raw', 'corrected', 'reference'] as const).map((name): ChartDataset<'line', Point[]> => {
      const style = LAYER_STYLE[name];
      return {
        label: style.label,
        data: pointsOf(rows, name, j),
        borderColor: colour[name],
        backgroundColor: colour[name],
        borderWidth: style.width * c.widen,
        pointRadius: style.points && rows && !rows.downsampled && rows.rows <= 128 ? 1.5 : 0,
        spanGaps: false,
      };
    });
    const p = r.parameters.find((q) => q.name === s.target);
    const table = tableOf(r, 'layers', s.target);
    const name = p && table ? componentLabel(p, table, j) : s.target;
    const span = rows?.downsampled ? ` · ${rows.rows} layers, min and max per pixel` : '';
    return lineChart(
      datasets,
      `${name}: gradient density per layer (corrected with ${r.correction})${span}`,
      'layer time t_n',
      'dL/dθ density',
      c,
    );
  },
  csv(r, s, rows) {
    const p = r.parameters.find((q) => q.name === s.target);
    const table = tableOf(r, 'layers', s.target);
    return rowsCsv(rows, 'layer time', (j) => (p && table ? componentLabel(p, table, j) : String(j)));
  },
};

// ---------------------------------------------------------------- trajectory x(t) and adjoint p(t)

/** Why a report has no x(t) or p(t) to draw: the reference did not run, or the kind it was keeps no p(t). */
export function missingPath(r: ReportSummary, view: 'trajectory' | 'adjoint'): string {
  // A map's reference ran (its own adjoint, engine/mapReference.ts) but records neither path.
  const mapReference = isMapScheme(r.scheme) && !r.referenceUnavailable;
  if (view === 'trajectory')
    return mapReference
      ? "This report holds no trajectory: it is recorded by the continuous reference, and a map's reference (its own adjoint, iterated backward) records none."
      : 'This report holds no trajectory: it is recorded by the continuous reference, which did not run.';
  const why = mapReference
    ? "a map's reference, its own adjoint iterated backward, keeps no p at its iterations"
    : r.refinedReference
      ? 'its reference is the limit of AD on refined grids, which solves no adjoint'
      : r.eventReference
        ? 'the reference of a model with events jumps p at each firing and keeps no p(t) at its nodes'
        : 'it is recorded by the continuous reference when the loss has no data observations';
  return `This report holds no adjoint p(t): ${why}.`;
}

function stateView(view: 'trajectory' | 'adjoint'): ViewSpec {
  const symbol = view === 'trajectory' ? 'x' : 'p';
  const labelOf = (table: RowTableInfo | undefined, j: number) => table?.columnLabels?.[j] ?? `component ${j}`;
  const columnsOf = (table: RowTableInfo | undefined, s: Selection) =>
    !table
      ? []
      : s.component !== undefined && s.component >= 0 && s.component < table.columns
        ? [s.component]
        : largestColumns(table.columnNorms, MAX_DRAWN_COMPONENTS);
  return {
    unavailable: (r) => (tableOf(r, view) ? undefined : missingPath(r, view)),
    targets: () => [],
    targetLabel: '',
    components(r) {
      const table = tableOf(r, view);
      if (!table) return { choices: [], fallback: LARGEST };
      const all = table.columns <= MAX_DRAWN_COMPONENTS;
      return {
        choices: [
          { value: String(LARGEST), label: all ? 'all components' : `the ${MAX_DRAWN_COMPONENTS} largest components` },
          ...table.columnNorms.map((n, j) => ({
            value: String(j),
            label: `${labelOf(table, j)} · ‖${symbol}‖ ${fmt(n)}`,
          })),
        ],
        fallback: LARGEST,
      };
    },
    query(r, s, buckets) {
      const table = tableOf(r, view);
      return table ? { view, target: table.target, columns: columnsOf(table, s), buckets } : undefined;
    },
    chart(r, s, rows, c) {
      const table = tableOf(r, view);
      const datasets = columnsOf(table, s).map((j, k): ChartDataset<'line', Point[]> => {
        const colour = c.palette[k % c.palette.length];
        return {
          label: symbol === 'x' ? labelOf(table, j) : `p of ${labelOf(table, j)}`,
          data: pointsOf(rows, symbol, j),
          borderColor: colour,
          backgroundColor: colour,
          borderWidth: 2 * c.widen,
          pointRadius: 0,
          spanGaps: false,
        };
      });
      const what = view === 'trajectory' ? 'trajectory x(t)' : 'adjoint p(t) = dL/dx(t)';
      const span = rows?.downsampled ? ` · ${rows.rows} nodes, min and max per pixel` : '';
      const nodes = table ? `, ${table.rows} nodes` : '';
      return lineChart(datasets, `${what} (continuous reference${nodes})${span}`, 't', `${symbol}(t)`, c);
    },
    csv: (r, _s, rows) => rowsCsv(rows, 't', (j) => labelOf(tableOf(r, view), j)),
  };
}

// ---------------------------------------------------------------- shared parameter sensitivities

const SENSITIVITY_LABELS = {
  raw: 'AD (discrete)',
  corrected: 'corrected AD',
  reference: 'continuous reference',
} as const;

const sensitivities: ViewSpec = {
  unavailable: (r) =>
    tableOf(r, 'sensitivities')
      ? undefined
      : 'This model has no shared parameters: their total gradients would show here.',
  targets: (r) => parameterChoices(r, 'sensitivities'),
  targetLabel: 'Shared parameter',
  components: () => ({ choices: [], fallback: 0 }),
  query: (_r, s, buckets) => ({ view: 'sensitivities', target: s.target, columns: [0], buckets }),
  chart(r, s, rows, c) {
    const colour = { raw: c.raw, corrected: c.corrected, reference: c.reference };
    const datasets = (['raw', 'corrected', 'reference'] as const).map(
      (name, k): ChartDataset<'line', Point[]> => ({
        label: SENSITIVITY_LABELS[name],
        data: pointsOf(rows, name, 0),
        borderColor: colour[name],
        backgroundColor: colour[name],
        showLine: false,
        pointRadius: (5 - k) * c.widen,
        pointStyle: (['circle', 'rect', 'triangle'] as const)[k],
      }),
    );
    const p = r.parameters.find((q) => q.name === s.target);
    const fd = p
      ? ` · AD against finite differences: relative error ${fmt(p.metrics.gradcheckRelError)}${p.metrics.gradcheckUnresolved ? ' (unresolved)' : ''}`
      : '';
    return lineChart(datasets, `dL/d${s.target} per component${fd}`, 'component (flat index)', 'dL/dθ', c);
  },
  // The x column is the flat index: 'component' already names the column of labels.
  csv: (_r, s, rows) => rowsCsv(rows, 'flat index', () => s.target),
};

// ---------------------------------------------------------------- refinement study

const studied = (r: ReportSummary) => r.parameters.filter((p) => (p.refinement?.levels.length ?? 0) >= 2);

const refinement: ViewSpec = {
  unavailable: (r) =>
    studied(r).length
      ? undefined
      : 'No refinement study in this report: a check runs one when asked to (odelens check --refine).',
  targets: (r) => studied(r).map((p) => ({ value: p.name, label: `${p.name} [${p.shape.join('×')}]` })),
  targetLabel: 'Parameter',
  components: () => ({ choices: [], fallback: 0 }),
  query: () => undefined,
  chart(r, s, _rows, c) {
    const study = r.parameters.find((p) => p.name === s.target)?.refinement;
    const levels = study?.levels ?? [];
    const series = (label: string, colour: string, y: (l: (typeof levels)[number]) => number) => ({
      label,
      data: levels.map((l) => ({ x: l.steps, y: y(l) > 0 && Number.isFinite(y(l)) ? y(l) : null })),
      borderColor: colour,
      backgroundColor: colour,
      borderWidth: 2 * c.widen,
      pointRadius: 4 * c.widen,
    });
    const datasets: ChartDataset<'line', Point[]>[] = [
      series(`raw AD (order ${fmt(study?.rawOrder)})`, c.raw, (l) => l.relError),
      series(`corrected (order ${fmt(study?.correctedOrder)})`, c.corrected, (l) => l.correctedRelError),
    ];
    if (study && study.errorFloor > 0 && levels.length)
      datasets.push({
        label: 'float32 error floor',
        data: [levels[0], levels[levels.length - 1]].map((l) => ({ x: l.steps, y: study.errorFloor })),
        borderColor: withAlpha(c.text, 0.6),
        backgroundColor: withAlpha(c.text, 0.6),
        borderDash: [6, 4],
        borderWidth: c.widen,
        pointRadius: 0,
      });
    return lineChart(
      datasets,
      `${s.target}: error against the continuous reference as the steps N grow (log-log; slope = −order)`,
      'steps N',
      'relative error',
      c,
      true,
    );
  },
  csv(r, s) {
    const study = r.parameters.find((p) => p.name === s.target)?.refinement;
    const lines: (string | number)[][] = [['parameter', 'steps', 'relError', 'correctedRelError', 'alpha']];
    for (const l of study?.levels ?? []) lines.push([s.target, l.steps, l.relError, l.correctedRelError, l.alpha]);
    return csvLines(lines);
  },
};

export const VIEW_SPECS: Record<DashboardView, ViewSpec> = {
  layers,
  trajectory: stateView('trajectory'),
  adjoint: stateView('adjoint'),
  sensitivities,
  refinement,
};
