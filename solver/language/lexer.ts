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
  /** Operators and punctuation; `text` holds the symbol (`**` is reported as `^`; `<=` `>=` `==` `!=` are one token). */
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
  }

  nextLine(): Token[] {
    const text = this.text;
    const n = this.n;
    const tokens: Token[] = [];
    let i = this.i;
    let line = this.line;
    let lineStart = this.lineStart;
    let space = true;
    let lineHasTokens = false;

    // Every token has the same set of fields (one hidden class).
    const push = (
      kind: TokenKind,
      start: number,
      end: number,
      tokText: string,
      value: number | undefined,
      closed: boolean | undefined,
    ): void => {
      tokens.push({
        kind,
        text: tokText,
        line,
        col: start - lineStart,
        end: end - lineStart,
        offset: start,
        spaceBefore: space,
        closed,
        value,
      });
      space = false;
      lineHasTokens = true;
    };

    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === CH_SPACE || c === CH_TAB) {
        i++;
        space = true;
        continue;
      }
      if (c === CH_LF || c === CH_CR) {
        const start = i;
        i += c === CH_CR && text.charCodeAt(i + 1) === CH_LF ? 2 : 1;
        if (lineHasTokens) {
          tokens.push({
            kind: 'newline',
            text: '\n',
            line,
            col: start - lineStart,
            end: start - lineStart,
            offset: start,
            spaceBefore: space,
            closed: undefined,
            value: undefined,
          });
          this.i = i;
          this.line = line + 1;
          this.lineStart = i;
          return tokens;
        }
        line++;
        lineStart = i;
        space = true;
        continue;
      }
      if (c === CH_HASH) {
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === CH_LF || d === CH_CR) break;
          i++;
        }
        continue;
      }
      if (c === CH_BACKSLASH) {
        // Continuation: `\` followed only by spaces/comment up to the end of the line.
        let j = i + 1;
        while (j < n && (text.charCodeAt(j) === CH_SPACE || text.charCodeAt(j) === CH_TAB)) j++;
        const d = j < n ? text.charCodeAt(j) : CH_LF;
        if (j >= n) {
          i = n;
          space = true;
          continue;
        } // `\` at the end of the file
        if (d === CH_LF || d === CH_CR) {
          i = j + (d === CH_CR && text.charCodeAt(j + 1) === CH_LF ? 2 : 1);
          line++;
          lineStart = i;
          space = true;
          continue;
        }
        push('invalid', i, i + 1, '\\', undefined, undefined);
        i++;
        continue;
      }
      if (isIdentStart(c)) {
        const start = i;
        i++;
        while (i < n && isIdentPart(text.charCodeAt(i))) i++;
        push('ident', start, i, text.slice(start, i), undefined, undefined);
        continue;
      }
      if (isDigit(c) || (c === CH_DOT && i + 1 < n && isDigit(text.charCodeAt(i + 1)))) {
        const start = i;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        if (i < n && text.charCodeAt(i) === CH_DOT) {
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
        const raw = text.slice(start, i);
        push('number', start, i, raw, Number(raw), undefined);
        continue;
      }
      if (c === CH_QUOTE) {
        const start = i;
        i++;
        let closed = false;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d === CH_LF || d === CH_CR) break;
          i++;
          if (d === CH_QUOTE) {
            closed = true;
            break;
          }
        }
        push('string', start, i, text.slice(start, i), undefined, closed);
        continue;
      }
      if (c === CH_STAR && text.charCodeAt(i + 1) === CH_STAR) {
        push('punct', i, i + 2, '^', undefined, undefined);
        i += 2;
        continue;
      }
      // Comparisons `<=`, `>=`, `==`, `!=` are one token each.
      if ((c === CH_LT || c === CH_GT || c === CH_EQ || c === CH_BANG) && text.charCodeAt(i + 1) === CH_EQ) {
        push('punct', i, i + 2, text.slice(i, i + 2), undefined, undefined);
        i += 2;
        continue;
      }
      const p = c < 128 ? PUNCT[c] : undefined;
      if (p !== undefined) {
        push('punct', i, i + 1, p, undefined, undefined);
        i++;
        continue;
      }
      // Surrogate pairs and other non-ASCII characters are one invalid token each. Only a real pair
      // takes two units: a lone high surrogate must not swallow the line break after it.
      const lo = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      const w = c >= 0xd800 && c <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff ? 2 : 1;
      push('invalid', i, i + w, text.slice(i, i + w), undefined, undefined);
      i += w;
    }
    this.i = n;
    this.line = line;
    this.lineStart = lineStart;
    if (lineHasTokens) {
      tokens.push({
        kind: 'newline',
        text: '\n',
        line,
        col: n - lineStart,
        end: n - lineStart,
        offset: n,
        spaceBefore: space,
        closed: undefined,
        value: undefined,
      });
      return tokens;
    }
    tokens.push({
      kind: 'eof',
      text: '',
      line,
      col: n - lineStart,
      end: n - lineStart,
      offset: n,
      spaceBefore: true,
      closed: undefined,
      value: undefined,
    });
    return tokens;
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
