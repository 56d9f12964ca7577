// Every node of the statements' expressions, without recursion: operator chains can be far deeper
// than the call stack (a 3,000-term sum).
import { subexpressions, type Expr } from '../model';
import { statementExpressions, type Statement } from './ast';

/** Replaces a node's contents in place: every expression that holds it reads the new value. */
export function replaceExpr(target: Expr, by: Expr): void {
  const t = target as unknown as Record<string, unknown>;
  for (const k of Object.keys(t)) delete t[k];
  Object.assign(t, by);
}

/** Visits every node of the statements' expressions; `visit` returns false to leave a node's children out. */
export function visitStatementExpressions(statements: Statement[], visit: (e: Expr) => boolean): void {
  const stack: Expr[] = [];
  for (const s of statements) for (const e of statementExpressions(s)) stack.push(e);
  while (stack.length > 0) {
    const e = stack.pop() as Expr;
    if (visit(e)) stack.push(...subexpressions(e));
  }
}
