// The checked model: what the language front end hands to the engine.
// Positions are 0-based line/character, the same convention as LSP, so the
// server maps them without conversion. The names of schemes, corrections,
// gradient engines and diagnostic codes come from their registries (types only:
// the registries import nothing from here).
import type { DiagnosticCode, Severity } from './registry/diagnosticCodes';
import type { GradEngine } from './registry/gradEngines';
import type { GradFix } from './registry/corrections';
import type { SchemeName } from './schemes/registry';

export type { DiagnosticCode, Severity, GradEngine, GradFix, SchemeName };

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** A problem found in a model file, by the front end or by the engine. */
export interface Diagnostic {
  /** Stable identifier, e.g. `undefined-name`, `shape-mismatch`, `oscillating-gradient` (solver/registry/diagnosticCodes.ts). */
  code: DiagnosticCode;
  severity: Severity;
  message: string;
  range: Range;
}

/** Static shape: [] is a scalar, [n] a vector, [m, n] a matrix. */
export type Shape = number[];

export type BinaryOperator =
  | '+'
  | '-'
  | '*'
  | '/'
  | '^'
  | '@'
  /** Comparisons and logic give 1 or 0 (XPPAUT style), used with `if(c)then(a)else(b)` and `heav`. */
  | '<'
  | '>'
  | '<='
  | '>='
  | '=='
  | '!='
  | '&'
  | '|';

export type Expr =
  | { kind: 'number'; value: number; range: Range; shape?: Shape }
  /** A state, a parameter, or the time `t`. */
  | { kind: 'name'; name: string; range: Range; shape?: Shape }
  | { kind: 'unary'; op: '-' | '+'; operand: Expr; range: Range; shape?: Shape }
  | {
      kind: 'binary';
      op: BinaryOperator;
      left: Expr;
      right: Expr;
      range: Range;
      opRange: Range;
      shape?: Shape;
      /**
       * The root of an expanded indexed sum or network function (language/indexedSums.ts, networkFunctions.ts):
       * `terms` terms added as a balanced tree of `+` (balancedSum's order). The fused program runs such a sum
       * of same-shaped terms as one loop instruction (engine/scalarRhs.ts).
       */
      terms?: number;
    }
  /** Built-in function call: tanh sin cos exp log sigmoid relu sum (and more as the language grows). */
  | { kind: 'call'; callee: string; args: Expr[]; range: Range; calleeRange: Range; shape?: Shape }
  /** `[a, b]`; nested vectors make matrices. */
  | { kind: 'vector'; elements: Expr[]; range: Range; shape?: Shape }
  /** `x(T)`: the state at the final time (only inside a loss). */
  | { kind: 'stateAtEnd'; state: string; range: Range; shape?: Shape }
  /** `x(obs)`: the state at every observation time of data set `obs` (only inside a loss); shape [K, ...state shape]. */
  | { kind: 'stateAtData'; state: string; data: string; range: Range; shape?: Shape }
  /** `v[i]`, `A[i, j]`: indices are integer constants checked against the static shape (0-based). */
  | { kind: 'index'; target: Expr; indices: number[]; range: Range; shape?: Shape }
  /** XPPAUT `if(c)then(a)else(b)`: c is nonzero → a, else b (elementwise, broadcast). */
  | { kind: 'if'; cond: Expr; then: Expr; else: Expr; range: Range; shape?: Shape };

export type BinaryExpr = Extract<Expr, { kind: 'binary' }>;

/**
 * Fewest terms a marked sum (`terms` above) needs for the fused program to run it as a loop instruction;
 * smaller ones are written out term by term.
 */
export const LOOP_FROM_TERMS = 16;

/**
 * The binary operations down e's left operands, outermost first (`chain[0]` is e), and the first
 * left operand that is not one (or that `stop` rejects). A sum `a + b + … + z` is a chain of left
 * operands as deep as it is long, while the parser bounds every other nesting: walks over the tree
 * take the chain in a loop, from `innermost` out, so that no recursion grows with an expression's length.
 */
export function leftChain(e: BinaryExpr, stop?: (b: BinaryExpr) => boolean): { chain: BinaryExpr[]; innermost: Expr } {
  const chain: BinaryExpr[] = [e];
  let innermost: Expr = e.left;
  while (innermost.kind === 'binary' && !stop?.(innermost)) {
    chain.push(innermost);
    innermost = innermost.left;
  }
  return { chain, innermost };
}

/**
 * The K terms of a sum written as balancedSum's tree (adjacent pairs added level by level, an odd last one
 * carried up), read from its root; undefined when the tree is not that shape.
 */
export function balancedTerms(root: Expr, K: number): Expr[] | undefined {
  const sizes = [K];
  while (sizes[sizes.length - 1] > 1) {
    const n = sizes[sizes.length - 1];
    sizes.push((n >> 1) + (n & 1));
  }
  let level: Expr[] = [root];
  for (let l = sizes.length - 2; l >= 0; l--) {
    const n = sizes[l],
      half = n >> 1;
    const below: Expr[] = new Array(n);
    for (let p = 0; p < level.length; p++) {
      const node = level[p];
      if (p < half) {
        if (node.kind !== 'binary' || node.op !== '+') return undefined;
        below[2 * p] = node.left;
        below[2 * p + 1] = node.right;
      } else below[n - 1] = node;
    }
    level = below;
  }
  return level;
}

/** The operands of e, left to right. */
export function subexpressions(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'unary':
      return [e.operand];
    case 'binary':
      return [e.left, e.right];
    case 'call':
      return e.args;
    case 'vector':
      return e.elements;
    case 'index':
      return [e.target];
    case 'if':
      return [e.cond, e.then, e.else];
    default:
      return [];
  }
}

/**
 * Visits every node of the expressions once, each before its operands, left to right, with an explicit stack (no
 * recursion). A node shared by several parents (the language shares a subexpression where it is used again, as
 * XPPAUT's findext index in each of kohonen.ode's 100 equations: 3,698 nodes reached 847,358 times) is visited the
 * first time only.
 */
export function visitExpressions(roots: readonly Expr[], visit: (e: Expr) => void): void {
  const stack = [...roots].reverse();
  const seen = new Set<Expr>();
  while (stack.length > 0) {
    const e = stack.pop() as Expr;
    if (seen.has(e)) continue;
    seen.add(e);
    visit(e);
    const parts = subexpressions(e);
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
  }
}

export interface StateDecl {
  name: string;
  shape: Shape;
  /** Initial value; checked to have the state's shape. Missing init means zeros. */
  init?: Expr;
  /**
   * XPPAUT `x(0) = formula of t`: the state's history for t < t0, which `delay(x, tau)` reads (a scalar
   * expression of `t` and constants); without `init`, the initial value is the formula at t0.
   */
  history?: Expr;
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
  /** Read only on lines ODE Lens ignores (their keyword: `bdry`, `aux`, …): nothing checked depends on it. */
  readOnlyBy?: string;
  /** Read only in the formula of this table, sampled once at the parameter's value: no gradient reaches it. */
  sampledBy?: string;
  /**
   * Read only by the transition rates of this Markov variable, whose path a check draws once and holds fixed
   * (engine/markov.ts): the pathwise gradient does not reach it.
   */
  ratesOf?: string;
  /**
   * The initial value of this state, checked in its place when the model declares no parameter
   * (solver/check/initialValues.ts): no expression reads it, the solves start from it.
   */
  initialValueOf?: string;
}

export interface Equation {
  state: string;
  rhs: Expr;
  range: Range;
  /** An integral equation (XPPAUT `u(t) = …`, `volt u = …`): the state is the formula, not its derivative. */
  volterra?: true;
}

/**
 * `data obs = "file.csv"`: observations read from a CSV file inside the
 * workspace. The column named `t` (else the first) holds the observation
 * times; the other columns, in file order, are the values. In expressions,
 * `obs` is the values matrix [K, m] and `x(obs)` the state at those times.
 */
export interface DataDecl {
  name: string;
  /** The path as written, relative to the model file. */
  path: string;
  /** Absolute path it resolved to, when it did. */
  resolvedPath?: string;
  /** Observation times, ascending (K of them). */
  times: number[];
  /** Column names other than the time column. */
  columns: string[];
  /** K rows of columns.length values. */
  values: number[][];
  range: Range;
  nameRange: Range;
  pathRange: Range;
}

/**
 * A function of one argument given by samples on an even grid: an XPPAUT `table` (linear
 * interpolation, extrapolated linearly past its ends, as XPPAUT's lookup), or one seeded realisation of
 * noise (`wiener`, `ran`, `normal`) sampled once per step of the model's grid, a step function of t.
 * Checked expressions call it by `name` with one argument.
 */
export interface TableDecl {
  /** The callee in checked expressions: the declared name, or an internal one (`ran'1`) for a noise call. */
  name: string;
  /** Abscissa of values[0], and the spacing of the samples. */
  xlo: number;
  dx: number;
  /**
   * A noise realisation's samples are a Float64Array on shared memory (language/checker/noise.ts): a model posted to
   * the check's second thread shares them (kohonen.ode's 101 realisations of 16,000 steps took 0.1–0.2 s to post as
   * arrays of numbers).
   */
  values: number[] | Float64Array;
  /** `linear`: XPPAUT's lookup; `step`: values[⌊(x − xlo)/dx⌋], clamped to the ends (its derivative is 0). */
  interpolation: 'linear' | 'step';
  /** What declared it: a table, the noise construct it realises, or a Markov variable (its chain's path). */
  origin: 'table' | 'wiener' | 'ran' | 'normal' | 'markov';
  range: Range;
}

/**
 * XPPAUT `markov NAME NSTATES`: a variable that jumps between the states 0 … NSTATES − 1. Before each step,
 * with the variable in state i, one uniform coin u and the rates r_ij at the step's start: the new state is the
 * first j ≠ i with u ≤ Σ_{k ≤ j, k ≠ i} r_ik·dt, else i (XPPAUT's markov.c). Expressions read its path, the table
 * `name` (a step function of t, sample n on [t_n, t_{n+1})), which a check draws once and then holds fixed
 * (engine/markov.ts); until then it holds the initial state.
 */
export interface MarkovChain {
  /** The declared name, also the callee of its path's table. */
  name: string;
  states: number;
  /** `init NAME=…` (0 by default). XPPAUT leaves a variable that starts between its states where it is. */
  initial: number;
  /** rates[i][j]: the rate from state i to state j, a scalar expression like a right-hand side; undefined on the diagonal. */
  rates: (Expr | undefined)[][];
  /** The `markov` line. */
  range: Range;
  nameRange: Range;
}

/** A user-defined scheme: `scheme myrk rk a=[[0,0],[2/3,0]] b=[1/4,3/4] c=[0,2/3]` or `scheme mylmm lmm alpha=[…] beta=[…]`. */
export type SchemeDecl =
  | { kind: 'rk'; name: string; a: number[][]; b: number[]; c: number[]; range: Range; nameRange: Range }
  /**
   * Linear multistep Σ_{j=0..k} alpha_j x_{n+j} = h Σ_{j=0..k} beta_j f_{n+j},
   * coefficients from j = 0 (oldest) to k (newest); explicit when beta_k = 0.
   */
  | { kind: 'lmm'; name: string; alpha: number[]; beta: number[]; range: Range; nameRange: Range };

export interface Loss {
  expr: Expr;
  range: Range;
}

/** A state set by an event: `name=formula` inside a `global` line's braces. */
export interface EventReset {
  state: string;
  value: Expr;
  range: Range;
}

/**
 * XPPAUT `global sign condition {x=…; y=…}`: when the condition crosses zero between two grid points
 * (sign 1: from below, −1: from above, 0: either way), every formula is evaluated on the states of the
 * new grid point, then the states are set (engine/events.ts).
 */
export interface ModelEvent {
  sign: -1 | 0 | 1;
  condition: Expr;
  resets: EventReset[];
  /** The whole `global` line. */
  range: Range;
}

/** Per-step parameters: one copy per step shared by its stages, or one copy per stage. */
export type Tie = 'step' | 'stage';
export const TIE_NAMES: readonly Tie[] = ['step', 'stage'];

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
export interface OptionLine {
  range: Range;
  settings: OptionSetting[];
}

/** Options after defaults and `dt`/`steps` reconciliation. */
export interface ModelOptions {
  t0: number;
  total: number;
  steps: number;
  dt: number;
  /** A built-in SchemeName or the name of a declared `scheme`. */
  meth: string;
  /** `meth` names an XPPAUT method that chooses its own steps (adaptive or stiff), checked as a fixed-step scheme. */
  stepControl?: true;
  /** One-step scheme that starts a multistep method (default euler). */
  start: SchemeName;
  seed: number;
  gradfix: GradFix;
  grad: GradEngine;
  tie: Tie;
  /** XPPAUT `@ delay=`: the largest delay `delay(x, tau)` may read (XPPAUT's default is 0). */
  maxDelay?: number;
  /** XPPAUT `@ vmaxpts=`: the grid points an integral reads back (XPPAUT's default 4000; engine/volterra.ts). */
  maxPoints?: number;
}

/** XPPAUT `solv name=guess`: an algebraic variable of a DAE (engine/algebraic.ts solves for it). */
export interface AlgebraicVariable {
  name: string;
  /** Newton's first guess, at the first evaluation of f (XPPAUT's default 0). */
  guess: number;
  range: Range;
  nameRange: Range;
}

/**
 * A semi-explicit index-1 DAE's algebraic part (XPPAUT `0 = g` lines with `solv`): at every evaluation of f the
 * variables z are solved from g(x, z, p, t) = 0 by Newton's method, and f, the events and the rest read them.
 */
export interface AlgebraicPart {
  variables: AlgebraicVariable[];
  /** The `0 = g` right-hand sides, as many as variables. */
  equations: { rhs: Expr; range: Range }[];
}

export interface Model {
  states: StateDecl[];
  params: ParamDecl[];
  equations: Equation[];
  loss?: Loss;
  /** XPPAUT `global` events, in file order (absent: none). */
  events?: ModelEvent[];
  data: DataDecl[];
  schemes: SchemeDecl[];
  options: ModelOptions;
  optionLines: OptionLine[];
  /** Tables, noise realisations and Markov paths the expressions call (absent: none). */
  tables?: TableDecl[];
  /** XPPAUT Markov variables, in declaration order (absent: none); each reads as its table of the same name. */
  markov?: MarkovChain[];
  /** A differential-algebraic system's algebraic variables and equations (absent: an ODE). */
  algebraic?: AlgebraicPart;
}

/** Why a file a model names was not read (solver/language/workspaceFiles.ts reads them). */
export type FileRefusal =
  | 'untitled'
  | 'empty-name'
  | 'outside-workspace'
  | 'not-found'
  | 'not-regular'
  | 'too-large'
  | 'unreadable'
  /** The server has not read it yet (context.files lacks it): it reads it and analyses again. */
  | 'pending';

/** A file read ahead, by resolved path: its text and identity (modification time, size), or why it was not read. */
export type PreparedFile =
  | { readonly text: string; readonly signature?: string }
  | { readonly refusal: FileRefusal; readonly message: string };

/** Where a model file lives, so `data` paths resolve (inside the workspace only). */
export interface AnalysisContext {
  /** Absolute path of the model file. */
  documentPath?: string;
  /** Absolute workspace folder; data files outside it are refused. Defaults to the model's folder. */
  workspaceRoot?: string;
  /** Reads a file (tests fake files with it). Without it and without `files`, files are read from the disk. */
  readFile?: (absolutePath: string) => string;
  /** Files read ahead by resolved path (the server reads them off its main thread); when given, no disk is touched. */
  files?: Readonly<Record<string, PreparedFile>>;
  /** Told every file the analysis reads: as written, resolved, and its workspace folder (the server watches and reads ahead those). */
  onFileRead?: (file: { written: string; resolved: string; root: string; format: string }) => void;
  /** Largest file read, in bytes (default: DEFAULT_MAX_FILE_MB). */
  maxFileBytes?: number;
  /**
   * Sums whose terms separate are rewritten into sums shared by the equations (language/separableSums.ts);
   * default true. false keeps every sum as expanded (tests and benches compare the two).
   */
  separateSums?: boolean;
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

export type CallExpr = Extract<Expr, { kind: 'call' }>;

/** The checked calls (those with a shape) in some expressions, by callee, each list in visiting order. */
export type CallsByCallee = ReadonlyMap<string, readonly CallExpr[]>;

/** One walk over the expressions answers every callee's question (delays, integrals). */
export function callsByCallee(exprs: readonly Expr[]): CallsByCallee {
  const found = new Map<string, CallExpr[]>();
  visitExpressions(exprs, (e) => {
    if (e.kind !== 'call' || !e.shape) return;
    const list = found.get(e.callee);
    if (list) list.push(e);
    else found.set(e.callee, [e]);
  });
  return found;
}

const modelCalls = new WeakMap<object, CallsByCallee>();

/**
 * The calls in the model's solve expressions (solveExpressions), by callee. A check asks for a model's delays and
 * integrals from its analysis, compile, reference and Markov support, on both threads: one walk per model, kept
 * while the model lives (a model is not changed once analysed).
 */
export function solveCalls(model: Pick<Model, 'equations' | 'events' | 'algebraic' | 'markov'>): CallsByCallee {
  let calls = modelCalls.get(model);
  if (!calls) modelCalls.set(model, (calls = callsByCallee(solveExpressions(model))));
  return calls;
}

/** Every checked `delay(x, tau)` call (args: the state's name, the delay), in order. */
export function delayCalls(calls: CallsByCallee): CallExpr[] {
  return (calls.get('delay') ?? []).filter((e) => e.args[0]?.kind === 'name');
}

/** The expressions evaluated during a solve: right-hand sides, event conditions and resets. */
export function solveExpressions(model: Pick<Model, 'equations' | 'events' | 'algebraic' | 'markov'>): Expr[] {
  return [
    ...model.equations.map((e) => e.rhs),
    ...(model.algebraic?.equations ?? []).map((e) => e.rhs),
    ...(model.events ?? []).flatMap((ev) => [ev.condition, ...ev.resets.map((r) => r.value)]),
    ...(model.markov ?? []).flatMap((m) => m.rates.flat().filter((r): r is Expr => r !== undefined)),
  ];
}
