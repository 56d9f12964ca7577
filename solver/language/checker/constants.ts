// Constant folding of checked expressions: the values of `number` lines,
// initialisers and scheme coefficients. Functions and operators fold by their
// entries in the operation table (ops/table.ts).
import { leftChain, type BinaryOperator, type Expr } from '../../model';
import { OPERATORS, builtinOperation } from '../../ops/table';

/** Value of a checked scalar constant expression, or undefined. */
export function evalConst(e: Expr): number | undefined {
  switch (e.kind) {
    case 'number':
      return e.value;
    case 'unary': {
      const v = evalConst(e.operand);
      return v === undefined ? undefined : e.op === '-' ? -v : v;
    }
    case 'binary': {
      // A long sum's left operands in a loop (model.ts: leftChain).
      const { chain, innermost } = leftChain(e);
      let a = evalConst(innermost);
      for (let i = chain.length - 1; i >= 0 && a !== undefined; i--) {
        const b = evalConst(chain[i].right);
        a =
          b === undefined || chain[i].op === '@'
            ? undefined
            : OPERATORS[chain[i].op as Exclude<BinaryOperator, '@'>].fold(a, b);
      }
      return a;
    }
    case 'if': {
      const c = evalConst(e.cond);
      return c === undefined ? undefined : evalConst(c !== 0 ? e.then : e.else);
    }
    case 'index': {
      // An element of a literal: [1, 2][0], [[1, 2], [3, 4]][1, 0].
      let x: Expr = e.target;
      for (const i of e.indices) {
        if (x.kind !== 'vector' || i >= x.elements.length) return undefined;
        x = x.elements[i];
      }
      return x.shape && x.shape.length === 0 ? evalConst(x) : undefined;
    }
    case 'call': {
      const vs = e.args.map(evalConst);
      if (vs.some((v) => v === undefined)) return undefined;
      const op = builtinOperation(e.callee);
      const [v, w] = vs as number[];
      if (!op || vs.length !== op.arity) return undefined;
      return op.kind === 'reduce' ? op.fold([v]) : op.arity === 1 ? op.fold(v) : op.fold(v, w);
    }
    default:
      return undefined;
  }
}

/** Values of a checked constant scalar, vector or matrix (vector literals of constants), or undefined. */
export function constTensor(e: Expr): number | number[] | number[][] | undefined {
  if (e.kind === 'vector') {
    const parts = e.elements.map(constTensor);
    if (parts.some((p) => p === undefined)) return undefined;
    if (parts.every((p) => typeof p === 'number')) return parts as number[];
    if (parts.every((p) => Array.isArray(p) && p.every((x) => typeof x === 'number'))) return parts as number[][];
    return undefined;
  }
  if (e.shape && e.shape.length > 0) return undefined;
  const v = evalConst(e);
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}
