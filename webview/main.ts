// The gradient plots page (runs inside the VS Code webview, bundled to dist/webview.js).
// Receives { type: 'report' } messages and draws, for one per-step parameter and one
// component of its flattened tensor, the raw AD density d_n, the corrected density and
// the continuous reference g(t_n) over the layer times. Posts { type: 'ready' } at load.
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
import type { ParameterReport, Report } from '../protocol/report';
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
let report: Report | null = null;
type Point = { x: number; y: number | null };
let chart: Chart<'line', Point[]> | undefined;
const globalState: OdeLensPlotGlobal = { chart: undefined, parameter: undefined, component: undefined };
window.odeLensPlot = globalState;

function persist(): void {
  vscode.setState({
    uri: currentUri,
    parameter: globalState.parameter,
    component: globalState.component,
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

const perStepParameters = (r: Report | null): ParameterReport[] =>
  r ? r.parameters.filter((p) => p.perStep && p.layerTimes.length > 0) : [];

/** The label of the component in column j of the rows (the report may carry only some components: `components`). */
function componentLabel(p: ParameterReport, j: number): string {
  const flat = p.components?.[j] ?? j;
  if (p.shape.length <= 1) return `${p.name}[${flat}]`;
  const idx: number[] = [];
  let rest = flat;
  for (let k = p.shape.length - 1; k >= 0; k--) {
    idx.unshift(rest % p.shape[k]);
    rest = Math.floor(rest / p.shape[k]);
  }
  return `${p.name}[${idx.join(',')}]`;
}

function componentNorms(p: ParameterReport): number[] {
  const width = p.reference[0]?.length ?? p.raw[0]?.length ?? 0;
  const norms = new Array<number>(width).fill(0);
  for (const row of p.reference)
    for (let j = 0; j < width; j++) {
      const v = row[j];
      if (Number.isFinite(v)) norms[j] += v * v;
    }
  return norms.map(Math.sqrt);
}

function largest(norms: number[]): number {
  let best = 0;
  for (let j = 1; j < norms.length; j++) if (norms[j] > norms[best]) best = j;
  return best;
}

const finiteOrNull = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? v : null);

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
}

function renderSummary(r: Report): void {
  // The finding count is the status bar's (it counts the editor's diagnostics too); the page gives the verdict.
  const corrected = r.gradfix !== 'none' || r.recommendedCorrection ? `, corrected with ${r.correction}` : '';
  summary.textContent =
    `scheme ${r.scheme} · ${r.steps} steps (h = ${fmt(r.dt)}) · backend ${r.backend} · check ${Math.round(r.timings.totalMs)} ms · gradfix=${r.gradfix}${corrected}` +
    (r.verdict ? ` · verdict: ${r.verdict.explanation}` : '');
}

/** The report's metric columns (solver/presentation/columns.ts), as the CLI and the hovers show them. */
function renderMetrics(r: Report, selected: string | undefined): void {
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

function fillParameterSelect(params: ParameterReport[], selected: string): void {
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

function fillComponentSelect(p: ParameterReport, norms: number[], selected: number): void {
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
        textContent: `${componentLabel(p, j)} · ‖ref‖ ${fmt(norms[j])}`,
        selected: j === selected,
      }),
    ),
  );
  const total = p.shape.reduce((a, b) => a * b, 1);
  componentSelect.title = p.components
    ? `The ${p.components.length} of ${total} components with the largest continuous gradient (the metrics cover all ${total}).`
    : '';
}

function draw(p: ParameterReport, component: number, r: Report): void {
  const c = colours();
  const series = (rows: number[][], times: number[]) =>
    times.map((t, n) => ({ x: t, y: finiteOrNull(rows[n]?.[component]) }));
  const dataset = (
    label: string,
    rows: number[][],
    colour: string,
    width: number,
    points: boolean,
    times = p.layerTimes,
  ): ChartDataset<'line', Point[]> => ({
    label,
    data: series(rows, times),
    borderColor: colour,
    backgroundColor: colour,
    borderWidth: width,
    pointRadius: points && p.layerTimes.length <= 128 ? 1.5 : 0,
    spanGaps: false,
  });
  // Drawn in reverse order: the wide, translucent reference lies under the two AD series.
  const datasets = [
    dataset(DATASET_LABELS.raw, p.raw, c.raw, 1.5, true),
    // `average` sits between layers (t_{n+½}): the engine says where.
    dataset(DATASET_LABELS.corrected, p.corrected, c.corrected, 1.5, true, p.correctedTimes ?? p.layerTimes),
    dataset(DATASET_LABELS.reference, p.reference, withAlpha(c.reference, 0.55), 6, false),
  ];
  const titleText = `${componentLabel(p, component)}: gradient density per layer (corrected with ${r.correction})`;
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
  const params = perStepParameters(r);
  if (params.length === 0) {
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
  const p = params.find((q) => q.name === preferParameter) ?? params.find((q) => q.oscillating) ?? params[0];
  const norms = componentNorms(p);
  const component =
    p.name === preferParameter &&
    preferComponent !== undefined &&
    preferComponent >= 0 &&
    preferComponent < norms.length
      ? preferComponent
      : largest(norms);
  fillParameterSelect(params, p.name);
  fillComponentSelect(p, norms, component);
  renderMetrics(r, p.name);
  draw(p, component, r);
  globalState.parameter = p.name;
  globalState.component = component;
  persist();
}

// ---------------------------------------------------------------- events

paramSelect.addEventListener('change', () => render(paramSelect.value, undefined));
componentSelect.addEventListener('change', () => render(globalState.parameter, Number(componentSelect.value)));
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
  if (m.type === 'status') {
    if (m.uri !== currentUri) return;
    status.textContent =
      m.state === 'failed' && m.message ? `check failed: ${m.message}` : (STATUS_TEXT[m.state] ?? '');
    status.className = `status ${m.state}`;
    return;
  }
  const sameDocument = m.uri === currentUri;
  const keepParameter = sameDocument ? (globalState.parameter ?? saved.parameter) : undefined;
  const keepComponent = sameDocument ? (globalState.component ?? saved.component) : undefined;
  if (!sameDocument) status.textContent = '';
  currentUri = m.uri;
  title.textContent = `Gradient plots${m.fileName ? `: ${m.fileName}` : ''}`;
  report = m.report;
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
  render(globalState.parameter, globalState.component);
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

render();
vscode.postMessage({ type: 'ready' });
