// Backward (implicit) Euler, XPPAUT's `backeul`: x_{n+1} = x_n + h f(x_{n+1}, θ_n, t_{n+1}), solved by Newton's
// method at every step.
//
// AD does not unroll the Newton iterations. The solution y* is found on detached values, then the step returns
// y = y* − M⁻¹ r(y*) with r(y) = y − x_n − h f(y, θ_n, t_{n+1}) and M = I − h ∂f/∂x(y*) held constant. Its value is
// y* (r(y*) ≈ 0, one more Newton correction), and its derivatives are those of the implicit-function theorem:
// ∂y/∂x_n = M⁻¹ and ∂y/∂θ_n = h M⁻¹ ∂f/∂θ, so AD's vector–Jacobian product is the adjoint solve
// x̄_n = M⁻ᵀ ȳ, θ̄_n = h (∂f/∂θ)ᵀ M⁻ᵀ ȳ: M⁻¹ and M⁻ᵀ are solves with M's LU factors (engine/stepMatrix.ts), the
// transposed one in the VJP reusing the step's factorisation. The Jacobian comes from the model's hand-written
// reverse mode (cm.rhsLinearize, the fused path included) one row per state element, else from TF.js AD: dense. A
// model whose f is the whole-solve kernel's fused program runs Newton's method on the program's interpreter instead
// of TF.js kernels (the same float32 values of f and of the Jacobian's entries, without a dozen kernels per
// evaluation), on the Jacobian's sparsity: one reverse pass per group of rows that read disjoint states, and band
// factors of M in reverse Cuthill–McKee order (a reaction–diffusion array: a few passes and O(D) work a step
// instead of D passes and D³).
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';
import { interpreterOf, WANT_STATES } from './programInterpreter';
import type { ScalarProgram } from './scalarProgram';
import { concatElements } from './statePath';
import { lazySteps } from './scalarKernel/solve';
import {
  densePattern,
  factorStepMatrix,
  MAX_NEWTON_ITERATIONS,
  NEWTON_FAILURE,
  NEWTON_TOLERANCE,
  type JacobianPattern,
  programPattern,
  type StepMatrix,
} from './stepMatrix';

export { NEWTON_TOLERANCE } from './stepMatrix';

/** The flat float64 values of a list of tensors. */
function flatValues(ts: Tensor[]): Float64Array {
  const size = ts.reduce((acc, t) => acc + t.size, 0);
  const out = new Float64Array(size);
  let k = 0;
  for (const t of ts) {
    out.set(t.dataSync() as Float32Array, k);
    k += t.size;
  }
  return out;
}

/** Values computed from tensors that are freed when `compute` returns. */
function tidyValues(tf: TF, compute: () => Float64Array): Float64Array {
  let out: Float64Array = new Float64Array(0);
  tf.tidy(() => {
    out = compute();
  });
  return out;
}

/** Tensors of the given shapes holding consecutive slices of `values`. */
function tensorsOf(tf: TF, values: Float64Array, shapes: number[][]): Tensor[] {
  let k = 0;
  return shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(Float32Array.from(values.subarray(k, k + size)), shape);
    k += size;
    return t;
  });
}

/** ∂f/∂x at (y, p, t), D×D row-major: row i is (∂f/∂x)ᵀ e_i. */
function jacobian(tf: TF, cm: CompiledModel, y: Tensor[], p: Tensor[], t: number, D: number): Float64Array {
  const J = new Float64Array(D * D);
  const shapes = y.map((v) => v.shape);
  const unit = (i: number) => {
    const e = new Float64Array(D);
    e[i] = 1;
    return tensorsOf(tf, e, shapes);
  };
  {
    const lin = cm.rhsLinearize?.(y, p, t);
    for (let i = 0; i < D; i++) {
      const cot = unit(i);
      const row = lin
        ? lin.back(cot, false, true).vx
        : tf.grads((...ys: Tensor[]) => {
            const f = cm.rhs(ys, p, t);
            return tf.sum(
              tf.mul(tf.concat(f.map((v) => tf.reshape(v, [-1]))), tf.concat(cot.map((v) => tf.reshape(v, [-1])))),
            );
          })(y);
      J.set(flatValues(row), i * D);
    }
  }
  return J;
}

/** f and its Jacobian ∂f/∂x (the entries of `pattern`, row by row) at a state y of one step, on values. */
export interface StepField {
  pattern: JacobianPattern;
  f(y: Float64Array): Float64Array;
  jacobian(y: Float64Array): Float64Array;
}

/** The step's f through the model's tensors (the per-operation or fused rhs and its reverse mode): dense rows. */
function tensorField(tf: TF, cm: CompiledModel, p: Tensor[], t: number, shapes: number[][], D: number): StepField {
  return {
    pattern: densePattern(D),
    f: (y) => tidyValues(tf, () => flatValues(cm.rhs(tensorsOf(tf, y, shapes), p, t))),
    jacobian: (y) => tidyValues(tf, () => jacobian(tf, cm, tensorsOf(tf, y, shapes), p, t, D)),
  };
}

/**
 * The step's f on the fused program's interpreter: the values the fused op and its linearisation give (states
 * read as float32, f and each Jacobian entry rounded to float32 as their tensors hold them), bit for bit. The
 * Jacobian takes one reverse pass per group of rows that read disjoint states (stepMatrix.ts): each entry gets
 * exactly the contributions of its own row's pass.
 */
function programField(prog: ScalarProgram, pv: Float32Array, t: number): StepField {
  const run = interpreterOf(prog),
    D = prog.states,
    outputs = prog.outputs,
    pattern = programPattern(prog);
  const { vals, adj, vs, vp, cot } = scratchOf(prog);
  return {
    pattern,
    f(y) {
      run.forward(y, 0, pv, t, vals);
      const out = new Float64Array(D);
      for (let i = 0; i < D; i++) out[i] = outputs[i] >= 0 ? vals[outputs[i]] : 0;
      return out;
    },
    jacobian(y) {
      run.forwardFor(WANT_STATES, y, 0, pv, t, vals);
      const { rowStart, cols } = pattern;
      const J = new Float64Array(cols.length);
      for (const group of pattern.groups) {
        cot.fill(0);
        for (const i of group) cot[i] = 1;
        vs.fill(0);
        run.reverse(vals, cot, vs, vp, adj, WANT_STATES);
        for (const i of group) for (let k = rowStart[i]; k < rowStart[i + 1]; k++) J[k] = Math.fround(vs[cols[k]]);
      }
      return J;
    },
  };
}

/** The interpreter's buffers of one program, shared by its steps' fields (a step's solve is synchronous; the
 * reverse pass leaves `adj` cleared). */
interface Scratch {
  vals: Float64Array;
  adj: Float64Array;
  vs: Float64Array;
  vp: Float64Array;
  cot: Float64Array;
}
const scratches = new WeakMap<ScalarProgram, Scratch>();

function scratchOf(prog: ScalarProgram): Scratch {
  let s = scratches.get(prog);
  if (!s)
    scratches.set(
      prog,
      (s = {
        vals: new Float64Array(prog.code.length),
        adj: new Float64Array(prog.code.length),
        vs: new Float64Array(prog.states),
        vp: new Float64Array(prog.params),
        cot: new Float64Array(prog.states),
      }),
    );
  return s;
}

/** The fused program f runs when it is the model's own rhs (engine/scalarKernel/solve.ts's owner), else undefined. */
function programOf(cm: CompiledModel): ScalarProgram | undefined {
  const ws = cm.wholeSolve;
  return ws?.program && ws.owner === cm.rhs ? ws.program : undefined;
}

/** r(y) = y − x − h f(y) on values. */
function residual(field: StepField, y: Float64Array, x: Float64Array, h: number) {
  const f = field.f(y);
  for (let i = 0; i < f.length; i++) f[i] = y[i] - x[i] - h * f[i];
  return f;
}

/** A step Newton's method did not solve: where, and the residual it kept. */
export interface NewtonFailure {
  /** The step's end time t_{n+1}. */
  t: number;
  /** Iterations taken, from x_n and then from the explicit Euler predictor. */
  iterations: number;
  /** The smallest max |r_i| / (1 + max|y| + max|x_n|) met from either start; NaN when f was not finite at x_n. */
  residual: number;
  /** The state element of that residual's largest entry. */
  element: number;
}

/** The solve's result: y* (NaN where Newton's method failed), M factored at y* when asked, and why it failed. */
export interface NewtonResult {
  y: Float64Array;
  matrix?: StepMatrix;
  iterations: number;
  failure?: Omit<NewtonFailure, 't'>;
}

/**
 * y* by Newton's method from y = x, and M factored there when `withMatrix` (the AD path needs it). The iterations keep
 * the factorisation of their first point while the residual falls fast (the chord method: one Jacobian per step on a
 * linear or mildly nonlinear f), take a new one when it does not, and halve a step that does not reduce the residual.
 */
function newtonSolve(
  tf: TF,
  cm: CompiledModel,
  x: Float64Array,
  p: Tensor[],
  t: number,
  h: number,
  shapes: number[][],
  withMatrix = true,
): NewtonResult {
  const D = x.length;
  if (!x.every(Number.isFinite)) return { y: new Float64Array(D).fill(NaN), iterations: 0 }; // an earlier step failed
  const prog = programOf(cm);
  const field =
    prog && prog.states === D ? programField(prog, concatElements(p), t) : tensorField(tf, cm, p, t, shapes, D);
  return newtonWith(field, x, h, withMatrix);
}

/** newtonSolve on a step's field (x finite); exported for the tests. */
export function newtonWith(field: StepField, x: Float64Array, h: number, withMatrix: boolean): NewtonResult {
  const D = x.length;
  const factorAt = (y: Float64Array) => factorStepMatrix(field.pattern, field.jacobian(y), h);
  const norm = (r: Float64Array) => {
    let m = 0;
    for (let i = 0; i < r.length; i++) {
      const a = Math.abs(r[i]);
      if (a > m) m = a;
      else if (Number.isNaN(a)) return NaN; // a residual that is not finite is never small
    }
    return m;
  };
  const normX = norm(x);
  const scale = (z: Float64Array) => 1 + norm(z) + normX;
  const relative = (a: { y: Float64Array; r: Float64Array }) => norm(a.r) / scale(a.y);
  const solved = (a: { y: Float64Array; r: Float64Array }) => relative(a) <= NEWTON_FAILURE;
  const fromState = iterate(Float64Array.from(x));
  // From the previous state Newton may circle a fast upstroke; the explicit Euler predictor x + h f (that is,
  // x − r(x)) starts it on the other side.
  const fromPredictor = solved(fromState) ? undefined : iterate(x.map((v, i) => v - fromState.r0[i]));
  const attempt = fromPredictor ?? fromState;
  const { y, r, iterations } = attempt;
  let { matrix } = attempt;

  function iterate(start: Float64Array) {
    let y = start;
    let r = residual(field, y, x, h);
    const r0 = r;
    let matrix = factorAt(y);
    let iterations = 0;
    // The smallest residual met (a failure's diagnostic: how close Newton came).
    let least = { y, r };
    for (; iterations < MAX_NEWTON_ITERATIONS; iterations++) {
      const size = norm(r);
      if (size <= NEWTON_TOLERANCE * scale(y)) break;
      if (Number.isNaN(size)) break; // f is not finite here: no further iterate can be computed
      const delta = matrix.solve(r);
      // Damped: halve the step while the residual does not fall (or is not finite), at most a few times. When no
      // halving helps, the full step is taken if its residual is finite: across a fast upstroke (an action potential
      // in one large step) the residual must grow before Newton reaches the solution, and damping would stall.
      let lambda = 1;
      const full = y.map((v, i) => v - delta[i]);
      const rFull = residual(field, full, x, h);
      let next = full;
      let rNext = rFull;
      for (let k = 0; k < 4 && !(norm(rNext) < size); k++) {
        lambda /= 2;
        next = y.map((v, i) => v - lambda * delta[i]);
        rNext = residual(field, next, x, h);
      }
      if (!(norm(rNext) < size) && Number.isFinite(norm(rFull))) {
        next = full;
        rNext = rFull;
      }
      // While the residual falls tenfold per iteration the factorisation is kept (the chord method); else a new one.
      if (!(norm(rNext) <= 0.1 * size)) matrix = factorAt(next);
      y = next;
      r = rNext;
      if (relative({ y, r }) < relative(least)) least = { y, r };
    }
    return { y, r, r0, matrix, iterations, least };
  }
  // No solution within reach of x_n (dt too large for the implicit equation, e.g. hλ > 1 on a growing mode, or a root
  // across a fast transient): the solve stops with states that are not finite, and the failure (the smallest residual
  // met, and where) is what the check's finding reports (newtonFailure).
  if (!solved({ y, r })) {
    const best =
      fromPredictor && relative(fromPredictor.least) < relative(fromState.least)
        ? fromPredictor.least
        : fromState.least;
    let element = 0;
    best.r.forEach((v, i) => {
      if (Math.abs(v) > Math.abs(best.r[element]) || Number.isNaN(v)) element = i;
    });
    const failure = {
      iterations: fromState.iterations + (fromPredictor?.iterations ?? 0),
      residual: relative(best),
      element,
    };
    return { y: new Float64Array(D).fill(NaN), iterations, failure };
  }
  // The implicit-function VJP needs M at the solution itself.
  if (withMatrix && iterations > 0) matrix = factorAt(y);
  return withMatrix ? { y, matrix, iterations } : { y, iterations };
}

/** The first step Newton's method could not solve in the model's latest backward Euler solve (cleared by each solve). */
const failures = new WeakMap<CompiledModel, NewtonFailure>();

/** Where the latest backward Euler solve of cm first failed to converge, if it did (a blow-up finding's cause). */
export function newtonFailure(cm: CompiledModel): NewtonFailure | undefined {
  return failures.get(cm);
}

function noteFailure(cm: CompiledModel, result: NewtonResult, t: number) {
  if (result.failure && !failures.has(cm)) failures.set(cm, { ...result.failure, t });
}

/** Forget the previous solve's failure: a solve starts (its first step). */
function startSolve(cm: CompiledModel) {
  failures.delete(cm);
}

/**
 * x ↦ M⁻¹x with M factored: its vector–Jacobian product is M⁻ᵀ ȳ, the transposed solve with the same factors.
 */
function solveWith(tf: TF, matrix: StepMatrix, D: number): (r: Tensor) => Tensor {
  const values = (t: Tensor) => Float64Array.from(t.dataSync() as Float32Array);
  return tf.customGrad((...args: unknown[]) => {
    const r = args[0] as Tensor;
    return {
      value: tf.tensor1d(Float32Array.from(matrix.solve(values(r)))),
      gradFunc: (dy: Tensor) => tf.tensor1d(Float32Array.from(matrix.solveTransposed(values(tf.reshape(dy, [D]))))),
    };
  }) as (r: Tensor) => Tensor;
}

/**
 * One backward Euler step from x (the states at t_n) with the parameters p of step n, to t1 = t_n + h; AD of the
 * result is the implicit-function VJP (file comment). Call inside a tidy or a gradient scope. `first`: the solve's
 * first step (a new solve's failures are its own).
 */
export function backwardEulerStep(
  tf: TF,
  cm: CompiledModel,
  x: Tensor[],
  p: Tensor[],
  t1: number,
  h: number,
  first = false,
): Tensor[] {
  if (first) startSolve(cm);
  const shapes = x.map((v) => v.shape);
  const D = shapes.reduce((acc, s) => acc + s.reduce((a, b) => a * b, 1), 0);
  // Without a gradient tape (finite differences, the reference's probes) the solution alone is the step.
  const taping = tf.engine().isTapeOn();
  const result = newtonSolve(tf, cm, flatValues(x), p, t1, h, shapes, taping);
  noteFailure(cm, result, t1);
  const { y, matrix } = result;
  if (!matrix) return tensorsOf(tf, y, shapes);
  const flat = (ts: Tensor[]) => tf.concat(ts.map((v) => tf.reshape(v, [-1])));
  // A model with several scalar states evaluates f on y* packed into one vector (CompiledModel.packed: the same
  // op and numbers, without a reshape and a slice per state); else on y* in the states' shapes.
  const packed = cm.packed && cm.packed.owner === cm.rhs ? cm.packed : undefined;
  const yFlat = packed ? tf.tensor1d(Float32Array.from(y)) : flat(tensorsOf(tf, y, shapes));
  const f = packed ? packed.rhs(yFlat, p, t1) : flat(cm.rhs(tensorsOf(tf, y, shapes), p, t1));
  const r = tf.sub(tf.sub(yFlat, flat(x)), tf.mul(f, tf.scalar(h)));
  const out = tf.sub(yFlat, solveWith(tf, matrix, D)(r));
  let k = 0;
  return shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const part = tf.reshape(tf.slice(out, [k], [size]), shape);
    k += size;
    return part;
  });
}

/**
 * Without a gradient tape (finite differences, locating a blow-up), a fused model's backward Euler solve on values
 * alone: Newton's method on the program's interpreter step after step, each state rounded to float32 as the
 * per-step tensors hold it (the same numbers as backwardEulerStep's), and x_n made tensors only when read (a loss on
 * x(T) reads one step). Undefined where the per-step solve runs: a tape, events, or f not the program.
 */
export function backwardEulerValues(
  tf: TF,
  cm: CompiledModel,
  N: number,
  h: number,
  t0: number,
  params: (n: number) => Tensor[],
): Tensor[][] | undefined {
  const prog = programOf(cm);
  if (!prog || cm.timeStepping || tf.engine().isTapeOn()) return undefined;
  const shapes = cm.x0.map((v) => v.shape);
  const D = prog.states;
  if (shapes.reduce((a, s) => a + s.reduce((b, c) => b * c, 1), 0) !== D) return undefined;
  const X = new Float32Array((N + 1) * D);
  X.set(flatValues(cm.x0));
  let lastP: Tensor[] | undefined, pv: Float32Array | undefined;
  const x = new Float64Array(D);
  startSolve(cm);
  for (let n = 0; n < N; n++) {
    const p = params(n);
    if (!pv || p.length !== lastP?.length || p.some((q, i) => q !== lastP?.[i])) pv = concatElements(p);
    lastP = p;
    for (let i = 0; i < D; i++) x[i] = X[n * D + i];
    if (!x.every(Number.isFinite)) {
      X.fill(NaN, (n + 1) * D);
      break;
    }
    const result = newtonWith(programField(prog, pv, t0 + (n + 1) * h), x, h, false);
    noteFailure(cm, result, t0 + (n + 1) * h);
    X.set(result.y, (n + 1) * D);
  }
  return lazySteps(N, (n) =>
    n === 0 ? cm.x0 : tensorsOf(tf, Float64Array.from(X.subarray(n * D, (n + 1) * D)), shapes),
  );
}
