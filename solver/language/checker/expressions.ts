// Expressions: name resolution, expansion of user functions and fixed
// quantities, and static shapes (NumPy broadcasting, ops/shapes.ts). Every
// node is new: the parse tree is never mutated.
import { INTEGRAL } from '../volterraSyntax';
import { integralCall } from './volterra';
import { closest, distance } from 'fastest-levenshtein';
import { leftChain, type BinaryOperator, type Expr, type Range, type Shape } from '../../model';
import {
  BUILTINS,
  BUILTIN_NAMES,
  CONSTANTS,
  XPP_UNSUPPORTED_FUNCTIONS,
  isBuiltin,
  type BuiltinInfo,
} from '../builtins';
import { diag } from '../ranges';
import { broadcast, broadcastAll, elementCount as elements, sameShape } from '../../ops/shapes';
import { LOWERED_FUNCTIONS, lowerCall } from '../../ops/table';
import { evalConst } from './constants';
import { KIND_WORD, type CheckContext, type Context, type Scope, type Sym } from './context';
import { describeShape, formatShape, MAX_ELEMENTS } from './shapes';
import { noiseSample, wienerRead } from './noise';
import { markovRead } from './markov';
import { isRealisation, delayShiftCall, shiftCall, specialCall, tableCall } from './xppautCalls';

/**
 * Largest number of expression nodes produced by expanding user functions and fixed quantities (a network of
 * 100 oscillators coupled through fmmult(100, 100, …) and a two-argument function is about 300,000).
 */
export const MAX_EXPANDED_NODES = 400_000;
/** Most user functions expanded inside one another (each expansion nests the checker's walk once more). */
export const MAX_FUNCTION_NESTING = 200;

export type { Context, Scope };

/** Checks expressions against the declared names of one model. */
export class ExpressionChecker {
  private expanded = 0;
  /** User functions being expanded inside one another now. */
  private nesting = 0;
  private expansionReported = false;

  constructor(private readonly ctx: CheckContext) {}

  /**
   * `check` without counting its nodes against the model's size: a table's formula, checked once per sample, gives
   * numbers, not nodes of the solved model (one sample's formula still counts, so an explosive one is still refused).
   */
  uncounted<T>(check: () => T): T {
    const before = this.expanded;
    try {
      return check();
    } finally {
      this.expanded = before;
    }
  }

  /** Returns a new node; `shape` is undefined when the expression has an error (already reported). */
  expr(e: Expr, scope: Scope): Expr {
    if (++this.expanded > MAX_EXPANDED_NODES) {
      if (!this.expansionReported) {
        this.expansionReported = true;
        this.ctx.error(
          'too-large',
          `The model is too large after expanding functions and fixed quantities (more than ${MAX_EXPANDED_NODES} expression nodes)`,
          e.range,
        );
      }
      return { kind: 'number', value: 0, range: e.range };
    }
    switch (e.kind) {
      case 'number':
        // A number the checker made (a lowered call's constant, a draw of noise) is checked already: kept as it is, so
        // that a table's samples can draw its value again in place (tables.ts).
        return e.shape ? e : { kind: 'number', value: e.value, range: e.range, shape: [] };
      case 'name':
        return this.name(e.name, e.range, scope);
      case 'stateAtEnd':
      case 'stateAtData':
        return { ...e };
      case 'index':
        return this.index(e, scope);
      case 'if':
        return this.ifExpr(e, scope);
      case 'unary': {
        const operand = this.expr(e.operand, scope);
        return { kind: 'unary', op: e.op, operand, range: e.range, shape: operand.shape };
      }
      case 'binary': {
        // A long sum's left operands in a loop (model.ts: leftChain).
        const { chain, innermost } = leftChain(e);
        this.expanded += chain.length - 1;
        let left = this.expr(innermost, scope);
        for (let i = chain.length - 1; i >= 0; i--) {
          const b = chain[i];
          const right = this.expr(b.right, scope);
          const node: Expr = { kind: 'binary', op: b.op, left, right, range: b.range, opRange: b.opRange };
          if (b.terms !== undefined) node.terms = b.terms;
          if (left.shape && right.shape) node.shape = this.binaryShape(b.op, left.shape, right.shape, b.opRange);
          left = node;
        }
        return left;
      }
      case 'vector':
        return this.vector(e, scope);
      case 'call':
        return this.call(e, scope);
    }
  }

  private binaryShape(op: BinaryOperator, a: Shape, b: Shape, opRange: Range): Shape | undefined {
    let out: Shape | undefined;
    if (op === '@') {
      if (a.length === 0 || b.length === 0) {
        this.ctx.error(
          'matmul-shape',
          `'@' is a matrix product and needs vectors or matrices, but got ${describeShape(a)} @ ${describeShape(b)}; use '*' to multiply by a scalar`,
          opRange,
        );
        return undefined;
      }
      if (a.length > 2 || b.length > 2) {
        this.ctx.error(
          'matmul-shape',
          `'@' supports vectors and matrices only, got ${formatShape(a)} @ ${formatShape(b)}`,
          opRange,
        );
        return undefined;
      }
      const inner = a[a.length - 1];
      const other = b[0];
      if (inner !== other) {
        this.ctx.error(
          'matmul-shape',
          `'@' needs matching inner dimensions: ${formatShape(a)} @ ${formatShape(b)} (${inner} ≠ ${other}); '@' takes [m,n]@[n], [m,n]@[n,p], [n]@[n] or [n]@[n,p]`,
          opRange,
        );
        return undefined;
      }
      out = [...a.slice(0, a.length - 1), ...b.slice(1)];
    } else {
      out = broadcast(a, b);
      if (!out) {
        this.ctx.error(
          'shape-mismatch',
          `Shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast for '${op}'`,
          opRange,
        );
        return undefined;
      }
      // [K] against [K, 1] silently becomes [K, K]: almost always a mistake (e.g. x(obs) - obs for a scalar state).
      if (a.length > 0 && b.length > 0 && elements(out) > Math.max(elements(a), elements(b))) {
        this.ctx.report(
          diag(
            'broadcast-outer',
            'warning',
            `Shapes ${formatShape(a)} and ${formatShape(b)} broadcast to ${formatShape(out)} for '${op}', larger than either; if you meant element by element, index one of them (e.g. obs[…]) so the shapes match`,
            opRange,
          ),
        );
      }
    }
    if (elements(out) > MAX_ELEMENTS) {
      this.ctx.error(
        'too-large',
        `The result of '${op}' has shape ${formatShape(out)}, more than ${MAX_ELEMENTS} elements`,
        opRange,
      );
      return undefined;
    }
    return out;
  }

  private name(written: string, range: Range, scope: Scope): Expr {
    const key = written.toLowerCase();
    const bound = scope.bindings?.get(key);
    if (bound) return bound;
    const constant = CONSTANTS.get(key);
    if (constant !== undefined && !this.ctx.symbols.has(key))
      return { kind: 'number', value: constant, range, shape: [] };
    if (key === 't') return this.time(range, scope);
    const sym = this.ctx.lookup(written, range);
    if (!sym) {
      this.ctx.error('undefined-name', `Undefined name '${written}'${this.ctx.suggest(written)}`, range);
      return { kind: 'name', name: written, range };
    }
    return this.symbolName(sym, written, range, scope);
  }

  /** The time `t`: read by right-hand sides only. */
  private time(range: Range, scope: Scope): Expr {
    if (scope.ctx === 'const' && !scope.history) {
      this.ctx.error('not-constant', 'Initial values must be constant; the time t is not available here', range);
      return { kind: 'name', name: 't', range };
    }
    if (scope.ctx === 'loss') {
      this.ctx.error(
        'undefined-name',
        'The time t is not available in the loss; the loss reads the final state, e.g. x(T)',
        range,
      );
      return { kind: 'name', name: 't', range };
    }
    scope.dynamic.value = true;
    return { kind: 'name', name: 't', range, shape: [] };
  }

  /** A declared name read in an expression; a name without a shape when it cannot be read here (reported). */
  private symbolName(sym: Sym, written: string, range: Range, scope: Scope): Expr {
    switch (sym.kind) {
      case 'state':
        return this.stateName(sym, written, range, scope);
      case 'param': {
        const frozen = scope.frozenParam?.(sym, range);
        if (frozen) return frozen;
        if (scope.ctx === 'const') {
          this.ctx.error('not-constant', `Initial values must be constant; '${sym.name}' is a parameter`, range);
          return { kind: 'name', name: sym.name, range };
        }
        return { kind: 'name', name: sym.name, range, shape: sym.shape };
      }
      case 'number': {
        const v = this.numberValue(sym);
        return v === undefined ? { kind: 'number', value: 0, range } : { kind: 'number', value: v, range, shape: [] };
      }
      case 'fixed':
        return this.fixedName(sym, range, scope);
      case 'function':
        this.ctx.error('undefined-name', `'${sym.name}' is a function; call it as ${sym.name}(…)`, range);
        return { kind: 'name', name: sym.name, range };
      case 'aux':
        this.ctx.error(
          'undefined-name',
          `'${sym.name}' is an auxiliary output and cannot be used in expressions`,
          range,
        );
        return { kind: 'name', name: sym.name, range };
      case 'data': {
        if (scope.ctx !== 'loss') {
          this.ctx.error('data-outside-loss', `The data set '${sym.name}' can only be used in the loss`, range);
          return { kind: 'name', name: sym.name, range };
        }
        if (!sym.decl) return { kind: 'name', name: sym.name, range }; // its file is already reported
        return { kind: 'name', name: sym.name, range, shape: [sym.decl.times.length, sym.decl.columns.length] };
      }
      case 'table':
      case 'special':
        this.ctx.error('undefined-name', `'${sym.name}' is a ${KIND_WORD[sym.kind]}; call it as ${sym.name}(x)`, range);
        return { kind: 'name', name: sym.name, range };
      case 'wiener':
        return wienerRead(this.ctx, sym, scope, range);
      case 'markov':
        return markovRead(this.ctx, sym, scope, range);
      case 'algebraic':
        return this.algebraicName(sym, range, scope);
      case 'opaque':
        return { kind: 'name', name: sym.name, range };
    }
  }

  /** A DAE's algebraic variable: read where f is evaluated (right-hand sides, `0 =` equations, events), as a state is. */
  private algebraicName(sym: Extract<Sym, { kind: 'algebraic' }>, range: Range, scope: Scope): Expr {
    if (scope.ctx === 'const') {
      this.ctx.error('not-constant', `Initial values must be constant; '${sym.name}' is an algebraic variable`, range);
      return { kind: 'name', name: sym.name, range };
    }
    if (scope.ctx === 'loss') {
      this.ctx.error(
        'state-in-loss',
        `The loss reads states at the final time, and '${sym.name}' is an algebraic variable (solved from the \`0 = …\` equations at each evaluation of f): write the loss in the states`,
        range,
      );
      return { kind: 'name', name: sym.name, range };
    }
    scope.dynamic.value = true;
    return { kind: 'name', name: sym.name, range, shape: [] };
  }

  /** A state: read by right-hand sides; the loss reads it at the final time, x(T). */
  private stateName(sym: Extract<Sym, { kind: 'state' }>, written: string, range: Range, scope: Scope): Expr {
    if (scope.ctx === 'const') {
      this.ctx.error('not-constant', `Initial values must be constant; '${sym.name}' is a state`, range);
      return { kind: 'name', name: sym.name, range };
    }
    if (scope.ctx === 'loss') {
      this.ctx.error(
        'state-in-loss',
        `The loss reads states at the final time: write ${sym.name}(T) instead of ${written}`,
        range,
      );
      return { kind: 'name', name: sym.name, range };
    }
    scope.dynamic.value = true;
    return { kind: 'name', name: sym.name, range, shape: sym.shape };
  }

  /** A fixed quantity, expanded; one that depends on the state or t is read by right-hand sides only. */
  private fixedName(sym: Extract<Sym, { kind: 'fixed' }>, range: Range, scope: Scope): Expr {
    const e = this.fixedExpr(sym);
    if (!e) return { kind: 'name', name: sym.name, range };
    if (sym.dynamic && scope.ctx !== 'rhs') {
      this.ctx.error(
        'not-constant',
        scope.ctx === 'loss'
          ? `'${sym.name}' depends on the state or on t; the loss reads states only as x(T)`
          : `Initial values must be constant; '${sym.name}' depends on the state or on t`,
        range,
      );
      return { kind: 'name', name: sym.name, range };
    }
    if (sym.dynamic) scope.dynamic.value = true;
    return e;
  }

  constNumber(e: Expr, what: string): number | undefined {
    const checked = this.expr(e, { ctx: 'const', dynamic: { value: false } });
    if (!checked.shape) return undefined;
    const v = evalConst(checked);
    if (v === undefined || !Number.isFinite(v)) {
      this.ctx.error('not-constant', `${what} must be a constant number`, e.range);
      return undefined;
    }
    return v;
  }

  numberValue(sym: Extract<Sym, { kind: 'number' }>): number | undefined {
    if (sym.status === 'done') return sym.value;
    if (sym.status === 'busy') {
      this.ctx.error('recursive-definition', `'${sym.name}' is defined in terms of itself`, sym.item.nameRange);
      return undefined;
    }
    sym.status = 'busy';
    sym.value = this.constNumber(sym.item.value, `The value of '${sym.name}'`);
    sym.status = 'done';
    return sym.value;
  }

  fixedExpr(sym: Extract<Sym, { kind: 'fixed' }>): Expr | undefined {
    if (sym.status === 'done') return sym.checked;
    if (sym.status === 'busy') {
      this.ctx.error('recursive-definition', `'${sym.name}' is defined in terms of itself`, sym.stmt.nameRange);
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

  /** `v[i]`, `A[i, j]`: constant indices within the shape. */
  private index(e: Extract<Expr, { kind: 'index' }>, scope: Scope): Expr {
    const target = this.expr(e.target, scope);
    const node: Expr = { kind: 'index', target, indices: e.indices, range: e.range };
    if (!target.shape) return node;
    const s = target.shape;
    if (e.indices.length > s.length) {
      this.ctx.error(
        'index-out-of-range',
        s.length === 0
          ? `A scalar cannot be indexed (it has shape [])`
          : `Too many indices: ${e.indices.length} given, but the shape ${formatShape(s)} has ${s.length} dimension${s.length === 1 ? '' : 's'}`,
        e.range,
      );
      return node;
    }
    for (let k = 0; k < e.indices.length; k++) {
      if (e.indices[k] >= s[k]) {
        this.ctx.error(
          'index-out-of-range',
          `Index ${e.indices[k]} is out of range for shape ${formatShape(s)}: indices count from 0, so dimension ${k + 1} takes 0 to ${s[k] - 1}`,
          e.range,
        );
        return node;
      }
    }
    node.shape = s.slice(e.indices.length);
    return node;
  }

  /** if(c)then(a)else(b): the three parts broadcast together. */
  private ifExpr(e: Extract<Expr, { kind: 'if' }>, scope: Scope): Expr {
    const cond = this.expr(e.cond, scope);
    const then = this.expr(e.then, scope);
    const otherwise = this.expr(e.else, scope);
    const node: Expr = { kind: 'if', cond, then, else: otherwise, range: e.range };
    if (!cond.shape || !then.shape || !otherwise.shape) return node;
    const ab = broadcast(then.shape, otherwise.shape);
    const all = ab && broadcast(cond.shape, ab);
    const ifRange: Range = {
      start: e.range.start,
      end: { line: e.range.start.line, character: e.range.start.character + 2 },
    };
    if (!all) {
      this.ctx.error(
        'shape-mismatch',
        `The parts of if(c)then(a)else(b) do not broadcast: condition ${formatShape(cond.shape)}, then ${formatShape(then.shape)}, else ${formatShape(otherwise.shape)}`,
        ifRange,
      );
      return node;
    }
    node.shape = all;
    return node;
  }

  /** A vector literal; nested ones make a matrix. */
  private vector(e: Extract<Expr, { kind: 'vector' }>, scope: Scope): Expr {
    const els = e.elements.map((x) => this.expr(x, scope));
    const node: Expr = { kind: 'vector', elements: els, range: e.range };
    if (els.some((x) => !x.shape)) return node;
    const first = els[0].shape as Shape;
    for (let i = 1; i < els.length; i++) {
      const s = els[i].shape as Shape;
      if (!sameShape(s, first)) {
        this.ctx.error(
          'shape-mismatch',
          `All elements of a vector must have the same shape: element 1 is ${describeShape(first)}, element ${i + 1} is ${describeShape(s)}`,
          els[i].range,
        );
        return node;
      }
    }
    const shape = [els.length, ...first];
    if (shape.length > 2) {
      this.ctx.error(
        'invalid-shape',
        `Literal of shape ${formatShape(shape)}: only vectors and matrices are supported`,
        e.range,
      );
      return node;
    }
    node.shape = shape;
    return node;
  }

  private call(e: Extract<Expr, { kind: 'call' }>, scope: Scope): Expr {
    const key = e.callee.toLowerCase();
    const bad = (): Expr => ({
      kind: 'call',
      callee: e.callee,
      args: e.args,
      range: e.range,
      calleeRange: e.calleeRange,
    });
    if (isRealisation(this.ctx, e.callee, scope)) return { ...e, shape: [] }; // made by noise.ts, already checked
    const sym = scope.bindings?.has(key) ? undefined : this.ctx.lookup(e.callee, e.calleeRange);

    // x(T): the state at the final time; x(obs): at the observation times of a data set.
    if (sym?.kind === 'state') return this.stateCall(e, sym, scope, bad);
    const info = isBuiltin(key) ? BUILTINS.get(key) : undefined;
    if (info) return this.builtinCall(e, key, info, scope, bad);
    const lowered = LOWERED_FUNCTIONS.get(key);
    if (lowered !== undefined && !sym) {
      if (e.args.length !== lowered.arity) {
        this.ctx.error(
          'bad-arity',
          `${key}(…) takes ${lowered.arity} argument${lowered.arity === 1 ? '' : 's'}, found ${e.args.length}`,
          e.range,
        );
        return bad();
      }
      return this.expr(
        lowerCall(lowered, e, (kind) => noiseSample(this.ctx, key, kind, scope, e.range)),
        scope,
      );
    }

    if (sym?.kind === 'function') return this.userCall(e, sym, scope, bad);
    if (key === 'delay' && !sym) return this.delayCall(e, scope, bad);
    if (key === INTEGRAL && !sym) return integralCall(this.ctx, e, scope, (a, s) => this.expr(a, s), bad);
    if (sym?.kind === 'table') return tableCall(this.ctx, sym, e, (a) => this.expr(a, scope), bad);
    if (!sym && key === 'shift') return shiftCall(this.ctx, e, (a) => this.expr(a, scope), bad);
    if (!sym && key === 'del_shft')
      return delayShiftCall(
        this.ctx,
        e,
        (a) => this.expr(a, scope),
        (call) => this.delayCall(call, scope, bad),
        bad,
      );
    if (sym?.kind === 'special') return specialCall(this.ctx, this, sym, e, (a) => this.expr(a, scope), bad);

    if (sym?.kind === 'opaque') return bad();
    if (sym) {
      this.ctx.error('undefined-name', `'${sym.name}' is a ${KIND_WORD[sym.kind]}, not a function`, e.calleeRange);
      return bad();
    }
    if (XPP_UNSUPPORTED_FUNCTIONS.has(key)) {
      this.ctx.error('unsupported', `The function '${e.callee}' is not supported by ODE Lens yet`, e.calleeRange);
      return bad();
    }
    const best = closest(key, BUILTIN_NAMES);
    const hint = best && distance(key, best) <= 2 ? ` — did you mean '${best}'?` : '';
    this.ctx.error(
      'unknown-function',
      `Unknown function '${e.callee}'${hint} (built-ins: ${BUILTIN_NAMES.join(', ')})`,
      e.calleeRange,
    );
    return bad();
  }
  /** `x(T)`, the state at the final time, or `x(obs)`, at the observation times of a data set (in a loss only). */
  private stateCall(
    e: Extract<Expr, { kind: 'call' }>,
    sym: Extract<Sym, { kind: 'state' }>,
    scope: Scope,
    bad: () => Expr,
  ): Expr {
    const arg = e.args[0];
    const isT = e.args.length === 1 && arg.kind === 'name' && arg.name.toLowerCase() === 't';
    const dataSym =
      e.args.length === 1 && arg.kind === 'name' && !isT ? this.ctx.symbols.get(arg.name.toLowerCase()) : undefined;
    if (dataSym?.kind === 'data') {
      this.ctx.lookup(arg.kind === 'name' ? arg.name : dataSym.name, arg.range);
      if (scope.ctx !== 'loss') {
        this.ctx.error(
          'state-at-end-outside-loss',
          `${sym.name}(${dataSym.name}), the state at the observation times, is only allowed in the loss`,
          e.range,
        );
        return bad();
      }
      const node: Expr = { kind: 'stateAtData', state: sym.name, data: dataSym.name, range: e.range };
      if (dataSym.decl) node.shape = [dataSym.decl.times.length, ...sym.shape];
      return node;
    }
    if (dataSym?.kind === 'opaque') return bad(); // its declaration line is already reported
    if (!isT) {
      this.ctx.error(
        'syntax-error',
        `A state can only be read in the loss, at the final time as ${sym.name}(T) or at the times of a data set as ${sym.name}(obs)`,
        e.range,
      );
      return bad();
    }
    if (scope.ctx !== 'loss') {
      this.ctx.error(
        'state-at-end-outside-loss',
        `${sym.name}(T), the state at the final time, is only allowed in the loss`,
        e.range,
      );
      return bad();
    }
    return { kind: 'stateAtEnd', state: sym.name, range: e.range, shape: sym.shape };
  }

  /**
   * XPPAUT `delay(x, tau)`: state x at time t − tau (engine/delays.ts), in right-hand sides only. The
   * checked node is the call with the state's name and the checked delay; its shape is the state's.
   */
  private delayCall(e: Extract<Expr, { kind: 'call' }>, scope: Scope, bad: () => Expr): Expr {
    if (e.args.length !== 2) {
      this.ctx.error('bad-arity', `delay(x, tau) takes 2 arguments, found ${e.args.length}`, e.range);
      return bad();
    }
    if (scope.ctx !== 'rhs') {
      this.ctx.error(
        'unsupported',
        `delay(…) reads the history of a state during the solve: use it in equations, not in ${scope.ctx === 'loss' ? 'the loss' : 'a constant'}`,
        e.calleeRange,
      );
      return bad();
    }
    const target = this.expr(e.args[0], scope);
    const state = target.kind === 'name' ? this.ctx.symbols.get(target.name.toLowerCase()) : undefined;
    const lag = this.expr(e.args[1], scope);
    if (state?.kind !== 'state' || target.kind !== 'name') {
      if (target.shape)
        this.ctx.error('unsupported', 'The first argument of delay(x, tau) must be a state', e.args[0].range);
      return bad();
    }
    if (lag.shape && lag.shape.length !== 0) {
      this.ctx.error('shape-mismatch', `The delay tau must be a scalar, not ${describeShape(lag.shape)}`, lag.range);
      return bad();
    }
    scope.dynamic.value = true;
    this.ctx.readsHistory = true;
    return {
      kind: 'call',
      callee: 'delay',
      args: [target, lag],
      range: e.range,
      calleeRange: e.calleeRange,
      shape: state.shape,
    };
  }

  /** A built-in: its arity, then the broadcast shape of its arguments (a scalar for a reduction). */
  private builtinCall(
    e: Extract<Expr, { kind: 'call' }>,
    key: string,
    info: BuiltinInfo,
    scope: Scope,
    bad: () => Expr,
  ): Expr {
    if (e.args.length !== info.arity) {
      this.ctx.error(
        'bad-arity',
        `${key}(…) takes ${info.arity} argument${info.arity === 1 ? '' : 's'}, found ${e.args.length}`,
        e.range,
      );
      return bad();
    }
    const args = e.args.map((a) => this.expr(a, scope));
    const node: Expr = { kind: 'call', callee: key, args, range: e.range, calleeRange: e.calleeRange };
    if (args.some((a) => !a.shape)) return node;
    if (info.kind === 'reduce') {
      node.shape = [];
      return node;
    }
    const shape = broadcastAll(args.map((a) => a.shape as Shape));
    if (!shape) {
      this.ctx.error(
        'shape-mismatch',
        `The arguments of ${key}(…) do not broadcast: ${args.map((a) => formatShape(a.shape as Shape)).join(' and ')}`,
        e.calleeRange,
      );
      return node;
    }
    node.shape = shape;
    return node;
  }

  /** A user function (XPPAUT `f(x) = …`), expanded inline with its checked arguments bound. */
  private userCall(
    e: Extract<Expr, { kind: 'call' }>,
    sym: Extract<Sym, { kind: 'function' }>,
    scope: Scope,
    bad: () => Expr,
  ): Expr {
    const f = sym.stmt;
    if (e.args.length !== f.params.length) {
      this.ctx.error(
        'bad-arity',
        `${sym.name}(…) takes ${f.params.length} argument${f.params.length === 1 ? '' : 's'}, found ${e.args.length}`,
        e.range,
      );
      return bad();
    }
    if (sym.busy) {
      this.ctx.error(
        'recursive-definition',
        `Function '${sym.name}' calls itself; recursion is not supported`,
        e.calleeRange,
      );
      return bad();
    }
    if (this.nesting >= MAX_FUNCTION_NESTING) {
      this.ctx.error(
        'too-large',
        `Functions nested too deeply: this call of '${sym.name}' is more than ${MAX_FUNCTION_NESTING} user functions inside one another`,
        e.calleeRange,
      );
      return bad();
    }
    const args = e.args.map((a) => this.expr(a, scope));
    if (args.some((a) => !a.shape)) return bad();
    const bindings = new Map<string, Expr>();
    f.params.forEach((p, i) => bindings.set(p.toLowerCase(), args[i]));
    sym.busy = true;
    this.nesting++;
    try {
      return this.expr(f.body, { ctx: scope.ctx, bindings, dynamic: scope.dynamic, frozenParam: scope.frozenParam });
    } finally {
      sym.busy = false;
      this.nesting--;
    }
  }
}
