// The dashboard page (runs inside the VS Code webview, bundled to dist/webview.js). Receives
// { type: 'report' } messages (the report's summary: metrics, verdicts, refinement studies and the
// tables of rows it holds) and shows one view at a time (webview/views.ts): per-layer gradients, the
// trajectory x(t), the adjoint p(t), the shared parameters' sensitivities, the refinement study. A view
// asks for only the rows it draws ({ type: 'rows' }) at the chart's width, and a resize asks again.
// The chart follows the VS Code theme and is redrawn when it changes; the view and its selections
// survive reloads (vscode.setState); each chart exports as PNG and its data as CSV (the host saves). A training
// ("Train with raw and corrected gradients") shows its live curves above the views (webview/trainingView.ts).
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Title,
  Tooltip,
} from 'chart.js';
import type { ReportSummary, RowsAnswer } from '../protocol/report';
import {
  CHART_CANVAS_ID,
  DASHBOARD_VIEWS,
  type DashboardView,
  type ExportFormat,
  isHostToWebview,
  type HostToWebview,
  type OdeLensPlotGlobal,
  type PlotPageState,
  type WebviewToHost,
} from '../protocol/webviewMessages';
import { checkTimeMs, formatNumber as fmt } from '../solver/presentation/format';
import { metricColumns } from '../solver/presentation/columns';
import { chartColours } from './theme';
import { createTrainingView } from './trainingView';
import { type Point, type Selection, VIEW_SPECS } from './views';

Chart.register(LineController, LineElement, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip, Title);

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

type SavedState = PlotPageState;

const vscode = acquireVsCodeApi();
const saved: SavedState = (vscode.getState() as SavedState | undefined) ?? {};

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
const tabs = el('div', { id: 'odelens-tabs', className: 'tabs' });
tabs.setAttribute('role', 'tablist');
const tabButtons = new Map<DashboardView, HTMLButtonElement>();
for (const v of DASHBOARD_VIEWS) {
  const b = el('button', { id: `odelens-tab-${v.id}`, className: 'tab', textContent: v.label, type: 'button' });
  b.setAttribute('role', 'tab');
  b.addEventListener('click', () => showView(v.id));
  tabButtons.set(v.id, b);
  tabs.append(b);
}
const paramLabel = el('label', { htmlFor: 'odelens-parameter', textContent: 'Parameter' });
const paramSelect = el('select', { id: 'odelens-parameter' });
const componentLabel = el('label', { htmlFor: 'odelens-component', textContent: 'Component' });
const componentSelect = el('select', { id: 'odelens-component' });
const pngButton = el('button', {
  id: 'odelens-export-png',
  className: 'secondary',
  textContent: 'Save PNG',
  type: 'button',
});
const csvButton = el('button', {
  id: 'odelens-export-csv',
  className: 'secondary',
  textContent: 'Save CSV',
  type: 'button',
});
const controls = el('div', { id: 'odelens-controls', className: 'controls' }, [
  paramLabel,
  paramSelect,
  componentLabel,
  componentSelect,
  el('span', { className: 'spacer' }),
  pngButton,
  csvButton,
]);
const canvas = el('canvas', { id: CHART_CANVAS_ID });
canvas.setAttribute('role', 'img');
const chartBox = el('div', { className: 'chart-container' }, [canvas]);
const viewNote = el('p', { id: 'odelens-view-note', className: 'empty' });
const metricsTable = el('table', { id: 'odelens-metrics', className: 'metrics' });
// The table scrolls sideways inside its own box when the panel is narrower than its columns (a split editor).
const metricsBox = el('div', { id: 'odelens-metrics-box', className: 'metrics-box' }, [metricsTable]);
const emptyText = el('p', { id: 'odelens-empty-text' });
const runButton = el('button', { id: 'odelens-run', textContent: 'Run gradient check' });
const empty = el('div', { id: 'odelens-empty', className: 'empty' }, [emptyText, runButton]);
const plot = el('section', { id: 'odelens-plot' }, [
  tabs,
  controls,
  viewNote,
  chartBox,
  el('h2', { textContent: 'Metrics' }),
  metricsBox,
]);

/** Holds what the tests read (window.odeLensPlot); the training view writes its part into it. */
const globalState: OdeLensPlotGlobal = { chart: undefined, parameter: undefined, component: undefined, draws: 0 };
const training = createTrainingView(globalState);

app.append(el('header', {}, [title, status]), summary, training.element, empty, plot);

// ---------------------------------------------------------------- state

let currentUri: string | undefined = saved.uri;
let fileName: string | undefined;
let report: ReportSummary | null = null;
/** Names the rows of `report` (ReportParams.key). */
let reportKey: string | undefined;
let view: DashboardView = saved.view ?? 'layers';
const selections: Partial<Record<DashboardView, Partial<Selection>>> = { ...saved.selections };
/** The latest rows request; older answers are dropped. */
let rowsRequest: { id: number; view: DashboardView; selection: Selection } | undefined;
let nextRequestId = 1;
/** The chart width (CSS pixels) the latest rows were asked for at. */
let drawnWidth = 0;
/** What the chart on show was drawn from: redrawn from it on a theme change, exported as CSV. */
let drawn: { view: DashboardView; selection: Selection; rows: RowsAnswer | undefined } | undefined;
let chart: Chart<'line', Point[]> | undefined;
window.odeLensPlot = globalState;

function persist(): void {
  vscode.setState({ uri: currentUri, view, selections } satisfies SavedState);
}

// ---------------------------------------------------------------- rendering

function clearChart(): void {
  chart?.destroy();
  chart = undefined;
  drawn = undefined;
  rowsRequest = undefined;
  Object.assign(globalState, { chart: undefined, parameter: undefined, component: undefined, rows: undefined });
}

function showEmpty(message: string, canRun: boolean): void {
  emptyText.textContent = message;
  runButton.hidden = !canRun;
  empty.hidden = false;
  plot.hidden = true;
  clearChart();
}

function renderSummary(r: ReportSummary): void {
  // The finding count is the status bar's (it counts the editor's diagnostics too); the page gives the verdict.
  const corrected = r.gradfix !== 'none' || r.recommendedCorrection ? `, corrected with ${r.correction}` : '';
  summary.textContent =
    `scheme ${r.scheme} · ${r.steps} steps (h = ${fmt(r.dt)}) · backend ${r.backend} · check ${checkTimeMs(r.timings)} ms · gradfix=${r.gradfix}${corrected}` +
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

function fillSelect(select: HTMLSelectElement, choices: { value: string; label: string }[], selected: string): void {
  select.replaceChildren(
    ...choices.map((c) => el('option', { value: c.value, textContent: c.label, selected: c.value === selected })),
  );
}

/** The chart's width in CSS pixels: the resolution rows are asked for at (a min and a max per pixel column). */
const chartPixels = () => Math.max(64, Math.round(chartBox.clientWidth || 600));

/** The error the check stopped at when no view has anything to draw (a blow-up, a refusal), else undefined. */
const stoppedAt = (r: ReportSummary) =>
  DASHBOARD_VIEWS.every((v) => VIEW_SPECS[v.id].unavailable(r))
    ? r.findings.find((f) => f.severity === 'error')
    : undefined;

/** The tabs: the one on show selected, those with nothing to draw disabled (their tooltip says why). */
function renderTabs(r: ReportSummary): void {
  // A stopped check has no parameters at all: each view's own reason ("no shared parameters") would mislead.
  const stopped = stoppedAt(r);
  for (const [id, b] of tabButtons) {
    const why = stopped ? `The check stopped at an error: ${stopped.message}` : VIEW_SPECS[id].unavailable(r);
    b.disabled = !!why;
    b.title = why ?? '';
    b.classList.toggle('selected', id === view);
    b.setAttribute('aria-selected', String(id === view));
  }
}

/** Shows the view on show for the report: its selects, then its chart (asking for its rows first). */
function render(): void {
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
  empty.hidden = true;
  plot.hidden = false;
  // A view with nothing to draw gives way to the first that has something (the saved choice stays for later reports).
  if (VIEW_SPECS[view].unavailable(r)) {
    const first = DASHBOARD_VIEWS.find((v) => !VIEW_SPECS[v.id].unavailable(r));
    if (first) view = first.id;
  }
  const spec = VIEW_SPECS[view];
  const why = spec.unavailable(r);
  renderTabs(r);
  const targets = spec.targets(r);
  const wanted = selections[view] ?? {};
  const target =
    targets.find((t) => t.value === wanted.target)?.value ??
    (view === 'layers'
      ? targets.find((t) => r.parameters.find((p) => p.name === t.value)?.oscillating)?.value
      : undefined) ??
    targets[0]?.value ??
    '';
  const { choices, fallback, title: componentsTitle } = spec.components(r, target);
  const component =
    wanted.target === target && choices.some((c) => c.value === String(wanted.component))
      ? (wanted.component as number)
      : fallback;
  fillSelect(paramSelect, targets, target);
  paramLabel.textContent = spec.targetLabel;
  paramLabel.hidden = paramSelect.hidden = targets.length === 0;
  fillSelect(componentSelect, choices, String(component));
  componentSelect.title = componentsTitle ?? '';
  componentLabel.hidden = componentSelect.hidden = choices.length === 0;
  renderMetrics(r, target);
  // Nothing at all to draw because the check stopped (a blow-up, say): the error says why, not the view.
  const stopped = stoppedAt(r);
  viewNote.textContent = stopped ? `Nothing to plot: the check stopped at an error. ${stopped.message}` : (why ?? '');
  viewNote.hidden = !why;
  chartBox.hidden = !!why;
  pngButton.disabled = csvButton.disabled = !!why;
  if (why) {
    clearChart();
    globalState.view = view;
    return;
  }
  const selection: Selection = { target, ...(choices.length ? { component } : {}) };
  selections[view] = selection;
  persist();
  const query = spec.query(r, selection, chartPixels());
  if (!query) {
    rowsRequest = undefined;
    draw(view, selection, undefined);
    return;
  }
  if (!currentUri) return;
  const id = nextRequestId++;
  rowsRequest = { id, view, selection };
  drawnWidth = chartPixels();
  vscode.postMessage({ type: 'rows', uri: currentUri, requestId: id, key: reportKey, query });
}

function draw(v: DashboardView, selection: Selection, rows: RowsAnswer | undefined): void {
  if (!report) return;
  const config = VIEW_SPECS[v].chart(report, selection, rows, chartColours());
  chart?.destroy();
  chart = new Chart<'line', Point[]>(canvas, config);
  canvas.setAttribute('aria-label', String(config.options?.plugins?.title?.text ?? ''));
  drawn = { view: v, selection, rows };
  Object.assign(globalState, {
    chart,
    view: v,
    parameter: selection.target,
    component: selection.component,
    rows: rows && { rows: rows.rows, downsampled: rows.downsampled, buckets: rows.buckets },
    draws: (globalState.draws ?? 0) + 1,
    theme: chartColours().kind,
  });
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
  draw(request.view, request.selection, result.rows);
}

function showView(v: DashboardView): void {
  if (v === view && drawn) return;
  view = v;
  persist();
  render();
}

// ---------------------------------------------------------------- export

/** The chart as a PNG on the theme's background (the canvas itself is transparent). */
function chartPng(): string {
  const out = el('canvas', { width: canvas.width, height: canvas.height });
  const ctx = out.getContext('2d');
  if (!ctx) return canvas.toDataURL('image/png');
  ctx.fillStyle = chartColours().background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(canvas, 0, 0);
  return out.toDataURL('image/png');
}

function currentCsv(): string {
  return report && drawn ? VIEW_SPECS[drawn.view].csv(report, drawn.selection, drawn.rows) : '';
}
globalState.csv = currentCsv;

function exportChart(format: ExportFormat): void {
  if (!currentUri || !drawn) return;
  const base = (fileName ?? 'model').replace(/\.ode$/i, '');
  const part = [
    drawn.view,
    drawn.selection.target,
    drawn.selection.component !== undefined && drawn.selection.component >= 0 ? drawn.selection.component : '',
  ]
    .filter((s) => s !== '' && s !== undefined)
    .join('-')
    .replace(/[^\w.-]+/g, '_');
  vscode.postMessage({
    type: 'export',
    uri: currentUri,
    format,
    fileName: `${base}-${part}.${format}`,
    data: format === 'png' ? chartPng() : currentCsv(),
  });
}

// ---------------------------------------------------------------- events

paramSelect.addEventListener('change', () => {
  selections[view] = { target: paramSelect.value };
  render();
});
componentSelect.addEventListener('change', () => {
  selections[view] = {
    target: paramSelect.value || (selections[view]?.target ?? ''),
    component: Number(componentSelect.value),
  };
  render();
});
pngButton.addEventListener('click', () => exportChart('png'));
csvButton.addEventListener('click', () => exportChart('csv'));
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
  if (m.type === 'trainStart' || m.type === 'trainIterations' || m.type === 'trainEnd') {
    // The host sends the training of the document on show (the page may not have its report yet).
    if (currentUri === undefined || m.uri === currentUri) training.onMessage(m);
    return;
  }
  if (m.type === 'status') {
    if (m.uri !== currentUri) return;
    status.textContent =
      m.state === 'failed' && m.message ? `check failed: ${m.message}` : (STATUS_TEXT[m.state] ?? '');
    status.className = `status ${m.state}`;
    return;
  }
  if (m.uri !== currentUri) {
    // Another document: its own selections start afresh (the view stays).
    status.textContent = '';
    for (const k of Object.keys(selections)) delete selections[k as DashboardView];
    // The training shown belongs to the document on show (a page that just loaded has none yet: its training stays).
    if (currentUri !== undefined) training.clear();
  }
  currentUri = m.uri;
  fileName = m.fileName;
  title.textContent = `Gradient plots${m.fileName ? `: ${m.fileName}` : ''}`;
  report = m.report;
  reportKey = m.key;
  render();
}

window.addEventListener('message', (event: MessageEvent) => {
  if (isHostToWebview(event.data)) onMessage(event.data);
});

// Re-colour on theme change (VS Code changes the body class and the CSS variables on <html>): redrawn
// from the rows on show, without asking again.
const redraw = () => {
  if (drawn) draw(drawn.view, drawn.selection, drawn.rows);
  training.redraw();
};
new MutationObserver(redraw).observe(document.body, { attributes: true, attributeFilter: ['class'] });
new MutationObserver(redraw).observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });

// A wider (or narrower) chart asks for its rows again at its new resolution, once the resize settles.
let resizeTimer: ReturnType<typeof setTimeout> | undefined;
new ResizeObserver(() => {
  const width = chartPixels();
  if (!drawn?.rows?.downsampled || Math.abs(width - drawnWidth) < 32) return;
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    drawnWidth = width;
    render();
  }, 200);
}).observe(chartBox);

render();
vscode.postMessage({ type: 'ready' });
