// The continuous reference's batched adjoint (engine/batchedAdjoint.ts: small states, no jumps) for a fused
// scalar program, with the program run directly instead of through batched TF.js vector–Jacobian products:
// ∂x f at every node and midpoint by one forward evaluation and d reverse sweeps of the program, and
// g = pᵀ∂θ f there by one more sweep. The numbers are the batched passes' (the same program, its states
// and parameters at the same float32 values, each product rounded to float32 as the passes' tensors
// hold it); the recursion for p is batchedAdjoint's own.
import {
  adjointPairs,
  atPoints,
  interpolateCopies,
  interpWeights,
  recursion,
  type BatchedAdjointResult,
  type PathParameter,
} from '../batchedAdjoint';
import { interpreterOf, WANT_BOTH, WANT_PARAMS, WANT_STATES } from '../programInterpreter';
import { gridHermite, hermiteValue } from '../hermite';
import type { ScalarProgram } from '../scalarProgram';
import { MAX_PATH_COMPONENTS } from '../statePath';
import type { ReferenceNodes } from './referenceRk4';

const f32 = Math.fround;

export interface ProgramAdjointInput {
  t0: number;
  K: number;
  H: number;
  nodes: ReferenceNodes;
  /** p(T), the states' components in order. */
  pT: Float64Array;
  params: PathParameter[];
  layerTimes: number[];
  /** The grid is half the usual step: also the adjoint's pair quadrature difference in t (timeQuadrature.ts). */
  pairs?: boolean;
}

/** x at the 2K + 1 points t0 + jH/2: the nodes, and between them x(m) = (x_j + x_{j+1})/2 + H/8·(f_j − f_{j+1}) (batchedAdjoint's pointStates). */
function pointStates(S: number, { K, H, nodes }: ProgramAdjointInput): Float32Array {
  const { X, F } = nodes;
  const out = new Float32Array((2 * K + 1) * S);
  out.set(X.subarray(0, S), 0);
  for (let j = 0; j < K; j++) {
    const a = j * S,
      b = a + S;
    for (let r = 0; r < S; r++)
      out[(2 * j + 1) * S + r] = 0.5 * (X[a + r] + X[b + r]) + (H / 8) * (F[a + r] - F[b + r]);
    out.set(X.subarray(b, b + S), (2 * j + 2) * S);
  }
  return out;
}

/** θ at point j (t0 + jH/2), flat in parameter order, as batchedAdjoint's thetaAt gives it. */
function pointParameters(prog: ScalarProgram, inp: ProgramAdjointInput): (j: number) => Float32Array {
  const out = new Float32Array(prog.params);
  const varying: number[] = [];
  let at = 0;
  inp.params.forEach((q, i) => {
    if (!q.perStep || q.equalCopies) out.set(q.values.subarray(0, q.size), at);
    else varying.push(i);
    at += q.size;
  });
  if (varying.length === 0) return () => out;
  const offsets = inp.params.map((_q, i) => inp.params.slice(0, i).reduce((a, q) => a + q.size, 0));
  return (j) => {
    const w = interpWeights(inp.layerTimes, inp.t0 + (j * inp.H) / 2);
    for (const i of varying) interpolateCopies(inp.params[i].values, inp.params[i].size, w, out, offsets[i]);
    return out;
  };
}

export function programAdjoint(prog: ScalarProgram, inp: ProgramAdjointInput): BatchedAdjointResult {
  const d = prog.states,
    Q = prog.params,
    { K, H, t0 } = inp;
  const B = 2 * K + 1;
  const run = interpreterOf(prog);
  const L = prog.code.length;
  const vals = new Float64Array(L),
    adj = new Float64Array(L),
    vs = new Float64Array(d),
    vp = new Float64Array(Q),
    cot = new Float64Array(d);
  const xAt = pointStates(d, inp);
  const theta = pointParameters(prog, inp);
  // J[(j·d + c)·d + r] = ∂f_c/∂x_r.
  const J = new Float64Array(B * d * d);
  for (let j = 0; j < B; j++) {
    run.forwardFor(WANT_STATES, xAt, j * d, theta(j), t0, vals);
    for (let c = 0; c < d; c++) {
      cot.fill(0);
      cot[c] = 1;
      vs.fill(0);
      run.reverse(vals, cot, vs, vp, adj, WANT_STATES);
      for (let r = 0; r < d; r++) J[(j * d + c) * d + r] = f32(vs[r]);
    }
  }
  const { P, V, estimateError } = recursion(J, inp.pT, K, H, d);
  const Pn = atPoints(P, V, K, H, d);
  const g = inp.params.map((q) => new Float32Array(B * q.size));
  for (let j = 0; j < B; j++) {
    run.forwardFor(WANT_PARAMS, xAt, j * d, theta(j), t0, vals);
    for (let c = 0; c < d; c++) cot[c] = f32(Pn[j * d + c]);
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, cot, vs, vp, adj, WANT_PARAMS);
    let at = 0;
    inp.params.forEach((q, i) => {
      const o = j * q.size;
      for (let k = 0; k < q.size; k++) g[i][o + k] = vp[at + k];
      at += q.size;
    });
  }
  const columns = Math.min(MAX_PATH_COMPONENTS, d);
  const values = new Float32Array((K + 1) * columns);
  for (let j = 0; j <= K; j++) for (let c = 0; c < columns; c++) values[j * columns + c] = P[j * d + c];
  return {
    g,
    estimateError,
    p: { columns, values },
    ...(inp.pairs ? { pairDifference: adjointPairs(P, V, K, H, d) } : {}),
  };
}

export interface SmoothAdjointInput {
  t0: number;
  K: number;
  H: number;
  nodes: ReferenceNodes;
  /** p(T), the states' components in order (float32, as the tensors hold it). */
  pT: Float32Array;
  /** θ(τ) flat, as the reference's forward solve takes it (valid until the next call). */
  theta: (tau: number) => ArrayLike<number>;
  /** Elements of each state tensor, in order (the estimate sums per tensor, as the tensor solve does). */
  stateSizes: number[];
  /** Elements of each parameter, in order. */
  paramSizes: number[];
  /** g at the step midpoints too (a θ(t) with kinks at the nodes). */
  mid: boolean;
  /**
   * A coarse grid whose g is taken at its m points per step from x and p by Hermite (reference.ts's
   * gradientOnGrid; θ constant, f without t), instead of at the nodes.
   */
  grid?: { m: number };
}

export interface SmoothAdjointResult {
  /**
   * Per parameter, g at the nodes t0 … T (with `mid`, interleaved with the midpoints), or on a coarse
   * grid's points, row-major. Undefined on a coarse grid whose nodes are not all finite: that solve is no
   * reference (the caller reports it non-finite and falls back to the usual grid).
   */
  g: Float32Array[] | undefined;
  /** p and v = (∂x f)ᵀp at the nodes t0 … T, [(K + 1)·S] each. */
  P: Float32Array;
  V: Float32Array;
  estimateError: number;
  p: { columns: number; values: Float32Array };
}

/**
 * The reference's backward RK4 on the usual grid with one linearisation of f per node and midpoint
 * (engine/reference.ts's backwardSmooth, without a coarse grid) on the program: x at a midpoint by the
 * tensor solve's Hermite formula, each vector–Jacobian product rounded to float32, each stage and step
 * combination as engine/linearCombination.ts rounds it, the midpoint adjoint and the embedded estimate
 * with TF.js cpu's float32 operations, so the numbers are the tensor solve's bit for bit.
 */
export function programSmoothAdjoint(prog: ScalarProgram, inp: SmoothAdjointInput): SmoothAdjointResult {
  const S = prog.states,
    Q = prog.params,
    { K, H, t0, nodes, mid } = inp;
  const run = interpreterOf(prog);
  const L = prog.code.length;
  const valsM = new Float64Array(L),
    valsB = new Float64Array(L),
    adj = new Float64Array(L),
    vs = new Float64Array(S),
    vp = new Float64Array(Q);
  const xm = new Float32Array(S);
  const { X, F } = nodes;
  const cMid = f32(H / 8);
  /** f linearised at node j (time t, as the tensor solve computes it) into vals. */
  // Only the values the reverse passes read (the nodes' passes give g too; the midpoints' only with `mid`).
  const atNode = (j: number, t: number, vals: Float64Array) =>
    run.forwardFor(WANT_BOTH, X, j * S, inp.theta(t), t, vals);
  /** (∂x f)ᵀcot into out (float32) and, with g, (∂θ f)ᵀcot into g at row `row`. */
  const sizes = inp.paramSizes,
    nParams = sizes.length;
  const back = (vals: Float64Array, cot: Float32Array, out: Float32Array | undefined, g?: Float32Array[], row = 0) => {
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, cot, vs, vp, adj, out ? (g ? WANT_BOTH : WANT_STATES) : WANT_PARAMS);
    if (out) for (let e = 0; e < S; e++) out[e] = vs[e];
    // A plain loop over the parameters: a closure per call was a tenth of ml1.ode's adjoint (1.5 million calls).
    if (g)
      for (let i = 0, at = 0; i < nParams; i++) {
        const n = sizes[i],
          gi = g[i],
          o = row * n;
        for (let k = 0; k < n; k++) gi[o + k] = vp[at + k];
        at += n;
      }
  };
  const rowsPerStep = mid ? 2 : 1;
  const g = inp.paramSizes.map((n) => new Float32Array((rowsPerStep * K + 1) * n));
  // p and v = (∂x f)ᵀp at every node; the last stage of every step (the estimate's).
  const P = new Float32Array((K + 1) * S),
    V = new Float32Array((K + 1) * S),
    S4 = new Float32Array(K * S);
  P.set(inp.pT, K * S);
  const pA = new Float32Array(S),
    vA = new Float32Array(S),
    stage = new Float32Array(S),
    s2 = new Float32Array(S),
    s3 = new Float32Array(S),
    s4 = new Float32Array(S),
    pB = new Float32Array(S),
    vB = new Float32Array(S),
    pm = new Float32Array(S);
  atNode(K, t0 + K * H, valsB);
  back(valsB, inp.pT, vA, g, rowsPerStep * K);
  V.set(vA, K * S);
  pA.set(inp.pT);
  const cHalf = f32(H / 2),
    cWhole = f32(H),
    cSixth = f32(H / 6),
    cThird = f32(H / 3);
  const plusScaled = (d: Float32Array, c: number) => {
    for (let e = 0; e < S; e++) stage[e] = f32(f32(c * d[e]) + pA[e]);
  };
  for (let m = K; m > 0; m--) {
    const tA = t0 + m * H,
      tm = tA - H / 2;
    // x at the midpoint as the tensor solve's midpoints(): ((x_a + x_b)·½ + (f_a − f_b)·H/8), each op rounded.
    const a = (m - 1) * S,
      b = m * S;
    for (let e = 0; e < S; e++) xm[e] = f32(f32(f32(X[a + e] + X[b + e]) * 0.5) + f32(f32(F[a + e] - F[b + e]) * cMid));
    run.forwardFor(mid ? WANT_BOTH : WANT_STATES, xm, 0, inp.theta(tm), tm, valsM);
    atNode(m - 1, tA - H, valsB);
    plusScaled(vA, cHalf);
    back(valsM, stage, s2);
    plusScaled(s2, cHalf);
    back(valsM, stage, s3);
    plusScaled(s3, cWhole);
    back(valsB, stage, s4);
    for (let e = 0; e < S; e++) {
      let acc = f32(cSixth * vA[e]);
      acc = f32(acc + f32(cThird * s2[e]));
      acc = f32(acc + f32(cThird * s3[e]));
      acc = f32(acc + f32(cSixth * s4[e]));
      pB[e] = f32(acc + pA[e]);
    }
    back(valsB, pB, vB, g, rowsPerStep * (m - 1));
    if (mid) {
      for (let e = 0; e < S; e++) pm[e] = f32(f32(f32(pA[e] + pB[e]) * 0.5) + f32(f32(vA[e] - vB[e]) * cMid));
      back(valsM, pm, undefined, g, 2 * m - 1);
    }
    S4.set(s4, (K - m) * S);
    P.set(pB, (m - 1) * S);
    V.set(vB, (m - 1) * S);
    pA.set(pB);
    vA.set(vB);
  }
  return {
    g: inp.grid ? gridGradient(prog, inp, inp.grid.m, P, V) : g,
    P,
    V,
    estimateError: smoothEstimate(inp, S, P, V, S4),
    p: nodeRows(P, K, S),
  };
}

/**
 * g = pᵀ∂θ f at the m·K + 1 points t0 + jH/m of a coarse solve (reference.ts's gradientOnGrid, the same
 * float32 numbers): x and p by cubic Hermite between the nodes (x' = f, p' = −v), θ constant. Undefined
 * when a node value is not finite (no reference on that grid).
 */
function gridGradient(
  prog: ScalarProgram,
  inp: SmoothAdjointInput,
  m: number,
  P: Float32Array,
  V: Float32Array,
): Float32Array[] | undefined {
  const S = prog.states,
    { K, H, t0, nodes } = inp;
  const { X, F } = nodes;
  const finite = (a: Float32Array) => a.every(Number.isFinite);
  if (!finite(X) || !finite(F) || !finite(P) || !finite(V)) return undefined;
  const run = interpreterOf(prog);
  const L = prog.code.length;
  const vals = new Float64Array(L),
    adj = new Float64Array(L),
    vs = new Float64Array(S),
    vp = new Float64Array(prog.params);
  const x = new Float32Array(S),
    p = new Float32Array(S);
  const theta = Float32Array.from(inp.theta(t0));
  const B = m * K + 1;
  const g = inp.paramSizes.map((n) => new Float32Array(B * n));
  for (let j = 0; j < B; j++) {
    const w = gridHermite(j, m, K, H);
    for (let c = 0, a = w.k * S, b = a + S; c < S; c++, a++, b++) {
      x[c] = hermiteValue(w, X[a], X[b], F[a], F[b], 1);
      p[c] = hermiteValue(w, P[a], P[b], V[a], V[b], -1);
    }
    run.forwardFor(WANT_PARAMS, x, 0, theta, t0, vals);
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, p, vs, vp, adj, WANT_PARAMS);
    let at = 0;
    inp.paramSizes.forEach((n, i) => {
      for (let q = 0; q < n; q++) g[i][j * n + q] = vp[at + q];
      at += n;
    });
  }
  return g;
}

/**
 * The embedded (FSAL) estimate as the tensor solve computes it with TF.js cpu's float32 kernels, per state
 * tensor: d_m = (s4 − v at the new node)·H/6 from T downwards, E its running sum (float32 cumsum),
 * Σ E² and Σ p² (each square rounded, summed in double, rounded once), added over the states in float32.
 */
function smoothEstimate(
  inp: SmoothAdjointInput,
  S: number,
  P: Float32Array,
  V: Float32Array,
  S4: Float32Array,
): number {
  const { K, H } = inp;
  const cSixth = f32(H / 6);
  let num = 0,
    den = 0;
  let at = 0;
  for (const n of inp.stateSizes) {
    const E = new Float32Array(n);
    let sumE = 0,
      sumP = 0;
    for (let r = 0; r < K; r++) {
      // Row r is step m = K − r, whose new node is m − 1.
      const node = K - r - 1;
      for (let c = 0; c < n; c++) {
        const d = f32(f32(S4[r * S + at + c] - V[node * S + at + c]) * cSixth);
        E[c] = f32(E[c] + d);
        sumE += f32(E[c] * E[c]);
        const p = P[node * S + at + c];
        sumP += f32(p * p);
      }
    }
    num = f32(num + f32(sumE));
    den = f32(den + f32(sumP));
    at += n;
  }
  return den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
}

/** The first MAX_PATH_COMPONENTS components of K + 1 rows of S values. */
function nodeRows(values: Float32Array, K: number, S: number): { columns: number; values: Float32Array } {
  const columns = Math.min(MAX_PATH_COMPONENTS, S);
  if (columns === S) return { columns, values };
  const out = new Float32Array((K + 1) * columns);
  for (let k = 0; k <= K; k++) out.set(values.subarray(k * S, k * S + columns), k * columns);
  return { columns, values: out };
}
