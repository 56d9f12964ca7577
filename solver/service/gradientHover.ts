// The gradient-check figures shown in hovers (moved from the round-1 server
// hover): the report lives in the server, so the service takes it as an input.
import type { ParameterMetrics, ParameterReport, Refinement, Report } from '../report';

export interface GradientContext {
  /** Last gradient-check report for this document. */
  report?: Report;
  /** True when `report` describes exactly the current text. */
  reportIsCurrent?: boolean;
  /** Human-readable state of a pending/running check, if any. */
  pendingState?: string;
}

export function fmt(x: number | undefined): string {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return x.toExponential(1);
  return String(Number(x.toPrecision(3)));
}

function reportHeader(report: Report): string {
  const t = report.timings?.totalMs;
  return [
    `**ODE Lens gradient check** · scheme \`${report.scheme}\` · ${report.steps} steps (h = ${fmt(report.dt)}) · backend \`${report.backend}\`` +
      (t !== undefined ? ` · check time ${Math.round(t)} ms` : ''),
    '',
    `gradfix=\`${report.gradfix}\` · corrected with \`${report.correction}\`` +
      (report.recommendedCorrection && report.gradfix === 'none' ? ` · recommended: \`gradfix=${report.recommendedCorrection}\`` : '') +
      ` · loss ${fmt(report.loss)} · reference error ${fmt(report.referenceError)}`,
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
  if (!report) return `**ODE Lens gradient check**\n\nNo check result yet${ctx.pendingState ? ` (check ${ctx.pendingState})` : ''}.`;
  const perStep = report.parameters.filter((p) => p.perStep);
  const parts = [reportHeader(report), ''];
  const hasKappa = perStep.some((p) => p.metrics.kappa !== undefined);
  if (perStep.length === 0) {
    parts.push('No per-step parameters: shared parameters get gradients that converge at the scheme\'s order.');
  } else {
    parts.push(
      `| per-step parameter | raw AD rel. error | corrected rel. error (${report.correction}) | α | β |${hasKappa ? ' κ |' : ''} gradcheck |`,
      `|:--|--:|--:|--:|--:|${hasKappa ? '--:|' : ''}--:|`,
      ...perStep.map(
        (p) =>
          `| \`${p.name}\`${p.oscillating ? ' ⚠' : ''} | ${fmt(p.metrics.relError)} | ${fmt(p.metrics.correctedRelError)} | ${fmt(p.metrics.alpha)} | ${fmt(p.metrics.beta)} |${hasKappa ? ` ${fmt(p.metrics.kappa)} |` : ''} ${fmt(p.metrics.gradcheckRelError)} |`,
      ),
      '',
      'Relative errors against the continuous gradient density g(t); α, β: oscillation metrics (flag: α > 0.1 and β > 10)' +
        (hasKappa ? '; κ: stage imbalance of per-stage copies (flag: κ > 0.3)' : '') + '; gradcheck: AD vs finite differences of the discrete loss.',
    );
  }
  return parts.join('\n') + staleNote(ctx);
}

function metricsTable(m: ParameterMetrics, correction: string): string {
  const k = m.kappa !== undefined;
  return [
    `| raw AD rel. error | corrected (${correction}) | α | β |${k ? ' κ |' : ''} gradcheck |`,
    `|--:|--:|--:|--:|${k ? '--:|' : ''}--:|`,
    `| ${fmt(m.relError)} | ${fmt(m.correctedRelError)} | ${fmt(m.alpha)} | ${fmt(m.beta)} |${k ? ` ${fmt(m.kappa)} |` : ''} ${fmt(m.gradcheckRelError)} |`,
  ].join('\n');
}

/** The refinement study: errors and α per step count, observed orders. */
function refinementTable(r: Refinement, correction: string): string {
  return [
    `Refinement (same θ(t), more steps): observed order raw ${fmt(r.rawOrder)}, ${correction} ${fmt(r.correctedOrder)}`,
    '',
    `| steps | raw AD rel. error | corrected (${correction}) | α |`,
    '|--:|--:|--:|--:|',
    ...r.levels.map((l) => `| ${l.steps} | ${fmt(l.relError)} | ${fmt(l.correctedRelError)} | ${fmt(l.alpha)} |`),
  ].join('\n');
}

export function parameterReport(name: string, ctx: GradientContext): ParameterReport | undefined {
  const k = name.toLowerCase();
  return ctx.report?.parameters.find((p) => p.name.toLowerCase() === k);
}

/** The figures of one parameter from the last check (empty when there is no report for it). */
export function parameterMetricsMarkdown(name: string, perStep: boolean, ctx: GradientContext): string {
  const rep = parameterReport(name, ctx);
  const parts: string[] = [];
  if (rep && ctx.report) {
    parts.push('', metricsTable(rep.metrics, ctx.report.correction));
    if (rep.verdict) parts.push('', `${rep.oscillating ? '⚠ ' : ''}**${rep.verdict.kind}:** ${rep.verdict.explanation}`);
    else if (rep.oscillating) parts.push('', '⚠ The AD gradient of this parameter oscillates from layer to layer.');
    if (rep.refinement) parts.push('', refinementTable(rep.refinement, ctx.report.correction));
    parts.push('', `scheme \`${ctx.report.scheme}\` · backend \`${ctx.report.backend}\` · check time ${Math.round(ctx.report.timings?.totalMs ?? 0)} ms`);
    return parts.join('\n') + staleNote(ctx);
  }
  if (perStep) parts.push('', ctx.pendingState ? `Gradient check ${ctx.pendingState}.` : 'No gradient check result yet.');
  return parts.join('\n');
}
