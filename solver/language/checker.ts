// Name resolution and static shape inference (NumPy broadcasting).
//
// The checker never mutates the parse tree: it builds new `Expr` nodes with
// `shape` filled, which lets it expand XPPAUT user functions and fixed
// quantities inline (the checked model only contains states, parameters, `t`,
// numbers and built-in calls). Names are case-insensitive, as in XPPAUT; every
// reference is rewritten to the spelling of its declaration.

import { closest, distance } from 'fastest-levenshtein';
import type {
  Analysis, AnalysisContext, BinaryOperator, DataDecl, Diagnostic, Equation, Expr, Initialiser, Loss, Model, ParamDecl, Range,
  SchemeDecl, Shape, StateDecl,
} from '../model';
import type { DiagnosticCode } from '../registry/diagnosticCodes';
import { SCHEME_NAMES } from '../schemes/registry';
import { schemeDiagnostics } from '../schemes/analysis';
import { DEFAULT_LOSS_MESSAGE } from '../presentation/findingText';
import type {
  AuxStmt, BrokenStmt, DataStmt, EquationStmt, FixedStmt, FunctionStmt, InitItem, LossStmt, NumberItem, ParamItem, Program,
  SchemeStmt, StateStmt,
} from './ast';
import { BUILTINS, BUILTIN_NAMES, CONSTANTS, LOWERED, XPP_UNSUPPORTED_FUNCTIONS, isBuiltin } from './builtins';
import { readData } from './data';
import { SCHEME_ALIASES, resolveOptions } from './options';
import { diag, rangeKey } from './ranges';

/** Largest number of elements of any declared or intermediate tensor. */
const MAX_ELEMENTS = 10_000_000;
/** Largest number of expression nodes produced by expanding user functions and fixed quantities. */
const MAX_EXPANDED_NODES = 200_000;

type Sym =
  | { kind: 'state'; name: string; shape: Shape; range: Range; nameRange: Range; explicit: boolean }
  | { kind: 'param'; name: string; shape: Shape; item: ParamItem }
  | { kind: 'number'; name: string; item: NumberItem; value?: number; status: 'todo' | 'busy' | 'done' }
  | { kind: 'fixed'; name: string; stmt: FixedStmt; checked?: Expr; dynamic: boolean; status: 'todo' | 'busy' | 'done' }
  | { kind: 'function'; name: string; stmt: FunctionStmt; busy: boolean }
  | { kind: 'aux'; name: string; stmt: AuxStmt }
  | { kind: 'data'; name: string; stmt: DataStmt; decl?: DataDecl }
  /** Declared by an unsupported construct (already reported): uses are silent errors. */
  | { kind: 'opaque'; name: string; keyword: string };

/** How a kind of symbol is named in messages. */
const KIND_WORD: Readonly<Record<Sym['kind'], string>> = {
  state: 'state', param: 'parameter', number: 'number', fixed: 'fixed quantity', function: 'function', aux: 'aux', data: 'data set', opaque: 'name',
};

/** Keywords that cannot be declared as names (the one-letter XPPAUT abbreviations can). */
const RESERVED: ReadonlySet<string> = new Set([
  'state', 'param', 'params', 'par', 'pars', 'parameter', 'parameters', 'init', 'number', 'num', 'aux', 'done', 'loss', 'per', 'shared',
  'if', 'then', 'else', 'data', 'scheme',
]);

type Context = 'rhs' | 'loss' | 'const';

interface Scope {
  ctx: Context;
  /** Arguments of the user function being expanded (lower-case name → checked argument). */
  bindings?: Map<string, Expr>;
  /** Set when the expression reads a state or `t` (it cannot be a constant). */
  dynamic: { value: boolean };
}

function formatShape(s: Shape): string { return `[${s.join(', ')}]`; }

function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting of two shapes; undefined when incompatible. */
function broadcast(a: Shape, b: Shape): Shape | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[i - (n - a.length)];
    const y = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (x === y || y === 1) out[i] = x;
    else if (x === 1) out[i] = y;
    else return undefined;
  }
  return out;
}

/** True when `from` broadcasts to exactly `to` (e.g. a scalar to any shape). */
function broadcastsTo(from: Shape, to: Shape): boolean {
  const b = broadcast(from, to);
  return b !== undefined && sameShape(b, to);
}

function elements(s: Shape): number { let p = 1; for (const d of s) p *= d; return p; }

function describeShape(s: Shape): string {
  return s.length === 0 ? 'a scalar' : s.length === 1 ? `a vector ${formatShape(s)}` : `a matrix ${formatShape(s)}`;
}

export function check(program: Program, parseDiagnostics: Diagnostic[], context: AnalysisContext = {}): Analysis {
  return new Checker(program, parseDiagnostics, context).run();
}

class Checker {
  private readonly diagnostics: Diagnostic[];
  private readonly seen = new Set<string>();
  private readonly symbols = new Map<string, Sym>();
  private expanded = 0;
  private expansionReported = false;
  /** Symbols read somewhere (for the unused-name warning). */
  private readonly used = new Set<Sym>();
  /** Declared schemes by lower-case name. */
  private readonly schemes = new Map<string, SchemeStmt>();

  constructor(private readonly program: Program, parseDiagnostics: Diagnostic[], private readonly context: AnalysisContext) {
    this.diagnostics = [];
    for (const d of parseDiagnostics) this.report(d);
  }

  private report(d: Diagnostic): void {
    const key = `${d.code}|${rangeKey(d.range)}|${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(d);
  }
  private error(code: DiagnosticCode, message: string, range: Range): void { this.report(diag(code, 'error', message, range)); }

  run(): Analysis {
    const st = this.program.statements;
    const stateStmts = st.filter((s): s is StateStmt => s.kind === 'state');
    const equations = st.filter((s): s is EquationStmt => s.kind === 'equation');
    const losses = st.filter((s): s is LossStmt => s.kind === 'loss');

    // 1. Declarations. Without any `state` line the file is XPPAUT style:
    //    each equation declares a scalar state. Names declared by lines with
    //    syntax errors or by unsupported constructs are declared first, as
    //    opaque names, so they cause no follow-on errors.
    const broken = st.filter((s): s is BrokenStmt => s.kind === 'broken');
    const brokenEquations = new Set(broken.flatMap((b) => (b.equationFor ? [b.equationFor.toLowerCase()] : [])));
    for (const s of st) {
      if (s.kind === 'opaque') this.declare({ kind: 'opaque', name: s.name, keyword: s.keyword }, s.nameRange);
      else if (s.kind === 'broken' && s.declares) this.declare({ kind: 'opaque', name: s.declares.name, keyword: s.declares.keyword }, s.declares.nameRange, true);
    }
    const implicitStates = stateStmts.length === 0 && !broken.some((b) => b.declares?.keyword === 'state');
    for (const s of stateStmts) {
      const shape = s.shape ? this.declShape(s.shape.dims, s.shape.range) : [];
      this.declare({ kind: 'state', name: s.name, shape, range: s.range, nameRange: s.nameRange, explicit: true }, s.nameRange);
    }
    if (implicitStates) {
      for (const e of equations) {
        const existing = this.symbols.get(e.state.toLowerCase());
        if (existing) continue; // duplicate equations are reported below
        this.declare({ kind: 'state', name: e.state, shape: [], range: e.stateRange, nameRange: e.stateRange, explicit: false }, e.stateRange);
      }
    }
    for (const s of st) {
      switch (s.kind) {
        case 'param':
          for (const item of s.items) {
            const shape = item.shape ? this.declShape(item.shape.dims, item.shape.range) : [];
            this.declare({ kind: 'param', name: item.name, shape, item }, item.nameRange);
          }
          break;
        case 'number':
          for (const item of s.items) this.declare({ kind: 'number', name: item.name, item, status: 'todo' }, item.nameRange);
          break;
        case 'fixed':
          this.declare({ kind: 'fixed', name: s.name, stmt: s, dynamic: false, status: 'todo' }, s.nameRange);
          break;
        case 'function':
          if (isBuiltin(s.name.toLowerCase()) || LOWERED.has(s.name.toLowerCase())) {
            this.error('duplicate-declaration', `'${s.name}' is a built-in function and cannot be redefined`, s.nameRange);
          } else this.declare({ kind: 'function', name: s.name, stmt: s, busy: false }, s.nameRange);
          break;
        case 'data':
          this.declare({ kind: 'data', name: s.name, stmt: s }, s.nameRange);
          break;
        case 'scheme': {
          const key = s.name.toLowerCase();
          if ((SCHEME_NAMES as readonly string[]).includes(key) || SCHEME_ALIASES.has(key)) {
            this.error('duplicate-declaration', `'${s.name}' is a built-in scheme; give your scheme another name`, s.nameRange);
          } else if (this.schemes.has(key)) {
            this.error('duplicate-declaration', `The scheme '${s.name}' is already declared`, s.nameRange);
          } else this.schemes.set(key, s);
          break;
        }
        case 'aux':
          this.report(diag('unsupported', 'warning', `Auxiliary output '${s.name}' is not computed by ODE Lens yet; the line is ignored`, s.range));
          this.declare({ kind: 'aux', name: s.name, stmt: s }, s.nameRange);
          break;
      }
    }

    // 2. Options.
    const optionLines = st.flatMap((s) => (s.kind === 'options' ? [s.line] : []));
    const optionDiags: Diagnostic[] = [];
    const schemeNames = new Map<string, string>();
    for (const [key, stmt] of this.schemes) schemeNames.set(key, stmt.name);
    for (const b of broken) if (b.declares?.keyword === 'scheme') schemeNames.set(b.declares.name.toLowerCase(), b.declares.name);
    const options = resolveOptions(optionLines, optionDiags, schemeNames);
    for (const d of optionDiags) this.report(d);
    const schemes: SchemeDecl[] = [];
    for (const stmt of this.schemes.values()) {
      const decl = this.scheme(stmt);
      if (decl) schemes.push(decl);
      if (decl && stmt.name !== options.meth) this.report(diag('unused-name', 'warning', `The scheme '${stmt.name}' is never used; select it with @ meth=${stmt.name}`, stmt.nameRange));
    }

    // Data files (their times must lie in the solved interval, so after the options).
    const data: DataDecl[] = [];
    for (const sym of this.symbols.values()) {
      if (sym.kind !== 'data') continue;
      const out: Diagnostic[] = [];
      sym.decl = readData(sym.stmt, this.context, [options.t0, options.t0 + options.total], out);
      for (const d of out) this.report(d);
      if (sym.decl) data.push(sym.decl);
    }
    // User-function arguments that hide a declared name.
    for (const sym of this.symbols.values()) if (sym.kind === 'function') this.functionArgs(sym.stmt);

    // 3. Parameters.
    const params: ParamDecl[] = [];
    for (const s of st) {
      if (s.kind !== 'param') continue;
      for (const item of s.items) {
        const sym = this.symbols.get(item.name.toLowerCase());
        if (!sym || sym.kind !== 'param' || sym.item !== item) continue;
        const init = this.paramInit(item, sym.shape);
        if (init) params.push({ name: item.name, shape: sym.shape, perStep: item.perStep, init, range: item.range, nameRange: item.nameRange });
      }
    }
    // Numbers and fixed quantities are checked even when unused.
    for (const sym of this.symbols.values()) {
      if (sym.kind === 'number') this.numberValue(sym);
      else if (sym.kind === 'fixed') this.fixedExpr(sym);
    }

    // 4. Initial values.
    const inits = new Map<string, Expr>();
    for (const s of st) {
      if (s.kind !== 'init') continue;
      for (const item of s.items) this.init(item, inits);
    }

    // 5. Equations.
    const eqByState = new Map<string, Equation>();
    const eqList: Equation[] = [];
    for (const e of equations) {
      const sym = this.lookup(e.state, e.stateRange);
      if (sym?.kind === 'opaque') continue;
      if (!sym || sym.kind !== 'state') {
        if (sym) this.error('unknown-state', `'${e.state}' is not a state (it is declared as a ${KIND_WORD[sym.kind]}); declare it with 'state ${e.state}'`, e.stateRange);
        else this.error('unknown-state', `Equation for unknown state '${e.state}'; declare it first with 'state ${e.state}'${this.suggest(e.state, 'state')}`, e.stateRange);
        continue;
      }
      const key = sym.name.toLowerCase();
      const rhs = this.expr(e.rhs, { ctx: 'rhs', dynamic: { value: false } });
      if (eqByState.has(key)) {
        this.error('duplicate-equation', `State '${sym.name}' already has an equation; each state has exactly one`, e.stateRange);
        continue;
      }
      if (rhs.shape && !broadcastsTo(rhs.shape, sym.shape)) {
        this.error('shape-mismatch', `The right-hand side of ${sym.name}' is ${describeShape(rhs.shape)}, but state '${sym.name}' is ${describeShape(sym.shape)}`, e.rhs.range);
      }
      const eq: Equation = { state: sym.name, rhs, range: e.range };
      eqByState.set(key, eq);
      eqList.push(eq);
    }

    // 6. States.
    const states: StateDecl[] = [];
    for (const sym of this.symbols.values()) {
      if (sym.kind !== 'state') continue;
      const key = sym.name.toLowerCase();
      if (!eqByState.has(key) && !brokenEquations.has(key)) {
        this.error('missing-equation', `State '${sym.name}' has no equation; add ${sym.name}' = …`, sym.nameRange);
      }
      const decl: StateDecl = { name: sym.name, shape: sym.shape, range: sym.range, nameRange: sym.nameRange };
      const init = inits.get(key);
      if (init) decl.init = init;
      states.push(decl);
    }

    // 7. Loss.
    let loss: Loss | undefined;
    for (const l of losses) {
      if (loss) {
        this.error('duplicate-declaration', 'The model already has a loss; only one loss is allowed', l.keywordRange);
        continue;
      }
      const expr = this.expr(l.expr, { ctx: 'loss', dynamic: { value: false } });
      if (expr.shape && expr.shape.length !== 0) {
        this.error('shape-mismatch', `The loss must be a scalar, but it is ${describeShape(expr.shape)}; reduce it, e.g. with sum(…)`, l.expr.range);
      }
      loss = { expr, range: l.range };
    }
    if (losses.length === 0 && !broken.some((b) => b.isLoss)) {
      const where = states[0]?.nameRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
      // Valid (a classic XPPAUT model has none): the engine checks the default loss, and says which.
      this.report(diag('default-loss', 'information', DEFAULT_LOSS_MESSAGE, where));
    }

    // 8. Names never read. Aux lines are not checked, but the names they read count as used.
    for (const s of st) if (s.kind === 'aux') this.markNamesUsed(s.expr);
    for (const sym of this.symbols.values()) {
      if (this.used.has(sym)) continue;
      let range: Range | undefined;
      switch (sym.kind) {
        case 'param': range = sym.item.nameRange; break;
        case 'number': range = sym.item.nameRange; break;
        case 'fixed': range = sym.stmt.nameRange; break;
        case 'function': range = sym.stmt.nameRange; break;
        case 'data': range = sym.stmt.nameRange; break;
        default: continue;
      }
      const word = KIND_WORD[sym.kind];
      this.report(diag('unused-name', 'warning', `The ${word} '${sym.name}' is never used`, range));
    }

    const sortDiagnostics = (): void => {
      this.diagnostics.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
    };
    const hasError = (): boolean => this.diagnostics.some((d) => d.severity === 'error');
    if (hasError()) { sortDiagnostics(); return { diagnostics: this.diagnostics }; }
    const model: Model = { states, params, equations: eqList, data, schemes, options, optionLines };
    if (loss) model.loss = loss;
    // Static analysis of the scheme (per-step parameters at risk, weak stability…).
    try {
      for (const d of schemeDiagnostics(model)) this.report(d);
    } catch (e) {
      this.report(diag('internal-error', 'warning', `The scheme analysis failed (internal error: ${e instanceof Error ? e.message : String(e)})`, { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }));
    }
    sortDiagnostics();
    if (hasError()) return { diagnostics: this.diagnostics };
    return { model, diagnostics: this.diagnostics };
  }

  // ---- names ---------------------------------------------------------------

  /** Finds a declared name, marks it used, and hints when it is written with another case than declared. */
  private lookup(written: string, range: Range): Sym | undefined {
    const sym = this.symbols.get(written.toLowerCase());
    if (!sym) return undefined;
    this.used.add(sym);
    if (sym.kind !== 'opaque' && sym.name !== written) {
      this.report(diag('name-case', 'hint', `'${written}' refers to the ${KIND_WORD[sym.kind]} '${sym.name}': names are case-insensitive here, as in XPPAUT; a case-sensitive reading would see two different names`, range));
    }
    return sym;
  }

  private markNamesUsed(e: Expr): void {
    switch (e.kind) {
      case 'name': { const sym = this.symbols.get(e.name.toLowerCase()); if (sym) this.used.add(sym); break; }
      case 'call': { const sym = this.symbols.get(e.callee.toLowerCase()); if (sym) this.used.add(sym); e.args.forEach((a) => this.markNamesUsed(a)); break; }
      case 'unary': this.markNamesUsed(e.operand); break;
      case 'binary': this.markNamesUsed(e.left); this.markNamesUsed(e.right); break;
      case 'vector': e.elements.forEach((a) => this.markNamesUsed(a)); break;
      case 'index': this.markNamesUsed(e.target); break;
      case 'if': this.markNamesUsed(e.cond); this.markNamesUsed(e.then); this.markNamesUsed(e.else); break;
      default: break;
    }
  }

  /** Arguments of a user function: duplicates are errors; hiding a declared name or t, and never reading an argument, are warnings. */
  private functionArgs(f: FunctionStmt): void {
    const read = new Set<string>();
    const collect = (e: Expr): void => {
      switch (e.kind) {
        case 'name': read.add(e.name.toLowerCase()); break;
        case 'call': read.add(e.callee.toLowerCase()); e.args.forEach(collect); break;
        case 'unary': collect(e.operand); break;
        case 'binary': collect(e.left); collect(e.right); break;
        case 'vector': e.elements.forEach(collect); break;
        case 'index': collect(e.target); break;
        case 'if': collect(e.cond); collect(e.then); collect(e.else); break;
        default: break;
      }
    };
    collect(f.body);
    const seen = new Set<string>();
    f.params.forEach((p, i) => {
      const key = p.toLowerCase();
      const range = f.paramRanges[i];
      if (seen.has(key)) { this.error('duplicate-declaration', `The argument '${p}' appears twice in ${f.name}(…)`, range); return; }
      seen.add(key);
      const hidden = this.symbols.get(key);
      if (key === 't') this.report(diag('shadowed-name', 'hint', `The argument 't' of ${f.name}(…) hides the time t inside the function`, range));
      else if (hidden && hidden.kind !== 'opaque' && hidden.kind !== 'function') {
        this.report(diag('shadowed-name', 'hint', `The argument '${p}' of ${f.name}(…) hides the ${KIND_WORD[hidden.kind]} '${hidden.name}' inside the function`, range));
      }
      if (!read.has(key)) this.report(diag('unused-name', 'warning', `The argument '${p}' of ${f.name}(…) is never used`, range));
    });
  }

  // ---- schemes -------------------------------------------------------------

  /** Checks a `scheme` line's coefficients and shapes. */
  private scheme(stmt: SchemeStmt): SchemeDecl | undefined {
    const allowed = stmt.family === 'rk' ? ['a', 'b', 'c'] : ['alpha', 'beta'];
    const values = new Map<string, { value: number[] | number[][] | number; range: Range }>();
    let ok = true;
    for (const c of stmt.coeffs) {
      if (!allowed.includes(c.key)) {
        this.error('invalid-scheme', `Unknown coefficient '${c.key}' for a${stmt.family === 'rk' ? 'n rk' : 'n lmm'} scheme; expected ${allowed.map((k) => `${k}=`).join(', ')}`, c.keyRange);
        ok = false;
        continue;
      }
      if (values.has(c.key)) { this.error('invalid-scheme', `The coefficient '${c.key}' is given twice`, c.keyRange); ok = false; continue; }
      const checked = this.expr(c.value, { ctx: 'const', dynamic: { value: false } });
      if (!checked.shape) { ok = false; continue; }
      const value = constTensor(checked);
      if (value === undefined) { this.error('not-constant', `The coefficients '${c.key}' must be constant numbers`, c.value.range); ok = false; continue; }
      values.set(c.key, { value, range: c.value.range });
    }
    const missing = allowed.filter((k) => !values.has(k) && !stmt.coeffs.some((c) => c.key === k));
    if (missing.length > 0) {
      this.error('invalid-scheme', `The scheme '${stmt.name}' needs ${missing.map((k) => `${k}=[…]`).join(' and ')}`, stmt.nameRange);
      return undefined;
    }
    if (!ok) return undefined;
    const shapeOf = (v: number[] | number[][] | number): Shape => (typeof v === 'number' ? [] : Array.isArray(v[0]) ? [v.length, (v[0] as number[]).length] : [v.length]);
    if (stmt.family === 'rk') {
      const a = values.get('a')!, b = values.get('b')!, c = values.get('c')!;
      const sb = shapeOf(b.value);
      if (sb.length !== 1) { this.error('invalid-scheme', `b must be a vector of stage weights, but it is ${describeShape(sb)}`, b.range); return undefined; }
      const stages = sb[0];
      const sa = shapeOf(a.value), sc = shapeOf(c.value);
      if (sa.length !== 2 || sa[0] !== stages || sa[1] !== stages) {
        this.error('invalid-scheme', `a must be a ${stages}×${stages} matrix for ${stages} stage${stages === 1 ? '' : 's'} (b has ${stages} entries), but it is ${describeShape(sa)}`, a.range);
        return undefined;
      }
      if (sc.length !== 1 || sc[0] !== stages) { this.error('invalid-scheme', `c must be a vector of ${stages} stage times (b has ${stages} entries), but it is ${describeShape(sc)}`, c.range); return undefined; }
      const am = a.value as number[][];
      for (let i = 0; i < stages; i++) {
        for (let j = i; j < stages; j++) {
          if (am[i][j] !== 0) {
            this.error('invalid-scheme', `Only explicit Runge–Kutta schemes are supported: a must be strictly lower triangular, but a[${i}, ${j}] = ${am[i][j]}`, a.range);
            return undefined;
          }
        }
      }
      return { kind: 'rk', name: stmt.name, a: am, b: b.value as number[], c: c.value as number[], range: stmt.range, nameRange: stmt.nameRange };
    }
    const alpha = values.get('alpha')!, beta = values.get('beta')!;
    const sa = shapeOf(alpha.value), sb = shapeOf(beta.value);
    if (sa.length !== 1 || sa[0] < 2) { this.error('invalid-scheme', `alpha must be a vector of at least 2 coefficients (oldest first), but it is ${describeShape(sa)}`, alpha.range); return undefined; }
    if (sb.length !== 1 || sb[0] !== sa[0]) { this.error('invalid-scheme', `beta must be a vector of ${sa[0]} coefficients, like alpha, but it is ${describeShape(sb)}`, beta.range); return undefined; }
    const al = alpha.value as number[], be = beta.value as number[];
    if (al[al.length - 1] === 0) { this.error('invalid-scheme', 'The last (newest) alpha coefficient must not be 0', alpha.range); return undefined; }
    if (be[be.length - 1] !== 0) { this.error('invalid-scheme', `Only explicit multistep schemes are supported: the last (newest) beta coefficient must be 0, found ${be[be.length - 1]}`, beta.range); return undefined; }
    return { kind: 'lmm', name: stmt.name, alpha: al, beta: be, range: stmt.range, nameRange: stmt.nameRange };
  }

  // ---- declarations --------------------------------------------------------

  private declShape(dims: Shape, range: Range): Shape {
    if (dims.length > 2) this.error('invalid-shape', `Shape ${formatShape(dims)} has ${dims.length} dimensions; only scalars, vectors and matrices are supported`, range);
    else if (elements(dims) > MAX_ELEMENTS) this.error('invalid-shape', `Shape ${formatShape(dims)} has ${elements(dims)} elements; at most ${MAX_ELEMENTS} are supported`, range);
    return dims;
  }

  private declare(sym: Sym, nameRange: Range, quiet = false): void {
    const key = sym.name.toLowerCase();
    if (quiet && (key === 't' || this.symbols.has(key))) return;
    if (key === 't') {
      this.error('reserved-name', `'${sym.name}' is the time variable and cannot be declared`, nameRange);
      return;
    }
    if (RESERVED.has(key)) {
      this.error('reserved-name', `'${sym.name}' is a keyword and cannot be used as a name`, nameRange);
      return;
    }
    const prev = this.symbols.get(key);
    if (prev && (prev.kind === 'opaque' || sym.kind === 'opaque')) return; // its line is already reported
    if (prev) {
      const caseNote = prev.name !== sym.name ? ` (names are case-insensitive, as in XPPAUT)` : '';
      this.error('duplicate-declaration', `'${sym.name}' is already declared as a ${prev.kind} '${prev.name}'${caseNote}`, nameRange);
      return;
    }
    this.symbols.set(key, sym);
  }

  private suggest(name: string, kind?: Sym['kind']): string {
    const names: string[] = [];
    for (const s of this.symbols.values()) if (!kind || s.kind === kind) names.push(s.name);
    if (!kind) names.push('t');
    if (names.length === 0) return '';
    const best = closest(name, names);
    if (best === undefined) return '';
    return distance(name.toLowerCase(), best.toLowerCase()) <= (best.length <= 2 ? 1 : Math.max(2, Math.floor(best.length / 3))) ? ` — did you mean '${best}'?` : '';
  }

  private paramInit(item: ParamItem, shape: Shape): Initialiser | undefined {
    const init = item.init;
    if (!init) return undefined;
    if (init.kind === 'normal') {
      const mean = this.constNumber(init.mean, 'The mean');
      const std = this.constNumber(init.std, 'The standard deviation');
      if (std !== undefined && std < 0) this.error('invalid-initialiser', `The standard deviation must be ≥ 0, found ${std}`, init.std.range);
      if (mean === undefined || std === undefined) return undefined;
      return { kind: 'normal', mean, std, range: init.range };
    }
    const value = this.expr(init.value, { ctx: 'const', dynamic: { value: false } });
    if (value.shape && !broadcastsTo(value.shape, shape)) {
      this.error('init-shape', `The initial value of '${item.name}' is ${describeShape(value.shape)}, which does not fit its shape ${formatShape(shape)}`, init.value.range);
    }
    return { kind: 'value', value, range: init.range };
  }

  private constNumber(e: Expr, what: string): number | undefined {
    const checked = this.expr(e, { ctx: 'const', dynamic: { value: false } });
    if (!checked.shape) return undefined;
    const v = evalConst(checked);
    if (v === undefined || !Number.isFinite(v)) {
      this.error('not-constant', `${what} must be a constant number`, e.range);
      return undefined;
    }
    return v;
  }

  private numberValue(sym: Extract<Sym, { kind: 'number' }>): number | undefined {
    if (sym.status === 'done') return sym.value;
    if (sym.status === 'busy') {
      this.error('recursive-definition', `'${sym.name}' is defined in terms of itself`, sym.item.nameRange);
      return undefined;
    }
    sym.status = 'busy';
    sym.value = this.constNumber(sym.item.value, `The value of '${sym.name}'`);
    sym.status = 'done';
    return sym.value;
  }

  private fixedExpr(sym: Extract<Sym, { kind: 'fixed' }>): Expr | undefined {
    if (sym.status === 'done') return sym.checked;
    if (sym.status === 'busy') {
      this.error('recursive-definition', `'${sym.name}' is defined in terms of itself`, sym.stmt.nameRange);
      return undefined;
    }
    sym.status = 'busy';
    const scope: Scope = { ctx: 'rhs', dynamic: { value: false } };
    const e = this.expr(sym.stmt.expr, scope);
    sym.dynamic = scope.dynamic.value;
    sym.checked = e.shape ? e : undefined;
    sym.status = 'done';
    return sym.checked;
  }

  private init(item: InitItem, inits: Map<string, Expr>): void {
    const sym = this.lookup(item.name, item.nameRange);
    if (sym?.kind === 'opaque') return;
    if (!sym || sym.kind !== 'state') {
      const what = sym ? `'${item.name}' is a ${KIND_WORD[sym.kind]}, not a state` : `Initial value for unknown state '${item.name}'${this.suggest(item.name, 'state')}`;
      this.error(sym ? 'unknown-state' : 'unknown-state', what, item.nameRange);
      return;
    }
    const key = sym.name.toLowerCase();
    const value = this.expr(item.value, { ctx: 'const', dynamic: { value: false } });
    if (inits.has(key)) {
      this.error('duplicate-declaration', `State '${sym.name}' already has an initial value`, item.nameRange);
      return;
    }
    if (value.shape && !broadcastsTo(value.shape, sym.shape)) {
      this.error('init-shape', `The initial value of '${sym.name}' is ${describeShape(value.shape)}, but '${sym.name}' is ${describeShape(sym.shape)}`, item.value.range);
    }
    inits.set(key, value);
  }

  // ---- expressions ---------------------------------------------------------

  /** Returns a new node; `shape` is undefined when the expression has an error (already reported). */
  private expr(e: Expr, scope: Scope): Expr {
    if (++this.expanded > MAX_EXPANDED_NODES) {
      if (!this.expansionReported) {
        this.expansionReported = true;
        this.error('too-large', `The model is too large after expanding functions and fixed quantities (more than ${MAX_EXPANDED_NODES} expression nodes)`, e.range);
      }
      return { kind: 'number', value: 0, range: e.range };
    }
    switch (e.kind) {
      case 'number':
        return { kind: 'number', value: e.value, range: e.range, shape: [] };
      case 'name':
        return this.name(e.name, e.range, scope);
      case 'stateAtEnd':
      case 'stateAtData':
        return { ...e };
      case 'index': {
        const target = this.expr(e.target, scope);
        const node: Expr = { kind: 'index', target, indices: e.indices, range: e.range };
        if (!target.shape) return node;
        const s = target.shape;
        if (e.indices.length > s.length) {
          this.error('index-out-of-range', s.length === 0
            ? `A scalar cannot be indexed (it has shape [])`
            : `Too many indices: ${e.indices.length} given, but the shape ${formatShape(s)} has ${s.length} dimension${s.length === 1 ? '' : 's'}`, e.range);
          return node;
        }
        for (let k = 0; k < e.indices.length; k++) {
          if (e.indices[k] >= s[k]) {
            this.error('index-out-of-range', `Index ${e.indices[k]} is out of range for shape ${formatShape(s)}: indices count from 0, so dimension ${k + 1} takes 0 to ${s[k] - 1}`, e.range);
            return node;
          }
        }
        node.shape = s.slice(e.indices.length);
        return node;
      }
      case 'if': {
        const cond = this.expr(e.cond, scope);
        const then = this.expr(e.then, scope);
        const otherwise = this.expr(e.else, scope);
        const node: Expr = { kind: 'if', cond, then, else: otherwise, range: e.range };
        if (!cond.shape || !then.shape || !otherwise.shape) return node;
        const ab = broadcast(then.shape, otherwise.shape);
        const all = ab && broadcast(cond.shape, ab);
        const ifRange: Range = { start: e.range.start, end: { line: e.range.start.line, character: e.range.start.character + 2 } };
        if (!all) {
          this.error('shape-mismatch', `The parts of if(c)then(a)else(b) do not broadcast: condition ${formatShape(cond.shape)}, then ${formatShape(then.shape)}, else ${formatShape(otherwise.shape)}`, ifRange);
          return node;
        }
        node.shape = all;
        return node;
      }
      case 'unary': {
        const operand = this.expr(e.operand, scope);
        return { kind: 'unary', op: e.op, operand, range: e.range, shape: operand.shape };
      }
      case 'binary': {
        const left = this.expr(e.left, scope);
        const right = this.expr(e.right, scope);
        const node: Expr = { kind: 'binary', op: e.op, left, right, range: e.range, opRange: e.opRange };
        if (left.shape && right.shape) node.shape = this.binaryShape(e.op, left.shape, right.shape, e.opRange);
        return node;
      }
      case 'vector': {
        const els = e.elements.map((x) => this.expr(x, scope));
        const node: Expr = { kind: 'vector', elements: els, range: e.range };
        if (els.some((x) => !x.shape)) return node;
        const first = els[0].shape as Shape;
        for (let i = 1; i < els.length; i++) {
          const s = els[i].shape as Shape;
          if (!sameShape(s, first)) {
            this.error('shape-mismatch', `All elements of a vector must have the same shape: element 1 is ${describeShape(first)}, element ${i + 1} is ${describeShape(s)}`, els[i].range);
            return node;
          }
        }
        const shape = [els.length, ...first];
        if (shape.length > 2) {
          this.error('invalid-shape', `Literal of shape ${formatShape(shape)}: only vectors and matrices are supported`, e.range);
          return node;
        }
        node.shape = shape;
        return node;
      }
      case 'call':
        return this.call(e, scope);
    }
  }

  private binaryShape(op: BinaryOperator, a: Shape, b: Shape, opRange: Range): Shape | undefined {
    let out: Shape | undefined;
    if (op === '@') {
      if (a.length === 0 || b.length === 0) {
        this.error('matmul-shape', `'@' is a matrix product and needs vectors or matrices, but got ${describeShape(a)} @ ${describeShape(b)}; use '*' to multiply by a scalar`, opRange);
        return undefined;
      }
      if (a.length > 2 || b.length > 2) {
        this.error('matmul-shape', `'@' supports vectors and matrices only, got ${formatShape(a)} @ ${formatShape(b)}`, opRange);
        return undefined;
      }
      const inner = a[a.length - 1];
      const other = b[0];
      if (inner !== other) {
        this.error('matmul-shape', `'@' needs matching inner dimensions: ${formatShape(a)} @ ${formatShape(b)} (${inner} ≠ ${other}); '@' takes [m,n]@[n], [m,n]@[n,p], [n]@[n] or [n]@[n,p]`, opRange);
        return undefined;
      }
      out = [...a.slice(0, a.length - 1), ...b.slice(1)];
    } else {
      out = broadcast(a, b);
      if (!out) {
        this.error('shape-mismatch', `Shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast for '${op}'`, opRange);
        return undefined;
      }
      // [K] against [K, 1] silently becomes [K, K]: almost always a mistake (e.g. x(obs) - obs for a scalar state).
      if (a.length > 0 && b.length > 0 && elements(out) > Math.max(elements(a), elements(b))) {
        this.report(diag('broadcast-outer', 'warning', `Shapes ${formatShape(a)} and ${formatShape(b)} broadcast to ${formatShape(out)} for '${op}', larger than either; if you meant element by element, index one of them (e.g. obs[…]) so the shapes match`, opRange));
      }
    }
    if (elements(out) > MAX_ELEMENTS) {
      this.error('too-large', `The result of '${op}' has shape ${formatShape(out)}, more than ${MAX_ELEMENTS} elements`, opRange);
      return undefined;
    }
    return out;
  }

  private name(written: string, range: Range, scope: Scope): Expr {
    const key = written.toLowerCase();
    const bound = scope.bindings?.get(key);
    if (bound) return bound;
    const constant = CONSTANTS.get(key);
    if (constant !== undefined && !this.symbols.has(key)) return { kind: 'number', value: constant, range, shape: [] };
    if (key === 't') {
      if (scope.ctx === 'const') {
        this.error('not-constant', 'Initial values must be constant; the time t is not available here', range);
        return { kind: 'name', name: 't', range };
      }
      if (scope.ctx === 'loss') {
        this.error('undefined-name', "The time t is not available in the loss; the loss reads the final state, e.g. x(T)", range);
        return { kind: 'name', name: 't', range };
      }
      scope.dynamic.value = true;
      return { kind: 'name', name: 't', range, shape: [] };
    }
    const sym = this.lookup(written, range);
    if (!sym) {
      this.error('undefined-name', `Undefined name '${written}'${this.suggest(written)}`, range);
      return { kind: 'name', name: written, range };
    }
    switch (sym.kind) {
      case 'state':
        if (scope.ctx === 'const') {
          this.error('not-constant', `Initial values must be constant; '${sym.name}' is a state`, range);
          return { kind: 'name', name: sym.name, range };
        }
        if (scope.ctx === 'loss') {
          this.error('state-in-loss', `The loss reads states at the final time: write ${sym.name}(T) instead of ${written}`, range);
          return { kind: 'name', name: sym.name, range };
        }
        scope.dynamic.value = true;
        return { kind: 'name', name: sym.name, range, shape: sym.shape };
      case 'param':
        if (scope.ctx === 'const') {
          this.error('not-constant', `Initial values must be constant; '${sym.name}' is a parameter`, range);
          return { kind: 'name', name: sym.name, range };
        }
        return { kind: 'name', name: sym.name, range, shape: sym.shape };
      case 'number': {
        const v = this.numberValue(sym);
        return v === undefined ? { kind: 'number', value: 0, range } : { kind: 'number', value: v, range, shape: [] };
      }
      case 'fixed': {
        const e = this.fixedExpr(sym);
        if (!e) return { kind: 'name', name: sym.name, range };
        if (sym.dynamic && scope.ctx !== 'rhs') {
          this.error('not-constant', scope.ctx === 'loss'
            ? `'${sym.name}' depends on the state or on t; the loss reads states only as x(T)`
            : `Initial values must be constant; '${sym.name}' depends on the state or on t`, range);
          return { kind: 'name', name: sym.name, range };
        }
        if (sym.dynamic) scope.dynamic.value = true;
        return e;
      }
      case 'function':
        this.error('undefined-name', `'${sym.name}' is a function; call it as ${sym.name}(…)`, range);
        return { kind: 'name', name: sym.name, range };
      case 'aux':
        this.error('undefined-name', `'${sym.name}' is an auxiliary output and cannot be used in expressions`, range);
        return { kind: 'name', name: sym.name, range };
      case 'data': {
        if (scope.ctx !== 'loss') {
          this.error('data-outside-loss', `The data set '${sym.name}' can only be used in the loss`, range);
          return { kind: 'name', name: sym.name, range };
        }
        if (!sym.decl) return { kind: 'name', name: sym.name, range }; // its file is already reported
        return { kind: 'name', name: sym.name, range, shape: [sym.decl.times.length, sym.decl.columns.length] };
      }
      case 'opaque':
        return { kind: 'name', name: sym.name, range };
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope): Expr {
    const key = e.callee.toLowerCase();
    const bad = (): Expr => ({ kind: 'call', callee: e.callee, args: e.args, range: e.range, calleeRange: e.calleeRange });
    const sym = scope.bindings?.has(key) ? undefined : this.lookup(e.callee, e.calleeRange);

    // x(T): the state at the final time; x(obs): at the observation times of a data set.
    if (sym?.kind === 'state') {
      const arg = e.args[0];
      const isT = e.args.length === 1 && arg.kind === 'name' && arg.name.toLowerCase() === 't';
      const dataSym = e.args.length === 1 && arg.kind === 'name' && !isT ? this.symbols.get(arg.name.toLowerCase()) : undefined;
      if (dataSym?.kind === 'data') {
        this.lookup(arg.kind === 'name' ? arg.name : dataSym.name, arg.range);
        if (scope.ctx !== 'loss') {
          this.error('state-at-end-outside-loss', `${sym.name}(${dataSym.name}), the state at the observation times, is only allowed in the loss`, e.range);
          return bad();
        }
        const node: Expr = { kind: 'stateAtData', state: sym.name, data: dataSym.name, range: e.range };
        if (dataSym.decl) node.shape = [dataSym.decl.times.length, ...sym.shape];
        return node;
      }
      if (dataSym?.kind === 'opaque') return bad(); // its declaration line is already reported
      if (!isT) {
        this.error('syntax-error', `A state can only be read in the loss, at the final time as ${sym.name}(T) or at the times of a data set as ${sym.name}(obs)`, e.range);
        return bad();
      }
      if (scope.ctx !== 'loss') {
        this.error('state-at-end-outside-loss', `${sym.name}(T), the state at the final time, is only allowed in the loss`, e.range);
        return bad();
      }
      return { kind: 'stateAtEnd', state: sym.name, range: e.range, shape: sym.shape };
    }

    const info = isBuiltin(key) ? BUILTINS.get(key) : undefined;
    if (info) {
      if (e.args.length !== info.arity) {
        this.error('bad-arity', `${key}(…) takes ${info.arity} argument${info.arity === 1 ? '' : 's'}, found ${e.args.length}`, e.range);
        return bad();
      }
      const args = e.args.map((a) => this.expr(a, scope));
      const node: Expr = { kind: 'call', callee: key, args, range: e.range, calleeRange: e.calleeRange };
      if (args.some((a) => !a.shape)) return node;
      if (info.kind === 'reduce') { node.shape = []; return node; }
      let shape: Shape | undefined = args[0].shape;
      for (let i = 1; i < args.length && shape; i++) shape = broadcast(shape, args[i].shape as Shape);
      if (!shape) {
        this.error('shape-mismatch', `The arguments of ${key}(…) do not broadcast: ${args.map((a) => formatShape(a.shape as Shape)).join(' and ')}`, e.calleeRange);
        return node;
      }
      node.shape = shape;
      return node;
    }

    const lowered = LOWERED.get(key);
    if (lowered !== undefined && !sym) {
      if (e.args.length !== lowered) {
        this.error('bad-arity', `${key}(…) takes ${lowered} argument${lowered === 1 ? '' : 's'}, found ${e.args.length}`, e.range);
        return bad();
      }
      return this.expr(lower(key, e), scope);
    }

    if (sym?.kind === 'function') {
      const f = sym.stmt;
      if (e.args.length !== f.params.length) {
        this.error('bad-arity', `${sym.name}(…) takes ${f.params.length} argument${f.params.length === 1 ? '' : 's'}, found ${e.args.length}`, e.range);
        return bad();
      }
      if (sym.busy) {
        this.error('recursive-definition', `Function '${sym.name}' calls itself; recursion is not supported`, e.calleeRange);
        return bad();
      }
      const args = e.args.map((a) => this.expr(a, scope));
      if (args.some((a) => !a.shape)) return bad();
      const bindings = new Map<string, Expr>();
      f.params.forEach((p, i) => bindings.set(p.toLowerCase(), args[i]));
      sym.busy = true;
      try {
        return this.expr(f.body, { ctx: scope.ctx, bindings, dynamic: scope.dynamic });
      } finally {
        sym.busy = false;
      }
    }

    if (sym?.kind === 'opaque') return bad();
    if (sym) {
      this.error('undefined-name', `'${sym.name}' is a ${KIND_WORD[sym.kind]}, not a function`, e.calleeRange);
      return bad();
    }
    if (XPP_UNSUPPORTED_FUNCTIONS.has(key)) {
      this.error('unsupported', `The function '${e.callee}' is not supported by ODE Lens yet`, e.calleeRange);
      return bad();
    }
    const best = closest(key, BUILTIN_NAMES);
    const hint = best && distance(key, best) <= 2 ? ` — did you mean '${best}'?` : '';
    this.error('unknown-function', `Unknown function '${e.callee}'${hint} (built-ins: ${BUILTIN_NAMES.join(', ')})`, e.calleeRange);
    return bad();
  }
}

/** Rewrites XPPAUT functions that have no built-in into built-ins (ranges point at the call). */
function lower(name: string, e: Extract<Expr, { kind: 'call' }>): Expr {
  const r = e.range;
  const op = e.calleeRange;
  const num = (value: number): Expr => ({ kind: 'number', value, range: r });
  const call = (callee: string, arg: Expr): Expr => ({ kind: 'call', callee, args: [arg], range: r, calleeRange: op });
  const bin = (o: '+' | '-' | '*' | '/' | '^', left: Expr, right: Expr): Expr => ({ kind: 'binary', op: o, left, right, range: r, opRange: op });
  const neg = (x: Expr): Expr => ({ kind: 'unary', op: '-', operand: x, range: r });
  const [x, y] = e.args;
  switch (name) {
    case 'cosh': return bin('/', bin('+', call('exp', x), call('exp', neg(x))), num(2));
    case 'sinh': return bin('/', bin('-', call('exp', x), call('exp', neg(x))), num(2));
    case 'tan': return bin('/', call('sin', x), call('cos', x));
    case 'log10': return bin('/', call('log', x), num(Math.LN10));
    case 'pow': return bin('^', x, y);
    case 'flr': return call('floor', x);
    case 'ln': return call('log', x);
    default: return e;
  }
}

/** Value of a checked scalar constant expression, or undefined. */
export function evalConst(e: Expr): number | undefined {
  switch (e.kind) {
    case 'number': return e.value;
    case 'unary': {
      const v = evalConst(e.operand);
      return v === undefined ? undefined : e.op === '-' ? -v : v;
    }
    case 'binary': {
      const a = evalConst(e.left);
      const b = evalConst(e.right);
      if (a === undefined || b === undefined) return undefined;
      switch (e.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return a / b;
        case '^': return a ** b;
        case '<': return a < b ? 1 : 0;
        case '>': return a > b ? 1 : 0;
        case '<=': return a <= b ? 1 : 0;
        case '>=': return a >= b ? 1 : 0;
        case '==': return a === b ? 1 : 0;
        case '!=': return a !== b ? 1 : 0;
        case '&': return a !== 0 && b !== 0 ? 1 : 0;
        case '|': return a !== 0 || b !== 0 ? 1 : 0;
        default: return undefined;
      }
    }
    case 'if': {
      const c = evalConst(e.cond);
      return c === undefined ? undefined : evalConst(c !== 0 ? e.then : e.else);
    }
    case 'index': {
      // An element of a literal: [1, 2][0], [[1, 2], [3, 4]][1, 0].
      let x: Expr = e.target;
      for (const i of e.indices) {
        if (x.kind !== 'vector' || i >= x.elements.length) return undefined;
        x = x.elements[i];
      }
      return x.shape && x.shape.length === 0 ? evalConst(x) : undefined;
    }
    case 'call': {
      const vs = e.args.map(evalConst);
      if (vs.some((v) => v === undefined)) return undefined;
      const [v, w] = vs as number[];
      switch (e.callee) {
        case 'tanh': return Math.tanh(v);
        case 'sin': return Math.sin(v);
        case 'cos': return Math.cos(v);
        case 'exp': return Math.exp(v);
        case 'log': return Math.log(v);
        case 'sigmoid': return 1 / (1 + Math.exp(-v));
        case 'relu': return Math.max(v, 0);
        case 'abs': return Math.abs(v);
        case 'sqrt': return Math.sqrt(v);
        case 'sum': return v;
        case 'heav': return v >= 0 ? 1 : 0;
        case 'sign': return Math.sign(v);
        case 'floor': return Math.floor(v);
        case 'ceil': return Math.ceil(v);
        case 'atan': return Math.atan(v);
        case 'asin': return Math.asin(v);
        case 'acos': return Math.acos(v);
        case 'max': return Math.max(v, w);
        case 'min': return Math.min(v, w);
        case 'mod': return v - w * Math.floor(v / w);
        case 'atan2': return Math.atan2(v, w);
        default: return undefined;
      }
    }
    default: return undefined;
  }
}

/** Values of a checked constant scalar, vector or matrix (vector literals of constants), or undefined. */
export function constTensor(e: Expr): number | number[] | number[][] | undefined {
  if (e.kind === 'vector') {
    const parts = e.elements.map(constTensor);
    if (parts.some((p) => p === undefined)) return undefined;
    if (parts.every((p) => typeof p === 'number')) return parts as number[];
    if (parts.every((p) => Array.isArray(p) && p.every((x) => typeof x === 'number'))) return parts as number[][];
    return undefined;
  }
  if (e.shape && e.shape.length > 0) return undefined;
  const v = evalConst(e);
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}
