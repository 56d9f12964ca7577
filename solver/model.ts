// The checked model: what the language front end hands to the engine.
// Positions are 0-based line/character, the same convention as LSP, so the
// server maps them without conversion.

export interface Position { line: number; character: number }
export interface Range { start: Position; end: Position }

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** A problem found in a model file, by the front end or by the engine. */
export interface Diagnostic {
  /** Stable identifier, e.g. `undefined-name`, `shape-mismatch`, `oscillating-gradient`. */
  code: string;
  severity: Severity;
  message: string;
  range: Range;
}

/** Static shape: [] is a scalar, [n] a vector, [m, n] a matrix. */
export type Shape = number[];

export type BinaryOperator = '+' | '-' | '*' | '/' | '^' | '@';

export type Expr =
  | { kind: 'number'; value: number; range: Range; shape?: Shape }
  /** A state, a parameter, or the time `t`. */
  | { kind: 'name'; name: string; range: Range; shape?: Shape }
  | { kind: 'unary'; op: '-' | '+'; operand: Expr; range: Range; shape?: Shape }
  | { kind: 'binary'; op: BinaryOperator; left: Expr; right: Expr; range: Range; opRange: Range; shape?: Shape }
  /** Built-in function call: tanh sin cos exp log sigmoid relu sum (and more as the language grows). */
  | { kind: 'call'; callee: string; args: Expr[]; range: Range; calleeRange: Range; shape?: Shape }
  /** `[a, b]`; nested vectors make matrices. */
  | { kind: 'vector'; elements: Expr[]; range: Range; shape?: Shape }
  /** `x(T)`: the state at the final time (only inside a loss). */
  | { kind: 'stateAtEnd'; state: string; range: Range; shape?: Shape };

export interface StateDecl {
  name: string;
  shape: Shape;
  /** Initial value; checked to have the state's shape. Missing init means zeros. */
  init?: Expr;
  range: Range;
  nameRange: Range;
}

export type Initialiser =
  | { kind: 'normal'; mean: number; std: number; range: Range }
  | { kind: 'value'; value: Expr; range: Range };

export interface ParamDecl {
  name: string;
  shape: Shape;
  /** One copy per step (ResNet-like, untied); otherwise shared across time. */
  perStep: boolean;
  init: Initialiser;
  /** The whole declaration line. */
  range: Range;
  nameRange: Range;
}

export interface Equation { state: string; rhs: Expr; range: Range }

export interface Loss { expr: Expr; range: Range }

export type SchemeName = 'euler' | 'heun' | 'midpoint' | 'rk4' | 'leapfrog';
export const SCHEME_NAMES: readonly SchemeName[] = ['euler', 'heun', 'midpoint', 'rk4', 'leapfrog'];

export type GradFix = 'none' | 'filter121';
export const GRADFIX_NAMES: readonly GradFix[] = ['none', 'filter121'];

/** One `key=value` on an `@` line. */
export interface OptionSetting {
  key: string;
  /** The raw text of the value. */
  value: string;
  /** `key=value` */
  range: Range;
  valueRange: Range;
}

/** One `@ …` line. Quick fixes insert new settings at `range.end`. */
export interface OptionLine { range: Range; settings: OptionSetting[] }

/** Options after defaults and `dt`/`steps` reconciliation. */
export interface ModelOptions {
  t0: number;
  total: number;
  steps: number;
  dt: number;
  meth: SchemeName;
  seed: number;
  gradfix: GradFix;
}

export interface Model {
  states: StateDecl[];
  params: ParamDecl[];
  equations: Equation[];
  loss?: Loss;
  options: ModelOptions;
  optionLines: OptionLine[];
}

/** What the front end returns: a model whenever there is no error. */
export interface Analysis {
  model?: Model;
  diagnostics: Diagnostic[];
}

/** Finds the setting for `key` on any `@` line (the last one wins, as in XPPAUT). */
export function findOption(model: Pick<Model, 'optionLines'>, key: string): OptionSetting | undefined {
  let found: OptionSetting | undefined;
  for (const line of model.optionLines) for (const s of line.settings) if (s.key === key) found = s;
  return found;
}
