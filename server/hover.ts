// Hover texts: the gradient-check figures on `gradfix` / `meth` options and on parameter names.
import type { Model, Position, Range } from '../solver/model';
import type { ParameterMetrics, ParameterReport, Report } from '../solver/report';

export interface HoverResult { markdown: string; range: Range }

export interface HoverContext {
  text: string;
  position: Position;
  model?: Model;
  /** Last report for this document. */
  report?: Report;
  /** True when `report` describes exactly the current text. */
  reportIsCurrent: boolean;
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

function contains(r: Range, p: Position): boolean {
  const afterStart = p.line > r.start.line || (p.line === r.start.line && p.character >= r.start.character);
  const beforeEnd = p.line < r.end.line || (p.line === r.end.line && p.character <= r.end.character);
  return afterStart && beforeEnd;
}

function lineAt(text: string, line: number): string {
  return text.split(/\r\n|\r|\n/)[line] ?? '';
}

function wordAt(text: string, p: Position): { word: string; range: Range } | undefined {
  const l = lineAt(text, p.line);
  const re = /[A-Za-z_][A-Za-z0-9_]*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(l))) {
    if (p.character >= m.index && p.character <= m.index + m[0].length)
      return { word: m[0], range: { start: { line: p.line, character: m.index }, end: { line: p.line, character: m.index + m[0].length } } };
  }
  return undefined;
}

function reportHeader(report: Report): string {
  const t = report.timings?.totalMs;
  return [
    `**ODE Lens gradient check** · scheme \`${report.scheme}\` · ${report.steps} steps (h = ${fmt(report.dt)}) · backend \`${report.backend}\`` +
      (t !== undefined ? ` · check time ${Math.round(t)} ms` : ''),
    '',
    `gradfix=\`${report.gradfix}\` · corrected with \`${report.correction}\` · loss ${fmt(report.loss)} · reference error ${fmt(report.referenceError)}`,
  ].join('\n');
}

function staleNote(ctx: HoverContext): string {
  if (!ctx.report) return '';
  if (ctx.reportIsCurrent) return '';
  return `\n\n_These figures are from an earlier version of the file${ctx.pendingState ? `; a new check is ${ctx.pendingState}` : ''}._`;
}

function flag(p: ParameterReport): string {
  return p.oscillating ? ' ⚠' : '';
}

/** Markdown for the gradfix/meth hover: raw vs corrected relative error per per-step parameter. */
export function reportHoverMarkdown(ctx: HoverContext): string {
  const report = ctx.report;
  if (!report) {
    return `**ODE Lens gradient check**\n\nNo check result yet${ctx.pendingState ? ` (check ${ctx.pendingState})` : ''}.`;
  }
  const perStep = report.parameters.filter((p) => p.perStep);
  const parts = [reportHeader(report), ''];
  if (perStep.length === 0) {
    parts.push('No per-step parameters: shared parameters get gradients that converge at the scheme\'s order.');
  } else {
    parts.push(
      `| per-step parameter | raw AD rel. error | corrected rel. error (${report.correction}) | α | β | gradcheck |`,
      '|:--|--:|--:|--:|--:|--:|',
      ...perStep.map(
        (p) =>
          `| \`${p.name}\`${flag(p)} | ${fmt(p.metrics.relError)} | ${fmt(p.metrics.correctedRelError)} | ${fmt(p.metrics.alpha)} | ${fmt(p.metrics.beta)} | ${fmt(p.metrics.gradcheckRelError)} |`,
      ),
      '',
      'Relative errors against the continuous gradient density g(t); α, β: oscillation metrics (flag: α > 0.1 and β > 10); gradcheck: AD vs finite differences of the discrete loss.',
    );
  }
  return parts.join('\n') + staleNote(ctx);
}

function metricsTable(m: ParameterMetrics, correction: string): string {
  return [
    `| raw AD rel. error | corrected (${correction}) | α | β | gradcheck |`,
    '|--:|--:|--:|--:|--:|',
    `| ${fmt(m.relError)} | ${fmt(m.correctedRelError)} | ${fmt(m.alpha)} | ${fmt(m.beta)} | ${fmt(m.gradcheckRelError)} |`,
  ].join('\n');
}

export function parameterHoverMarkdown(name: string, ctx: HoverContext): string | undefined {
  const decl = ctx.model?.params.find((p) => p.name === name);
  const rep = ctx.report?.parameters.find((p) => p.name === name);
  if (!decl && !rep) return undefined;
  const shape = decl?.shape ?? rep?.shape ?? [];
  const perStep = decl?.perStep ?? rep?.perStep ?? false;
  const shapeText = shape.length ? `[${shape.join(', ')}]` : 'scalar';
  const size = shape.reduce((a, b) => a * b, 1);
  let head = `**param \`${name}\`** · shape ${shapeText} (${size} value${size === 1 ? '' : 's'})`;
  if (perStep) {
    const copies = rep?.raw.length ?? ctx.model?.options.steps;
    head += ` · per-step: ${copies ?? '?'} cop${copies === 1 ? 'y' : 'ies'} (one per step/stage)`;
  } else head += ' · shared across time';
  if (decl?.init.kind === 'normal') head += ` · init normal(${decl.init.mean}, ${decl.init.std})`;
  const parts = [head];
  if (rep && ctx.report) {
    parts.push('', metricsTable(rep.metrics, ctx.report.correction));
    if (rep.oscillating) parts.push('', '⚠ The AD gradient of this parameter oscillates from layer to layer.');
    parts.push('', `scheme \`${ctx.report.scheme}\` · backend \`${ctx.report.backend}\` · check time ${Math.round(ctx.report.timings?.totalMs ?? 0)} ms`);
  } else if (perStep) {
    parts.push('', ctx.pendingState ? `Gradient check ${ctx.pendingState}.` : 'No gradient check result yet.');
  }
  return parts.join('\n') + staleNote(ctx);
}

/** The hover at a position, if any. */
export function computeHover(ctx: HoverContext): HoverResult | undefined {
  const { model, position, text } = ctx;
  // Options: by the model's ranges when there is a model, by the text otherwise.
  if (model) {
    for (const line of model.optionLines) {
      for (const s of line.settings) {
        if (!contains(s.range, position)) continue;
        const key = s.key.toLowerCase();
        if (key === 'gradfix' || key === 'meth') return { markdown: reportHoverMarkdown(ctx), range: s.range };
      }
    }
  }
  const w = wordAt(text, position);
  if (!w) return undefined;
  if (/^\s*@/.test(lineAt(text, position.line))) {
    if (w.word === 'gradfix' || w.word === 'meth') return { markdown: reportHoverMarkdown(ctx), range: w.range };
    return undefined;
  }
  const hash = lineAt(text, position.line).indexOf('#');
  if (hash >= 0 && hash < w.range.start.character) return undefined; // inside a comment
  const md = parameterHoverMarkdown(w.word, ctx);
  return md ? { markdown: md, range: w.range } : undefined;
}
