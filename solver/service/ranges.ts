// Position and range helpers (LSP conventions: 0-based, end exclusive).
import type { Position, Range } from '../model';
import type { Token } from '../language/lexer';

export function contains(r: Range, p: Position): boolean {
  const afterStart = p.line > r.start.line || (p.line === r.start.line && p.character >= r.start.character);
  const beforeEnd = p.line < r.end.line || (p.line === r.end.line && p.character <= r.end.character);
  return afterStart && beforeEnd;
}

export function sameRange(a: Range, b: Range): boolean {
  return (
    a.start.line === b.start.line &&
    a.start.character === b.start.character &&
    a.end.line === b.end.line &&
    a.end.character === b.end.character
  );
}

export function tokenRange(t: Token): Range {
  return { start: { line: t.line, character: t.col }, end: { line: t.line, character: t.end } };
}
