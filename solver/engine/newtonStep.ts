// Newton's method for one backward Euler step, x_{n+1} = x_n + h f(x_{n+1}, θ_n, t_{n+1}), on values: the step's
// field (f and ∂f/∂x on the Jacobian's sparsity), the damped Newton iteration with the step matrix M = I − h ∂f/∂x
// factored (engine/stepMatrix.ts) and, where it fails, pseudo-transient continuation, and a fused program's whole solve with its discrete adjoint, which the
// whole-solve kernel runs (scalarKernel/solve.ts). engine/implicitStep.ts puts it under the model's tensors.
import { type Interpreter, interpreterOf, WANT_PARAMS, WANT_STATES } from './programInterpreter';
import type { ScalarProgram } from './scalarProgram';
import {
  factorStepMatrix,
  MAX_NEWTON_ITERATIONS,
  NEWTON_FAILURE,
  NEWTON_TOLERANCE,
  type JacobianPattern,
  programPattern,
  type StepMatrix,
} from './stepMatrix';

/** f and its Jacobian ∂f/∂x (the entries of `pattern`, row by row) at a state y of one step, on values. */
export interface StepField {
  pattern: JacobianPattern;
  f(y: Float64Array): Float64Array;
  jacobian(y: Float64Array): Float64Array;
}

/**
 * The step's f on the fused program's interpreter: the values the fused op and its linearisation give (states
 * read as float32, f and each Jacobian entry rounded to float32 as their tensors hold them), bit for bit. The
 * Jacobian takes one reverse pass per group of rows that read disjoint states (stepMatrix.ts): each entry gets
 * exactly the contributions of its own row's pass. Where the reverse pass is the interpreter's sweep, a group's
 * pass visits only the group's cone (Interpreter.cone): on a lattice a group's rows read a few instructions each,
 * and the whole sweep would visit all of the program's once per group.
 */
export function programField(prog: ScalarProgram, pv: Float32Array, t: number): StepField {
  const run = interpreterOf(prog),
    D = prog.states,
    pattern = programPattern(prog);
  const scratch = scratchOf(prog),
    { vals, adj, vs, vp, cot } = scratch;
  const cones = run.reverseWrittenOut(WANT_STATES) || prog.algebraic ? undefined : conesOf(scratch, run, prog, pattern);
  return {
    pattern,
    f(y) {
      const out = new Float64Array(D);
      run.outputs(y, 0, pv, t, out);
      return out;
    },
    jacobian(y) {
      run.forwardFor(WANT_STATES, y, 0, pv, t, vals);
      const { rowStart, cols } = pattern;
      const J = new Float64Array(cols.length);
      for (let g = 0; g < pattern.groups.length; g++) {
        const group = pattern.groups[g];
        cot.fill(0);
        for (const i of group) cot[i] = 1;
        vs.fill(0);
        if (cones) run.reverseOn(cones[g], vals, cot, vs, vp, adj, WANT_STATES);
        else run.reverse(vals, cot, vs, vp, adj, WANT_STATES);
        for (const i of group) for (let k = rowStart[i]; k < rowStart[i + 1]; k++) J[k] = Math.fround(vs[cols[k]]);
      }
      return J;
    },
  };
}

/** The interpreter's buffers of one program, shared by its steps' fields (a step's solve is synchronous), and the
 * cones of its Jacobian's groups. */
interface Scratch {
  vals: Float64Array;
  adj: Float64Array;
  vs: Float64Array;
  vp: Float64Array;
  cot: Float64Array;
  cones?: { pattern: JacobianPattern; cones: Int32Array[] };
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

/** Per group of the pattern's rows, the cone of its outputs for WANT_STATES (made on first use). */
function conesOf(scratch: Scratch, run: Interpreter, prog: ScalarProgram, pattern: JacobianPattern): Int32Array[] {
  if (scratch.cones?.pattern !== pattern)
    scratch.cones = {
      pattern,
      cones: pattern.groups.map((group) =>
        run.cone(
          Array.from(group, (i) => prog.outputs[i]),
          WANT_STATES,
        ),
      ),
    };
  return scratch.cones.cones;
}

/** Pseudo-transient continuation's first pseudo-time step, its budget (steps tried, rejected ones included) and its
 * error per step relative to 1 + |y_i| (newtonWith). */
const PSEUDO_TIME_START = 0.01;
const MAX_PSEUDO_TIME_STEPS = 150;
const PSEUDO_TIME_ERROR = 0.5;

// Loops for what a typed array's map, from and every computed per step: the same values, without their generic
// iteration (Float64Array.from(y, Math.fround) alone was about 60 ms of schnak.ode's check).
function minus(y: Float64Array, d: ArrayLike<number>): Float64Array<ArrayBuffer> {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] - d[i];
  return out;
}
function minusScaled(y: Float64Array, c: number, d: ArrayLike<number>): Float64Array<ArrayBuffer> {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = y[i] - c * d[i];
  return out;
}
function rounded(y: ArrayLike<number>): Float64Array<ArrayBuffer> {
  const out = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) out[i] = Math.fround(y[i]);
  return out;
}
function allFinite(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
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
  /** Iterations taken, from x_n, then from the explicit Euler predictor, then along the pseudo-transient path. */
  iterations: number;
  /** The smallest max |r_i| / (1 + max|y| + max|x_n|) met on any of them; NaN when f was not finite at x_n. */
  residual: number;
  /** The state element of that residual's largest entry. */
  element: number;
}

/** The solve's result: y* (NaN where Newton's method failed), M factored at y* when asked, and why it failed. */
export interface NewtonResult {
  y: Float64Array;
  /** M factored at y* (asked for: the implicit-function VJP needs it). */
  matrix?: StepMatrix;
  /** The factorisation the last iterations used (the chord method's, at an iterate near y*), when solved. */
  chord?: StepMatrix;
  iterations: number;
  failure?: Omit<NewtonFailure, 't'>;
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
  const fromPredictor = solved(fromState) ? undefined : iterate(minus(x, fromState.r0));
  // Neither reached a root: the root may lie across a fold of the step's equation, where the residual must grow on
  // the way (a relaxation oscillator's spike, its upper branch orders of magnitude from x_n), which no line search
  // on ‖r‖ crosses and which continuation in h cannot follow (the branch through x_n turns back at a smaller h).
  const continued =
    fromPredictor && !solved(fromPredictor) && Number.isFinite(norm(fromState.r0)) ? pseudoTransient() : undefined;
  const attempt = continued ?? fromPredictor ?? fromState;
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
      const full = minus(y, delta);
      const rFull = residual(field, full, x, h);
      let next = full;
      let rNext = rFull;
      for (let k = 0; k < 4 && !(norm(rNext) < size); k++) {
        lambda /= 2;
        next = minusScaled(y, lambda, delta);
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

  /**
   * Pseudo-transient continuation: the flow dy/dτ = −r(y) from y = x_n, by backward Euler in the pseudo-time τ,
   * (I/δ + M(y)) s = r(y), y ← y − s, whose steady states are the step's roots. It follows f across the fold (the
   * residual grows and falls again), settles on a root where M is stable, and becomes Newton's method as δ grows.
   * δ is controlled by the difference from the explicit step δ r (the pseudo-time error): the path, not only the
   * residual, must be followed, else a large δ leaps over a growing mode to the far side, as Newton does.
   */
  function pseudoTransient() {
    let y = Float64Array.from(x);
    let r = residual(field, y, x, h);
    let least = { y, r };
    let delta = PSEUDO_TIME_START;
    let iterations = 0;
    // ∂f/∂x at y, kept while a rejected step leaves y where it is.
    let J = field.jacobian(y);
    for (; iterations < MAX_PSEUDO_TIME_STEPS; iterations++) {
      if (relative({ y, r }) <= NEWTON_FAILURE) break; // near a root: Newton's method from here, below
      // I/δ + M = c (I − (h/c) J) with c = 1 + 1/δ: the step matrix's factorisation at a smaller h.
      const c = 1 + 1 / delta;
      const s = factorStepMatrix(field.pattern, J, h / c).solve(r);
      let error = 0;
      for (let i = 0; i < s.length; i++) {
        s[i] /= c;
        error = Math.max(error, Math.abs(s[i] - delta * r[i]) / (1 + Math.abs(y[i]))); // NaN stays NaN
      }
      const next = minus(y, s);
      const rNext = error <= PSEUDO_TIME_ERROR ? residual(field, next, x, h) : undefined;
      // A singular matrix or an f that is not finite at the new point: a much smaller δ.
      const grow = Number.isNaN(error) ? 0.25 : Math.min(4, Math.max(0.25, 0.9 * Math.sqrt(PSEUDO_TIME_ERROR / error)));
      delta *= rNext && Number.isNaN(norm(rNext)) ? 0.25 : grow;
      if (!rNext || Number.isNaN(norm(rNext))) continue;
      y = next;
      r = rNext;
      if (relative({ y, r }) < relative(least)) least = { y, r };
      if (!(relative({ y, r }) <= NEWTON_FAILURE)) J = field.jacobian(y);
    }
    const r0 = fromState.r0;
    if (!solved({ y, r })) return { y, r, r0, matrix: undefined, iterations, least, atSolution: true }; // a failure
    // Newton's iterations finish the root (converged where the pseudo-time steps, controlled by their error, creep);
    // where they do not improve on it, the continuation's own point, within the failure bound, is the step.
    const polished = iterate(y);
    if (relative(polished) <= relative({ y, r }))
      return { ...polished, r0, iterations: iterations + polished.iterations, atSolution: false };
    // The chord factorisation of the kernel's last correction, and the VJP's: M itself at the solution.
    return { y, r, r0, matrix: factorAt(y), iterations: iterations + polished.iterations, least, atSolution: true };
  }
  // No solution within reach of x_n (dt too large for the implicit equation, e.g. hλ > 1 on a growing mode, or a root
  // across a fast transient): the solve stops with states that are not finite, and the failure (the smallest residual
  // met, and where) is what the check's finding reports (newtonFailure).
  if (!solved({ y, r })) {
    const best = [fromPredictor, continued].reduce(
      (b, a) => (a && relative(a.least) < relative(b) ? a.least : b),
      fromState.least,
    );
    let element = 0;
    best.r.forEach((v, i) => {
      if (Math.abs(v) > Math.abs(best.r[element]) || Number.isNaN(v)) element = i;
    });
    const failure = {
      iterations: fromState.iterations + (fromPredictor?.iterations ?? 0) + (continued?.iterations ?? 0),
      residual: relative(best),
      element,
    };
    return { y: new Float64Array(D).fill(NaN), iterations, failure };
  }
  // The implicit-function VJP needs M at the solution itself.
  const chord = matrix;
  if (withMatrix && iterations > 0 && !continued?.atSolution) matrix = factorAt(y);
  return withMatrix ? { y, matrix, chord, iterations } : { y, chord, iterations };
}

/**
 * A fused program's backward Euler solve on values: x_0..x_N [N + 1, D] from x0, Newton's method on the program's
 * interpreter step after step and one correction, each state rounded to float32 as the per-step tensors hold it (the
 * same numbers as backwardEulerStep's); NaN from the first step Newton's method cannot solve, which `failed` is told (with its t).
 * `paramsAt(n)`: the flat parameters of step n. The whole-solve kernel's implicit scheme (scalarKernel/solve.ts).
 */
export function backwardEulerForward(
  prog: ScalarProgram,
  N: number,
  h: number,
  t0: number,
  x0: ArrayLike<number>,
  paramsAt: (n: number) => Float32Array,
  failed: (failure: NewtonFailure) => void,
  X = new Float32Array((N + 1) * prog.states),
): Float32Array {
  const D = prog.states;
  for (let i = 0; i < D; i++) X[i] = x0[i];
  const x = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < D; i++) x[i] = X[n * D + i];
    if (!allFinite(x)) {
      X.fill(NaN, (n + 1) * D);
      break;
    }
    const t1 = t0 + (n + 1) * h;
    const field = programField(prog, paramsAt(n), t1);
    const { y, chord, failure } = newtonWith(field, x, h, false);
    if (failure) failed({ ...failure, t: t1 });
    if (!chord) {
      X.set(y, (n + 1) * D);
      continue;
    }
    // One more correction, y* − M⁻¹ r(y*), as the per-step tensor path makes (implicitStep.ts's backwardEulerStep,
    // rounded as it rounds): a converged residual of 1e-5 left as it is would cost that much accuracy every step. M
    // is the chord method's factorisation: a new one at y* would double the solve's cost (the adjoint factors M at
    // each x_{n+1} itself).
    const yf = rounded(y),
      f = field.f(yf),
      hf = Math.fround(h),
      r = new Float64Array(D);
    for (let i = 0; i < D; i++) r[i] = Math.fround(Math.fround(yf[i] - x[i]) - Math.fround(f[i] * hf));
    const delta = chord.solve(r);
    for (let i = 0; i < D; i++) X[(n + 1) * D + i] = Math.fround(yf[i] - Math.fround(delta[i]));
  }
  return X;
}

/**
 * The discrete adjoint of backwardEulerForward's solve X with the cotangents dy [N + 1, D] of its steps: from
 * x_{n+1} = x_n + h f(x_{n+1}, θ_n, t_{n+1}), μ = M⁻ᵀ λ_{n+1} with M = I − h ∂f/∂x at x_{n+1} (factored again from the
 * Jacobian there), λ_n = μ + dy_n, and h (∂f/∂θ)ᵀ μ added into gradsAt(n). Returns λ_0, the cotangent of x0.
 */
export function backwardEulerAdjoint(
  prog: ScalarProgram,
  N: number,
  h: number,
  t0: number,
  X: Float32Array,
  dy: ArrayLike<number>,
  paramsAt: (n: number) => Float32Array,
  gradsAt: (n: number) => Float64Array,
): Float64Array {
  const D = prog.states;
  const run = interpreterOf(prog);
  const { vals, adj, vs, vp } = scratchOf(prog);
  const y = new Float64Array(D);
  let lambda: Float64Array = new Float64Array(D);
  for (let i = 0; i < D; i++) lambda[i] = dy[N * D + i];
  for (let n = N - 1; n >= 0; n--) {
    for (let i = 0; i < D; i++) y[i] = X[(n + 1) * D + i];
    const t1 = t0 + (n + 1) * h,
      pv = paramsAt(n);
    const field = programField(prog, pv, t1);
    const mu = factorStepMatrix(field.pattern, field.jacobian(y), h).solveTransposed(lambda);
    run.forwardFor(WANT_PARAMS, y, 0, pv, t1, vals);
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, mu, vs, vp, adj, WANT_PARAMS);
    const into = gradsAt(n);
    for (let k = 0; k < vp.length; k++) into[k] += h * vp[k];
    lambda = mu;
    for (let i = 0; i < D; i++) lambda[i] += dy[n * D + i];
  }
  return lambda;
}
