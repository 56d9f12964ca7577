// Syntax tree of a model file, before name resolution and shape checking.
// Expressions already use the model's `Expr` type (calls such as `x(T)` are
// rewritten by the checker); statements are specific to the front end.

import type { Expr, OptionLine, Range, Shape } from '../model';

export interface ShapeSpec {
  dims: Shape;
  range: Range;
}

export interface StateStmt {
  kind: 'state';
  name: string;
  nameRange: Range;
  shape?: ShapeSpec;
  range: Range;
  /** Made from XPPAUT equations when their arrays are solved as tensor states (vectorize.ts), not written. */
  fromEquations?: true;
}

export interface InitItem {
  name: string;
  nameRange: Range;
  value: Expr;
  range: Range;
  form: 'init' | 'x(0)';
}
export interface InitStmt {
  kind: 'init';
  items: InitItem[];
  range: Range;
}

export type ParamInitSyntax =
  | { kind: 'normal'; mean: Expr; std: Expr; range: Range }
  | { kind: 'value'; value: Expr; range: Range };

export interface ParamItem {
  name: string;
  nameRange: Range;
  shape?: ShapeSpec;
  perStep: boolean;
  init?: ParamInitSyntax;
  /** The whole declaration (for a single declaration on its line: the whole line). */
  range: Range;
}
export interface ParamStmt {
  kind: 'param';
  keyword: string;
  items: ParamItem[];
  range: Range;
}

/** XPPAUT `number c=3`: a named constant. */
export interface NumberItem {
  name: string;
  nameRange: Range;
  value: Expr;
  range: Range;
}
export interface NumberStmt {
  kind: 'number';
  items: NumberItem[];
  range: Range;
}

export interface EquationStmt {
  kind: 'equation';
  state: string;
  stateRange: Range;
  rhs: Expr;
  range: Range;
  /** `x(t+1) = …`: the equation of a map (XPPAUT difference equation). */
  map?: true;
  /** `u(t) = …` or `volt u = …`: an integral equation, u is the formula (language/volterraSyntax.ts). */
  volterra?: true;
}

export interface LossStmt {
  kind: 'loss';
  expr: Expr;
  range: Range;
  keywordRange: Range;
}

/** XPPAUT fixed quantity `name = expr`. */
export interface FixedStmt {
  kind: 'fixed';
  name: string;
  nameRange: Range;
  expr: Expr;
  range: Range;
}

/** XPPAUT user function `f(a, b) = expr`. */
export interface FunctionStmt {
  kind: 'function';
  name: string;
  nameRange: Range;
  params: string[];
  paramRanges: Range[];
  body: Expr;
  range: Range;
}

export interface OptionsStmt {
  kind: 'options';
  line: OptionLine;
}

/** `aux name = expr`: an output column; parsed, not simulated. */
export interface AuxStmt {
  kind: 'aux';
  name: string;
  nameRange: Range;
  expr: Expr;
  range: Range;
}

/**
 * XPPAUT `0 = expr`: an algebraic equation of a differential-algebraic system, solved (with the others) for the
 * algebraic variables that `solv` declares.
 */
export interface AlgebraicStmt {
  kind: 'algebraic';
  rhs: Expr;
  range: Range;
}

/** XPPAUT `solv name=guess` (also `solve`): an algebraic variable and the first guess of its Newton solve (default 0). */
export interface SolveStmt {
  kind: 'solve';
  name: string;
  nameRange: Range;
  guess?: Expr;
  range: Range;
}

/** A recognised but unsupported construct that declares a name (`special k = gill …`, a pHtools command). */
export interface OpaqueStmt {
  kind: 'opaque';
  keyword: string;
  name: string;
  nameRange: Range;
  range: Range;
}

/**
 * A line with a syntax error (already reported). It still records what the line
 * was meant to declare, so that its names do not cause follow-on errors.
 */
export interface BrokenStmt {
  kind: 'broken';
  /** `state`, `param`, `number`, `fixed`, `function`, … */
  declares?: { keyword: string; name: string; nameRange: Range };
  /** The state whose equation this line was. */
  equationFor?: string;
  isLoss?: boolean;
  range: Range;
}

/** One `name=formula` of a `global` line. */
export interface GlobalReset {
  name: string;
  nameRange: Range;
  value: Expr;
  range: Range;
}
/** XPPAUT `global sign condition {name=formula; …}` (the condition may be in braces too). */
export interface GlobalStmt {
  kind: 'global';
  /** As written; the checker accepts 1, −1 and 0. */
  sign: number;
  signRange: Range;
  condition: Expr;
  resets: GlobalReset[];
  range: Range;
}

export interface DoneStmt {
  kind: 'done';
  range: Range;
}

/** `data obs = "file.csv"` (the file is read by the checker). */
export interface DataStmt {
  kind: 'data';
  name: string;
  nameRange: Range;
  path: string;
  pathRange: Range;
  range: Range;
}

/** XPPAUT `table NAME % npts xlo xhi formula(t)` or `table NAME file.tab`. */
export interface TableStmt {
  kind: 'table';
  name: string;
  nameRange: Range;
  source:
    | { kind: 'formula'; npts: Expr; xlo: Expr; xhi: Expr; formula: Expr }
    | { kind: 'file'; path: string; pathRange: Range };
  range: Range;
}

/** XPPAUT `wiener NAME, …` (abbreviated `w`): one statement per name. */
export interface WienerStmt {
  kind: 'wiener';
  name: string;
  nameRange: Range;
  range: Range;
}

/**
 * XPPAUT `markov NAME NSTATES` and its transition table on the lines after it: NSTATES rows of NSTATES `{formula}`
 * entries, one row a line or one entry a line. `rows[i][j]` is the rate from state i to state j (the diagonal is
 * read and ignored, as XPPAUT does); a table with the wrong number of entries is reported by the parser and kept
 * with the rows it has.
 */
export interface MarkovStmt {
  kind: 'markov';
  name: string;
  nameRange: Range;
  /** The number of states (states are 0 … states − 1). */
  states: number;
  rows: Expr[][];
  /** The `markov` line. */
  range: Range;
}

/** XPPAUT `special NAME = fn(…)`: a network function (conv, sparse, mmult, …) of one index (checker/special.ts). */
export interface SpecialStmt {
  kind: 'special';
  name: string;
  nameRange: Range;
  /** The call after `=`, as parsed. */
  call: Extract<Expr, { kind: 'call' }>;
  range: Range;
}

/** One `key=[…]` of a scheme line. */
export interface SchemeCoeff {
  key: string;
  keyRange: Range;
  value: Expr;
  range: Range;
}
/** `scheme NAME rk a=… b=… c=…` or `scheme NAME lmm alpha=… beta=…`. */
export interface SchemeStmt {
  kind: 'scheme';
  name: string;
  nameRange: Range;
  family: 'rk' | 'lmm';
  coeffs: SchemeCoeff[];
  range: Range;
}

export type Statement =
  | StateStmt
  | InitStmt
  | ParamStmt
  | NumberStmt
  | EquationStmt
  | LossStmt
  | FixedStmt
  | FunctionStmt
  | OptionsStmt
  | AuxStmt
  | OpaqueStmt
  | BrokenStmt
  | DoneStmt
  | DataStmt
  | SchemeStmt
  | GlobalStmt
  | TableStmt
  | WienerStmt
  | MarkovStmt
  | SpecialStmt
  | AlgebraicStmt
  | SolveStmt;

export interface Program {
  statements: Statement[];
  /**
   * Names (lower case) written on lines that were refused or could not be parsed: they are read
   * there, so they are not reported as never used.
   */
  refusedReads?: string[];
  /** Names (lower case) read on lines ODE Lens ignores (`bdry`, `set`, `only`, …), with the first such line's keyword. */
  ignoredReads?: [string, string][];
}

/** The expressions a statement holds at its top level (right-hand sides, initial values, parameter initialisers). */
export function statementExpressions(s: Statement): Expr[] {
  switch (s.kind) {
    case 'equation':
    case 'algebraic':
      return [s.rhs];
    case 'solve':
      return s.guess ? [s.guess] : [];
    case 'fixed':
    case 'aux':
    case 'loss':
      return [s.expr];
    case 'function':
      return [s.body];
    case 'global':
      return [s.condition, ...s.resets.map((r) => r.value)];
    case 'init':
      return s.items.map((i) => i.value);
    case 'number':
      return s.items.map((i) => i.value);
    case 'markov':
      return s.rows.flat();
    case 'table':
      return s.source.kind === 'formula' ? [s.source.npts, s.source.xlo, s.source.xhi, s.source.formula] : [];
    case 'param':
      return s.items.flatMap((i) =>
        !i.init ? [] : i.init.kind === 'value' ? [i.init.value] : [i.init.mean, i.init.std],
      );
    default:
      return [];
  }
}
