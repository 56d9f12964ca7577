// Typed messages between the extension host (client/plotPanel.ts) and the plot webview
// (webview/main.ts), plus the stable ids/labels tests use to find the chart. The page gets
// the report's summary, then asks for the rows each chart shows (`rows`, answered by the
// server's odeLens/rows: some components of one table, downsampled to the chart's width).
import type { ReportSummary, RowQuery } from './report';
import type { CheckState, RowsResult, TrainIteration } from './customMessages';

/** Host → webview. */
export type HostToWebview =
  /** The latest report's summary for the document (null: no check result yet); `key` names its rows. */
  | { type: 'report'; uri: string; fileName?: string; key?: string; report: ReportSummary | null }
  /** Progress of the document's check, for the page header. */
  | { type: 'status'; uri: string; state: CheckState; message?: string }
  /** The answer to the page's `rows` request of the same id. */
  | { type: 'rows'; uri: string; requestId: number; result: RowsResult }
  /** A training started: its runs (raw `ad` first) of `iterations` each; the training view starts empty curves. */
  | { type: 'trainStart'; uri: string; gradients: string[]; iterations: number }
  /** Finished iterations, in order (one as it finishes; all so far when the page is reloaded meanwhile). */
  | { type: 'trainIterations'; uri: string; iterations: TrainIteration[] }
  /** The training ended: completed, cancelled or failed (the message says why), with each run's summary line. */
  | { type: 'trainEnd'; uri: string; outcome: 'completed' | 'cancelled' | 'failed'; lines: string[]; message?: string };

/** Webview → host. */
export type WebviewToHost =
  /** Sent once when the page has loaded and listens for messages. */
  | { type: 'ready' }
  /** The "Run gradient check" button of the empty state. */
  | { type: 'runCheck'; uri: string }
  /** Rows for a chart: forwarded to the server as odeLens/rows; the answer comes back as `rows` with this id. */
  | { type: 'rows'; uri: string; requestId: number; key?: string; query: RowQuery }
  /** An export button: the host asks where to save (a PNG as a data: URL, a CSV as text). */
  | { type: 'export'; uri: string; format: ExportFormat; fileName: string; data: string };

export type ExportFormat = 'png' | 'csv';

/** The dashboard's views (tabs), in tab order; a tab's id is `odelens-tab-<id>`. */
export const DASHBOARD_VIEWS = [
  { id: 'layers', label: 'Gradients per layer' },
  { id: 'trajectory', label: 'Trajectory x(t)' },
  { id: 'adjoint', label: 'Adjoint p(t)' },
  { id: 'sensitivities', label: 'Sensitivities dL/dθ' },
  { id: 'refinement', label: 'Refinement study' },
] as const;

export type DashboardView = (typeof DASHBOARD_VIEWS)[number]['id'];

/** What the page keeps across reloads (vscode.setState; the panel's serializer gets it back): the document, the view, each view's selection. */
export interface PlotPageState {
  uri?: string;
  view?: DashboardView;
  /** Per view: its target (a parameter, or the state) and component (-1: the largest several). */
  selections?: Partial<Record<DashboardView, { target?: string; component?: number }>>;
}

/** Id of the chart's canvas. */
export const CHART_CANVAS_ID = 'odelens-gradient-chart';

/** Dataset labels, in dataset order. */
export const DATASET_LABELS = {
  raw: 'raw AD (d_n)',
  corrected: 'corrected',
  reference: 'continuous reference',
} as const;

/**
 * The only global the page defines (for tests and debugging):
 * `window.odeLensPlot = { chart, view, parameter, component, rows, draws, theme, csv }` — the chart.js
 * instance (undefined in the empty state), the view, the parameter (or state) and component it draws
 * (-1: several), what its rows were (the points in range, whether they were reduced to min and max per
 * bucket, the buckets), how many times a chart was drawn, the theme it was drawn in, and the CSV the
 * export button would save.
 */
export interface OdeLensPlotGlobal {
  chart: unknown;
  view?: DashboardView;
  parameter: string | undefined;
  component: number | undefined;
  rows?: { rows: number; downsampled: boolean; buckets: number };
  draws?: number;
  theme?: string;
  csv?: () => string;
  /** The training view: the points each curve holds per run, its outcome once ended, how many times its charts were drawn. */
  training?: TrainingViewState;
}

export interface TrainingViewState {
  gradients: string[];
  iterations: number;
  /** Per run: iterations drawn. */
  points: Record<string, number>;
  outcome?: 'completed' | 'cancelled' | 'failed';
  draws: number;
}

/** The training view's charts, one canvas each (`odelens-train-<id>`), in page order. */
export const TRAINING_CHARTS = [
  { id: 'loss', label: 'discrete loss', axis: 'discrete loss' },
  { id: 'flowLoss', label: 'flow loss (the same parameters solved accurately)', axis: 'flow loss' },
  { id: 'totalVariation', label: 'total variation across layers Σₙ‖θₙ₊₁ − θₙ‖₁', axis: 'total variation' },
] as const;

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object';

export function isHostToWebview(m: unknown): m is HostToWebview {
  if (!isObject(m) || typeof m.uri !== 'string') return false;
  if (m.type === 'rows') return typeof m.requestId === 'number' && isObject(m.result);
  if (m.type === 'trainStart') return Array.isArray(m.gradients) && typeof m.iterations === 'number';
  if (m.type === 'trainIterations') return Array.isArray(m.iterations);
  if (m.type === 'trainEnd') return typeof m.outcome === 'string' && Array.isArray(m.lines);
  return m.type === 'report' || m.type === 'status';
}

export function isWebviewToHost(m: unknown): m is WebviewToHost {
  if (!isObject(m)) return false;
  if (m.type === 'ready') return true;
  if (typeof m.uri !== 'string') return false;
  if (m.type === 'rows')
    return (
      typeof m.requestId === 'number' &&
      isObject(m.query) &&
      typeof m.query.view === 'string' &&
      typeof m.query.target === 'string' &&
      Array.isArray(m.query.columns)
    );
  if (m.type === 'export')
    return (m.format === 'png' || m.format === 'csv') && typeof m.fileName === 'string' && typeof m.data === 'string';
  return m.type === 'runCheck';
}
