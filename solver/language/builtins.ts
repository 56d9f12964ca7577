// Built-in functions that can appear in a checked model (`Expr` kind `call`).
// The engine compiles exactly these (BUILTIN_NAMES is the list its tests walk);
// the checker rewrites a few more (XPPAUT's cosh, sinh, tan, log10, pow, flr)
// into them. Every lookup is by Map or own property, so names such as
// `constructor` or `__proto__` are ordinary unknown names.

export type BuiltinName =
  | 'tanh' | 'sin' | 'cos' | 'exp' | 'log' | 'sigmoid' | 'relu' | 'sum' | 'abs' | 'sqrt'
  | 'heav' | 'sign' | 'floor' | 'ceil' | 'atan' | 'asin' | 'acos'
  | 'max' | 'min' | 'mod' | 'atan2';

export interface BuiltinInfo {
  arity: number;
  /** `elementwise`: result has the (broadcast) shape of the arguments; `reduce`: result is a scalar. */
  kind: 'elementwise' | 'reduce';
  /** One line for hovers and completion. */
  doc: string;
  /** Signature for signature help, e.g. `max(a, b)`. */
  signature: string;
}

const LIST: [BuiltinName, BuiltinInfo][] = [
  ['tanh', { arity: 1, kind: 'elementwise', doc: 'hyperbolic tangent, elementwise', signature: 'tanh(x)' }],
  ['sin', { arity: 1, kind: 'elementwise', doc: 'sine, elementwise', signature: 'sin(x)' }],
  ['cos', { arity: 1, kind: 'elementwise', doc: 'cosine, elementwise', signature: 'cos(x)' }],
  ['exp', { arity: 1, kind: 'elementwise', doc: 'exponential, elementwise', signature: 'exp(x)' }],
  ['log', { arity: 1, kind: 'elementwise', doc: 'natural logarithm, elementwise', signature: 'log(x)' }],
  ['sigmoid', { arity: 1, kind: 'elementwise', doc: 'logistic function 1/(1+exp(-x)), elementwise', signature: 'sigmoid(x)' }],
  ['relu', { arity: 1, kind: 'elementwise', doc: 'max(x, 0), elementwise', signature: 'relu(x)' }],
  ['sum', { arity: 1, kind: 'reduce', doc: 'sum of all elements (a scalar)', signature: 'sum(x)' }],
  ['abs', { arity: 1, kind: 'elementwise', doc: 'absolute value, elementwise', signature: 'abs(x)' }],
  ['sqrt', { arity: 1, kind: 'elementwise', doc: 'square root, elementwise', signature: 'sqrt(x)' }],
  ['heav', { arity: 1, kind: 'elementwise', doc: 'Heaviside step: 1 where x ≥ 0, else 0 (XPPAUT); its gradient is 0', signature: 'heav(x)' }],
  ['sign', { arity: 1, kind: 'elementwise', doc: 'sign of x: -1, 0 or 1, elementwise; its gradient is 0', signature: 'sign(x)' }],
  ['floor', { arity: 1, kind: 'elementwise', doc: 'largest integer ≤ x, elementwise (XPPAUT flr); its gradient is 0', signature: 'floor(x)' }],
  ['ceil', { arity: 1, kind: 'elementwise', doc: 'smallest integer ≥ x, elementwise; its gradient is 0', signature: 'ceil(x)' }],
  ['atan', { arity: 1, kind: 'elementwise', doc: 'arc tangent, elementwise', signature: 'atan(x)' }],
  ['asin', { arity: 1, kind: 'elementwise', doc: 'arc sine, elementwise', signature: 'asin(x)' }],
  ['acos', { arity: 1, kind: 'elementwise', doc: 'arc cosine, elementwise', signature: 'acos(x)' }],
  ['max', { arity: 2, kind: 'elementwise', doc: 'larger of a and b, elementwise with broadcasting', signature: 'max(a, b)' }],
  ['min', { arity: 2, kind: 'elementwise', doc: 'smaller of a and b, elementwise with broadcasting', signature: 'min(a, b)' }],
  ['mod', { arity: 2, kind: 'elementwise', doc: 'a modulo b, with the sign of b (a - b*floor(a/b)), elementwise', signature: 'mod(a, b)' }],
  ['atan2', { arity: 2, kind: 'elementwise', doc: 'angle of the point (b, a): atan2(y, x), elementwise', signature: 'atan2(y, x)' }],
];

/** Built-in functions by name. */
export const BUILTINS: ReadonlyMap<BuiltinName, BuiltinInfo> = new Map(LIST);

/** Every built-in the engine must compile. */
export const BUILTIN_NAMES: readonly BuiltinName[] = LIST.map(([n]) => n);

export function isBuiltin(name: string): name is BuiltinName {
  return (BUILTINS as ReadonlyMap<string, BuiltinInfo>).has(name);
}

/** Functions rewritten by the checker into built-ins: name → arity. */
export const LOWERED: ReadonlyMap<string, number> = new Map([
  ['cosh', 1], ['sinh', 1], ['tan', 1], ['log10', 1], ['pow', 2], ['flr', 1], ['ln', 1],
]);

/** XPPAUT functions that this release cannot express. */
export const XPP_UNSUPPORTED_FUNCTIONS: ReadonlySet<string> = new Set([
  'delay', 'ran', 'normal', 'erf', 'erfc', 'besselj', 'bessely', 'besseli', 'lgamma', 'hom_bcs', 'shift', 'del_shft', 'int', 'not',
]);

/** Named constants (XPPAUT has `pi`). A declaration of the same name takes precedence. */
export const CONSTANTS: ReadonlyMap<string, number> = new Map([['pi', Math.PI]]);
