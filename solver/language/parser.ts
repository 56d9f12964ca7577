// Recursive-descent parser with per-line error recovery.
//
// The language is line oriented: each logical line (physical lines joined by
// `\`) is one statement. A syntax error aborts only its line: it is reported
// once and parsing resumes at the next line, so ten independent mistakes give
// ten diagnostics.

import type { BinaryOperator, Diagnostic, Expr, OptionLine, OptionSetting, Range } from '../model';
import type {
  InitItem,
  MarkovStmt,
  NumberItem,
  ParamInitSyntax,
  ParamItem,
  Program,
  SchemeCoeff,
  ShapeSpec,
  Statement,
} from './ast';
import {
  type ArrayProblem,
  expandElement,
  findIndexRange,
  type IndexRange,
  indexValues,
  isArrayProblem,
} from './arrays';
import { desugarIndexedNames } from './indexedNames';
import { parseGlobal, type TokenCursor } from './globalLine';
import { expandIndexedSums, INDEX_NAME, INDEXED_SUM } from './indexedSums';
import { isNetworkFunction } from './networkFunctions';
import type { ArrayOrigin } from './vectorize';
import { Lexer, type Token } from './lexer';
import { normalizeKey } from './options';
import { diag, span, tokenRange } from './ranges';
import {
  EXPORT_REFUSAL,
  IMPORT_REFUSAL,
  includeDirectives,
  REFUSAL_CODES,
  isXppautDone,
  PHTOOLS_COMMANDS,
  PHTOOLS_REFUSAL,
  specialRefusal,
  xppautCommand,
} from './xppautCommands';
import { hasIntegral, parseIntegral, T_PRIME } from './volterraSyntax';

/** Deepest expression nesting accepted (guards the recursion of every later pass). */
const MAX_NESTING = 200;
/** Largest dimension accepted in a declared shape. */
const MAX_DIM = 1_000_000;

class ParseError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

const PARAM_KEYWORDS = new Set(['param', 'params', 'par', 'pars', 'p', 'parameter', 'parameters']);
const INIT_KEYWORDS = new Set(['init', 'i']);
const NUMBER_KEYWORDS = new Set(['number', 'num', 'n']);
const AUX_KEYWORDS = new Set(['aux', 'a']);
const DONE_KEYWORDS = new Set(['done', 'd']);
/** XPPAUT's algebraic variable of a DAE (it reads any word starting with `so`: xppautCommands.ts). */
const SOLVE_KEYWORDS = new Set(['solv', 'solve']);

const OR_OPS: ReadonlySet<string> = new Set(['|']);
const AND_OPS: ReadonlySet<string> = new Set(['&']);
const COMPARISON_OPS: ReadonlySet<string> = new Set(['<', '>', '<=', '>=', '==', '!=']);

/** Recognised constructs that this release does not support: keyword → [severity, message]. */
const UNSUPPORTED: ReadonlyMap<string, ['error' | 'warning' | 'information', string]> = new Map(
  Object.entries({
    special: [
      'error',
      'This `special` function is not supported by ODE Lens (it runs conv, sparse, fconv, fsparse, mmult, fmmult, delmmult, delsparse and findext)',
    ],
    // XPPAUT spells boundary conditions `bdry`, `bndry` or `b`; a fixed-step check solves the initial-value problem.
    ...Object.fromEntries(
      ['bdry', 'bndry', 'b'].map((k) => [
        k,
        [
          'information',
          `Boundary conditions (\`${k}\`) are ignored: ODE Lens checks the initial-value problem from the initial values`,
        ],
      ]),
    ),
    set: ['information', 'Named parameter sets (`set`) are ignored by ODE Lens'],
    only: ['information', 'Output selection (`only`) is ignored by ODE Lens'],
    option: ['warning', 'Option files (`option`) are ignored by ODE Lens; use `@` lines'],
    options: ['warning', 'Option files (`options`) are ignored by ODE Lens; use `@` lines'],
    export: ['error', EXPORT_REFUSAL],
    ...Object.fromEntries(PHTOOLS_COMMANDS.map((k) => [k, ['error', PHTOOLS_REFUSAL]])),
    import: ['error', IMPORT_REFUSAL],
  }) as [string, ['error' | 'warning' | 'information', string]][],
);

/** A keyword the parser reads at the start of a line. */
function isKeyword(w: string): boolean {
  return (
    w === 'state' ||
    w === 'data' ||
    w === 'scheme' ||
    w === 'loss' ||
    w === 'markov' ||
    PARAM_KEYWORDS.has(w) ||
    INIT_KEYWORDS.has(w) ||
    NUMBER_KEYWORDS.has(w) ||
    DONE_KEYWORDS.has(w) ||
    AUX_KEYWORDS.has(w) ||
    SOLVE_KEYWORDS.has(w) ||
    VOLTERRA_KEYWORDS.has(w) ||
    UNSUPPORTED.has(w)
  );
}

/** Unsupported constructs whose second word is the name they declare. */
const DECLARING_UNSUPPORTED = new Set(['special', ...PHTOOLS_COMMANDS]);
/** XPPAUT's integral equation `volt u = …` (also `volterra`, and `v` before a name and `=`). */
const VOLTERRA_KEYWORDS = new Set(['volterra', 'volt']);
/** Unsupported constructs that declare a list of names. */
const LIST_DECLARING = new Set<string>(PHTOOLS_COMMANDS);
/** XPPAUT reads any command word starting with `w` as `wiener`; `w` alone is the usual abbreviation. */
const WIENER_KEYWORDS = new Set(['wiener', 'w']);
/** Most states of a Markov variable (XPPAUT's `add_markov` holds 50). */
const MAX_MARKOV_STATES = 50;

/** A `markov` line whose transition table is being read from the `{…}` lines after it. */
interface MarkovTable {
  /** Undefined when the `markov` line itself was broken (its rows are read and dropped). */
  stmt?: MarkovStmt;
  entries: Expr[];
  /** A row line was broken (already reported): the entry count is not judged. */
  broken: boolean;
}

export interface ParseResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** Source lines expanded element by element (XPPAUT arrays): one diagnostic there can stand for many elements. */
  arrayLines?: number[];
  /** For each statement an array line expanded: that line, the base name, and j (for vectorize.ts). */
  arrayOrigins?: Map<Statement, ArrayOrigin>;
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of file';
    case 'string':
      return 'a string';
    default:
      return `'${t.text}'`;
  }
}

export function parse(text: string): ParseResult {
  const result = new Parser(text).run();
  if (text.includes('#include')) result.diagnostics.push(...includeDirectives(text));
  return result;
}

class Parser {
  private readonly lexer: Lexer;
  /** Tokens of the current logical line, ending with a `newline` or `eof` token. */
  private toks: Token[] = [];
  private pos = 0;
  private depth = 0;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly statements: Statement[] = [];
  private readonly arrayLines = new Set<number>();
  private readonly refusedReads = new Set<string>();
  /** Names on ignored (information) lines → the keyword of the first such line. */
  private readonly ignoredReads = new Map<string, string>();
  private readonly arrayOrigins = new Map<Statement, ArrayOrigin>();
  /** After a `markov` line: its transition table, read from the `{…}` lines that follow. */
  private markov: MarkovTable | undefined;
  /** Inside the `of(…)` of an indexed sum, where `i'` is its index. */
  private inIndexedSum = false;
  /** Inside an integral's braces, where `t'` is the time of integration. */
  private inIntegral = false;

  constructor(private readonly text: string) {
    this.lexer = new Lexer(text);
  }

  run(): ParseResult {
    for (;;) {
      const toks = this.lexer.nextLine();
      const last = toks[toks.length - 1];
      if (toks.length === 1 && last.kind === 'eof') break;
      let done: boolean;
      if (this.isPunct(toks[0], '%')) done = this.arrayBlock(toks);
      else if (this.isPunct(toks[0], '@'))
        done = this.parseLine(toks); // option values are kept verbatim
      else done = this.arrayLine(toks);
      if (done || last.kind === 'eof') break;
    }
    this.endMarkovTable();
    expandIndexedSums(this.statements, this.diagnostics);
    desugarIndexedNames(this.statements);
    return {
      program: {
        statements: this.statements,
        refusedReads: [...this.refusedReads],
        ignoredReads: [...this.ignoredReads],
      },
      diagnostics: this.diagnostics,
      arrayLines: [...this.arrayLines],
      arrayOrigins: this.arrayOrigins,
    };
  }

  /** Parses one logical line's tokens. Returns true at `done`. */
  private parseLine(toks: Token[]): boolean {
    this.toks = toks;
    this.pos = 0;
    try {
      return this.statement();
    } catch (e) {
      if (e instanceof ParseError) {
        this.diagnostics.push(e.diagnostic);
        this.recordBroken(0);
        this.recordReads();
        return false;
      }
      throw e;
    }
  }

  /** What a refused line declares stays known; an equation's state too, so its initial value is no error. */
  private declareRefused(): void {
    const first = this.toks[0];
    const t1 = this.toks[1];
    if (first.kind === 'ident' && this.isPunct(t1, "'")) {
      this.statements.push({
        kind: 'opaque',
        keyword: 'equation',
        name: first.text,
        nameRange: tokenRange(first),
        range: this.wholeLine(first),
      });
      return;
    }
    this.recordBroken(0);
  }

  /** A line that may hold an XPPAUT index range `[i1..i2]`: one statement per element. */
  private arrayLine(toks: Token[]): boolean {
    const range = findIndexRange(toks);
    if (range === undefined) return this.parseLine(toks);
    if (isArrayProblem(range)) return this.arrayProblem(range);
    return this.expandElements(toks, indexValues(range), range);
  }

  /** `%[i1..i2]` … `%`: the lines between are repeated for each j. */
  private arrayBlock(open: Token[]): boolean {
    const range = findIndexRange(open);
    const opensBlock = range !== undefined && !isArrayProblem(range) && range.open === 1 && open.length === 7;
    if (!opensBlock) {
      if (range === undefined && open.length === 2) {
        this.diagnostics.push(
          diag(
            'syntax-error',
            'error',
            "This '%' closes an XPPAUT array block, but none is open; a block starts with %[i1..i2]",
            tokenRange(open[0]),
          ),
        );
        return false;
      }
      return this.arrayProblem(
        isArrayProblem(range)
          ? range
          : {
              range: this.lineRangeOf(open),
              message:
                'An XPPAUT array block starts with a line %[i1..i2] alone, e.g. %[1..10], and ends with a line %',
            },
      );
    }
    const body: Token[][] = [];
    let closed = false;
    for (;;) {
      const toks = this.lexer.nextLine();
      if (toks.length === 1 && toks[0].kind === 'eof') break;
      if (this.isPunct(toks[0], '%')) {
        closed = true;
        break;
      }
      body.push(toks);
    }
    if (!closed) {
      this.diagnostics.push(
        diag(
          'syntax-error',
          'error',
          'This XPPAUT array block is not closed: end it with a line holding only %',
          this.lineRangeOf(open),
        ),
      );
    }
    const values = indexValues(range);
    // Element by element, each line of the block in turn (XPPAUT's order).
    const reported = new Set<number>();
    for (const j of values) {
      for (const toks of body) {
        if (this.expandOne(toks, j, undefined, reported)) return true;
      }
    }
    return false;
  }

  private expandElements(toks: Token[], values: number[], range: IndexRange): boolean {
    const reported = new Set<number>();
    for (const j of values) if (this.expandOne(toks, j, range, reported)) return true;
    return false;
  }

  /**
   * Parses element j of an array line. Only the first element with a problem
   * reports it (the others repeat the same mistake); all still declare their names.
   */
  private expandOne(toks: Token[], j: number, range: IndexRange | undefined, reported: Set<number>): boolean {
    const key = toks[0].offset;
    for (const t of toks) this.arrayLines.add(t.line);
    const { tokens, problem } = expandElement(toks, j, range);
    const before = this.diagnostics.length;
    let done = false;
    if (problem) {
      this.diagnostics.push(diag('syntax-error', 'error', problem.message, problem.range));
      this.toks = tokens;
      this.pos = 0;
      this.declareRefused();
    } else {
      const first = this.statements.length;
      done = this.parseLine(tokens);
      const base = toks[0].kind === 'ident' && this.isPunct(toks[1], '[') ? toks[0].text : undefined;
      for (let i = first; i < this.statements.length; i++)
        this.arrayOrigins.set(this.statements[i], { line: key, base, j });
    }
    if (this.diagnostics.length > before) {
      if (reported.has(key)) this.diagnostics.length = before;
      reported.add(key);
    }
    return done;
  }

  private arrayProblem(problem: ArrayProblem): boolean {
    this.diagnostics.push(diag('syntax-error', 'error', problem.message, problem.range));
    return false;
  }

  private lineRangeOf(toks: Token[]): Range {
    const body = toks.filter((t) => t.kind !== 'newline' && t.kind !== 'eof');
    return body.length === 0 ? tokenRange(toks[0]) : span(tokenRange(body[0]), tokenRange(body[body.length - 1]));
  }

  // ---- token helpers -------------------------------------------------------

  private peek(k = 0): Token {
    const i = this.pos + k;
    return i < this.toks.length ? this.toks[i] : this.toks[this.toks.length - 1];
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }
  private isPunct(t: Token, s: string): boolean {
    return t.kind === 'punct' && t.text === s;
  }
  private atLineEnd(): boolean {
    const k = this.peek().kind;
    return k === 'newline' || k === 'eof';
  }
  private fail(range: Range, message: string, code: Diagnostic['code'] = 'syntax-error'): never {
    throw new ParseError(diag(code, 'error', message, range));
  }
  private expectPunct(s: string, context: string): Token {
    const t = this.peek();
    if (!this.isPunct(t, s)) this.fail(tokenRange(t), `Expected '${s}' ${context}, found ${describe(t)}`);
    return this.next();
  }
  private expectIdent(context: string): Token {
    const t = this.peek();
    if (t.kind !== 'ident') this.fail(tokenRange(t), `Expected a name ${context}, found ${describe(t)}`);
    return this.next();
  }
  private expectLineEnd(context: string): void {
    const t = this.peek();
    if (t.kind === 'newline' || t.kind === 'eof') return;
    this.fail(tokenRange(t), `Unexpected ${describe(t)} ${context}`);
  }
  /** Range from the first token of the current line up to the token before `pos`. */
  private lineRangeFrom(first: Token): Range {
    const last = this.toks[Math.max(this.pos - 1, 0)];
    return span(tokenRange(first), tokenRange(last));
  }
  /** The whole logical line starting at `first` (without consuming it). */
  private wholeLine(first: Token): Range {
    let i = this.pos;
    while (i < this.toks.length && this.toks[i].kind !== 'newline' && this.toks[i].kind !== 'eof') i++;
    const last = this.toks[Math.max(i - 1, 0)];
    return span(tokenRange(first), tokenRange(last.offset >= first.offset ? last : first));
  }

  // ---- statements ----------------------------------------------------------

  /** Parses one logical line. Returns true at `done`. */
  private statement(): boolean {
    const first = this.peek();
    if (first.kind === 'newline') return false;
    if (this.markov && this.isPunct(first, '{')) {
      this.markovRow(this.markov);
      return false;
    }
    this.endMarkovTable();

    if (first.kind === 'punct') {
      this.punctuationLine(first);
      return false;
    }
    if (first.kind === 'string') {
      // XPPAUT action comments (`" …`): text for the XPPAUT GUI, ignored.
      return false;
    }
    if (first.kind === 'number' && first.value === 0 && this.isPunct(this.peek(1), '=')) {
      this.algebraicLine(first);
      return false;
    }
    if (first.kind !== 'ident') this.unexpectedLineStart(first);
    if (this.formulaLine(first)) return false;
    return this.keywordLine(first);
  }

  private unexpectedLineStart(first: Token): never {
    this.fail(
      tokenRange(first),
      `Unexpected ${describe(first)} at the start of a line; expected a declaration, an equation such as x' = …, or options @ …`,
    );
  }

  /** A line starting with punctuation: options `@ …`, a derived parameter `!d = …`. */
  private punctuationLine(first: Token): void {
    switch (first.text) {
      case '@':
        this.optionsLine();
        return;
      case '{':
        this.fail(
          tokenRange(first),
          'A line of {formula} entries is a row of a Markov transition table: it belongs right after its `markov NAME NSTATES` line or the rows before it',
        );
        break;
      case '!':
        // XPPAUT derived parameter `!d = 1/(h*h)`: a quantity computed from the parameters, which is
        // what a fixed quantity is for a fixed-step solve (constant in time, differentiable in them).
        if (this.peek(1).kind === 'ident' && this.isPunct(this.peek(2), '=')) {
          this.next();
          this.fixed();
          return;
        }
        this.fail(tokenRange(first), 'A derived parameter reads !name = formula, e.g. !d = 1/(h*h)');
    }
    this.unexpectedLineStart(first);
  }

  /**
   * A line told by the token after its first name: `loss = …`, an equation (`x' = …`, `dx/dt = …`),
   * a `name(…)` line, a fixed quantity `name = …`. False when it is none of these.
   */
  private formulaLine(first: Token): boolean {
    const lw = first.text.toLowerCase();
    const second = this.peek(1);
    if (lw === 'loss' && this.isPunct(second, '=')) this.loss();
    else if (this.isPunct(second, "'")) this.equation();
    else if (this.isPunct(second, '/') && lw.length > 1 && lw[0] === 'd' && this.isIdent(this.peek(2), 'dt'))
      this.equation();
    else if (this.isPunct(second, '(') && !(second.spaceBefore && isKeyword(lw))) {
      // XPPAUT reads `b (x'-eps)` (a space before the parenthesis) as the command `b`, `f(x) = …` as a function.
      if (this.isMapLine()) this.mapLine(first);
      else this.parenLine();
    } else if (this.isPunct(second, '=')) this.fixed();
    else return false;
    return true;
  }

  private isIdent(t: Token, lowerCase: string): boolean {
    return t.kind === 'ident' && t.text.toLowerCase() === lowerCase;
  }

  /** `x(t+1) = …`: an equation of a map (difference equation); it makes the model a map (solver/language/maps.ts). */
  private mapLine(first: Token): void {
    this.pos += 6; // x ( t + 1 )
    this.expectPunct('=', `in the map for ${first.text} (it reads ${first.text}(t+1) = expression)`);
    const rhs = this.expr();
    this.expectLineEnd('after the map; expected an operator');
    this.statements.push({
      kind: 'equation',
      state: first.text,
      stateRange: tokenRange(first),
      rhs,
      range: this.lineRangeFrom(first),
      map: true,
    });
  }

  /** `volt u = …`: an integral equation (u is the formula, which holds integrals or reads u's own past). */
  private volterraLine(first: Token): void {
    this.next();
    const name = this.expectIdent(`after '${first.text}' (it reads ${first.text} u = formula)`);
    this.expectPunct('=', `after ${first.text} ${name.text}`);
    const rhs = this.expr();
    this.expectLineEnd('after the integral equation; expected an operator');
    this.statements.push({
      kind: 'equation',
      state: name.text,
      stateRange: tokenRange(name),
      rhs,
      range: this.lineRangeFrom(first),
      volterra: true,
    });
  }

  /** A line starting with a keyword (`state`, `par`, `init`, `done`, …). Returns true at `done`. */
  private keywordLine(first: Token): boolean {
    const lw = xppautCommand(first.text, this.peek(1), isKeyword) ?? first.text.toLowerCase();
    if (lw === 'state') this.stateDecl();
    else if (PARAM_KEYWORDS.has(lw)) this.paramDecl();
    else if (INIT_KEYWORDS.has(lw)) this.initDecl();
    else if (NUMBER_KEYWORDS.has(lw)) this.numberDecl();
    else if (DONE_KEYWORDS.has(lw) || isXppautDone(lw, this.peek(1))) {
      this.next();
      if (!DONE_KEYWORDS.has(lw))
        this.diagnostics.push(
          diag(
            'xppaut-done',
            'information',
            `XPPAUT reads '${first.text}' as \`done\` (a command starting with d ends the file): the lines after it are not read`,
            tokenRange(first),
          ),
        );
      this.statements.push({ kind: 'done', range: tokenRange(first) });
      return true;
    } else if (AUX_KEYWORDS.has(lw)) this.aux();
    else if (SOLVE_KEYWORDS.has(lw)) this.solveDecl();
    else if (
      VOLTERRA_KEYWORDS.has(lw) ||
      (lw === 'v' && this.peek(1).kind === 'ident' && this.isPunct(this.peek(2), '='))
    )
      this.volterraLine(first);
    else if (lw === 'data') this.dataDecl();
    else if (lw === 'scheme') this.schemeDecl();
    else if (lw === 'global') this.statements.push(parseGlobal(this.cursor()));
    else if (lw === 'table' || lw === 'tabular') this.tableDecl();
    else if (WIENER_KEYWORDS.has(lw)) this.wienerDecl();
    else if (lw === 'markov') this.markovDecl();
    else if (lw === 'special' && isNetworkFunction(this.peek(3))) this.specialDecl();
    else if (UNSUPPORTED.has(lw)) this.unsupportedLine(first, lw);
    else {
      const second = this.peek(1);
      if (lw === 'loss') this.fail(tokenRange(second), `Expected '=' after 'loss', found ${describe(second)}`);
      this.fail(
        tokenRange(first),
        `Unrecognised line starting with '${first.text}': expected a declaration (state, param, init, …), an equation such as ${first.text}' = …, or options @ …`,
      );
    }
    return false;
  }

  /** The token cursor and expression parser, for line readers in their own files (globalLine.ts). */
  private cursor(): TokenCursor {
    return {
      peek: (k) => this.peek(k),
      next: () => this.next(),
      isPunct: (t, s) => this.isPunct(t, s),
      expr: () => this.expr(),
      fail: (range, message) => this.fail(range, message),
    };
  }

  /** An XPPAUT construct ODE Lens does not run: reported; the names it declares become opaque names. */
  private unsupportedLine(first: Token, lw: string): void {
    const own = lw === 'special' ? specialRefusal(this.peek(3)) : undefined;
    const [severity, message] = own ? (['error', own[1]] as const) : UNSUPPORTED.get(lw)!;
    const second = this.peek(1);
    this.unsupported(first, severity, message, own?.[0] ?? REFUSAL_CODES.get(lw));
    if (DECLARING_UNSUPPORTED.has(lw) && second.kind === 'ident') {
      // The names it declares are known, so later uses are not reported again.
      const declared = LIST_DECLARING.has(lw) ? this.toks.slice(1).filter((t) => t.kind === 'ident') : [second];
      for (const d of declared)
        this.statements.push({
          kind: 'opaque',
          keyword: lw,
          name: d.text,
          nameRange: tokenRange(d),
          range: this.wholeLine(first),
        });
    }
  }

  /** `x(t+1) = …`: an XPPAUT map (difference equation). */
  private isMapLine(): boolean {
    const [t, plus, one, close, eq] = [this.peek(2), this.peek(3), this.peek(4), this.peek(5), this.peek(6)];
    return (
      t.kind === 'ident' &&
      t.text.toLowerCase() === 't' &&
      this.isPunct(plus, '+') &&
      one.kind === 'number' &&
      one.value === 1 &&
      this.isPunct(close, ')') &&
      this.isPunct(eq, '=')
    );
  }

  /** The names on a refused or broken line, which count as read (Program.refusedReads). */
  private recordReads(): void {
    for (const t of this.toks) if (t.kind === 'ident') this.refusedReads.add(t.text.toLowerCase());
  }

  /** After a syntax error: remember what the line declared (see BrokenStmt). */
  private recordBroken(lineStart: number): void {
    const t0 = this.toks[lineStart];
    const t1 = this.toks[lineStart + 1];
    const t2 = this.toks[lineStart + 2];
    if (!t0 || t0.kind !== 'ident' || !t1) return;
    const lw = t0.text.toLowerCase();
    const range = tokenRange(t0);
    if (lw === 'loss') {
      this.statements.push({ kind: 'broken', isLoss: true, range });
      return;
    }
    if (this.isPunct(t1, "'")) {
      this.statements.push({ kind: 'broken', equationFor: t0.text, range });
      return;
    }
    if (this.isPunct(t1, '/') && lw[0] === 'd' && t2?.kind === 'ident' && t2.text.toLowerCase() === 'dt') {
      this.statements.push({ kind: 'broken', equationFor: t0.text.slice(1), range });
      return;
    }
    if (this.isPunct(t1, '=')) {
      this.statements.push({ kind: 'broken', declares: { keyword: 'fixed', name: t0.text, nameRange: range }, range });
      return;
    }
    if (this.isPunct(t1, '(')) {
      if (t2?.kind === 'number') return; // x(0) = …
      const t3 = this.toks[lineStart + 3];
      if (t2 && this.isIdent(t2, 't') && t3 && this.isPunct(t3, '+')) {
        this.statements.push({ kind: 'broken', equationFor: t0.text, range }); // x(t+1) = …
        return;
      }
      this.statements.push({
        kind: 'broken',
        declares: { keyword: 'function', name: t0.text, nameRange: range },
        range,
      });
      return;
    }
    if (
      t1.kind === 'ident' &&
      (lw === 'state' ||
        lw === 'data' ||
        lw === 'scheme' ||
        lw === 'markov' ||
        PARAM_KEYWORDS.has(lw) ||
        NUMBER_KEYWORDS.has(lw) ||
        AUX_KEYWORDS.has(lw))
    ) {
      this.statements.push({
        kind: 'broken',
        declares: { keyword: lw === 'state' ? 'state' : lw, name: t1.text, nameRange: tokenRange(t1) },
        range,
      });
    }
  }

  private unsupported(
    first: Token,
    severity: 'error' | 'warning' | 'information',
    message: string,
    code: Diagnostic['code'] = 'unsupported',
  ): void {
    this.diagnostics.push(diag(code, severity, message, this.wholeLine(first)));
    this.recordReads();
    if (severity === 'information' && first.kind === 'ident')
      for (const t of this.toks.slice(1))
        if (t.kind === 'ident' && !this.ignoredReads.has(t.text.toLowerCase()))
          this.ignoredReads.set(t.text.toLowerCase(), first.text.toLowerCase());
  }

  private stateDecl(): void {
    const kw = this.next();
    const firstIndex = this.statements.length;
    for (;;) {
      const name = this.expectIdent("after 'state'");
      const shape = this.isPunct(this.peek(), '[') ? this.shapeSpec() : undefined;
      this.statements.push({
        kind: 'state',
        name: name.text,
        nameRange: tokenRange(name),
        shape,
        range: span(tokenRange(name), tokenRange(this.toks[this.pos - 1])),
      });
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        continue;
      }
      if (this.peek().kind === 'ident') continue;
      break;
    }
    this.expectLineEnd('after the state declaration');
    // A single declaration covers the whole line.
    const last = this.statements[this.statements.length - 1];
    if (last.kind === 'state' && this.statements.length === firstIndex + 1) last.range = this.lineRangeFrom(kw);
  }

  private shapeSpec(): ShapeSpec {
    const open = this.next();
    const dims: number[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'number' || t.value === undefined)
        this.fail(tokenRange(t), `Expected a dimension (a whole number) in the shape, found ${describe(t)}`);
      if (!Number.isInteger(t.value) || t.value < 1)
        this.fail(tokenRange(t), `A dimension must be a whole number ≥ 1, found '${t.text}'`, 'invalid-shape');
      if (t.value > MAX_DIM)
        this.fail(tokenRange(t), `Dimension ${t.text} is too large (at most ${MAX_DIM})`, 'invalid-shape');
      dims.push(t.value);
      this.next();
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        continue;
      }
      break;
    }
    const close = this.expectPunct(']', 'to close the shape');
    return { dims, range: span(tokenRange(open), tokenRange(close)) };
  }

  private paramDecl(): void {
    const kw = this.next();
    const items: ParamItem[] = [];
    for (;;) {
      const name = this.expectIdent(`after '${kw.text}'`);
      const shape = this.isPunct(this.peek(), '[') ? this.shapeSpec() : undefined;
      let perStep = false;
      const t = this.peek();
      if (t.kind === 'ident') {
        const lw = t.text.toLowerCase();
        if (
          lw === 'per' &&
          this.isPunct(this.peek(1), '-') &&
          !this.peek(1).spaceBefore &&
          this.peek(2).kind === 'ident' &&
          this.peek(2).text.toLowerCase() === 'step' &&
          !this.peek(2).spaceBefore
        ) {
          this.pos += 3;
          perStep = true;
        } else if (lw === 'per_step' || lw === 'perstep') {
          this.pos++;
          perStep = true;
        } else if (lw === 'shared') {
          this.pos++;
        }
      }
      let init: ParamInitSyntax | undefined;
      const op = this.peek();
      if (this.isPunct(op, '~')) {
        this.next();
        const dist = this.expectIdent("after '~' (a distribution such as normal(0, 0.1))");
        if (dist.text.toLowerCase() !== 'normal')
          this.fail(tokenRange(dist), `Unknown distribution '${dist.text}'; only normal(mean, std) is supported`);
        this.expectPunct('(', "after 'normal'");
        const mean = this.expr();
        this.expectPunct(',', 'between the mean and the standard deviation');
        const std = this.expr();
        const close = this.expectPunct(')', 'to close normal(mean, std)');
        init = { kind: 'normal', mean, std, range: span(tokenRange(op), tokenRange(close)) };
      } else if (this.isPunct(op, '=')) {
        this.next();
        const value = this.expr();
        init = { kind: 'value', value, range: span(tokenRange(op), value.range) };
      } else if (!shape && (this.isPunct(op, ',') || op.kind === 'ident' || this.atLineEnd())) {
        // XPPAUT: a parameter without `=` and a value is set to zero.
        init = { kind: 'value', value: { kind: 'number', value: 0, range: tokenRange(name) }, range: tokenRange(name) };
      } else {
        this.fail(
          tokenRange(op),
          `Expected '~ normal(mean, std)' or '= value' after parameter '${name.text}', found ${describe(op)}`,
        );
      }
      items.push({
        name: name.text,
        nameRange: tokenRange(name),
        shape,
        perStep,
        init,
        range: span(tokenRange(name), tokenRange(this.toks[this.pos - 1])),
      });
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        if (this.atLineEnd()) break;
        continue;
      } // a trailing comma ends the list
      if (this.peek().kind === 'ident') continue; // XPPAUT: `par a=1  b=2`
      break;
    }
    this.expectLineEnd('after the parameter declaration');
    const range = this.lineRangeFrom(kw);
    if (items.length === 1) items[0].range = range;
    this.statements.push({ kind: 'param', keyword: kw.text, items, range });
  }

  private initDecl(): void {
    const kw = this.next();
    const items: InitItem[] = [];
    for (;;) {
      const name = this.expectIdent(`after '${kw.text}'`);
      if (
        this.isPunct(this.peek(), '(') &&
        this.peek(1).kind === 'number' &&
        this.peek(1).value === 0 &&
        this.isPunct(this.peek(2), ')')
      )
        this.pos += 3;
      let value: Expr;
      if (this.isPunct(this.peek(), '=')) {
        this.next();
        value = this.expr();
      } else if (this.isPunct(this.peek(), ',') || this.peek().kind === 'ident' || this.atLineEnd()) {
        // XPPAUT: an initial value without `=` and a value is zero.
        value = { kind: 'number', value: 0, range: tokenRange(name) };
      } else
        this.fail(
          tokenRange(this.peek()),
          `Expected '=' after '${name.text}' (init ${name.text} = value), found ${describe(this.peek())}`,
        );
      items.push({
        name: name.text,
        nameRange: tokenRange(name),
        value,
        range: span(tokenRange(name), value.range),
        form: 'init',
      });
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        if (this.atLineEnd()) break;
        continue;
      } // a trailing comma ends the list
      if (this.peek().kind === 'ident') continue; // XPPAUT: `init v=20  n=0`
      break;
    }
    this.expectLineEnd('after the initial values');
    this.statements.push({ kind: 'init', items, range: this.lineRangeFrom(kw) });
  }

  private numberDecl(): void {
    const kw = this.next();
    const items: NumberItem[] = [];
    for (;;) {
      const name = this.expectIdent(`after '${kw.text}'`);
      this.expectPunct('=', `after '${name.text}' (number ${name.text} = value)`);
      const value = this.expr();
      items.push({ name: name.text, nameRange: tokenRange(name), value, range: span(tokenRange(name), value.range) });
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        if (this.atLineEnd()) break;
        continue;
      }
      if (this.peek().kind === 'ident') continue;
      break;
    }
    this.expectLineEnd('after the numbers');
    this.statements.push({ kind: 'number', items, range: this.lineRangeFrom(kw) });
  }

  /** `0 = expr`: an algebraic equation of a DAE (the `solv` lines name its unknowns). */
  private algebraicLine(first: Token): void {
    this.pos += 2; // 0 =
    const rhs = this.expr();
    this.expectLineEnd('after the algebraic equation (it reads 0 = expression); expected an operator');
    this.statements.push({ kind: 'algebraic', rhs, range: this.lineRangeFrom(first) });
  }

  /** `solv name=guess` or `solv name`: an algebraic variable of a DAE, with its first Newton guess (default 0). */
  private solveDecl(): void {
    const kw = this.next();
    const name = this.expectIdent(`after '${kw.text}' (it reads ${kw.text} name=guess)`);
    let guess: Expr | undefined;
    if (this.isPunct(this.peek(), '=')) {
      this.next();
      guess = this.expr();
    }
    this.expectLineEnd(`after the algebraic variable ${name.text} (it reads ${kw.text} ${name.text}=guess)`);
    this.statements.push({
      kind: 'solve',
      name: name.text,
      nameRange: tokenRange(name),
      ...(guess ? { guess } : {}),
      range: this.lineRangeFrom(kw),
    });
  }

  private aux(): void {
    const kw = this.next();
    const first = this.expectIdent(`after '${kw.text}'`);
    // XPPAUT aux names are output column labels and may hold dots and parentheses (`aux P.E.=pe`,
    // `aux Glucose(mM)=G*1000`): XPPAUT takes everything up to the `=`.
    let last = first;
    while (
      !this.atLineEnd() &&
      !this.isPunct(this.peek(), '=') &&
      !this.peek().spaceBefore &&
      (this.isPunct(this.peek(), '.') ||
        this.isPunct(this.peek(), '..') ||
        this.isPunct(this.peek(), '(') ||
        this.isPunct(this.peek(), ')') ||
        this.peek().kind === 'ident' ||
        this.peek().kind === 'number')
    )
      last = this.next();
    const nameRange = span(tokenRange(first), tokenRange(last));
    const name = last === first ? first.text : this.text.slice(first.offset, last.offset + (last.end - last.col));
    this.expectPunct('=', `after '${name}' (aux ${name} = expression)`);
    const expr = this.expr();
    this.expectLineEnd('after the aux expression');
    this.statements.push({ kind: 'aux', name, nameRange, expr, range: this.lineRangeFrom(kw) });
  }

  /** `data obs = "file.csv"` */
  private dataDecl(): void {
    const kw = this.next();
    const name = this.expectIdent('after \'data\' (data NAME = "file.csv")');
    this.expectPunct('=', `after '${name.text}' (data ${name.text} = "file.csv")`);
    const p = this.peek();
    if (p.kind !== 'string')
      this.fail(
        tokenRange(p),
        `Expected the data file as a quoted path, e.g. "observations.csv", found ${describe(p)}`,
      );
    if (!p.closed) this.fail(tokenRange(p), 'The file name is missing its closing quote "');
    this.next();
    this.expectLineEnd('after the data file name');
    this.statements.push({
      kind: 'data',
      name: name.text,
      nameRange: tokenRange(name),
      path: p.text.slice(1, -1),
      pathRange: tokenRange(p),
      range: this.lineRangeFrom(kw),
    });
  }

  /** `table NAME % npts xlo xhi formula` (the formula of t), or `table NAME file.tab` (a quoted or bare path). */
  private tableDecl(): void {
    const kw = this.next();
    const name = this.expectIdent("after 'table' (table NAME % npts xlo xhi formula, or table NAME file.tab)");
    const p = this.peek();
    if (this.isPunct(p, '%')) {
      this.next();
      const npts = this.unary();
      const xlo = this.unary();
      const xhi = this.unary();
      const formula = this.expr();
      this.expectLineEnd('after the formula of the table');
      this.statements.push({
        kind: 'table',
        name: name.text,
        nameRange: tokenRange(name),
        source: { kind: 'formula', npts, xlo, xhi, formula },
        range: this.lineRangeFrom(kw),
      });
      return;
    }
    if (this.atLineEnd() || this.isPunct(p, '@') || (p.kind === 'ident' && /^(conv|sparse)$/i.test(p.text))) {
      // Two-variable tables (`@ file`) and the old network forms: reported, the name stays known.
      if (!this.atLineEnd()) {
        this.unsupported(kw, 'error', `This form of \`table\` (\`${p.text}\`) is not supported by ODE Lens`);
        this.statements.push({
          kind: 'opaque',
          keyword: 'table',
          name: name.text,
          nameRange: tokenRange(name),
          range: this.wholeLine(kw),
        });
        return;
      }
      this.fail(tokenRange(p), `Expected '%' or a file name after 'table ${name.text}', found ${describe(p)}`);
    }
    // The path: a string, or the raw text of the rest of the line (XPPAUT writes it bare: w.tab).
    const rest = this.toks.slice(this.pos).filter((t) => t.kind !== 'newline' && t.kind !== 'eof');
    const last = rest[rest.length - 1];
    const quoted = rest.length === 1 && p.kind === 'string';
    const path = quoted ? p.text.slice(1, -1) : this.text.slice(p.offset, last.offset + last.end - last.col);
    this.pos += rest.length;
    this.statements.push({
      kind: 'table',
      name: name.text,
      nameRange: tokenRange(name),
      source: { kind: 'file', path, pathRange: span(tokenRange(p), tokenRange(last)) },
      range: this.lineRangeFrom(kw),
    });
  }

  /** `special NAME = conv(…)` and the other network functions of special.ts. */
  private specialDecl(): void {
    const kw = this.next();
    const name = this.expectIdent("after 'special'");
    this.expectPunct('=', `after 'special ${name.text}'`);
    const call = this.expr();
    this.expectLineEnd('after the special function');
    if (call.kind !== 'call') this.fail(call.range, 'Expected a network function such as conv(…) after =');
    this.statements.push({
      kind: 'special',
      name: name.text,
      nameRange: tokenRange(name),
      call,
      range: this.lineRangeFrom(kw),
    });
  }

  /** `wiener w1, w2` (or `w w1 w2`): one statement per name. */
  private wienerDecl(): void {
    const kw = this.next();
    const range = this.wholeLine(kw);
    do {
      const name = this.expectIdent(`after '${kw.text}' (wiener NAME, …)`);
      this.statements.push({ kind: 'wiener', name: name.text, nameRange: tokenRange(name), range });
      if (this.isPunct(this.peek(), ',')) this.next();
    } while (!this.atLineEnd());
  }

  /** `markov z 2`: a Markov variable with 2 states; its transition table is on the lines after it (markovRow). */
  private markovDecl(): void {
    const kw = this.next();
    const table: MarkovTable = { entries: [], broken: false };
    this.markov = table; // a broken `markov` line still owns its rows
    const name = this.expectIdent(`after '${kw.text}' (markov NAME NSTATES)`);
    if (this.arrayLines.has(kw.line))
      this.fail(
        this.wholeLine(kw),
        'An array of Markov variables (`markov z[i1..i2] n`, one table with [j] in it) is not supported: declare each Markov variable on its own `markov` line with its own table',
        'unsupported-markov',
      );
    const n = this.peek();
    const states = n.kind === 'number' ? (n.value ?? Number.NaN) : Number.NaN;
    if (!Number.isInteger(states) || states < 1 || states > MAX_MARKOV_STATES)
      this.fail(
        tokenRange(n),
        `Expected the number of states of ${name.text} after it, a whole number from 1 to ${MAX_MARKOV_STATES}, found ${describe(n)}`,
      );
    this.next();
    this.expectLineEnd(`after markov ${name.text} ${n.text}`);
    const stmt: MarkovStmt = {
      kind: 'markov',
      name: name.text,
      nameRange: tokenRange(name),
      states,
      rows: [],
      range: this.lineRangeFrom(kw),
    };
    this.statements.push(stmt);
    table.stmt = stmt;
  }

  /**
   * One line of a Markov variable's transition table: a whole row (NSTATES `{formula}` entries, the layout of
   * XPPAUT's documentation) or a single entry (entries in row order, one a line). A row may not start inside
   * another row, so the two layouts are never confused.
   */
  private markovRow(table: MarkovTable): void {
    const first = this.peek();
    const entries: Expr[] = [];
    try {
      while (!this.atLineEnd()) {
        this.expectPunct('{', 'before the next entry of the transition table ({formula})');
        entries.push(this.expr());
        this.expectPunct('}', 'to close the entry of the transition table');
      }
      const stmt = table.stmt;
      if (!stmt) return;
      const n = stmt.states;
      const have = table.entries.length;
      const line = this.lineRangeFrom(first);
      if (have + entries.length > n * n)
        this.fail(
          line,
          `The transition table of markov ${stmt.name} is complete (${n} rows of ${n} {formula} entries): this line is one too many`,
          'invalid-markov',
        );
      if (entries.length !== 1 && !(entries.length === n && have % n === 0))
        this.fail(
          line,
          `A line of the transition table of markov ${stmt.name} holds one row (${n} {formula} entries) or one entry; this one has ${entries.length}${entries.length === n ? ' and starts inside a row' : ''}`,
          'invalid-markov',
        );
      table.entries.push(...entries);
    } catch (e) {
      table.broken = true;
      throw e;
    }
  }

  /** At the first line after a transition table: its rows, or the diagnostic for a table of the wrong size. */
  private endMarkovTable(): void {
    const table = this.markov;
    this.markov = undefined;
    const stmt = table?.stmt;
    if (!stmt || table.broken) return;
    const n = stmt.states;
    if (table.entries.length === n * n) {
      for (let i = 0; i < n; i++) stmt.rows.push(table.entries.slice(i * n, (i + 1) * n));
      return;
    }
    this.diagnostics.push(
      diag(
        'invalid-markov',
        'error',
        `markov ${stmt.name} ${n} needs its transition table on the lines after it: ${n} rows of ${n} {formula} entries (the rate from state i to state j in row i, column j; one row a line, or one entry a line), ${n * n} entries in all; it has ${table.entries.length}`,
        stmt.range,
      ),
    );
  }

  /** `scheme NAME rk a=[[…]] b=[…] c=[…]` or `scheme NAME lmm alpha=[…] beta=[…]` */
  private schemeDecl(): void {
    const kw = this.next();
    const name = this.expectIdent("after 'scheme' (scheme NAME rk a=… b=… c=…, or scheme NAME lmm alpha=… beta=…)");
    const fam = this.peek();
    const family = fam.kind === 'ident' ? fam.text.toLowerCase() : '';
    if (family !== 'rk' && family !== 'lmm') {
      this.fail(
        tokenRange(fam),
        `Expected the kind of scheme after '${name.text}': rk (Runge–Kutta) or lmm (linear multistep), found ${describe(fam)}`,
      );
    }
    this.next();
    const coeffs: SchemeCoeff[] = [];
    while (!this.atLineEnd()) {
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        continue;
      }
      const key = this.expectIdent(
        family === 'rk' ? 'of a coefficient (a=, b= or c=)' : 'of a coefficient (alpha= or beta=)',
      );
      this.expectPunct('=', `after '${key.text}'`);
      const value = this.expr();
      coeffs.push({
        key: key.text.toLowerCase(),
        keyRange: tokenRange(key),
        value,
        range: span(tokenRange(key), value.range),
      });
    }
    this.statements.push({
      kind: 'scheme',
      name: name.text,
      nameRange: tokenRange(name),
      family,
      coeffs,
      range: this.lineRangeFrom(kw),
    });
  }

  private equation(): void {
    const first = this.next();
    let state = first.text;
    let stateRange = tokenRange(first);
    if (this.isPunct(this.peek(), "'")) {
      this.next();
    } else {
      // dx/dt
      this.pos += 2;
      state = first.text.slice(1);
      stateRange = {
        start: { line: first.line, character: first.col + 1 },
        end: { line: first.line, character: first.end },
      };
    }
    this.expectPunct('=', `in the equation for ${state} (it reads ${state}' = expression)`);
    const rhs = this.expr();
    this.expectLineEnd('after the equation; expected an operator');
    this.statements.push({ kind: 'equation', state, stateRange, rhs, range: this.lineRangeFrom(first) });
  }

  private loss(): void {
    const kw = this.next();
    this.next(); // '='
    const expr = this.expr();
    this.expectLineEnd('after the loss; expected an operator');
    this.statements.push({ kind: 'loss', expr, range: this.lineRangeFrom(kw), keywordRange: tokenRange(kw) });
  }

  private fixed(): void {
    const name = this.next();
    this.next(); // '='
    const expr = this.expr();
    this.expectLineEnd('after the expression; expected an operator');
    this.statements.push({
      kind: 'fixed',
      name: name.text,
      nameRange: tokenRange(name),
      expr,
      range: this.lineRangeFrom(name),
    });
  }

  /** `x(0) = …` (initial value) or `f(a, b) = …` (user function). */
  private parenLine(): void {
    const name = this.next();
    const open = this.next();
    const a = this.peek();
    if (a.kind === 'number' && this.isPunct(this.peek(1), ')')) {
      if (a.value !== 0)
        this.fail(
          tokenRange(a),
          `Expected ${name.text}(0) = value for an initial value, found ${name.text}(${a.text})`,
        );
      this.pos += 2;
      this.expectPunct('=', `after ${name.text}(0)`);
      const value = this.expr();
      this.expectLineEnd('after the initial value');
      const range = this.lineRangeFrom(name);
      this.statements.push({
        kind: 'init',
        items: [{ name: name.text, nameRange: tokenRange(name), value, range, form: 'x(0)' }],
        range,
      });
      return;
    }
    const params: string[] = [];
    const paramRanges: Range[] = [];
    if (!this.isPunct(a, ')')) {
      for (;;) {
        const p = this.expectIdent(`as an argument of ${name.text}(…)`);
        params.push(p.text);
        paramRanges.push(tokenRange(p));
        if (this.isPunct(this.peek(), ',')) {
          this.next();
          continue;
        }
        break;
      }
    }
    this.expectPunct(')', `to close the arguments of ${name.text}`);
    if (!this.isPunct(this.peek(), '='))
      this.fail(
        tokenRange(this.peek()),
        `Expected '=' after ${name.text}(…) to define a function, found ${describe(this.peek())}`,
      );
    this.next();
    const body = this.expr();
    this.expectLineEnd('after the function body; expected an operator');
    void open;
    // XPPAUT: `u(t) = …` with an integral is an integral equation for u, not a function.
    if (params.length === 1 && hasIntegral(body)) {
      this.statements.push({
        kind: 'equation',
        state: name.text,
        stateRange: tokenRange(name),
        rhs: body,
        range: this.lineRangeFrom(name),
        volterra: true,
      });
      return;
    }
    this.statements.push({
      kind: 'function',
      name: name.text,
      nameRange: tokenRange(name),
      params,
      paramRanges,
      body,
      range: this.lineRangeFrom(name),
    });
  }

  private optionsLine(): void {
    const at = this.next();
    const settings: OptionSetting[] = [];
    const line: OptionLine = { range: tokenRange(at), settings };
    this.statements.push({ kind: 'options', line });
    while (!this.atLineEnd()) {
      if (this.isPunct(this.peek(), ',')) {
        this.next();
        continue;
      }
      const key = this.peek();
      if (key.kind !== 'ident')
        this.fail(tokenRange(key), `Expected an option name (key=value), found ${describe(key)}`);
      this.next();
      const eq = this.peek();
      if (!this.isPunct(eq, '='))
        this.fail(
          tokenRange(eq.kind === 'newline' || eq.kind === 'eof' ? key : eq),
          `Expected '=' after option '${key.text}' (${key.text}=value)`,
        );
      this.next();
      const v0 = this.peek();
      if (v0.kind === 'newline' || v0.kind === 'eof' || this.isPunct(v0, ','))
        this.fail(tokenRange(eq), `Missing value for option '${key.text}'`);
      let last = this.next();
      while (
        !this.atLineEnd() &&
        !this.isPunct(this.peek(), ',') &&
        !this.peek().spaceBefore &&
        this.peek().line === last.line
      )
        last = this.next();
      const valueRange = span(tokenRange(v0), tokenRange(last));
      const value = this.text.slice(v0.offset, last.offset + (last.end - last.col));
      settings.push({ key: normalizeKey(key.text), value, range: span(tokenRange(key), valueRange), valueRange });
      line.range = span(tokenRange(at), valueRange);
    }
    // On a syntax error the settings read so far are kept: they still apply,
    // and quick fixes need the line.
  }

  // ---- expressions ---------------------------------------------------------

  expr(): Expr {
    if (++this.depth > MAX_NESTING)
      this.fail(tokenRange(this.peek()), `Expression nested too deeply (more than ${MAX_NESTING} levels)`);
    try {
      return this.or();
    } finally {
      this.depth--;
    }
  }

  // XPPAUT precedence, lowest first: `|`, `&`, comparisons, `+ -`, `* / @`, unary, `^`.
  private or(): Expr {
    return this.leftAssoc(OR_OPS, () => this.and());
  }
  private and(): Expr {
    return this.leftAssoc(AND_OPS, () => this.comparison());
  }
  private comparison(): Expr {
    return this.leftAssoc(COMPARISON_OPS, () => this.additive());
  }

  private leftAssoc(ops: ReadonlySet<string>, operand: () => Expr): Expr {
    let left = operand();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || !ops.has(t.text)) return left;
      this.next();
      const right = operand();
      left = {
        kind: 'binary',
        op: t.text as BinaryOperator,
        left,
        right,
        range: span(left.range, right.range),
        opRange: tokenRange(t),
      };
    }
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || (t.text !== '+' && t.text !== '-')) return left;
      this.next();
      const right = this.multiplicative();
      left = { kind: 'binary', op: t.text, left, right, range: span(left.range, right.range), opRange: tokenRange(t) };
    }
  }

  private multiplicative(): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'punct' || (t.text !== '*' && t.text !== '/' && t.text !== '@')) return left;
      this.next();
      const right = this.unary();
      left = { kind: 'binary', op: t.text, left, right, range: span(left.range, right.range), opRange: tokenRange(t) };
    }
  }

  private unary(): Expr {
    const t = this.peek();
    if (t.kind === 'punct' && (t.text === '-' || t.text === '+')) {
      if (++this.depth > MAX_NESTING)
        this.fail(tokenRange(t), `Expression nested too deeply (more than ${MAX_NESTING} levels)`);
      try {
        this.next();
        const operand = this.unary();
        return { kind: 'unary', op: t.text, operand, range: span(tokenRange(t), operand.range) };
      } finally {
        this.depth--;
      }
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.postfix();
    const t = this.peek();
    if (this.isPunct(t, '^')) {
      if (++this.depth > MAX_NESTING)
        this.fail(tokenRange(t), `Expression nested too deeply (more than ${MAX_NESTING} levels)`);
      try {
        this.next();
        const exponent = this.unary(); // right associative; allows 2^-1
        return {
          kind: 'binary',
          op: '^',
          left: base,
          right: exponent,
          range: span(base.range, exponent.range),
          opRange: tokenRange(t),
        };
      } finally {
        this.depth--;
      }
    }
    return base;
  }

  /** `v[i]`, `A[i, j]`: indices are whole-number literals (checked against the shape later). */
  private postfix(): Expr {
    let e = this.primary();
    const depth = this.depth;
    try {
      while (this.isPunct(this.peek(), '[')) {
        // Each index nests the target one level deeper: bounded like parentheses.
        if (++this.depth > MAX_NESTING)
          this.fail(tokenRange(this.peek()), `Expression nested too deeply (more than ${MAX_NESTING} levels)`);
        e = this.indexOf(e);
      }
    } finally {
      this.depth = depth;
    }
    return e;
  }

  /** `target[i, j]` after the target. */
  private indexOf(e: Expr): Expr {
    {
      const open = this.next();
      const indices: number[] = [];
      for (;;) {
        const t = this.peek();
        if (this.isPunct(t, '-') && this.peek(1).kind === 'number') {
          this.fail(span(tokenRange(t), tokenRange(this.peek(1))), 'Indices count from 0 and cannot be negative');
        }
        if (t.kind === 'ident' && (t.text === 'j' || t.text === 'J')) {
          this.fail(
            tokenRange(t),
            "XPPAUT's index [j] only has a value on an array line such as x[1..10]' = … or inside a %[1..10] … % block",
          );
        }
        if (t.kind !== 'number' || t.value === undefined)
          this.fail(tokenRange(t), `Expected an index (a whole number from 0) in ${open.text}…], found ${describe(t)}`);
        if (!Number.isInteger(t.value)) this.fail(tokenRange(t), `An index must be a whole number, found '${t.text}'`);
        indices.push(t.value);
        this.next();
        if (this.isPunct(this.peek(), ',')) {
          this.next();
          continue;
        }
        break;
      }
      const close = this.expectPunct(']', 'to close the index');
      return { kind: 'index', target: e, indices, range: span(e.range, tokenRange(close)) };
    }
  }

  /** XPPAUT's `sum(i1, i2)of(expr)` after `sum(i1, i2)`: `i'` is the index inside `of(…)` (expanded by indexedSums.ts). */
  private indexedSum(sum: Token, bounds: Expr[]): Expr {
    if (bounds.length !== 2)
      this.fail(tokenRange(sum), `sum(i1, i2)of(…) takes two bounds, found ${bounds.length}`, 'bad-arity');
    this.next();
    this.next();
    const outer = this.inIndexedSum;
    this.inIndexedSum = true;
    try {
      const body = this.expr();
      const close = this.expectPunct(')', 'to close sum(…)of(…)');
      const range = span(tokenRange(sum), tokenRange(close));
      return { kind: 'call', callee: INDEXED_SUM, args: [...bounds, body], range, calleeRange: tokenRange(sum) };
    } finally {
      this.inIndexedSum = outer;
    }
  }

  /** `if(c)then(a)else(b)` after the `if` name. */
  private conditional(ifTok: Token): Expr {
    const part = (word: string): Expr => {
      if (word) {
        const w = this.peek();
        if (w.kind !== 'ident' || w.text.toLowerCase() !== word)
          this.fail(tokenRange(w), `Expected '${word}' in if(c)then(a)else(b), found ${describe(w)}`);
        this.next();
      }
      this.expectPunct('(', `in if(c)then(a)else(b)`);
      const inner = this.expr();
      this.expectPunct(')', `in if(c)then(a)else(b)`);
      return inner;
    };
    const cond = part('');
    const then = part('then');
    const otherwise = part('else');
    const last = this.toks[this.pos - 1];
    return { kind: 'if', cond, then, else: otherwise, range: span(tokenRange(ifTok), tokenRange(last)) };
  }

  private primary(): Expr {
    const t = this.peek();
    if (t.kind === 'ident' && t.text.toLowerCase() === 'if' && this.isPunct(this.peek(1), '(')) {
      this.next();
      return this.conditional(t);
    }
    if (t.kind === 'number') {
      this.next();
      return { kind: 'number', value: t.value ?? NaN, range: tokenRange(t) };
    }
    if (t.kind === 'ident' && this.inIndexedSum && this.isIdent(t, 'i') && this.isPunct(this.peek(1), "'")) {
      this.next();
      return { kind: 'name', name: INDEX_NAME, range: span(tokenRange(t), tokenRange(this.next())) };
    }
    if (
      t.kind === 'ident' &&
      this.isIdent(t, 'int') &&
      (this.isPunct(this.peek(1), '{') || this.isPunct(this.peek(1), '['))
    ) {
      this.next();
      return parseIntegral(this.cursor(), t, (f) => {
        const outer = this.inIntegral;
        this.inIntegral = true;
        try {
          return f();
        } finally {
          this.inIntegral = outer;
        }
      });
    }
    if (t.kind === 'ident' && this.inIntegral && this.isIdent(t, 't') && this.isPunct(this.peek(1), "'")) {
      this.next();
      return { kind: 'name', name: T_PRIME, range: span(tokenRange(t), tokenRange(this.next())) };
    }
    if (t.kind === 'ident') {
      this.next();
      const range = tokenRange(t);
      if (this.isPunct(this.peek(), '(')) {
        this.next();
        const args: Expr[] = [];
        if (!this.isPunct(this.peek(), ')')) {
          for (;;) {
            args.push(this.expr());
            if (this.isPunct(this.peek(), ',')) {
              this.next();
              continue;
            }
            break;
          }
        }
        const close = this.expectPunct(')', `to close the call of ${t.text}`);
        if (this.isIdent(t, 'sum') && this.isIdent(this.peek(), 'of') && this.isPunct(this.peek(1), '('))
          return this.indexedSum(t, args);
        return { kind: 'call', callee: t.text, args, range: span(range, tokenRange(close)), calleeRange: range };
      }
      return { kind: 'name', name: t.text, range };
    }
    if (this.isPunct(t, '(')) {
      this.next();
      const inner = this.expr();
      const close = this.expectPunct(')', 'to close the parenthesis');
      // Parentheses only group. Operator nodes widen to include them, so that
      // `(a + b)^2` spans from '('; names and numbers keep their own range.
      if (inner.kind === 'binary' || inner.kind === 'unary') inner.range = span(tokenRange(t), tokenRange(close));
      return inner;
    }
    if (this.isPunct(t, '[')) {
      this.next();
      const elements: Expr[] = [];
      if (!this.isPunct(this.peek(), ']')) {
        for (;;) {
          elements.push(this.expr());
          if (this.isPunct(this.peek(), ',')) {
            this.next();
            continue;
          }
          break;
        }
      }
      const close = this.expectPunct(']', 'to close the vector');
      const range = span(tokenRange(t), tokenRange(close));
      if (elements.length === 0) this.fail(range, 'An empty vector [] has no shape; write at least one element');
      return { kind: 'vector', elements, range };
    }
    if (this.isPunct(t, '@'))
      this.fail(tokenRange(t), "Expected an operand before '@' (a matrix product needs two operands)");
    this.fail(tokenRange(t), `Expected a number, a name, '(' or '[', found ${describe(t)}`);
  }
}
