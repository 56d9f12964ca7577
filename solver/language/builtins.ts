// Built-in functions that can appear in a checked model (`Expr` kind `call`).
// The engine implements exactly these; the checker rewrites a few more
// (XPPAUT's cosh, sinh, tan, log10, pow) into them.

export type BuiltinName = 'tanh' | 'sin' | 'cos' | 'exp' | 'log' | 'sigmoid' | 'relu' | 'sum' | 'abs' | 'sqrt';

export interface BuiltinInfo {
  arity: number;
  /** `elementwise`: result has the argument's shape; `reduce`: result is a scalar. */
  kind: 'elementwise' | 'reduce';
  doc: string;
}

export const BUILTINS: Readonly<Record<BuiltinName, BuiltinInfo>> = {
  tanh: { arity: 1, kind: 'elementwise', doc: 'hyperbolic tangent, elementwise' },
  sin: { arity: 1, kind: 'elementwise', doc: 'sine, elementwise' },
  cos: { arity: 1, kind: 'elementwise', doc: 'cosine, elementwise' },
  exp: { arity: 1, kind: 'elementwise', doc: 'exponential, elementwise' },
  log: { arity: 1, kind: 'elementwise', doc: 'natural logarithm, elementwise' },
  sigmoid: { arity: 1, kind: 'elementwise', doc: 'logistic function 1/(1+exp(-x)), elementwise' },
  relu: { arity: 1, kind: 'elementwise', doc: 'max(x, 0), elementwise' },
  sum: { arity: 1, kind: 'reduce', doc: 'sum of all elements (a scalar)' },
  abs: { arity: 1, kind: 'elementwise', doc: 'absolute value, elementwise' },
  sqrt: { arity: 1, kind: 'elementwise', doc: 'square root, elementwise' },
};

export const BUILTIN_NAMES = Object.keys(BUILTINS) as BuiltinName[];

export function isBuiltin(name: string): name is BuiltinName {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name);
}

/** Functions rewritten by the checker into built-ins: name → arity. */
export const LOWERED: Readonly<Record<string, number>> = { cosh: 1, sinh: 1, tan: 1, log10: 1, pow: 2 };

/** XPPAUT functions that this release cannot express yet. */
export const XPP_UNSUPPORTED_FUNCTIONS = new Set([
  'atan', 'asin', 'acos', 'atan2', 'heav', 'sign', 'floor', 'ceil', 'flr', 'max', 'min', 'mod', 'if', 'delay',
  'ran', 'normal', 'erf', 'erfc', 'besselj', 'bessely', 'besseli', 'lgamma', 'hom_bcs', 'shift', 'del_shft', 'int',
]);
