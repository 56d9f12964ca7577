// The gradient plots page (runs inside the VS Code webview, bundled to dist/webview.js).
// Receives { type: 'report' } messages (the report's summary: metrics, verdicts, and the
// tables of rows it holds) and draws, for one per-step parameter and one component of its
// flattened tensor, the raw AD density d_n, the corrected density and the continuous
// reference g(t_n) over the layer times. It asks for those rows ({ type: 'rows' }) at the
// chart's width: a long run arrives as each pixel's min and max, so an oscillation from
// layer to layer still shows, and a resize asks again. Posts { type: 'ready' } at load.
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Title,
  Tooltip,
  type ChartDataset,
} from 'chart.js';
import type { ParameterSummary, ReportSummary, RowsAnswer, RowTableInfo } from '../protocol/report';
import {
  CHART_CANVAS_ID,
  DATASET_LABELS,
  isHostToWebview,
  type HostToWebview,
  type OdeLensPlotGlobal,
  type WebviewToHost,
} from '../protocol/webviewMessages';
import { formatNumber as fmt } from '../solver/presentation/format';
import { metricColumns } from '../solver/presentation/columns';

Chart.register(LineController, LineElement, PointElement, LinearScale, Legend, Tooltip, Title);

interface VsCodeApi {
  postMessage(message: WebviewToHost): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
declare global {
  interface Window {
    odeLensPlot?: OdeLensPlotGlobal;
  }
}

interface SavedState {
  uri?: string;
  parameter?: string;
  component?: number;
}

const vscode = acquireVsCodeApi();
const saved: SavedState = (vscode.getState() as SavedState | undefined) ?? {};

const MAX_COMPONENTS_LISTED = 1024;

// ---------------------------------------------------------------- DOM

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

const app = document.getElementById('app') ?? document.body.appendChild(el('main', { id: 'app' }));
const title = el('h1', { id: 'odelens-title', textContent: 'Gradient plots' });
const status = el('span', { id: 'odelens-status', className: 'status' });
const summary = el('p', { id: 'odelens-summary', className: 'summary' });
const paramSelect = el('select', { id: 'odelens-parameter' });
const componentSelect = el('select', { id: 'odelens-component' });
const controls = el('div', { id: 'odelens-controls', className: 'controls' }, [
  el('label', { htmlFor: 'odelens-parameter', textContent: 'Per-step parameter' }),
  paramSelect,
  el('label', { htmlFor: 'odelens-component', textContent: 'Component' }),
  componentSelect,
]);
const canvas = el('canvas', { id: CHART_CANVAS_ID });
canvas.setAttribute('role', 'img');
canvas.setAttribute('aria-label', 'Gradient density per layer: raw AD, corrected and continuous reference');
const chartBox = el('div', { className: 'chart-container' }, [canvas]);
const metricsTable = el('table', { id: 'odelens-metrics', className: 'metrics' });
// The table scrolls sideways inside its own box when the panel is narrower than its columns (a split editor).
const metricsBox = el('div', { id: 'odelens-metrics-box', className: 'metrics-box' }, [metricsTable]);
const emptyText = el('p', { id: 'odelens-empty-text' });
const runButton = el('button', { id: 'odelens-run', textContent: 'Run gradient check' });
const empty = el('div', { id: 'odelens-empty', className: 'empty' }, [emptyText, runButton]);
const plot = el('section', { id: 'odelens-plot' }, [
  controls,
  chartBox,
  el('h2', { textContent: 'Metrics' }),
  metricsBox,
]);

app.append(el('header', {}, [title, status]), summary, empty, plot);

// ---------------------------------------------------------------- state

let currentUri: string | undefined = saved.uri;
let report: ReportSummary | null = null;
/** Names the rows of `report` (ReportParams.key). */
let reportKey: string | undefined;
/** The latest rows request; older answers are dropped. */
let rowsRequest: { id: number; table: RowTableInfo; component: number } | undefined;
let nextRequestId = 1;
/** The chart width (CSS pixels) the latest rows were asked for at. */
let drawnWidth = 0;
type Point = { x: number; y: number | null };
let chart: Chart<'line', Point[]> | undefined;
const globalState: OdeLensPlotGlobal = { chart: undefined, parameter: undefined, component: undefined };
window.odeLensPlot = globalState;

/** The parameter and component on show (or asked for: the chart follows when its rows arrive). */
let selection: { parameter?: string; component?: number } = {};

function persist(): void {
  vscode.setState({
    uri: currentUri,
    parameter: selection.parameter,
    component: selection.component,
  } satisfies SavedState);
}

// ---------------------------------------------------------------- helpers

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function colours() {
  return {
    raw: cssVar('--vscode-charts-red', '#e5534b'),
    corrected: cssVar('--vscode-charts-blue', '#3794ff'),
    reference: cssVar('--vscode-charts-green', '#3fb950'),
    text: cssVar('--vscode-foreground', '#6e7681'),
    grid: cssVar('--vscode-editorWidget-border', 'rgba(128,128,128,0.25)'),
  };
}

/** `#rgb`/`#rrggbb` → rgba with alpha; other colour syntaxes are returned unchanged. */
function withAlpha(colour: string, alpha: number): string {
  let m = /^#([0-9a-f]{6})$/i.exec(colour);
  if (!m) {
    const s = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(colour);
    if (s) m = ['', s[1] + s[1] + s[2] + s[2] + s[3] + s[3]] as unknown as RegExpExecArray;
  }
  if (!m) return colour;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** The per-layer tables of the report's per-step parameters, with the parameter each belongs to. */
function layerTables(r: ReportSummary | null): { p: ParameterSummary; table: RowTableInfo }[] {
  if (!r) return [];
  return (r.rowTables ?? []).flatMap((table) => {
    const p = r.parameters.find((q) => q.name === table.target);
    return table.view === 'layers' && table.rows > 0 && p ? [{ p, table }] : [];
  });
}

/** The label of the component in column j of the rows (the report may carry only some components: `componentIndices`). */
function componentLabel(p: ParameterSummary, table: RowTableInfo, j: number): string {
  const flat = table.componentIndices?.[j] ?? j;
  if (p.shape.length <= 1) return `${p.name}[${flat}]`;
  const idx: number[] = [];
  let rest = flat;
  for (let k = p.shape.length - 1; k >= 0; k--) {
    idx.unshift(rest % p.shape[k]);
    rest = Math.floor(rest / p.shape[k]);
  }
  return `${p.name}[${idx.join(',')}]`;
}

function largest(norms: number[]): number {
  let best = 0;
  for (let j = 1; j < norms.length; j++) if (norms[j] > norms[best]) best = j;
  return best;
}

// ---------------------------------------------------------------- rendering

function showEmpty(message: string, canRun: boolean): void {
  emptyText.textContent = message;
  runButton.hidden = !canRun;
  empty.hidden = false;
  plot.hidden = true;
  chart?.destroy();
  chart = undefined;
  globalState.chart = undefined;
  globalState.parameter = undefined;
  globalState.component = undefined;
  globalState.rows = undefined;
  rowsRequest = undefined;
}

function renderSummary(r: ReportSummary): void {
  // The finding count is the status bar's (it counts the editor's diagnostics too); the page gives the verdict.
  const corrected = r.gradfix !== 'none' || r.recommendedCorrection ? `, corrected with ${r.correction}` : '';
  summary.textContent =
    `scheme ${r.scheme} · ${r.steps} steps (h = ${fmt(r.dt)}) · backend ${r.backend} · check ${Math.round(r.timings.totalMs)} ms · gradfix=${r.gradfix}${corrected}` +
    (r.verdict ? ` · verdict: ${r.verdict.explanation}` : '');
  summary.title = r.backendReason ? `backend ${r.backend}: ${r.backendReason}` : '';
}

/** The report's metric columns (solver/presentation/columns.ts), as the CLI and the hovers show them. */
function renderMetrics(r: ReportSummary, selected: string | undefined): void {
  metricsTable.replaceChildren();
  const cols = metricColumns(r);
  const head = el('tr', {}, [
    el('th', { textContent: 'parameter', scope: 'col' }),
    ...cols.map((c) => el('th', { textContent: c.label(r), title: c.description(r), scope: 'col' })),
  ]);
  metricsTable.append(el('thead', {}, [head]));
  const body = el('tbody');
  for (const p of r.parameters) {
    const row = el(
      'tr',
      { className: `${p.name === selected ? 'selected' : ''} ${p.oscillating ? 'oscillating' : ''}`.trim() },
      [
        el('th', {
          scope: 'row',
          textContent: `${p.name}${p.perStep ? ' (per-step)' : ' (shared)'}${p.oscillating ? ' ⚠' : ''}`,
        }),
        ...cols.map((c) => el('td', { textContent: c.cell(p, r) })),
      ],
    );
    body.append(row);
  }
  metricsTable.append(body);
}

function fillParameterSelect(params: ParameterSummary[], selected: string): void {
  paramSelect.replaceChildren(
    ...params.map((p) =>
      el('option', {
        value: p.name,
        textContent: `${p.name} [${p.shape.join('×')}]${p.oscillating ? ' ⚠ oscillating' : ''}`,
        selected: p.name === selected,
      }),
    ),
  );
}

function fillComponentSelect(p: ParameterSummary, table: RowTableInfo, selected: number): void {
  const norms = table.columnNorms;
  let indices = norms.map((_, j) => j);
  if (indices.length > MAX_COMPONENTS_LISTED) {
    indices = indices.sort((a, b) => norms[b] - norms[a]).slice(0, MAX_COMPONENTS_LISTED);
    if (!indices.includes(selected)) indices.push(selected);
    indices.sort((a, b) => a - b);
  }
  componentSelect.replaceChildren(
    ...indices.map((j) =>
      el('option', {
        value: String(j),
        textContent: `${componentLabel(p, table, j)} · ‖ref‖ ${fmt(norms[j])}`,
        selected: j === selected,
      }),
    ),
  );
  const total = p.shape.reduce((a, b) => a * b, 1);
  componentSelect.title = table.componentIndices
    ? `The ${table.componentIndices.length} of ${total} components with the largest continuous gradient (the metrics cover all ${total}).`
    : '';
}

/** The chart's width in CSS pixels: the resolution rows are asked for at (a min and a max per pixel column). */
const chartPixels = () => Math.max(64, Math.round(chartBox.clientWidth || 600));

/** Asks the host for one component's rows of a per-layer table; `draw` runs when they arrive. */
function requestRows(table: RowTableInfo, component: number): void {
  if (!currentUri) return;
  const id = nextRequestId++;
  rowsRequest = { id, table, component };
  drawnWidth = chartPixels();
  vscode.postMessage({
    type: 'rows',
    uri: currentUri,
    requestId: id,
    key: reportKey,
    query: { view: 'layers', target: table.target, columns: [component], buckets: chartPixels() },
  });
}

const DATASET_STYLE = {
  raw: { label: DATASET_LABELS.raw, width: 1.5, points: true },
  // `average` sits between layers (t_{n+½}): the rows carry the corrected series' own times.
  corrected: { label: DATASET_LABELS.corrected, width: 1.5, points: true },
  reference: { label: DATASET_LABELS.reference, width: 6, points: false },
} as const;

function draw(p: ParameterSummary, table: RowTableInfo, component: number, rows: RowsAnswer, r: ReportSummary): void {
  const c = colours();
  const colour = { raw: c.raw, corrected: c.corrected, reference: withAlpha(c.reference, 0.55) };
  // Drawn in reverse order: the wide, translucent reference lies under the two AD series.
  const datasets = (['raw', 'corrected', 'reference'] as const).map((name): ChartDataset<'line', Point[]> => {
    const s = rows.series.find((q) => q.series === name && q.column === component);
    const style = DATASET_STYLE[name];
    return {
      label: style.label,
      data: s ? s.x.map((x, n) => ({ x, y: s.y[n] })) : [],
      borderColor: colour[name],
      backgroundColor: colour[name],
      borderWidth: style.width,
      pointRadius: style.points && !rows.downsampled && rows.rows <= 128 ? 1.5 : 0,
      spanGaps: false,
    };
  });
  const span = rows.downsampled ? ` · ${rows.rows} layers, min and max per pixel` : '';
  const titleText = `${componentLabel(p, table, component)}: gradient density per layer (corrected with ${r.correction})${span}`;
  if (chart) {
    chart.data.datasets = datasets;
    if (chart.options.plugins?.title) chart.options.plugins.title.text = titleText;
    chart.update();
  } else {
    chart = new Chart<'line', Point[]>(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: {
            type: 'linear',
            title: { display: true, text: 'layer time t_n', color: c.text },
            ticks: { color: c.text },
            grid: { color: c.grid },
          },
          y: {
            type: 'linear',
            title: { display: true, text: 'dL/dθ density', color: c.text },
            ticks: { color: c.text },
            grid: { color: c.grid },
          },
        },
        plugins: {
          legend: { labels: { color: c.text } },
          title: { display: true, text: titleText, color: c.text },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${fmt(ctx.parsed.y ?? undefined)}` } },
        },
      },
    });
  }
  globalState.chart = chart;
  globalState.parameter = p.name;
  globalState.component = component;
  globalState.rows = { rows: rows.rows, downsampled: rows.downsampled, buckets: rows.buckets };
}

function render(preferParameter?: string, preferComponent?: number): void {
  const r = report;
  if (!r) {
    summary.textContent = '';
    showEmpty(
      'No gradient check result yet for this model. Checks run in the background when the file changes.',
      !!currentUri,
    );
    return;
  }
  renderSummary(r);
  const tables = layerTables(r);
  if (tables.length === 0) {
    renderMetrics(r, undefined);
    showEmpty(
      "This model has no per-step parameters: there is no per-layer gradient to plot. Shared parameters get gradients that converge at the scheme's order; their metrics are below.",
      false,
    );
    plot.hidden = false;
    controls.hidden = true;
    chartBox.hidden = true;
    return;
  }
  controls.hidden = false;
  chartBox.hidden = false;
  empty.hidden = true;
  plot.hidden = false;
  const { p, table } =
    tables.find((t) => t.p.name === preferParameter) ?? tables.find((t) => t.p.oscillating) ?? tables[0];
  const component =
    p.name === preferParameter &&
    preferComponent !== undefined &&
    preferComponent >= 0 &&
    preferComponent < table.columns
      ? preferComponent
      : largest(table.columnNorms);
  fillParameterSelect(
    tables.map((t) => t.p),
    p.name,
  );
  fillComponentSelect(p, table, component);
  renderMetrics(r, p.name);
  requestRows(table, component);
  selection = { parameter: p.name, component };
  persist();
}

/** Rows arrived: draw them if they answer the latest request for the report on show. */
function onRows(m: Extract<HostToWebview, { type: 'rows' }>): void {
  const request = rowsRequest;
  if (m.uri !== currentUri || !request || m.requestId !== request.id || !report) return;
  const result = m.result;
  if (!('rows' in result)) {
    // A newer report replaced the one on show: its summary is on its way, and asks again.
    if (!result.stale) status.textContent = `no rows: ${result.message}`;
    return;
  }
  const p = report.parameters.find((q) => q.name === request.table.target);
  if (p) draw(p, request.table, request.component, result.rows, report);
}

// ---------------------------------------------------------------- events

paramSelect.addEventListener('change', () => render(paramSelect.value, undefined));
componentSelect.addEventListener('change', () => render(selection.parameter, Number(componentSelect.value)));
runButton.addEventListener('click', () => {
  if (currentUri) vscode.postMessage({ type: 'runCheck', uri: currentUri });
});

const STATUS_TEXT: Record<string, string> = {
  queued: 'check queued…',
  running: 'checking…',
  done: '',
  failed: 'check failed',
  cancelled: '',
};

function onMessage(m: HostToWebview): void {
  if (m.type === 'rows') {
    onRows(m);
    return;
  }
  if (m.type === 'status') {
    if (m.uri !== currentUri) return;
    status.textContent =
      m.state === 'failed' && m.message ? `check failed: ${m.message}` : (STATUS_TEXT[m.state] ?? '');
    status.className = `status ${m.state}`;
    return;
  }
  const sameDocument = m.uri === currentUri;
  const keepParameter = sameDocument ? (selection.parameter ?? saved.parameter) : undefined;
  const keepComponent = sameDocument ? (selection.component ?? saved.component) : undefined;
  if (!sameDocument) status.textContent = '';
  currentUri = m.uri;
  title.textContent = `Gradient plots${m.fileName ? `: ${m.fileName}` : ''}`;
  report = m.report;
  reportKey = m.key;
  render(keepParameter, keepComponent);
}

window.addEventListener('message', (event: MessageEvent) => {
  if (isHostToWebview(event.data)) onMessage(event.data);
});

// Re-colour on theme change (VS Code changes the body class and the CSS variables).
new MutationObserver(() => {
  if (!report || !chart) return;
  chart.destroy();
  chart = undefined;
  render(selection.parameter, selection.component);
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

// A wider (or narrower) chart asks for its rows again at its new resolution, once the resize settles.
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
new ResizeObserver(() => {
  const width = chartPixels();
  if (!rowsRequest || !globalState.rows?.downsampled || Math.abs(width - drawnWidth) < 32) return;
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    drawnWidth = width;
    if (rowsRequest) requestRows(rowsRequest.table, rowsRequest.component);
  }, 200);
}).observe(chartBox);

render();
vscode.postMessage({ type: 'ready' });
