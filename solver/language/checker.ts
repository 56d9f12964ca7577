// Name resolution and static shape inference (NumPy broadcasting).
//
// The checker never mutates the parse tree: it builds new `Expr` nodes with
// `shape` filled, which lets it expand XPPAUT user functions and fixed
// quantities inline (the checked model only contains states, parameters, `t`,
// numbers and built-in calls). Names are case-insensitive, as in XPPAUT; every
// reference is rewritten to the spelling of its declaration.

import { closest, distance } from 'fastest-levenshtein';
import type {
  Analysis, BinaryOperator, Diagnostic, Equation, Expr, Initialiser, Loss, Model, ParamDecl, Range, Shape, StateDecl,
} from '../model';
import type {
  AuxStmt, BrokenStmt, EquationStmt, FixedStmt, FunctionStmt, InitItem, LossStmt, NumberItem, ParamItem, Program, StateStmt,
} from './ast';
import { BUILTINS, BUILTIN_NAMES, LOWERED, XPP_UNSUPPORTED_FUNCTIONS, isBuiltin } from './builtins';
import { resolveOptions } from './options';
import { diag, rangeKey } from './ranges';

/** Largest number of elements of any declared or intermediate tensor. */
export const MAX_ELEMENTS = 10_000_000;
/** Largest number of expression nodes produced by expanding user functions and fixed quantities. */
export const MAX_EXPANDED_NODES = 200_000;

type Sym =
  | { kind: 'state'; name: string; shape: Shape; range: Range; nameRange: Range; explicit: boolean }
  | { kind: 'param'; name: string; shape: Shape; item: ParamItem }
  | { kind: 'number'; name: string; item: NumberItem; value?: number; status: 'todo' | 'busy' | 'done' }
  | { kind: 'fixed'; name: string; stmt: FixedStmt; checked?: Expr; dynamic: boolean; status: 'todo' | 'busy' | 'done' }
  | { kind: 'function'; name: string; stmt: FunctionStmt; busy: boolean }
  | { kind: 'aux'; name: string; stmt: AuxStmt }
  /** Declared by an unsupported construct (already reported): uses are silent errors. */
  | { kind: 'opaque'; name: string; keyword: string };

/** Keywords that cannot be declared as names (the one-letter XPPAUT abbreviations can). */
const RESERVED = new Set(['state', 'param', 'params', 'par', 'pars', 'parameter', 'parameters', 'init', 'number', 'num', 'aux', 'done', 'loss', 'per', 'shared']);

type Context = 'rhs' | 'loss' | 'const';

interface Scope {
  ctx: Context;
  /** Arguments of the user function being expanded (lower-case name → checked argument). */
  bindings?: Map<string, Expr>;
  /** Set when the expression reads a state or `t` (it cannot be a constant). */
  dynamic: { value: boolean };
}

export function formatShape(s: Shape): string { return `[${s.join(', ')}]`; }

function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting of two shapes; undefined when incompatible. */
export function broadcast(a: Shape, b: Shape): Shape | undefined {
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
export function broadcastsTo(from: Shape, to: Shape): boolean {
  const b = broadcast(from, to);
  return b !== undefined && sameShape(b, to);
}

function elements(s: Shape): number { let p = 1; for (const d of s) p *= d; return p; }

function describeShape(s: Shape): string {
  return s.length === 0 ? 'a scalar' : s.length === 1 ? `a vector ${formatShape(s)}` : `a matrix ${formatShape(s)}`;
}

export function check(program: Program, parseDiagnostics: Diagnostic[]): Analysis {
  return new Checker(program, parseDiagnostics).run();
}

class Checker {
  private readonly diagnostics: Diagnostic[];
  private readonly seen = new Set<string>();
  private readonly symbols = new Map<string, Sym>();
  private expanded = 0;
  private expansionReported = false;

  constructor(private readonly program: Program, parseDiagnostics: Diagnostic[]) {
    this.diagnostics = [];
    for (const d of parseDiagnostics) this.report(d);
  }

  private report(d: Diagnostic): void {
    const key = `${d.code}|${rangeKey(d.range)}|${d.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.diagnostics.push(d);
  }
  private error(code: string, message: string, range: Range): void { this.report(diag(code, 'error', message, range)); }

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
          if (isBuiltin(s.name.toLowerCase()) || LOWERED[s.name.toLowerCase()] !== undefined) {
            this.error('duplicate-declaration', `'${s.name}' is a built-in function and cannot be redefined`, s.nameRange);
          } else this.declare({ kind: 'function', name: s.name, stmt: s, busy: false }, s.nameRange);
          break;
        case 'aux':
          this.report(diag('unsupported', 'warning', `Auxiliary output '${s.name}' is not computed by ODE Lens yet; the line is ignored`, s.range));
          this.declare({ kind: 'aux', name: s.name, stmt: s }, s.nameRange);
          break;
      }
    }

    // 2. Options.
    const optionLines = st.flatMap((s) => (s.kind === 'options' ? [s.line] : []));
    const optionDiags: Diagnostic[] = [];
    const options = resolveOptions(optionLines, optionDiags);
    for (const d of optionDiags) this.report(d);

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
      const sym = this.symbols.get(e.state.toLowerCase());
      if (sym?.kind === 'opaque') continue;
      if (!sym || sym.kind !== 'state') {
        if (sym) this.error('unknown-state', `'${e.state}' is not a state (it is declared as a ${sym.kind}); declare it with 'state ${e.state}'`, e.stateRange);
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
      this.report(diag('missing-loss', 'warning', 'The model has no loss: gradient checks need a loss, e.g. loss = 0.5*sum(x(T)^2)', where));
    }

    this.diagnostics.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
    const hasError = this.diagnostics.some((d) => d.severity === 'error');
    if (hasError) return { diagnostics: this.diagnostics };
    const model: Model = { states, params, equations: eqList, data: [], schemes: [], options, optionLines };
    if (loss) model.loss = loss;
    return { model, diagnostics: this.diagnostics };
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
    const sym = this.symbols.get(item.name.toLowerCase());
    if (sym?.kind === 'opaque') return;
    if (!sym || sym.kind !== 'state') {
      const what = sym ? `'${item.name}' is a ${sym.kind}, not a state` : `Initial value for unknown state '${item.name}'${this.suggest(item.name, 'state')}`;
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
      case 'index': case 'if':
        return { ...e };
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
    const sym = this.symbols.get(key);
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
      case 'opaque':
        return { kind: 'name', name: sym.name, range };
    }
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope): Expr {
    const key = e.callee.toLowerCase();
    const bad = (): Expr => ({ kind: 'call', callee: e.callee, args: e.args, range: e.range, calleeRange: e.calleeRange });
    const sym = scope.bindings?.has(key) ? undefined : this.symbols.get(key);

    // x(T): the state at the final time.
    if (sym?.kind === 'state') {
      const arg = e.args[0];
      const isT = e.args.length === 1 && arg.kind === 'name' && arg.name.toLowerCase() === 't';
      if (!isT) {
        this.error('syntax-error', `A state can only be read at the final time, as ${sym.name}(T) in the loss`, e.range);
        return bad();
      }
      if (scope.ctx !== 'loss') {
        this.error('state-at-end-outside-loss', `${sym.name}(T), the state at the final time, is only allowed in the loss`, e.range);
        return bad();
      }
      return { kind: 'stateAtEnd', state: sym.name, range: e.range, shape: sym.shape };
    }

    if (isBuiltin(key)) {
      const info = BUILTINS[key];
      if (e.args.length !== info.arity) {
        this.error('bad-arity', `${key}(…) takes ${info.arity} argument${info.arity === 1 ? '' : 's'}, found ${e.args.length}`, e.range);
        return bad();
      }
      const args = e.args.map((a) => this.expr(a, scope));
      const node: Expr = { kind: 'call', callee: key, args, range: e.range, calleeRange: e.calleeRange };
      if (args[0].shape) node.shape = info.kind === 'reduce' ? [] : args[0].shape;
      return node;
    }

    const lowered = LOWERED[key];
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
      this.error('undefined-name', `'${sym.name}' is a ${sym.kind}, not a function`, e.calleeRange);
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
        default: return undefined;
      }
    }
    case 'call': {
      if (e.args.length !== 1) return undefined;
      const v = evalConst(e.args[0]);
      if (v === undefined) return undefined;
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
        default: return undefined;
      }
    }
    default: return undefined;
  }
}

