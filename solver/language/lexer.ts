// Hand-written lexer for `.ode` model files.
//
// One pass over the characters (charCodeAt, no regular expressions), producing
// tokens with 0-based line/character positions (LSP convention). A token never
// spans lines: `\` at the end of a line joins the next physical line to the
// current logical line (no `newline` token is emitted), `#` starts a comment
// that runs to the end of the physical line, and a string stops at the end of
// its line if it is not closed.

export type TokenKind =
  | 'ident'
  | 'number'
  | 'string'
  /** Operators and punctuation; `text` holds the symbol (`**` is reported as `^`; `<=` `>=` `==` `!=` `..` are one token). */
  | 'punct'
  /** A character the language does not use. */
  | 'invalid'
  | 'newline'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** Source text (for `**` this is `^`; for strings the raw text including quotes). */
  text: string;
  line: number;
  /** Start character on `line`. */
  col: number;
  /** End character (exclusive) on `line`. */
  end: number;
  /** Offset of the first character in the whole text. */
  offset: number;
  /** True when whitespace (or a continuation) separates this token from the previous one on the logical line. */
  spaceBefore: boolean;
  /** For strings: false when the closing quote is missing. */
  closed: boolean | undefined;
  /** For numbers: the parsed value. */
  value: number | undefined;
}

const CH_TAB = 9,
  CH_LF = 10,
  CH_CR = 13,
  CH_SPACE = 32,
  CH_QUOTE = 34,
  CH_HASH = 35;
const CH_STAR = 42,
  CH_DOT = 46,
  CH_0 = 48,
  CH_9 = 57,
  CH_BACKSLASH = 92,
  CH_UNDERSCORE = 95;
const CH_LT = 60,
  CH_GT = 62,
  CH_EQ = 61,
  CH_BANG = 33;
const CH_A = 65,
  CH_Z = 90,
  CH_a = 97,
  CH_z = 122,
  CH_E = 69,
  CH_e = 101,
  CH_PLUS = 43,
  CH_MINUS = 45;

const PUNCT_CHARS = "+-*/^@()[]{},=~'<>!&|:;.%$?";
/** `#` as punctuation (inside an integral's braces only; elsewhere it starts a comment). */
const HASH = '#';
/** Single-character punctuation, indexed by char code; the value is the interned one-character string. */
const PUNCT: (string | undefined)[] = new Array(128);
for (const ch of PUNCT_CHARS) PUNCT[ch.charCodeAt(0)] = ch;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}
function isIdentStart(c: number): boolean {
  return (c >= CH_a && c <= CH_z) || (c >= CH_A && c <= CH_Z) || c === CH_UNDERSCORE;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

// The scanners below take the index of a construct's first character and return the index
// after it: numbers only, so that lexing allocates nothing per character.

/** Width of the line break at `i` (`c` is CR or LF): 2 for CR LF. */
function lineBreakWidth(text: string, i: number, c: number): number {
  return c === CH_CR && text.charCodeAt(i + 1) === CH_LF ? 2 : 1;
}

/** A `#` comment runs to the end of the physical line. */
function commentEnd(text: string, n: number, i: number): number {
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === CH_LF || d === CH_CR) break;
    i++;
  }
  return i;
}

/**
 * A `\` at `i` continues the line when only spaces follow it up to the end of the line: the
 * index of that line break (`n` at the end of the text), or -1 when it is not a continuation.
 */
function continuationBreak(text: string, n: number, i: number): number {
  let j = i + 1;
  while (j < n && (text.charCodeAt(j) === CH_SPACE || text.charCodeAt(j) === CH_TAB)) j++;
  if (j >= n) return n;
  const d = text.charCodeAt(j);
  return d === CH_LF || d === CH_CR ? j : -1;
}

function identEnd(text: string, n: number, i: number): number {
  i++;
  while (i < n && isIdentPart(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Whether the innermost open `{` of the line so far belongs to an XPPAUT Volterra integral
 * (`int{…}` or `int[mu]{…}`): there `#` separates the kernel from the integrand, not a comment.
 */
function insideIntegral(tokens: readonly Token[]): boolean {
  let depth = 0;
  for (let k = tokens.length - 1; k >= 0; k--) {
    const t = tokens[k];
    if (t.kind !== 'punct') continue;
    if (t.text === '}') depth++;
    else if (t.text === '{' && depth > 0) depth--;
    else if (t.text === '{') {
      let before = k - 1;
      // int[mu]{: step back over the `[mu]`.
      if (tokens[before]?.text === ']') while (before >= 0 && tokens[before].text !== '[') before--;
      if (tokens[before]?.text === '[') before--;
      const name = tokens[before];
      return name?.kind === 'ident' && name.text.toLowerCase() === 'int';
    }
  }
  return false;
}

function isNumberStart(text: string, n: number, i: number, c: number): boolean {
  return isDigit(c) || (c === CH_DOT && i + 1 < n && isDigit(text.charCodeAt(i + 1)));
}

/** Digits, an optional fraction and an optional exponent (only when digits follow the `e`). */
function numberEnd(text: string, n: number, i: number): number {
  while (i < n && isDigit(text.charCodeAt(i))) i++;
  // `0..9` (an XPPAUT index range) is a number, `..`, a number.
  if (i < n && text.charCodeAt(i) === CH_DOT && text.charCodeAt(i + 1) !== CH_DOT) {
    i++;
    while (i < n && isDigit(text.charCodeAt(i))) i++;
  }
  const e = i < n ? text.charCodeAt(i) : 0;
  if (e === CH_E || e === CH_e) {
    let j = i + 1;
    const s = j < n ? text.charCodeAt(j) : 0;
    if (s === CH_PLUS || s === CH_MINUS) j++;
    if (j < n && isDigit(text.charCodeAt(j))) {
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      i = j;
    }
  }
  return i;
}

/** A string ends after its closing quote, or unclosed at the end of its line. */
function stringEnd(text: string, n: number, i: number): number {
  i++;
  while (i < n) {
    const d = text.charCodeAt(i);
    if (d === CH_LF || d === CH_CR) break;
    i++;
    if (d === CH_QUOTE) break;
  }
  return i;
}

/** Two-character punctuation at `i`: `**` (read as `^`), `<=`, `>=`, `==`, `!=` and `..`; else undefined. */
function twoCharPunct(text: string, i: number, c: number): string | undefined {
  const d = text.charCodeAt(i + 1);
  if (c === CH_STAR && d === CH_STAR) return '^';
  if ((c === CH_LT || c === CH_GT || c === CH_EQ || c === CH_BANG) && d === CH_EQ) return text.slice(i, i + 2);
  if (c === CH_DOT && d === CH_DOT) return '..';
  return undefined;
}

/**
 * Surrogate pairs and other non-ASCII characters are one invalid token each. Only a real pair
 * takes two units: a lone high surrogate must not swallow the line break after it.
 */
function invalidWidth(text: string, n: number, i: number, c: number): number {
  const lo = i + 1 < n ? text.charCodeAt(i + 1) : 0;
  return c >= 0xd800 && c <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? 2 : 1;
}

/** A token from `start` to `end` on the line starting at offset `lineStart`. Every token has the same set of fields (one hidden class). */
function token(
  kind: TokenKind,
  text: string,
  line: number,
  lineStart: number,
  start: number,
  end: number,
  spaceBefore: boolean,
  value: number | undefined,
  closed: boolean | undefined,
): Token {
  return {
    kind,
    text,
    line,
    col: start - lineStart,
    end: end - lineStart,
    offset: start,
    spaceBefore,
    closed,
    value,
  };
}

/**
 * Produces the tokens of one logical line at a time, so that tokens die young
 * (the parser keeps only the syntax tree): `nextLine()` returns the tokens of
 * the next non-empty logical line, ending with a `newline` or `eof` token.
 */
export class Lexer {
  private i = 0;
  private line = 0;
  private lineStart = 0;
  private readonly n: number;

  constructor(private readonly text: string) {
    this.n = text.length;
    // A UTF-8 byte order mark (kept by fs.readFileSync) is not part of the first line.
    if (text.charCodeAt(0) === 0xfeff) this.i = 1;
  }

  nextLine(): Token[] {
    const text = this.text;
    const n = this.n;
    const tokens: Token[] = [];
    let i = this.i;
    let line = this.line;
    let lineStart = this.lineStart;
    let space = true;

    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === CH_SPACE || c === CH_TAB) {
        i++;
        space = true;
      } else if (c === CH_LF || c === CH_CR) {
        const next = i + lineBreakWidth(text, i, c);
        if (tokens.length > 0) {
          tokens.push(token('newline', '\n', line, lineStart, i, i, space, undefined, undefined));
          this.i = next;
          this.line = line + 1;
          this.lineStart = next;
          return tokens;
        }
        i = next;
        line++;
        lineStart = i;
        space = true;
      } else if (c === CH_HASH && !insideIntegral(tokens)) {
        i = commentEnd(text, n, i);
      } else {
        const j = c === CH_BACKSLASH ? continuationBreak(text, n, i) : -1;
        if (j < 0) {
          i = this.scanToken(tokens, c, i, line, lineStart, space);
          space = false;
          continue;
        }
        // A continuation: `\` at the end of the text ends it; otherwise the next physical line joins this one.
        space = true;
        if (j >= n) i = n;
        else {
          i = j + lineBreakWidth(text, j, text.charCodeAt(j));
          line++;
          lineStart = i;
        }
      }
    }
    this.i = n;
    this.line = line;
    this.lineStart = lineStart;
    if (tokens.length > 0) tokens.push(token('newline', '\n', line, lineStart, n, n, space, undefined, undefined));
    else tokens.push(token('eof', '', line, lineStart, n, n, true, undefined, undefined));
    return tokens;
  }

  /** Appends the token starting at `start` (its first character `c`); returns the index after it. */
  private scanToken(
    tokens: Token[],
    c: number,
    start: number,
    line: number,
    lineStart: number,
    space: boolean,
  ): number {
    const text = this.text;
    const n = this.n;
    let end: number;
    if (isIdentStart(c)) {
      end = identEnd(text, n, start);
      tokens.push(token('ident', text.slice(start, end), line, lineStart, start, end, space, undefined, undefined));
    } else if (isNumberStart(text, n, start, c)) {
      end = numberEnd(text, n, start);
      const raw = text.slice(start, end);
      tokens.push(token('number', raw, line, lineStart, start, end, space, Number(raw), undefined));
    } else if (c === CH_QUOTE) {
      end = stringEnd(text, n, start);
      const closed = end - start >= 2 && text.charCodeAt(end - 1) === CH_QUOTE;
      tokens.push(token('string', text.slice(start, end), line, lineStart, start, end, space, undefined, closed));
    } else {
      const two = twoCharPunct(text, start, c);
      const one = c === CH_HASH ? HASH : c < 128 ? PUNCT[c] : undefined;
      if (two !== undefined) end = start + 2;
      else if (one !== undefined) end = start + 1;
      else end = start + invalidWidth(text, n, start, c);
      const kind = two !== undefined || one !== undefined ? 'punct' : 'invalid';
      tokens.push(
        token(kind, two ?? one ?? text.slice(start, end), line, lineStart, start, end, space, undefined, undefined),
      );
    }
    return end;
  }
}

/** Tokenises the whole text. The result always ends with an `eof` token. */
export function tokenize(text: string): Token[] {
  const lexer = new Lexer(text);
  const out: Token[] = [];
  for (;;) {
    const line = lexer.nextLine();
    for (const t of line) out.push(t);
    if (line[line.length - 1].kind === 'eof') return out;
  }
}
