// XPPAUT's indexed sum `sum(i1, i2)of(expr)` and its `shift(x, k)`, expanded after
// parsing into what they stand for: `sum(0, 3)of(w(i')*shift(u0, i'))` is
// `w(0)*u0 + w(1)*u1 + w(2)*u2 + w(3)*u3`. XPPAUT evaluates the bounds and takes
// their integer parts, and `shift(x, k)` is the variable declared k after x; for
// the pseudo-array names these are written for (`u0`, `u1`, …) that is the name
// whose number is k more. The terms are added as a balanced tree, so a sum of
// thousands of terms stays shallow for every later pass; its root keeps the
// number of terms (model.ts: `terms`), which the fused program runs as a loop.
import type { Diagnostic, Expr } from '../model';
import type { Statement } from './ast';
import { evalConst } from './checker/constants';
import { replaceExpr, visitStatementExpressions } from './exprWalk';
import { diag } from './ranges';

/** The callee the parser gives `sum(i1, i2)of(expr)` (arguments i1, i2, expr): not a name anyone can write. */
export const INDEXED_SUM = "sum'of";
/** The index `i'` inside `of(…)`. */
export const INDEX_NAME = "i'";
/** Most terms one indexed sum may expand to. */
const MAX_TERMS = 100_000;
/** Deepest expression copied per term (the parser caps nesting lower). */
const MAX_COPY_DEPTH = 1_000;

/** Value of a constant expression of numbers (the bounds, a shift), else undefined. */
const foldNumber = (e: Expr): number | undefined => evalConst(e);

/** The name `offset` after an element of a pseudo-array (`u0`, 3 → `u3`), or undefined for other names or below 0. */
export function offsetName(name: string, offset: number): string | undefined {
  const m = /^(.*?)(\d+)$/.exec(name);
  const at = m ? Number(m[2]) + Math.trunc(offset) : -1;
  return m && at >= 0 ? `${m[1]}${at}` : undefined;
}

class Expander {
  constructor(private readonly diagnostics: Diagnostic[]) {}

  private error(code: Diagnostic['code'], message: string, e: Expr): Expr {
    this.diagnostics.push(diag(code, 'error', message, e.range));
    return { kind: 'number', value: 0, range: e.range };
  }

  /** `shift(u0, k)` with a constant k: the name k after (`u{0+k}`). */
  shift(e: Extract<Expr, { kind: 'call' }>): Expr {
    const [x, k] = e.args;
    if (e.args.length !== 2) return this.error('bad-arity', `shift(x, k) takes 2 arguments, found ${e.args.length}`, e);
    const by = foldNumber(k);
    if (by === undefined) return e; // a table or a number: the checker resolves it (checker/special.ts)
    if (x.kind !== 'name' || !/\d$/.test(x.name))
      return this.error(
        'unsupported',
        'shift(x, k) is supported on an element of a pseudo-array (a name ending in its number, such as u0)',
        x,
      );
    const name = offsetName(x.name, by);
    if (name === undefined)
      return this.error('index-out-of-range', `shift(${x.name}, ${by}) names an element below 0`, e);
    return { kind: 'name', name, range: e.range };
  }

  /** The terms of an indexed sum, added pairwise. */
  sum(e: Extract<Expr, { kind: 'call' }>): Expr {
    const [lo, hi, body] = e.args;
    const a = foldNumber(lo);
    const b = foldNumber(hi);
    if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b))
      return this.error('not-constant', 'The bounds of sum(i1, i2)of(…) must be constants (numbers and [j])', e);
    const first = Math.trunc(a);
    const last = Math.trunc(b);
    if (last - first + 1 > MAX_TERMS)
      return this.error('too-large', `sum(${first}, ${last})of(…) has more than ${MAX_TERMS} terms`, e);
    const terms: Expr[] = [];
    for (let i = first; i <= last; i++) {
      const term = this.substitute(body, i, 0);
      if (term === undefined) return { kind: 'number', value: 0, range: e.range };
      terms.push(term);
    }
    if (terms.length === 0) return { kind: 'number', value: 0, range: e.range };
    const count = terms.length;
    while (terms.length > 1) {
      const next: Expr[] = [];
      for (let k = 0; k + 1 < terms.length; k += 2)
        next.push({
          kind: 'binary',
          op: '+',
          left: terms[k],
          right: terms[k + 1],
          range: e.range,
          opRange: e.calleeRange,
        });
      if (terms.length % 2 === 1) next.push(terms[terms.length - 1]);
      terms.splice(0, terms.length, ...next);
    }
    const root = terms[0];
    if (count > 1 && root.kind === 'binary') root.terms = count;
    return root;
  }

  /** A copy of `e` with i' = i, its shifts resolved; undefined after reporting a nested sum or a too deep body. */
  private substitute(e: Expr, i: number, depth: number): Expr | undefined {
    if (depth > MAX_COPY_DEPTH) {
      this.error('too-large', `The body of sum(…)of(…) is nested more than ${MAX_COPY_DEPTH} levels deep`, e);
      return undefined;
    }
    const sub = (x: Expr) => this.substitute(x, i, depth + 1);
    switch (e.kind) {
      case 'name':
        return e.name === INDEX_NAME ? { kind: 'number', value: i, range: e.range } : { ...e };
      case 'unary': {
        const operand = sub(e.operand);
        return operand && { ...e, operand };
      }
      case 'binary': {
        const left = sub(e.left);
        const right = left && sub(e.right);
        return right && left && { ...e, left, right };
      }
      case 'if': {
        const [cond, then, otherwise] = [sub(e.cond), sub(e.then), sub(e.else)];
        return cond && then && otherwise && { ...e, cond, then, else: otherwise };
      }
      case 'vector': {
        const elements = e.elements.map(sub);
        return elements.every((x) => x) ? { ...e, elements: elements as Expr[] } : undefined;
      }
      case 'index': {
        const target = sub(e.target);
        return target && { ...e, target };
      }
      case 'call': {
        if (e.callee === INDEXED_SUM) {
          this.error('unsupported', "Indexed sums cannot be nested: XPPAUT's sum(…)of(…) has the one index i'", e);
          return undefined;
        }
        const args = e.args.map(sub);
        if (!args.every((x) => x)) return undefined;
        const call = { ...e, args: args as Expr[] };
        return call.callee.toLowerCase() === 'shift' ? this.shift(call) : call;
      }
      default:
        return { ...e };
    }
  }
}

/** Expands every indexed sum and every constant shift of the statements in place, reporting what cannot be expanded. */
export function expandIndexedSums(statements: Statement[], diagnostics: Diagnostic[]): void {
  const expander = new Expander(diagnostics);
  visitStatementExpressions(statements, (e) => {
    if (e.kind !== 'call') return true;
    const expanded =
      e.callee === INDEXED_SUM ? expander.sum(e) : e.callee.toLowerCase() === 'shift' ? expander.shift(e) : e;
    if (expanded === e) return true; // a shift left to the checker too
    replaceExpr(e, expanded);
    return false;
  });
}
