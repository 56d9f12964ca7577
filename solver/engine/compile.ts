// Compiles the model's expression trees once into closures over TF.js ops.
//
// Internal layout: a logical vector [n] is held as a column [n, 1], so that
// `W @ x` is one matMul kernel with no reshapes (kernel count dominates the cost
// of small models). Scalars are [], matrices [m, n]. When a vector meets a
// matrix in an elementwise op it is reshaped to a row [1, n], which gives
// NumPy broadcasting on the logical shapes.
import type { DiagnosticCode, Expr, Model, Range, Shape } from '../model';
import type { TF, Tensor } from './tf';
import { compileScalarProgram, fusedRhs } from './scalarRhs';
import { linearCombination, type Term } from './linearCombination';
import { matrixProduct } from './matrixProduct';

export class CompileError extends Error {
  constructor(message: string, readonly range: Range, readonly code: DiagnosticCode = 'unsupported-expression') {
    super(message);
    this.name = 'CompileError';
  }
}

export interface Env {
  /** Current state values, in model.states order (internal layout). */
  s: Tensor[];
  /** Current parameter values, in model.params order (internal layout). */
  p: Tensor[];
  /** Time as a scalar tensor (only when the model uses `t`). */
  t?: Tensor;
  /** `x(obs)`: state `si` at the observation times of data set `data`, [K, ...] internal layout (loss only). */
  o?: (data: string, si: number) => Tensor;
}

type Fn = (env: Env) => Tensor;
/**
 * Hand-written reverse mode of a node, for the continuous reference's many small
 * vector–Jacobian products (a TF.js gradient scope costs ~4 kernels of overhead
 * each). `back` adds ∂(dy·y)/∂(state, parameter) into `acc`. Defined only for the
 * subset below (no broadcasting beyond scalars, no reshapes); else AD is used.
 */
interface Acc { s: (Tensor | undefined)[]; p: (Tensor | undefined)[]; wantP: boolean; wantS: boolean }
type Rev = (env: Env) => { y: Tensor; back: (dy: Tensor, acc: Acc) => void };
/**
 * `bfn`: the same value for a batch of independent solves (finite-difference
 * directions). Batched layout: every value that depends on states or
 * parameters is rank 3, [b, r, c] with b the batch (or 1): scalars [b,1,1],
 * vectors [b,n,1], matrices [b,m,n]; constants (and values of `t` alone) keep
 * the unbatched layout above and broadcast from the right. Undefined when the
 * node cannot be batched (the caller then loops over solves).
 */
interface Node { shape: Shape; fn: Fn; bfn?: Fn; constant?: Tensor; rev?: Rev; usesS?: boolean; usesP?: boolean }

export function internalShape(shape: Shape): number[] {
  return shape.length === 1 ? [shape[0], 1] : shape.slice();
}
export function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

function broadcastShapes(a: Shape, b: Shape, range: Range): Shape {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new CompileError(`shapes [${a}] and [${b}] do not broadcast`, range, 'shape-mismatch');
    out.push(x === 1 ? y : x);
  }
  return out;
}

const UNARY: Record<string, (tf: TF, x: Tensor) => Tensor> = {
  tanh: (tf, x) => tf.tanh(x),
  sigmoid: (tf, x) => tf.sigmoid(x),
  relu: (tf, x) => tf.relu(x),
  sin: (tf, x) => tf.sin(x),
  cos: (tf, x) => tf.cos(x),
  tan: (tf, x) => tf.tan(x),
  exp: (tf, x) => tf.exp(x),
  log: (tf, x) => tf.log(x),
  ln: (tf, x) => tf.log(x),
  abs: (tf, x) => tf.abs(x),
  sqrt: (tf, x) => tf.sqrt(x),
  square: (tf, x) => tf.square(x),
  sinh: (tf, x) => tf.sinh(x),
  cosh: (tf, x) => tf.cosh(x),
  asin: (tf, x) => tf.asin(x),
  acos: (tf, x) => tf.acos(x),
  atan: (tf, x) => tf.atan(x),
  softplus: (tf, x) => tf.softplus(x),
  elu: (tf, x) => tf.elu(x),
  sign: (tf, x) => tf.sign(x),
  floor: (tf, x) => tf.floor(x),
  flr: (tf, x) => tf.floor(x),
  ceil: (tf, x) => tf.ceil(x),
  round: (tf, x) => tf.round(x),
  log10: (tf, x) => tf.mul(tf.log(x), 1 / Math.LN10),
  erf: (tf, x) => tf.erf(x),
  // XPPAUT: heav(x) = 1 for x >= 0, else 0 (tf.step gives 0 at 0, so step(-x) is flipped).
  heav: (tf, x) => tf.sub(1, tf.step(tf.neg(x), 0)),
};

/**
 * Comparisons and logic as float 1/0. Built from `step` (whose gradient is
 * zero) instead of tf.less & co., which have no registered gradient and would
 * make AD through the solve throw. a - b is 0 exactly when a == b in IEEE
 * arithmetic (gradual underflow), so these are exact.
 */
const LOGIC: Record<string, (tf: TF, a: Tensor, b: Tensor) => Tensor> = {
  '>': (tf, a, b) => tf.step(tf.sub(a, b), 0),
  '<': (tf, a, b) => tf.step(tf.sub(b, a), 0),
  '>=': (tf, a, b) => tf.sub(1, tf.step(tf.sub(b, a), 0)),
  '<=': (tf, a, b) => tf.sub(1, tf.step(tf.sub(a, b), 0)),
  '==': (tf, a, b) => tf.sub(1, tf.step(tf.abs(tf.sub(a, b)), 0)),
  '!=': (tf, a, b) => tf.step(tf.abs(tf.sub(a, b)), 0),
  '&': (tf, a, b) => tf.mul(tf.step(tf.abs(a), 0), tf.step(tf.abs(b), 0)),
  '|': (tf, a, b) => tf.step(tf.add(tf.abs(a), tf.abs(b)), 0),
};

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

/** Two-argument elementwise functions (broadcast like the operators). */
const BINARY_FN: Record<string, (tf: TF, a: Tensor, b: Tensor) => Tensor> = {
  max: (tf, a, b) => nanPropagating(tf, tf.maximum, a, b),
  min: (tf, a, b) => nanPropagating(tf, tf.minimum, a, b),
  pow: (tf, a, b) => tf.pow(a, b),
  atan2: (tf, a, b) => tf.atan2(a, b),
  // XPPAUT mod: a - b*floor(a/b) (the sign of b), as tf.mod.
  mod: (tf, a, b) => tf.sub(a, tf.mul(b, tf.floor(tf.div(a, b)))),
};

export interface CompiledModel {
  readonly tf: TF;
  /** Logical shapes. */
  readonly stateShapes: Shape[];
  readonly paramShapes: Shape[];
  readonly usesTime: boolean;
  /** Right-hand sides, one per state, in model.states order. */
  rhs(s: Tensor[], p: Tensor[], t: number): Tensor[];
  /**
   * (∂f/∂s)ᵀ·cot and, with `withParams`, (∂f/∂p)ᵀ·cot by hand-written reverse mode (no
   * gradient tape); undefined when an expression is outside its subset.
   */
  rhsVjp?(s: Tensor[], p: Tensor[], t: number, cot: Tensor[], withParams: boolean): { vx: Tensor[]; vp: Tensor[] };
  /**
   * f's forward values at (s, p, t) once, then any number of rhsVjp-like products
   * there (vx empty without `withState`). The linearisation and every `back` must
   * run inside one tidy scope (φ' is cached on first use).
   */
  rhsLinearize?(s: Tensor[], p: Tensor[], t: number): { back(cot: Tensor[], withParams: boolean, withState?: boolean): { vx: Tensor[]; vp: Tensor[] } };
  /** Scalar loss of the final states. */
  loss(final: Tensor[], o?: Env['o']): Tensor;
  /**
   * Σ c_j v_j of equal-shape tensors in one kernel with TF.js's float32 results (engine/linearCombination.ts):
   * the steppers' combinations cost one kernel instead of a multiply per coefficient and an add; undefined:
   * multiplies and adds.
   */
  readonly combine?: (terms: Term[]) => Tensor;
  /**
   * The same model for a batch of B independent solves (finite-difference
   * directions): states and parameters carry a leading batch dimension in the
   * rank-3 layout ([b,1,1] scalars, [b,n,1] vectors, [b,m,n] matrices; b = B or
   * 1); `loss` gives the B losses. Undefined when an expression cannot be batched.
   */
  readonly batched?: {
    rhs(s: Tensor[], p: Tensor[], t: number): Tensor[];
    loss(final: Tensor[], B: number, o?: Env['o']): Tensor;
  };
  /**
   * All-scalar models with several states (engine/scalarRhs.ts): the same right-hand side on the
   * states packed into one vector [S], so that a discrete solve combines stages with one kernel per
   * operation instead of one per state. `owner` is the `rhs` it stands for: a view that replaces
   * `rhs` (finite differences, probes) is solved unpacked.
   */
  readonly packed?: {
    owner: CompiledModel['rhs'];
    x0: Tensor;
    rhs(x: Tensor, p: Tensor[], t: number): Tensor;
    /** Batched: x [B, S, 1], parameters [b,1,1] (b = B or 1); differentiable. */
    batchedRhs(x: Tensor, p: Tensor[], t: number): Tensor;
    /**
     * The whole model on the packed state (one state of shape [S]; the loss unpacks it), for
     * solvers written over state lists such as the continuous reference. Not for data losses.
     */
    model(): CompiledModel;
  };
  /** Data sets whose observation times the loss reads through `x(obs)` (empty: the loss uses x(T) only). */
  readonly observed: { name: string; times: number[] }[];
  /** Initial states (kept constants; do not dispose). */
  readonly x0: Tensor[];
  dispose(): void;
}

export interface CompileResult { compiled: CompiledModel; defaultLoss: boolean }

export interface CompileOptions {
  /** Small models (scalars, or at most MAX_FUSED_ELEMENTS state and parameter elements): one fused kernel per right-hand side evaluation (engine/scalarRhs.ts); default true. */
  fuseScalars?: boolean;
}

export function compileModel(tf: TF, model: Model, options: CompileOptions = {}): CompileResult {
  const kept: Tensor[] = [];
  const keep = (t: Tensor): Tensor => {
    tf.keep(t);
    kept.push(t);
    return t;
  };
  const stateIndex = new Map(model.states.map((s, i) => [s.name, i]));
  const paramIndex = new Map(model.params.map((p, i) => [p.name, i]));
  let usesTime = false;
  const observed: { name: string; times: number[] }[] = [];

  function constNode(value: Tensor, shape: Shape): Node {
    const c = keep(value);
    return { shape, constant: c, fn: () => c, bfn: () => c, rev: () => ({ y: c, back: () => {} }) };
  }

  // ---- batched layout (see Node.bfn) ----
  /** A value in the batched rank-3 layout (unbatched values get a batch of 1). */
  const matMul = matrixProduct(tf);
  const lift = (x: Tensor): Tensor => (x.rank === 3 ? x : tf.reshape(x, x.rank === 0 ? [1, 1, 1] : x.rank === 1 ? [1, x.shape[0], 1] : [1, ...x.shape]));
  const allB = (ns: Node[]): boolean => ns.every((n) => n.bfn);
  /** A logical vector as a row, to meet a matrix: [b,n,1] → [b,1,n] (unbatched [n,1] → [1,n]). */
  const asRowB = (x: Tensor, n: number): Tensor => (x.rank === 3 ? tf.reshape(x, [x.shape[0], 1, n]) : tf.reshape(x, [1, n]));

  // ---- hand-written reverse mode (see Rev) ----
  const add = (acc: (Tensor | undefined)[], i: number, g: Tensor) => { const a = acc[i]; acc[i] = a ? tf.add(a, g) : g; };
  const wants = (n: Node, acc: Acc) => !n.constant && ((acc.wantS && n.usesS) || (acc.wantP && n.usesP));
  const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
  /** Reverse mode of a binary elementwise op: equal shapes or a scalar against anything. */
  function revBinary(kind: string, l: Node, r: Node): Partial<Node> {
    const lr = l.rev, rr = r.rev;
    const flags = { usesS: !!(l.usesS || r.usesS), usesP: !!(l.usesP || r.usesP) };
    if (!lr || !rr || !['+', '-', '*', '/'].includes(kind)) return flags;
    if (!sameShape(l.shape, r.shape) && l.shape.length !== 0 && r.shape.length !== 0) return flags;
    const redL = (g: Tensor) => (l.shape.length === 0 && r.shape.length !== 0 ? tf.sum(g) : g);
    const redR = (g: Tensor) => (r.shape.length === 0 && l.shape.length !== 0 ? tf.sum(g) : g);
    const rev: Rev = (env) => {
      const a = lr(env), b = rr(env);
      const y = kind === '+' ? tf.add(a.y, b.y) : kind === '-' ? tf.sub(a.y, b.y) : kind === '*' ? tf.mul(a.y, b.y) : tf.div(a.y, b.y);
      return {
        y,
        back: (dy, acc) => {
          if (wants(l, acc)) a.back(redL(kind === '*' ? tf.mul(dy, b.y) : kind === '/' ? tf.div(dy, b.y) : dy), acc);
          if (wants(r, acc)) b.back(redR(kind === '*' ? tf.mul(dy, a.y) : kind === '/' ? tf.neg(tf.div(tf.mul(dy, y), b.y)) : kind === '-' ? tf.neg(dy) : dy), acc);
        },
      };
    };
    return { ...flags, rev };
  }
  /** Reverse mode of a unary function: dx = dy·φ'(x), φ' from x or y. */
  const UNARY_DERIV: Record<string, (x: Tensor, y: Tensor) => Tensor> = {
    tanh: (_x, y) => tf.sub(1, tf.square(y)),
    sigmoid: (_x, y) => tf.mul(y, tf.sub(1, y)),
    sin: (x) => tf.cos(x),
    cos: (x) => tf.neg(tf.sin(x)),
    exp: (_x, y) => y,
    square: (x) => tf.mul(x, 2),
    neg: () => tf.scalar(-1),
  };
  function revUnary(name: string, o: Node, op: (x: Tensor) => Tensor): Partial<Node> {
    const flags = { usesS: o.usesS, usesP: o.usesP };
    const d = UNARY_DERIV[name], or = o.rev;
    if (!d || !or) return flags;
    const rev: Rev = (env) => {
      const a = or(env);
      const y = op(a.y);
      let der: Tensor | undefined; // φ' once per linearisation (rhsLinearize calls back several times)
      return { y, back: (dy, acc) => { if (wants(o, acc)) a.back(name === 'neg' ? tf.neg(dy) : tf.mul(dy, (der ??= d(a.y, y))), acc); } };
    };
    return { ...flags, rev };
  }

  /** Operand as it must enter an elementwise op against a partner of logical rank `other`. */
  function asOperand(n: Node, other: Shape): Fn {
    if (n.shape.length === 1 && other.length >= 2) {
      const row = [1, n.shape[0]];
      if (n.constant) {
        const c = keep(tf.reshape(n.constant, row));
        return () => c;
      }
      const f = n.fn;
      return (e) => tf.reshape(f(e), row);
    }
    return n.fn;
  }

  function asOperandB(n: Node, other: Shape): Fn {
    if (n.constant) return asOperand(n, other);
    const f = n.bfn!;
    if (n.shape.length === 1 && other.length >= 2) return (e) => asRowB(f(e), n.shape[0]);
    return f;
  }

  function fold(n: Node, inputs: Node[]): Node {
    if (inputs.length > 0 && inputs.every((i) => i.constant)) {
      const v = tf.tidy(() => n.fn({ s: [], p: [] }));
      return constNode(v, n.shape);
    }
    return n;
  }

  function elementwise(op: (a: Tensor, b: Tensor) => Tensor, l: Node, r: Node, range: Range, kind = ''): Node {
    const shape = broadcastShapes(l.shape, r.shape, range);
    const fa = asOperand(l, r.shape);
    const fb = asOperand(r, l.shape);
    let bfn: Fn | undefined;
    if (allB([l, r])) {
      const ga = asOperandB(l, r.shape), gb = asOperandB(r, l.shape);
      bfn = (e) => op(ga(e), gb(e));
    }
    return fold({ shape, fn: (e) => op(fa(e), fb(e)), bfn, ...revBinary(kind, l, r) }, [l, r]);
  }

  function elementwiseK(kind: string, op: (a: Tensor, b: Tensor) => Tensor, l: Node, r: Node, range: Range): Node {
    return elementwise(op, l, r, range, kind);
  }

  function matmul(l: Node, r: Node, range: Range): Node {
    const a = l.shape, b = r.shape;
    const fa = l.fn, fb = r.fn;
    const ga = l.bfn, gb = r.bfn;
    const bad = () => new CompileError(`cannot multiply [${a}] @ [${b}]`, range, 'shape-mismatch');
    if (a.length === 0 || b.length === 0) throw bad();
    const k1 = a[a.length - 1];
    const k2 = b.length === 1 ? b[0] : b[b.length - 2];
    if (k1 !== k2) throw bad();
    let node: Node;
    if (a.length === 2 && b.length <= 2) {
      // [m,n]@[n] → column [m,1] directly; [m,n]@[n,k] → [m,k].
      const lr = l.rev, rr = r.rev;
      const rev: Rev | undefined = lr && rr ? (env) => {
        const A = lr(env), B = rr(env);
        const y = matMul(A.y, B.y);
        return {
          y,
          back: (dy, acc) => {
            if (wants(l, acc)) A.back(matMul(dy, B.y, false, true), acc);
            if (wants(r, acc)) B.back(matMul(A.y, dy, true, false), acc);
          },
        };
      } : undefined;
      // matMul broadcasts the batch dimension of rank-3 operands against rank-2 ones.
      const bfn: Fn | undefined = ga && gb ? (e) => matMul(ga(e), gb(e)) : undefined;
      node = { shape: b.length === 1 ? [a[0]] : [a[0], b[1]], fn: (e) => matMul(fa(e), fb(e)), bfn, rev, usesS: !!(l.usesS || r.usesS), usesP: !!(l.usesP || r.usesP) };
    } else if (a.length === 1 && b.length === 2) {
      const out = [b[1], 1], k = b[1];
      const bfn: Fn | undefined = ga && gb ? (e) => { const y = matMul(lift(ga(e)), lift(gb(e)), true, false); return tf.reshape(y, [y.shape[0], k, 1]); } : undefined;
      node = { shape: [b[1]], fn: (e) => tf.reshape(matMul(fa(e), fb(e), true, false), out), bfn };
    } else if (a.length === 1 && b.length === 1) {
      const bfn: Fn | undefined = ga && gb ? (e) => matMul(lift(ga(e)), lift(gb(e)), true, false) : undefined;
      node = { shape: [], fn: (e) => tf.reshape(matMul(fa(e), fb(e), true, false), []), bfn };
    } else {
      throw bad();
    }
    return fold(node, [l, r]);
  }

  /** `v[i]`, `A[i, j]`, `A[i]` (a row) with constant 0-based indices; negative ones count from the end. */
  function indexNode(target: Node, indices: number[], range: Range): Node {
    const shape = target.shape;
    if (indices.length === 0 || indices.length > shape.length) {
      throw new CompileError(`cannot index shape [${shape}] with ${indices.length} indices`, range, 'shape-mismatch');
    }
    const at = indices.map((i, d) => {
      const k = i < 0 ? shape[d] + i : i;
      if (!Number.isInteger(k) || k < 0 || k >= shape[d]) throw new CompileError(`index ${i} is out of range for dimension ${d} of size ${shape[d]}`, range, 'index-out-of-range');
      return k;
    });
    const f = target.fn, g = target.bfn;
    let node: Node;
    if (shape.length === 1) {
      // Column [n,1] internally.
      node = { shape: [], fn: (env) => tf.reshape(tf.slice(f(env), [at[0], 0], [1, 1]), []), bfn: g && ((env) => tf.slice(lift(g(env)), [0, at[0], 0], [-1, 1, 1])) };
    } else if (at.length === 2) {
      node = { shape: [], fn: (env) => tf.reshape(tf.slice(f(env), at, [1, 1]), []), bfn: g && ((env) => tf.slice(lift(g(env)), [0, at[0], at[1]], [-1, 1, 1])) };
    } else {
      // One index into a matrix: row i, a logical vector [n] → column [n,1].
      const n = shape[1];
      node = {
        shape: [n], fn: (env) => tf.reshape(tf.slice(f(env), [at[0], 0], [1, n]), [n, 1]),
        bfn: g && ((env) => { const r = tf.slice(lift(g(env)), [0, at[0], 0], [-1, 1, n]); return tf.reshape(r, [r.shape[0], n, 1]); }),
      };
    }
    return fold(node, [target]);
  }

  /**
   * |c| > 0 as bool, through step and greaterEqual, which have gradients (zero), unlike greater or
   * notEqual; NaN → false on every backend, as in scalarRhs (a cast of NaN to bool is true on cpu,
   * false on wasm).
   */
  const nonzero = (c: Tensor) => tf.greaterEqual(tf.step(tf.abs(c), 0), 0.5);

  /** XPPAUT if(c)then(a)else(b): elementwise, all three broadcast together; c nonzero → a. */
  function select(c: Node, a: Node, b: Node, range: Range): Node {
    const shape = broadcastShapes(broadcastShapes(c.shape, a.shape, range), b.shape, range);
    const target = internalShape(shape);
    const fc = asOperand(c, shape), fa = asOperand(a, shape), fb = asOperand(b, shape);
    const full = (x: Tensor) => (x.shape.join() === target.join() ? x : tf.broadcastTo(x, target));
    const fn: Fn = (env) => tf.where(nonzero(full(fc(env))), full(fa(env)), full(fb(env)));
    let bfn: Fn | undefined;
    if (allB([c, a, b])) {
      const gc = asOperandB(c, shape), ga = asOperandB(a, shape), gb = asOperandB(b, shape);
      // tf.where broadcasts its three operands.
      bfn = (env) => tf.where(nonzero(gc(env)), ga(env), gb(env));
    }
    return fold({ shape, fn, bfn }, [c, a, b]);
  }

  /** Concatenates [b,1,k] (or [b,r,1]) pieces along axis 1, broadcasting batches of 1 to the largest batch. */
  function concatB(xs: Tensor[]): Tensor {
    const B = Math.max(...xs.map((x) => x.shape[0]));
    return tf.concat(xs.map((x) => (x.shape[0] === B ? x : tf.broadcastTo(x, [B, x.shape[1] as number, x.shape[2] as number]))), 1);
  }

  function compile(e: Expr, inLoss: boolean, final: boolean): Node {
    switch (e.kind) {
      case 'number':
        return constNode(tf.scalar(e.value), []);
      case 'name': {
        const si = stateIndex.get(e.name);
        if (si !== undefined) {
          if (final) throw new CompileError(`initial values cannot depend on state ${e.name}`, e.range);
          return { shape: model.states[si].shape, fn: (env) => env.s[si], bfn: (env) => env.s[si], usesS: true, rev: (env) => ({ y: env.s[si], back: (dy, acc) => { if (acc.wantS) add(acc.s, si, dy); } }) };
        }
        const pi = paramIndex.get(e.name);
        if (pi !== undefined) {
          if (final) throw new CompileError(`initial values cannot depend on parameter ${e.name}`, e.range);
          if (inLoss) throw new CompileError(`the loss cannot use parameter ${e.name}`, e.range);
          return { shape: model.params[pi].shape, fn: (env) => env.p[pi], bfn: (env) => env.p[pi], usesP: true, rev: (env) => ({ y: env.p[pi], back: (dy, acc) => { if (acc.wantP) add(acc.p, pi, dy); } }) };
        }
        if (e.name === 't') {
          if (final || inLoss) throw new CompileError('`t` is only available in equations', e.range);
          usesTime = true;
          return { shape: [], fn: (env) => env.t as Tensor, bfn: (env) => env.t as Tensor, rev: (env) => ({ y: env.t as Tensor, back: () => {} }) };
        }
        if (e.name === 'pi') return constNode(tf.scalar(Math.PI), []);
        // A data set's name is its values matrix [K, m] (the observations the loss compares with).
        const data = model.data.find((d) => d.name === e.name);
        if (data) {
          if (!inLoss) throw new CompileError(`the data set ${e.name} is only available in the loss`, e.range);
          const m = data.columns.length;
          return constNode(tf.tensor2d(data.values.flat(), [data.values.length, m]), [data.values.length, m]);
        }
        throw new CompileError(`unknown name ${e.name}`, e.range, 'undefined-name');
      }
      case 'stateAtEnd': {
        const si = stateIndex.get(e.state);
        if (si === undefined) throw new CompileError(`unknown state ${e.state}`, e.range, 'undefined-name');
        return { shape: model.states[si].shape, fn: (env) => env.s[si], bfn: (env) => env.s[si] };
      }
      case 'stateAtData': {
        // The solver supplies the states at the observation times (solver/engine/observe.ts).
        const si = stateIndex.get(e.state);
        if (si === undefined) throw new CompileError(`unknown state ${e.state}`, e.range, 'undefined-name');
        const d = model.data.find((x) => x.name === e.data);
        if (!d) throw new CompileError(`unknown data set ${e.data}`, e.range, 'undefined-name');
        if (!inLoss || final) throw new CompileError(`${e.state}(${e.data}) is only available in the loss`, e.range);
        const sh = model.states[si].shape;
        if (sh.length > 1) throw new CompileError(`${e.state}(${e.data}) needs a scalar or vector state`, e.range, 'unsupported');
        const { t0, total } = model.options, tol = 1e-9 * Math.max(1, Math.abs(t0) + Math.abs(total));
        const bad = d.times.find((tk) => !(tk >= t0 - tol && tk <= t0 + total + tol));
        if (bad !== undefined || d.times.length === 0) {
          throw new CompileError(d.times.length === 0 ? `data set ${d.name} has no observations` : `data set ${d.name} has an observation at t = ${bad}, outside the solve [${t0}, ${t0 + total}]`, e.range, 'data-out-of-range');
        }
        if (!observed.some((o) => o.name === d.name)) observed.push({ name: d.name, times: d.times.slice() });
        const data = d.name;
        const o = (env: Env) => { if (!env.o) throw new Error(`${e.state}(${data}) needs the trajectory`); return env.o(data, si); };
        return { shape: [d.times.length, ...sh], fn: o, bfn: o };
      }
      case 'index':
        return indexNode(compile(e.target, inLoss, final), e.indices, e.range);
      case 'if': {
        const c = compile(e.cond, inLoss, final);
        const a = compile(e.then, inLoss, final);
        const b = compile(e.else, inLoss, final);
        return select(c, a, b, e.range);
      }
      case 'unary': {
        const o = compile(e.operand, inLoss, final);
        if (e.op === '+') return o;
        const f = o.fn, g = o.bfn;
        return fold({ shape: o.shape, fn: (env) => tf.neg(f(env)), bfn: g && ((env) => tf.neg(g(env))), ...revUnary('neg', o, (x) => tf.neg(x)) }, [o]);
      }
      case 'binary': {
        const l = compile(e.left, inLoss, final);
        // x^2 and friends: cheaper kernels and gradients than pow.
        if (e.op === '^' && e.right.kind === 'number') {
          const k = e.right.value;
          const f = l.fn;
          const simple: Record<number, Fn> = {
            1: f,
            2: (env) => tf.square(f(env)),
            0.5: (env) => tf.sqrt(f(env)),
            [-1]: (env) => tf.reciprocal(f(env)),
          };
          const g = l.bfn;
          const simpleB: Record<number, Fn> | undefined = g && {
            1: g,
            2: (env) => tf.square(g(env)),
            0.5: (env) => tf.sqrt(g(env)),
            [-1]: (env) => tf.reciprocal(g(env)),
          };
          if (simple[k]) return fold({ shape: l.shape, fn: simple[k], bfn: simpleB?.[k], ...(k === 2 ? revUnary('square', l, (x) => tf.square(x)) : k === 1 ? { rev: l.rev, usesS: l.usesS, usesP: l.usesP } : { usesS: l.usesS, usesP: l.usesP }) }, [l]);
        }
        const r = compile(e.right, inLoss, final);
        switch (e.op) {
          case '+': return elementwiseK('+', (a, b) => tf.add(a, b), l, r, e.range);
          case '-': return elementwiseK('-', (a, b) => tf.sub(a, b), l, r, e.range);
          case '*': return elementwiseK('*', (a, b) => tf.mul(a, b), l, r, e.range);
          case '/': return elementwiseK('/', (a, b) => tf.div(a, b), l, r, e.range);
          case '^': return elementwise((a, b) => tf.pow(a, b), l, r, e.range);
          case '@': return matmul(l, r, e.opRange ?? e.range);
        }
        const logic = LOGIC[e.op];
        if (logic) return elementwise((a, b) => logic(tf, a, b), l, r, e.opRange ?? e.range);
        throw new CompileError(`unsupported operator`, (e as Expr).range);
      }
      case 'call': {
        const args = e.args.map((a) => compile(a, inLoss, final));
        const name = e.callee;
        const arity = (n: number) => {
          if (args.length !== n) throw new CompileError(`${name} takes ${n} argument${n === 1 ? '' : 's'}`, e.range, 'wrong-arity');
        };
        if (UNARY[name]) {
          arity(1);
          const f = args[0].fn, op = UNARY[name];
          const g = args[0].bfn;
          return fold({ shape: args[0].shape, fn: (env) => op(tf, f(env)), bfn: g && ((env) => op(tf, g(env))), ...revUnary(name, args[0], (x) => op(tf, x)) }, args);
        }
        if (name === 'sum' || name === 'mean' || ((name === 'max' || name === 'min') && args.length === 1)) {
          arity(1);
          const f = args[0].fn;
          const red = name === 'sum' ? tf.sum : name === 'mean' ? tf.mean : name === 'max' ? tf.max : tf.min;
          const g = args[0].bfn;
          // Batched: reduce each batch element, keeping the scalar layout [b,1,1].
          return fold({ shape: [], fn: (env) => red(f(env)), bfn: g && ((env) => red(lift(g(env)), [1, 2], true)) }, args);
        }
        if (BINARY_FN[name]) {
          arity(2);
          const op = BINARY_FN[name];
          return elementwise((a, b) => op(tf, a, b), args[0], args[1], e.range);
        }
        if (name === 'norm') {
          arity(1);
          const f = args[0].fn;
          const g = args[0].bfn;
          return fold({ shape: [], fn: (env) => tf.sqrt(tf.sum(tf.square(f(env)))), bfn: g && ((env) => tf.sqrt(tf.sum(tf.square(lift(g(env))), [1, 2], true))) }, args);
        }
        throw new CompileError(`function ${name} is not supported by the engine`, e.calleeRange ?? e.range, 'unsupported-function');
      }
      case 'vector': {
        const els = e.elements.map((x) => compile(x, inLoss, final));
        if (els.length === 0) throw new CompileError('empty vector', e.range, 'shape-mismatch');
        const inner = els[0].shape;
        for (const x of els) if (x.shape.join() !== inner.join()) throw new CompileError('vector elements differ in shape', e.range, 'shape-mismatch');
        const shape = [els.length, ...inner];
        if (inner.length === 0) {
          const fs = els.map((x) => x.fn);
          const gs = allB(els) ? els.map((x) => x.bfn!) : undefined;
          return fold({ shape, fn: (env) => tf.reshape(tf.stack(fs.map((f) => f(env))), [els.length, 1]), bfn: gs && ((env) => concatB(gs.map((g) => lift(g(env))))) }, els);
        }
        if (inner.length === 1) {
          // rows: each element is a column [n,1] internally → stack as rows of [m, n]
          const fs = els.map((x) => x.fn);
          const n = inner[0];
          const gs = allB(els) ? els.map((x) => x.bfn!) : undefined;
          return fold({
            shape, fn: (env) => tf.reshape(tf.stack(fs.map((f) => tf.reshape(f(env), [n]))), [els.length, n]),
            bfn: gs && ((env) => concatB(gs.map((g) => { const x = lift(g(env)); return tf.reshape(x, [x.shape[0], 1, n]); }))),
          }, els);
        }
        throw new CompileError('tensors of rank above 2 are not supported', e.range, 'unsupported-expression');
      }
    }
  }

  function conform(n: Node, target: Shape, range: Range, what: string): Fn {
    const same = n.shape.length === target.length && n.shape.every((d, i) => d === target[i]);
    if (same) return n.fn;
    const b = broadcastShapes(n.shape, target, range);
    if (b.join() !== target.join()) throw new CompileError(`${what} has shape [${n.shape}], expected [${target}]`, range, 'shape-mismatch');
    const tgt = internalShape(target);
    const f = n.fn;
    const fa = n.shape.length === 1 && target.length >= 2 ? (env: Env) => tf.reshape(f(env), [1, n.shape[0]]) : f;
    if (n.constant) {
      const c = keep(tf.tidy(() => tf.broadcastTo(fa({ s: [], p: [] }), tgt)));
      return () => c;
    }
    return (env) => tf.broadcastTo(fa(env), tgt);
  }

  /** Batched counterpart of conform (call after conform, which validates the shapes). */
  function conformB(n: Node, target: Shape): Fn | undefined {
    const g = n.bfn;
    if (!g) return undefined;
    if (sameShape(n.shape, target)) return g;
    const t = internalShape(target);
    const tgt = t.length === 0 ? [1, 1] : t;
    const fa = n.shape.length === 1 && target.length >= 2 ? (env: Env) => asRowB(g(env), n.shape[0]) : g;
    return (env) => { const x = lift(fa(env)); return tf.broadcastTo(x, [x.shape[0], ...tgt]); };
  }

  const cleanup = () => { for (const t of kept) t.dispose(); kept.length = 0; };
  try {
    // Reverse mode per right-hand side: null for a missing equation (f = 0), undefined when unsupported.
    const rhsRevs: (Node | null | undefined)[] = [];
    const rhsBatched: (Fn | undefined)[] = [];
    const rhsFns: Fn[] = model.states.map((s) => {
      const eq = model.equations.find((q) => q.state === s.name);
      if (!eq) {
        const z = keep(tf.zeros(internalShape(s.shape)));
        rhsRevs.push(null);
        rhsBatched.push(() => z);
        return () => z;
      }
      const n = compile(eq.rhs, false, false);
      rhsRevs.push(n.rev && sameShape(n.shape, s.shape) ? n : undefined);
      const f = conform(n, s.shape, eq.range, `the right-hand side of ${s.name}'`);
      rhsBatched.push(conformB(n, s.shape));
      return f;
    });
    const hasRhsVjp = rhsRevs.every((n) => n !== undefined);

    let defaultLoss = false;
    let lossFn: Fn;
    let lossBatched: Fn | undefined;
    if (model.loss) {
      const ln = compile(model.loss.expr, true, false);
      if (ln.shape.length !== 0) throw new CompileError(`the loss must be a scalar, not shape [${ln.shape}] (use sum(...))`, model.loss.range, 'shape-mismatch');
      lossFn = ln.fn;
      lossBatched = ln.bfn;
    } else {
      // No loss: ½‖x(T)‖² over all states, so that gradients can still be checked.
      defaultLoss = true;
      const half = keep(tf.scalar(0.5));
      lossFn = (env) => tf.mul(half, tf.addN(env.s.map((x) => tf.sum(tf.square(x)))));
      if (model.states.length === 1) lossFn = (env) => tf.mul(half, tf.sum(tf.square(env.s[0])));
      const sq = (x: Tensor) => tf.sum(tf.square(lift(x)), [1, 2], true);
      lossBatched = (env) => tf.mul(half, env.s.length === 1 ? sq(env.s[0]) : tf.addN(env.s.map(sq)));
    }
    // After the per-operation compile, which validates every expression and gives the loss.
    const program = options.fuseScalars === false ? undefined : compileScalarProgram(model);
    const fused = program ? fusedRhs(tf, program, model.states.map((s) => internalShape(s.shape)), model.params.map((p) => internalShape(p.shape))) : undefined;
    const batchable = (!!fused || rhsBatched.every((f) => f)) && !!lossBatched;

    const x0 = model.states.map((s) => {
      if (!s.init) return keep(tf.zeros(internalShape(s.shape)));
      const n = compile(s.init, false, true);
      const f = conform(n, s.shape, s.init.range, `the initial value of ${s.name}`);
      return keep(tf.tidy(() => tf.reshape(f({ s: [], p: [] }), internalShape(s.shape))));
    });

    const compiled: CompiledModel = {
      tf,
      stateShapes: model.states.map((s) => s.shape),
      paramShapes: model.params.map((p) => p.shape),
      usesTime,
      observed,
      x0,
      packed: fused && model.states.length > 1 && model.states.every((s) => s.shape.length === 0) ? packedModel(fused, keep(tf.stack(x0))) : undefined,
      rhs: fused ? fused.rhs : (s, p, t) => {
        const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined };
        return rhsFns.map((f) => f(env));
      },
      rhsVjp: fused ? fused.rhsVjp : hasRhsVjp ? (s, p, t, cot, withParams) => {
        const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined };
        const acc: Acc = { s: s.map(() => undefined), p: p.map(() => undefined), wantP: withParams, wantS: true };
        rhsRevs.forEach((n, k) => {
          if (!n || !(n.usesS || (withParams && n.usesP))) return;
          n.rev!(env).back(cot[k], acc);
        });
        // A result may be an input itself (f = x + c passes the cotangent through): callers own results, so copy those.
        const own = (g: Tensor) => (cot.includes(g) || s.includes(g) || p.includes(g) ? tf.clone(g) : g);
        return { vx: s.map((x, i) => own(acc.s[i] ?? tf.zerosLike(x))), vp: withParams ? p.map((x, i) => own(acc.p[i] ?? tf.zerosLike(x))) : [] };
      } : undefined,
      rhsLinearize: fused ? fused.rhsLinearize : hasRhsVjp ? (s, p, t) => {
        const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined };
        const revs = rhsRevs.map((n) => n && n.rev!(env));
        return {
          back(cot, withParams, withState = true) {
            const acc: Acc = { s: s.map(() => undefined), p: p.map(() => undefined), wantP: withParams, wantS: withState };
            revs.forEach((r, k) => {
              const n = rhsRevs[k];
              if (!r || !n || !((withState && n.usesS) || (withParams && n.usesP))) return;
              r.back(cot[k], acc);
            });
            const own = (g: Tensor) => (cot.includes(g) || s.includes(g) || p.includes(g) ? tf.clone(g) : g);
            return { vx: withState ? s.map((x, i) => own(acc.s[i] ?? tf.zerosLike(x))) : [], vp: withParams ? p.map((x, i) => own(acc.p[i] ?? tf.zerosLike(x))) : [] };
          },
        };
      } : undefined,
      loss(final, o) {
        return lossFn({ s: final, p: [], o });
      },
      // Every model: per-kernel overhead bounds the steps of wide networks too (d = 64, width 256: check 6 % faster; milne 33 %).
      combine: linearCombination(tf),
      batched: batchable ? {
        rhs: fused ? fused.batchedRhs : (s, p, t) => {
          const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined };
          // Each f as its state's full batched shape: the steppers' addN needs equal shapes (f = 0 or f(t) alone is not batched).
          return rhsBatched.map((f, k) => {
            const y = f!(env), want = s[k].shape;
            return y.shape.length === want.length && y.shape.every((d, i) => d === want[i]) ? y : tf.broadcastTo(lift(y), want);
          });
        },
        loss(final, B, o) {
          const y = lift(lossBatched!({ s: final, p: [], o }));
          return tf.reshape(y.shape[0] === B ? y : tf.broadcastTo(y, [B, 1, 1]), [B]);
        },
      } : undefined,
      dispose: cleanup,
    };
    return { compiled, defaultLoss };

    /** CompiledModel.packed of a fused model; its model() view is made on first use. */
    function packedModel(f: NonNullable<typeof fused>, px0: Tensor): NonNullable<CompiledModel['packed']> {
      let view: CompiledModel | undefined;
      const S = model.states.length;
      const unpack = (x: Tensor) => Array.from({ length: S }, (_, i) => tf.reshape(tf.slice(x, [i], [1]), []));
      return {
        owner: f.rhs, x0: px0, rhs: f.packedRhs, batchedRhs: f.packedBatchedRhs,
        model: () => (view ??= {
          ...compiled,
          stateShapes: [[S]],
          x0: [px0],
          rhs: (s, p, t) => [f.packedRhs(s[0], p, t)],
          rhsVjp: (s, p, t, cot, withParams) => f.packedVjp(s[0], p, t, cot[0], withParams),
          rhsLinearize: (s, p, t) => f.packedLinearize(s[0], p, t),
          batched: compiled.batched && { rhs: (s, p, t) => [f.packedBatchedRhs(s[0], p, t)], loss: (final, B, o) => compiled.batched!.loss(Array.from({ length: S }, (_, i) => tf.slice(final[0], [0, i, 0], [B, 1, 1])), B, o) },
          loss: (final, o) => compiled.loss(unpack(final[0]), o),
          packed: undefined,
          dispose: () => {},
        }),
      };
    }
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** Evaluates a constant expression (a parameter's `= value` initialiser) into internal layout, broadcast to `shape`. */
export function evalConstant(tf: TF, expr: Expr, shape: Shape): Float32Array {
  const fake: Model = {
    states: [{ name: '__c', shape, init: expr, range: expr.range, nameRange: expr.range }],
    params: [], equations: [], optionLines: [], data: [], schemes: [],
    options: { t0: 0, total: 1, steps: 1, dt: 1, meth: 'euler', start: 'euler', seed: 0, gradfix: 'none', grad: 'ad', tie: 'step' },
    loss: undefined,
  };
  const { compiled } = compileModel(tf, fake);
  try {
    return Float32Array.from(compiled.x0[0].dataSync());
  } finally {
    compiled.dispose();
  }
}
