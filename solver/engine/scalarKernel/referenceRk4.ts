// The continuous reference's forward solve (engine/reference.ts: classic RK4 on step H, storing x and f at
// the nodes and each step's last stage) of a fused scalar program in one JS loop. The per-kernel reference
// costs about ten TF.js kernels a step (four fused evaluations of f, four combinations, a scope); this
// runs the same float32 operations: f as the program rounds it, each stage input x + c·k and the step
// x + H/6·k1 + H/3·k2 + H/3·k3 + H/6·k4 as engine/linearCombination.ts rounds them (each product c·k
// rounded with c a float32 scalar, then summed in order, the state last), so the nodes are bit for bit
// those of the per-kernel solve.
import { interpreterOf } from '../programInterpreter';
import type { ScalarProgram } from '../scalarProgram';

const f32 = Math.fround;

/** Nodes x_0 … x_K and f there, [(K + 1)·S] row-major, and each step's last stage k4, [K·S]. */
export interface ReferenceNodes {
  X: Float32Array;
  F: Float32Array;
  K4: Float32Array;
  /**
   * The first node with a value that is not finite, when the solve blew up: it stopped there (a value that is not
   * finite stays so in every later step), and the nodes after it, f from it on and the stages from its step on are NaN.
   */
  blownAt?: number;
}

/**
 * RK4 with step H from x0 at t0 over K steps; `theta(τ)` gives the flat parameters at time τ (the
 * program's parameter order) as the per-kernel solve passes them to f, valid until its next call.
 */
export function referenceRk4(
  prog: ScalarProgram,
  x0: ArrayLike<number>,
  K: number,
  H: number,
  t0: number,
  theta: (tau: number) => ArrayLike<number>,
): ReferenceNodes {
  const S = prog.states,
    run = interpreterOf(prog);
  const fAt = new Float64Array(S);
  const X = new Float32Array((K + 1) * S),
    F = new Float32Array((K + 1) * S),
    K4 = new Float32Array(K * S);
  for (let e = 0; e < S; e++) X[e] = x0[e];
  const k2 = new Float32Array(S),
    k3 = new Float32Array(S),
    stage = new Float32Array(S);
  const f = (x: ArrayLike<number>, xAt: number, p: ArrayLike<number>, t: number, out: Float32Array, outAt: number) => {
    run.outputs(x, xAt, p, t, fAt);
    for (let e = 0; e < S; e++) out[outAt + e] = fAt[e];
  };
  // The combinations' float32 coefficients, as linearCombination takes them.
  const cHalf = f32(H / 2),
    cWhole = f32(H),
    cSixth = f32(H / 6),
    cThird = f32(H / 3);
  /** stage[e] = x + c·k (x at X[xAt…]). */
  const plusScaled = (xAt: number, k: Float32Array, kAt: number, c: number) => {
    for (let e = 0; e < S; e++) stage[e] = f32(f32(c * k[kAt + e]) + X[xAt + e]);
  };
  for (let k = 0; k < K; k++) {
    const tk = t0 + k * H,
      at = k * S;
    f(X, at, theta(tk), tk, F, at);
    plusScaled(at, F, at, cHalf);
    const mid = theta(tk + H / 2);
    f(stage, 0, mid, tk + H / 2, k2, 0);
    plusScaled(at, k2, 0, cHalf);
    f(stage, 0, mid, tk + H / 2, k3, 0);
    plusScaled(at, k3, 0, cWhole);
    f(stage, 0, theta(tk + H), tk + H, K4, at);
    for (let e = 0; e < S; e++) {
      let acc = f32(cSixth * F[at + e]);
      acc = f32(acc + f32(cThird * k2[e]));
      acc = f32(acc + f32(cThird * k3[e]));
      acc = f32(acc + f32(cSixth * K4[at + e]));
      X[at + S + e] = f32(acc + X[at + e]);
    }
    if (!finiteRow(X, at + S, S)) {
      // A stiff model's RK4 overflows float32 within a few steps of a grid too coarse for it: the rest is NaN work.
      F.fill(NaN, at + S);
      K4.fill(NaN, at + S);
      X.fill(NaN, at + 2 * S);
      return { X, F, K4, blownAt: k + 1 };
    }
  }
  f(X, K * S, theta(t0 + K * H), t0 + K * H, F, K * S);
  return { X, F, K4 };
}

/** x[at … at + n) are all finite. */
function finiteRow(x: Float32Array, at: number, n: number): boolean {
  for (let e = at; e < at + n; e++) if (!Number.isFinite(x[e])) return false;
  return true;
}
