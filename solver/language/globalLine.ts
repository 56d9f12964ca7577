// XPPAUT's `global` line (an event with resets), read the two ways XPPAUT writes it:
//   global sign condition {name=formula; name=formula}
//   global sign {condition} {name=formula; …}
// The parser hands over its token cursor; the checker (checker/events.ts) resolves the names.
import type { Expr, Range } from '../model';
import type { GlobalReset, GlobalStmt } from './ast';
import type { Token } from './lexer';
import { span, tokenRange } from './ranges';

/** What the line reader needs of the parser: its token cursor, its expression parser and its errors. */
export interface TokenCursor {
  peek(k?: number): Token;
  next(): Token;
  isPunct(t: Token, s: string): boolean;
  expr(): Expr;
  fail(range: Range, message: string): never;
}

const FORM = 'A global line reads global sign condition {name=formula; …}, e.g. global 1 v-1 {v=0}';

/** Parses a `global` line whose keyword is the cursor's current token. */
export function parseGlobal(c: TokenCursor): GlobalStmt {
  const keyword = c.next();
  const { sign, signRange } = readSign(c);
  let condition: Expr;
  if (c.isPunct(c.peek(), '{')) {
    c.next();
    condition = c.expr();
    expect(c, '}', 'to close the condition');
  } else condition = c.expr();
  expect(c, '{', 'before the events');
  const resets: GlobalReset[] = [];
  while (!c.isPunct(c.peek(), '}')) {
    if (resets.length > 0 || c.isPunct(c.peek(), ';')) {
      expect(c, ';', 'between the events');
      if (c.isPunct(c.peek(), '}')) break; // a trailing `;`
    }
    resets.push(readReset(c));
  }
  const close = c.next();
  const end = c.peek();
  if (end.kind !== 'newline' && end.kind !== 'eof')
    c.fail(tokenRange(end), `Unexpected text after the events. ${FORM}`);
  return { kind: 'global', sign, signRange, condition, resets, range: span(tokenRange(keyword), tokenRange(close)) };
}

/** `1`, `-1`, `+1` or `0`; the checker judges the value. */
function readSign(c: TokenCursor): { sign: number; signRange: Range } {
  const first = c.peek();
  const negative = c.isPunct(first, '-');
  if (negative || c.isPunct(first, '+')) c.next();
  const t = c.next();
  if (t.kind !== 'number' || t.value === undefined)
    c.fail(tokenRange(t), `Expected the sign (1, -1 or 0) after 'global'. ${FORM}`);
  return { sign: negative ? -t.value : t.value, signRange: span(tokenRange(first), tokenRange(t)) };
}

function readReset(c: TokenCursor): GlobalReset {
  const name = c.next();
  if (name.kind !== 'ident') c.fail(tokenRange(name), `Expected an event name=formula. ${FORM}`);
  expect(c, '=', `after '${name.text}'`);
  const value = c.expr();
  return { name: name.text, nameRange: tokenRange(name), value, range: span(tokenRange(name), value.range) };
}

function expect(c: TokenCursor, s: string, context: string): void {
  const t = c.peek();
  if (!c.isPunct(t, s)) c.fail(tokenRange(t), `Expected '${s}' ${context}. ${FORM}`);
  c.next();
}
