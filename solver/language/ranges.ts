import type { Diagnostic, Range, Severity } from '../model';
import type { Token } from './lexer';

export function tokenRange(t: Token): Range {
  return { start: { line: t.line, character: t.col }, end: { line: t.line, character: t.end } };
}

export function span(a: Range, b: Range): Range {
  return { start: a.start, end: b.end };
}

export function diag(code: Diagnostic['code'], severity: Severity, message: string, range: Range): Diagnostic {
  return { code, severity, message, range };
}

export function rangeKey(r: Range): string {
  return `${r.start.line}:${r.start.character}-${r.end.line}:${r.end.character}`;
}
