// Declarations: every name a model declares (states, parameters, numbers, fixed
// quantities, functions, data sets, schemes, aux lines), then the parameters'
// initialisers and the initial values of the states.
import type { BrokenStmt, SchemeStmt, FunctionStmt, InitItem, ParamItem, Program, StateStmt } from '../ast';
import { visitExpressions, type Expr, type Initialiser, type ParamDecl, type Range, type Shape } from '../../model';
import { SCHEME_NAMES } from '../../schemes/registry';
import { isBuiltin, LOWERED } from '../builtins';
import { SCHEME_ALIASES } from '../options';
import { diag } from '../ranges';
import { broadcastsTo, elementCount as elements } from '../../ops/shapes';
import { KIND_WORD, type CheckContext, type Sym } from './context';
import type { ExpressionChecker } from './expressions';
import { markovInit } from './markov';
import { describeShape, formatShape, MAX_ELEMENTS } from './shapes';

type Statement = Program['statements'][number];

/** Lines with syntax errors, and the states whose equation is on one of them (not reported as missing). */
export interface BrokenLines {
  broken: BrokenStmt[];
  brokenEquations: Set<string>;
}

/**
 * Declares every name. Without any `state` line the file is XPPAUT style:
 * each equation declares a scalar state. Names declared by lines with
 * syntax errors or by unsupported constructs are declared first, as
 * opaque names, so they cause no follow-on errors.
 */
export function declareNames(ctx: CheckContext, st: Statement[]): BrokenLines {
  const broken = st.filter((s): s is BrokenStmt => s.kind === 'broken');
  const brokenEquations = new Set(broken.flatMap((b) => (b.equationFor ? [b.equationFor.toLowerCase()] : [])));
  declareOpaqueNames(ctx, st);
  declareStates(ctx, st, broken);
  for (const s of st) declareStatement(ctx, s);
  declareAuxNames(ctx, st);
  return { broken, brokenEquations };
}

/** Names of unsupported constructs and of lines with syntax errors: opaque, so that reading them reports nothing more. */
function declareOpaqueNames(ctx: CheckContext, st: Statement[]): void {
  for (const s of st) {
    if (s.kind === 'opaque') ctx.declare({ kind: 'opaque', name: s.name, keyword: s.keyword }, s.nameRange);
    else if (s.kind === 'broken' && s.declares)
      ctx.declare({ kind: 'opaque', name: s.declares.name, keyword: s.declares.keyword }, s.declares.nameRange, true);
  }
}

/** The `state` lines' states; without any (XPPAUT style), one scalar state per equation. */
function declareStates(ctx: CheckContext, st: Statement[], broken: BrokenStmt[]): void {
  const stateStmts = st.filter((s): s is StateStmt => s.kind === 'state');
  const implicitStates = stateStmts.length === 0 && !broken.some((b) => b.declares?.keyword === 'state');
  for (const s of stateStmts) {
    const shape = s.shape ? declShape(ctx, s.shape.dims, s.shape.range) : [];
    ctx.declare(
      { kind: 'state', name: s.name, shape, range: s.range, nameRange: s.nameRange, explicit: true },
      s.nameRange,
    );
  }
  if (!implicitStates) return;
  for (const e of st) {
    if (e.kind !== 'equation') continue;
    const existing = ctx.symbols.get(e.state.toLowerCase());
    if (existing) continue; // duplicate equations are reported below
    ctx.declare(
      { kind: 'state', name: e.state, shape: [], range: e.stateRange, nameRange: e.stateRange, explicit: false },
      e.stateRange,
    );
  }
}

/** The names one line declares (states and aux names apart). */
function declareStatement(ctx: CheckContext, s: Statement): void {
  switch (s.kind) {
    case 'param':
      for (const item of s.items) {
        const shape = item.shape ? declShape(ctx, item.shape.dims, item.shape.range) : [];
        ctx.declare({ kind: 'param', name: item.name, shape, item }, item.nameRange);
      }
      break;
    case 'number':
      for (const item of s.items)
        ctx.declare({ kind: 'number', name: item.name, item, status: 'todo' }, item.nameRange);
      break;
    case 'fixed':
      ctx.declare({ kind: 'fixed', name: s.name, stmt: s, dynamic: false, status: 'todo' }, s.nameRange);
      break;
    case 'function':
      if (isBuiltin(s.name.toLowerCase()) || LOWERED.has(s.name.toLowerCase())) {
        ctx.error('duplicate-declaration', `'${s.name}' is a built-in function and cannot be redefined`, s.nameRange);
      } else ctx.declare({ kind: 'function', name: s.name, stmt: s, busy: false }, s.nameRange);
      break;
    case 'data':
      ctx.declare({ kind: 'data', name: s.name, stmt: s }, s.nameRange);
      break;
    case 'table':
    case 'wiener':
      ctx.declare({ kind: s.kind, name: s.name, stmt: s } as Sym, s.nameRange);
      break;
    case 'markov':
      ctx.declare({ kind: 'markov', name: s.name, stmt: s, initial: 0 }, s.nameRange);
      break;
    case 'special':
      ctx.declare({ kind: 'special', name: s.name, stmt: s, cache: new Map() }, s.nameRange);
      break;
    case 'scheme':
      declareScheme(ctx, s);
      break;
    case 'solve':
      ctx.declare({ kind: 'algebraic', name: s.name, stmt: s }, s.nameRange);
      break;
    case 'aux':
      ctx.report(
        diag(
          'unsupported',
          'information',
          `Auxiliary output '${s.name}' is for XPPAUT's plots and data: the gradient check does not need it, so ODE Lens ignores the line`,
          s.range,
        ),
      );
      break;
  }
}

/** A user scheme's name: not a built-in scheme's, not declared twice. */
function declareScheme(ctx: CheckContext, s: SchemeStmt): void {
  const key = s.name.toLowerCase();
  if ((SCHEME_NAMES as readonly string[]).includes(key) || SCHEME_ALIASES.has(key)) {
    ctx.error('duplicate-declaration', `'${s.name}' is a built-in scheme; give your scheme another name`, s.nameRange);
  } else if (ctx.schemes.has(key)) {
    ctx.error('duplicate-declaration', `The scheme '${s.name}' is already declared`, s.nameRange);
  } else ctx.schemes.set(key, s);
}

/**
 * XPPAUT keeps output names apart from the names formulas read, so `ica = …` and
 * `aux ica = ica` go together; an aux name only takes a name nothing else declares.
 */
function declareAuxNames(ctx: CheckContext, st: Statement[]): void {
  for (const s of st)
    if (s.kind === 'aux' && !ctx.symbols.has(s.name.toLowerCase()))
      ctx.declare({ kind: 'aux', name: s.name, stmt: s }, s.nameRange);
}

export function declShape(ctx: CheckContext, dims: Shape, range: Range): Shape {
  if (dims.length > 2)
    ctx.error(
      'invalid-shape',
      `Shape ${formatShape(dims)} has ${dims.length} dimensions; only scalars, vectors and matrices are supported`,
      range,
    );
  else if (elements(dims) > MAX_ELEMENTS)
    ctx.error(
      'invalid-shape',
      `Shape ${formatShape(dims)} has ${elements(dims)} elements; at most ${MAX_ELEMENTS} are supported`,
      range,
    );
  return dims;
}

/** Arguments of a user function: duplicates are errors; hiding a declared name or t, and never reading an argument, are warnings. */
export function functionArgs(ctx: CheckContext, f: FunctionStmt): void {
  const read = new Set<string>();
  visitExpressions([f.body], (e) => {
    if (e.kind === 'name') read.add(e.name.toLowerCase());
    else if (e.kind === 'call') read.add(e.callee.toLowerCase());
  });
  const seen = new Set<string>();
  f.params.forEach((p, i) => {
    const key = p.toLowerCase();
    const range = f.paramRanges[i];
    if (seen.has(key)) {
      ctx.error('duplicate-declaration', `The argument '${p}' appears twice in ${f.name}(…)`, range);
      return;
    }
    seen.add(key);
    const hidden = ctx.symbols.get(key);
    if (key === 't')
      ctx.report(
        diag('shadowed-name', 'hint', `The argument 't' of ${f.name}(…) hides the time t inside the function`, range),
      );
    else if (hidden && hidden.kind !== 'opaque' && hidden.kind !== 'function') {
      ctx.report(
        diag(
          'shadowed-name',
          'hint',
          `The argument '${p}' of ${f.name}(…) hides the ${KIND_WORD[hidden.kind]} '${hidden.name}' inside the function`,
          range,
        ),
      );
    }
    // A hint: an argument the body does not read is harmless (XPPAUT files give related functions one argument list).
    if (!read.has(key))
      ctx.report(diag('unused-name', 'hint', `The argument '${p}' of ${f.name}(…) is never used`, range));
  });
}

/** The parameters' initialisers; then numbers and fixed quantities, checked even when unused. */
export function checkParams(ctx: CheckContext, exprs: ExpressionChecker, st: Statement[]): ParamDecl[] {
  const params: ParamDecl[] = [];
  for (const s of st) {
    if (s.kind !== 'param') continue;
    for (const item of s.items) {
      const sym = ctx.symbols.get(item.name.toLowerCase());
      if (!sym || sym.kind !== 'param' || sym.item !== item) continue;
      const init = paramInit(ctx, exprs, item, sym.shape);
      if (init)
        params.push({
          name: item.name,
          shape: sym.shape,
          perStep: item.perStep,
          init,
          range: item.range,
          nameRange: item.nameRange,
        });
    }
  }
  // Numbers and fixed quantities are checked even when unused.
  for (const sym of ctx.symbols.values()) {
    if (sym.kind === 'number') exprs.numberValue(sym);
    else if (sym.kind === 'fixed') exprs.fixedExpr(sym);
  }
  return params;
}

export function paramInit(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  item: ParamItem,
  shape: Shape,
): Initialiser | undefined {
  const init = item.init;
  if (!init) return undefined;
  if (init.kind === 'normal') {
    const mean = exprs.constNumber(init.mean, 'The mean');
    const std = exprs.constNumber(init.std, 'The standard deviation');
    if (std !== undefined && std < 0)
      ctx.error('invalid-initialiser', `The standard deviation must be ≥ 0, found ${std}`, init.std.range);
    if (mean === undefined || std === undefined) return undefined;
    return { kind: 'normal', mean, std, range: init.range };
  }
  const value = exprs.expr(init.value, { ctx: 'const', dynamic: { value: false } });
  if (value.shape && !broadcastsTo(value.shape, shape)) {
    ctx.error(
      'init-shape',
      `The initial value of '${item.name}' is ${describeShape(value.shape)}, which does not fit its shape ${formatShape(shape)}`,
      init.value.range,
    );
  }
  return { kind: 'value', value, range: init.range };
}

/** Initial values of the states, by lower-case state name. */
/**
 * The initial values; `histories` receives XPPAUT's `x(0) = expr of t`, the history t < t0 of a state
 * that `delay(x, tau)` reads (its initial value too, unless an `init` line gives one).
 */
export function checkInits(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  st: Statement[],
  histories = new Map<string, Expr>(),
): Map<string, Expr> {
  const inits = new Map<string, Expr>();
  for (const s of st) {
    if (s.kind !== 'init') continue;
    for (const item of s.items) init(ctx, exprs, item, inits, histories);
  }
  return inits;
}

export function init(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  item: InitItem,
  inits: Map<string, Expr>,
  histories?: Map<string, Expr>,
): void {
  const sym = ctx.lookup(item.name, item.nameRange);
  if (sym?.kind === 'opaque') return;
  if (sym?.kind === 'markov') {
    markovInit(ctx, exprs, sym, item);
    return;
  }
  if (!sym || sym.kind !== 'state') {
    const what = sym
      ? `'${item.name}' is a ${KIND_WORD[sym.kind]}, not a state`
      : `Initial value for unknown state '${item.name}'${ctx.suggest(item.name, 'state')}`;
    ctx.error(sym ? 'unknown-state' : 'unknown-state', what, item.nameRange);
    return;
  }
  const key = sym.name.toLowerCase();
  const reads = { value: false };
  const value = exprs.expr(item.value, { ctx: 'const', dynamic: reads, history: !!histories && item.form === 'x(0)' });
  if (reads.value && histories) {
    if (histories.has(key))
      ctx.error('duplicate-declaration', `State '${sym.name}' already has a history x(0) = … of t`, item.nameRange);
    else if (value.shape && value.shape.length === 0) histories.set(key, value);
    else if (value.shape)
      ctx.error('init-shape', `The history of '${sym.name}' must be a scalar formula of t`, item.value.range);
    return;
  }
  if (inits.has(key)) {
    ctx.error('duplicate-declaration', `State '${sym.name}' already has an initial value`, item.nameRange);
    return;
  }
  if (value.shape && !broadcastsTo(value.shape, sym.shape)) {
    ctx.error(
      'init-shape',
      `The initial value of '${sym.name}' is ${describeShape(value.shape)}, but '${sym.name}' is ${describeShape(sym.shape)}`,
      item.value.range,
    );
  }
  inits.set(key, value);
}
