// A differential-algebraic system's algebraic solve (XPPAUT `0 = g` with `solv z=guess`; docs/engine.md, "Algebraic
// variables"): at every evaluation of f, z is solved from g(x, z, p, t) = 0 by Newton's method, started from the z of
// the previous evaluation (the declared guesses at the first, and again after a failure), as XPPAUT does. The fused
// program's interpreter (programInterpreter.ts) runs it before f: g and its Jacobian ∂g/∂z come from the program's
// own forward and reverse passes (one reverse pass per algebraic variable), ∂g/∂z is factored by the dense LU of
// backward Euler's step matrix (stepMatrix.ts). Reverse passes go through z by the implicit-function theorem:
// z̄ = (∂f/∂z)ᵀ f̄, λ = (∂g/∂z)⁻ᵀ z̄, and −λ swept back through g gives the states', parameters' and t's share.
import { denseLu, MAX_NEWTON_ITERATIONS, NEWTON_FAILURE, NEWTON_TOLERANCE, type StepMatrix } from './stepMatrix';
import type { ScalarProgram } from './scalarProgram';

// Newton's limits are backward Euler's (stepMatrix.ts), on the step's size relative to 1 + max|z|: warm-started
// from the previous z, one or two iterations suffice.

/** An evaluation whose algebraic equations Newton's method did not solve. */
export interface AlgebraicFailure {
  /** The time of the evaluation (a stage's time). */
  t: number;
  /** The `0 =` equation with the largest residual at the last iterate (its index in the model's order). */
  equation: number;
  /** That residual, and why: singular ∂g/∂z (a fold), not finite, or no convergence. */
  residual: number;
  reason: 'singular' | 'not-finite' | 'no-convergence';
  iterations: number;
}

const failures = new WeakMap<ScalarProgram, AlgebraicFailure>();

/** Keeps the program's first failure since the last `clearAlgebraicFailure`. */
export function noteAlgebraicFailure(prog: ScalarProgram, failure: AlgebraicFailure): void {
  if (!failures.has(prog)) failures.set(prog, failure);
}

/** The first failure since the last `clearAlgebraicFailure` (a blow-up finding's cause). */
export function algebraicFailure(prog: ScalarProgram): AlgebraicFailure | undefined {
  return failures.get(prog);
}

export function clearAlgebraicFailure(prog: ScalarProgram): void {
  failures.delete(prog);
}

/** What the solve needs of the interpreter: g at z (the whole program run there), and ∂g/∂z at the values last run. */
export interface AlgebraicField {
  /** Runs the program with z; g's entries into r. */
  residual(z: Float64Array, r: Float64Array): void;
  /** ∂g/∂z at the values of the last `residual`, m×m row-major (row j: g_j's gradient in z). */
  jacobian(J: Float64Array): void;
}

/**
 * z solving g = 0 from its value on entry (overwritten with the solution, or NaN on failure, whose cause is
 * returned). The field's values are left at the returned z's (its last `residual` run).
 */
export function solveAlgebraic(
  field: AlgebraicField,
  z: Float64Array,
  t: number,
  scratch: { r: Float64Array; J: Float64Array },
): AlgebraicFailure | undefined {
  const m = z.length,
    { r, J } = scratch;
  let iterations = 0,
    last = Number.POSITIVE_INFINITY,
    least = Number.POSITIVE_INFINITY;
  let reason: AlgebraicFailure['reason'] = 'no-convergence';
  for (; iterations < MAX_NEWTON_ITERATIONS; iterations++) {
    field.residual(z, r);
    if (!r.every(Number.isFinite)) {
      reason = 'not-finite';
      break;
    }
    field.jacobian(J);
    const lu: StepMatrix = denseLu(Float64Array.from(J), m);
    if (lu.singular) {
      reason = 'singular';
      break;
    }
    const dz = lu.solve(r);
    let step = 0,
      size = 0;
    for (let j = 0; j < m; j++) {
      z[j] -= dz[j];
      step = Math.max(step, Math.abs(dz[j]));
      size = Math.max(size, Math.abs(z[j]));
    }
    last = step / (1 + size);
    if (!Number.isFinite(last)) {
      reason = 'not-finite';
      break;
    }
    least = Math.min(least, last);
    if (last <= NEWTON_TOLERANCE) {
      field.residual(z, r);
      return undefined;
    }
  }
  if (iterations === MAX_NEWTON_ITERATIONS && least <= NEWTON_FAILURE) {
    field.residual(z, r);
    if (r.every(Number.isFinite)) return undefined;
  }
  let equation = 0;
  for (let j = 0; j < m; j++) if (!(Math.abs(r[j]) <= Math.abs(r[equation]))) equation = j;
  const failure = { t, equation, residual: Math.abs(r[equation]), reason, iterations };
  z.fill(Number.NaN);
  field.residual(z, r);
  return failure;
}
