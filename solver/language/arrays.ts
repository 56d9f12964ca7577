// XPPAUT pseudo-arrays, expanded on tokens before parsing.
//
// XPPAUT treats `x[1..10]' = -x[j] + [j]` as ten lines `x1' = -x1 + 1`, …:
// the index range `[i1..i2]` (one per line) runs j from i1 to i2 (either way
// round), `name[j]`, `name[j+n]`, `name[j-n]`, `name[j*n]` become the name with
// that number appended, and a free-standing `[j…]` becomes the number itself.
// `%[i1..i2]` repeats the block of lines up to the next line starting with `%`,
// element by element. Expanded tokens keep the source position of what they
// replace, so diagnostics point at the array line.

import type { Range } from '../model';
import type { Token } from './lexer';
import { span, tokenRange } from './ranges';

/** More elements than this on one array line is refused (each element is a statement). */
export const MAX_ARRAY_ELEMENTS = 10_000;

export interface IndexRange {
  /** Position of `[` in the line's tokens (the range is the five tokens `[ i1 .. i2 ]`). */
  open: number;
  from: number;
  to: number;
  range: Range;
}

/** A problem with the array syntax of a line: where and what. */
export interface ArrayProblem {
  range: Range;
  message: string;
}

const isPunct = (t: Token | undefined, s: string): boolean => t !== undefined && t.kind === 'punct' && t.text === s;
const isIndexWord = (t: Token | undefined): boolean =>
  t !== undefined && t.kind === 'ident' && (t.text === 'j' || t.text === 'J');

/** The line's index range `[i1..i2]`, undefined when it has none, or the problem with it. */
export function findIndexRange(toks: Token[]): IndexRange | ArrayProblem | undefined {
  let found: IndexRange | undefined;
  for (let i = 0; i < toks.length; i++) {
    if (!isPunct(toks[i], '..')) continue;
    const open = toks[i - 2];
    const a = toks[i - 1];
    const b = toks[i + 1];
    const close = toks[i + 2];
    const whole = (t: Token | undefined): boolean =>
      t?.kind === 'number' && t.value !== undefined && Number.isInteger(t.value) && t.value >= 0;
    if (!isPunct(open, '[') || !isPunct(close, ']') || !whole(a) || !whole(b)) {
      const from = isPunct(open, '[') ? open : toks[i];
      return {
        range: span(tokenRange(from), tokenRange(isPunct(close, ']') ? close : toks[i])),
        message: 'An XPPAUT index range reads [i1..i2] with two whole numbers from 0, e.g. x[0..9]',
      };
    }
    const range = span(tokenRange(open), tokenRange(close));
    if (found)
      return { range, message: 'Only one index range [i1..i2] per line: XPPAUT runs one index j over the line' };
    found = { open: i - 2, from: a.value as number, to: b.value as number, range };
  }
  if (found && Math.abs(found.to - found.from) + 1 > MAX_ARRAY_ELEMENTS) {
    return {
      range: found.range,
      message: `This array has ${Math.abs(found.to - found.from) + 1} elements; at most ${MAX_ARRAY_ELEMENTS} per line are supported`,
    };
  }
  return found;
}

/** The values j takes over `[from..to]`, in XPPAUT's order. */
export function indexValues(r: { from: number; to: number }): number[] {
  const step = r.to >= r.from ? 1 : -1;
  const out: number[] = [];
  for (let j = r.from; ; j += step) {
    out.push(j);
    if (j === r.to) return out;
  }
}

function derived(base: Token, text: string, kind: 'ident' | 'number', last: Token, value?: number): Token {
  const sameLine = last.line === base.line;
  return {
    kind,
    text,
    line: base.line,
    col: base.col,
    end: sameLine ? last.end : base.end,
    offset: base.offset,
    spaceBefore: base.spaceBefore,
    closed: undefined,
    value,
  };
}

/**
 * The tokens of `toks` for element `j`: the index range (at `range.open`, if
 * any) and every `[j…]` replaced as XPPAUT does, with the first problem when an
 * index expression is malformed or gives a name a negative index (the tokens
 * then still tell what the line declares).
 */
export function expandElement(
  toks: Token[],
  j: number,
  range: IndexRange | undefined,
): { tokens: Token[]; problem?: ArrayProblem } {
  const out: Token[] = [];
  let problem: ArrayProblem | undefined;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    let value: number;
    let close: number;
    if (range && i === range.open) {
      value = j;
      close = i + 4;
    } else if (isPunct(t, '[') && isIndexWord(toks[i + 1])) {
      const op = toks[i + 2];
      if (isPunct(op, ']')) {
        value = j;
        close = i + 2;
      } else {
        const n = toks[i + 3];
        const ok =
          (isPunct(op, '+') || isPunct(op, '-') || isPunct(op, '*')) &&
          n?.kind === 'number' &&
          Number.isInteger(n.value) &&
          isPunct(toks[i + 4], ']');
        if (!ok) {
          let k = i + 1;
          while (k < toks.length - 1 && !isPunct(toks[k], ']')) k++;
          // XPPAUT stops at an index with no closing bracket too ("Perhaps a ] is missing").
          const unclosed = !toks.slice(i + 1).some((x) => isPunct(x, ']'));
          problem ??= {
            range: span(tokenRange(t), tokenRange(toks[k])),
            message: unclosed
              ? "This XPPAUT index [j… is not closed: a ']' is missing"
              : 'An XPPAUT index reads [j], [j+n], [j-n] or [j*n] with a whole number n',
          };
          out.push(t);
          continue;
        }
        const v = n.value as number;
        value = op.text === '+' ? j + v : op.text === '-' ? j - v : j * v;
        close = i + 4;
      }
    } else {
      out.push(t);
      continue;
    }
    const last = toks[close];
    const prev = out[out.length - 1];
    if (prev?.kind === 'ident' && !t.spaceBefore) {
      // `u[j-1]` is the name u<j-1>.
      if (value < 0) {
        problem ??= {
          range: span(tokenRange(prev), tokenRange(last)),
          message: `For j = ${j}, ${prev.text}[…] has the index ${value}; XPPAUT names count from 0`,
        };
      }
      out[out.length - 1] = derived(prev, `${prev.text}${value}`, 'ident', last);
    } else {
      out.push(derived(t, String(value), 'number', last, value));
    }
    i = close;
  }
  return { tokens: out, problem };
}

export function isArrayProblem(x: unknown): x is ArrayProblem {
  return typeof x === 'object' && x !== null && 'message' in x && !Array.isArray(x);
}
