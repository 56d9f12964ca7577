// The metric columns of a report, declared once: the CLI table, the hovers and
// the plots page render these, so they show the same columns with the same
// labels and the same numbers.
import type { ParameterSummary, Refinement, ReportSummary } from '../report';
import { DETECTOR as FLAGS } from '../engine/detect';
import { formatNumber, formatRatio } from './format';

export interface MetricColumn {
  /** Stable id (tests, styling). */
  id: 'alpha' | 'beta' | 'kappa' | 'raw' | 'corrected' | 'gradcheck';
  /** Header, e.g. "α" or "filter121 error". */
  label(report: ReportSummary): string;
  /** One line on what the column measures (hover footnote, header tooltip). */
  description(report: ReportSummary): string;
  /** Whether the column belongs in this report's table. */
  shown(report: ReportSummary): boolean;
  /** The cell of one parameter ("-" where the metric does not apply). */
  cell(p: ParameterSummary, report: ReportSummary): string;
}

/**
 * A correction is a remedy only when the check calls for one (a recommended correction) or the model applies one:
 * otherwise a corrected column reads as advice where the raw gradient is already right (rk4: filter121 turns an
 * error of 2.6e-6 into 2.0e-5).
 */
export function showsCorrection(report: ReportSummary): boolean {
  return report.gradfix !== 'none' || report.recommendedCorrection !== undefined;
}

const perStepOnly = (p: ParameterSummary, text: () => string) => (p.perStep ? text() : '-');

export const METRIC_COLUMNS: readonly MetricColumn[] = [
  {
    id: 'alpha',
    label: () => 'α',
    shown: (r) => r.parameters.some((p) => p.perStep),
    description: () =>
      `α: size of the layer-to-layer alternation relative to the gradient (flagged above ${FLAGS.alpha} with β)`,
    cell: (p) => perStepOnly(p, () => formatRatio(p.metrics.alpha)),
  },
  {
    id: 'beta',
    label: () => 'β',
    shown: (r) => r.parameters.some((p) => p.perStep),
    description: () => `β: alternation against smooth curvature (flagged above ${FLAGS.beta} with α)`,
    cell: (p) => perStepOnly(p, () => formatRatio(p.metrics.beta)),
  },
  {
    id: 'kappa',
    label: () => 'κ',
    shown: (r) => r.parameters.some((p) => p.metrics.kappa !== undefined),
    description: () => `κ: stage imbalance of per-stage copies (flagged above ${FLAGS.kappa})`,
    cell: (p) => (p.metrics.kappa !== undefined ? formatNumber(p.metrics.kappa) : '-'),
  },
  {
    id: 'raw',
    label: () => 'raw error',
    shown: () => true,
    description: () => 'raw error: relative error of the AD gradient (density) against the continuous gradient g(t)',
    cell: (p) => (p.metrics.vanishing ? 'vanishing' : formatRatio(p.metrics.relError)),
  },
  {
    id: 'corrected',
    label: (r) => `${r.correction} error`,
    shown: showsCorrection,
    description: (r) =>
      `${r.correction} error: the same after the ${r.gradfix === 'none' ? 'recommended' : 'applied'} correction ${r.correction}`,
    cell: (p) => perStepOnly(p, () => formatRatio(p.metrics.correctedRelError)),
  },
  {
    id: 'gradcheck',
    label: () => 'gradcheck',
    shown: (r) => !r.finiteDifferencesOff,
    description: () =>
      'gradcheck: relative difference of AD and finite differences of the discrete loss ("unresolved": finite differences cannot judge it)',
    cell: (p) => (p.metrics.gradcheckUnresolved ? 'unresolved' : formatRatio(p.metrics.gradcheckRelError)),
  },
];

/** The columns of this report's table, in order. */
export function metricColumns(report: ReportSummary): MetricColumn[] {
  return METRIC_COLUMNS.filter((c) => c.shown(report));
}

/** Text of an order that is not observed because the errors are at float32 resolution. */
export const BELOW_FLOAT32 = 'below float32';

export interface RefinementColumn {
  id: 'steps' | 'raw' | 'corrected' | 'alpha' | 'rawOrder' | 'correctedOrder';
  label(report: ReportSummary): string;
  shown(report: ReportSummary): boolean;
  /** The cell of level k of the study. */
  cell(r: Refinement, k: number): string;
}

/** Observed order between level k−1 and level k ("-" for the first level). */
function orderCell(orders: number[], k: number): string {
  if (k === 0) return '-';
  const o = orders[k - 1];
  return Number.isFinite(o) ? formatNumber(o, 2) : BELOW_FLOAT32;
}

/** The columns of a refinement study: one row per level; the order columns relate each level to the one before. */
export const REFINEMENT_COLUMNS: readonly RefinementColumn[] = [
  { id: 'steps', label: () => 'steps', shown: () => true, cell: (r, k) => String(r.levels[k].steps) },
  { id: 'raw', label: () => 'raw error', shown: () => true, cell: (r, k) => formatRatio(r.levels[k].relError) },
  {
    id: 'corrected',
    label: (rep) => `${rep.correction} error`,
    shown: showsCorrection,
    cell: (r, k) => formatRatio(r.levels[k].correctedRelError),
  },
  { id: 'alpha', label: () => 'α', shown: () => true, cell: (r, k) => formatRatio(r.levels[k].alpha) },
  { id: 'rawOrder', label: () => 'raw order', shown: () => true, cell: (r, k) => orderCell(r.rawOrders, k) },
  {
    id: 'correctedOrder',
    label: (rep) => `${rep.correction} order`,
    shown: showsCorrection,
    cell: (r, k) => orderCell(r.correctedOrders, k),
  },
];

export function refinementColumns(report: ReportSummary): RefinementColumn[] {
  return REFINEMENT_COLUMNS.filter((c) => c.shown(report));
}

/** The study's overall orders in words, e.g. "raw order 0.0017, filter121 order 1.95", with the float32 floor when it hides one. */
export function refinementSummary(r: Refinement, report: ReportSummary): string {
  const order = (o: number) =>
    Number.isFinite(o)
      ? formatNumber(o, 2)
      : `not observed (errors at float32 resolution, ≤ ${formatNumber(r.errorFloor, 2)})`;
  const parts = [`raw order ${order(r.rawOrder)}`];
  if (showsCorrection(report)) parts.push(`${report.correction} order ${order(r.correctedOrder)}`);
  return parts.join(', ');
}
