// The continuous reference's batched adjoint (engine/batchedAdjoint.ts: small states, no jumps) for a fused
// scalar program, with the program run directly instead of through batched TF.js vector–Jacobian products:
// ∂x f at every node and midpoint by one forward evaluation and d reverse sweeps of the program, and
// g = pᵀ∂θ f there by one more sweep. The numbers are the batched passes' (the same program, its states
// and parameters at the same float32 values, each product rounded to float32 as the passes' tensors
// hold it); the recursion for p is batchedAdjoint's own.
import {
  atPoints,
  interpolateCopies,
  interpWeights,
  recursion,
  type BatchedAdjointResult,
  type PathParameter,
} from '../batchedAdjoint';
import { interpreterOf } from '../programInterpreter';
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
    run.forward(xAt, j * d, theta(j), t0, vals);
    for (let c = 0; c < d; c++) {
      cot.fill(0);
      cot[c] = 1;
      vs.fill(0);
      run.reverse(vals, cot, vs, vp, adj);
      for (let r = 0; r < d; r++) J[(j * d + c) * d + r] = f32(vs[r]);
    }
  }
  const { P, V, estimateError } = recursion(J, inp.pT, K, H, d);
  const Pn = atPoints(P, V, K, H, d);
  const g = inp.params.map((q) => new Float32Array(B * q.size));
  for (let j = 0; j < B; j++) {
    run.forward(xAt, j * d, theta(j), t0, vals);
    for (let c = 0; c < d; c++) cot[c] = f32(Pn[j * d + c]);
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, cot, vs, vp, adj);
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
  return { g, estimateError, p: { columns, values } };
}
