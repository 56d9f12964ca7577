// XPPAUT Markov variables (`markov z 2` and its transition table). The checker gives each one its path, a step
// function of t on the model's grid that expressions read as they read a noise realisation, holding the initial
// state until a check draws the chain (engine/markov.ts: one seeded realisation along a solve at the checked
// parameter values, then held fixed), and checks its transition rates as right-hand sides (scalars that may read
// the states, the parameters, t and the Markov variables).
import type { Expr, MarkovChain, ModelOptions, Range } from '../../model';
import type { InitItem } from '../ast';
import type { CheckContext, ConstantEvaluator, Scope, Sym } from './context';
import { gridTable } from './noise';

type MarkovSym = Extract<Sym, { kind: 'markov' }>;

/** What this file needs of the expression checker (which imports markovRead from here). */
interface ExpressionChecker extends ConstantEvaluator {
  expr(e: Expr, scope: Scope): Expr;
}

/** Each Markov variable's path, before anything reads it (its values are set from its initial state later). */
export function declareMarkovPaths(ctx: CheckContext, options: ModelOptions): void {
  for (const sym of ctx.symbols.values())
    if (sym.kind === 'markov')
      sym.decl = gridTable(options, sym.name, 'markov', new Array<number>(options.steps), sym.stmt.range);
}

/** `init z=1` (or `z(0)=1`) of a Markov variable: a constant, its state at t0. */
export function markovInit(ctx: CheckContext, exprs: ExpressionChecker, sym: MarkovSym, item: InitItem): void {
  if (sym.initRange) {
    ctx.error('duplicate-declaration', `Markov variable '${sym.name}' already has an initial value`, item.nameRange);
    return;
  }
  const v = exprs.constNumber(item.value, `The initial value of '${sym.name}'`);
  if (v === undefined) return;
  sym.initial = v;
  sym.initRange = item.value.range;
  const n = sym.stmt.states;
  // XPPAUT leaves a variable that is in none of its states where it is: a value between states is a slip.
  if (!(Number.isInteger(v) && v >= 0 && v < n))
    ctx.error(
      'invalid-markov',
      `The initial value of '${sym.name}' must be one of its states 0 … ${n - 1}, not ${v}`,
      item.value.range,
    );
}

/** A Markov variable read in an expression: its path at t, in right-hand sides (and transition rates) only. */
export function markovRead(ctx: CheckContext, sym: MarkovSym, scope: Scope, range: Range): Expr {
  if (scope.ctx !== 'rhs' || !sym.decl) {
    if (scope.ctx !== 'rhs')
      ctx.error(
        'not-constant',
        `'${sym.name}' is a Markov variable (a random path in time): only right-hand sides and transition rates can read it`,
        range,
      );
    return { kind: 'name', name: sym.name, range };
  }
  scope.dynamic.value = true;
  return {
    kind: 'call',
    callee: sym.decl.name,
    args: [{ kind: 'name', name: 't', range, shape: [] }],
    range,
    calleeRange: range,
    shape: [],
  };
}

/** The checked Markov variables: transition rates checked as scalar right-hand sides, paths at the initial state. */
export function checkMarkov(ctx: CheckContext, exprs: ExpressionChecker): MarkovChain[] {
  const chains: MarkovChain[] = [];
  for (const sym of ctx.symbols.values()) {
    if (sym.kind !== 'markov') continue;
    const { stmt } = sym;
    // Every entry is checked (so a misspelt name is reported on the diagonal too); the diagonal is not kept.
    const rates = stmt.rows.map((row, i) => row.map((e, j) => rate(ctx, exprs, sym, e, i === j)));
    sym.decl?.values.fill(sym.initial);
    if (stmt.rows.length === stmt.states)
      chains.push({
        name: sym.name,
        states: stmt.states,
        initial: sym.initial,
        rates,
        range: stmt.range,
        nameRange: stmt.nameRange,
      });
  }
  return chains;
}

function rate(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  sym: MarkovSym,
  e: Expr,
  diagonal: boolean,
): Expr | undefined {
  const checked = exprs.expr(e, { ctx: 'rhs', dynamic: { value: false } });
  if (checked.shape && checked.shape.length > 0)
    ctx.error(
      'invalid-markov',
      `A transition rate of ${sym.name} must be a scalar, not a ${checked.shape.join('×')} array`,
      e.range,
    );
  return diagonal ? undefined : checked;
}
