// The fused right-hand side of a small model (XPPAUT style: scalars, or a few
// small vectors and matrices). One TF.js kernel per evaluation instead of one
// per operation: the expressions run element by element as a flat instruction
// list in JS (each result rounded to float32, as TF.js computes), and reverse
// mode over the same list gives the vector–Jacobian products — registered with
// tf.customGrad, so the unrolled solve is still differentiated by TF.js's tape.
// Small models spend nearly all their time on per-kernel overhead (~5 µs
// each), so this is where their checks get fast.
import type { Expr, Model } from '../model';
import type { TF, Tensor } from './tf';
import { broadcastAll, broadcastIndex, elementCount } from '../ops/shapes';
import { modelFunction, NEGATE, OPERATORS, POWER_FORMS, type BinaryOp, type UnaryOp } from '../ops/table';

type Instr =
  | { op: 'const'; value: number }
  | { op: 'state'; index: number }
  | { op: 'param'; index: number }
  | { op: 't' }
  // The operation table's entries (ops/table.ts): their float64 values and TF.js-defined derivatives.
  | { op: 'unary'; fn: UnaryOp; a: number }
  | { op: 'binary'; fn: BinaryOp; a: number; b: number }
  | { op: 'select'; c: number; a: number; b: number }
  // Σ a_i·b_i (b omitted: Σ a_i) in double, rounded once, as TF.js's cpu matMul and sum accumulate.
  | { op: 'dot'; a: number[]; b?: number[] };

const f32 = Math.fround;

/**
 * The fused program over element slots: states and parameters flattened in order (row-major),
 * instructions, and per state element the instruction holding its f (−1: f = 0).
 */
export interface ScalarProgram {
  code: Instr[];
  outputs: number[];
  /** State and parameter elements in all. */
  states: number;
  params: number;
  /** Elements of each state and each parameter, in model order. */
  stateSizes: number[];
  paramSizes: number[];
  usesTime: boolean;
}

/**
 * Most state and parameter elements a fused model may have: each is a scalar slot, and every
 * operation on a tensor unrolls into one instruction per element, so only small models gain
 * (the size of an XPPAUT system written with vectors; a per-step MLP stays with TF.js's kernels).
 */
export const MAX_FUSED_ELEMENTS = 32;

/** A value during compilation: its shape in the language and its elements' instructions, row-major. */
interface Val {
  shape: number[];
  slots: number[];
}

/**
 * Compiles a small model's right-hand sides (scalars, or vectors and matrices of at most
 * MAX_FUSED_ELEMENTS elements in all) element by element, or returns undefined (a larger
 * model, or an expression outside the fused subset: the model then uses one kernel per operation).
 */
export function compileScalarProgram(model: Model): ScalarProgram | undefined {
  const stateSizes = model.states.map((s) => elementCount(s.shape)),
    paramSizes = model.params.map((p) => elementCount(p.shape));
  const S = stateSizes.reduce((a, b) => a + b, 0),
    Q = paramSizes.reduce((a, b) => a + b, 0);
  if (
    model.states.length === 0 ||
    S + Q > MAX_FUSED_ELEMENTS ||
    [...model.states, ...model.params].some((x) => x.shape.length > 2)
  )
    return undefined;
  const program = new ProgramBuilder(model, stateSizes, paramSizes);
  const outputs: number[] = [];
  for (const [i, s] of model.states.entries()) {
    const eq = model.equations.find((q) => q.state === s.name);
    if (!eq) {
      for (let k = 0; k < stateSizes[i]; k++) outputs.push(-1);
      continue;
    }
    const v = program.walk(eq.rhs);
    // f broadcast to its state's shape, as the per-operation compile conforms it.
    const idx =
      v && broadcastAll([v.shape, s.shape])?.join() === s.shape.join() ? broadcastIndex(v.shape, s.shape) : undefined;
    if (!v || !idx) return undefined;
    for (const k of idx) outputs.push(v.slots[k]);
  }
  // A model with tensors fuses only when that saves kernels: flattening its parameters and states and
  // splitting f cost about one kernel per tensor (A @ x + c is two kernels either way). All-scalar
  // models always fuse: their states are packed into one vector (CompiledModel.packed).
  const tensors = [...model.states, ...model.params].some((x) => x.shape.length > 0);
  if (tensors && program.operations <= model.states.length + model.params.length + 1) return undefined;
  return { code: program.code, outputs, states: S, params: Q, stateSizes, paramSizes, usesTime: program.usesTime };
}

/** Builds the instruction list of a model's expressions, one instruction per element and operation. */
class ProgramBuilder {
  readonly code: Instr[] = [];
  usesTime = false;
  /** AST operations: about the kernels the per-operation compile launches per evaluation. */
  operations = 0;
  private readonly stateAt: number[];
  private readonly paramAt: number[];
  private readonly states: Map<string, number>;
  private readonly params: Map<string, number>;

  constructor(
    private readonly model: Model,
    private readonly stateSizes: number[],
    private readonly paramSizes: number[],
  ) {
    const offsets = (sizes: number[]) => sizes.map((_n, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    this.stateAt = offsets(stateSizes);
    this.paramAt = offsets(paramSizes);
    this.states = new Map(model.states.map((s, i) => [s.name, i]));
    this.params = new Map(model.params.map((p, i) => [p.name, i]));
  }

  private emit(ins: Instr): number {
    this.code.push(ins);
    return this.code.length - 1;
  }
  private scalar(k: number): Val {
    return { shape: [], slots: [k] };
  }
  private map(a: Val, f: (k: number) => number): Val {
    return { shape: a.shape, slots: a.slots.map(f) };
  }
  private unary(fn: UnaryOp, a: Val): Val {
    return this.map(a, (k) => this.emit({ op: 'unary', fn, a: k }));
  }

  /** An elementwise operation on broadcast operands. */
  private zip(vals: Val[], f: (ks: number[]) => number): Val | undefined {
    const shape = broadcastAll(vals.map((v) => v.shape));
    if (!shape) return undefined;
    const idx = vals.map((v) => broadcastIndex(v.shape, shape)!);
    return { shape, slots: idx[0].map((_k, e) => f(vals.map((v, j) => v.slots[idx[j][e]]))) };
  }

  private binaryOp(fn: BinaryOp, a: Val, b: Val): Val | undefined {
    return this.zip([a, b], ([x, y]) => this.emit({ op: 'binary', fn, a: x, b: y }));
  }

  /** Σ a_i·b_i, or Σ a_i without b: one instruction (a scalar). */
  private dot(a: number[], b?: number[]): number {
    return this.emit({ op: 'dot', a, b });
  }

  /** [m,n]@[n] → [m]; [n]@[n,k] → [k]; [m,n]@[n,k] → [m,k]; [n]@[n] → a scalar. */
  private matmul(a: Val, b: Val): Val | undefined {
    if (a.shape.length === 0 || b.shape.length === 0) return undefined;
    const [m, n] = a.shape.length === 2 ? a.shape : [1, a.shape[0]];
    const k = b.shape.length === 2 ? b.shape[1] : 1;
    if (b.shape[0] !== n) return undefined;
    const slots: number[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < k; j++)
        slots.push(
          this.dot(
            a.slots.slice(i * n, (i + 1) * n),
            Array.from({ length: n }, (_x, r) => b.slots[r * k + j]),
          ),
        );
    return { shape: [...(a.shape.length === 2 ? [m] : []), ...(b.shape.length === 2 ? [k] : [])], slots };
  }

  /** The elements of an expression, or undefined outside the fused subset. */
  walk(e: Expr): Val | undefined {
    if (e.kind !== 'number' && e.kind !== 'name' && !(e.kind === 'unary' && e.op === '+')) this.operations++;
    switch (e.kind) {
      case 'number':
        return this.scalar(this.emit({ op: 'const', value: e.value }));
      case 'name':
        return this.name(e.name);
      case 'unary': {
        const a = this.walk(e.operand);
        if (a === undefined) return undefined;
        return e.op === '+' ? a : this.unary(NEGATE, a);
      }
      case 'binary':
        return this.binary(e);
      case 'call':
        return this.call(e);
      case 'vector': {
        const els: Val[] = [];
        for (const x of e.elements) {
          const v = this.walk(x);
          if (v === undefined || v.shape.length > 1 || v.shape.join() !== (els[0] ?? v).shape.join()) return undefined;
          els.push(v);
        }
        return els.length === 0
          ? undefined
          : { shape: [els.length, ...els[0].shape], slots: els.flatMap((v) => v.slots) };
      }
      case 'index':
        return this.index(e);
      case 'if': {
        const c = this.walk(e.cond),
          a = this.walk(e.then),
          b = this.walk(e.else);
        return c === undefined || a === undefined || b === undefined
          ? undefined
          : this.zip([c, a, b], ([x, y, z]) => this.emit({ op: 'select', c: x, a: y, b: z }));
      }
      default:
        return undefined;
    }
  }

  private name(name: string): Val | undefined {
    const model = this.model;
    const si = this.states.get(name);
    if (si !== undefined)
      return {
        shape: model.states[si].shape.slice(),
        slots: Array.from({ length: this.stateSizes[si] }, (_x, k) =>
          this.emit({ op: 'state', index: this.stateAt[si] + k }),
        ),
      };
    const pi = this.params.get(name);
    if (pi !== undefined)
      return {
        shape: model.params[pi].shape.slice(),
        slots: Array.from({ length: this.paramSizes[pi] }, (_x, k) =>
          this.emit({ op: 'param', index: this.paramAt[pi] + k }),
        ),
      };
    if (name === 't') {
      this.usesTime = true;
      return this.scalar(this.emit({ op: 't' }));
    }
    if (name === 'pi') return this.scalar(this.emit({ op: 'const', value: Math.PI }));
    return undefined;
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>): Val | undefined {
    const a = this.walk(e.left);
    if (a === undefined) return undefined;
    if (e.op === '^') {
      // As the compiler: x^1, x^2, x^0.5, x^-1 by their own functions, else pow.
      const form = e.right.kind === 'number' ? POWER_FORMS.get(e.right.value) : undefined;
      if (form === 'identity') return a;
      if (form) return this.unary(form, a);
      const b = this.walk(e.right);
      return b === undefined ? undefined : this.binaryOp(OPERATORS['^'], a, b);
    }
    const b = this.walk(e.right);
    if (b === undefined) return undefined;
    if (e.op === '@') return this.matmul(a, b);
    return Object.hasOwn(OPERATORS, e.op) ? this.binaryOp(OPERATORS[e.op], a, b) : undefined;
  }

  private call(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const args: Val[] = [];
    for (const x of e.args) {
      const v = this.walk(x);
      if (v === undefined) return undefined;
      args.push(v);
    }
    const [a, b] = args;
    const fn = modelFunction(this.model.tables, e.callee, args.length);
    if (fn?.kind === 'reduce') return fn.fusedAsSum ? this.scalar(this.dot(a.slots)) : undefined;
    if (fn?.arity === 1 && args.length === 1) return this.unary(fn, a);
    if (fn?.arity === 2 && args.length === 2) return this.binaryOp(fn, a, b);
    return undefined;
  }

  private index(e: Extract<Expr, { kind: 'index' }>): Val | undefined {
    const a = this.walk(e.target);
    if (a === undefined || e.indices.length === 0 || e.indices.length > a.shape.length) return undefined;
    const at = e.indices.map((i, d) => (i < 0 ? a.shape[d] + i : i));
    if (at.some((k, d) => !Number.isInteger(k) || k < 0 || k >= a.shape[d])) return undefined;
    if (a.shape.length === 1) return this.scalar(a.slots[at[0]]);
    const n = a.shape[1];
    return at.length === 2
      ? this.scalar(a.slots[at[0] * n + at[1]])
      : { shape: [n], slots: a.slots.slice(at[0] * n, (at[0] + 1) * n) };
  }
}

/** Forward pass: every instruction's value (float32-rounded) at (s, p, t); the states from s[sAt] on (a batch element's, without a view). */
export function evaluate(
  prog: ScalarProgram,
  s: ArrayLike<number>,
  p: ArrayLike<number>,
  t: number,
  vals = new Float64Array(prog.code.length),
  sAt = 0,
): Float64Array {
  const code = prog.code;
  for (let k = 0; k < code.length; k++) {
    const c = code[k];
    let v: number;
    switch (c.op) {
      case 'const':
        v = c.value;
        break;
      case 'state':
        v = s[sAt + c.index];
        break;
      case 'param':
        v = p[c.index];
        break;
      case 't':
        v = t;
        break;
      case 'unary':
        v = c.fn.value(vals[c.a]);
        break;
      case 'binary':
        v = c.fn.value(vals[c.a], vals[c.b]);
        break;
      case 'select':
        v = Math.abs(vals[c.c]) > 0 ? vals[c.a] : vals[c.b];
        break; // as the compiler: |c| > 0 (NaN → else)
      case 'dot': {
        v = 0;
        const { a, b } = c;
        if (b) for (let i = 0; i < a.length; i++) v += vals[a[i]] * vals[b[i]];
        else for (let i = 0; i < a.length; i++) v += vals[a[i]];
        break;
      }
    }
    vals[k] = f32(v);
  }
  return vals;
}

/** Reverse pass from the cotangents of the outputs: adds (∂f/∂s)ᵀcot into vs and (∂f/∂p)ᵀcot into vp. */
export function reverse(
  prog: ScalarProgram,
  vals: Float64Array,
  cot: ArrayLike<number>,
  vs: Float64Array,
  vp: Float64Array,
): void {
  const code = prog.code;
  const adj = new Float64Array(code.length);
  prog.outputs.forEach((k, i) => {
    if (k >= 0) adj[k] += cot[i];
  });
  for (let k = code.length - 1; k >= 0; k--) {
    const g = adj[k];
    if (g === 0) continue;
    const c = code[k];
    switch (c.op) {
      case 'state':
        vs[c.index] += g;
        break;
      case 'param':
        vp[c.index] += g;
        break;
      case 'unary':
        adj[c.a] += g * c.fn.derivative(vals[c.a], vals[k]);
        break;
      case 'binary': {
        const x = vals[c.a],
          y = vals[c.b];
        const da = c.fn.derivativeA(x, y, vals[k]),
          db = c.fn.derivativeB(x, y, vals[k]);
        adj[c.a] += g * da;
        adj[c.b] += g * db;
        break;
      }
      case 'select':
        if (Math.abs(vals[c.c]) > 0) adj[c.a] += g;
        else adj[c.b] += g;
        break;
      case 'dot': {
        const { a, b } = c;
        if (b)
          for (let i = 0; i < a.length; i++) {
            adj[a[i]] += g * vals[b[i]];
            adj[b[i]] += g * vals[a[i]];
          }
        else for (let i = 0; i < a.length; i++) adj[a[i]] += g;
        break;
      }
      default:
        break;
    }
  }
}

const outputsOf = (prog: ScalarProgram, vals: Float64Array): Float32Array =>
  Float32Array.from(prog.outputs, (k) => (k >= 0 ? vals[k] : 0));

/**
 * The fused CompiledModel members: rhs (one differentiable kernel), rhsVjp, rhsLinearize and the
 * batched rhs. `stateShapes` and `paramShapes` are the tensors' internal shapes (engine/compile.ts).
 */
export function fusedRhs(tf: TF, prog: ScalarProgram, stateShapes: number[][], paramShapes: number[][]) {
  const S = prog.states,
    Q = prog.params;
  const products = productsOf(tf, stateShapes, paramShapes);
  const packedBatchedRhs = batchedProgram(tf, prog);
  const linearise = linearisation(prog);
  const op = fusedOp(tf, prog);
  const flatParams = reusedFlatParams(tf, Q);
  return {
    /** f on the states packed into one vector [S] (a discrete solve on the packed state). */
    packedRhs(x: Tensor, p: Tensor[], t: number): Tensor {
      return op(t, [S])(x, flatParams(p)) as Tensor;
    },
    rhs: stateRhs(tf, prog, stateShapes, op, flatParams),
    rhsVjp: (s: Tensor[], p: Tensor[], t: number, cot: Tensor[], withParams: boolean) =>
      products(linearise(read(s), read(p), t)(read(cot)), withParams, true, false),
    rhsLinearize(s: Tensor[], p: Tensor[], t: number) {
      const back = linearise(read(s), read(p), t);
      return {
        back: (cot: Tensor[], withParams: boolean, withState = true) =>
          products(back(read(cot)), withParams, withState, false),
      };
    },
    packedBatchedRhs,
    /** Batched layout: states [b, ...shape] and parameters [b, ...shape] with b = B or 1 (scalars [b,1,1]); outputs [B, ...shape] per state. */
    batchedRhs: batchedStateRhs(tf, prog, stateShapes, packedBatchedRhs),
    /** rhsVjp on the packed state: vx is one vector [S]. */
    packedVjp: (x: Tensor, p: Tensor[], t: number, cot: Tensor, withParams: boolean) =>
      products(linearise(x.dataSync(), read(p), t)(cot.dataSync()), withParams, true, true),
    /** rhsLinearize on the packed state. */
    packedLinearize(x: Tensor, p: Tensor[], t: number) {
      const back = linearise(x.dataSync(), read(p), t);
      return {
        back: (cot: Tensor[], withParams: boolean, withState = true) =>
          products(back(cot[0].dataSync()), withParams, withState, true),
      };
    },
  };
}

/** f linearised at (s, p, t): back(cot) gives (∂f/∂s)ᵀcot and (∂f/∂p)ᵀcot. */
function linearisation(prog: ScalarProgram) {
  const S = prog.states,
    Q = prog.params;
  return (s: ArrayLike<number>, p: ArrayLike<number>, t: number) => {
    const vals = evaluate(prog, s, p, t);
    return (cot: ArrayLike<number>) => {
      const vs = new Float64Array(S),
        vp = new Float64Array(Q);
      reverse(prog, vals, cot, vs, vp);
      return { vs, vp };
    };
  };
}

/**
 * The parameters flattened into one vector [Q]. The same parameter tensors (shared ones, a step's stages)
 * reuse one flattened vector while it lives: AD then accumulates their gradients with one add per use
 * instead of one per parameter.
 */
function reusedFlatParams(tf: TF, Q: number): (p: Tensor[]) => Tensor {
  let lastP: Tensor[] = [],
    lastFlat: Tensor | undefined;
  return (p: Tensor[]): Tensor => {
    if (lastFlat && !lastFlat.isDisposed && p.length === lastP.length && p.every((x, i) => x === lastP[i]))
      return lastFlat;
    lastP = p.slice();
    lastFlat = flatten(tf, p, Q);
    return lastFlat;
  };
}

/** f per state in each state's own shape, through the fused kernel `op`. */
function stateRhs(
  tf: TF,
  prog: ScalarProgram,
  stateShapes: number[][],
  op: ReturnType<typeof fusedOp>,
  flatParams: (p: Tensor[]) => Tensor,
): (s: Tensor[], p: Tensor[], t: number) => Tensor[] {
  const S = prog.states;
  return (s, p, t) => {
    // One state: f in its shape, no reshapes. Several: one single-output node per state (TF.js's
    // unstack gradient fails when an output gets no gradient).
    if (s.length === 1) return [op(t, stateShapes[0])(s[0], flatParams(p)) as Tensor];
    const f = op(t, [S])(flatten(tf, s, S), flatParams(p)) as Tensor;
    let at = 0;
    return stateShapes.map((shape, i) => {
      const n = prog.stateSizes[i];
      const piece = tf.reshape(tf.slice(f, [at], [n]), shape);
      at += n;
      return piece;
    });
  };
}

/** Batched layout: states [b, ...shape] and parameters [b, ...shape] with b = B or 1 (scalars [b,1,1]); outputs [B, ...shape] per state. */
function batchedStateRhs(
  tf: TF,
  prog: ScalarProgram,
  stateShapes: number[][],
  packedBatchedRhs: ReturnType<typeof batchedProgram>,
): (s: Tensor[], p: Tensor[], t: number) => Tensor[] {
  return (s, p, t) => {
    const B = Math.max(1, ...s.map((x) => x.shape[0] as number), ...p.map((x) => x.shape[0] as number));
    const full = s.map((x, i) =>
      tf.reshape(x.shape[0] === B ? x : tf.broadcastTo(x, [B, ...x.shape.slice(1)]), [B, prog.stateSizes[i], 1]),
    );
    return perState(
      tf,
      packedBatchedRhs(full.length === 1 ? full[0] : tf.concat(full, 1), p, t),
      B,
      stateShapes,
      prog.stateSizes,
    );
  };
}

/** The elements of several tensors, one after the other. */
function read(xs: Tensor[]): Float32Array {
  const out = new Float32Array(xs.reduce((a, x) => a + x.size, 0));
  let at = 0;
  for (const x of xs) {
    out.set(x.dataSync(), at);
    at += x.size;
  }
  return out;
}

/** Tensors as one vector of their elements (a reshape of one tensor, a stack of scalars, else a concat). */
function flatten(tf: TF, xs: Tensor[], n: number): Tensor {
  if (n === 0) return tf.zeros([1]);
  if (xs.length === 1) return tf.reshape(xs[0], [n]);
  return xs.every((x) => x.rank === 0) ? tf.stack(xs) : tf.concat(xs.map((x) => tf.reshape(x, [x.size])));
}

/** The vjps' products as tensors of the states' and parameters' internal shapes, from flat element arrays. */
function productsOf(tf: TF, stateShapes: number[][], paramShapes: number[][]) {
  /** Consecutive runs of `a` as tensors of the given shapes. */
  const pieces = (a: ArrayLike<number>, shapes: number[][]): Tensor[] => {
    let at = 0;
    return shapes.map((shape) => {
      const n = elementCount(shape);
      const t = tf.tensor(
        Float32Array.from({ length: n }, (_x, k) => a[at + k]),
        shape,
      );
      at += n;
      return t;
    });
  };
  /** The products as CompiledModel's vjps return them: one tensor per state, or one packed vector [S]. */
  const products = (
    { vs, vp }: { vs: Float64Array; vp: Float64Array },
    withParams: boolean,
    withState: boolean,
    packedState: boolean,
  ): { vx: Tensor[]; vp: Tensor[] } => ({
    vx: withState ? (packedState ? [tf.tensor1d(Float32Array.from(vs))] : pieces(vs, stateShapes)) : [],
    vp: withParams ? pieces(vp, paramShapes) : [],
  });
  return products;
}

/**
 * f of B packed states x [B, S, 1] with parameters [b, ...shape] (b = B or 1), as [B, S, 1];
 * differentiable: reverse mode per batch element, parameters of batch 1 get the sum.
 */
function batchedProgram(tf: TF, prog: ScalarProgram): (x: Tensor, p: Tensor[], t: number) => Tensor {
  const S = prog.states,
    Q = prog.params;
  return (x: Tensor, p: Tensor[], t: number): Tensor => {
    const B = x.shape[0] as number;
    return tf.customGrad((...inputs) => {
      const [xv, ...ps] = inputs.slice(0, 1 + p.length) as Tensor[]; // customGrad appends its save function
      const xd = xv.dataSync(),
        pd = ps.map((q) => q.dataSync());
      const sizes = prog.paramSizes;
      const one = pd.map((d, j) => d.length === sizes[j]); // a batch of 1: shared by every element
      const pb = new Float32Array(Q),
        vals = new Float64Array(prog.code.length);
      // Batch element b's forward values in `vals`. Element by element into one scratch array, no views
      // or tapes kept: this runs once per element and stage (allocation and GC would be a third of a check);
      // the backward recomputes it (a microsecond) instead.
      const forward = (b: number) => {
        for (let j = 0, at = 0; j < pd.length; at += sizes[j], j++) {
          const d = pd[j],
            from = one[j] ? 0 : b * sizes[j];
          for (let k = 0; k < sizes[j]; k++) pb[at + k] = d[from + k];
        }
        return evaluate(prog, xd, pb, t, vals, b * S);
      };
      const out = new Float32Array(B * S);
      for (let b = 0; b < B; b++) {
        forward(b);
        for (let i = 0; i < S; i++) out[b * S + i] = prog.outputs[i] >= 0 ? vals[prog.outputs[i]] : 0;
      }
      return {
        value: tf.tensor3d(out, [B, S, 1]),
        gradFunc: (dy: Tensor) => {
          const d = dy.dataSync();
          const gx = new Float32Array(B * S),
            gp = ps.map((q) => new Float32Array(q.size));
          const vs = new Float64Array(S),
            vp = new Float64Array(Q);
          for (let b = 0; b < B; b++) {
            vs.fill(0);
            vp.fill(0);
            reverse(prog, forward(b), d.subarray(b * S, (b + 1) * S), vs, vp);
            for (let i = 0; i < S; i++) gx[b * S + i] = vs[i];
            let at = 0;
            gp.forEach((g, j) => {
              const o = one[j] ? 0 : b * sizes[j];
              for (let k = 0; k < sizes[j]; k++) g[o + k] += vp[at + k];
              at += sizes[j];
            });
          }
          return [tf.tensor3d(gx, [B, S, 1]), ...gp.map((g, j) => tf.tensor(g, ps[j].shape))];
        },
      };
    })(x, ...p) as Tensor;
  };
}

/**
 * One differentiable op on the states (one tensor, or flattened) and the flattened parameters, giving f
 * in `shape`; its vjp is `reverse`.
 */
function fusedOp(tf: TF, prog: ScalarProgram) {
  const S = prog.states,
    Q = prog.params;
  return (t: number, shape: number[]) =>
    tf.customGrad((...inputs) => {
      const [sv, pv] = inputs as Tensor[];
      const sd = sv.dataSync(),
        pd = pv.dataSync();
      const vals = evaluate(prog, sd, pd, t);
      return {
        value: tf.tensor(outputsOf(prog, vals), shape),
        gradFunc: (dy: Tensor) => {
          const vs = new Float64Array(S),
            vp = new Float64Array(Q);
          reverse(prog, vals, dy.dataSync(), vs, vp);
          return [
            tf.tensor(Float32Array.from(vs), sv.shape),
            Q === 0 ? tf.zeros([1]) : tf.tensor1d(Float32Array.from(vp)),
          ];
        },
      };
    });
}

/** Batched f [B, S, 1] split into one tensor [B, ...shape] per state (scalars [B,1,1]). */
function perState(tf: TF, f: Tensor, B: number, stateShapes: number[][], stateSizes: number[]): Tensor[] {
  const shaped = (x: Tensor, shape: number[]) => tf.reshape(x, [B, ...(shape.length > 0 ? shape : [1, 1])]);
  if (stateShapes.length === 1) return [shaped(f, stateShapes[0])];
  let at = 0;
  return stateShapes.map((shape, i) => {
    const n = stateSizes[i];
    const piece = tf.slice(f, [0, at, 0], [B, n, 1]);
    at += n;
    return shaped(piece, shape);
  });
}
