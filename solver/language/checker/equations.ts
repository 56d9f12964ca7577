// The dynamics: one equation per state, the states as the model lists them,
// the loss, and the names that are never read.
import type { EquationStmt, LossStmt, Program } from '../ast';
import type { Equation, Expr, Loss, Range, StateDecl } from '../../model';
import { diag } from '../ranges';
import { DEFAULT_LOSS_MESSAGE } from '../../presentation/findingText';
import { broadcastsTo } from '../../ops/shapes';
import { KIND_WORD, type CheckContext } from './context';
import type { BrokenLines } from './declarations';
import type { ExpressionChecker } from './expressions';
import { describeShape } from './shapes';

type Statement = Program['statements'][number];

export interface Equations {
  byState: Map<string, Equation>;
  list: Equation[];
}

/** Each equation's right-hand side, which must fit its state's shape. */
export function checkEquations(ctx: CheckContext, exprs: ExpressionChecker, equations: EquationStmt[]): Equations {
  const eqByState = new Map<string, Equation>();
  const eqList: Equation[] = [];
  for (const e of equations) {
    const sym = ctx.lookup(e.state, e.stateRange);
    if (sym?.kind === 'opaque') continue;
    if (!sym || sym.kind !== 'state') {
      if (sym)
        ctx.error(
          'unknown-state',
          `'${e.state}' is not a state (it is declared as a ${KIND_WORD[sym.kind]}); declare it with 'state ${e.state}'`,
          e.stateRange,
        );
      else
        ctx.error(
          'unknown-state',
          `Equation for unknown state '${e.state}'; declare it first with 'state ${e.state}'${ctx.suggest(e.state, 'state')}`,
          e.stateRange,
        );
      continue;
    }
    const key = sym.name.toLowerCase();
    const rhs = exprs.expr(e.rhs, { ctx: 'rhs', dynamic: { value: false } });
    if (eqByState.has(key)) {
      ctx.error(
        'duplicate-equation',
        `State '${sym.name}' already has an equation; each state has exactly one`,
        e.stateRange,
      );
      continue;
    }
    if (rhs.shape && !broadcastsTo(rhs.shape, sym.shape)) {
      ctx.error(
        'shape-mismatch',
        `The right-hand side of ${sym.name}' is ${describeShape(rhs.shape)}, but state '${sym.name}' is ${describeShape(sym.shape)}`,
        e.rhs.range,
      );
    }
    const eq: Equation = { state: sym.name, rhs, range: e.range };
    if (e.volterra) eq.volterra = true;
    eqByState.set(key, eq);
    eqList.push(eq);
  }
  return { byState: eqByState, list: eqList };
}

/** The states in declaration order with their initial values; a state without an equation is an error. */
export function collectStates(
  ctx: CheckContext,
  { byState: eqByState }: Equations,
  { brokenEquations }: BrokenLines,
  inits: Map<string, Expr>,
  histories: Map<string, Expr> = new Map(),
): StateDecl[] {
  const states: StateDecl[] = [];
  for (const sym of ctx.symbols.values()) {
    if (sym.kind !== 'state') continue;
    const key = sym.name.toLowerCase();
    if (!eqByState.has(key) && !brokenEquations.has(key)) {
      ctx.error('missing-equation', `State '${sym.name}' has no equation; add ${sym.name}' = …`, sym.nameRange);
    }
    const decl: StateDecl = { name: sym.name, shape: sym.shape, range: sym.range, nameRange: sym.nameRange };
    const init = inits.get(key);
    if (init) decl.init = init;
    const history = histories.get(key);
    if (history) decl.history = history;
    states.push(decl);
  }
  // Only on an otherwise clean file: a refused or broken equation has said why already.
  if (states.length === 0 && brokenEquations.size === 0 && !ctx.diagnostics.some((d) => d.severity === 'error')) {
    ctx.error(
      'no-states',
      "The file declares no state equation (x' = … or a map's x(t+1) = …): there is nothing to solve or check",
      { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    );
  }
  return states;
}

/** The loss (at most one, a scalar); a model without one gets a warning. */
export function checkLoss(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  losses: LossStmt[],
  { broken }: BrokenLines,
  states: StateDecl[],
): Loss | undefined {
  let loss: Loss | undefined;
  for (const l of losses) {
    if (loss) {
      ctx.error('duplicate-declaration', 'The model already has a loss; only one loss is allowed', l.keywordRange);
      continue;
    }
    const expr = exprs.expr(l.expr, { ctx: 'loss', dynamic: { value: false } });
    if (expr.shape && expr.shape.length !== 0) {
      ctx.error(
        'shape-mismatch',
        `The loss must be a scalar, but it is ${describeShape(expr.shape)}; reduce it, e.g. with sum(…)`,
        l.expr.range,
      );
    }
    loss = { expr, range: l.range };
  }
  if (losses.length === 0 && states.length > 0 && !broken.some((b) => b.isLoss)) {
    const where = states[0]?.nameRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    // Valid (a classic XPPAUT model has none): the engine checks the default loss, and says which.
    ctx.report(diag('default-loss', 'information', DEFAULT_LOSS_MESSAGE, where));
  }
  return loss;
}

/**
 * A model written in XPPAUT's terms only (no loss, data, scheme or tensor): its unused names
 * are common and harmless (XPPAUT files keep parameters for animations, sets and other runs).
 */
function isClassicModel(st: Statement[]): boolean {
  return !st.some(
    (s) =>
      s.kind === 'loss' ||
      s.kind === 'data' ||
      s.kind === 'scheme' ||
      (s.kind === 'state' && s.shape !== undefined) ||
      (s.kind === 'param' && s.items.some((i) => i.shape !== undefined || i.perStep)),
  );
}

/**
 * Names never read: a warning, or a hint in a classic XPPAUT model. Aux lines are not
 * checked, but the names they read count as used.
 */
export function reportUnused(
  ctx: CheckContext,
  st: Statement[],
  refusedReads: readonly string[] = [],
  ignoredReads: readonly [string, string][] = [],
): Map<string, string> {
  const severity = isClassicModel(st) ? 'hint' : 'warning';
  const readByModel = new Set(ctx.used);
  for (const s of st) if (s.kind === 'aux') ctx.markNamesUsed(s.expr);
  const readByAux = new Set([...ctx.used].filter((s) => !readByModel.has(s)));
  for (const n of refusedReads) ctx.markUsed(ctx.symbols.get(n));
  // The parameters only ignored lines read: their gradient is zero for that reason.
  const readOnlyBy = new Map<string, string>();
  for (const [name, keyword] of ignoredReads) {
    const sym = ctx.symbols.get(name);
    if (sym?.kind === 'param' && !readByModel.has(sym)) readOnlyBy.set(name, keyword);
  }
  for (const sym of readByAux)
    if (sym.kind === 'param' && !readOnlyBy.has(sym.name.toLowerCase())) readOnlyBy.set(sym.name.toLowerCase(), 'aux');
  for (const sym of ctx.symbols.values()) {
    if (ctx.used.has(sym) || ctx.sampledBy.has(sym)) continue;
    let range: Range | undefined;
    switch (sym.kind) {
      case 'param':
        range = sym.item.nameRange;
        break;
      case 'number':
        range = sym.item.nameRange;
        break;
      case 'fixed':
        range = sym.stmt.nameRange;
        break;
      case 'function':
        range = sym.stmt.nameRange;
        break;
      case 'data':
        range = sym.stmt.nameRange;
        break;
      default:
        continue;
    }
    const word = KIND_WORD[sym.kind];
    ctx.report(diag('unused-name', severity, `The ${word} '${sym.name}' is never used`, range));
  }
  return readOnlyBy;
}
