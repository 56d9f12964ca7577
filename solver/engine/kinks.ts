// The non-smooth operations a model uses (relu, abs, heav, max, min,
// if/then/else, comparisons, …): finite differences across them do not
// converge to AD's one-sided derivative, which the gradcheck findings say.
import { visitExpressions, type Expr, type Model } from '../model';

/** Built-ins whose derivative jumps (kinks) or that jump themselves. */
const NON_SMOOTH_CALLS: ReadonlySet<string> = new Set([
  'relu',
  'abs',
  'heav',
  'sign',
  'floor',
  'ceil',
  'max',
  'min',
  'mod',
]);
const COMPARISONS: ReadonlySet<string> = new Set(['<', '>', '<=', '>=', '==', '!=', '&', '|']);

/**
 * No state, parameter or time under e: its value never moves, so neither does a kink in it (an XPPAUT array's
 * selection `(rows == cols)` compares constants; an indexed sum's `abs(i')` or `w(i')` reads its index, a number).
 */
function constant(e: Expr): boolean {
  let reads = false;
  visitExpressions([e], (x) => {
    if (x.kind === 'name' || x.kind === 'stateAtEnd' || x.kind === 'stateAtData') reads = true;
  });
  return !reads;
}

/** How the kinks name a model's events: the network's loss jumps where a firing moves across a grid point. */
export const EVENT_JUMPS = 'events on the grid';

/** The model's non-smooth operations by name, in first-use order (e.g. ["relu", "if/then/else"]). */
export function nonSmoothOperations(model: Pick<Model, 'equations' | 'loss' | 'tables' | 'events'>): string[] {
  const found = new Set<string>();
  if (model.events?.length) found.add(EVENT_JUMPS);
  // A table's slope jumps at its samples; noise jumps at every step. A Markov path is a fixed input of t whose
  // jumps do not move with the parameters (engine/markov.ts): the loss is smooth in them across it.
  const tables = new Map(
    (model.tables ?? [])
      .filter((t) => t.origin !== 'markov')
      .map((t) => [t.name, t.origin === 'table' ? `table ${t.name}` : 'noise']),
  );
  const roots = model.equations.map((eq) => eq.rhs);
  if (model.loss) roots.push(model.loss.expr);
  visitExpressions(roots, (e) => {
    if (e.kind === 'call' && NON_SMOOTH_CALLS.has(e.callee) && !constant(e)) found.add(e.callee);
    else if (e.kind === 'call' && tables.has(e.callee) && !constant(e)) found.add(tables.get(e.callee) as string);
    else if (e.kind === 'if' && !constant(e.cond)) found.add('if/then/else');
    else if (e.kind === 'binary' && COMPARISONS.has(e.op) && !constant(e)) found.add(`'${e.op}'`);
  });
  return [...found];
}
