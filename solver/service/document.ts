// One text document as the language service sees it: the text, its lines and
// the parser's syntax tree (which exists even when the file has errors), all
// computed lazily and once per text. The service never needs the checked
// Model, so every feature works on a file that does not check.
import type { Diagnostic, Position, Range } from '../model';
import type { Program, Statement } from '../language/ast';
import { parse, type ParseResult } from '../language/parser';
import { tokenize, type Token } from '../language/lexer';
import { buildSymbolIndex, type SymbolIndex } from './symbols';

export { contains, sameRange, tokenRange } from './ranges';

export class ServiceDocument {
  private _lineStarts?: number[];
  private _lines?: string[];
  private _parsed?: ParseResult;
  private _tokenLines?: Token[][];
  private _symbols?: SymbolIndex;

  /**
   * `parsed`: the syntax tree of exactly this text when the caller already has
   * it (the server's analyseDocument on didChange), so the service does not
   * parse the same version twice. Without it the document parses itself.
   */
  constructor(
    readonly text: string,
    readonly version = 0,
    parsed?: ParseResult,
  ) {
    this._parsed = parsed;
  }

  /** Offsets of the first character of every physical line. */
  get lineStarts(): number[] {
    if (!this._lineStarts) {
      const starts = [0];
      const t = this.text;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        if (c === 13) {
          if (t.charCodeAt(i + 1) === 10) i++;
          starts.push(i + 1);
        } else if (c === 10) starts.push(i + 1);
      }
      this._lineStarts = starts;
    }
    return this._lineStarts;
  }

  get lines(): string[] {
    if (!this._lines) this._lines = this.text.split(/\r\n|\r|\n/);
    return this._lines;
  }

  lineText(line: number): string {
    return this.lines[line] ?? '';
  }

  /** p moved into the text, as the LSP asks of a position past a line's end (or past the last line). */
  clamp(p: Position): Position {
    const last = this.lines.length - 1;
    if (p.line > last) return { line: last, character: this.lineText(last).length };
    const line = Math.max(0, p.line);
    return { line, character: Math.min(Math.max(0, p.character), this.lineText(line).length) };
  }

  get program(): Program {
    return this.parsed.program;
  }
  get parseDiagnostics(): Diagnostic[] {
    return this.parsed.diagnostics;
  }
  get statements(): Statement[] {
    return this.parsed.program.statements;
  }

  private get parsed(): ParseResult {
    if (!this._parsed) {
      try {
        this._parsed = parse(this.text);
      } catch {
        // The parser never throws by contract; if it does, features degrade to token-level ones.
        this._parsed = { program: { statements: [] }, diagnostics: [] };
      }
    }
    return this._parsed;
  }

  /** Tokens grouped by logical line (`\` continuations joined), without the newline/eof tokens. */
  get tokenLines(): Token[][] {
    if (!this._tokenLines) {
      const out: Token[][] = [];
      let cur: Token[] = [];
      let all: Token[];
      try {
        all = tokenize(this.text);
      } catch {
        all = [];
      }
      for (const t of all) {
        if (t.kind === 'newline' || t.kind === 'eof') {
          if (cur.length) out.push(cur);
          cur = [];
        } else cur.push(t);
      }
      if (cur.length) out.push(cur);
      this._tokenLines = out;
    }
    return this._tokenLines;
  }

  get symbols(): SymbolIndex {
    if (!this._symbols) this._symbols = buildSymbolIndex(this);
    return this._symbols;
  }

  offsetAt(p: Position): number {
    const starts = this.lineStarts;
    if (p.line >= starts.length) return this.text.length;
    return Math.min(
      starts[Math.max(0, p.line)] + Math.max(0, p.character),
      p.line + 1 < starts.length ? starts[p.line + 1] : this.text.length,
    );
  }

  /** Source text of a range, with `\` continuations and their line breaks read as one space. */
  textOf(r: Range): string {
    const raw = this.text.slice(this.offsetAt(r.start), this.offsetAt(r.end));
    return raw.replace(/\\[ \t]*(\r\n|\r|\n)[ \t]*/g, ' ');
  }

  private readonly lineTokenCache = new Map<number, Token[] | undefined>();

  /**
   * The tokens of the logical line that contains `line`, if any. Lexes only
   * that line (a hover or a completion must not pay for the whole file).
   */
  tokenLineAt(line: number): Token[] | undefined {
    const start = this.logicalLineStart(line);
    if (this.lineTokenCache.has(start)) return this.lineTokenCache.get(start);
    let end = start;
    while (end + 1 < this.lines.length && /\\[ \t]*$/.test(this.lineText(end))) end++;
    const starts = this.lineStarts;
    const from = starts[start] ?? this.text.length;
    const to = end + 1 < starts.length ? starts[end + 1] : this.text.length;
    let toks: Token[] = [];
    try {
      toks = tokenize(this.text.slice(from, to));
    } catch {
      toks = [];
    }
    const out: Token[] = [];
    // The tokens are fresh, so shift them to document coordinates in place (no copy per token: a long continued line has thousands).
    for (const t of toks) {
      if (t.kind === 'newline' || t.kind === 'eof') continue;
      t.line += start;
      t.offset += from;
      out.push(t);
    }
    const result = out.length ? out : undefined; // a blank or comment-only line has no tokens
    this.lineTokenCache.set(start, result);
    return result;
  }

  /** First physical line of the logical line containing `line` (walks back over `\` continuations). */
  logicalLineStart(line: number): number {
    let l = line;
    while (l > 0 && /\\[ \t]*$/.test(this.lineText(l - 1))) l--;
    return l;
  }
}

/**
 * Keeps one ServiceDocument per URI, rebuilt only when the version or the text
 * changes, so a burst of requests on one version parses the file once.
 */
export class DocumentCache {
  private readonly docs = new Map<string, ServiceDocument>();

  /** `parsed`, when given, must be the parse of `text` (see ServiceDocument). */
  get(uri: string, text: string, version = 0, parsed?: ParseResult): ServiceDocument {
    const d = this.docs.get(uri);
    if (d && d.version === version && d.text === text) return d;
    const fresh = new ServiceDocument(text, version, parsed);
    this.docs.set(uri, fresh);
    return fresh;
  }

  delete(uri: string): void {
    this.docs.delete(uri);
  }
}
