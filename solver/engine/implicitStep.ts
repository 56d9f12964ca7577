// Backward (implicit) Euler, XPPAUT's `backeul`: x_{n+1} = x_n + h f(x_{n+1}, θ_n, t_{n+1}), solved by Newton's
// method at every step.
//
// AD does not unroll the Newton iterations. The solution y* is found on detached values, then the step returns
// y = y* − M⁻¹ r(y*) with r(y) = y − x_n − h f(y, θ_n, t_{n+1}) and M = I − h ∂f/∂x(y*) held constant. Its value is
// y* (r(y*) ≈ 0, one more Newton correction), and its derivatives are those of the implicit-function theorem:
// ∂y/∂x_n = M⁻¹ and ∂y/∂θ_n = h M⁻¹ ∂f/∂θ, so AD's vector–Jacobian product is the adjoint solve
// x̄_n = M⁻ᵀ ȳ, θ̄_n = h (∂f/∂θ)ᵀ M⁻ᵀ ȳ. The Jacobian comes from the model's hand-written reverse mode
// (cm.rhsLinearize, the fused path included) one row per state element, else from TF.js AD.
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';

/** Newton iterations per step at most; a well-posed step converges in two or three, a step across an upstroke in a dozen. */
const MAX_NEWTON_ITERATIONS = 30;
/** Stop when the residual is below this, relative to the states (float32 evaluation of f sets the floor). */
const NEWTON_TOLERANCE = 1e-5;
/** After the last iteration, a residual above this (relative) means the step has no solution near x_n: NaN. */
const NEWTON_FAILURE = 1e-3;

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

/** M = I − h J, inverted by Gauss–Jordan elimination with partial pivoting (D is the model's state size); NaN when singular. */
function inverseOfStepMatrix(J: Float64Array, h: number, D: number): Float64Array {
  const a = new Float64Array(D * D);
  const inv = new Float64Array(D * D);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < D; j++) a[i * D + j] = (i === j ? 1 : 0) - h * J[i * D + j];
    inv[i * D + i] = 1;
  }
  for (let c = 0; c < D; c++) {
    let piv = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(a[r * D + c]) > Math.abs(a[piv * D + c])) piv = r;
    // Singular (or not finite): NaN, so that the step fails as a blow-up instead of throwing.
    if (!(Math.abs(a[piv * D + c]) > 0)) return inv.fill(NaN);
    if (piv !== c)
      for (let j = 0; j < D; j++) {
        [a[c * D + j], a[piv * D + j]] = [a[piv * D + j], a[c * D + j]];
        [inv[c * D + j], inv[piv * D + j]] = [inv[piv * D + j], inv[c * D + j]];
      }
    const d = a[c * D + c];
    for (let j = 0; j < D; j++) {
      a[c * D + j] /= d;
      inv[c * D + j] /= d;
    }
    for (let r = 0; r < D; r++) {
      if (r === c || a[r * D + c] === 0) continue;
      const m = a[r * D + c];
      for (let j = 0; j < D; j++) {
        a[r * D + j] -= m * a[c * D + j];
        inv[r * D + j] -= m * inv[c * D + j];
      }
    }
  }
  return inv;
}

/** r(y) = y − x − h f(y) on values, with f evaluated by the model. */
function residual(
  tf: TF,
  cm: CompiledModel,
  y: Float64Array,
  x: Float64Array,
  p: Tensor[],
  t: number,
  h: number,
  shapes: number[][],
) {
  const f = tidyValues(tf, () => flatValues(cm.rhs(tensorsOf(tf, y, shapes), p, t)));
  return y.map((v, i) => v - x[i] - h * f[i]);
}

/**
 * y* by Newton's method from y = x, and M⁻¹ there when `withInverse` (the AD path needs it). The iterations keep the
 * Jacobian of their first point while the residual falls fast (the chord method: one Jacobian per step on a linear
 * or mildly nonlinear f), take a new one when it does not, and halve a step that does not reduce the residual.
 */
export function newtonSolve(
  tf: TF,
  cm: CompiledModel,
  x: Float64Array,
  p: Tensor[],
  t: number,
  h: number,
  shapes: number[][],
  withInverse = true,
): { y: Float64Array; inverse?: Float64Array; iterations: number } {
  const D = x.length;
  if (!x.every(Number.isFinite)) return { y: new Float64Array(D).fill(NaN), iterations: 0 }; // an earlier step failed
  const inverseAt = (y: Float64Array) =>
    inverseOfStepMatrix(
      tidyValues(tf, () => jacobian(tf, cm, tensorsOf(tf, y, shapes), p, t, D)),
      h,
      D,
    );
  const norm = (r: Float64Array) => r.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const scale = (z: Float64Array) => 1 + norm(z) + norm(x);
  const solved = (a: { y: Float64Array; r: Float64Array }) => norm(a.r) <= NEWTON_FAILURE * scale(a.y);
  const fromState = iterate(Float64Array.from(x));
  // From the previous state Newton may circle a fast upstroke; the explicit Euler predictor x + h f (that is,
  // x − r(x)) starts it on the other side.
  const attempt = solved(fromState) ? fromState : iterate(x.map((v, i) => v - fromState.r0[i]));
  const { y, r, iterations } = attempt;
  let { inverse } = attempt;

  function iterate(start: Float64Array) {
    let y = start;
    let r = residual(tf, cm, y, x, p, t, h, shapes);
    const r0 = r;
    let inverse = inverseAt(y);
    let iterations = 0;
    for (; iterations < MAX_NEWTON_ITERATIONS; iterations++) {
      const size = norm(r);
      if (size <= NEWTON_TOLERANCE * scale(y)) break;
      const delta = new Float64Array(D);
      for (let i = 0; i < D; i++) {
        let s = 0;
        for (let j = 0; j < D; j++) s += inverse[i * D + j] * r[j];
        delta[i] = s;
      }
      // Damped: halve the step while the residual does not fall (or is not finite), at most a few times. When no
      // halving helps, the full step is taken if its residual is finite: across a fast upstroke (an action potential
      // in one large step) the residual must grow before Newton reaches the solution, and damping would stall.
      let lambda = 1;
      const full = y.map((v, i) => v - delta[i]);
      const rFull = residual(tf, cm, full, x, p, t, h, shapes);
      let next = full;
      let rNext = rFull;
      for (let k = 0; k < 4 && !(norm(rNext) < size); k++) {
        lambda /= 2;
        next = y.map((v, i) => v - lambda * delta[i]);
        rNext = residual(tf, cm, next, x, p, t, h, shapes);
      }
      if (!(norm(rNext) < size) && Number.isFinite(norm(rFull))) {
        next = full;
        rNext = rFull;
      }
      // While the residual falls tenfold per iteration the Jacobian is kept (the chord method); else a new one here.
      if (!(norm(rNext) <= 0.1 * size)) inverse = inverseAt(next);
      y = next;
      r = rNext;
    }
    return { y, r, r0, inverse, iterations };
  }
  // No solution near x_n (dt too large for the implicit equation, e.g. hλ > 1 on a growing mode): the step fails
  // the way an exploding explicit step does, with states that are not finite, so the check reports a blow-up.
  if (!solved({ y, r })) return { y: new Float64Array(D).fill(NaN), iterations };
  // The implicit-function VJP needs M at the solution itself.
  if (withInverse && iterations > 0) inverse = inverseAt(y);
  return withInverse ? { y, inverse, iterations } : { y, iterations };
}

/**
 * One backward Euler step from x (the states at t_n) with the parameters p of step n, to t1 = t_n + h; AD of the
 * result is the implicit-function VJP (file comment). Call inside a tidy or a gradient scope.
 */
export function backwardEulerStep(
  tf: TF,
  cm: CompiledModel,
  x: Tensor[],
  p: Tensor[],
  t1: number,
  h: number,
): Tensor[] {
  const shapes = x.map((v) => v.shape);
  const D = shapes.reduce((acc, s) => acc + s.reduce((a, b) => a * b, 1), 0);
  // Without a gradient tape (finite differences, the reference's probes) the solution alone is the step.
  const taping = tf.engine().isTapeOn();
  const { y, inverse } = newtonSolve(tf, cm, flatValues(x), p, t1, h, shapes, taping);
  const yStar = tensorsOf(tf, y, shapes);
  if (!inverse) return yStar;
  const f = cm.rhs(yStar, p, t1);
  const flat = (ts: Tensor[]) => tf.concat(ts.map((v) => tf.reshape(v, [-1])));
  const r = tf.sub(tf.sub(flat(yStar), flat(x)), tf.mul(flat(f), tf.scalar(h)));
  const correction = tf.reshape(tf.matMul(tf.tensor2d(Float32Array.from(inverse), [D, D]), tf.reshape(r, [D, 1])), [D]);
  const out = tf.sub(flat(yStar), correction);
  let k = 0;
  return shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const part = tf.reshape(tf.slice(out, [k], [size]), shape);
    k += size;
    return part;
  });
}
