// The Volterra solve (engine/volterraSolve.ts's scheme: XPPAUT's implicit trapezoid step with product
// integration over the stored history) as one differentiable TF.js op whose forward and adjoint run in
// plain JS over typed arrays, from the model's fused programs (engine/volterraProgram.ts). The per-operation
// solve spends a TF.js kernel per operation, a few hundred a step times the corrections, all on the AD tape;
// here a solve is one op and its memory O(N·(states + integrals)) numbers.
//
// Same semantics as the per-operation solve, operation for operation in float32: XPPAUT's weights times
// the tabulated kernel, the vmaxpts window, the predictor, at least MIN_CORRECTIONS and at most
// MAX_CORRECTIONS fixed-point corrections stopped by the same test on the float32 states, f at t_n reading
// the integrals as they stood at the end of the previous step.
//
// The adjoint is the discrete one of the corrections as taken (not the implicit-function VJP of the
// converged step): it is the exact derivative of the computation the forward performs, so AD agrees
// with finite differences of the same discrete solve and with the per-operation path's AD (which also
// differentiates the corrections taken), and it stays exact when a step stops unconverged at
// MAX_CORRECTIONS, where the implicit-function VJP would be the gradient of a fixed point never reached.
// Its cost is one recomputation of the step from the stored x_n and a VJP per correction, the same
// order as the fixed-point iteration the implicit-function VJP needs. The reverse sweep runs over the
// steps backward; a history point's cotangent is complete when the sweep reaches it, since only later
// steps' sums read it.
import type { Tensor, TF } from './tf';
import type { Scheme } from '../schemes/schemes';
import { interpreterOf, type Interpreter } from './programInterpreter';
import type { VolterraProgram } from './volterraProgram';
import { middleWeight, newestWeight, oldestWeight } from './volterra';
import { collectCopies } from './scalarKernel/solve';
import { lazySteps, rowStates } from './lazySteps';

const f32 = Math.fround;

/** Fixed-point corrections of the implicit trapezoid step: at least, at most, and the change that stops them. */
export const MIN_CORRECTIONS = 2;
export const MAX_CORRECTIONS = 10;
export const CORRECTION_TOLERANCE = 1e-6;

/** A step whose corrections did not settle (the first of a solve) and how many did not. */
export interface Unconverged {
  step: number;
  time: number;
  /** The last correction's largest change, relative above 1. */
  change: number;
  steps: number;
}

/** Parameters of one copy (engine/integrate.ts's ParamsFor). */
type ParamsFor = (copy: number) => Tensor[];

/** One solve's settings and scratch: the programs' interpreters, tables, weights and per-correction values. */
class Workspace {
  readonly rhs: Interpreter;
  readonly g: Interpreter;
  readonly hist?: Interpreter;
  readonly ker?: Interpreter;
  readonly tau?: Interpreter;
  readonly S: number;
  readonly K: number;
  /** Delays read by f. */
  readonly J: number;
  readonly D: number;
  readonly Q: number;
  /** Points a sum reads back, table length (lags 0..Lt−1). */
  readonly M: number;
  readonly Lt: number;
  readonly h32: number;
  readonly half: number;
  /** Per integral: c at each lag (float32 values), weight·c of a middle point at each lag, of the newest. */
  readonly c: Float64Array[];
  readonly mid: Float64Array[];
  readonly newest: Float64Array;
  /** The weights alone as they multiply c (a middle point's at each lag, the newest's): c's derivatives. */
  readonly rawMid: Float64Array[];
  readonly rawNewest: Float64Array;
  /** Scratch: the rhs input [x, I, delays], the integrand input [x, t'], values per evaluation slot. */
  readonly inR: Float64Array;
  readonly inG: Float64Array;
  /** f's values per slot (0: f at t_n or t0, c: correction c), and its delays' tau values and reads. */
  readonly valsF: Float64Array[];
  readonly valsT: Float64Array[];
  /** Per slot and delay: the grid row read (or of the interpolation's left end), −1 for the states themselves. */
  readonly readRow: Int32Array;
  /** Per slot and delay: the interpolation weight, or NaN for a single row. */
  readonly readWeight: Float64Array;
  readonly valsG: Float64Array[];
  readonly valsH: Float64Array;
  readonly adjR: Float64Array;
  readonly adjG: Float64Array;
  readonly adjH: Float64Array;
  readonly adjT: Float64Array;
  readonly cotT: Float64Array;
  readonly vsT: Float64Array;
  readonly vpar: Float64Array;
  constructor(
    readonly vp: VolterraProgram,
    readonly N: number,
    readonly h: number,
    readonly t0: number,
    maxPoints: number,
  ) {
    this.rhs = interpreterOf(vp.rhs);
    this.g = interpreterOf(vp.integrands);
    if (vp.history) this.hist = interpreterOf(vp.history);
    if (vp.kernels) this.ker = interpreterOf(vp.kernels);
    if (vp.taus) this.tau = interpreterOf(vp.taus);
    this.S = vp.S;
    this.K = vp.K;
    this.J = vp.delays.length;
    this.D = vp.D;
    this.Q = vp.Q;
    this.M = maxPoints;
    this.Lt = Math.min(N, maxPoints) + 1;
    this.h32 = f32(h);
    this.half = f32(h / 2);
    this.c = vp.integrals.map(() => new Float64Array(this.Lt).fill(1));
    this.mid = vp.integrals.map(() => new Float64Array(this.Lt));
    this.newest = new Float64Array(this.K);
    this.rawMid = vp.integrals.map(() => new Float64Array(this.Lt));
    this.rawNewest = new Float64Array(this.K);
    this.inR = new Float64Array(this.S + this.K + this.J);
    this.inG = new Float64Array(this.S + 1);
    const Lr = vp.rhs.code.length,
      Lg = vp.integrands.code.length;
    const slots = MAX_CORRECTIONS + 1;
    this.valsF = Array.from({ length: slots }, () => new Float64Array(Lr));
    this.valsT = Array.from({ length: slots }, () => new Float64Array(vp.taus?.code.length ?? 0));
    this.readRow = new Int32Array(slots * this.J);
    this.readWeight = new Float64Array(slots * this.J);
    this.valsG = Array.from({ length: slots }, () => new Float64Array(Lg));
    this.valsH = new Float64Array(vp.history?.code.length ?? 0);
    this.adjR = new Float64Array(Lr);
    this.adjG = new Float64Array(Lg);
    this.adjH = new Float64Array(vp.history?.code.length ?? 0);
    this.adjT = new Float64Array(vp.taus?.code.length ?? 0);
    this.cotT = new Float64Array(vp.taus?.outputs.length ?? 0);
    this.vsT = new Float64Array(this.S);
    this.vpar = new Float64Array(this.Q);
  }

  /**
   * f at time t on the states x[xAt…] and the integrals I (undefined: 0) with parameters p, into slot's
   * values. Its delays read the grid X up to row `last` (engine/delays.ts's rule: linear between rows,
   * row 0 before t0, row `last` after it), or with last < 0 (no grid yet: f at t0) the states themselves.
   */
  f(
    slot: number,
    x: ArrayLike<number>,
    xAt: number,
    I: ArrayLike<number> | undefined,
    p: ArrayLike<number>,
    t: number,
    X: Float32Array,
    last: number,
  ): Float64Array {
    const { S, K, J, inR, vp } = this;
    for (let e = 0; e < S; e++) inR[e] = x[xAt + e];
    for (let k = 0; k < K; k++) inR[S + k] = I ? I[k] : 0;
    if (J > 0) {
      const vt = this.valsT[slot],
        outT = vp.taus!.outputs;
      this.tau!.forward(inR, 0, p, t, vt);
      for (let j = 0; j < J; j++) {
        const d = vp.delays[j],
          at = slot * J + j;
        this.readWeight[at] = Number.NaN;
        if (last < 0) {
          this.readRow[at] = -1;
          inR[S + K + j] = inR[d.state];
          continue;
        }
        const tau = vt[outT[d.tau]];
        let s = (t - tau - this.t0) / this.h;
        const nearest = Math.round(s);
        if (Math.abs(s - nearest) < 1e-9) s = nearest; // on a grid point up to rounding of t
        const n = Math.floor(s);
        const row = s <= 0 ? 0 : Math.min(n, last);
        this.readRow[at] = row;
        const a = X[row * S + d.state];
        if (s <= 0 || n >= last || (s === n && d.constant)) {
          inR[S + K + j] = a;
          continue;
        }
        const b = X[(row + 1) * S + d.state];
        const w = d.constant ? f32(s - n) : f32(f32((t - this.t0) / this.h - n) - f32(tau / this.h32));
        this.readWeight[at] = w;
        inR[S + K + j] = f32(a + f32(w * f32(b - a)));
      }
    }
    const vals = this.valsF[slot];
    this.rhs.forward(inR, 0, p, t, vals);
    return vals;
  }

  /**
   * The reverse of f(slot) from its outputs' cotangents: the states' cotangents into vs[0…S) (a delay
   * with no grid yet adds to its state's), the integrals' into vs[S…S+K), the grid rows' into lamX,
   * the parameters' into grad.
   */
  fBack(
    slot: number,
    cot: ArrayLike<number>,
    vs: Float64Array,
    grad: Float64Array,
    X: Float32Array,
    lamX: Float64Array,
  ): void {
    const { S, K, J, Q, vp, vpar } = this;
    vs.fill(0);
    vpar.fill(0);
    this.rhs.reverse(this.valsF[slot], cot, vs, vpar, this.adjR);
    for (let q = 0; q < Q; q++) grad[q] += vpar[q];
    if (J === 0) return;
    const cotT = this.cotT;
    cotT.fill(0);
    let anyTau = false;
    for (let j = 0; j < J; j++) {
      const l = vs[S + K + j];
      if (l === 0) continue;
      const d = vp.delays[j],
        at = slot * J + j,
        row = this.readRow[at],
        w = this.readWeight[at];
      if (row < 0) vs[d.state] += l;
      else if (Number.isNaN(w)) lamX[row * S + d.state] += l;
      else {
        lamX[row * S + d.state] += (1 - w) * l;
        lamX[(row + 1) * S + d.state] += w * l;
        if (!d.constant) {
          // w = (t − t0)/h − n − tau/h: the read moves back along the grid's slope as tau grows.
          cotT[d.tau] += (-(X[(row + 1) * S + d.state] - X[row * S + d.state]) / this.h32) * l;
          anyTau = true;
        }
      }
    }
    if (!anyTau) return;
    const vsT = this.vsT;
    vsT.fill(0);
    vpar.fill(0);
    this.tau!.reverse(this.valsT[slot], cotT, vsT, vpar, this.adjT);
    for (let q = 0; q < Q; q++) grad[q] += vpar[q];
    for (let e = 0; e < S; e++) vs[e] += vsT[e];
  }

  /** t_n as the per-operation solve computes it. */
  time(n: number): number {
    return this.t0 + n * this.h;
  }

  /** The kernels tabulated at t0 + l·h with the first copy's parameters, and the weights times them. */
  tabulate(p0: ArrayLike<number>): void {
    const { vp, ker, Lt, h } = this;
    if (ker) {
      const vals = new Float64Array(vp.kernels!.code.length);
      const out = vp.kernels!.outputs;
      for (let l = 0; l < Lt; l++) {
        ker.forward(this.inR, 0, p0, f32(this.t0 + l * h), vals);
        vp.integrals.forEach((I, k) => {
          if (I.kernel >= 0) this.c[k][l] = vals[out[I.kernel]];
        });
      }
    }
    vp.integrals.forEach((I, k) => {
      const c = this.c[k],
        mid = this.mid[k];
      const rawMid = this.rawMid[k];
      for (let lag = 1; lag < Lt; lag++) {
        rawMid[lag] = this.raw(k, middleWeight(I.mu, h, lag));
        mid[lag] = f32(rawMid[lag] * c[lag]);
      }
      this.rawNewest[k] = this.raw(k, newestWeight(I.mu, h));
      this.newest[k] = f32(this.rawNewest[k] * c[0]);
    });
  }

  /** A weight as it multiplies c: rounded first when the table is a tensor (a parameter-dependent kernel). */
  raw(k: number, w: number): number {
    return this.vp.integrals[k].kernelUsesP ? f32(w) : w;
  }

  /** weight·c of the oldest point of a window of m. */
  oldest(k: number, m: number): number {
    return f32(this.raw(k, oldestWeight(this.vp.integrals[k].mu, this.h, m)) * this.c[k][m]);
  }
}

/** What a forward solve keeps for its adjoint. */
interface Forward {
  /** x_0..x_N (float32), row n at n·S. */
  X: Float32Array;
  /** The integrands at every grid point, integrand d's row (contiguous for the history sums) at d·(N+1). */
  G: Float64Array;
  /** The integrals at the end of each step (L_0 = 0), row n at n·K; and each step's history sums, row n at n·K. */
  L: Float64Array;
  sums: Float64Array;
  /** The initial states as given (an integral equation's is replaced by F at t0). */
  x0: Float32Array;
  unconverged?: Unconverged;
}

/** The copies' flat parameters, one per distinct list of tensors, and the copy → group map. */
function parameterGroups(params: ParamsFor, count: number, sizes: number[]) {
  const { inputs, groups, groupOf } = collectCopies(params, count);
  const flats = (data: ArrayLike<number>[]) =>
    groups.map((ids) => {
      const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0));
      let at = 0;
      ids.forEach((inp, j) => {
        flat.set(data[inp] as ArrayLike<number>, at);
        at += sizes[j];
      });
      return flat;
    });
  return { inputs, groups, groupOf, flats };
}

/** The forward solve; `P(n, stage)` gives the flat parameters of step n's stage (0: t_n, 1: t_{n+1}). */
function forward(ws: Workspace, x0: ArrayLike<number>, P: (n: number, stage: number) => ArrayLike<number>): Forward {
  const { vp, S, K, D, N } = ws;
  const outR = vp.rhs.outputs;
  const X = new Float32Array((N + 1) * S),
    G = new Float64Array((N + 1) * D),
    L = new Float64Array((N + 1) * K),
    sums = new Float64Array(Math.max(N, 1) * K);
  const given = Float32Array.from(x0);
  const p0 = P(0, 0);
  ws.tabulate(p0);
  // At t0 an integral equation's state is F with the integrals at 0 (XPPAUT's start).
  X.set(given);
  if (vp.integralStates.some(Boolean)) {
    const v = ws.f(0, given, 0, undefined, p0, ws.time(0), X, -1);
    vp.integralStates.forEach((u, i) => {
      if (u) X[i] = v[outR[i]];
    });
  }
  integrandsAt(ws, X, 0, p0, ws.valsG[0], G);
  const fn = new Float64Array(S),
    y = new Float32Array(S),
    last = new Float32Array(S),
    I = new Float64Array(K);
  const result: Forward = { X, G, L, sums, x0: given };
  for (let n = 0; n < N; n++) {
    const tn = ws.time(n),
      tNext = ws.time(n + 1);
    const pa = P(n, 0),
      pb = P(n, 1);
    const xAt = n * S;
    // f at t_n reads the integrals as they stood at the end of the step that reached t_n.
    const vn = ws.f(0, X, xAt, L.subarray(n * K, (n + 1) * K), pa, tn, X, n);
    for (let e = 0; e < S; e++) fn[e] = vn[outR[e]];
    historySums(ws, X, G, n, pb, sums, n * K);
    for (let e = 0; e < S; e++) {
      const x = X[xAt + e];
      y[e] = vp.integralStates[e] ? (n > 0 ? f32(f32(2 * x) - X[xAt - S + e]) : x) : f32(x + f32(ws.h32 * fn[e]));
    }
    let settled = false,
      change = 0;
    for (let c = 1; c <= MAX_CORRECTIONS; c++) {
      last.set(y);
      correction(ws, X, n, y, fn, sums, pb, tNext, 1, I);
      if (c >= MIN_CORRECTIONS) {
        change = largestChange(last, y);
        if (change <= CORRECTION_TOLERANCE) {
          settled = true;
          break;
        }
      }
    }
    if (!settled) {
      if (result.unconverged) result.unconverged.steps++;
      else result.unconverged = { step: n + 1, time: tNext, change, steps: 1 };
    }
    X.set(y, (n + 1) * S);
    // The integrals at the new point, for f at t_{n+1} in the next step (XPPAUT's final get_kn).
    integrandsAt(ws, X, n + 1, pb, ws.valsG[0], G);
    for (let k = 0; k < K; k++) {
      const I_ = vp.integrals[k];
      L[(n + 1) * K + k] = f32(sums[n * K + k] + f32(ws.newest[k] * G[I_.g * (N + 1) + n + 1]));
    }
  }
  return result;
}

/** The largest change of a correction, relative above 1 (NaN: Infinity, never settled). */
function largestChange(before: Float32Array, after: Float32Array): number {
  let worst = 0;
  for (let e = 0; e < after.length; e++) {
    const v = after[e];
    const r = Math.abs(v - before[e]) / Math.max(1, Math.abs(v));
    if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
  }
  return worst;
}

/** The integrands at grid point n (t = t' = t_n) into G's column n (when given), the program's values into vals. */
function integrandsAt(
  ws: Workspace,
  X: Float32Array,
  n: number,
  p: ArrayLike<number>,
  vals: Float64Array,
  G?: Float64Array,
): void {
  const { S, D, inG, g, vp } = ws;
  const t = ws.time(n);
  for (let e = 0; e < S; e++) inG[e] = X[n * S + e];
  inG[S] = t;
  g.forward(inG, 0, p, t, vals);
  const out = vp.integrands.outputs;
  if (G) for (let d = 0; d < D; d++) G[d * (ws.N + 1) + n] = vals[out[d]];
}

/**
 * One correction of step n: the integrals with the newest point at y (its integrands' values into valsG),
 * f at t_{n+1} (values into valsF), and y replaced by the step's new iterate.
 */
function correction(
  ws: Workspace,
  X: Float32Array,
  n: number,
  y: Float32Array,
  fn: Float64Array,
  sums: Float64Array,
  pb: ArrayLike<number>,
  tNext: number,
  slot: number,
  I: Float64Array,
): void {
  const { vp, S, K, inG } = ws;
  const xAt = n * S,
    sAt = n * K,
    valsG = ws.valsG[slot];
  const outG = vp.integrands.outputs,
    outR = vp.rhs.outputs;
  for (let e = 0; e < S; e++) inG[e] = y[e];
  inG[S] = tNext;
  ws.g.forward(inG, 0, pb, tNext, valsG);
  for (let k = 0; k < K; k++) I[k] = f32(sums[sAt + k] + f32(ws.newest[k] * valsG[outG[vp.integrals[k].g]]));
  const valsF = ws.f(slot, y, 0, I, pb, tNext, X, n);
  for (let e = 0; e < S; e++) {
    const f = valsF[outR[e]];
    y[e] = vp.integralStates[e] ? f : f32(X[xAt + e] + f32(ws.half * f32(fn[e] + f)));
  }
}

/**
 * The sums over the stored points x_{n+1−m}..x_n for the step to t_{n+1}, into sums[at…]: weight·c·g per
 * point (float32 products), added in double and rounded once.
 */
function historySums(
  ws: Workspace,
  X: Float32Array,
  G: Float64Array,
  n: number,
  pb: ArrayLike<number>,
  sums: Float64Array,
  at: number,
): void {
  const { vp, K, M } = ws;
  const stored = n + 1,
    m = Math.min(stored, M),
    first = stored - m;
  let anyHistory = false;
  for (let k = 0; k < K; k++) {
    const I = vp.integrals[k];
    if (I.overHistory) {
      anyHistory = true;
      sums[at + k] = 0;
      continue;
    }
    const mid = ws.mid[k];
    const at0 = I.g * (ws.N + 1) + first;
    sums[at + k] = f32(historySum(f32(ws.oldest(k, m) * G[at0]), mid, G, at0, m));
  }
  if (!anyHistory) return;
  // Integrands of t and t': evaluated at every stored point with t = t_{n+1}.
  const { S, inG, hist, valsH } = ws;
  const outH = vp.history!.outputs;
  const tNext = ws.time(n + 1);
  const acc = new Float64Array(K);
  for (let i = 0; i < m; i++) {
    const j = first + i;
    for (let e = 0; e < S; e++) inG[e] = X[j * S + e];
    inG[S] = ws.time(j);
    hist!.forward(inG, 0, pb, tNext, valsH);
    for (let k = 0; k < K; k++) {
      const I = vp.integrals[k];
      if (!I.overHistory) continue;
      const w = i === 0 ? ws.oldest(k, m) : ws.mid[k][m - i];
      acc[k] += f32(w * valsH[outH[I.h]]);
    }
  }
  for (let k = 0; k < K; k++) if (vp.integrals[k].overHistory) sums[at + k] = f32(acc[k]);
}

/**
 * The adjoint of `forward`: from the cotangents of every x_n (dX, row n at n·S), the cotangent of the
 * given x0 and each parameter group's cotangent (added into grad(n, stage)).
 */
function adjoint(
  ws: Workspace,
  fw: Forward,
  dX: ArrayLike<number>,
  P: (n: number, stage: number) => ArrayLike<number>,
  grad: (n: number, stage: number) => Float64Array,
): Float64Array {
  const { vp, S, K, D, N, Q, Lt, g, inR } = ws;
  const { X, G, L, sums } = fw;
  const outR = vp.rhs.outputs,
    outG = vp.integrands.outputs;
  const lamX = Float64Array.from(dX);
  const lamG = new Float64Array((N + 1) * D);
  const lamC = vp.integrals.map(() => new Float64Array(Lt));
  const lamNext = new Float64Array(K); // cotangent of L_{n+1}
  const lamSums = new Float64Array(K);
  const lamY = new Float64Array(S),
    lamPrev = new Float64Array(S),
    lamF = new Float64Array(S),
    lamFn = new Float64Array(S),
    lamA = new Float64Array(D);
  const vsR = new Float64Array(S + K + ws.J),
    vsG = new Float64Array(S + 1),
    vpar = new Float64Array(Q);
  const fn = new Float64Array(S),
    y = new Float32Array(S),
    last = new Float32Array(S),
    I = new Float64Array(K);
  const addParams = (into: Float64Array) => {
    for (let q = 0; q < Q; q++) into[q] += vpar[q];
  };
  /** Cotangents of the integrands at grid point j (t = t' = t_j) → x_j and the parameters. */
  const integrandsBack = (j: number, p: ArrayLike<number>, into: Float64Array) => {
    let any = false;
    for (let d = 0; d < D; d++) if (lamG[d * (N + 1) + j] !== 0) any = true;
    if (!any) return;
    integrandsAt(ws, X, j, p, ws.valsG[0]);
    const cot = new Float64Array(vp.integrands.outputs.length);
    for (let d = 0; d < D; d++) cot[d] = lamG[d * (N + 1) + j];
    vsG.fill(0);
    vpar.fill(0);
    g.reverse(ws.valsG[0], cot, vsG, vpar, ws.adjG);
    for (let e = 0; e < S; e++) lamX[j * S + e] += vsG[e];
    addParams(into);
  };
  for (let n = N - 1; n >= 0; n--) {
    const tn = ws.time(n),
      tNext = ws.time(n + 1);
    const pa = P(n, 0),
      pb = P(n, 1);
    const ga = grad(n, 0),
      gb = grad(n, 1);
    const xAt = n * S;
    // L_{n+1} = sums + w·c(0)·g(x_{n+1}).
    for (let k = 0; k < K; k++) {
      const Ik = vp.integrals[k];
      const l = lamNext[k];
      lamSums[k] = l;
      if (l === 0) continue;
      lamG[Ik.g * (N + 1) + n + 1] += ws.newest[k] * l;
      if (Ik.kernelUsesP) lamC[k][0] += ws.rawNewest[k] * G[Ik.g * (N + 1) + n + 1] * l;
    }
    // x_{n+1}'s integrands: every later reader of them has been swept.
    integrandsBack(n + 1, pb, gb);
    // The step again from x_n, keeping each correction's values.
    const vn = ws.f(0, X, xAt, L.subarray(n * K, (n + 1) * K), pa, tn, X, n);
    for (let e = 0; e < S; e++) fn[e] = vn[outR[e]];
    for (let e = 0; e < S; e++) {
      const x = X[xAt + e];
      y[e] = vp.integralStates[e] ? (n > 0 ? f32(f32(2 * x) - X[xAt - S + e]) : x) : f32(x + f32(ws.h32 * fn[e]));
    }
    let C = 0;
    for (let c = 1; c <= MAX_CORRECTIONS; c++) {
      last.set(y);
      correction(ws, X, n, y, fn, sums, pb, tNext, c, I);
      C = c;
      if (c >= MIN_CORRECTIONS && largestChange(last, y) <= CORRECTION_TOLERANCE) break;
    }
    // The corrections backward.
    for (let e = 0; e < S; e++) lamY[e] = lamX[(n + 1) * S + e];
    lamFn.fill(0);
    for (let c = C; c >= 1; c--) {
      for (let e = 0; e < S; e++) {
        if (vp.integralStates[e]) lamF[e] = lamY[e];
        else {
          lamF[e] = ws.half * lamY[e];
          lamX[xAt + e] += lamY[e];
          lamFn[e] += ws.half * lamY[e];
        }
      }
      ws.fBack(c, lamF, vsR, gb, X, lamX);
      for (let e = 0; e < S; e++) lamPrev[e] = vsR[e];
      lamA.fill(0);
      let any = false;
      for (let k = 0; k < K; k++) {
        const l = vsR[S + k];
        if (l === 0) continue;
        const Ik = vp.integrals[k];
        lamSums[k] += l;
        lamA[Ik.g] += ws.newest[k] * l;
        any = true;
        if (Ik.kernelUsesP) lamC[k][0] += ws.rawNewest[k] * ws.valsG[c][outG[Ik.g]] * l;
      }
      if (any) {
        vsG.fill(0);
        vpar.fill(0);
        g.reverse(ws.valsG[c], lamA, vsG, vpar, ws.adjG);
        addParams(gb);
        for (let e = 0; e < S; e++) lamPrev[e] += vsG[e];
      }
      lamY.set(lamPrev);
    }
    // The predictor.
    for (let e = 0; e < S; e++) {
      const l = lamY[e];
      if (vp.integralStates[e]) {
        if (n > 0) {
          lamX[xAt + e] += 2 * l;
          lamX[xAt - S + e] -= l;
        } else lamX[xAt + e] += l;
      } else {
        lamX[xAt + e] += l;
        lamFn[e] += ws.h32 * l;
      }
    }
    // f at t_n, which read x_n and L_n (L_0 = 0 is a constant).
    ws.fBack(0, lamFn, vsR, ga, X, lamX);
    for (let e = 0; e < S; e++) lamX[xAt + e] += vsR[e];
    for (let k = 0; k < K; k++) lamNext[k] = n > 0 ? vsR[S + k] : 0;
    // The history sums of this step, onto the stored points they read.
    sumsBack(ws, fw, n, pb, gb, lamSums, lamX, lamG, lamC);
  }
  // x_0's integrands (kept for the history), then the initial integral-equation states F(x0, 0).
  const p0 = P(0, 0),
    g0 = grad(0, 0);
  integrandsBack(0, p0, g0);
  const lamX0 = new Float64Array(S);
  if (vp.integralStates.some(Boolean)) {
    ws.f(0, fw.x0, 0, undefined, p0, ws.time(0), X, -1);
    for (let e = 0; e < S; e++) lamF[e] = vp.integralStates[e] ? lamX[e] : 0;
    ws.fBack(0, lamF, vsR, g0, X, lamX);
    for (let e = 0; e < S; e++) lamX0[e] = (vp.integralStates[e] ? 0 : lamX[e]) + vsR[e];
  } else lamX0.set(lamX.subarray(0, S));
  // The tabulated kernels read the first copy's parameters.
  if (ws.ker) {
    const kp = vp.kernels!;
    const vals = new Float64Array(kp.code.length),
      adj = new Float64Array(kp.code.length),
      cot = new Float64Array(kp.outputs.length);
    for (let l = 0; l < Lt; l++) {
      let any = false;
      cot.fill(0);
      vp.integrals.forEach((Ik, k) => {
        if (Ik.kernel >= 0 && lamC[k][l] !== 0) {
          cot[Ik.kernel] += lamC[k][l];
          any = true;
        }
      });
      if (!any) continue;
      ws.ker.forward(inR, 0, p0, f32(ws.t0 + l * ws.h), vals);
      vpar.fill(0);
      ws.ker.reverse(vals, cot, vsG, vpar, adj);
      addParams(g0);
    }
  }
  return lamX0;
}

/**
 * acc + Σ f32(w[m − i]·g[at + i]) for 0 < i < m, added one at a time in i's order (the sums' float32 arithmetic), four
 * to a loop iteration: the additions stay one chain, the loop's own work shrinks (about 15 % a term).
 */
export function historySum(acc: number, w: Float64Array, g: Float64Array, at: number, m: number): number {
  let i = 1;
  for (; i + 3 < m; i += 4) {
    const k = m - i,
      j = at + i;
    acc += f32(w[k] * g[j]);
    acc += f32(w[k - 1] * g[j + 1]);
    acc += f32(w[k - 2] * g[j + 2]);
    acc += f32(w[k - 3] * g[j + 3]);
  }
  for (; i < m; i++) acc += f32(w[m - i] * g[at + i]);
  return acc;
}

/**
 * y[at + i] += w[m − i]·l for 0 < i < m: the history sums' adjoint onto their points, each term alone (as the plain
 * loop adds it), four to an iteration (about a fifth faster: the loop was most of a long Volterra adjoint).
 */
export function axpyReversed(y: Float64Array, at: number, w: Float64Array, m: number, l: number): void {
  let i = 1;
  for (; i + 3 < m; i += 4) {
    const k = m - i,
      j = at + i;
    y[j] += w[k] * l;
    y[j + 1] += w[k - 1] * l;
    y[j + 2] += w[k - 2] * l;
    y[j + 3] += w[k - 3] * l;
  }
  for (; i < m; i++) y[at + i] += w[m - i] * l;
}

/** c[m − i] += r[m − i]·g[at + i]·l for 0 < i < m (a kernel's weights' adjoint), each term alone, four to an iteration. */
export function weightsBack(c: Float64Array, r: Float64Array, g: Float64Array, at: number, m: number, l: number): void {
  let i = 1;
  for (; i + 3 < m; i += 4) {
    const k = m - i,
      j = at + i;
    c[k] += r[k] * g[j] * l;
    c[k - 1] += r[k - 1] * g[j + 1] * l;
    c[k - 2] += r[k - 2] * g[j + 2] * l;
    c[k - 3] += r[k - 3] * g[j + 3] * l;
  }
  for (; i < m; i++) c[m - i] += r[m - i] * g[at + i] * l;
}

/** The adjoint of historySums for step n: λ of the sums onto the stored integrands, states (t, t') and kernel. */
function sumsBack(
  ws: Workspace,
  fw: Forward,
  n: number,
  pb: ArrayLike<number>,
  gb: Float64Array,
  lamSums: Float64Array,
  lamX: Float64Array,
  lamG: Float64Array,
  lamC: Float64Array[],
): void {
  const { vp, K, M, S, h } = ws;
  const { X, G } = fw;
  const stored = n + 1,
    m = Math.min(stored, M),
    first = stored - m;
  let anyHistory = false;
  for (let k = 0; k < K; k++) {
    const l = lamSums[k];
    if (l === 0) continue;
    const Ik = vp.integrals[k];
    if (Ik.overHistory) {
      anyHistory = true;
      continue;
    }
    const mid = ws.mid[k];
    const at0 = Ik.g * (ws.N + 1) + first;
    lamG[at0] += ws.oldest(k, m) * l;
    axpyReversed(lamG, at0, mid, m, l);
    if (Ik.kernelUsesP) {
      const lc = lamC[k];
      lc[m] += ws.raw(k, oldestWeight(Ik.mu, h, m)) * G[at0] * l;
      weightsBack(lc, ws.rawMid[k], G, at0, m, l);
    }
  }
  if (!anyHistory) return;
  const { inG, hist, valsH, adjH } = ws;
  const hp = vp.history!;
  const outH = hp.outputs;
  const tNext = ws.time(n + 1);
  const cot = new Float64Array(outH.length),
    vs = new Float64Array(S + 1),
    vpar = new Float64Array(ws.Q);
  for (let i = 0; i < m; i++) {
    const j = first + i,
      lag = m - i;
    for (let e = 0; e < S; e++) inG[e] = X[j * S + e];
    inG[S] = ws.time(j);
    hist!.forward(inG, 0, pb, tNext, valsH);
    cot.fill(0);
    for (let k = 0; k < K; k++) {
      const Ik = vp.integrals[k],
        l = lamSums[k];
      if (!Ik.overHistory || l === 0) continue;
      const w = i === 0 ? ws.oldest(k, m) : ws.mid[k][lag];
      cot[Ik.h] += w * l;
      if (Ik.kernelUsesP) {
        const raw = i === 0 ? ws.raw(k, oldestWeight(Ik.mu, h, m)) : ws.rawMid[k][lag];
        lamC[k][lag] += raw * valsH[outH[Ik.h]] * l;
      }
    }
    vs.fill(0);
    vpar.fill(0);
    hist!.reverse(valsH, cot, vs, vpar, adjH);
    for (let e = 0; e < S; e++) lamX[j * S + e] += vs[e];
    for (let q = 0; q < vpar.length; q++) gb[q] += vpar[q];
  }
}

/** The Volterra solve as one op: x_0..x_N per (scalar) state, differentiable in x0 and the parameter tensors. */
export function solveVolterraKernel(
  tf: TF,
  vp: VolterraProgram,
  x0: Tensor[],
  scheme: Scheme,
  N: number,
  h: number,
  t0: number,
  maxPoints: number,
  params: ParamsFor,
  onUnconverged: (u: Unconverged) => void,
): Tensor[][] {
  const S = vp.S;
  // Per-stage copies follow heun's two stages: the first at t_n, the second at t_{n+1}.
  const stages = scheme.kind === 'rk' && scheme.tie === 'stage' ? scheme.tableau.b.length : 0;
  const copyAt = (n: number, stage: number) => (stages > 0 ? n * stages + Math.min(stage, stages - 1) : n);
  const count = N === 0 ? 1 : copyAt(N - 1, 1) + 1;
  const sizes = vp.rhs.paramSizes;
  const { inputs, groups, groupOf, flats } = parameterGroups(params, count, sizes);
  const flatX0 = tf.concat(x0.map((x) => tf.reshape(x, [1])));
  const trajectory = tf.customGrad((...args) => {
    const ins = args.slice(0, 1 + inputs.length) as Tensor[]; // customGrad appends its save function
    const flat = flats(ins.slice(1).map((t) => t.dataSync()));
    const P = (n: number, stage: number) => flat[groupOf[copyAt(n, stage)]];
    const ws = new Workspace(vp, N, h, t0, maxPoints);
    const fw = forward(ws, ins[0].dataSync(), P);
    if (fw.unconverged) onUnconverged(fw.unconverged);
    return {
      value: tf.tensor2d(fw.X, [N + 1, S]),
      gradFunc: (dy: Tensor) => {
        const grads = groups.map(() => new Float64Array(vp.Q));
        const lam = adjoint(ws, fw, dy.dataSync(), P, (n, stage) => grads[groupOf[copyAt(n, stage)]]);
        const perInput = inputs.map((t) => new Float64Array(t.size));
        groups.forEach((ids, gi) => {
          let off = 0;
          ids.forEach((inp, j) => {
            const into = perInput[inp];
            for (let k = 0; k < sizes[j]; k++) into[k] += grads[gi][off + k];
            off += sizes[j];
          });
        });
        return [
          tf.tensor(Float32Array.from(lam), ins[0].shape),
          ...perInput.map((gr, i) => tf.tensor(Float32Array.from(gr), inputs[i].shape)),
        ];
      },
    };
  })(flatX0, ...inputs) as Tensor;
  return lazySteps(N, (n) =>
    rowStates(
      tf,
      trajectory,
      n,
      x0.map((_x, i) => i),
      x0.map(() => 1),
      x0.map((x) => x.shape),
    ),
  );
}
