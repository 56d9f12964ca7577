// XPPAUT reads `u[3]` as the name `u3` on every line, not only on array lines
// (its pseudo-arrays are plain names with the index appended). ODE Lens reads
// `u[3]` as an index into the tensor `u`. Both meet without ambiguity: after
// parsing, `u[n]` becomes the name `un` when no `u` is declared and `un` is.

import type { Expr } from '../model';
import { statementExpressions, type Statement } from './ast';

/** Every name the statements declare, lower case (as the checker compares them). */
function declaredNames(statements: Statement[]): Set<string> {
  const names = new Set<string>();
  const add = (n: string): void => {
    names.add(n.toLowerCase());
  };
  for (const s of statements) {
    switch (s.kind) {
      case 'state':
      case 'fixed':
      case 'function':
      case 'aux':
      case 'opaque':
      case 'data':
        add(s.name);
        break;
      case 'equation':
        add(s.state);
        break;
      case 'param':
      case 'number':
        for (const item of s.items) add(item.name);
        break;
      case 'broken':
        if (s.declares) add(s.declares.name);
        if (s.equationFor) add(s.equationFor);
        break;
    }
  }
  return names;
}

/** Rewrites `u[n]` to the name `un` where XPPAUT's reading is the only one that makes sense. */
export function desugarIndexedNames(statements: Statement[]): void {
  let names: Set<string> | undefined;
  // An explicit stack: operator chains can be far deeper than the call stack.
  const stack: Expr[] = [];
  for (const s of statements) for (const e of statementExpressions(s)) stack.push(e);
  while (stack.length > 0) {
    const e = stack.pop() as Expr;
    switch (e.kind) {
      case 'unary':
        stack.push(e.operand);
        break;
      case 'binary':
        stack.push(e.left, e.right);
        break;
      case 'call':
        for (const a of e.args) stack.push(a);
        break;
      case 'vector':
        for (const a of e.elements) stack.push(a);
        break;
      case 'if':
        stack.push(e.cond, e.then, e.else);
        break;
      case 'index': {
        if (e.target.kind !== 'name' || e.indices.length !== 1) {
          stack.push(e.target);
          break;
        }
        names ??= declaredNames(statements);
        const base = e.target.name;
        const joined = `${base}${e.indices[0]}`;
        if (names.has(base.toLowerCase()) || !names.has(joined.toLowerCase())) break;
        const renamed = e as unknown as { kind: string; name: string; target?: Expr; indices?: number[] };
        renamed.kind = 'name';
        renamed.name = joined;
        delete renamed.target;
        delete renamed.indices;
        break;
      }
    }
  }
}
