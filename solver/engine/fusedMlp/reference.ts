// The continuous reference's passes for an MLP field in plain JS (engine/reference.ts and
// batchedAdjoint.ts call them when the field is one): the forward RK4 solve, the Jacobians ∂x f and
// g = pᵀ∂θ f at the points of the batched adjoint. The tensor solves spend their time in TF.js's
// per-op bookkeeping (four evaluations of f and four combinations a step, each an op), not in the
// arithmetic. The forward solve is the tensor solve's own float32 arithmetic (field.ts' evaluation,
// linearCombination.ts' sums, θ(t) as parameterPath interpolates it), so X, F and the stages are the
// tensor solve's bit for bit (test/unit/fusedMlpReference.test.ts); the Jacobians and g agree with
// the batched vjps to float32 rounding.
import type { MlpField } from './recognise';
import { backward, forward, forwardValue, linearise } from './field';
import { ACTIVATIONS } from './activations';
import { productValues } from '../matrixProduct';
import { interpolateCopies, interpWeights } from '../copyInterpolation';
import { gridHermite, hermiteValue } from '../hermite';
import { pairQuadratureDifference } from '../timeQuadrature';

type Data = Float32Array;
type Trace = ReturnType<typeof forward>['trace'];

/** Values of the forward passes at a point kept for its second pass: each point's layer inputs and outputs. */
export function traceFloats(field: MlpField): number {
  return field.layers.reduce((a, l, k) => a + l.out + (k === 0 ? field.size : field.layers[k - 1].out), 0);
}

/** What the passes read of a reference parameter (engine/reference.ts: ReferenceInput['params']). */
export interface MlpPathParameter {
  perStep: boolean;
  values: Float32Array;
  shape: number[];
  size: number;
  equalCopies?: boolean;
}

/**
 * The field's layers take these parameters as field.ts does (fieldOp's shapes: W [out, in], b [out, 1]),
 * and the state is [d, 1]: else the tensor solves evaluate f per operation and these passes do not apply.
 */
export function mlpPassesApply(field: MlpField, stateShape: number[], params: MlpPathParameter[]): boolean {
  if (stateShape.length !== 2 || stateShape[0] !== field.size || stateShape[1] !== 1) return false;
  let n = field.size;
  for (const l of field.layers) {
    const w = params[l.weight]?.shape,
      b = l.bias === undefined ? undefined : params[l.bias]?.shape;
    if (!w || w.length !== 2 || w[0] !== l.out || w[1] !== n) return false;
    if (l.bias !== undefined && (!b || b.length !== 2 || b[0] !== l.out || b[1] !== 1)) return false;
    n = l.out;
  }
  return true;
}

/** Σ c_j v_j with linearCombination.ts' rounding (c_j as float32, each product and partial sum rounded). */
function combine(terms: [Data, number][]): Data {
  const f32 = Math.fround;
  const vs = terms.map(([v]) => v),
    cs = terms.map(([, c]) => f32(c));
  const out = new Float32Array(vs[0].length);
  for (let e = 0; e < out.length; e++) {
    let acc = f32(cs[0] * vs[0][e]);
    for (let j = 1; j < vs.length; j++) acc = f32(acc + f32(cs[j] * vs[j][e]));
    out[e] = acc;
  }
  return out;
}

/**
 * θ(τ) per parameter as parameterPath (engine/reference.ts) gives it: constants once; per-step copies
 * interpolated at the h/8 grid's time when τ is on it (cached), else at τ. `onGrid` false: always at τ
 * (as batchedAdjoint.ts interpolates). `stride` (in h/8): a solve's points are that far apart, and a
 * miss fills every such point between the same two copies at once (one pass over them instead of one per
 * point). `keep` > 0: at most that many points stay cached, the oldest one's buffers reused for the next (its
 * callers use a point's values before asking for more than a few others).
 */
export function thetaPath(
  params: MlpPathParameter[],
  layerTimes: number[],
  h: number,
  t0: number,
  onGrid = true,
  stride = 0,
  keep = 0,
): (tau: number) => Data[] {
  const dt8 = h / 8;
  const constant = params.map((p) =>
    !p.perStep ? p.values : equalCopies(p, layerTimes.length) ? p.values.subarray(0, p.size) : undefined,
  );
  // The cached values live in slabs of at least SLAB_FLOATS: one buffer per slab, not per point and parameter
  // (tens of thousands of small buffers at N = 8192, each tracked by the garbage collector).
  let slab = new Float32Array(0),
    used = 0;
  // With `keep`: the buffers of points no longer cached, per parameter.
  const free: Data[][] = params.map(() => []),
    mine = new WeakSet<Data>();
  const take = (i: number): Data => {
    const n = params[i].size;
    const reused = free[i].pop();
    if (reused) return reused;
    if (used + n > slab.length) {
      slab = new Float32Array(Math.max(n, SLAB_FLOATS));
      used = 0;
    }
    used += n;
    const out = slab.subarray(used - n, used);
    mine.add(out);
    return out;
  };
  const at = (i: number, t: number): Data => {
    const p = params[i],
      w = interpWeights(layerTimes, t);
    // At a layer time θ is that copy itself (interpolateCopies copies it): a view, no copy.
    if (w[2] === 0) return p.values.subarray(w[0] * p.size, (w[0] + 1) * p.size);
    const out = take(i);
    interpolateCopies(p.values, p.size, w, out, 0);
    return out;
  };
  const cache = new Map<number, Data[]>();
  const store = (r: number, theta: Data[]) => {
    cache.set(r, theta);
    if (keep > 0 && cache.size > keep) {
      // The least recently asked point (first in the Map's order) gives its buffers back; a copy's own view stays its.
      const [oldest, values] = cache.entries().next().value as [number, Data[]];
      cache.delete(oldest);
      values.forEach((v, i) => {
        if (mine.has(v)) free[i].push(v);
      });
    }
  };
  /**
   * Grid points r + k·stride between the same two copies as r (a solve's nodes and midpoints inside one
   * layer interval), not cached yet: filled in one pass over the two copies, each point's values as `at`
   * computes them.
   */
  const fill = (r: number): Data[] => {
    const base = interpWeights(layerTimes, t0 + r * dt8);
    const rs: number[] = [],
      ws: number[] = [];
    if (stride > 0 && base[2] > 0 && base[2] < 1)
      for (let q = r - stride * Math.floor(8 / stride); q <= r + 8; q += stride) {
        const w = interpWeights(layerTimes, t0 + q * dt8);
        if (q >= 0 && w[0] === base[0] && w[2] > 0 && w[2] < 1 && (q === r || !cache.has(q))) {
          rs.push(q);
          ws.push(w[2]);
        }
      }
    if (rs.length <= 1) {
      const hit = params.map((_p, i) => constant[i] ?? at(i, t0 + r * dt8));
      store(r, hit);
      return hit;
    }
    const rows = rs.map(() => params.map((_p, i) => constant[i] as Data));
    params.forEach((p, i) => {
      if (constant[i]) return;
      const outs = rs.map(() => take(i));
      interpolateMany(p.values, p.size, base[0], base[1], ws, outs);
      outs.forEach((o, k) => {
        rows[k][i] = o;
      });
    });
    // The point asked for stored last: a bounded cache gives the others back first.
    const self = rs.indexOf(r);
    rs.forEach((q, k) => {
      if (k !== self) store(q, rows[k]);
    });
    store(r, rows[self]);
    return rows[self];
  };
  return (tau) => {
    const j = (tau - t0) / dt8,
      r = Math.round(j);
    if (onGrid && Math.abs(j - r) < 1e-6 && r >= 0) {
      const hit = cache.get(r);
      if (!hit) return fill(r);
      // A bounded cache drops the least recently asked point: one handed out again is the newest, so the next
      // fills (at most one layer interval's points) do not give its buffers to others while a step still holds it.
      if (keep > 0) {
        cache.delete(r);
        cache.set(r, hit);
      }
      return hit;
    }
    return params.map((_p, i) => constant[i] ?? at(i, tau));
  };
}

/**
 * interpolateCopies at several weights between the same copies a and b: out_j = (1 − w_j)·a + w_j·b, each
 * value the same double expression rounded once, in one pass over a and b (they stream from memory).
 */
function interpolateMany(v: Data, P: number, a: number, b: number, ws: number[], outs: Data[]): void {
  const oa = a * P,
    ob = b * P;
  if (ws.length === 3) {
    const [w0, w1, w2] = ws,
      [u0, u1, u2] = ws.map((w) => 1 - w),
      [o0, o1, o2] = outs;
    for (let k = 0; k < P; k++) {
      const x = v[oa + k],
        y = v[ob + k];
      o0[k] = u0 * x + w0 * y;
      o1[k] = u1 * x + w1 * y;
      o2[k] = u2 * x + w2 * y;
    }
    return;
  }
  ws.forEach((w, j) => {
    const u = 1 - w,
      out = outs[j];
    for (let k = 0; k < P; k++) out[k] = u * v[oa + k] + w * v[ob + k];
  });
}

/** Floats of one slab of thetaPath's cached values (1 MB). */
const SLAB_FLOATS = 1 << 18;

/** All copies equal (engine/reference.ts equalCopies): θ(t) is then the first copy itself, not an interpolation. */
function equalCopies(p: MlpPathParameter, copies: number): boolean {
  if (p.equalCopies !== undefined) return p.equalCopies;
  const P = p.size,
    v = p.values;
  for (let n = 1; n < copies; n++) for (let k = 0, o = n * P; k < P; k++) if (v[o + k] !== v[k]) return false;
  return true;
}

function layerData(field: MlpField, theta: Data[]): { W: Data[]; B: (Data | undefined)[] } {
  return {
    W: field.layers.map((l) => theta[l.weight]),
    B: field.layers.map((l) => (l.bias === undefined ? undefined : theta[l.bias])),
  };
}

/** f(x) at θ, as fieldOp computes it. */
export function mlpField(field: MlpField, x: Data, theta: Data[]): Data {
  const { W, B } = layerData(field, theta);
  return forward(field, x, W, B).y;
}

/**
 * Classic RK4 with step H from x0 (engine/reference.ts forwardRk4's stages and combinations): X[k] at
 * t0 + kH, F[k] = f(X[k]) (K + 1 of each), and each step's last stage K4[k]; with `keepTraces`, the forward
 * pass of each F[k] (the adjoint linearises f at the nodes again: mlpSmoothAdjoint). At its first node that is not
 * finite (`blownAt`) it stops, as engine/scalarKernel/referenceRk4.ts does: X ends there, F and K4 a step before.
 */
export function mlpForwardRk4(
  field: MlpField,
  x0: Data,
  K: number,
  H: number,
  t0: number,
  theta: (tau: number) => Data[],
  keepTraces = false,
): { X: Data[]; F: Data[]; K4: Data[]; traces?: Trace[]; blownAt?: number } {
  // The stages' layer values in buffers of their own, reused from stage to stage (no trace is kept of them).
  const scratch: Data[] = [];
  const f = (x: Data, tau: number) => {
    const { W, B } = layerData(field, theta(tau));
    return forwardValue(field, x, W, B, scratch);
  };
  const traces: Trace[] | undefined = keepTraces ? [] : undefined;
  const atNode = (x: Data, tau: number): Data => {
    if (!traces) return f(x, tau);
    const { W, B } = layerData(field, theta(tau));
    const r = forward(field, x, W, B);
    traces.push(r.trace);
    return r.y;
  };
  const X: Data[] = [x0],
    F: Data[] = [],
    K4: Data[] = [];
  for (let k = 0; k < K; k++) {
    const x = X[k],
      tk = t0 + k * H;
    const k1 = atNode(x, tk);
    const k2 = f(
      combine([
        [k1, H / 2],
        [x, 1],
      ]),
      tk + H / 2,
    );
    const k3 = f(
      combine([
        [k2, H / 2],
        [x, 1],
      ]),
      tk + H / 2,
    );
    const k4 = f(
      combine([
        [k3, H],
        [x, 1],
      ]),
      tk + H,
    );
    X.push(
      combine([
        [k1, H / 6],
        [k2, H / 3],
        [k3, H / 3],
        [k4, H / 6],
        [x, 1],
      ]),
    );
    F.push(k1);
    K4.push(k4);
    if (!X[k + 1].every(Number.isFinite)) return { X, F, K4, blownAt: k + 1, ...(traces ? { traces } : {}) };
  }
  F.push(atNode(X[K], t0 + K * H));
  return { X, F, K4, ...(traces ? { traces } : {}) };
}

/** What an MLP field's forward solve in JS hands its adjoint: the θ path (its cache) and the nodes' forward passes. */
export interface MlpForwardPasses {
  theta: (tau: number) => Data[];
  nodeTraces?: Trace[];
}

/** (∂x f)ᵀ dy through the layers (field.ts' backward without the parameters' gradients). */
function inputVjp(field: MlpField, trace: ReturnType<typeof forward>['trace'], W: Data[], dy: Data): Data {
  let dz = dy;
  for (let k = field.layers.length - 1; k >= 0; k--) {
    const m = field.layers[k].out,
      n = k === 0 ? field.size : field.layers[k - 1].out;
    const da = productValues(W[k], [m, n], dz, [m, 1], true, false)!.values;
    if (k === 0) return da;
    const below = field.layers[k - 1];
    const act = below.activation && ACTIVATIONS[below.activation];
    if (act) {
      const z = trace.z[k - 1],
        a = trace.inputs[k];
      for (let i = 0; i < n; i++) da[i] = act.back(da[i], z[i], a[i]);
    }
    dz = da;
  }
  return dz;
}

/**
 * ∂x f at B points (states xAt [B, d] row-major, θ at `times`): J[(j·d + c)·d + r] = ∂f_c/∂x_r, as
 * batchedAdjoint.ts' jacobians lays it out.
 */
export function mlpJacobians(
  field: MlpField,
  xAt: Data,
  times: number[],
  theta: (t: number) => Data[],
  keep?: Trace[],
): Float64Array {
  const d = field.size,
    B = times.length;
  const J = new Float64Array(B * d * d);
  const unit = new Float32Array(d);
  for (let j = 0; j < B; j++) {
    const { W, B: b } = layerData(field, theta(times[j]));
    const { trace } = forward(field, xAt.subarray(j * d, (j + 1) * d), W, b);
    if (keep) keep[j] = trace;
    for (let c = 0; c < d; c++) {
      unit.fill(0);
      unit[c] = 1;
      const row = inputVjp(field, trace, W, unit);
      for (let r = 0; r < d; r++) J[(j * d + c) * d + r] = row[r];
    }
  }
  return J;
}

/**
 * g = pᵀ∂θ f at B points (states xAt and adjoints p [B, d] row-major, θ at `times`), per parameter
 * [B, P] row-major; a parameter the field does not read gets zeros. `rows`: only those points (the others 0).
 */
export function mlpPointGradients(
  field: MlpField,
  params: MlpPathParameter[],
  xAt: Data,
  p: Data,
  times: number[],
  theta: (t: number) => Data[],
  traces?: Trace[],
  rows?: number[],
): Data[] {
  const d = field.size,
    B = times.length;
  const g = params.map((q) => new Float32Array(B * q.size));
  for (const j of rows ?? times.keys()) {
    const { W, B: b } = layerData(field, theta(times[j]));
    // The same point as mlpJacobians': its forward pass when kept.
    const trace = traces?.[j] ?? forward(field, xAt.subarray(j * d, (j + 1) * d), W, b).trace;
    const into = {
      W: field.layers.map((l) => g[l.weight].subarray(j * params[l.weight].size, (j + 1) * params[l.weight].size)),
      b: field.layers.map((l) =>
        l.bias === undefined ? undefined : g[l.bias].subarray(j * params[l.bias].size, (j + 1) * params[l.bias].size),
      ),
    };
    backward(field, trace, W, p.subarray(j * d, (j + 1) * d), into);
  }
  return g;
}

export interface MlpAdjointInput {
  params: MlpPathParameter[];
  layerTimes: number[];
  h: number;
  t0: number;
  K: number;
  H: number;
  /** x and f at the nodes t0 … T (the forward solve's). */
  X: Data[];
  F: Data[];
  /** p(T) = ∂ℓ/∂x(T). */
  pT: Data;
  /** g also at the step midpoints (∫ g dt of a shared parameter across kinks of θ(t)). */
  mid: boolean;
  /** Components of p kept per node for the plots (statePath.ts' MAX_PATH_COMPONENTS). */
  columns: number;
  /** The forward solve's θ path and node passes on the same grid (mlpForwardRk4): read, not computed again. */
  passes?: MlpForwardPasses;
  /** A coarse solve (θ constant): no g at the nodes; p and v = (∂x f)ᵀp at every node returned for mlpGridGradients. */
  grid?: boolean;
  /** g only at the rows marked (the others 0): the layer times of per-step parameters (batchedAdjoint.ts layerRows). */
  rows?: Uint8Array;
  /** The grid is half the usual step: also the adjoint's pair quadrature difference in t (timeQuadrature.ts). */
  pairs?: boolean;
}

/**
 * The adjoint on the usual grid without jumps (engine/reference.ts backwardSmooth's steps, in plain JS):
 * backward RK4 on p' = −(∂x f)ᵀp with f linearised once per node and midpoint, g = pᵀ∂θ f at the nodes
 * (and midpoints), the embedded FSAL estimate. The stage combinations and x, p at the midpoints round
 * as the tensor solve's ops; the products are field.ts' (the per-operation gradients' arithmetic).
 * g per parameter: rows in increasing time, nodes (and midpoints between them).
 */
export function mlpSmoothAdjoint(
  field: MlpField,
  inp: MlpAdjointInput,
): {
  g: Data[];
  estimateError: number;
  p: { columns: number; values: Float32Array };
  /** With `grid`: p and v at the nodes t0 … T. */
  nodes?: { P: Data[]; V: Data[] };
  /** With `rows` (and no `mid`): g holds the marked rows alone, in order; a row's place there (−1 unmarked). */
  slots?: Int32Array;
  /** With `pairs`: the pair quadrature difference in t, undivided. */
  pairDifference?: number;
} {
  const f32 = Math.fround;
  const { K, H, t0, X, F, mid, params, grid } = inp;
  const d = field.size;
  const theta = inp.passes?.theta ?? thetaPath(params, inp.layerTimes, inp.h, t0);
  const nodeTraces = inp.passes?.nodeTraces;
  const eighth = f32(H / 8);
  /** a + b·0.5 … as midpoints()/smoothStep round it: ((a + b)·½) + ((c − e)·H/8), each op in float32. */
  const hermiteMid = (a: Data, b: Data, c: Data, e: Data): Data => {
    const out = new Float32Array(d);
    for (let r = 0; r < d; r++) out[r] = f32(f32(f32(a[r] + b[r]) * 0.5) + f32(f32(c[r] - e[r]) * eighth));
    return out;
  };
  const lin = (x: Data, t: number) => {
    const { W, B } = layerData(field, theta(t));
    // The vjps there read the layers' inputs and hidden z, not f itself: its last product is left out.
    return { W, trace: linearise(field, x, W, B) };
  };
  /** At node k: the forward solve's own pass when kept (the same x and θ: the same values). */
  const linNode = (k: number) =>
    nodeTraces?.[k] ? { W: layerData(field, theta(t0 + k * H)).W, trace: nodeTraces[k] } : lin(X[k], t0 + k * H);
  const vx = (L: ReturnType<typeof lin>, p: Data) => inputVjp(field, L.trace, L.W, p);
  const rows = grid ? 0 : mid ? 2 * K + 1 : K + 1,
    step = mid ? 2 : 1;
  // The marked rows alone are stored (on half the step every other node): the output's size, not twice it.
  let slots: Int32Array | undefined;
  let stored = rows;
  if (inp.rows && !grid && !mid) {
    slots = new Int32Array(rows).fill(-1);
    stored = 0;
    for (let j = 0; j < rows; j++) if (inp.rows[j]) slots[j] = stored++;
  }
  const g = params.map((q) => new Float32Array(stored * q.size));
  // Each row of g receives one node's products: written, not added to its zeros, unless two layers share a parameter.
  const used = field.layers.flatMap((l) => (l.bias === undefined ? [l.weight] : [l.weight, l.bias]));
  const ownParameters = new Set(used).size === used.length;
  /** g = ∂θfᵀp at row j (into g), and (∂x f)ᵀp; on a coarse grid (∂x f)ᵀp alone. */
  const both = (L: ReturnType<typeof lin>, p: Data, j: number): Data => {
    if (grid || (inp.rows && !inp.rows[j])) return vx(L, p);
    const at = slots ? slots[j] : j;
    const into = {
      W: field.layers.map((l) => g[l.weight].subarray(at * params[l.weight].size, (at + 1) * params[l.weight].size)),
      b: field.layers.map((l) =>
        l.bias === undefined ? undefined : g[l.bias].subarray(at * params[l.bias].size, (at + 1) * params[l.bias].size),
      ),
      zeros: ownParameters,
    };
    return backward(field, L.trace, L.W, p, into).dx;
  };
  const Pn: Data[] = new Array(K + 1),
    Vn: Data[] = new Array(K + 1);
  Pn[K] = inp.pT;
  let pA = inp.pT;
  let vA = both(linNode(K), pA, K * step);
  Vn[K] = vA;
  // Embedded estimate: E runs over the steps from T down (Δ_m = H/6·(s4 − v at the new node)), against p there.
  const E = new Float64Array(d);
  let num = 0,
    den = 0;
  const sixth = f32(H / 6);
  for (let m = K; m > 0; m--) {
    const tm = t0 + m * H - H / 2;
    const Lm = lin(hermiteMid(X[m - 1], X[m], F[m - 1], F[m]), tm),
      LB = linNode(m - 1);
    const s2 = vx(
      Lm,
      combine([
        [vA, H / 2],
        [pA, 1],
      ]),
    );
    const s3 = vx(
      Lm,
      combine([
        [s2, H / 2],
        [pA, 1],
      ]),
    );
    const s4 = vx(
      LB,
      combine([
        [s3, H],
        [pA, 1],
      ]),
    );
    const pB = combine([
      [vA, H / 6],
      [s2, H / 3],
      [s3, H / 3],
      [s4, H / 6],
      [pA, 1],
    ]);
    const vB = both(LB, pB, (m - 1) * step);
    if (mid) {
      const row = 2 * m - 1;
      backward(field, Lm.trace, Lm.W, hermiteMid(pA, pB, vA, vB), {
        W: field.layers.map((l) =>
          g[l.weight].subarray(row * params[l.weight].size, (row + 1) * params[l.weight].size),
        ),
        b: field.layers.map((l) =>
          l.bias === undefined
            ? undefined
            : g[l.bias].subarray(row * params[l.bias].size, (row + 1) * params[l.bias].size),
        ),
      });
    }
    for (let r = 0; r < d; r++) {
      E[r] += f32(f32(s4[r] - vB[r]) * sixth);
      num += E[r] * E[r];
      den += pB[r] * pB[r];
    }
    Pn[m - 1] = pB;
    Vn[m - 1] = vB;
    pA = pB;
    vA = vB;
  }
  const columns = inp.columns;
  const values = new Float32Array((K + 1) * columns);
  for (let j = 0; j <= K; j++) values.set(Pn[j].subarray(0, columns), j * columns);
  return {
    g,
    estimateError: den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0,
    p: { columns, values },
    ...(grid ? { nodes: { P: Pn, V: Vn } } : {}),
    ...(slots ? { slots } : {}),
    ...(inp.pairs
      ? {
          pairDifference: pairQuadratureDifference(
            (k) => Pn[k],
            (k) => Vn[k],
            K,
            H,
            d,
            true,
          ),
        }
      : {}),
  };
}

/**
 * g = pᵀ∂θ f at the m·K + 1 points t0 + j·H/m of a coarse solve with θ constant (tied copies; engine/reference.ts
 * gradientOnGrid in plain JS): x and p by cubic Hermite between the K + 1 nodes from x, f = x' and p, v = −p'
 * there, with gradientOnGrid's float32 weights. Per parameter [m·K + 1, P] row-major.
 */
export function mlpGridGradients(
  field: MlpField,
  params: MlpPathParameter[],
  H: number,
  m: number,
  X: Data[],
  F: Data[],
  P: Data[],
  V: Data[],
): Data[] {
  const K = X.length - 1,
    B = m * K + 1,
    d = field.size;
  const theta = params.map((q) => q.values.subarray(0, q.size));
  const { W, B: bias } = layerData(field, theta);
  const g = params.map((q) => new Float32Array(B * q.size));
  const x = new Float32Array(d),
    p = new Float32Array(d);
  for (let j = 0; j < B; j++) {
    const w = gridHermite(j, m, K, H),
      k = w.k;
    for (let r = 0; r < d; r++) {
      x[r] = hermiteValue(w, X[k][r], X[k + 1][r], F[k][r], F[k + 1][r], 1);
      p[r] = hermiteValue(w, P[k][r], P[k + 1][r], V[k][r], V[k + 1][r], -1);
    }
    const { trace } = forward(field, x, W, bias);
    backward(field, trace, W, p, {
      W: field.layers.map((l) => g[l.weight].subarray(j * params[l.weight].size, (j + 1) * params[l.weight].size)),
      b: field.layers.map((l) =>
        l.bias === undefined ? undefined : g[l.bias].subarray(j * params[l.bias].size, (j + 1) * params[l.bias].size),
      ),
    });
  }
  return g;
}
