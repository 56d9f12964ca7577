// The gradient-check figures shown in hovers (moved from the round-1 server
// hover): the report lives in the server, so the service takes it as an input.
import type { ParameterSummary, Refinement, ReportSummary } from '../report';
import { checkTimeMs, formatNumber } from '../presentation/format';
import {
  metricColumns,
  refinementColumns,
  refinementSummary,
  showsCorrection,
  type MetricColumn,
} from '../presentation/columns';
import { referenceClause } from '../presentation/referenceText';

export interface GradientContext {
  /** Last gradient-check report for this document. */
  report?: ReportSummary;
  /** True when `report` describes exactly the current text. */
  reportIsCurrent?: boolean;
  /** Human-readable state of a pending/running check, if any. */
  pendingState?: string;
}

const fmt = formatNumber;

function reportHeader(report: ReportSummary): string {
  return [
    `**ODE Lens gradient check** · scheme \`${report.scheme}\` · ${report.steps} steps (h = ${fmt(report.dt)}) · backend \`${report.backend}\`` +
      ` · check time ${checkTimeMs(report.timings)} ms`,
    ...(report.checkedParameters?.kind === 'given'
      ? ['', `Checked at the parameters in \`${report.checkedParameters.source}\`, not the seeded ones.`]
      : []),
    '',
    `gradfix=\`${report.gradfix}\`${showsCorrection(report) ? ` · corrected with \`${report.correction}\`` : ''}` +
      (report.recommendedCorrection && report.gradfix === 'none'
        ? ` · recommended: \`gradfix=${report.recommendedCorrection}\``
        : '') +
      ` · loss ${fmt(report.loss)} · ${referenceClause(report)}`,
    ...(report.verdict ? ['', `**Verdict:** ${report.verdict.explanation}`] : []),
  ].join('\n');
}

export function staleNote(ctx: GradientContext): string {
  if (!ctx.report || ctx.reportIsCurrent) return '';
  return `\n\n_These figures are from an earlier version of the file${ctx.pendingState ? `; a new check is ${ctx.pendingState}` : ''}._`;
}

/** Markdown for the gradfix/meth hover: raw vs corrected relative error per per-step parameter. */
export function reportHoverMarkdown(ctx: GradientContext): string {
  const report = ctx.report;
  if (!report)
    return `**ODE Lens gradient check**\n\nNo check result yet${ctx.pendingState ? ` (check ${ctx.pendingState})` : ''}.`;
  const perStep = report.parameters.filter((p) => p.perStep);
  const parts = [reportHeader(report), ''];
  if (perStep.length === 0) {
    parts.push("No per-step parameters: shared parameters get gradients that converge at the scheme's order.");
  } else {
    const cols = metricColumns(report);
    parts.push(
      ...markdownTable(
        ['per-step parameter', ...cols.map((c) => c.label(report))],
        perStep.map((p) => [`\`${p.name}\`${p.oscillating ? ' ⚠' : ''}`, ...cols.map((c) => c.cell(p, report))]),
      ),
      '',
      footnote(cols, report),
    );
  }
  return parts.join('\n') + staleNote(ctx);
}

/** A markdown table: the first column left-aligned, the figures right-aligned. */
function markdownTable(head: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), `|${head.map((_, i) => (i === 0 ? ':--' : '--:')).join('|')}|`, ...rows.map(line)];
}

function footnote(cols: MetricColumn[], report: ReportSummary): string {
  return cols.map((c) => c.description(report)).join('; ') + '.';
}

/** The figures of one parameter: the report's metric columns (presentation/columns.ts). */
function metricsTable(p: ParameterSummary, report: ReportSummary): string {
  const cols = metricColumns(report);
  return markdownTable(
    cols.map((c) => c.label(report)),
    [cols.map((c) => c.cell(p, report))],
  ).join('\n');
}

/** The refinement study: errors and α per step count, observed orders. */
function refinementTable(r: Refinement, report: ReportSummary): string {
  const cols = refinementColumns(report);
  return [
    `Refinement (same θ(t), more steps): ${refinementSummary(r, report)}`,
    '',
    ...markdownTable(
      cols.map((c) => c.label(report)),
      r.levels.map((_, k) => cols.map((c) => c.cell(r, k))),
    ),
  ].join('\n');
}

export function parameterReport(name: string, ctx: GradientContext): ParameterSummary | undefined {
  const k = name.toLowerCase();
  return ctx.report?.parameters.find((p) => p.name.toLowerCase() === k);
}

/** The figures of one parameter from the last check (empty when there is no report for it). */
export function parameterMetricsMarkdown(name: string, perStep: boolean, ctx: GradientContext): string {
  const rep = parameterReport(name, ctx);
  const parts: string[] = [];
  if (rep && ctx.report) {
    parts.push('', metricsTable(rep, ctx.report));
    if (rep.verdict)
      parts.push('', `${rep.oscillating ? '⚠ ' : ''}**${rep.verdict.kind}:** ${rep.verdict.explanation}`);
    else if (rep.oscillating) parts.push('', '⚠ The AD gradient of this parameter oscillates from layer to layer.');
    if (rep.refinement) parts.push('', refinementTable(rep.refinement, ctx.report));
    parts.push(
      '',
      `scheme \`${ctx.report.scheme}\` · backend \`${ctx.report.backend}\` · check time ${checkTimeMs(ctx.report.timings)} ms` +
        (ctx.report.checkedParameters?.kind === 'given'
          ? ` · at the parameters in \`${ctx.report.checkedParameters.source}\``
          : ''),
    );
    return parts.join('\n') + staleNote(ctx);
  }
  if (perStep)
    parts.push('', ctx.pendingState ? `Gradient check ${ctx.pendingState}.` : 'No gradient check result yet.');
  return parts.join('\n');
}
