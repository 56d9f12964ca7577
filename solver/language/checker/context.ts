// The checker's state shared by its phases: the diagnostics so far (deduplicated),
// the declared names, which of them are read, and the declared schemes.
import { closest, distance } from 'fastest-levenshtein';
import {
  visitExpressions,
  type AnalysisContext,
  type DataDecl,
  type Diagnostic,
  type Expr,
  type Range,
  type Shape,
  type TableDecl,
} from '../../model';
import type {
  AuxStmt,
  DataStmt,
  FixedStmt,
  FunctionStmt,
  NumberItem,
  ParamItem,
  SchemeStmt,
  SolveStmt,
  SpecialStmt,
  TableStmt,
  WienerStmt,
  MarkovStmt,
} from '../ast';
import { diag, rangeKey } from '../ranges';

export type Sym =
  | { kind: 'state'; name: string; shape: Shape; range: Range; nameRange: Range; explicit: boolean }
  | { kind: 'param'; name: string; shape: Shape; item: ParamItem }
  | { kind: 'number'; name: string; item: NumberItem; value?: number; status: 'todo' | 'busy' | 'done' }
  | { kind: 'fixed'; name: string; stmt: FixedStmt; checked?: Expr; dynamic: boolean; status: 'todo' | 'busy' | 'done' }
  | { kind: 'function'; name: string; stmt: FunctionStmt; busy: boolean }
  | { kind: 'aux'; name: string; stmt: AuxStmt }
  | { kind: 'data'; name: string; stmt: DataStmt; decl?: DataDecl }
  /** XPPAUT `table`: its samples once read or computed (checker/tables.ts). */
  | { kind: 'table'; name: string; stmt: TableStmt; decl?: TableDecl }
  /** XPPAUT `wiener`: white noise, one seeded realisation (checker/noise.ts). */
  | { kind: 'wiener'; name: string; stmt: WienerStmt; decl?: TableDecl }
  /** XPPAUT `markov`: a jump process between states 0 … n − 1, read through its path (checker/markov.ts). */
  | { kind: 'markov'; name: string; stmt: MarkovStmt; decl?: TableDecl; initial: number; initRange?: Range }
  /** XPPAUT `special k = conv(…)`: its elements written out once each (checker/special.ts). */
  | { kind: 'special'; name: string; stmt: SpecialStmt; cache: Map<number, Expr> }
  /** Declared by an unsupported construct (already reported): uses are silent errors. */
  /** XPPAUT `solv name=guess`: an algebraic variable of a DAE (checker/algebraic.ts). */
  | { kind: 'algebraic'; name: string; stmt: SolveStmt }
  | { kind: 'opaque'; name: string; keyword: string };

export type Context = 'rhs' | 'loss' | 'const';

export interface Scope {
  ctx: Context;
  /** Arguments of the user function being expanded (lower-case name → checked argument). */
  bindings?: Map<string, Expr>;
  /** Set when the expression reads a state or `t` (it cannot be a constant). */
  dynamic: { value: boolean };
  /** A constant that may read `t`: XPPAUT's history `x(0) = expr of t` of a delayed state. */
  history?: boolean;
  /** In a table's formula: a scalar parameter's initial value, which the table is sampled at (checker/tables.ts). */
  frozenParam?: (sym: Extract<Sym, { kind: 'param' }>, range: Range) => Expr | undefined;
}

/** What the checks of a construct need of the expression checker: constant numbers. */
export interface ConstantEvaluator {
  constNumber(e: Expr, what: string): number | undefined;
}

/** How a kind of symbol is named in messages. */
export const KIND_WORD: Readonly<Record<Sym['kind'], string>> = {
  state: 'state',
  param: 'parameter',
  number: 'number',
  fixed: 'fixed quantity',
  function: 'function',
  aux: 'aux',
  data: 'data set',
  table: 'table',
  wiener: 'Wiener variable',
  markov: 'Markov variable',
  special: 'network function',
  algebraic: 'algebraic variable',
  opaque: 'name',
};

/** Keywords that cannot be declared as names (the one-letter XPPAUT abbreviations can, and so can the positional modifiers `per-step` and `shared`, as XPPAUT files do: `par per=6.67`). */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'state',
  'param',
  'params',
  'par',
  'pars',
  'parameter',
  'parameters',
  'init',
  'number',
  'num',
  'aux',
  'done',
  'loss',
  'if',
  'then',
  'else',
  'data',
  'scheme',
]);

export class CheckContext {
  readonly diagnostics: Diagnostic[] = [];
  private readonly seen = new Set<string>();
  readonly symbols = new Map<string, Sym>();
  /** Symbols read somewhere (for the unused-name warning). */
  readonly used = new Set<Sym>();
  /** Parameters read by table formulas (sampled once at their values), with the first such table's name. */
  readonly sampledBy = new Map<Sym, string>();
  /** Declared schemes by lower-case name. */
  readonly schemes = new Map<string, SchemeStmt>();
  /**
   * A checked `delay(x, tau)` or integral was built (both read the solve's history): only then do the phases that
   * look for those calls walk the checked expressions.
   */
  readsHistory = false;

  constructor(
    readonly context: AnalysisContext,
    parseDiagnostics: Diagnostic[],
  ) {
    for (const d of parseDiagnostics) this.report(d);
  }

  report(d: Diagnostic): void {
    const key = `${d.code}|${rangeKey(d.range)}|${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(d);
  }
  error(code: Diagnostic['code'], message: string, range: Range): void {
    this.report(diag(code, 'error', message, range));
  }

  declare(sym: Sym, nameRange: Range, quiet = false): void {
    const key = sym.name.toLowerCase();
    if (quiet && (key === 't' || this.symbols.has(key))) return;
    if (key === 't') {
      this.error('reserved-name', `'${sym.name}' is the time variable and cannot be declared`, nameRange);
      return;
    }
    if (RESERVED_NAMES.has(key)) {
      this.error('reserved-name', `'${sym.name}' is a keyword and cannot be used as a name`, nameRange);
      return;
    }
    const prev = this.symbols.get(key);
    if (prev && (prev.kind === 'opaque' || sym.kind === 'opaque')) return; // its line is already reported
    if (prev) {
      const caseNote = prev.name !== sym.name ? ` (names are case-insensitive, as in XPPAUT)` : '';
      this.error(
        'duplicate-declaration',
        `'${sym.name}' is already declared as a ${prev.kind} '${prev.name}'${caseNote}`,
        nameRange,
      );
      return;
    }
    this.symbols.set(key, sym);
  }

  /** Finds a declared name, marks it used, and hints when it is written with another case than declared. */
  lookup(written: string, range: Range): Sym | undefined {
    const sym = this.symbols.get(written.toLowerCase());
    if (!sym) return undefined;
    this.used.add(sym);
    if (sym.kind !== 'opaque' && sym.name !== written) {
      this.report(
        diag(
          'name-case',
          'hint',
          `'${written}' refers to the ${KIND_WORD[sym.kind]} '${sym.name}': names are case-insensitive here, as in XPPAUT; a case-sensitive reading would see two different names`,
          range,
        ),
      );
    }
    return sym;
  }

  suggest(name: string, kind?: Sym['kind']): string {
    const names: string[] = [];
    for (const s of this.symbols.values()) if (!kind || s.kind === kind) names.push(s.name);
    if (!kind) names.push('t');
    if (names.length === 0) return '';
    const best = closest(name, names);
    if (best === undefined) return '';
    return distance(name.toLowerCase(), best.toLowerCase()) <=
      (best.length <= 2 ? 1 : Math.max(2, Math.floor(best.length / 3)))
      ? ` — did you mean '${best}'?`
      : '';
  }

  /** A symbol read outside the checked equations; a function's body reads its names too. */
  markUsed(sym: Sym | undefined): void {
    if (!sym || this.used.has(sym)) return;
    this.used.add(sym);
    if (sym.kind === 'function') this.markNamesUsed(sym.stmt.body);
  }

  markNamesUsed(e: Expr): void {
    visitExpressions([e], (x) => {
      if (x.kind === 'name') this.markUsed(this.symbols.get(x.name.toLowerCase()));
      else if (x.kind === 'call') this.markUsed(this.symbols.get(x.callee.toLowerCase()));
    });
  }
}
