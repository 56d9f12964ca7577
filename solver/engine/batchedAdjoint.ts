// The continuous reference's adjoint solve for small states (docs/engine.md#phases, the continuous reference):
// the same backward RK4 on p' = −(∂x f)ᵀp as the tensor solve, with its work split by what it
// depends on. The Jacobians ∂x f at every node and midpoint depend on the forward solve alone:
// they come from d vector–Jacobian products of the batched model over all those points at once
// (θ(t) interpolated once per point, for every parameter). The recursion for p is then d × d
// matrix–vector products in plain JS (float64), and g = pᵀ∂θ f at the nodes and midpoints one more
// batched vjp.
// A handful of kernels instead of several per step: per-step copies that differ in t (trained
// weights) no longer pay a linearisation per node.
import type { TF, Tensor } from './tf';
import type { CompiledModel } from './compile';
import { MAX_PATH_COMPONENTS, type NodeValues } from './statePath';
import { interpolateCopies, interpWeights } from './copyInterpolation';
import { pairQuadratureDifference } from './timeQuadrature';
import { mlpJacobians, mlpPassesApply, mlpPointGradients, thetaPath, traceFloats } from './fusedMlp/reference';

export { interpolateCopies, interpWeights };

/** Largest total state size solved this way: d vjps over the points cost d batched passes of f. */
export const BATCHED_ADJOINT_MAX_STATES = 8;

/** Floats of an MLP field's forward passes kept between its Jacobians and g (8 MB: the N = 8192 check stays within its memory target); more points compute them twice. */
const KEPT_TRACE_FLOATS = 1 << 21;

/** Floats one batched pass may hold (states, adjoints and parameters at its points); more points go in chunks. */
const BATCH_FLOATS = 1 << 21;

/** What the batched adjoint reads of a reference parameter. */
export interface PathParameter {
  perStep: boolean;
  values: Float32Array;
  shape: number[];
  size: number;
  equalCopies?: boolean;
}

/** The batched adjoint applies: a batched f without explicit t (one t per batch) and a small state. */
export function batchedAdjointApplies(cm: CompiledModel): boolean {
  const d = cm.x0.reduce((a, x) => a + x.size, 0);
  return !!cm.batched && !cm.usesTime && d <= BATCHED_ADJOINT_MAX_STATES;
}

export interface BatchedAdjointInput {
  t0: number;
  K: number;
  H: number;
  /** x and f at the nodes (K + 1 each), per state. */
  X: Tensor[][];
  F: Tensor[][];
  /** p(T) per state. */
  pT: Tensor[];
  params: PathParameter[];
  layerTimes: number[];
  /** An MLP field's forward solve in JS (fusedMlp/reference.ts): x and f at the nodes as arrays, and its θ path (cached at the stage times, which are the midpoints here). */
  mlp?: { X: Float32Array[]; F: Float32Array[]; theta: (tau: number) => Float32Array[] };
  /** The grid is half the usual step: also the pairs' quadrature difference in t (timeQuadrature.ts). */
  pairs?: boolean;
}

export interface BatchedAdjointResult {
  /**
   * g at the nodes and step midpoints t0 + jH/2, per parameter [2K + 1, P] row-major: θ(t) has kinks at
   * the layer times, the nodes, so that ∫ g dt by Simpson needs a point inside every step. Only the rows
   * of gradientRows are computed (the others 0).
   */
  g: Float32Array[];
  /** Embedded (FSAL) estimate of the adjoint's relative error, as the tensor solve's. */
  estimateError: number;
  p: NodeValues;
  /** With `pairs`: the adjoint's pair quadrature difference in t, undivided (timeQuadrature.ts). */
  pairDifference?: number;
}

const padded = (shape: number[]) => (shape.length === 0 ? [1, 1] : shape.length === 1 ? [shape[0], 1] : shape);

/** θ(t) at the given times for every parameter: [b, ...] per-point values (constants once, [1, ...], unless `perPoint`). */
function thetaAt(tf: TF, inp: BatchedAdjointInput, times: number[], perPoint: boolean): Tensor[] {
  const b = times.length;
  return inp.params.map((q) => {
    const P = q.size,
      v = q.values,
      shape = padded(q.shape);
    const constant = !q.perStep || q.equalCopies;
    if (constant && !perPoint) return tf.tensor(v.subarray(0, P), [1, ...shape]);
    const out = new Float32Array(b * P);
    if (constant) for (let j = 0; j < b; j++) out.set(v.subarray(0, P), j * P);
    else times.forEach((t, j) => interpolateCopies(v, P, interpWeights(inp.layerTimes, t), out, j * P));
    return tf.tensor(out, [b, ...shape]);
  });
}

/**
 * x at the 2K + 1 points t0 + jH/2, per state [2K + 1, size] row-major: the nodes, and between them cubic
 * Hermite from x and f at both ends, x(m) = (x_j + x_{j+1})/2 + H/8·(f_j − f_{j+1}) (as the tensor
 * solves take it). Read once: stacking hundreds of tensors of a few values costs more than the passes.
 */
function pointStates(cm: CompiledModel, inp: BatchedAdjointInput): Float32Array[] {
  const { K, H } = inp;
  const mlp = inp.mlp;
  return cm.x0.map((x, si) => {
    const n = x.size,
      out = new Float32Array((2 * K + 1) * n);
    const node = (j: number) => (mlp ? mlp.X[j] : inp.X[j][si].dataSync()),
      slope = (j: number) => (mlp ? mlp.F[j] : inp.F[j][si].dataSync());
    let xa = node(0),
      fa = slope(0);
    out.set(xa, 0);
    for (let j = 0; j < K; j++) {
      const xb = node(j + 1),
        fb = slope(j + 1);
      for (let r = 0; r < n; r++) out[(2 * j + 1) * n + r] = 0.5 * (xa[r] + xb[r]) + (H / 8) * (fa[r] - fb[r]);
      out.set(xb, (2 * j + 2) * n);
      xa = xb;
      fa = fb;
    }
    return out;
  });
}

/** Rows r0 … r0 + b − 1 of per-state point values as batched tensors [b, ...padded]. */
function rowsOf(tf: TF, cm: CompiledModel, values: Float32Array[], r0: number, b: number): Tensor[] {
  return cm.x0.map((x, si) =>
    tf.tensor(values[si].subarray(r0 * x.size, (r0 + b) * x.size), [b, ...padded(cm.stateShapes[si])]),
  );
}

/** Row chunks [r0, r0 + b) of B points, each holding at most BATCH_FLOATS floats at `perPoint` floats a point. */
function chunks(B: number, perPoint: number): [number, number][] {
  const rows = Math.max(1, Math.floor(BATCH_FLOATS / perPoint));
  const out: [number, number][] = [];
  for (let r0 = 0; r0 < B; r0 += rows) out.push([r0, Math.min(rows, B - r0)]);
  return out;
}

/**
 * ∂x f at the 2K + 1 points t0 + jH/2 (nodes even, midpoints odd): J[(j·d + c)·d + r] = ∂f_c/∂x_r,
 * components numbered over all states in order.
 */
function jacobians(tf: TF, cm: CompiledModel, inp: BatchedAdjointInput, xAt: Float32Array[], d: number): Float64Array {
  const { K, H, t0 } = inp;
  const B = 2 * K + 1;
  const J = new Float64Array(B * d * d);
  const sizes = cm.x0.map((x) => x.size);
  const perPoint = inp.params.reduce((a, q) => a + (q.perStep && !q.equalCopies ? q.size : 0), 0) + 2 * d;
  for (const [r0, b] of chunks(B, perPoint)) {
    tf.tidy(() => {
      const xs = rowsOf(tf, cm, xAt, r0, b);
      const thetas = thetaAt(
        tf,
        inp,
        Array.from({ length: b }, (_, k) => t0 + ((r0 + k) * H) / 2),
        false,
      );
      let c = 0;
      cm.x0.forEach((_x, si) => {
        for (let e = 0; e < sizes[si]; e++, c++) {
          const row = c;
          const { value, grads } = tf.engine().gradients(
            () => {
              const f = cm.batched!.rhs(xs, thetas, t0);
              return tf.sum(tf.slice(tf.reshape(f[si], [b, -1]), [0, e], [b, 1]));
            },
            xs,
            undefined,
            true,
          );
          value.dispose();
          let col = 0;
          grads.forEach((g, sj) => {
            const n = sizes[sj];
            if (g) {
              const v = g.dataSync();
              for (let k = 0; k < b; k++)
                for (let r = 0; r < n; r++) J[((r0 + k) * d + row) * d + col + r] = v[k * n + r];
            }
            col += n;
          });
        }
      });
    });
  }
  return J;
}

/**
 * Backward RK4 with step H from T to t0 on p' = −(∂x f)ᵀp, stages at the node, the midpoint (twice)
 * and the next node, and the FSAL embedded estimate Δ_m = H/6·(s4 − (∂x f)ᵀp at the new node).
 * Returns p and v = (∂x f)ᵀp at the nodes t0 … T ([K + 1, d] each) and the estimate.
 */
export function recursion(J: Float64Array, pT: Float64Array, K: number, H: number, d: number) {
  const P = new Float64Array((K + 1) * d),
    V = new Float64Array((K + 1) * d);
  P.set(pT, K * d);
  const jt = (node: number, v: Float64Array, out: Float64Array) => {
    const o = node * d * d;
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += J[o + c * d + r] * v[c];
      out[r] = s;
    }
  };
  const p = Float64Array.from(pT),
    v = new Float64Array(d),
    s2 = new Float64Array(d),
    s3 = new Float64Array(d),
    s4 = new Float64Array(d),
    tmp = new Float64Array(d),
    E = new Float64Array(d);
  let num = 0,
    den = 0;
  jt(2 * K, p, v);
  V.set(v, K * d);
  for (let m = K; m > 0; m--) {
    const mid = 2 * m - 1,
      lower = 2 * m - 2;
    for (let r = 0; r < d; r++) tmp[r] = p[r] + (H / 2) * v[r];
    jt(mid, tmp, s2);
    for (let r = 0; r < d; r++) tmp[r] = p[r] + (H / 2) * s2[r];
    jt(mid, tmp, s3);
    for (let r = 0; r < d; r++) tmp[r] = p[r] + H * s3[r];
    jt(lower, tmp, s4);
    for (let r = 0; r < d; r++) p[r] += (H / 6) * (v[r] + 2 * (s2[r] + s3[r]) + s4[r]);
    jt(lower, p, v);
    for (let r = 0; r < d; r++) {
      E[r] += (H / 6) * (s4[r] - v[r]);
      num += E[r] * E[r];
      den += p[r] * p[r];
    }
    P.set(p, (m - 1) * d);
    V.set(v, (m - 1) * d);
  }
  return { P, V, estimateError: den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0 };
}

/**
 * p at the 2K + 1 points t0 + jH/2: the nodes, and between them cubic Hermite with p' = −v,
 * p(m) = (p_j + p_{j+1})/2 + H/8·(v_{j+1} − v_j).
 */
export function atPoints(P: Float64Array, V: Float64Array, K: number, H: number, d: number): Float64Array {
  const out = new Float64Array((2 * K + 1) * d);
  for (let j = 0; j <= K; j++)
    for (let r = 0; r < d; r++) {
      out[2 * j * d + r] = P[j * d + r];
      if (j < K)
        out[(2 * j + 1) * d + r] =
          (P[j * d + r] + P[(j + 1) * d + r]) / 2 + (H / 8) * (V[(j + 1) * d + r] - V[j * d + r]);
    }
  return out;
}

/**
 * Which of the gK + 1 rows t0 + j·gH of g the reference reads: undefined (every row) when a parameter is
 * shared (∫ g dt by Simpson), else the rows at the layer times (engine/reference.ts perStepGradient: the
 * row at or below each, and the one above when the time lies between them).
 */
export function layerRows(
  t0: number,
  gK: number,
  gH: number,
  params: { perStep: boolean }[],
  layerTimes: number[],
): Uint8Array | undefined {
  if (params.some((q) => !q.perStep)) return undefined;
  const wanted = new Uint8Array(gK + 1);
  for (const tn of layerTimes) {
    const x = (tn - t0) / gH;
    const j0 = Math.max(0, Math.min(gK - 1, Math.floor(x + 1e-9)));
    wanted[j0] = 1;
    if (x - j0 >= 1e-9) wanted[j0 + 1] = 1;
  }
  return wanted;
}

/** The rows of the 2K + 1 points t0 + jH/2 whose g the reference reads (layerRows), ascending. */
export function gradientRows(inp: Pick<BatchedAdjointInput, 't0' | 'K' | 'H' | 'params' | 'layerTimes'>): number[] {
  const B = 2 * inp.K + 1;
  const wanted = layerRows(inp.t0, 2 * inp.K, inp.H / 2, inp.params, inp.layerTimes);
  const rows: number[] = [];
  for (let j = 0; j < B; j++) if (!wanted || wanted[j]) rows.push(j);
  return rows;
}

/** g = pᵀ∂θ f at the given rows of the nodes and midpoints, by a batched vjp with θ per point; per parameter [2K + 1, P] (other rows 0). */
function pointGradients(
  tf: TF,
  cm: CompiledModel,
  inp: BatchedAdjointInput,
  xAt: Float32Array[],
  Pn: Float64Array,
  d: number,
  rows: number[],
) {
  const { K, H, t0 } = inp;
  const B = 2 * K + 1;
  const g = inp.params.map((q) => new Float32Array(B * q.size));
  const perPoint = inp.params.reduce((a, q) => a + 2 * q.size, 0) + 2 * d;
  for (const [r0, b] of chunks(rows.length, perPoint)) {
    const at = rows.slice(r0, r0 + b);
    tf.tidy(() => {
      const xs = cm.x0.map((x, si) => {
        const n = x.size,
          v = new Float32Array(b * n);
        at.forEach((j, k) => v.set(xAt[si].subarray(j * n, (j + 1) * n), k * n));
        return tf.tensor(v, [b, ...padded(cm.stateShapes[si])]);
      });
      let col = 0;
      const ps = cm.x0.map((x, si) => {
        const n = x.size,
          v = new Float32Array(b * n);
        at.forEach((j, k) => {
          for (let r = 0; r < n; r++) v[k * n + r] = Pn[j * d + col + r];
        });
        col += n;
        return tf.tensor(v, [b, ...padded(cm.stateShapes[si])]);
      });
      const thetas = thetaAt(
        tf,
        inp,
        at.map((j) => t0 + (j * H) / 2),
        true,
      );
      const { value, grads } = tf.engine().gradients(
        () => {
          const f = cm.batched!.rhs(xs, thetas, t0);
          return tf.addN(f.map((fk, k) => tf.sum(tf.mul(fk, ps[k]))));
        },
        thetas,
        undefined,
        true,
      );
      value.dispose();
      grads.forEach((gr, i) => {
        if (!gr) return;
        const v = gr.dataSync() as Float32Array,
          P = inp.params[i].size;
        at.forEach((j, k) => g[i].set(v.subarray(k * P, (k + 1) * P), j * P));
      });
    });
  }
  return g;
}

/** The adjoint and g at the nodes of the usual grid (no observation jumps), in batched passes and a JS recursion. */
export function batchedAdjoint(tf: TF, cm: CompiledModel, inp: BatchedAdjointInput): BatchedAdjointResult {
  const d = cm.x0.reduce((a, x) => a + x.size, 0);
  const pT = new Float64Array(d);
  let o = 0;
  for (const t of inp.pT) {
    pT.set(t.dataSync(), o);
    o += t.size;
  }
  const xAt = pointStates(cm, inp);
  // An MLP field evaluated as one op: both batched passes in plain JS (fusedMlp/reference.ts).
  const mlp =
    cm.mlp && cm.mlp.owner === cm.rhs && cm.x0.length === 1 && mlpPassesApply(cm.mlp.field, cm.x0[0].shape, inp.params)
      ? cm.mlp.field
      : undefined;
  const times = Array.from({ length: 2 * inp.K + 1 }, (_, j) => inp.t0 + (j * inp.H) / 2);
  // The forward solve's θ path when it ran in JS: the midpoints here are its stages' times, already interpolated.
  const theta = mlp && (inp.mlp?.theta ?? thetaPath(inp.params, inp.layerTimes, inp.H, inp.t0, false));
  // The points' forward passes serve both passes when they fit in KEPT_TRACE_FLOATS.
  const traces = mlp && times.length * traceFloats(mlp) <= KEPT_TRACE_FLOATS ? [] : undefined;
  const J = mlp && theta ? mlpJacobians(mlp, xAt[0], times, theta, traces) : jacobians(tf, cm, inp, xAt, d);
  const { P, V, estimateError } = recursion(J, pT, inp.K, inp.H, d);
  const pAt = atPoints(P, V, inp.K, inp.H, d);
  // Per-step parameters alone read g at their layer times only: a quarter of the points on half the step.
  const rows = gradientRows(inp);
  const g =
    mlp && theta
      ? mlpPointGradients(mlp, inp.params, xAt[0], Float32Array.from(pAt), times, theta, traces, rows)
      : pointGradients(tf, cm, inp, xAt, pAt, d, rows);
  const columns = Math.min(MAX_PATH_COMPONENTS, d);
  const values = new Float32Array((inp.K + 1) * columns);
  for (let j = 0; j <= inp.K; j++) for (let c = 0; c < columns; c++) values[j * columns + c] = P[j * d + c];
  return {
    g,
    estimateError,
    p: { columns, values },
    ...(inp.pairs ? { pairDifference: adjointPairs(P, V, inp.K, inp.H, d) } : {}),
  };
}

/** The adjoint's pair quadrature difference in t from p and v = (∂x f)ᵀp at the nodes ([K + 1, d] each). */
export function adjointPairs(
  P: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> },
  V: typeof P,
  K: number,
  H: number,
  d: number,
): number {
  return pairQuadratureDifference(
    (k) => P.subarray(k * d, (k + 1) * d),
    (k) => V.subarray(k * d, (k + 1) * d),
    K,
    H,
    d,
    true,
  );
}
