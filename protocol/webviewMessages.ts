// Typed messages between the extension host (client/plotPanel.ts) and the plot webview
// (webview/main.ts), plus the stable ids/labels tests use to find the chart.
import type { Report } from './report';
import type { CheckState } from './customMessages';

/** Host → webview. */
export type HostToWebview =
  /** The latest report for the document (null: no check result yet). */
  | { type: 'report'; uri: string; fileName?: string; report: Report | null }
  /** Progress of the document's check, for the page header. */
  | { type: 'status'; uri: string; state: CheckState; message?: string };

/** Webview → host. */
export type WebviewToHost =
  /** Sent once when the page has loaded and listens for messages. */
  | { type: 'ready' }
  /** The "Run gradient check" button of the empty state. */
  | { type: 'runCheck'; uri: string };

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
 * `window.odeLensPlot = { chart, parameter, component }` — the chart.js instance
 * (undefined in the empty state) and the current selection.
 */
export interface OdeLensPlotGlobal {
  chart: unknown;
  parameter: string | undefined;
  component: number | undefined;
}

export function isHostToWebview(m: unknown): m is HostToWebview {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return (t === 'report' || t === 'status') && typeof (m as { uri?: unknown }).uri === 'string';
}

export function isWebviewToHost(m: unknown): m is WebviewToHost {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown; uri?: unknown }).type;
  return t === 'ready' || (t === 'runCheck' && typeof (m as { uri?: unknown }).uri === 'string');
}
