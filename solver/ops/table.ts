// Every operation of the language, declared once: the built-in functions, the
// XPPAUT functions the checker rewrites into them, the operators, and the few
// engine-only forms (x^2, -x, the reductions the language does not spell).
//
// An entry gives what each layer needs: the checker its arity and docs, and
// constant folding its `fold` value; the per-operation compiler (engine/compile.ts)
// its TF.js op and, where the hand-written reverse mode covers it, its derivative
// as a tensor; the fused scalar path (engine/scalarRhs.ts) its float64 value and
// derivative as TF.js's gradients define them. `smooth` tells the property test
// (test/unit/operations.test.ts) where the derivatives must agree with finite
// differences. TF.js parts take the `tf` handle, so the language layer runs
// without TF.js. Adding a function is one entry here; the tests then ask for
// its independent JS reference (test/unit/engineExpressions.test.ts) and its
// mention in docs/language.md; `torch` is its PyTorch spelling for
// `odelens export` (solver/export/; test/unit/exportPytorch.test.ts asks for it).
//
// Every lookup is by Map, so names such as `constructor` or `__proto__` are
// ordinary unknown names.
import type { BinaryOperator, Expr, TableDecl } from '../model';
import type { TF, Tensor } from '../engine/tf';

/** Where a function is differentiable: each argument's sampling interval, and the distance to the nearest kink. */
export interface Smoothness {
  domain: readonly (readonly [number, number])[];
  /** Distance (in the arguments) to the nearest point where it is not differentiable; absent: nowhere. */
  kink?: (...args: number[]) => number;
}

interface Described {
  /** One line for hovers and completion. */
  doc: string;
  /** Signature for signature help, e.g. `max(a, b)`. */
  signature: string;
  /**
   * Its PyTorch spelling for the exporter (solver/export/): the Python expression of the operation on
   * its arguments' Python expressions (tensors or numbers; helpers `_a`, `_f` of the exported runtime).
   * Absent: `odelens export --to pytorch` refuses models that use it, naming it.
   */
  torch?: (...args: string[]) => string;
}

/** An elementwise function of one argument. */
export interface UnaryOp extends Described {
  readonly arity: 1;
  readonly kind: 'elementwise';
  tensor: (tf: TF, x: Tensor) => Tensor;
  /**
   * φ'(x) as a tensor (from x or y = φ(x)) for the compiler's hand-written reverse mode, which the
   * continuous reference's many small vector–Jacobian products use; undefined: TF.js's gradient tape.
   */
  tensorDerivative: ((tf: TF, x: Tensor, y: Tensor) => Tensor) | undefined;
  /** float64 value (the fused path rounds it to float32, as TF.js computes). */
  value: (x: number) => number;
  /** dφ/dx at x (y = φ(x)), as TF.js's gradient defines it (0 for the piecewise-constant ones). */
  derivative: (x: number, y: number) => number;
  /** Constant folding's value (the checker's; `value` unless NaN or −0 conventions differ). */
  fold: (x: number) => number;
  smooth: Smoothness;
}

/** An elementwise function of two arguments (NumPy broadcasting). */
export interface BinaryOp extends Described {
  readonly arity: 2;
  readonly kind: 'elementwise';
  tensor: (tf: TF, a: Tensor, b: Tensor) => Tensor;
  /** dy·∂φ/∂a and dy·∂φ/∂b as tensors for the hand-written reverse mode (equal shapes or a scalar operand); undefined: the tape. */
  tensorVjp:
    | {
        a: (tf: TF, dy: Tensor, a: Tensor, b: Tensor, y: Tensor) => Tensor;
        b: (tf: TF, dy: Tensor, a: Tensor, b: Tensor, y: Tensor) => Tensor;
      }
    | undefined;
  value: (a: number, b: number) => number;
  /** ∂φ/∂a and ∂φ/∂b at (a, b) with value y, as TF.js's gradients define them. */
  derivativeA: (a: number, b: number, y: number) => number;
  derivativeB: (a: number, b: number, y: number) => number;
  fold: (a: number, b: number) => number;
  smooth: Smoothness;
}

/** A reduction of all elements to a scalar. */
export interface Reduction extends Described {
  readonly arity: 1;
  readonly kind: 'reduce';
  /** Over all elements, or over `axes` keeping them (the batched layout [b, r, c] → [b, 1, 1]). */
  tensor: (tf: TF, x: Tensor, axes?: number[], keepDims?: boolean) => Tensor;
  value: (xs: readonly number[]) => number;
  /** ∂φ/∂x_i (y = φ(xs)). */
  derivative: (xs: readonly number[], i: number, y: number) => number;
  fold: (xs: readonly number[]) => number;
  /** The fused path computes it as one float64-accumulated sum of the elements (a `dot` instruction). */
  fusedAsSum: boolean;
  smooth: Smoothness;
}

export type Operation = UnaryOp | BinaryOp | Reduction;

// Entries are built by these so that every entry of a kind has the same fields in the same order
// (one hidden class: the fused interpreter's calls through them stay fast).
type Spec<T> = Omit<T, 'arity' | 'kind' | 'fold' | 'tensorDerivative' | 'tensorVjp'> &
  Partial<Pick<T, Extract<keyof T, 'fold' | 'tensorDerivative' | 'tensorVjp'>>>;

function unary(s: Spec<UnaryOp>): UnaryOp {
  return {
    arity: 1,
    kind: 'elementwise',
    doc: s.doc,
    signature: s.signature,
    torch: s.torch,
    tensor: s.tensor,
    tensorDerivative: s.tensorDerivative,
    value: s.value,
    derivative: s.derivative,
    fold: s.fold ?? s.value,
    smooth: s.smooth,
  };
}
function binary(s: Spec<BinaryOp>): BinaryOp {
  return {
    arity: 2,
    kind: 'elementwise',
    doc: s.doc,
    signature: s.signature,
    torch: s.torch,
    tensor: s.tensor,
    tensorVjp: s.tensorVjp,
    value: s.value,
    derivativeA: s.derivativeA,
    derivativeB: s.derivativeB,
    fold: s.fold ?? s.value,
    smooth: s.smooth,
  };
}
function reduction(s: Spec<Reduction>): Reduction {
  return {
    arity: 1,
    kind: 'reduce',
    doc: s.doc,
    signature: s.signature,
    torch: s.torch,
    tensor: s.tensor,
    value: s.value,
    derivative: s.derivative,
    fold: s.fold ?? s.value,
    fusedAsSum: s.fusedAsSum,
    smooth: s.smooth,
  };
}

const f32 = Math.fround;
const ANY: Smoothness['domain'] = [[-3, 3]];
const ANY2: Smoothness['domain'] = [
  [-3, 3],
  [-3, 3],
];
/** Distance to the nearest integer (the kinks of floor, ceil, mod). */
const fromInteger = (x: number) => Math.abs(x - Math.round(x));
/** The derivative of the piecewise-constant functions, comparisons and logic: zero everywhere (the fused program's reverse mode skips what only such a derivative connects to a state or parameter). */
export const ZERO_DERIVATIVE = (): number => 0;
const piecewiseConstant = { derivative: ZERO_DERIVATIVE };
/** Smallest distance between two elements (where max and min of all elements switch). */
const closestPair = (...xs: number[]) =>
  Math.min(Infinity, ...xs.flatMap((x, i) => xs.slice(i + 1).map((y) => Math.abs(x - y))));

/** a and b broadcast to their common shape: TF.js's maximum/minimum gradients do not sum over broadcast dimensions. */
function broadcastPair(tf: TF, a: Tensor, b: Tensor): [Tensor, Tensor] {
  if (tf.util.arraysEqual(a.shape, b.shape)) return [a, b];
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
  return [tf.broadcastTo(a, shape), tf.broadcastTo(b, shape)];
}

/**
 * maximum or minimum with a NaN in either operand giving NaN on every backend, as Math.max does in
 * scalarRhs (tfjs-wasm's keep the first operand when only the second is NaN).
 */
function nanPropagating(tf: TF, op: (a: Tensor, b: Tensor) => Tensor, a: Tensor, b: Tensor): Tensor {
  const [x, y] = broadcastPair(tf, a, b);
  return tf.where(tf.isNaN(y), y, op(x, y));
}

/** The built-in functions of the language, in the order the docs and messages list them. */
const FUNCTION_TABLE = {
  tanh: unary({
    doc: 'hyperbolic tangent, elementwise',
    signature: 'tanh(x)',
    torch: (x) => `torch.tanh(${x})`,
    tensor: (tf, x) => tf.tanh(x),
    tensorDerivative: (tf, _x, y) => tf.sub(1, tf.square(y)),
    value: Math.tanh,
    derivative: (_x, y) => 1 - y * y,
    smooth: { domain: ANY },
  }),
  sin: unary({
    doc: 'sine, elementwise',
    signature: 'sin(x)',
    torch: (x) => `torch.sin(${x})`,
    tensor: (tf, x) => tf.sin(x),
    tensorDerivative: (tf, x) => tf.cos(x),
    value: Math.sin,
    derivative: (x) => Math.cos(x),
    smooth: { domain: ANY },
  }),
  cos: unary({
    doc: 'cosine, elementwise',
    signature: 'cos(x)',
    torch: (x) => `torch.cos(${x})`,
    tensor: (tf, x) => tf.cos(x),
    tensorDerivative: (tf, x) => tf.neg(tf.sin(x)),
    value: Math.cos,
    derivative: (x) => -Math.sin(x),
    smooth: { domain: ANY },
  }),
  exp: unary({
    doc: 'exponential, elementwise',
    signature: 'exp(x)',
    torch: (x) => `torch.exp(${x})`,
    tensor: (tf, x) => tf.exp(x),
    tensorDerivative: (_tf, _x, y) => y,
    value: Math.exp,
    derivative: (_x, y) => y,
    smooth: { domain: ANY },
  }),
  log: unary({
    doc: 'natural logarithm, elementwise',
    signature: 'log(x)',
    torch: (x) => `torch.log(${x})`,
    tensor: (tf, x) => tf.log(x),
    value: Math.log,
    derivative: (x) => 1 / x,
    smooth: { domain: [[0.05, 5]] },
  }),
  sigmoid: unary({
    doc: 'logistic function 1/(1+exp(-x)), elementwise',
    signature: 'sigmoid(x)',
    torch: (x) => `torch.sigmoid(${x})`,
    tensor: (tf, x) => tf.sigmoid(x),
    tensorDerivative: (tf, _x, y) => tf.mul(y, tf.sub(1, y)),
    value: (x) => 1 / (1 + Math.exp(-x)),
    derivative: (_x, y) => y * (1 - y),
    smooth: { domain: ANY },
  }),
  relu: unary({
    doc: 'max(x, 0), elementwise',
    signature: 'relu(x)',
    torch: (x) => `torch.relu(${x})`,
    tensor: (tf, x) => tf.relu(x),
    value: (x) => Math.max(0, x) /* as TF.js's kernel: NaN stays NaN */,
    derivative: (x) => (x > 0 ? 1 : 0),
    fold: (x) => Math.max(x, 0),
    smooth: { domain: ANY, kink: Math.abs },
  }),
  sum: reduction({
    doc: 'sum of all elements (a scalar)',
    signature: 'sum(x)',
    torch: (x) => `torch.sum(${x})`,
    tensor: (tf, x, axes, keepDims) => tf.sum(x, axes, keepDims),
    value: (xs) => xs.reduce((a, b) => a + b, 0),
    derivative: () => 1,
    fusedAsSum: true,
    smooth: { domain: ANY },
  }),
  abs: unary({
    doc: 'absolute value, elementwise',
    signature: 'abs(x)',
    torch: (x) => `torch.abs(${x})`,
    tensor: (tf, x) => tf.abs(x),
    value: Math.abs,
    derivative: (x) => (x > 0 ? 1 : -1),
    smooth: { domain: ANY, kink: Math.abs }, // TF.js: step(x, −1)
  }),
  sqrt: unary({
    doc: 'square root, elementwise',
    signature: 'sqrt(x)',
    torch: (x) => `torch.sqrt(${x})`,
    tensor: (tf, x) => tf.sqrt(x),
    value: Math.sqrt,
    derivative: (_x, y) => 1 / (2 * y),
    smooth: { domain: [[0.05, 5]] },
  }),
  heav: unary({
    doc: 'Heaviside step: 1 where x ≥ 0, else 0 (XPPAUT); its gradient is 0',
    signature: 'heav(x)',
    torch: (x) => `_f(${x} >= 0)`,
    // XPPAUT: heav(x) = 1 for x >= 0, else 0 (tf.step gives 0 at 0, so step(-x) is flipped).
    tensor: (tf, x) => tf.sub(1, tf.step(tf.neg(x), 0)),
    value: (x) => (x >= 0 ? 1 : 0),
    ...piecewiseConstant,
    smooth: { domain: ANY, kink: Math.abs },
  }),
  sign: unary({
    doc: 'sign of x: -1, 0 or 1, elementwise; its gradient is 0',
    signature: 'sign(x)',
    torch: (x) => `torch.sign(${x})`,
    tensor: (tf, x) => tf.sign(x),
    value: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
    ...piecewiseConstant,
    fold: Math.sign,
    smooth: { domain: ANY, kink: Math.abs },
  }),
  floor: unary({
    doc: 'largest integer ≤ x, elementwise (XPPAUT flr); its gradient is 0',
    signature: 'floor(x)',
    torch: (x) => `torch.floor(${x})`,
    tensor: (tf, x) => tf.floor(x),
    value: Math.floor,
    ...piecewiseConstant,
    smooth: { domain: ANY, kink: fromInteger },
  }),
  ceil: unary({
    doc: 'smallest integer ≥ x, elementwise; its gradient is 0',
    signature: 'ceil(x)',
    torch: (x) => `torch.ceil(${x})`,
    tensor: (tf, x) => tf.ceil(x),
    value: Math.ceil,
    ...piecewiseConstant,
    smooth: { domain: ANY, kink: fromInteger },
  }),
  atan: unary({
    doc: 'arc tangent, elementwise',
    signature: 'atan(x)',
    torch: (x) => `torch.atan(${x})`,
    tensor: (tf, x) => tf.atan(x),
    value: Math.atan,
    derivative: (x) => 1 / (1 + x * x),
    smooth: { domain: ANY },
  }),
  asin: unary({
    doc: 'arc sine, elementwise',
    signature: 'asin(x)',
    torch: (x) => `torch.asin(${x})`,
    tensor: (tf, x) => tf.asin(x),
    value: Math.asin,
    derivative: (x) => 1 / Math.sqrt(1 - x * x),
    smooth: { domain: [[-0.9, 0.9]] },
  }),
  acos: unary({
    doc: 'arc cosine, elementwise',
    signature: 'acos(x)',
    torch: (x) => `torch.acos(${x})`,
    tensor: (tf, x) => tf.acos(x),
    value: Math.acos,
    derivative: (x) => -1 / Math.sqrt(1 - x * x),
    smooth: { domain: [[-0.9, 0.9]] },
  }),
  max: binary({
    doc: 'larger of a and b, elementwise with broadcasting',
    signature: 'max(a, b)',
    torch: (a, b) => `torch.maximum(${a}, ${b})`,
    tensor: (tf, a, b) => nanPropagating(tf, tf.maximum, a, b),
    value: Math.max,
    derivativeA: (a, b) => (a >= b ? 1 : 0),
    derivativeB: (a, b) => (a >= b ? 0 : 1),
    smooth: { domain: ANY2, kink: (a, b) => Math.abs(a - b) },
  }),
  min: binary({
    doc: 'smaller of a and b, elementwise with broadcasting',
    signature: 'min(a, b)',
    torch: (a, b) => `torch.minimum(${a}, ${b})`,
    tensor: (tf, a, b) => nanPropagating(tf, tf.minimum, a, b),
    value: Math.min,
    derivativeA: (a, b) => (a <= b ? 1 : 0),
    derivativeB: (a, b) => (a <= b ? 0 : 1),
    smooth: { domain: ANY2, kink: (a, b) => Math.abs(a - b) },
  }),
  mod: binary({
    doc: 'a modulo b, with the sign of b (a - b*floor(a/b)), elementwise',
    signature: 'mod(a, b)',
    torch: (a, b) => `(${a} - ${b} * torch.floor(${a} / ${b}))`,
    // XPPAUT mod: a - b*floor(a/b) (the sign of b), as tf.mod; a/b rounded to float32 as TF.js divides.
    tensor: (tf, a, b) => tf.sub(a, tf.mul(b, tf.floor(tf.div(a, b)))),
    value: (a, b) => a - b * Math.floor(f32(a / b)),
    derivativeA: () => 1,
    derivativeB: (a, b) => -Math.floor(f32(a / b)),
    fold: (a, b) => a - b * Math.floor(a / b),
    smooth: {
      domain: [
        [-3, 3],
        [0.5, 2],
      ],
      kink: (a, b) => fromInteger(a / b) * Math.abs(b),
    },
  }),
  atan2: binary({
    doc: 'angle of the point (b, a): atan2(y, x), elementwise',
    signature: 'atan2(y, x)',
    torch: (a, b) => `torch.atan2(${a}, ${b})`,
    tensor: (tf, a, b) => tf.atan2(a, b),
    value: Math.atan2,
    derivativeA: (a, b) => b / (a * a + b * b),
    derivativeB: (a, b) => -a / (a * a + b * b),
    // The branch cut along the negative x axis, and the origin.
    smooth: { domain: ANY2, kink: (a, b) => Math.min(Math.hypot(a, b), b < 0 ? Math.abs(a) : Infinity) },
  }),
} satisfies Record<string, Operation>;

/** The built-in functions of the language. */
export type BuiltinName = keyof typeof FUNCTION_TABLE;
export const FUNCTIONS: ReadonlyMap<BuiltinName, Operation> = new Map(
  Object.entries(FUNCTION_TABLE) as [BuiltinName, Operation][],
);

/**
 * Reductions the engine compiles: the language's sum, and those the language does not spell (the
 * one-argument max and min, mean, norm; tests use them). A call with one argument of one of these names reduces.
 */
export const REDUCTIONS: ReadonlyMap<string, Reduction> = new Map([
  ['sum', FUNCTION_TABLE.sum],
  [
    'mean',
    reduction({
      doc: 'mean of all elements',
      signature: 'mean(x)',
      torch: (x) => `torch.mean(${x})`,
      tensor: (tf, x, axes, keepDims) => tf.mean(x, axes, keepDims),
      value: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
      derivative: (xs) => 1 / xs.length,
      fusedAsSum: false,
      smooth: { domain: ANY },
    }),
  ],
  [
    'norm',
    reduction({
      doc: 'Euclidean norm of all elements',
      signature: 'norm(x)',
      torch: (x) => `torch.sqrt(torch.sum(torch.square(${x})))`,
      tensor: (tf, x, axes, keepDims) => tf.sqrt(tf.sum(tf.square(x), axes, keepDims)),
      value: (xs) => Math.sqrt(xs.reduce((a, b) => a + b * b, 0)),
      derivative: (xs, i, y) => xs[i] / y,
      fusedAsSum: false,
      smooth: { domain: [[0.1, 3]] },
    }),
  ],
  [
    'max',
    reduction({
      doc: 'largest element',
      signature: 'max(x)',
      torch: (x) => `torch.max(${x})`,
      tensor: (tf, x, axes, keepDims) => tf.max(x, axes, keepDims),
      value: (xs) => Math.max(...xs),
      derivative: (xs, i, y) => (xs[i] === y ? 1 : 0),
      fusedAsSum: false,
      smooth: { domain: ANY, kink: closestPair },
    }),
  ],
  [
    'min',
    reduction({
      doc: 'smallest element',
      signature: 'min(x)',
      torch: (x) => `torch.min(${x})`,
      tensor: (tf, x, axes, keepDims) => tf.min(x, axes, keepDims),
      value: (xs) => Math.min(...xs),
      derivative: (xs, i, y) => (xs[i] === y ? 1 : 0),
      fusedAsSum: false,
      smooth: { domain: ANY, kink: closestPair },
    }),
  ],
]);

/** The built-in function of this (lower-case) name, or undefined. */
export function builtinOperation(name: string): Operation | undefined {
  return (FUNCTIONS as ReadonlyMap<string, Operation>).get(name);
}

/**
 * The operation the engines compile for a call of `name` with `args` arguments: a reduction when
 * one argument meets a reduction's name (max(x) reduces, max(a, b) is elementwise), else the
 * built-in, else the reduction of that name (whose arity the caller then reports).
 */
export function engineFunction(name: string, args: number): Operation | undefined {
  return (args === 1 ? REDUCTIONS.get(name) : undefined) ?? builtinOperation(name) ?? REDUCTIONS.get(name);
}

/** The language's operators except `@` (a matrix product, not elementwise): arithmetic, comparisons and logic. */
export type ElementwiseOperator = Exclude<BinaryOperator, '@'>;

const step = (tf: TF, x: Tensor) => tf.step(x, 0);
const comparison = (doc: string, tensor: BinaryOp['tensor'], value: BinaryOp['value']): BinaryOp =>
  binary({
    doc,
    signature: doc,
    // `a > b` in Python: the operator between the operands, as a float tensor (its gradient is zero).
    torch: (a, b) => `_f(${a} ${doc.split(' ')[1]} ${b})`,
    tensor,
    value,
    derivativeA: ZERO_DERIVATIVE,
    derivativeB: ZERO_DERIVATIVE,
    smooth: { domain: ANY2, kink: (a, b) => Math.abs(a - b) },
  });
/** Distance of either operand from 0 (where `&` and `|` jump). */
const fromZero = (a: number, b: number) => Math.min(Math.abs(a), Math.abs(b));

/**
 * Comparisons and logic give float 1/0. Their TF.js ops are built from `step` (whose gradient is
 * zero) instead of tf.less & co., which have no registered gradient and would make AD through the
 * solve throw. a - b is 0 exactly when a == b in IEEE arithmetic (gradual underflow), so these are exact.
 */
export const OPERATORS: Readonly<Record<ElementwiseOperator, BinaryOp>> = {
  '+': binary({
    doc: 'a + b',
    signature: 'a + b',
    torch: (a, b) => `(${a} + ${b})`,
    tensor: (tf, a, b) => tf.add(a, b),
    value: (a, b) => a + b,
    derivativeA: () => 1,
    derivativeB: () => 1,
    tensorVjp: { a: (_tf, dy) => dy, b: (_tf, dy) => dy },
    smooth: { domain: ANY2 },
  }),
  '-': binary({
    doc: 'a - b',
    signature: 'a - b',
    torch: (a, b) => `(${a} - ${b})`,
    tensor: (tf, a, b) => tf.sub(a, b),
    value: (a, b) => a - b,
    derivativeA: () => 1,
    derivativeB: () => -1,
    tensorVjp: { a: (_tf, dy) => dy, b: (tf, dy) => tf.neg(dy) },
    smooth: { domain: ANY2 },
  }),
  '*': binary({
    doc: 'a * b',
    signature: 'a * b',
    torch: (a, b) => `(${a} * ${b})`,
    tensor: (tf, a, b) => tf.mul(a, b),
    value: (a, b) => a * b,
    derivativeA: (_a, b) => b,
    derivativeB: (a) => a,
    tensorVjp: { a: (tf, dy, _a, b) => tf.mul(dy, b), b: (tf, dy, a) => tf.mul(dy, a) },
    smooth: { domain: ANY2 },
  }),
  '/': binary({
    doc: 'a / b',
    signature: 'a / b',
    torch: (a, b) => `(${a} / ${b})`,
    tensor: (tf, a, b) => tf.div(a, b),
    value: (a, b) => a / b,
    derivativeA: (_a, b) => 1 / b,
    derivativeB: (a, b) => -a / (b * b),
    tensorVjp: { a: (tf, dy, _a, b) => tf.div(dy, b), b: (tf, dy, _a, b, y) => tf.neg(tf.div(tf.mul(dy, y), b)) },
    smooth: {
      domain: [
        [-3, 3],
        [0.3, 3],
      ],
    },
  }),
  '^': binary({
    doc: 'a ^ b',
    signature: 'a ^ b',
    torch: (a, b) => `torch.pow(${a}, ${b})`,
    tensor: (tf, a, b) => tf.pow(a, b),
    value: (a, b) => a ** b,
    derivativeA: (a, b) => b * a ** (b - 1),
    derivativeB: (a, _b, y) => (a > 0 ? y * Math.log(a) : 0),
    smooth: {
      domain: [
        [0.2, 3],
        [-2, 2],
      ],
    },
  }),
  '>': comparison(
    'a > b',
    (tf, a, b) => step(tf, tf.sub(a, b)),
    (a, b) => (a > b ? 1 : 0),
  ),
  '<': comparison(
    'a < b',
    (tf, a, b) => step(tf, tf.sub(b, a)),
    (a, b) => (a < b ? 1 : 0),
  ),
  '>=': comparison(
    'a >= b',
    (tf, a, b) => tf.sub(1, step(tf, tf.sub(b, a))),
    (a, b) => (a >= b ? 1 : 0),
  ),
  '<=': comparison(
    'a <= b',
    (tf, a, b) => tf.sub(1, step(tf, tf.sub(a, b))),
    (a, b) => (a <= b ? 1 : 0),
  ),
  '==': comparison(
    'a == b',
    (tf, a, b) => tf.sub(1, step(tf, tf.abs(tf.sub(a, b)))),
    (a, b) => (a === b ? 1 : 0),
  ),
  '!=': comparison(
    'a != b',
    (tf, a, b) => step(tf, tf.abs(tf.sub(a, b))),
    (a, b) => (a !== b ? 1 : 0),
  ),
  '&': binary({
    doc: 'a & b',
    signature: 'a & b',
    torch: (a, b) => `_f((${a} != 0) & (${b} != 0))`,
    tensor: (tf, a, b) => tf.mul(step(tf, tf.abs(a)), step(tf, tf.abs(b))),
    value: (a, b) => (a !== 0 && b !== 0 ? 1 : 0),
    derivativeA: ZERO_DERIVATIVE,
    derivativeB: ZERO_DERIVATIVE,
    smooth: { domain: ANY2, kink: fromZero },
  }),
  '|': binary({
    doc: 'a | b',
    signature: 'a | b',
    torch: (a, b) => `_f((${a} != 0) | (${b} != 0))`,
    tensor: (tf, a, b) => step(tf, tf.add(tf.abs(a), tf.abs(b))),
    value: (a, b) => (a !== 0 || b !== 0 ? 1 : 0),
    derivativeA: ZERO_DERIVATIVE,
    derivativeB: ZERO_DERIVATIVE,
    smooth: { domain: ANY2, kink: fromZero },
  }),
};

/** Unary minus. */
export const NEGATE: UnaryOp = unary({
  doc: '-x',
  signature: '-x',
  torch: (x) => `(-${x})`,
  tensor: (tf, x) => tf.neg(x),
  value: (x) => -x,
  derivative: () => -1,
  smooth: { domain: ANY },
});

/**
 * x^k with these constant k as their own functions, in both engine paths: cheaper kernels and
 * gradients than pow. 'identity': x^1 is x itself.
 */
export const POWER_FORMS: ReadonlyMap<number, UnaryOp | 'identity'> = new Map<number, UnaryOp | 'identity'>([
  [1, 'identity'],
  [
    2,
    unary({
      doc: 'x^2',
      signature: 'x^2',
      torch: (x) => `torch.square(${x})`,
      tensor: (tf, x) => tf.square(x),
      tensorDerivative: (tf, x) => tf.mul(x, 2),
      value: (x) => x * x,
      derivative: (x) => 2 * x,
      smooth: { domain: ANY },
    }),
  ],
  [0.5, FUNCTION_TABLE.sqrt],
  [
    -1,
    unary({
      doc: 'x^-1',
      signature: 'x^-1',
      torch: (x) => `torch.reciprocal(${x})`,
      tensor: (tf, x) => tf.reciprocal(x),
      value: (x) => 1 / x,
      derivative: (_x, y) => -y * y,
      smooth: { domain: [[0.2, 3]] },
    }),
  ],
]);

/** Builds the checked-model nodes of a lowered call (ranges point at the call). */
interface Builders {
  num: (value: number) => Expr;
  call: (callee: BuiltinName, arg: Expr) => Expr;
  bin: (o: '+' | '-' | '*' | '/' | '^', left: Expr, right: Expr) => Expr;
  neg: (x: Expr) => Expr;
  /** One seeded noise sample (uniform on [0, 1) or standard normal) per step of the model's grid, or one draw in a constant. */
  noise: (kind: 'uniform' | 'normal') => Expr;
}

/** An XPPAUT function the checker rewrites into built-ins (the engines never see it). */
export interface LoweredFunction extends Described {
  arity: number;
  lower: (args: Expr[], b: Builders) => Expr;
}

/** XPPAUT functions that have no built-in, by their rewrite into built-ins. */
export const LOWERED_FUNCTIONS: ReadonlyMap<string, LoweredFunction> = new Map<string, LoweredFunction>([
  [
    'cosh',
    {
      arity: 1,
      doc: 'hyperbolic cosine, elementwise',
      signature: 'cosh(x)',
      lower: ([x], { bin, call, neg, num }) => bin('/', bin('+', call('exp', x), call('exp', neg(x))), num(2)),
    },
  ],
  [
    'sinh',
    {
      arity: 1,
      doc: 'hyperbolic sine, elementwise',
      signature: 'sinh(x)',
      lower: ([x], { bin, call, neg, num }) => bin('/', bin('-', call('exp', x), call('exp', neg(x))), num(2)),
    },
  ],
  [
    'tan',
    {
      arity: 1,
      doc: 'tangent, elementwise',
      signature: 'tan(x)',
      lower: ([x], { bin, call }) => bin('/', call('sin', x), call('cos', x)),
    },
  ],
  [
    'log10',
    {
      arity: 1,
      doc: 'base-10 logarithm, elementwise',
      signature: 'log10(x)',
      lower: ([x], { bin, call, num }) => bin('/', call('log', x), num(Math.LN10)),
    },
  ],
  [
    'pow',
    {
      arity: 2,
      doc: 'x raised to the power y (same as x^y)',
      signature: 'pow(x, y)',
      lower: ([x, y], { bin }) => bin('^', x, y),
    },
  ],
  [
    'flr',
    {
      arity: 1,
      doc: 'largest integer ≤ x (XPPAUT spelling of floor)',
      signature: 'flr(x)',
      lower: ([x], { call }) => call('floor', x),
    },
  ],
  [
    'ln',
    { arity: 1, doc: 'natural logarithm (same as log)', signature: 'ln(x)', lower: ([x], { call }) => call('log', x) },
  ],
  // XPPAUT draws a new number at every evaluation; a gradient check needs one fixed realisation, so
  // each call is a seeded sample per step of the model's grid (x · u_n, m + s · z_n): the gradients
  // are those of that sample path.
  [
    'ran',
    {
      arity: 1,
      doc: 'uniform random number on [0, x) (XPPAUT); one seeded sample per step, so gradients are those of that sample path',
      signature: 'ran(x)',
      lower: ([x], { bin, noise }) => bin('*', x, noise('uniform')),
    },
  ],
  [
    'normal',
    {
      arity: 2,
      doc: 'normal random number with mean m and standard deviation s (XPPAUT); one seeded sample per step, so gradients are those of that sample path',
      signature: 'normal(m, s)',
      lower: ([m, sd], { bin, noise }) => bin('+', m, bin('*', sd, noise('normal'))),
    },
  ],
]);

/** A lowered call's rewrite into built-ins, with every node's range at the call; `noise` makes the samples of ran and normal. */
export function lowerCall(
  f: LoweredFunction,
  e: Extract<Expr, { kind: 'call' }>,
  noise: Builders['noise'] = () => ({ kind: 'number', value: Number.NaN, range: e.range }),
): Expr {
  const r = e.range;
  const op = e.calleeRange;
  return f.lower(e.args, {
    num: (value) => ({ kind: 'number', value, range: r }),
    call: (callee, arg) => ({ kind: 'call', callee, args: [arg], range: r, calleeRange: op }),
    bin: (o, left, right) => ({ kind: 'binary', op: o, left, right, range: r, opRange: op }),
    neg: (x) => ({ kind: 'unary', op: '-', operand: x, range: r }),
    noise,
  });
}

/** The samples of a table: what its operation needs. */
export type TableSamples = Pick<TableDecl, 'xlo' | 'dx' | 'values' | 'interpolation'>;

/**
 * The segment of x and its offset in it: XPPAUT's lookup interpolates in segment ⌊u⌋ (u = (x − xlo)/dx)
 * and extrapolates with the end segments' slopes, which is the segment index clamped to 0 … n − 2.
 * A step table takes sample ⌊u⌋ clamped to 0 … n − 1 (u rounded to float32, as TF.js computes it).
 */
function segment(t: TableSamples, x: number): number {
  const u = Math.fround(Math.fround(x - t.xlo) / t.dx);
  const last = t.interpolation === 'linear' ? t.values.length - 2 : t.values.length - 1;
  return Math.min(Math.max(Math.floor(u), 0), Math.max(last, 0));
}

/** The float32 tensors of a table's samples and slopes, made once per backend (kept out of tidy scopes). */
function tableTensors(t: TableSamples, slopes: () => Float64Array): (tf: TF) => { y: Tensor; slope: Tensor } {
  const made = new Map<string, { y: Tensor; slope: Tensor }>();
  return (tf) => {
    const key = tf.getBackend();
    let c = made.get(key);
    if (!c || c.y.isDisposed || c.slope.isDisposed) {
      c = {
        y: tf.keep(tf.tensor1d(Float32Array.from(t.values))),
        slope: tf.keep(tf.tensor1d(Float32Array.from(slopes()))),
      };
      made.set(key, c);
    }
    return c;
  };
}

/**
 * A table as an elementwise function of its argument. Linear: y_i + s_i·(x − x_i) with the slope
 * s_i = (y_{i+1} − y_i)/dx of x's segment, which is also its derivative (one-sided at the samples,
 * the segment on the right); step: y_i with derivative 0. The TF.js op is a custom gradient, so the
 * tape never differentiates the integer index.
 */
export function tableOperation(t: TableSamples, doc: string, signature: string): UnaryOp {
  const n = t.values.length;
  // Made when first read: a step table's values (a noise realisation's, one per step) never read them.
  let slopeValues: Float64Array | undefined;
  const slopesOf = () =>
    (slopeValues ??= Float64Array.from(t.values, (v, i) => (i + 1 < n ? (t.values[i + 1] - v) / t.dx : 0)));
  const tensors = tableTensors(t, slopesOf);
  const linear = t.interpolation === 'linear';
  const last = linear ? Math.max(n - 2, 0) : n - 1;
  const index = (tf: TF, x: Tensor) =>
    tf.tidy(() => tf.cast(tf.clipByValue(tf.floor(tf.div(tf.sub(x, t.xlo), t.dx)), 0, last), 'int32'));
  const slopeAt = (tf: TF, x: Tensor) => (linear ? tf.gather(tensors(tf).slope, index(tf, x)) : tf.zerosLike(x));
  const value = (x: number) => {
    const i = segment(t, x);
    return linear ? t.values[i] + slopesOf()[i] * (x - (t.xlo + i * t.dx)) : t.values[i];
  };
  return unary({
    doc,
    signature,
    tensor: (tf, x) =>
      tf.customGrad((xin, save) => {
        const xv = xin as Tensor;
        const { y } = tensors(tf);
        const i = index(tf, xv);
        const yi = tf.gather(y, i);
        const slope = slopeAt(tf, xv);
        const value = linear
          ? tf.add(yi, tf.mul(slope, tf.sub(xv, tf.add(tf.mul(tf.cast(i, 'float32'), t.dx), t.xlo))))
          : yi;
        (save as (ts: Tensor[]) => void)([slope]);
        return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => tf.mul(dy, saved[0]) };
      })(x),
    tensorDerivative: (tf, x) => slopeAt(tf, x),
    value,
    derivative: (x) => (linear ? slopesOf()[segment(t, x)] : 0),
    smooth: {
      // The samples' span and one segment past each end (extrapolated).
      domain: [[t.xlo - t.dx, t.xlo + n * t.dx]],
      // The samples are where the slope (linear) or the value (step) jumps.
      kink: (x) => Math.abs(x - t.xlo - Math.round((x - t.xlo) / t.dx) * t.dx),
    },
  });
}

/** A table's operation, made once per declaration (a model's compile looks it up at every call). */
const TABLE_OPS = new WeakMap<TableDecl, UnaryOp>();

/**
 * The operation for a call in a checked model: one of its tables (by name), else the built-in or
 * reduction (engineFunction).
 */
export function modelFunction(
  tables: readonly TableDecl[] | undefined,
  name: string,
  args: number,
): Operation | undefined {
  const table = tables?.find((t) => t.name === name);
  if (!table) return engineFunction(name, args);
  let op = TABLE_OPS.get(table);
  if (!op) {
    op = tableOperation(table, `table ${table.name}`, `${table.name}(x)`);
    TABLE_OPS.set(table, op);
  }
  return op;
}
