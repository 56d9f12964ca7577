// XPPAUT reads `u[3]` as the name `u3` on every line, not only on array lines
// (its pseudo-arrays are plain names with the index appended). ODE Lens reads
// `u[3]` as an index into the tensor `u`. Both meet without ambiguity: after
// parsing, `u[n]` becomes the name `un` when no `u` is declared and `un` is.

import type { Expr } from '../model';
import type { Statement } from './ast';
import { visitStatementExpressions } from './exprWalk';

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
  visitStatementExpressions(statements, (e) => {
    if (e.kind !== 'index' || e.target.kind !== 'name' || e.indices.length !== 1) return true;
    names ??= declaredNames(statements);
    const base = e.target.name;
    const joined = `${base}${e.indices[0]}`;
    if (names.has(base.toLowerCase()) || !names.has(joined.toLowerCase())) return false;
    const renamed = e as unknown as { kind: string; name: string; target?: Expr; indices?: number[] };
    renamed.kind = 'name';
    renamed.name = joined;
    delete renamed.target;
    delete renamed.indices;
    return false;
  });
}
