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
// model whose f is the whole-solve kernel's fused program (no events, no delays) is solved by that kernel
// (scalarKernel/solve.ts) with backwardEulerForward and backwardEulerAdjoint (engine/newtonStep.ts): Newton's method on the program's
// interpreter (the same float32 values of f and of the Jacobian's entries, without a dozen kernels per evaluation and
// a tape node per step), on the Jacobian's sparsity: one reverse pass per group of rows that read disjoint states,
// and band factors of M in reverse Cuthill–McKee order (a reaction–diffusion array: a few passes and O(D) work a step
// instead of D passes and D³); the adjoint is the same transposed solve, M factored again at each x_{n+1}.
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';
import type { ScalarProgram } from './scalarProgram';
import { concatElements } from './statePath';
import { densePattern, type StepMatrix } from './stepMatrix';
import { type NewtonFailure, type NewtonResult, newtonWith, programField, type StepField } from './newtonStep';

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

/** The step's f through the model's tensors (the per-operation or fused rhs and its reverse mode): dense rows. */
function tensorField(tf: TF, cm: CompiledModel, p: Tensor[], t: number, shapes: number[][], D: number): StepField {
  return {
    pattern: densePattern(D),
    f: (y) => tidyValues(tf, () => flatValues(cm.rhs(tensorsOf(tf, y, shapes), p, t))),
    jacobian: (y) => tidyValues(tf, () => jacobian(tf, cm, tensorsOf(tf, y, shapes), p, t, D)),
  };
}

/** The fused program f runs when it is the model's own rhs (engine/scalarKernel/solve.ts's owner), else undefined. */
function programOf(cm: CompiledModel): ScalarProgram | undefined {
  const ws = cm.wholeSolve;
  return ws?.program && ws.owner === cm.rhs ? ws.program : undefined;
}

/**
 * y* by Newton's method from y = x, and M factored there when `withMatrix` (the AD path needs it). The iterations keep
 * the factorisation of their first point while the residual falls fast (the chord method: one Jacobian per step on a
 * linear or mildly nonlinear f), take a new one when it does not, and halve a step that does not reduce the residual;
 * from the explicit Euler predictor, then by pseudo-transient continuation, when they do not converge (newtonWith).
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

/** The first step Newton's method could not solve in the model's latest backward Euler solve (cleared by each solve). */
const failures = new WeakMap<CompiledModel, NewtonFailure>();

/** Where the latest backward Euler solve of cm first failed to converge, if it did (a blow-up finding's cause). */
export function newtonFailure(cm: CompiledModel): NewtonFailure | undefined {
  return failures.get(cm);
}

function noteFailure(cm: CompiledModel, result: NewtonResult, t: number) {
  if (result.failure) recordFailure(cm, { ...result.failure, t });
}

/** The solve's first failure is the one reported. */
function recordFailure(cm: CompiledModel, failure: NewtonFailure) {
  if (!failures.has(cm)) failures.set(cm, failure);
}

/** A new solve of cm on the whole-solve kernel: the previous solve's failure forgotten, and this one's recorder. */
export function failureRecorder(cm: CompiledModel): (failure: NewtonFailure) => void {
  startSolve(cm);
  return (failure) => recordFailure(cm, failure);
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
