// The per-operation compile of one expression tree into closures over TF.js
// ops (a Node per expression), once per model: the closures run every step.
//
// Internal layout: a logical vector [n] is held as a column [n, 1], so that
// `W @ x` is one matMul kernel with no reshapes (kernel count dominates the cost
// of small models). Scalars are [], matrices [m, n]. When a vector meets a
// matrix in an elementwise op it is reshaped to a row [1, n], which gives
// NumPy broadcasting on the logical shapes.
import {
  leftChain,
  visitExpressions,
  type BinaryExpr,
  type DiagnosticCode,
  type Expr,
  type Model,
  type Range,
  type Shape,
} from '../model';
import type { TF, Tensor } from './tf';
import { matrixProduct } from './matrixProduct';
import { DelayHistory } from './delays';
import { VolterraIntegrals } from './volterra';
import { INTEGRAL, readsTime, T_PRIME } from '../language/volterraSyntax';
import { broadcast, sameShape } from '../ops/shapes';
import {
  modelFunction,
  NEGATE,
  OPERATORS,
  POWER_FORMS,
  type BinaryOp,
  type Reduction,
  type UnaryOp,
} from '../ops/table';

/** Longest chain of operations (a sum of this many terms) the per-operation compile takes: its evaluation nests one call per operation. */
export const MAX_CHAIN = 4000;

/** Where the fused program, and so a DAE's algebraic solve, does not run (engine/scalarRhs.ts). */
export const DAE_OUTSIDE_FUSED =
  'it runs models of scalars and small vectors without Volterra integrals, and event conditions and resets that read no algebraic variable';

export class CompileError extends Error {
  constructor(
    message: string,
    readonly range: Range,
    readonly code: DiagnosticCode = 'unsupported-expression',
  ) {
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
  /** Time as a number (read by `delay(x, tau)`, engine/delays.ts). */
  now?: number;
  /** The time t' inside an integral (engine/volterra.ts): a scalar, or the history's times [m]. */
  tp?: Tensor;
  /** `x(obs)`: state `si` at the observation times of data set `data`, [K, ...] internal layout (loss only). */
  o?: (data: string, si: number) => Tensor;
}

export type Fn = (env: Env) => Tensor;
/**
 * Hand-written reverse mode of a node, for the continuous reference's many small
 * vector–Jacobian products (a TF.js gradient scope costs ~4 kernels of overhead
 * each). `back` adds ∂(dy·y)/∂(state, parameter) into `acc`. Defined only for the
 * subset below (no broadcasting beyond scalars, no reshapes); else AD is used.
 */
export interface Acc {
  s: (Tensor | undefined)[];
  p: (Tensor | undefined)[];
  wantP: boolean;
  wantS: boolean;
}
export type Rev = (env: Env) => { y: Tensor; back: (dy: Tensor, acc: Acc) => void };
/**
 * `bfn`: the same value for a batch of independent solves (finite-difference
 * directions). Batched layout: every value that depends on states or
 * parameters is rank 3, [b, r, c] with b the batch (or 1): scalars [b,1,1],
 * vectors [b,n,1], matrices [b,m,n]; constants (and values of `t` alone) keep
 * the unbatched layout above and broadcast from the right. Undefined when the
 * node cannot be batched (the caller then loops over solves).
 */
export interface Node {
  shape: Shape;
  fn: Fn;
  bfn?: Fn;
  constant?: Tensor;
  rev?: Rev;
  usesS?: boolean;
  usesP?: boolean;
}

export function internalShape(shape: Shape): number[] {
  return shape.length === 1 ? [shape[0], 1] : shape.slice();
}

function broadcastShapes(a: Shape, b: Shape, range: Range): Shape {
  const out = broadcast(a, b);
  if (!out) throw new CompileError(`shapes [${a}] and [${b}] do not broadcast`, range, 'shape-mismatch');
  return out;
}

// ---- batched layout (see Node.bfn) ----
/** A value in the batched rank-3 layout (unbatched values get a batch of 1). */
export const lift = (tf: TF, x: Tensor): Tensor =>
  x.rank === 3 ? x : tf.reshape(x, x.rank === 0 ? [1, 1, 1] : x.rank === 1 ? [1, x.shape[0], 1] : [1, ...x.shape]);
const allB = (ns: Node[]): boolean => ns.every((n) => n.bfn);
/** A logical vector as a row, to meet a matrix: [b,n,1] → [b,1,n] (unbatched [n,1] → [1,n]). */
const asRowB = (tf: TF, x: Tensor, n: number): Tensor =>
  x.rank === 3 ? tf.reshape(x, [x.shape[0], 1, n]) : tf.reshape(x, [1, n]);

/** Concatenates [b,1,k] (or [b,r,1]) pieces along axis 1, broadcasting batches of 1 to the largest batch. */
function concatB(tf: TF, xs: Tensor[]): Tensor {
  const B = Math.max(...xs.map((x) => x.shape[0]));
  return tf.concat(
    xs.map((x) => (x.shape[0] === B ? x : tf.broadcastTo(x, [B, x.shape[1] as number, x.shape[2] as number]))),
    1,
  );
}

// ---- hand-written reverse mode (see Rev) ----
const add = (tf: TF, acc: (Tensor | undefined)[], i: number, g: Tensor) => {
  const a = acc[i];
  acc[i] = a ? tf.add(a, g) : g;
};
const wants = (n: Node, acc: Acc) => !n.constant && ((acc.wantS && n.usesS) || (acc.wantP && n.usesP));

/** Reverse mode of a binary elementwise op with a tensor VJP (ops/table.ts): equal shapes or a scalar against anything. */
function revBinary(tf: TF, op: BinaryOp | undefined, l: Node, r: Node): Partial<Node> {
  const lr = l.rev,
    rr = r.rev;
  const flags = { usesS: !!(l.usesS || r.usesS), usesP: !!(l.usesP || r.usesP) };
  const vjp = op?.tensorVjp;
  if (!lr || !rr || !op || !vjp) return flags;
  if (!sameShape(l.shape, r.shape) && l.shape.length !== 0 && r.shape.length !== 0) return flags;
  const redL = (g: Tensor) => (l.shape.length === 0 && r.shape.length !== 0 ? tf.sum(g) : g);
  const redR = (g: Tensor) => (r.shape.length === 0 && l.shape.length !== 0 ? tf.sum(g) : g);
  const rev: Rev = (env) => {
    const a = lr(env),
      b = rr(env);
    const y = op.tensor(tf, a.y, b.y);
    return {
      y,
      back: (dy, acc) => {
        if (wants(l, acc)) a.back(redL(vjp.a(tf, dy, a.y, b.y, y)), acc);
        if (wants(r, acc)) b.back(redR(vjp.b(tf, dy, a.y, b.y, y)), acc);
      },
    };
  };
  return { ...flags, rev };
}

/** Reverse mode of a unary function: dx = dy·φ'(x), φ' from x or y (−dy for the negation). */
function revUnary(tf: TF, fn: UnaryOp, o: Node): Partial<Node> {
  const flags = { usesS: o.usesS, usesP: o.usesP };
  const d = fn.tensorDerivative,
    or = o.rev;
  const negate = fn === NEGATE;
  if ((!d && !negate) || !or) return flags;
  const rev: Rev = (env) => {
    const a = or(env);
    const y = fn.tensor(tf, a.y);
    let der: Tensor | undefined; // φ' once per linearisation (rhsLinearize calls back several times)
    return {
      y,
      back: (dy, acc) => {
        if (wants(o, acc)) a.back(negate ? tf.neg(dy) : tf.mul(dy, (der ??= d!(tf, a.y, y))), acc);
      },
    };
  };
  return { ...flags, rev };
}

/**
 * |c| > 0 as bool, through step and greaterEqual, which have gradients (zero), unlike greater or
 * notEqual; NaN → false on every backend, as in scalarRhs (a cast of NaN to bool is true on cpu,
 * false on wasm).
 */
const nonzero = (tf: TF, c: Tensor) => tf.greaterEqual(tf.step(tf.abs(c), 0), 0.5);

/**
 * Compiles the expressions of one model into Nodes. Constants it creates are kept (tf.keep) until
 * dispose; `usesTime` and `observed` record what the expressions read.
 */
export class NodeCompiler {
  private readonly kept: Tensor[] = [];
  private readonly stateIndex: Map<string, number>;
  private readonly paramIndex: Map<string, number>;
  private readonly matMul: ReturnType<typeof matrixProduct>;
  usesTime = false;
  readonly observed: { name: string; times: number[] }[] = [];
  /** The history `delay(x, tau)` reads, made when the first delay is compiled. */
  history?: DelayHistory;
  /** The integrals `int{…}` read, made when the first one is compiled. */
  volterra?: VolterraIntegrals;
  /** The integrands compiled so far, by their formula. */
  private integrands?: Map<string, Node>;
  /** The nodes of operations compiled so far, by expression object, per (inLoss, final). */
  private readonly compiled = new WeakMap<Expr, Node[]>();

  constructor(
    readonly tf: TF,
    private readonly model: Model,
  ) {
    this.stateIndex = new Map(model.states.map((s, i) => [s.name, i]));
    this.paramIndex = new Map(model.params.map((p, i) => [p.name, i]));
    this.matMul = matrixProduct(tf);
  }

  /** The history `delay(x, tau)` reads, made on the first ask (the first delay compiled, or compile.ts). */
  delayHistory(): DelayHistory {
    return (this.history ??= new DelayHistory());
  }

  keep(t: Tensor): Tensor {
    this.tf.keep(t);
    this.kept.push(t);
    return t;
  }

  dispose(): void {
    for (const t of this.kept) t.dispose();
    this.kept.length = 0;
  }

  private constNode(value: Tensor, shape: Shape): Node {
    const c = this.keep(value);
    return { shape, constant: c, fn: () => c, bfn: () => c, rev: () => ({ y: c, back: () => {} }) };
  }

  private fold(n: Node, inputs: Node[]): Node {
    if (inputs.length > 0 && inputs.every((i) => i.constant)) {
      const v = this.tf.tidy(() => n.fn({ s: [], p: [] }));
      return this.constNode(v, n.shape);
    }
    return n;
  }

  /** Operand as it must enter an elementwise op against a partner of logical rank `other`. */
  private asOperand(n: Node, other: Shape): Fn {
    const tf = this.tf;
    if (n.shape.length === 1 && other.length >= 2) {
      const row = [1, n.shape[0]];
      if (n.constant) {
        const c = this.keep(tf.reshape(n.constant, row));
        return () => c;
      }
      const f = n.fn;
      return (e) => tf.reshape(f(e), row);
    }
    return n.fn;
  }

  private asOperandB(n: Node, other: Shape): Fn {
    const tf = this.tf;
    if (n.constant) return this.asOperand(n, other);
    const f = n.bfn!;
    if (n.shape.length === 1 && other.length >= 2) return (e) => asRowB(tf, f(e), n.shape[0]);
    return f;
  }

  /** A binary elementwise operation (an operator or a two-argument function of ops/table.ts). */
  private elementwise(op: BinaryOp, l: Node, r: Node, range: Range): Node {
    const tf = this.tf,
      apply = op.tensor;
    const shape = broadcastShapes(l.shape, r.shape, range);
    const fa = this.asOperand(l, r.shape);
    const fb = this.asOperand(r, l.shape);
    let bfn: Fn | undefined;
    if (allB([l, r])) {
      const ga = this.asOperandB(l, r.shape),
        gb = this.asOperandB(r, l.shape);
      bfn = (e) => apply(tf, ga(e), gb(e));
    }
    return this.fold({ shape, fn: (e) => apply(tf, fa(e), fb(e)), bfn, ...revBinary(tf, op, l, r) }, [l, r]);
  }

  /** A unary elementwise function of ops/table.ts. */
  private unary(fn: UnaryOp, o: Node): Node {
    const tf = this.tf,
      apply = fn.tensor;
    const f = o.fn,
      g = o.bfn;
    return this.fold(
      {
        shape: o.shape,
        fn: (env) => apply(tf, f(env)),
        bfn: g && ((env) => apply(tf, g(env))),
        ...revUnary(tf, fn, o),
      },
      [o],
    );
  }

  /** A reduction to a scalar; batched: each batch element reduced, keeping the scalar layout [b,1,1]. */
  private reduce(red: Reduction, o: Node): Node {
    const tf = this.tf,
      apply = red.tensor;
    const f = o.fn,
      g = o.bfn;
    return this.fold(
      { shape: [], fn: (env) => apply(tf, f(env)), bfn: g && ((env) => apply(tf, lift(tf, g(env)), [1, 2], true)) },
      [o],
    );
  }

  private matmul(l: Node, r: Node, range: Range): Node {
    const tf = this.tf,
      matMul = this.matMul;
    const a = l.shape,
      b = r.shape;
    const fa = l.fn,
      fb = r.fn;
    const ga = l.bfn,
      gb = r.bfn;
    const bad = () => new CompileError(`cannot multiply [${a}] @ [${b}]`, range, 'shape-mismatch');
    if (a.length === 0 || b.length === 0) throw bad();
    const k1 = a[a.length - 1];
    const k2 = b.length === 1 ? b[0] : b[b.length - 2];
    if (k1 !== k2) throw bad();
    let node: Node;
    if (a.length === 2 && b.length <= 2) {
      // [m,n]@[n] → column [m,1] directly; [m,n]@[n,k] → [m,k].
      const lr = l.rev,
        rr = r.rev;
      const rev: Rev | undefined =
        lr && rr
          ? (env) => {
              const A = lr(env),
                B = rr(env);
              const y = matMul(A.y, B.y);
              return {
                y,
                back: (dy, acc) => {
                  if (wants(l, acc)) A.back(matMul(dy, B.y, false, true), acc);
                  if (wants(r, acc)) B.back(matMul(A.y, dy, true, false), acc);
                },
              };
            }
          : undefined;
      // matMul broadcasts the batch dimension of rank-3 operands against rank-2 ones.
      const bfn: Fn | undefined = ga && gb ? (e) => matMul(ga(e), gb(e)) : undefined;
      node = {
        shape: b.length === 1 ? [a[0]] : [a[0], b[1]],
        fn: (e) => matMul(fa(e), fb(e)),
        bfn,
        rev,
        usesS: !!(l.usesS || r.usesS),
        usesP: !!(l.usesP || r.usesP),
      };
    } else if (a.length === 1 && b.length === 2) {
      const out = [b[1], 1],
        k = b[1];
      const bfn: Fn | undefined =
        ga && gb
          ? (e) => {
              const y = matMul(lift(tf, ga(e)), lift(tf, gb(e)), true, false);
              return tf.reshape(y, [y.shape[0], k, 1]);
            }
          : undefined;
      node = { shape: [b[1]], fn: (e) => tf.reshape(matMul(fa(e), fb(e), true, false), out), bfn };
    } else if (a.length === 1 && b.length === 1) {
      const bfn: Fn | undefined = ga && gb ? (e) => matMul(lift(tf, ga(e)), lift(tf, gb(e)), true, false) : undefined;
      node = { shape: [], fn: (e) => tf.reshape(matMul(fa(e), fb(e), true, false), []), bfn };
    } else {
      throw bad();
    }
    return this.fold(node, [l, r]);
  }

  /** `v[i]`, `A[i, j]`, `A[i]` (a row) with constant 0-based indices; negative ones count from the end. */
  private indexNode(target: Node, indices: number[], range: Range): Node {
    const tf = this.tf;
    const shape = target.shape;
    if (indices.length === 0 || indices.length > shape.length) {
      throw new CompileError(`cannot index shape [${shape}] with ${indices.length} indices`, range, 'shape-mismatch');
    }
    const at = indices.map((i, d) => {
      const k = i < 0 ? shape[d] + i : i;
      if (!Number.isInteger(k) || k < 0 || k >= shape[d])
        throw new CompileError(
          `index ${i} is out of range for dimension ${d} of size ${shape[d]}`,
          range,
          'index-out-of-range',
        );
      return k;
    });
    const f = target.fn,
      g = target.bfn;
    let node: Node;
    if (shape.length === 1) {
      // Column [n,1] internally.
      node = {
        shape: [],
        fn: (env) => tf.reshape(tf.slice(f(env), [at[0], 0], [1, 1]), []),
        bfn: g && ((env) => tf.slice(lift(tf, g(env)), [0, at[0], 0], [-1, 1, 1])),
      };
    } else if (at.length === 2) {
      node = {
        shape: [],
        fn: (env) => tf.reshape(tf.slice(f(env), at, [1, 1]), []),
        bfn: g && ((env) => tf.slice(lift(tf, g(env)), [0, at[0], at[1]], [-1, 1, 1])),
      };
    } else {
      // One index into a matrix: row i, a logical vector [n] → column [n,1].
      const n = shape[1];
      node = {
        shape: [n],
        fn: (env) => tf.reshape(tf.slice(f(env), [at[0], 0], [1, n]), [n, 1]),
        bfn:
          g &&
          ((env) => {
            const r = tf.slice(lift(tf, g(env)), [0, at[0], 0], [-1, 1, n]);
            return tf.reshape(r, [r.shape[0], n, 1]);
          }),
      };
    }
    return this.fold(node, [target]);
  }

  /** XPPAUT if(c)then(a)else(b): elementwise, all three broadcast together; c nonzero → a. */
  private select(c: Node, a: Node, b: Node, range: Range): Node {
    const tf = this.tf;
    const shape = broadcastShapes(broadcastShapes(c.shape, a.shape, range), b.shape, range);
    const target = internalShape(shape);
    const fc = this.asOperand(c, shape),
      fa = this.asOperand(a, shape),
      fb = this.asOperand(b, shape);
    const full = (x: Tensor) => (x.shape.join() === target.join() ? x : tf.broadcastTo(x, target));
    const fn: Fn = (env) => tf.where(nonzero(tf, full(fc(env))), full(fa(env)), full(fb(env)));
    let bfn: Fn | undefined;
    if (allB([c, a, b])) {
      const gc = this.asOperandB(c, shape),
        ga = this.asOperandB(a, shape),
        gb = this.asOperandB(b, shape);
      // tf.where broadcasts its three operands.
      bfn = (env) => tf.where(nonzero(tf, gc(env)), ga(env), gb(env));
    }
    return this.fold({ shape, fn, bfn }, [c, a, b]);
  }

  /** A vector literal: of scalars → a column; of vectors → the rows of a matrix. */
  private vector(e: Extract<Expr, { kind: 'vector' }>, inLoss: boolean, final: boolean): Node {
    const tf = this.tf;
    const els = e.elements.map((x) => this.compile(x, inLoss, final));
    if (els.length === 0) throw new CompileError('empty vector', e.range, 'shape-mismatch');
    const inner = els[0].shape;
    for (const x of els)
      if (x.shape.join() !== inner.join())
        throw new CompileError('vector elements differ in shape', e.range, 'shape-mismatch');
    const shape = [els.length, ...inner];
    if (inner.length === 0) {
      const fs = els.map((x) => x.fn);
      const gs = allB(els) ? els.map((x) => x.bfn!) : undefined;
      return this.fold(
        {
          shape,
          fn: (env) => tf.reshape(tf.stack(fs.map((f) => f(env))), [els.length, 1]),
          bfn:
            gs &&
            ((env) =>
              concatB(
                tf,
                gs.map((g) => lift(tf, g(env))),
              )),
        },
        els,
      );
    }
    if (inner.length === 1) {
      // rows: each element is a column [n,1] internally → stack as rows of [m, n]
      const fs = els.map((x) => x.fn);
      const n = inner[0];
      const gs = allB(els) ? els.map((x) => x.bfn!) : undefined;
      return this.fold(
        {
          shape,
          fn: (env) => tf.reshape(tf.stack(fs.map((f) => tf.reshape(f(env), [n]))), [els.length, n]),
          bfn:
            gs &&
            ((env) =>
              concatB(
                tf,
                gs.map((g) => {
                  const x = lift(tf, g(env));
                  return tf.reshape(x, [x.shape[0], 1, n]);
                }),
              )),
        },
        els,
      );
    }
    throw new CompileError('tensors of rank above 2 are not supported', e.range, 'unsupported-expression');
  }

  /** A state, a parameter, `t`, `pi` or a data set's values. */
  private name(e: Extract<Expr, { kind: 'name' }>, inLoss: boolean, final: boolean): Node {
    const tf = this.tf,
      model = this.model;
    const si = this.stateIndex.get(e.name);
    if (si !== undefined) {
      if (final) throw new CompileError(`initial values cannot depend on state ${e.name}`, e.range);
      return {
        shape: model.states[si].shape,
        fn: (env) => env.s[si],
        bfn: (env) => env.s[si],
        usesS: true,
        rev: (env) => ({
          y: env.s[si],
          back: (dy, acc) => {
            if (acc.wantS) add(tf, acc.s, si, dy);
          },
        }),
      };
    }
    const pi = this.paramIndex.get(e.name);
    if (pi !== undefined) {
      if (final) throw new CompileError(`initial values cannot depend on parameter ${e.name}`, e.range);
      if (inLoss) throw new CompileError(`the loss cannot use parameter ${e.name}`, e.range);
      return {
        shape: model.params[pi].shape,
        fn: (env) => env.p[pi],
        bfn: (env) => env.p[pi],
        usesP: true,
        rev: (env) => ({
          y: env.p[pi],
          back: (dy, acc) => {
            if (acc.wantP) add(tf, acc.p, pi, dy);
          },
        }),
      };
    }
    if (e.name === T_PRIME) {
      this.usesTime = true;
      return { shape: [], fn: (env) => (env.tp ?? env.t) as Tensor };
    }
    if (e.name === 't') {
      if (final || inLoss) throw new CompileError('`t` is only available in equations', e.range);
      this.usesTime = true;
      return {
        shape: [],
        fn: (env) => env.t as Tensor,
        bfn: (env) => env.t as Tensor,
        rev: (env) => ({ y: env.t as Tensor, back: () => {} }),
      };
    }
    if (e.name === 'pi') return this.constNode(tf.scalar(Math.PI), []);
    // A data set's name is its values matrix [K, m] (the observations the loss compares with).
    const data = model.data.find((d) => d.name === e.name);
    if (data) {
      if (!inLoss) throw new CompileError(`the data set ${e.name} is only available in the loss`, e.range);
      const m = data.columns.length;
      return this.constNode(tf.tensor2d(data.values.flat(), [data.values.length, m]), [data.values.length, m]);
    }
    const z = model.algebraic?.variables.find((v) => v.name === e.name);
    if (z)
      throw new CompileError(
        `the algebraic variable ${e.name} is solved (by Newton's method at every evaluation of f) only by the fused program of scalar models, which does not run this model (${DAE_OUTSIDE_FUSED})`,
        e.range,
        'unsupported-dae',
      );
    throw new CompileError(`unknown name ${e.name}`, e.range, 'undefined-name');
  }

  /** `x(obs)`: the solver supplies the states at the observation times (solver/engine/observe.ts). */
  private stateAtData(e: Extract<Expr, { kind: 'stateAtData' }>, inLoss: boolean, final: boolean): Node {
    const model = this.model;
    const si = this.stateIndex.get(e.state);
    if (si === undefined) throw new CompileError(`unknown state ${e.state}`, e.range, 'undefined-name');
    const d = model.data.find((x) => x.name === e.data);
    if (!d) throw new CompileError(`unknown data set ${e.data}`, e.range, 'undefined-name');
    if (!inLoss || final) throw new CompileError(`${e.state}(${e.data}) is only available in the loss`, e.range);
    const sh = model.states[si].shape;
    if (sh.length > 1)
      throw new CompileError(`${e.state}(${e.data}) needs a scalar or vector state`, e.range, 'unsupported');
    const { t0, total } = model.options,
      tol = 1e-9 * Math.max(1, Math.abs(t0) + Math.abs(total));
    const bad = d.times.find((tk) => !(tk >= t0 - tol && tk <= t0 + total + tol));
    if (bad !== undefined || d.times.length === 0) {
      throw new CompileError(
        d.times.length === 0
          ? `data set ${d.name} has no observations`
          : `data set ${d.name} has an observation at t = ${bad}, outside the solve [${t0}, ${t0 + total}]`,
        e.range,
        'data-out-of-range',
      );
    }
    if (!this.observed.some((o) => o.name === d.name)) this.observed.push({ name: d.name, times: d.times.slice() });
    const data = d.name;
    const o = (env: Env) => {
      if (!env.o) throw new Error(`${e.state}(${data}) needs the trajectory`);
      return env.o(data, si);
    };
    return { shape: [d.times.length, ...sh], fn: o, bfn: o };
  }

  /**
   * A chain of binary operations, from its innermost left operand out (model.ts: leftChain): compiling
   * a long sum recurses only into its right operands. Evaluating the nodes still nests one call per
   * operation, so a chain longer than MAX_CHAIN is refused with a diagnostic (the fused path, which
   * runs straight-line code, takes such models).
   */
  private binary(e: BinaryExpr, inLoss: boolean, final: boolean): Node {
    const { chain, innermost } = leftChain(e);
    if (chain.length > MAX_CHAIN)
      throw new CompileError(
        `this expression is a chain of ${chain.length} operations, more than the ${MAX_CHAIN} one TF.js evaluation of it can nest`,
        e.range,
        'too-large',
      );
    let l = this.compile(innermost, inLoss, final);
    for (let i = chain.length - 1; i >= 0; i--) l = this.operation(chain[i], l, inLoss, final);
    return l;
  }

  /** `e` applied to its compiled left operand `l`. */
  private operation(e: BinaryExpr, l: Node, inLoss: boolean, final: boolean): Node {
    // x^2 and friends: cheaper kernels and gradients than pow.
    if (e.op === '^' && e.right.kind === 'number') {
      const form = POWER_FORMS.get(e.right.value);
      if (form === 'identity')
        return this.fold({ shape: l.shape, fn: l.fn, bfn: l.bfn, rev: l.rev, usesS: l.usesS, usesP: l.usesP }, [l]);
      if (form) return this.unary(form, l);
    }
    const r = this.compile(e.right, inLoss, final);
    if (e.op === '@') return this.matmul(l, r, e.opRange ?? e.range);
    const op = Object.hasOwn(OPERATORS, e.op) ? OPERATORS[e.op] : undefined;
    if (!op) throw new CompileError(`unsupported operator`, (e as Expr).range);
    // Comparisons and logic report at the operator.
    const arithmetic = e.op === '+' || e.op === '-' || e.op === '*' || e.op === '/' || e.op === '^';
    return this.elementwise(op, l, r, arithmetic ? e.range : (e.opRange ?? e.range));
  }

  private call(e: Extract<Expr, { kind: 'call' }>, inLoss: boolean, final: boolean): Node {
    const target = e.args[0];
    if (e.callee === INTEGRAL) return this.integral(e, inLoss, final);
    if (e.callee === 'delay' && target?.kind === 'name' && this.stateIndex.has(target.name)) {
      const si = this.stateIndex.get(target.name)!;
      const history = this.delayHistory();
      const tau = this.compile(e.args[1], inLoss, final);
      const lag = tau.constant ? tau.constant.dataSync()[0] : undefined;
      const tauFn = tau.fn;
      // Not batched (finite differences of such models loop over perturbations).
      return {
        shape: this.model.states[si].shape,
        fn: (env) => history.read(this.tf, si, env.now ?? 0, lag ?? tauFn(env), env.s[si]),
        usesS: true,
        usesP: !!tau.usesP,
      };
    }
    const args = e.args.map((a) => this.compile(a, inLoss, final));
    const name = e.callee;
    const op = modelFunction(this.model.tables, name, args.length);
    if (!op)
      throw new CompileError(
        `function ${name} is not supported by the engine`,
        e.calleeRange ?? e.range,
        'unsupported-function',
      );
    if (args.length !== op.arity)
      throw new CompileError(`${name} takes ${op.arity} argument${op.arity === 1 ? '' : 's'}`, e.range, 'wrong-arity');
    if (op.kind === 'reduce') return this.reduce(op, args[0]);
    return op.arity === 1 ? this.unary(op, args[0]) : this.elementwise(op, args[0], args[1], e.range);
  }

  /** `int{…}` (engine/volterra.ts): not batched, not fused; its value depends on the solve in progress. */
  private integral(e: Extract<Expr, { kind: 'call' }>, inLoss: boolean, final: boolean): Node {
    const [mu, integrand, kernel] = e.args;
    const overHistory = readsTime(integrand);
    if (overHistory)
      visitExpressions([integrand], (x) => {
        const si = x.kind === 'name' ? this.stateIndex.get(x.name) : undefined;
        if (si !== undefined && this.model.states[si].shape.length > 0)
          throw new CompileError(
            `an integrand that reads t or t' is evaluated over the history of scalar states only, and '${x.kind === 'name' ? x.name : ''}' is an array`,
            x.range,
            'unsupported-volterra',
          );
      });
    // The same integrand in several integrals (int{K1#f} + int{K2#f}) is one function, evaluated once per f.
    const key = JSON.stringify(integrand, (k, v) =>
      k === 'range' || k === 'opRange' || k === 'calleeRange' ? undefined : v,
    );
    this.integrands ??= new Map();
    let g = this.integrands.get(key);
    if (!g) {
      g = this.compile(integrand, inLoss, final);
      this.integrands.set(key, g);
    }
    const c = kernel ? this.compile(kernel, inLoss, final) : undefined;
    const volterra = (this.volterra ??= new VolterraIntegrals(this.tf));
    const k = volterra.add({
      mu: mu.kind === 'number' ? mu.value : 0,
      integrand: g.fn,
      kernel: c?.fn,
      kernelUsesP: !!c?.usesP,
      overHistory,
    });
    return { shape: [], fn: (env) => volterra.value(k, env), usesS: true, usesP: !!(g.usesP || c?.usesP) };
  }

  /**
   * e's node. An operation's node is kept by the expression object (and the flags): the checker hands the same
   * checked subexpression to every formula that reads it (a network function's element, read by each equation),
   * which then compiles once; a node is a pure function of its environment, so sharing it is reading it twice.
   */
  compile(e: Expr, inLoss: boolean, final: boolean): Node {
    if (e.kind !== 'call' && e.kind !== 'binary' && e.kind !== 'if' && e.kind !== 'unary')
      return this.compileNew(e, inLoss, final);
    const slot = (inLoss ? 2 : 0) + (final ? 1 : 0);
    let known = this.compiled.get(e);
    if (!known) this.compiled.set(e, (known = []));
    return (known[slot] ??= this.compileNew(e, inLoss, final));
  }

  private compileNew(e: Expr, inLoss: boolean, final: boolean): Node {
    switch (e.kind) {
      case 'number':
        return this.constNode(this.tf.scalar(e.value), []);
      case 'name':
        return this.name(e, inLoss, final);
      case 'stateAtEnd': {
        const si = this.stateIndex.get(e.state);
        if (si === undefined) throw new CompileError(`unknown state ${e.state}`, e.range, 'undefined-name');
        return { shape: this.model.states[si].shape, fn: (env) => env.s[si], bfn: (env) => env.s[si] };
      }
      case 'stateAtData':
        return this.stateAtData(e, inLoss, final);
      case 'index':
        return this.indexNode(this.compile(e.target, inLoss, final), e.indices, e.range);
      case 'if': {
        const c = this.compile(e.cond, inLoss, final);
        const a = this.compile(e.then, inLoss, final);
        const b = this.compile(e.else, inLoss, final);
        return this.select(c, a, b, e.range);
      }
      case 'unary': {
        const o = this.compile(e.operand, inLoss, final);
        return e.op === '+' ? o : this.unary(NEGATE, o);
      }
      case 'binary':
        return this.binary(e, inLoss, final);
      case 'call':
        return this.call(e, inLoss, final);
      case 'vector':
        return this.vector(e, inLoss, final);
    }
  }

  /** A right-hand side or initial value as its declared shape (broadcast when it is smaller). */
  conform(n: Node, target: Shape, range: Range, what: string): Fn {
    const tf = this.tf;
    const same = n.shape.length === target.length && n.shape.every((d, i) => d === target[i]);
    if (same) return n.fn;
    const b = broadcastShapes(n.shape, target, range);
    if (b.join() !== target.join())
      throw new CompileError(`${what} has shape [${n.shape}], expected [${target}]`, range, 'shape-mismatch');
    const tgt = internalShape(target);
    const f = n.fn;
    const fa = n.shape.length === 1 && target.length >= 2 ? (env: Env) => tf.reshape(f(env), [1, n.shape[0]]) : f;
    if (n.constant) {
      const c = this.keep(tf.tidy(() => tf.broadcastTo(fa({ s: [], p: [] }), tgt)));
      return () => c;
    }
    return (env) => tf.broadcastTo(fa(env), tgt);
  }

  /** Batched counterpart of conform (call after conform, which validates the shapes). */
  conformB(n: Node, target: Shape): Fn | undefined {
    const tf = this.tf;
    const g = n.bfn;
    if (!g) return undefined;
    if (sameShape(n.shape, target)) return g;
    const t = internalShape(target);
    const tgt = t.length === 0 ? [1, 1] : t;
    const fa = n.shape.length === 1 && target.length >= 2 ? (env: Env) => asRowB(tf, g(env), n.shape[0]) : g;
    return (env) => {
      const x = lift(tf, fa(env));
      return tf.broadcastTo(x, [x.shape[0], ...tgt]);
    };
  }
}
