// Hover: what a name is (kind, shape, per-step copies, value or initialiser),
// documentation for built-in functions, keywords, options and schemes, and on
// `meth` / `gradfix` / parameters the figures of the last gradient check.
import { visitExpressions, type Model, type OptionSetting, type Position, type Range } from '../model';
import type { AlgebraicStmt, EquationStmt, InitStmt, ParamItem } from '../language/ast';
import { contains, type ServiceDocument } from './document';
import { initialValueName } from '../check/initialValues';
import { reportHoverMarkdown, parameterMetricsMarkdown, parameterReport, type GradientContext } from './gradientHover';
import { effectiveOptions } from './modelOptions';
import { copyCount } from '../summary';
import { schemeMarkdown, schemeSyntax } from './schemeInfo';
import { keyOf, type Declaration } from './symbols';
import { xppautDeclarationHover } from './xppautHover';
import { elementCount } from '../ops/shapes';
import {
  builtinFunction,
  KEYWORD_DOCS,
  OPTION_DOCS,
  OTHER_KEYWORD_DOCS,
  signatureLabel,
  VALUE_DOCS,
} from './vocabulary';

export interface HoverInput extends GradientContext {
  /** The checked model, when the file checks (adds facts only the checker knows, e.g. declared schemes' tableaux). */
  model?: Model;
}

export interface HoverResult {
  markdown: string;
  range: Range;
}

const MAX_EXPR_CHARS = 240;

function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > MAX_EXPR_CHARS ? `${one.slice(0, MAX_EXPR_CHARS)} …` : one;
}

function shapeText(shape: number[] | undefined): string {
  if (!shape || shape.length === 0) return 'scalar';
  const size = elementCount(shape);
  return `[${shape.join(', ')}] (${size} value${size === 1 ? '' : 's'})`;
}

function optionAt(doc: ServiceDocument, p: Position): OptionSetting | undefined {
  for (const s of doc.statements) {
    if (s.kind !== 'options' || s.line.range.start.line > p.line || s.line.range.end.line < p.line) continue;
    for (const o of s.line.settings) if (contains(o.range, p)) return o;
  }
  return undefined;
}

function optionHover(doc: ServiceDocument, o: OptionSetting, p: Position, input: HoverInput): HoverResult {
  const key = o.key;
  const onValue = contains(o.valueRange, p);
  const parts: string[] = [];
  if (onValue && (key === 'meth' || key === 'start'))
    parts.push(schemeMarkdown(o.value, input.model, schemeFallback(doc, o.value), schemeSyntax(doc, o.value)));
  else if (onValue && VALUE_DOCS[o.value.toLowerCase()])
    parts.push(`**${key}=\`${o.value}\`**\n\n${VALUE_DOCS[o.value.toLowerCase()]}`);
  else {
    // The setting as this file writes it (the vocabulary's example, `d.detail`, is for completion: shown here it
    // read as the file's value).
    const d = OPTION_DOCS[key];
    const written = o.value ? `**@ ${key}=\`${o.value}\`**` : `**@ ${key}**`;
    parts.push(
      d
        ? `${written}\n\n${d.doc}${d.values ? `\n\nValues: ${d.values.map((v) => `\`${v}\``).join(', ')}` : ''}`
        : written,
    );
  }
  // Round-1 behaviour: meth and gradfix show the last check's raw vs corrected errors.
  if (key === 'meth' || key === 'gradfix') parts.push('', '---', '', reportHoverMarkdown(input));
  return { markdown: parts.join('\n'), range: onValue ? o.valueRange : o.range };
}

/** For a user scheme that the analysis does not describe: its declaration line. */
function schemeFallback(doc: ServiceDocument, name: string): string | undefined {
  const d = doc.symbols.byKey.get(keyOf(name))?.find((x) => x.kind === 'scheme');
  return d ? `\`${clip(doc.textOf(d.range))}\`` : undefined;
}

function initOf(doc: ServiceDocument, key: string): string | undefined {
  let found: string | undefined;
  for (const s of doc.statements) {
    if (s.kind !== 'init') continue;
    for (const it of (s as InitStmt).items) if (keyOf(it.name) === key) found = doc.textOf(it.value.range);
  }
  return found;
}

function equationOf(doc: ServiceDocument, key: string): EquationStmt | undefined {
  for (const s of doc.statements) if (s.kind === 'equation' && keyOf(s.state) === key) return s;
  return undefined;
}

/** The `0 = …` lines that read an algebraic variable. */
function algebraicEquationsOf(doc: ServiceDocument, key: string): AlgebraicStmt[] {
  const out: AlgebraicStmt[] = [];
  for (const s of doc.statements)
    if (s.kind === 'algebraic') {
      let reads = false;
      visitExpressions([s.rhs], (e) => {
        if (e.kind === 'name' && keyOf(e.name) === key) reads = true;
      });
      if (reads) out.push(s);
    }
  return out;
}

function declarationHover(doc: ServiceDocument, d: Declaration, onDeclaration: boolean, input: HoverInput): string {
  const lines: string[] = [];
  const where = onDeclaration ? '' : `\n\nDeclared on line ${d.nameRange.start.line + 1}.`;
  switch (d.kind) {
    case 'state': {
      lines.push(
        `**state \`${d.name}\`** · shape ${shapeText(d.shape)}${d.implicit ? ' · declared by its equation' : ''}`,
      );
      const init = initOf(doc, d.key);
      lines.push('', init !== undefined ? `init \`${clip(init)}\`` : 'init: zeros (no initial value given)');
      const eq = equationOf(doc, d.key);
      if (eq) lines.push('', `\`${clip(doc.textOf(eq.range))}\``);
      // A model without parameters has its initial values checked in their place (check/initialValues.ts).
      const initial = initialValueName(d.name);
      if (parameterReport(initial, input))
        lines.push(
          '',
          `Its initial value is checked as the parameter \`${initial}\` (the model declares no parameter):`,
          parameterMetricsMarkdown(initial, false, input),
        );
      break;
    }
    case 'param': {
      const item = d.item as ParamItem | undefined;
      const o = effectiveOptions(doc, input.model);
      let head = `**param \`${d.name}\`** · shape ${shapeText(d.shape)}`;
      if (item?.perStep) {
        const reported = parameterReport(d.name, input);
        const copies = (reported && copyCount(reported)) ?? o.steps;
        head += ` · per-step: ${copies} cop${copies === 1 ? 'y' : 'ies'} (one per ${o.tie === 'stage' ? 'stage of each of the ' + o.steps + ' steps' : 'step'})`;
      } else head += ' · shared across time';
      if (item?.init)
        head +=
          item.init.kind === 'normal'
            ? ` · init \`${clip(doc.textOf(item.init.range))}\``
            : ` · init \`${clip(doc.textOf(item.init.value.range))}\``;
      lines.push(head, parameterMetricsMarkdown(d.name, !!item?.perStep, input));
      break;
    }
    case 'number': {
      const v = (d.item as { value?: { range: Range } } | undefined)?.value;
      lines.push(`**number \`${d.name}\`** · constant${v ? ` = \`${clip(doc.textOf(v.range))}\`` : ''}`);
      break;
    }
    case 'fixed':
    case 'aux': {
      const e = d.stmt && 'expr' in d.stmt ? (d.stmt as { expr: { range: Range } }).expr : undefined;
      const what = d.kind === 'fixed' ? 'fixed quantity' : 'aux (output column, not simulated)';
      lines.push(`**${what} \`${d.name}\`**${e ? ` = \`${clip(doc.textOf(e.range))}\`` : ''}`);
      break;
    }
    case 'algebraic': {
      const s = d.stmt?.kind === 'solve' ? d.stmt : undefined;
      lines.push(
        `**algebraic variable \`${d.name}\`** · guess \`${s?.guess ? clip(doc.textOf(s.guess.range)) : '0'}\``,
        '',
        "Solved from the `0 = …` equations by Newton's method at every evaluation of f, from the previous solution; gradients go through it by the implicit-function theorem.",
      );
      for (const g of algebraicEquationsOf(doc, d.key)) lines.push('', `\`${clip(doc.textOf(g.range))}\``);
      break;
    }
    case 'function': {
      const s = d.stmt?.kind === 'function' ? d.stmt : undefined;
      lines.push(`**function \`${s ? signatureLabel({ name: s.name, params: s.params }) : d.name}\`**`);
      if (s) lines.push('', `\`${clip(doc.textOf(s.range))}\``);
      break;
    }
    case 'argument': {
      const s = d.stmt?.kind === 'function' ? d.stmt : undefined;
      lines.push(
        `**argument \`${d.name}\`**${s ? ` of \`${signatureLabel({ name: s.name, params: s.params })}\`` : ''}`,
      );
      break;
    }
    case 'data':
      lines.push(
        `**data \`${d.name}\`** · observations`,
        '',
        `\`${clip(doc.textOf(d.range))}\``,
        '',
        'In a loss, `x(' + d.name + ')` is the state at the observation times.',
      );
      break;
    case 'scheme':
      lines.push(
        schemeMarkdown(
          d.name,
          input.model,
          `\`${clip(doc.textOf(d.range))}\``,
          d.stmt?.kind === 'scheme' ? d.stmt : undefined,
        ),
      );
      break;
    case 'opaque':
      lines.push(xppautDeclarationHover(d.name, d.stmt) ?? `**\`${d.name}\`** · declared by an unsupported construct`);
      break;
  }
  return lines.join('\n') + where;
}

export function hover(doc: ServiceDocument, p: Position, input: HoverInput = {}): HoverResult | undefined {
  const opt = optionAt(doc, p);
  if (opt) return optionHover(doc, opt, p, input);
  const ref = doc.symbols.at(p.line, p.character);
  if (!ref) return undefined;
  const range = ref.range;
  switch (ref.role) {
    case 'symbol':
      return ref.decl ? { markdown: declarationHover(doc, ref.decl, ref.isDeclaration, input), range } : undefined;
    case 'builtin': {
      if (ref.key === 'pi') return { markdown: OTHER_KEYWORD_DOCS.pi, range };
      if (ref.key === 't') return { markdown: OTHER_KEYWORD_DOCS[ref.text === 'T' ? 'T' : 't'], range };
      const f = builtinFunction(ref.key);
      return f ? { markdown: `**built-in \`${signatureLabel(f)}\`**\n\n${f.doc}`, range } : undefined;
    }
    case 'keyword': {
      const k = KEYWORD_DOCS[ref.key];
      if (k) return { markdown: `**${ref.key}** · \`${k.detail}\`\n\n${k.doc}`, range };
      const o = OTHER_KEYWORD_DOCS[ref.key];
      return o ? { markdown: o, range } : undefined;
    }
    case 'optionKey':
    case 'optionValue': {
      const d = OPTION_DOCS[ref.key];
      return d ? { markdown: `**@ ${d.key}** · e.g. \`${d.detail}\`\n\n${d.doc}`, range } : undefined;
    }
    case 'unresolved':
      if (ref.text === 'T') return { markdown: OTHER_KEYWORD_DOCS.T, range };
      return undefined;
  }
}
