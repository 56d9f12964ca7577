// Unrolled discrete solves (the network whose AD gradients are checked) and
// the generic explicit-RK stepper reused by the continuous reference.
//
// Parameter copies are numbered as in schemes/copies.ts: RK tie=step copy n,
// tie=stage copy n·s + i, multistep copy m at node t_m (t_N reuses N−1).
// Kernels per step are what the scheme needs: one f evaluation per RK stage
// or per multistep step (two for milne's PECE) and one linear combination per
// stage input and step (cm.combine; without it a multiply per nonzero
// coefficient other than ±1 and one add).
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';
import type { ButcherTableau, LinearMultistep, MultistepScheme, RKScheme, Scheme } from '../schemes/schemes';
import { nodeCopy } from '../schemes/copies';
import { startSteps } from '../schemes/schemes';
import type { Term } from './linearCombination';
import { backwardEulerStep, failureRecorder } from './implicitStep';
import { guardSolveMemory } from './memoryGuard';
import { attachPackedSteps, attachWholeTrajectory } from './lazySteps';
import { solveVolterra } from './volterraSolve';

import type { ParamsFor } from './copySources';

export type { ParamsFor } from './copySources';

/** Precomputed scalar coefficients of one tableau for step size h (create inside a tidy): h·a_ij and h·b_i as scalars and numbers. */
export interface RKCoefficients {
  a: (Tensor | null)[][];
  b: (Tensor | null)[];
  ha: number[][];
  hb: number[];
  c: number[];
  h: number;
}

function rkCoefficients(tf: TF, t: ButcherTableau, h: number): RKCoefficients {
  return {
    a: t.a.map((row) => row.map((v) => (v === 0 ? null : tf.scalar(h * v)))),
    b: t.b.map((v) => (v === 0 ? null : tf.scalar(h * v))),
    ha: t.a.map((row) => row.map((v) => h * v)),
    hb: t.b.map((v) => h * v),
    c: t.c,
    h,
  };
}

/**
 * x + Σ c_j v_j for the nonzero coefficients (scalar tensor and its number): one kernel through
 * cm.combine when the model has it and the shapes agree, else a multiply per term and one add.
 */
function accumulate(tf: TF, cm: CompiledModel, x: Tensor, terms: [Tensor, Tensor, number][]): Tensor {
  if (terms.length === 0) return x;
  if (cm.combine && terms.every(([v]) => sameShape(v, x)))
    return cm.combine([[x, 1], ...terms.map(([v, , c]): Term => [v, c])]);
  const products = terms.map(([v, c]) => tf.mul(v, c));
  return products.length === 1 ? tf.add(x, products[0]) : tf.addN([x, ...products]);
}

const sameShape = (a: Tensor, b: Tensor) =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);

/** One explicit RK step from x at time t; `k0`, when given, is f at the first stage (already evaluated). */
function rkStep(
  tf: TF,
  cm: CompiledModel,
  co: RKCoefficients,
  x: Tensor[],
  t: number,
  params: (stage: number) => Tensor[],
  k0?: Tensor[],
): Tensor[] {
  const ks: Tensor[][] = [];
  const s = co.b.length;
  /** Terms c·k_j of the stages j < upTo with nonzero coefficients, for state k. */
  const terms = (cs: (Tensor | null)[], hs: number[], upTo: number, k: number): [Tensor, Tensor, number][] =>
    cs.slice(0, upTo).flatMap((c, j) => (c ? [[ks[j][k], c, hs[j]] as [Tensor, Tensor, number]] : []));
  for (let i = 0; i < s; i++) {
    const xi = i === 0 ? x : x.map((xk, k) => accumulate(tf, cm, xk, terms(co.a[i] ?? [], co.ha[i] ?? [], i, k)));
    ks.push(i === 0 && k0 ? k0 : cm.rhs(xi, params(i), t + co.c[i] * co.h));
  }
  return x.map((xk, k) => accumulate(tf, cm, xk, terms(co.b, co.hb, s, k)));
}

/** The discrete solve runs as one kernel (engine/scalarKernel/): a fused model's own rhs and a scheme the kernel covers. */
export function solvesByKernel(cm: CompiledModel, scheme: Scheme): boolean {
  return !!cm.wholeSolve && cm.wholeSolve.owner === cm.rhs && !cm.wholeSolve.unsupported(scheme);
}

/**
 * Solves the discrete model over N steps of size h and returns the states
 * x_0..x_N (x_0 = cm.x0). Call inside a tidy (or a gradient scope).
 */
export function solveDiscrete(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  N: number,
  h: number,
  t0: number,
  params: ParamsFor,
): Tensor[][] {
  if (cm.initialValues) return solveDiscrete(tf, startingFromParameters(tf, cm, params(0)), scheme, N, h, t0, params);
  if (cm.volterra) return solveVolterra(tf, cm, scheme, N, h, t0, params);
  if (solvesByKernel(cm, scheme)) return cm.wholeSolve!.solve(scheme, N, h, t0, params, undefined, failureRecorder(cm));
  // An MLP field's solve as one op (engine/fusedMlp/solveProgram.ts), traced through the code below.
  const program = cm.solveProgram?.owner === cm.rhs && !(scheme.kind === 'rk' && scheme.implicit) && cm.solveProgram;
  if (program) {
    const traj = program.solve(params, (view, p) => solveDiscrete(tf, view, scheme, N, h, t0, p));
    if (traj) return traj;
  }
  // The implicit step solves the unpacked states (its Jacobian comes from the model's own reverse mode).
  const packed =
    cm.packed && cm.packed.owner === cm.rhs && !(scheme.kind === 'rk' && scheme.implicit) ? cm.packed : undefined;
  if (packed)
    return solvePackedState(
      tf,
      cm,
      packed.x0,
      packed.rhs,
      (x, i) => tf.reshape(tf.slice(x, [i], [1]), []),
      scheme,
      N,
      h,
      t0,
      params,
    );
  return scheme.kind === 'rk'
    ? solveRungeKutta(tf, cm, scheme, N, h, t0, params)
    : solveMultistep(tf, cm, scheme, N, h, t0, params);
}

/**
 * The model whose solves start from the parameters that hold its initial values (CompiledModel.initialValues),
 * so that AD through the solve reaches them and perturbed values move the start. A parameter batched for finite
 * differences ([b, ...], b = B or 1) gives the batched states' start. The packed states and the whole-solve kernel
 * start there too; a one-op MLP solve would not, so the view has none.
 */
function startingFromParameters(tf: TF, cm: CompiledModel, p: Tensor[]): CompiledModel {
  const at = cm.initialValues!;
  const x0 = cm.x0.map((x, k) => {
    const q = at[k] >= 0 ? p[at[k]] : undefined;
    if (!q) return x;
    return q.size === x.size
      ? tf.reshape(q, x.shape)
      : tf.broadcastTo(tf.reshape(q, [1, ...x.shape.slice(1)]), x.shape);
  });
  const ws = cm.wholeSolve;
  const flat = () => tf.concat(x0.map((x) => tf.reshape(x, [x.size])));
  return {
    ...cm,
    x0,
    initialValues: undefined,
    solveProgram: undefined,
    packed: cm.packed && { ...cm.packed, x0: tf.stack(x0) },
    wholeSolve: ws && {
      ...ws,
      solve: (scheme, N, h, t0, params, _x0, failed) => ws.solve(scheme, N, h, t0, params, flat(), failed),
      solveBatched: () => undefined,
    },
  };
}

/**
 * The same solve on the states packed into one tensor (CompiledModel.packed): the same float32
 * operations element by element, a fraction of the kernels. `unpack(x, i)` gives state i of a
 * packed state; each step's states are unpacked when first read (call sites read them in the
 * scope of the solve), so a loss on x(T) alone unpacks one step and AD never meets a node with
 * unused outputs.
 */
export function solvePackedState(
  tf: TF,
  cm: CompiledModel,
  x0: Tensor,
  rhs: (x: Tensor, p: Tensor[], t: number) => Tensor,
  unpack: (x: Tensor, i: number) => Tensor,
  scheme: Scheme,
  N: number,
  h: number,
  t0: number,
  params: ParamsFor,
): Tensor[][] {
  const view: CompiledModel = { ...cm, x0: [x0], rhs: (s, p, t) => [rhs(s[0], p, t)], packed: undefined };
  const inner =
    scheme.kind === 'rk'
      ? solveRungeKutta(tf, view, scheme, N, h, t0, params)
      : solveMultistep(tf, view, scheme, N, h, t0, params);
  const S = cm.x0.length;
  const out: Tensor[][] = new Array(inner.length);
  const cache: (Tensor[] | undefined)[] = new Array(inner.length);
  for (let n = 0; n < inner.length; n++) {
    Object.defineProperty(out, n, {
      enumerable: true,
      get: () => (cache[n] ??= Array.from({ length: S }, (_, i) => unpack(inner[n][0], i))),
    });
  }
  // Scalar states packed as [S]: the rows of the whole trajectory [N + 1, S] are the packed states themselves (a
  // blown-up leapfrog solve of 200 states over 2,000 steps summed 400,000 unpacked slices: 4.3 s).
  if (x0.rank === 1) {
    attachWholeTrajectory(out, () => tf.stack(inner.map((x) => x[0])));
    attachPackedSteps(out, (n) => inner[n][0]);
  }
  return out;
}

function solveRungeKutta(
  tf: TF,
  cm: CompiledModel,
  scheme: RKScheme,
  N: number,
  h: number,
  t0: number,
  params: ParamsFor,
): Tensor[][] {
  const traj: Tensor[][] = [cm.x0];
  const co = rkCoefficients(tf, scheme.tableau, h);
  const s = scheme.tableau.b.length;
  const events = cm.timeStepping;
  events?.begin(cm.x0, t0, h);
  let x = cm.x0;
  for (let n = 0; n < N; n++) {
    guardSolveMemory(n, N);
    let stageParams: (i: number) => Tensor[];
    if (scheme.tie === 'stage') stageParams = (i) => params(n * s + i);
    else {
      const p = params(n);
      stageParams = () => p;
    }
    const next = scheme.implicit
      ? backwardEulerStep(tf, cm, x, stageParams(0), t0 + (n + 1) * h, h, n === 0)
      : rkStep(tf, cm, co, x, t0 + n * h, stageParams);
    x = events ? events.afterStep(x, next, t0 + n * h, t0 + (n + 1) * h, stageParams(0)) : next;
    traj.push(x);
  }
  return traj;
}

/**
 * A linear combination Σ s_j v_j of state tensors with scalar coefficients (±1 need no multiply):
 * the +1 and scaled terms summed, then the −1 terms subtracted; one kernel through cm.combine.
 */
function combine(tf: TF, cm: CompiledModel, scalar: (v: number) => Tensor, terms: Term[]): Tensor {
  const plus = terms.filter(([, s]) => s !== -1),
    minus = terms.filter(([, s]) => s === -1);
  if (cm.combine && terms.length > 1 && terms.every(([v]) => sameShape(v, terms[0][0])))
    return cm.combine([...plus, ...minus]);
  const scaled = plus.map(([v, s]) => (s === 1 ? v : tf.mul(v, scalar(s))));
  let acc =
    scaled.length === 0
      ? tf.neg(minus.shift()![0])
      : scaled.length === 1
        ? scaled[0]
        : scaled.length === 2
          ? tf.add(scaled[0], scaled[1])
          : tf.addN(scaled);
  for (const [v] of minus) acc = tf.sub(acc, v);
  return acc;
}

function solveMultistep(
  tf: TF,
  cm: CompiledModel,
  scheme: MultistepScheme,
  N: number,
  h: number,
  t0: number,
  params: ParamsFor,
): Tensor[][] {
  const X: Tensor[][] = [cm.x0];
  if (N < 1) return X;
  const scalars = new Map<number, Tensor>();
  const scalar = (v: number): Tensor => {
    let t = scalars.get(v);
    if (!t) {
      t = tf.scalar(v);
      scalars.set(v, t);
    }
    return t;
  };
  const time = (m: number) => t0 + m * h;
  const F: Tensor[][] = [];
  /** f at node m (the final E of PECE for milne), evaluated once when first needed. */
  const fAt = (m: number): Tensor[] => (F[m] ??= cm.rhs(X[m], params(nodeCopy(m, N)), time(m)));

  /** Parameters between nodes n and n+1: (1 − c) θ_n + c θ_{n+1}, for per-step parameters only. */
  const blended = (n: number, c: number): Tensor[] => {
    const pa = params(nodeCopy(n, N));
    if (c === 0) return pa;
    const pb = params(nodeCopy(n + 1, N));
    if (c === 1) return pb;
    return pa.map((a, i) =>
      a === pb[i]
        ? a
        : combine(tf, cm, scalar, [
            [a, 1 - c],
            [pb[i], c],
          ]),
    );
  };

  /** x_m from an explicit linear multistep formula; `fNew` is f at t_m for a corrector. */
  const lmmStep = (lmm: LinearMultistep, m: number, fNew?: Tensor[]): Tensor[] => {
    const k = lmm.alpha.length - 1;
    const ak = lmm.alpha[k];
    const fs: [Tensor[], number][] = [];
    const xs: [Tensor[], number][] = [];
    for (let j = 0; j < k; j++) {
      if (lmm.alpha[j] !== 0) xs.push([X[m - k + j], -lmm.alpha[j] / ak]);
      if (lmm.beta[j] !== 0) fs.push([fAt(m - k + j), (h * lmm.beta[j]) / ak]);
    }
    if (fNew && lmm.beta[k] !== 0) fs.push([fNew, (h * lmm.beta[k]) / ak]);
    return cm.x0.map((_x, q) =>
      combine(tf, cm, scalar, [...xs.map(([v, s]): Term => [v[q], s]), ...fs.map(([v, s]): Term => [v[q], s])]),
    );
  };

  const s0 = Math.min(startSteps(scheme), N);
  const start = rkCoefficients(tf, scheme.start.tableau, h);
  const startFirstAtNode = scheme.start.tableau.c[0] === 0;
  const events = cm.timeStepping;
  events?.begin(cm.x0, t0, h);
  /** x_m after the step's events (a reset changes x_m before f is evaluated there). */
  const push = (m: number, x: Tensor[]) =>
    X.push(events ? events.afterStep(X[m - 1], x, time(m - 1), time(m), params(nodeCopy(m, N))) : x);
  for (let m = 1; m <= N; m++) {
    guardSolveMemory(m, N);
    const ramp = m >= 2 ? scheme.ramp[m - 2] : undefined;
    if (m <= s0 && ramp) push(m, lmmStep(ramp, m));
    else if (m <= s0) {
      const n = m - 1;
      const c = scheme.start.tableau.c;
      push(
        m,
        rkStep(tf, cm, start, X[n], time(n), (i) => blended(n, c[i]), startFirstAtNode ? fAt(n) : undefined),
      );
    } else if (scheme.predictor) {
      // PECE: predict, evaluate at t_m with θ_m, correct once; f(x_m) is evaluated later, when needed.
      const xp = lmmStep(scheme.predictor, m);
      const fp = cm.rhs(xp, params(nodeCopy(m, N)), time(m));
      push(m, lmmStep(scheme.method, m, fp));
    } else push(m, lmmStep(scheme.method, m));
  }
  return X;
}
