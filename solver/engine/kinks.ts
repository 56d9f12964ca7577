// The non-smooth operations a model uses (relu, abs, heav, max, min,
// if/then/else, comparisons, …): finite differences across them do not
// converge to AD's one-sided derivative, which the gradcheck findings say.
import type { Expr, Model } from '../model';

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

/** The model's non-smooth operations by name, in first-use order (e.g. ["relu", "if/then/else"]). */
export function nonSmoothOperations(model: Pick<Model, 'equations' | 'loss' | 'tables'>): string[] {
  const found = new Set<string>();
  // A table's slope jumps at its samples; noise jumps at every step.
  const tables = new Map((model.tables ?? []).map((t) => [t.name, t.origin === 'table' ? `table ${t.name}` : 'noise']));
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'call':
        if (NON_SMOOTH_CALLS.has(e.callee)) found.add(e.callee);
        else if (tables.has(e.callee)) found.add(tables.get(e.callee) as string);
        e.args.forEach(walk);
        return;
      case 'if':
        found.add('if/then/else');
        walk(e.cond);
        walk(e.then);
        walk(e.else);
        return;
      case 'binary':
        if (COMPARISONS.has(e.op)) found.add(`'${e.op}'`);
        walk(e.left);
        walk(e.right);
        return;
      case 'unary':
        walk(e.operand);
        return;
      case 'vector':
        e.elements.forEach(walk);
        return;
      case 'index':
        walk(e.target);
        return;
      default:
        return;
    }
  };
  for (const eq of model.equations) walk(eq.rhs);
  if (model.loss) walk(model.loss.expr);
  return [...found];
}
