// The fused right-hand side of an all-scalar model (XPPAUT style: every state
// and parameter a scalar). One TF.js kernel per evaluation instead of one per
// operation: the expressions run as a flat instruction list in JS (each result
// rounded to float32, as TF.js computes), and reverse mode over the same list
// gives the vector–Jacobian products — registered with tf.customGrad, so the
// unrolled solve is still differentiated by TF.js's tape. Small scalar models
// spend nearly all their time on per-kernel overhead (~5 µs each), so this is
// where their checks get fast.
import type { Expr, Model } from '../model';
import type { TF, Tensor } from './backend';

type Unary = 'neg' | 'tanh' | 'sigmoid' | 'relu' | 'sin' | 'cos' | 'tan' | 'exp' | 'log' | 'abs' | 'sqrt' | 'square' | 'sinh' | 'cosh' | 'asin' | 'acos' | 'atan' | 'sign' | 'floor' | 'ceil' | 'log10' | 'heav' | 'recip';
type Binary = '+' | '-' | '*' | '/' | 'pow' | 'max' | 'min' | 'atan2' | 'mod' | '>' | '<' | '>=' | '<=' | '==' | '!=' | '&' | '|';

type Instr =
  | { op: 'const'; value: number }
  | { op: 'state'; index: number }
  | { op: 'param'; index: number }
  | { op: 't' }
  | { op: 'unary'; fn: Unary; a: number }
  | { op: 'binary'; fn: Binary; a: number; b: number }
  | { op: 'select'; c: number; a: number; b: number };

// The language's scalar built-ins (a call to anything else keeps the per-operation compile).
const UNARY_NAMES: Record<string, Unary> = {
  tanh: 'tanh', sigmoid: 'sigmoid', relu: 'relu', sin: 'sin', cos: 'cos', tan: 'tan', exp: 'exp', log: 'log', ln: 'log',
  abs: 'abs', sqrt: 'sqrt', sinh: 'sinh', cosh: 'cosh', asin: 'asin', acos: 'acos', atan: 'atan',
  sign: 'sign', floor: 'floor', flr: 'floor', ceil: 'ceil', log10: 'log10', heav: 'heav',
};
const BINARY_NAMES: Record<string, Binary> = { max: 'max', min: 'min', pow: 'pow', atan2: 'atan2', mod: 'mod' };
const OPERATORS = new Set(['+', '-', '*', '/', '>', '<', '>=', '<=', '==', '!=', '&', '|']);

const f32 = Math.fround;

function unary(fn: Unary, x: number): number {
  switch (fn) {
    case 'neg': return -x;
    case 'tanh': return Math.tanh(x);
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'relu': return x > 0 ? x : 0;
    case 'sin': return Math.sin(x);
    case 'cos': return Math.cos(x);
    case 'tan': return Math.tan(x);
    case 'exp': return Math.exp(x);
    case 'log': return Math.log(x);
    case 'abs': return Math.abs(x);
    case 'sqrt': return Math.sqrt(x);
    case 'square': return x * x;
    case 'sinh': return Math.sinh(x);
    case 'cosh': return Math.cosh(x);
    case 'asin': return Math.asin(x);
    case 'acos': return Math.acos(x);
    case 'atan': return Math.atan(x);
    case 'sign': return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    case 'log10': return Math.log(x) / Math.LN10;
    case 'heav': return x >= 0 ? 1 : 0;
    case 'recip': return 1 / x;
  }
}

/** d unary / dx at x (y = its value), as TF.js's gradients define it (0 for the piecewise-constant ones). */
function unaryDerivative(fn: Unary, x: number, y: number): number {
  switch (fn) {
    case 'neg': return -1;
    case 'tanh': return 1 - y * y;
    case 'sigmoid': return y * (1 - y);
    case 'relu': return x > 0 ? 1 : 0;
    case 'sin': return Math.cos(x);
    case 'cos': return -Math.sin(x);
    case 'tan': return 1 / (Math.cos(x) * Math.cos(x));
    case 'exp': return y;
    case 'log': return 1 / x;
    case 'abs': return x > 0 ? 1 : -1; // TF.js: step(x, −1)
    case 'sqrt': return 1 / (2 * y);
    case 'square': return 2 * x;
    case 'sinh': return Math.cosh(x);
    case 'cosh': return Math.sinh(x);
    case 'asin': return 1 / Math.sqrt(1 - x * x);
    case 'acos': return -1 / Math.sqrt(1 - x * x);
    case 'atan': return 1 / (1 + x * x);
    case 'log10': return 1 / (x * Math.LN10);
    case 'recip': return -y * y;
    case 'sign': case 'floor': case 'ceil': case 'heav': return 0;
  }
}

function binary(fn: Binary, a: number, b: number): number {
  switch (fn) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '/': return a / b;
    case 'pow': return Math.pow(a, b);
    case 'max': return Math.max(a, b);
    case 'min': return Math.min(a, b);
    case 'atan2': return Math.atan2(a, b);
    case 'mod': return a - b * Math.floor(f32(a / b));
    case '>': return a > b ? 1 : 0;
    case '<': return a < b ? 1 : 0;
    case '>=': return a >= b ? 1 : 0;
    case '<=': return a <= b ? 1 : 0;
    case '==': return a === b ? 1 : 0;
    case '!=': return a !== b ? 1 : 0;
    case '&': return a !== 0 && b !== 0 ? 1 : 0;
    case '|': return a !== 0 || b !== 0 ? 1 : 0;
  }
}

/** (∂/∂a, ∂/∂b) of a binary op at (a, b) with value y, as TF.js's gradients define them. */
function binaryDerivatives(fn: Binary, a: number, b: number, y: number): [number, number] {
  switch (fn) {
    case '+': return [1, 1];
    case '-': return [1, -1];
    case '*': return [b, a];
    case '/': return [1 / b, -a / (b * b)];
    case 'pow': return [b * Math.pow(a, b - 1), a > 0 ? y * Math.log(a) : 0];
    case 'max': return a >= b ? [1, 0] : [0, 1];
    case 'min': return a <= b ? [1, 0] : [0, 1];
    case 'atan2': { const d = a * a + b * b; return [b / d, -a / d]; }
    case 'mod': return [1, -Math.floor(f32(a / b))];
    default: return [0, 0]; // comparisons and logic: piecewise constant
  }
}

/** The fused program: instructions and, per state, the instruction holding its f (−1: f = 0). */
export interface ScalarProgram { code: Instr[]; outputs: number[]; states: number; params: number; usesTime: boolean }

/**
 * Compiles an all-scalar model's right-hand sides, or returns undefined (a
 * state or parameter that is not a scalar, or an expression outside the
 * scalar subset: the model then uses one kernel per operation).
 */
export function compileScalarProgram(model: Model): ScalarProgram | undefined {
  if (model.states.length === 0 || model.states.some((s) => s.shape.length > 0) || model.params.some((p) => p.shape.length > 0)) return undefined;
  const states = new Map(model.states.map((s, i) => [s.name, i]));
  const params = new Map(model.params.map((p, i) => [p.name, i]));
  const code: Instr[] = [];
  let usesTime = false;
  const emit = (ins: Instr) => { code.push(ins); return code.length - 1; };
  const walk = (e: Expr): number | undefined => {
    switch (e.kind) {
      case 'number': return emit({ op: 'const', value: e.value });
      case 'name': {
        const si = states.get(e.name);
        if (si !== undefined) return emit({ op: 'state', index: si });
        const pi = params.get(e.name);
        if (pi !== undefined) return emit({ op: 'param', index: pi });
        if (e.name === 't') { usesTime = true; return emit({ op: 't' }); }
        if (e.name === 'pi') return emit({ op: 'const', value: Math.PI });
        return undefined;
      }
      case 'unary': {
        const a = walk(e.operand);
        if (a === undefined) return undefined;
        return e.op === '+' ? a : emit({ op: 'unary', fn: 'neg', a });
      }
      case 'binary': {
        const a = walk(e.left);
        if (a === undefined) return undefined;
        if (e.op === '^') {
          // As the compiler: x^2, x^0.5, x^-1 by their own functions, else pow.
          if (e.right.kind === 'number' && e.right.value === 1) return a;
          const special: Record<number, Unary> = { 2: 'square', 0.5: 'sqrt', [-1]: 'recip' };
          if (e.right.kind === 'number' && special[e.right.value]) return emit({ op: 'unary', fn: special[e.right.value], a });
          const b = walk(e.right);
          return b === undefined ? undefined : emit({ op: 'binary', fn: 'pow', a, b });
        }
        if (!OPERATORS.has(e.op)) return undefined;
        const b = walk(e.right);
        return b === undefined ? undefined : emit({ op: 'binary', fn: e.op as Binary, a, b });
      }
      case 'call': {
        const args: number[] = [];
        for (const x of e.args) {
          const k = walk(x);
          if (k === undefined) return undefined;
          args.push(k);
        }
        if (UNARY_NAMES[e.callee] && args.length === 1) return emit({ op: 'unary', fn: UNARY_NAMES[e.callee], a: args[0] });
        if (BINARY_NAMES[e.callee] && args.length === 2) return emit({ op: 'binary', fn: BINARY_NAMES[e.callee], a: args[0], b: args[1] });
        return undefined;
      }
      case 'if': {
        const c = walk(e.cond), a = walk(e.then), b = walk(e.else);
        return c === undefined || a === undefined || b === undefined ? undefined : emit({ op: 'select', c, a, b });
      }
      default:
        return undefined;
    }
  };
  const outputs: number[] = [];
  for (const s of model.states) {
    const eq = model.equations.find((q) => q.state === s.name);
    if (!eq) { outputs.push(-1); continue; }
    const k = walk(eq.rhs);
    if (k === undefined) return undefined;
    outputs.push(k);
  }
  return { code, outputs, states: model.states.length, params: model.params.length, usesTime };
}

/** Forward pass: every instruction's value (float32-rounded) at (s, p, t). */
export function evaluate(prog: ScalarProgram, s: ArrayLike<number>, p: ArrayLike<number>, t: number, vals = new Float64Array(prog.code.length)): Float64Array {
  const code = prog.code;
  for (let k = 0; k < code.length; k++) {
    const c = code[k];
    let v: number;
    switch (c.op) {
      case 'const': v = c.value; break;
      case 'state': v = s[c.index]; break;
      case 'param': v = p[c.index]; break;
      case 't': v = t; break;
      case 'unary': v = unary(c.fn, vals[c.a]); break;
      case 'binary': v = binary(c.fn, vals[c.a], vals[c.b]); break;
      case 'select': v = Math.abs(vals[c.c]) > 0 ? vals[c.a] : vals[c.b]; break; // as the compiler: |c| > 0 (NaN → else)
    }
    vals[k] = f32(v);
  }
  return vals;
}

/** Reverse pass from the cotangents of the outputs: adds (∂f/∂s)ᵀcot into vs and (∂f/∂p)ᵀcot into vp. */
export function reverse(prog: ScalarProgram, vals: Float64Array, cot: ArrayLike<number>, vs: Float64Array, vp: Float64Array): void {
  const code = prog.code;
  const adj = new Float64Array(code.length);
  prog.outputs.forEach((k, i) => { if (k >= 0) adj[k] += cot[i]; });
  for (let k = code.length - 1; k >= 0; k--) {
    const g = adj[k];
    if (g === 0) continue;
    const c = code[k];
    switch (c.op) {
      case 'state': vs[c.index] += g; break;
      case 'param': vp[c.index] += g; break;
      case 'unary': adj[c.a] += g * unaryDerivative(c.fn, vals[c.a], vals[k]); break;
      case 'binary': {
        const [da, db] = binaryDerivatives(c.fn, vals[c.a], vals[c.b], vals[k]);
        adj[c.a] += g * da;
        adj[c.b] += g * db;
        break;
      }
      case 'select': if (Math.abs(vals[c.c]) > 0) adj[c.a] += g; else adj[c.b] += g; break;
      default: break;
    }
  }
}

const outputsOf = (prog: ScalarProgram, vals: Float64Array): Float32Array => Float32Array.from(prog.outputs, (k) => (k >= 0 ? vals[k] : 0));

/** The fused CompiledModel members: rhs (one differentiable kernel), rhsVjp, rhsLinearize and the batched rhs. */
export function fusedRhs(tf: TF, prog: ScalarProgram) {
  const S = prog.states, Q = prog.params;
  const read = (xs: Tensor[]): Float32Array => {
    const out = new Float32Array(xs.length);
    xs.forEach((x, i) => { out[i] = x.dataSync()[0]; });
    return out;
  };
  const scalars = (a: ArrayLike<number>, n: number): Tensor[] => Array.from({ length: n }, (_, i) => tf.scalar(a[i]));
  /** f linearised at (s, p, t): back(cot) gives (∂f/∂s)ᵀcot and (∂f/∂p)ᵀcot. */
  const linearise = (s: ArrayLike<number>, p: ArrayLike<number>, t: number) => {
    const vals = evaluate(prog, s, p, t);
    return (cot: ArrayLike<number>) => {
      const vs = new Float64Array(S), vp = new Float64Array(Q);
      reverse(prog, vals, cot, vs, vp);
      return { vs, vp };
    };
  };
  /** The products as CompiledModel's vjps return them: per-state scalars, or one packed vector [S]. */
  const products = ({ vs, vp }: { vs: Float64Array; vp: Float64Array }, withParams: boolean, withState: boolean, packedState: boolean): { vx: Tensor[]; vp: Tensor[] } => ({
    vx: withState ? (packedState ? [tf.tensor1d(Float32Array.from(vs))] : scalars(vs, S)) : [],
    vp: withParams ? scalars(vp, Q) : [],
  });
  // One differentiable op on the stacked states and parameters; its vjp is `reverse`.
  const op = (t: number) => tf.customGrad((...inputs) => {
    const [sv, pv] = inputs as Tensor[];
    const sd = sv.dataSync(), pd = pv.dataSync();
    const vals = evaluate(prog, sd, pd, t);
    return {
      value: tf.tensor1d(outputsOf(prog, vals)),
      gradFunc: (dy: Tensor) => {
        const vs = new Float64Array(S), vp = new Float64Array(Q);
        reverse(prog, vals, dy.dataSync(), vs, vp);
        return [tf.tensor1d(Float32Array.from(vs)), Q === 0 ? tf.zeros([1]) : tf.tensor1d(Float32Array.from(vp))];
      },
    };
  });
  const stacked = (xs: Tensor[], n: number) => (n === 0 ? tf.zeros([1]) : tf.stack(xs));
  // The same parameter tensors (shared ones, a step's stages) reuse one stacked vector while it lives:
  // AD then accumulates their gradients with one add per use instead of one per parameter.
  let lastP: Tensor[] = [], lastStacked: Tensor | undefined;
  const stackedParams = (p: Tensor[]): Tensor => {
    if (lastStacked && !lastStacked.isDisposed && p.length === lastP.length && p.every((x, i) => x === lastP[i])) return lastStacked;
    lastP = p.slice();
    lastStacked = stacked(p, Q);
    return lastStacked;
  };
  /**
   * f of B packed states x [B, S, 1] with parameters [b,1,1] (b = B or 1), as [B, S, 1];
   * differentiable: reverse mode per batch element, parameters of batch 1 get the sum.
   */
  const packedBatchedRhs = (x: Tensor, p: Tensor[], t: number): Tensor => {
    const B = x.shape[0] as number;
    return tf.customGrad((...inputs) => {
      const [xv, ...ps] = inputs.slice(0, 1 + Q) as Tensor[]; // customGrad appends its save function
      const xd = xv.dataSync(), pd = ps.map((q) => q.dataSync());
      const pb = new Float32Array(Q);
      const tapes: Float64Array[] = [];
      const out = new Float32Array(B * S);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < Q; j++) pb[j] = pd[j].length === 1 ? pd[j][0] : pd[j][b];
        const vals = evaluate(prog, xd.subarray(b * S, (b + 1) * S), pb, t);
        tapes.push(vals);
        for (let i = 0; i < S; i++) out[b * S + i] = prog.outputs[i] >= 0 ? vals[prog.outputs[i]] : 0;
      }
      return {
        value: tf.tensor3d(out, [B, S, 1]),
        gradFunc: (dy: Tensor) => {
          const d = dy.dataSync();
          const gx = new Float32Array(B * S), gp = ps.map((q) => new Float32Array(q.shape[0] as number));
          const vs = new Float64Array(S), vp = new Float64Array(Q);
          for (let b = 0; b < B; b++) {
            vs.fill(0);
            vp.fill(0);
            reverse(prog, tapes[b], d.subarray(b * S, (b + 1) * S), vs, vp);
            for (let i = 0; i < S; i++) gx[b * S + i] = vs[i];
            for (let j = 0; j < Q; j++) gp[j][gp[j].length === 1 ? 0 : b] += vp[j];
          }
          return [tf.tensor3d(gx, [B, S, 1]), ...gp.map((g, j) => tf.tensor(g, ps[j].shape))];
        },
      };
    })(x, ...p) as Tensor;
  };
  return {
    /** f on the states packed into one vector [S] (a discrete solve on the packed state). */
    packedRhs(x: Tensor, p: Tensor[], t: number): Tensor {
      return op(t)(x, stackedParams(p)) as Tensor;
    },
    rhs(s: Tensor[], p: Tensor[], t: number): Tensor[] {
      const f = op(t)(stacked(s, S), stackedParams(p)) as Tensor;
      // One single-output node per state: TF.js's unstack gradient fails when an output gets no gradient.
      return S === 1 ? [tf.reshape(f, [])] : Array.from({ length: S }, (_, i) => tf.reshape(tf.slice(f, [i], [1]), []));
    },
    rhsVjp: (s: Tensor[], p: Tensor[], t: number, cot: Tensor[], withParams: boolean) => products(linearise(read(s), read(p), t)(read(cot)), withParams, true, false),
    rhsLinearize(s: Tensor[], p: Tensor[], t: number) {
      const back = linearise(read(s), read(p), t);
      return { back: (cot: Tensor[], withParams: boolean, withState = true) => products(back(read(cot)), withParams, withState, false) };
    },
    packedBatchedRhs,
    /** Batched layout: states and parameters [b,1,1] with b = B or 1; outputs [B,1,1] per state (through packedBatchedRhs). */
    batchedRhs(s: Tensor[], p: Tensor[], t: number): Tensor[] {
      const B = Math.max(1, ...s.map((x) => x.shape[0] as number), ...p.map((x) => x.shape[0] as number));
      const full = s.map((x) => (x.shape[0] === B ? x : tf.broadcastTo(x, [B, 1, 1])));
      const f = packedBatchedRhs(S === 1 ? full[0] : tf.concat(full, 1), p, t);
      return S === 1 ? [f] : Array.from({ length: S }, (_, i) => tf.slice(f, [0, i, 0], [B, 1, 1]));
    },
    /** rhsVjp on the packed state: vx is one vector [S]. */
    packedVjp: (x: Tensor, p: Tensor[], t: number, cot: Tensor, withParams: boolean) => products(linearise(x.dataSync(), read(p), t)(cot.dataSync()), withParams, true, true),
    /** rhsLinearize on the packed state. */
    packedLinearize(x: Tensor, p: Tensor[], t: number) {
      const back = linearise(x.dataSync(), read(p), t);
      return { back: (cot: Tensor[], withParams: boolean, withState = true) => products(back(cot[0].dataSync()), withParams, withState, true) };
    },
  };
}
