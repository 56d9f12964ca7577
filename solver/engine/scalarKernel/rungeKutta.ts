// An explicit Runge–Kutta solve of a fused scalar program (engine/scalarRhs.ts) in plain JS, and its
// discrete adjoint: the whole unrolled solve as one loop over Float32/Float64 arrays instead of one
// TF.js kernel per stage and combination. The forward is TF.js's float32 arithmetic operation for
// operation (the fused program's rounding; each stage and step combination as engine/linearCombination.ts
// rounds it: each product c·k rounded, then summed in order), so trajectories are the per-kernel path's
// bit for bit. The adjoint is the reverse sweep of exactly those operations, accumulated in double.
import type { ButcherTableau } from '../../schemes/schemes';
import type { ScalarProgram } from '../scalarRhs';
import { interpreterOf, outputValue, WANT_BOTH, type Interpreter } from '../programInterpreter';
import { applyEvents, EventWorkspace, noFirings, reverseEvents, type EventProgram } from './events';
import { KernelHistory, type PastProgram } from './delays';

const f32 = Math.fround;

/** One nonzero coefficient of a combination: stage j's k times c (c = float32 of h·a or h·b, as TF.js's scalar). */
interface Term {
  j: number;
  c: number;
}

/** A tableau for one step size, ready for the loops. */
export interface RungeKuttaPlan {
  stages: number;
  /** Per stage i, its input's terms (stages j < i with a_ij ≠ 0, in order). */
  a: Term[][];
  b: Term[];
  c: number[];
  h: number;
  t0: number;
  /** tie=stage: copy n·s + i for stage i of step n; else copy n. */
  perStage: boolean;
}

export function rungeKuttaPlan(t: ButcherTableau, h: number, t0: number, perStage: boolean): RungeKuttaPlan {
  const stages = t.b.length;
  const terms = (row: readonly number[], upTo: number): Term[] =>
    row.slice(0, upTo).flatMap((v, j) => (v === 0 ? [] : [{ j, c: f32(h * v) }]));
  return {
    stages,
    a: Array.from({ length: stages }, (_x, i) => terms(t.a[i] ?? [], i)),
    b: terms(t.b, stages),
    c: t.c,
    h,
    t0,
    perStage,
  };
}

/** The parameter copy stage i of step n reads. */
export const copyOf = (plan: RungeKuttaPlan, n: number, i: number) => (plan.perStage ? n * plan.stages + i : n);

/** Scratch arrays of one step, reused by every step of a solve. */
export class StepWorkspace {
  readonly run: Interpreter;
  readonly X: Float64Array<ArrayBuffer>[];
  readonly K: Float64Array<ArrayBuffer>[];
  readonly vals: Float64Array<ArrayBuffer>[];
  readonly lamK: Float64Array<ArrayBuffer>[];
  readonly adj: Float64Array<ArrayBuffer>;
  readonly vs: Float64Array<ArrayBuffer>;
  readonly vp: Float64Array<ArrayBuffer>;
  /** The model's events, applied after every step. */
  readonly events?: EventWorkspace;
  /** The grid history the program's delays read (scalarKernel/delays.ts). */
  readonly history?: KernelHistory;
  constructor(
    readonly prog: ScalarProgram,
    readonly plan: RungeKuttaPlan,
    events?: EventProgram,
    past?: PastProgram,
  ) {
    if (events) this.events = new EventWorkspace(events);
    if (prog.delays) this.history = new KernelHistory(prog.states, plan.t0, plan.h, past);
    const S = prog.states,
      s = plan.stages,
      L = prog.code.length;
    this.run = interpreterOf(prog);
    const arrays = (n: number): Float64Array<ArrayBuffer>[] => Array.from({ length: s }, () => new Float64Array(n));
    this.X = arrays(S);
    this.K = arrays(S);
    this.vals = arrays(L);
    this.lamK = arrays(S);
    this.adj = new Float64Array(L);
    this.vs = new Float64Array(S);
    this.vp = new Float64Array(prog.params);
  }
}

/**
 * Step n from x (the states at x[xAt…]) into out[outAt…]; with `keepStages`, every value of the stages stays in `ws`
 * for a reverse sweep, else only their f (the interpreter's `outputs`: a solve without a sweep computes no more).
 * `params(copy)` gives a copy's flat parameters.
 */
export function forwardStep(
  ws: StepWorkspace,
  n: number,
  x: ArrayLike<number>,
  xAt: number,
  params: (copy: number) => ArrayLike<number>,
  out: Float32Array,
  outAt: number,
  keepStages = false,
): void {
  const { prog, plan, X, K, vals, run, history } = ws;
  const S = prog.states,
    outputs = prog.outputs;
  const tn = plan.t0 + n * plan.h;
  for (let i = 0; i < plan.stages; i++) {
    const terms = plan.a[i];
    let src: ArrayLike<number> = x,
      at = xAt;
    if (terms.length > 0) {
      combine(x, xAt, terms, K, X[i], 0, S);
      src = X[i];
      at = 0;
    }
    const Ki = K[i],
      t = tn + plan.c[i] * plan.h;
    if (!keepStages) {
      run.outputs(src, at, params(copyOf(plan, n, i)), t, Ki, history);
      continue;
    }
    const v = vals[i];
    run.forward(src, at, params(copyOf(plan, n, i)), t, v, history);
    for (let e = 0; e < S; e++) Ki[e] = outputValue(v, outputs[e]);
  }
  // Straight into out: every partial sum is a float32 already, which out holds exactly.
  combine(x, xAt, plan.b, K, out, outAt, S);
}

/**
 * into[e] = x[xAt + e] + Σ_q c_q·K_{j_q}[e], each product and each partial sum rounded to float32 in the terms'
 * order (engine/linearCombination.ts's rounding). Element by element, the partial sum in a local: the same
 * operations as a loop over the terms per element; the usual tableaus' one to four terms written out (cgl.ode's
 * RK4 on 256 states: about half the time of a term-by-term pass over the elements, which rewrote `into` per term).
 * Exported for test/unit/rungeKuttaCombine.test.ts.
 */
export function combine(
  x: ArrayLike<number>,
  xAt: number,
  terms: Term[],
  K: Float64Array[],
  into: Float64Array | Float32Array,
  intoAt: number,
  S: number,
) {
  const n = terms.length;
  const c0 = n > 0 ? terms[0].c : 0,
    K0 = K[n > 0 ? terms[0].j : 0];
  const c1 = n > 1 ? terms[1].c : 0,
    K1 = K[n > 1 ? terms[1].j : 0];
  const c2 = n > 2 ? terms[2].c : 0,
    K2 = K[n > 2 ? terms[2].j : 0];
  const c3 = n > 3 ? terms[3].c : 0,
    K3 = K[n > 3 ? terms[3].j : 0];
  switch (n) {
    case 0:
      for (let e = 0; e < S; e++) into[intoAt + e] = x[xAt + e];
      return;
    case 1:
      for (let e = 0; e < S; e++) into[intoAt + e] = f32(x[xAt + e] + f32(c0 * K0[e]));
      return;
    case 2:
      for (let e = 0; e < S; e++) into[intoAt + e] = f32(f32(x[xAt + e] + f32(c0 * K0[e])) + f32(c1 * K1[e]));
      return;
    case 3:
      for (let e = 0; e < S; e++) {
        const a = f32(f32(x[xAt + e] + f32(c0 * K0[e])) + f32(c1 * K1[e]));
        into[intoAt + e] = f32(a + f32(c2 * K2[e]));
      }
      return;
    case 4:
      for (let e = 0; e < S; e++) {
        const a = f32(f32(x[xAt + e] + f32(c0 * K0[e])) + f32(c1 * K1[e]));
        into[intoAt + e] = f32(f32(a + f32(c2 * K2[e])) + f32(c3 * K3[e]));
      }
      return;
  }
  for (let e = 0; e < S; e++) {
    let a = x[xAt + e];
    for (let q = 0; q < n; q++) a = f32(a + f32(terms[q].c * K[terms[q].j][e]));
    into[intoAt + e] = a;
  }
}

/** x_0..x_N (row n at n·S) of the solve from x0; with events, ws.events.firings holds where they fired. */
export function forwardSolve(
  ws: StepWorkspace,
  N: number,
  x0: ArrayLike<number>,
  params: (copy: number) => ArrayLike<number>,
  traj = new Float32Array((N + 1) * ws.prog.states),
): Float32Array {
  const S = ws.prog.states;
  for (let e = 0; e < S; e++) traj[e] = x0[e];
  const { plan, events, history } = ws;
  history?.attach(traj);
  if (events) {
    Object.assign(events.firings, noFirings());
  }
  for (let n = 0; n < N; n++) {
    if (history) history.last = n;
    forwardStep(ws, n, traj, n * S, params, traj, (n + 1) * S);
    if (events)
      applyEvents(
        events,
        traj,
        n * S,
        traj,
        (n + 1) * S,
        params(copyOf(plan, n, 0)),
        plan.t0 + n * plan.h,
        plan.t0 + (n + 1) * plan.h,
        n,
      );
  }
  return traj;
}

/**
 * The discrete adjoint of forwardSolve: from the cotangents of every x_n (dTraj, row n at n·S),
 * the cotangent of x0 and each copy's parameter cotangent added into `paramGrad(copy)`. Each step's
 * stages are recomputed from the stored x_n (bit for bit the forward's) and swept in reverse.
 */
export function adjointSolve(
  ws: StepWorkspace,
  N: number,
  traj: Float32Array,
  dTraj: ArrayLike<number>,
  params: (copy: number) => ArrayLike<number>,
  paramGrad: (copy: number) => Float64Array,
): Float64Array {
  const { prog, plan, lamK, vals, vs, vp, adj, run, history } = ws;
  const S = prog.states,
    Q = prog.params,
    s = plan.stages;
  // With delays, each grid state's cotangent also gathers the later stages that read it (the history's reads).
  const fromHistory = history ? new Float64Array((N + 1) * S) : undefined;
  history?.attach(traj, fromHistory);
  const lam = new Float64Array(S);
  for (let e = 0; e < S; e++) lam[e] = dTraj[N * S + e];
  const scratch = new Float32Array(S);
  for (let n = N - 1; n >= 0; n--) {
    if (history) history.last = n;
    forwardStep(ws, n, traj, n * S, params, scratch, 0, true);
    // λ of x_{n+1} after the step's events → λ of the step's own result.
    if (ws.events) {
      const first = copyOf(plan, n, 0);
      const tn = plan.t0 + n * plan.h;
      const tNext = plan.t0 + (n + 1) * plan.h;
      reverseEvents(ws.events, traj, n * S, scratch, 0, params(first), tn, tNext, lam, paramGrad(first)); // the stages' values stay in ws
    }
    for (let i = 0; i < s; i++) lamK[i].fill(0);
    for (const { j, c } of plan.b) {
      const lk = lamK[j];
      for (let e = 0; e < S; e++) lk[e] += c * lam[e];
    }
    // λ_x starts with the identity term x_{n+1} = x_n + …; each stage input X_i = x_n + Σ c k_j adds its cotangent.
    for (let i = s - 1; i >= 0; i--) {
      vs.fill(0);
      vp.fill(0);
      run.reverse(vals[i], lamK[i], vs, vp, adj, WANT_BOTH, history, plan.t0 + n * plan.h + plan.c[i] * plan.h);
      const g = paramGrad(copyOf(plan, n, i));
      for (let q = 0; q < Q; q++) g[q] += vp[q];
      for (let e = 0; e < S; e++) lam[e] += vs[e];
      for (const { j, c } of plan.a[i]) {
        const lk = lamK[j];
        for (let e = 0; e < S; e++) lk[e] += c * vs[e];
      }
    }
    for (let e = 0; e < S; e++) lam[e] += dTraj[n * S + e];
    if (fromHistory) for (let e = 0; e < S; e++) lam[e] += fromHistory[n * S + e];
  }
  return lam;
}
