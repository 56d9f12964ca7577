// Document symbols (the outline: states, params, data, schemes, equations,
// loss, events, options) and folding ranges (comment blocks, `\` continued lines, the
// model up to `done`).
import { FoldingRangeKind, SymbolKind, type DocumentSymbol, type FoldingRange } from 'vscode-languageserver-types';
import type { Range } from '../model';
import type { ServiceDocument } from './document';
import type { DeclKind } from './symbols';

const SYMBOL_KIND: Record<DeclKind, SymbolKind> = {
  state: SymbolKind.Variable,
  param: SymbolKind.Field,
  number: SymbolKind.Constant,
  fixed: SymbolKind.Constant,
  function: SymbolKind.Function,
  aux: SymbolKind.Property,
  data: SymbolKind.Array,
  scheme: SymbolKind.Class,
  algebraic: SymbolKind.Variable,
  opaque: SymbolKind.Variable,
  argument: SymbolKind.Variable,
};

function clip(s: string, n = 80): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n)} …` : one;
}

/** A range that contains `inner` (LSP requires selectionRange ⊆ range). */
function around(outer: Range, inner: Range): Range {
  const before = (a: Range['start'], b: Range['start']) =>
    a.line < b.line || (a.line === b.line && a.character <= b.character);
  return {
    start: before(outer.start, inner.start) ? outer.start : inner.start,
    end: before(inner.end, outer.end) ? outer.end : inner.end,
  };
}

export function documentSymbols(doc: ServiceDocument): DocumentSymbol[] {
  const out: DocumentSymbol[] = [];
  const byStart = new Map<string, number>();
  for (const d of doc.symbols.declarations) {
    if (d.kind === 'argument' || d.implicit) continue;
    const shape = d.shape && d.shape.length ? `[${d.shape.join(', ')}]` : undefined;
    const perStep = d.kind === 'param' && (d.item as { perStep?: boolean } | undefined)?.perStep;
    const sym: DocumentSymbol = {
      name: d.name,
      detail: [d.kind, shape, perStep ? 'per-step' : undefined].filter(Boolean).join(' '),
      kind: SYMBOL_KIND[d.kind],
      range: around(d.range, d.nameRange),
      selectionRange: d.nameRange,
    };
    if (d.kind === 'function' && d.stmt?.kind === 'function') {
      sym.detail = `function (${d.stmt.params.join(', ')})`;
    }
    byStart.set(`${d.nameRange.start.line}:${d.nameRange.start.character}`, out.length);
    out.push(sym);
  }
  for (const s of doc.statements) {
    if (s.kind === 'equation') {
      out.push({
        name: s.map ? `${s.state}(t+1)` : s.volterra ? `${s.state}(t)` : `${s.state}'`,
        detail: clip(doc.textOf(s.rhs.range)),
        kind: SymbolKind.Method,
        range: around(s.range, s.stateRange),
        selectionRange: s.stateRange,
      });
    } else if (s.kind === 'loss') {
      out.push({
        name: 'loss',
        detail: clip(doc.textOf(s.expr.range)),
        kind: SymbolKind.Event,
        range: around(s.range, s.keywordRange),
        selectionRange: s.keywordRange,
      });
    } else if (s.kind === 'global') {
      const keyword = {
        start: s.range.start,
        end: { line: s.range.start.line, character: s.range.start.character + 'global'.length },
      };
      out.push({
        name: 'global',
        detail: clip(doc.textOf(s.range).slice('global'.length)),
        kind: SymbolKind.Event,
        range: around(s.range, keyword),
        selectionRange: keyword,
      });
    } else if (s.kind === 'options') {
      const line = s.line;
      const children: DocumentSymbol[] = line.settings.map((o) => ({
        name: o.key,
        detail: o.value,
        kind: SymbolKind.Key,
        range: o.range,
        selectionRange: o.range,
      }));
      const at = {
        start: line.range.start,
        end: { line: line.range.start.line, character: line.range.start.character + 1 },
      };
      out.push({
        name: '@ options',
        detail: clip(line.settings.map((o) => `${o.key}=${o.value}`).join(', ')),
        kind: SymbolKind.Namespace,
        range: around(line.range, at),
        selectionRange: at,
        children,
      });
    }
  }
  // In file order, as an outline reads.
  out.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
  return out;
}

export function foldingRanges(doc: ServiceDocument): FoldingRange[] {
  const out: FoldingRange[] = [];
  const lines = doc.lines;
  let i = 0;
  while (i < lines.length) {
    if (/^\s*#/.test(lines[i])) {
      let j = i;
      while (j + 1 < lines.length && /^\s*#/.test(lines[j + 1])) j++;
      if (j > i) out.push({ startLine: i, endLine: j, kind: FoldingRangeKind.Comment });
      i = j + 1;
      continue;
    }
    if (/\\[ \t]*$/.test(lines[i])) {
      let j = i;
      while (j + 1 < lines.length && /\\[ \t]*$/.test(lines[j])) j++;
      if (j > i) out.push({ startLine: i, endLine: j });
      i = j + 1;
      continue;
    }
    i++;
  }
  const done = doc.statements.find((s) => s.kind === 'done');
  if (done) {
    const first = lines.findIndex((l) => /\S/.test(l));
    const end = done.range.start.line;
    if (first >= 0 && end > first) out.push({ startLine: first, endLine: end, kind: FoldingRangeKind.Region });
  }
  return out;
}
