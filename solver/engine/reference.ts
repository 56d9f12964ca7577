// The continuous reference gradient (docs/design.md#continuous-adjoint):
//   g(t) = p(t)ᵀ ∂θ f(x(t), θ(t), t),  p' = −(∂x f)ᵀ p,  p(T) = ∂ℓ/∂x(T),
// and, for data losses ℓ(x(t_1), …, x(t_K), x(T)), the jumps
//   p(t_k⁻) = p(t_k⁺) + ∂ℓ/∂x(t_k)   at every observation time,
// with θ(t) the piecewise-linear interpolant of the per-step copies through
// their layer times (linear extrapolation beyond the first/last layer time,
// constant for shared parameters).
//
// Grid: uniform step H = h/2 (H = h when N ≥ 32, N even and every layer
// time lies on the h-grid, as for leapfrog and Euler), so every layer time is
// a grid node and θ(t) is linear between nodes. Coarse grids when θ(t) is
// constant (tied copies, e.g. at initialisation: no kinks inside a step), the
// layer times are on the h- or h/2-grid, there are no data losses and the
// coarse solve's own truncation estimate stays below 2⁻²⁴·√N: H = 8h or 4h
// with g at every layer time from x and p by cubic Hermite between the nodes
// and batched vjps (gradientOnGrid; an eighth or a quarter of the kernels of
// H = h), else H = 2h
// with the layer times at odd h-nodes as step midpoints, where g uses x by
// Hermite and p by cubic Hermite with p' = −(∂x f)ᵀp at both ends.
// Forward: classic RK4 with step H, storing x at the nodes; x anywhere else
// (interval midpoints, observation times) by cubic Hermite interpolation from
// x and f at both ends of its interval (fourth order, no extra f evaluations;
// f at the nodes is RK4's first stage).
// Backward: classic RK4 on the adjoint with step H (stages at the node, the
// midpoint, the next node); a step that contains an observation time is split
// there and the jump applied. Small states without jumps solve it on the usual
// grid in batched passes (batchedAdjoint.ts: Jacobians at every node and
// midpoint, a JS recursion, g at all points in one vjp); with untied copies g
// is also taken at the step midpoints, so that Simpson's rule for ∫ g dt never
// straddles a kink of θ(t). Vector–Jacobian products of f by AD of f only
// (no AD through any solver). g is evaluated at every node; at an
// observation node the right limit g(t⁺) is recorded (the copy at t acts on
// (t, t + h), after the observation).
// Error estimate (no second solve): each backward RK4 step's stages plus the
// next step's first stage (FSAL: the vjp at the new node, computed anyway for
// g) form an embedded third-order solution, Δ_m = σ/6·(s4 − s1_next) apart
// from the RK4 one. Δ_m estimates the third-order step's local error, an
// upper estimate of RK4's own (O(H⁵)); the global estimate carries their
// running sum E_m to each node, and
//   adjoint part = sqrt(Σ_m ‖E_m‖² / Σ_m ‖p_m‖²)
// over the nodes: the relative error of the adjoint p, of which g = pᵀ∂θf is
// linear. The forward RK4 solve gets the same FSAL estimate (k4 against f at
// the next node, its running sum against x), and float32 rounding is
// modelled as u·√K (u = 2⁻²⁴, K steps), plus the rounding of x(T) carried into
// ∂ℓ/∂x(T) (lossGradientRounding: large near the loss's minimum): referenceError
// is their sum; for ∫ g dt of shared parameters it grows by the cancellation
// ‖∫|g|‖/‖∫g‖, and Simpson's own error is added. When that error exceeds
// REFERENCE_TARGET on the usual grid, or the per-step copies differ (RK4's
// error in t, which this estimate cannot see), the step is halved (again while
// the error stays above REFERENCE_USABLE and the halvings pay off), and the
// reported error is at least a third of the last two solves' difference. Copies
// that differ go to half the step at once where its solves keep their nodes as
// arrays: each pair of its steps spans one usual step, and the pair against
// Simpson's rule on the usual step through the same nodes gives RK4's error in t
// (timeQuadrature.ts) without solving the usual grid.
// (Replaced a second backward solve at 2H: a third of the reference's
// cost, for an estimate of the coarse solve's error.)
import { UNCERTAIN_REFERENCE } from './verdict';
import type { TF, Tensor } from './tf';
import type { CompiledModel } from './compile';
import { relError } from './detect';
import type { Term } from './linearCombination';
import { gridHermite, hermiteBasis, hermiteValue } from './hermite';
import { concatElements, MAX_PATH_COMPONENTS, readNodes, type NodeValues, type StatePaths } from './statePath';
import {
  adjointPairs,
  batchedAdjoint,
  batchedAdjointApplies,
  interpolateCopies,
  interpWeights,
  layerRows,
} from './batchedAdjoint';
import {
  mlpForwardRk4,
  mlpGridGradients,
  mlpPassesApply,
  mlpSmoothAdjoint,
  thetaPath,
  traceFloats,
  type MlpForwardPasses,
} from './fusedMlp/reference';
import type { ScalarProgram } from './scalarProgram';
import { referenceRk4, type ReferenceNodes } from './scalarKernel/referenceRk4';
import { lazySteps } from './lazySteps';
import { programAdjoint, programSmoothAdjoint } from './scalarKernel/referenceAdjoint';
import { workClock } from './work';
import { pairQuadratureDifference } from './timeQuadrature';

/**
 * Σ c·v over the terms: one kernel through cm.combine (fused small models), else `wide()`, arranged for
 * few kernels on wide tensors. Callers put the state last: the increments are summed at their own scale
 * and added to it once, as the wide formulas do (the state first rounds at its scale after every term).
 */
function linear(cm: CompiledModel, terms: Term[], wide: () => Tensor): Tensor {
  return cm.combine ? cm.combine(terms) : wide();
}

/** x + h·d per state (an RK4 stage's input); `sh` is h as a scalar tensor. */
function plusScaled(tf: TF, cm: CompiledModel, x: Tensor[], d: Tensor[], h: number, sh: Tensor): Tensor[] {
  return x.map((xi, i) =>
    linear(
      cm,
      [
        [d[i], h],
        [xi, 1],
      ],
      () => tf.add(xi, tf.mul(d[i], sh)),
    ),
  );
}

/** RK4's step x + H/6·(k1 + 2(k2 + k3) + k4) per state; `sTwo`, `sSixth` are 2 and H/6 as scalar tensors. */
function rk4Combine(
  tf: TF,
  cm: CompiledModel,
  x: Tensor[],
  k1: Tensor[],
  k2: Tensor[],
  k3: Tensor[],
  k4: Tensor[],
  H: number,
  sTwo: Tensor,
  sSixth: Tensor,
): Tensor[] {
  return x.map((xi, i) =>
    linear(
      cm,
      [
        [k1[i], H / 6],
        [k2[i], H / 3],
        [k3[i], H / 3],
        [k4[i], H / 6],
        [xi, 1],
      ],
      () => tf.add(xi, tf.mul(tf.addN([k1[i], tf.mul(tf.add(k2[i], k3[i]), sTwo), k4[i]]), sSixth)),
    ),
  );
}

export interface ReferenceInput {
  N: number;
  h: number;
  t0: number;
  /** Per parameter: per-step flag, JS values (N×P for per-step, P for shared), internal shape. */
  params: {
    perStep: boolean;
    values: Float32Array;
    shape: number[];
    size: number;
    equalCopies?: boolean;
    /** A state's initial value checked as a parameter (check/initialValues.ts): the offset of its elements among all states'. */
    initialValueAt?: number;
  }[];
  /** Layer times of the per-step copies (N of them, or N·s per-stage copies; any order-preserving spacing). */
  layerTimes: number[];
  /** Solve the adjoint with one linearisation per node even where the batched solve applies (tests compare the two). */
  perNodeAdjoint?: boolean;
  /** Time the solves on a stable step of a stiff model may take (default STIFF_REFERENCE_BUDGET_MS). */
  stiffBudgetMs?: number;
}

/** What snapping events to the grid does to the gradient, from the reference of a model with events (engine/eventReference.ts). */
export interface EventGradients {
  /** Firings of the continuous solve on [t0, T]. */
  firings: number;
  /** Per parameter, the flow's gradient with every firing time held fixed (the limit of the grid's AD). */
  fixed: Float32Array[];
}

export interface ReferenceResult {
  /** Per parameter: g at each layer time (copies×P) for per-step, ∫g dt (P) for shared. */
  g: Float32Array[];
  referenceError: number;
  /** p(T) etc. are not returned; the loss of the accurate solve is. */
  lossAccurate: number;
  /** Times of the reference grid nodes (step H). */
  gridTimes: number[];
  /** True when a non-finite value appeared. */
  nonFinite: boolean;
  /** x(t) and p(t) at the grid nodes, for the plots (read back from the solves, not solved again). */
  paths?: StatePaths;
  /** A model with events (engine/eventReference.ts): its firings and the gradient with their times held fixed. */
  events?: EventGradients;
  /** Set when the usual grid's RK4 blew up on a stiff model: the stable step it needed, and whether it was solved. */
  stiff?: StiffReference;
  /** Its solve's own estimate was too large for a finer step to make it judge AD (UNREFINABLE_FACTOR): none was taken. */
  unrefinable?: true;
}

/**
 * The reference of a stiff model (diffusion on a fine lattice, fast kinetics), whose explicit RK4 blows up on the
 * usual grid: RK4 is stable for H·ρ ≲ 2.79 (ρ the spectral radius of ∂f/∂x, the same for the adjoint), so the
 * reference is solved again on the step that makes it stable, when that fits the time and memory budgets.
 */
export interface StiffReference {
  /** ρ estimated by power iteration on vector–Jacobian products at x(t0) (NaN when it could not be estimated). */
  spectralRadius: number;
  /** Steps of the usual grid, whose solve blew up. */
  usualSteps: number;
  /** The usual grid's step is outside RK4's stability for ρ (else the blow-up grew along the solution, not at its start). */
  stiffAtStart: boolean;
  /** Steps of the stable grid: solved when `solved`, else the first one refused or still unstable. */
  steps: number;
  /** Measured time of the stable solves when `solved`; else the predicted time of the refused one (from the usual grid's cost per step). */
  ms: number;
  budgetMs: number;
  solved: boolean;
  /** Why it was not solved: over the time budget, over the memory budget, or still blowing up after MAX_STIFF_ATTEMPTS grids. */
  refused?: 'time' | 'memory' | 'unstable';
}

/** All `copies` copies of a per-step parameter are equal (θ(t) constant); `p.equalCopies` when already known. */
export function equalCopies(p: ReferenceInput['params'][number], copies: number): boolean {
  if (p.equalCopies !== undefined) return p.equalCopies;
  const P = p.size;
  const v = p.values;
  for (let n = 1; n < copies; n++) for (let k = 0, o = n * P; k < P; k++) if (v[o + k] !== v[k]) return false;
  return true;
}

/** The accurate forward solve: nodes, f at nodes, midpoints, and x / θ at any time. */
interface Forward {
  K: number;
  H: number;
  X: Tensor[][];
  F: Tensor[][];
  /** x at the step midpoints (cubic Hermite), made on first use. */
  XM(): Tensor[][];
  /** x at time τ (node, midpoint, else Hermite; call inside a tidy for the latter). */
  xAt(tau: number): Tensor[];
  /** θ(τ): cached on the h/8 grid, computed directly elsewhere (call inside a tidy). */
  thetaAtTime(tau: number): Tensor[];
  /** Loss of the accurate solve, with x(obs) by Hermite interpolation. Call inside a tidy. */
  observedStates(): Map<string, Tensor[]>;
  lossOf(xT: Tensor[], obs: Map<string, Tensor[]>): Tensor;
  /** Relative error estimate of the forward solve (embedded FSAL estimate, running sum over the nodes; computed once). */
  forwardError(): number;
  /** On half the usual step: the pairs' quadrature difference in t (timeQuadrature.ts), undivided. */
  pairDifference(): number;
  /** The nodes as arrays when the forward solve ran in JS (scalarKernel/referenceRk4.ts). */
  nodes?: ReferenceNodes;
  /**
   * Set when the solve blew up: its first node that is not finite, where it stopped (a fused program's arrays are NaN
   * after it, the other solves' nodes end there). No reference is made from it: no adjoint, no estimates (referenceWith).
   */
  blownAt?: number;
  /** An MLP field's forward solve in JS: its θ path and the nodes' forward passes, which the adjoint reads again. */
  mlp?: MlpForwardPasses;
  /** An MLP field's forward solve in JS: x, f and the last stage at the nodes as arrays (X, F and K4 are made from them when read). */
  mlpNodes?: { X: Float32Array[]; F: Float32Array[]; K4: Float32Array[] };
  dispose(): void;
}

/** `stepLimit`: solve only the first steps of the grid (a probe of its cost; Forward.K is then the steps solved). */
function forwardSolve(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  factor = 1,
  subdivide = 1,
  stepLimit = Infinity,
): Forward {
  const { N, h, t0 } = inp;
  const owned: Tensor[] = [];
  const track = <T extends Tensor>(t: T): T => {
    tf.keep(t);
    owned.push(t);
    return t;
  };
  try {
    const thetaAtTime = parameterPath(tf, inp, track);
    // coarse (factor > 1, continuousReference decides): H = factor·h, layer times inside the steps;
    // else the usual grid, `subdivide` times finer when its error is too large.
    const grid = factor > 1 ? N / factor : subdivide * usualSteps(inp);
    const H = (N * h) / grid;
    const K = Math.min(grid, stepLimit);
    const sSixth = track(tf.scalar(H / 6));
    // An MLP field or a fused scalar program runs the forward RK4 in plain JS; other models on TF.js kernels.
    const prog = kernelPrograms.get(cm);
    const nodes = prog && referenceRk4(prog, concatElements(cm.x0), K, H, t0, flatParameterPath(inp));
    const inJs = mlpForward(tf, cm, inp, K, H, owned);
    const tensorNodes = inJs || nodes ? undefined : forwardRk4(tf, cm, t0, K, H, sSixth, thetaAtTime, track, owned);
    const { X, F, K4 } = inJs ?? tensorNodes ?? nodeTensors(tf, cm, nodes!, K, track);
    let mids: Tensor[][] | undefined;
    const XM = (): Tensor[][] => (mids ??= midpoints(tf, cm, X, F, K, H, track));
    const xAt = (tau: number) => hermite(tf, X, F, XM, t0, K, H, tau);
    const observedStates = (): Map<string, Tensor[]> => {
      const out = new Map<string, Tensor[]>();
      for (const d of cm.observed) {
        const per = d.times.map((tk) => xAt(tk));
        out.set(
          d.name,
          cm.x0.map((_x, si) =>
            cm.stateShapes[si].length > 1 ? tf.zeros([1]) : tf.stack(per.map((xs) => tf.reshape(xs[si], [-1]))),
          ),
        );
      }
      return out;
    };
    // The default loss on x(T) as one row: the packed state unpacked, and per state a square, a sum and their
    // gradients, were 0.26 s of nthet.ode's reference (200 states).
    const lossOf = (xT: Tensor[], obs: Map<string, Tensor[]>): Tensor =>
      cm.observed.length > 0
        ? cm.loss(xT, (data, si) => (obs.get(data) as Tensor[])[si])
        : cm.rowLoss
          ? cm.rowLoss.one(tf.reshape(xT.length === 1 ? xT[0] : tf.concat(xT.map((x) => tf.reshape(x, [-1]))), [1, -1]))
          : cm.loss(xT);
    let forwardEstimate: number | undefined;
    const blownAt = nodes ? nodes.blownAt : (inJs ?? tensorNodes)?.blownAt;
    const forwardError = (): number => (blownAt !== undefined ? NaN : (forwardEstimate ??= embeddedForwardError()));
    const embeddedForwardError = (): number => {
      // Δ_k = H/6·(k4_k − f(x_{k+1})); E_k = Σ_{j≤k} Δ_j against x_{k+1}, all states (read once, summed in float64).
      let num = 0,
        den = 0;
      let stateAt = 0;
      const S = cm.x0.reduce((a, y) => a + y.size, 0);
      cm.x0.forEach((x, i) => {
        const E = new Float64Array(x.size);
        if (nodes) {
          // The JS solve's node arrays read in place (a view per node and array made 900,000 on ml1.ode).
          const { K4: k4, F: f, X: xs } = nodes;
          for (let k = 0; k < K; k++) {
            const a = k * S + stateAt,
              b = a + S;
            for (let c = 0; c < E.length; c++) {
              E[c] += (H / 6) * (k4[a + c] - f[b + c]);
              num += E[c] * E[c];
              den += xs[b + c] * xs[b + c];
            }
          }
          stateAt += x.size;
          return;
        }
        for (let k = 0; k < K; k++) {
          // The JS solve's arrays when it ran (the same numbers, without a tensor read per node).
          const mn = inJs?.arrays;
          const k4 = mn ? mn.K4[k] : K4[k][i].dataSync(),
            f = mn ? mn.F[k + 1] : F[k + 1][i].dataSync(),
            xk = mn ? mn.X[k + 1] : X[k + 1][i].dataSync();
          for (let c = 0; c < E.length; c++) {
            E[c] += (H / 6) * (k4[c] - f[c]);
            num += E[c] * E[c];
            den += xk[c] * xk[c];
          }
        }
        stateAt += x.size;
      });
      return den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
    };
    const S = cm.x0.reduce((a, x) => a + x.size, 0);
    const pairDifference = (): number => {
      const mn = inJs?.arrays;
      const row = (k: number, a: Float32Array | undefined, list: Float32Array[] | undefined, t: Tensor[][]) =>
        a ? a.subarray(k * S, (k + 1) * S) : list ? list[k] : concatElements(t[k]);
      // Tensor nodes: read once per node, states in order (the arrays' rows).
      return pairQuadratureDifference(
        (k) => row(k, nodes?.X, mn?.X, X),
        (k) => row(k, nodes?.F, mn?.F, F),
        K,
        H,
        S,
        false,
      );
    };
    return {
      K,
      H,
      X,
      F,
      XM,
      xAt,
      thetaAtTime,
      observedStates,
      lossOf,
      forwardError,
      pairDifference,
      nodes,
      ...(blownAt !== undefined ? { blownAt } : {}),
      ...(inJs ? { mlp: inJs.passes, mlpNodes: inJs.arrays } : {}),
      dispose: () => tf.dispose(owned),
    };
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}

/** Steps of the usual grid: N (H = h) when N ≥ 32, N is even and every layer time lies on the h-grid, else 2N. */
function usualSteps(inp: ReferenceInput): number {
  const { N, h, t0 } = inp;
  const onHGrid =
    !inp.params.some((p) => p.perStep) ||
    inp.layerTimes.every((tn) => Math.abs((tn - t0) / h - Math.round((tn - t0) / h)) < 1e-6);
  return N >= 32 && N % 2 === 0 && onHGrid ? N : 2 * N;
}

/** f is an MLP field evaluated as one op, on a state and parameters of its own shapes: the plain-JS passes apply. */
function mlpApplies(cm: CompiledModel, inp: ReferenceInput): boolean {
  const mlp = cm.mlp;
  return !!mlp && mlp.owner === cm.rhs && cm.x0.length === 1 && mlpPassesApply(mlp.field, cm.x0[0].shape, inp.params);
}

/**
 * The forward RK4 in plain JS when f is an MLP field evaluated as one op (engine/fusedMlp/reference.ts:
 * forwardRk4's numbers, without its ops); undefined when the field's passes do not apply.
 */
function mlpForward(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  K: number,
  H: number,
  owned: Tensor[],
):
  | {
      X: Tensor[][];
      F: Tensor[][];
      K4: Tensor[][];
      passes: MlpForwardPasses;
      arrays: { X: Float32Array[]; F: Float32Array[]; K4: Float32Array[] };
      blownAt?: number;
    }
  | undefined {
  const mlp = cm.mlp;
  if (!mlp || !mlpApplies(cm, inp)) return undefined;
  // The solve's nodes and midpoints are H/2 apart: on the h/8 grid when H/2 is a multiple of h/8.
  const stride = (4 * H) / inp.h;
  const theta = thetaPath(
    inp.params,
    inp.layerTimes,
    inp.h,
    inp.t0,
    true,
    Math.abs(stride - Math.round(stride)) < 1e-9 ? Math.round(stride) : 0,
    THETA_KEPT_POINTS,
  );
  // The nodes' forward passes, for the adjoint's linearisation there (up to 8 MB of them).
  const keep = (K + 1) * traceFloats(mlp.field) <= KEPT_TRACE_FLOATS;
  const r = mlpForwardRk4(mlp.field, cm.x0[0].dataSync() as Float32Array, K, H, inp.t0, theta, keep);
  const shape = cm.x0[0].shape;
  // A tensor per node only where one is read (the JS passes read the arrays): 3K tensors cost more than the solve's steps.
  const wrap = (v: Float32Array): Tensor[] => {
    // Kept: a node may first be read inside a caller's tidy, and the solve owns it.
    const t = tf.keep(tf.tensor(v, shape));
    owned.push(t);
    return [t];
  };
  return {
    X: lazySteps(K, (n) => (n === 0 ? cm.x0 : wrap(r.X[n]))),
    F: lazySteps(K, (n) => wrap(r.F[n])),
    K4: lazySteps(K - 1, (n) => wrap(r.K4[n])),
    passes: { theta, nodeTraces: r.traces },
    arrays: { X: r.X, F: r.F, K4: r.K4 },
    ...(r.blownAt !== undefined ? { blownAt: r.blownAt } : {}),
  };
}

/**
 * θ(t) points an MLP field's solves keep interpolated, their buffers reused: the adjoint interpolates again
 * rather than keep every point of the forward solve (100 MB of fresh pages at d 64, width 256, N 256, which
 * the garbage collector answers with full collections for external memory).
 */
const THETA_KEPT_POINTS = 16;

/** Floats of the nodes' forward passes an MLP field's forward solve keeps for its adjoint. */
const KEPT_TRACE_FLOATS = 1 << 21;

/** θ(τ): the piecewise-linear interpolant of the per-step copies (constant ones share one tensor), cached on the h/8 grid. */
function parameterPath(tf: TF, inp: ReferenceInput, track: <T extends Tensor>(t: T) => T): (tau: number) => Tensor[] {
  const { h, t0 } = inp;
  const dt8 = h / 8; // θ cache grid: every node, midpoint and RK4 stage time of both reference grids
  // Constant parameters (shared, or per-step with equal copies) share one tensor.
  const constant: (Tensor | null)[] = inp.params.map((p) => {
    if (!p.perStep) return track(tf.tensor(p.values, p.shape));
    return equalCopies(p, inp.layerTimes.length) ? track(tf.tensor(p.values.subarray(0, p.size), p.shape)) : null;
  });
  const interpolated = (i: number, t: number): Float32Array => {
    const p = inp.params[i];
    const out = new Float32Array(p.size);
    interpolateCopies(p.values, p.size, interpWeights(inp.layerTimes, t), out, 0);
    return out;
  };
  const cache: (Tensor | undefined)[][] = inp.params.map(() => []);
  const thetaAt = (j: number): Tensor[] =>
    inp.params.map((p, i) => {
      const c = constant[i];
      if (c) return c;
      const hit = cache[i][j];
      if (hit) return hit;
      const t = track(tf.tensor(interpolated(i, t0 + j * dt8), p.shape));
      cache[i][j] = t;
      return t;
    });
  const thetaAtTime = (tau: number): Tensor[] => {
    const j = (tau - t0) / dt8;
    const r = Math.round(j);
    if (Math.abs(j - r) < 1e-6 && r >= 0) return thetaAt(r);
    return inp.params.map((p, i) => constant[i] ?? tf.tensor(interpolated(i, tau), p.shape));
  };
  return thetaAtTime;
}

/** θ(τ) flattened in parameter order, with the values parameterPath's tensors hold (the JS forward solve's parameters). */
function flatParameterPath(inp: ReferenceInput): (tau: number) => Float32Array {
  const { h, t0 } = inp;
  const dt8 = h / 8;
  const Q = inp.params.reduce((a, p) => a + p.size, 0);
  const constant = inp.params.map((p) =>
    !p.perStep ? p.values : equalCopies(p, inp.layerTimes.length) ? p.values.subarray(0, p.size) : null,
  );
  const fixed = new Float32Array(Q);
  inp.params.forEach((_p, i) => {
    const c = constant[i];
    if (c) fixed.set(c.subarray(0, inp.params[i].size), offsetOf(inp, i));
  });
  if (constant.every((c) => c)) return () => fixed;
  const out = new Float32Array(Q);
  return (tau) => {
    // The tensor path's time: a point of its h/8 cache grid is interpolated at that grid time.
    const j = (tau - t0) / dt8;
    const r = Math.round(j);
    const t = Math.abs(j - r) < 1e-6 && r >= 0 ? t0 + r * dt8 : tau;
    out.set(fixed);
    inp.params.forEach((p, i) => {
      if (!constant[i]) interpolateCopies(p.values, p.size, interpWeights(inp.layerTimes, t), out, offsetOf(inp, i));
    });
    return out;
  };
}

/** Where parameter i starts in the flat parameters. */
function offsetOf(inp: ReferenceInput, i: number): number {
  let at = 0;
  for (let j = 0; j < i; j++) at += inp.params[j].size;
  return at;
}

/** The first MAX_PATH_COMPONENTS components of the K + 1 rows of `values` (readNodes of the same nodes). */
function nodeRows(values: Float32Array, K: number): NodeValues {
  const S = values.length / (K + 1),
    columns = Math.min(MAX_PATH_COMPONENTS, S);
  if (columns === S) return { columns, values: values.slice() };
  const out = new Float32Array((K + 1) * columns);
  for (let k = 0; k <= K; k++) out.set(values.subarray(k * S, k * S + columns), k * columns);
  return { columns, values: out };
}

/** The first MAX_PATH_COMPONENTS components of each node's array (readNodes of the same nodes). */
function arrayRows(nodes: Float32Array[]): NodeValues {
  const columns = Math.min(MAX_PATH_COMPONENTS, nodes[0].length);
  const values = new Float32Array(nodes.length * columns);
  nodes.forEach((x, k) => values.set(x.subarray(0, columns), k * columns));
  return { columns, values };
}

/** The JS solve's nodes as the per-kernel solve's tensors (x_0 the model's own), each made when first read and owned by the solve. */
function nodeTensors(
  tf: TF,
  cm: CompiledModel,
  nodes: ReferenceNodes,
  K: number,
  track: <T extends Tensor>(t: T) => T,
) {
  const at: number[] = [];
  let S = 0;
  for (const x of cm.x0) {
    at.push(S);
    S += x.size;
  }
  const row = (data: Float32Array, n: number) =>
    cm.x0.map((x, i) => track(tf.tensor(data.slice(n * S + at[i], n * S + at[i] + x.size), x.shape)));
  const X = lazySteps(K, (n) => (n === 0 ? cm.x0 : row(nodes.X, n)));
  return { X, F: lazySteps(K, (n) => row(nodes.F, n)), K4: lazySteps(K - 1, (n) => row(nodes.K4, n)) };
}

/** RK4's constants and f for one forward solve (created once per solve). */
interface Rk4Stepper {
  tf: TF;
  cm: CompiledModel;
  H: number;
  sH: Tensor;
  sHalf: Tensor;
  sTwo: Tensor;
  sSixth: Tensor;
  thetaAtTime: (tau: number) => Tensor[];
  ownedCopy: (t: Tensor) => Tensor;
}

/** One RK4 step from x at tk: the next state and the stages k1 = f(x), k4 (as tensors this solve owns). Inside its own tidy. */
function forwardStep(r: Rk4Stepper, x: Tensor[], tk: number): { next: Tensor[]; k1: Tensor[]; k4: Tensor[] } {
  const { tf, cm, H, sH, sHalf, sTwo, sSixth, thetaAtTime, ownedCopy } = r;
  return tf.tidy(() => {
    const th0 = thetaAtTime(tk),
      th1 = thetaAtTime(tk + H / 2),
      th2 = thetaAtTime(tk + H);
    const k1 = cm.rhs(x, th0, tk);
    const k2 = cm.rhs(plusScaled(tf, cm, x, k1, H / 2, sHalf), th1, tk + H / 2);
    const k3 = cm.rhs(plusScaled(tf, cm, x, k2, H / 2, sHalf), th1, tk + H / 2);
    const k4 = cm.rhs(plusScaled(tf, cm, x, k3, H, sH), th2, tk + H);
    const next = rk4Combine(tf, cm, x, k1, k2, k3, k4, H, sTwo, sSixth);
    return { next, k1: k1.map(ownedCopy), k4: k4.map(ownedCopy) };
  });
}

/**
 * Classic RK4 with step H from x0: X[k] at t0 + kH, F[k] = f(X[k]) (K + 1 of each), and each step's last stage K4[k].
 * The nodes are read at k = 1, 2, 4, 8, … and K (a read per step would cost a synchronisation per step): at the first
 * read that is not finite the solve stops, within twice the steps of its blow-up, and X ends at its first node that
 * is not finite (`blownAt`), as scalarKernel/referenceRk4.ts stops.
 */
function forwardRk4(
  tf: TF,
  cm: CompiledModel,
  t0: number,
  K: number,
  H: number,
  sSixth: Tensor,
  thetaAtTime: (tau: number) => Tensor[],
  track: <T extends Tensor>(t: T) => T,
  owned: Tensor[],
) {
  const sH = track(tf.scalar(H)),
    sHalf = track(tf.scalar(H / 2));
  const sTwo = track(tf.scalar(2));
  // f may hand back a tensor it does not own (`x' = y` returns the state y, `i' = 0` a
  // compiled constant, at k = 0 the model's own x0): share its data under a handle of ours,
  // so disposing what this solve owns never frees the compiled model's tensors.
  const ownedCopy = (t: Tensor): Tensor => ((t as Tensor & { kept?: boolean }).kept ? tf.clone(t) : t);
  const stepper: Rk4Stepper = { tf, cm, H, sH, sHalf, sTwo, sSixth, thetaAtTime, ownedCopy };
  // X[k] at t0 + kH, F[k] = f(X[k]).
  const X: Tensor[][] = [cm.x0];
  const F: Tensor[][] = [];
  const K4: Tensor[][] = [];
  let finiteUpTo = 0;
  for (let k = 0; k < K; k++) {
    const res = forwardStep(stepper, X[k], t0 + k * H);
    for (const t of [...res.next, ...res.k1, ...res.k4]) owned.push(t);
    X.push(res.next);
    F.push(res.k1);
    K4.push(res.k4);
    const n = k + 1;
    if ((n & (n - 1)) === 0 || n === K) {
      if (!finiteNode(X[n])) {
        // A value that is not finite stays so in every later step: the first such node is after the last read.
        let blownAt = n;
        while (blownAt > finiteUpTo + 1 && !finiteNode(X[blownAt - 1])) blownAt--;
        return { X: X.slice(0, blownAt + 1), F, K4, blownAt };
      }
      finiteUpTo = n;
    }
  }
  const fEnd = tf.tidy(() => cm.rhs(X[K], thetaAtTime(t0 + K * H), t0 + K * H).map(ownedCopy));
  for (const t of fEnd) owned.push(t);
  F.push(fEnd);
  return { X, F, K4 };
}

/** x at the midpoint of every step [k, k+1] by cubic Hermite. */
function midpoints(
  tf: TF,
  cm: CompiledModel,
  X: Tensor[][],
  F: Tensor[][],
  K: number,
  H: number,
  track: <T extends Tensor>(t: T) => T,
): Tensor[][] {
  const sEighth = track(tf.scalar(H / 8)),
    sMid = track(tf.scalar(0.5));
  // All midpoints at once (a handful of kernels instead of five per step).
  const XM: Tensor[][] = Array.from({ length: K }, () => []);
  tf.tidy(() =>
    cm.x0.forEach((_x, i) => {
      const Xs = tf.stack(X.map((x) => x[i])),
        Fs = tf.stack(F.map((f) => f[i]));
      const lo = (a: Tensor) => tf.slice(a, 0, K),
        hi = (a: Tensor) => tf.slice(a, 1, K);
      const m = tf.add(tf.mul(tf.add(lo(Xs), hi(Xs)), sMid), tf.mul(tf.sub(lo(Fs), hi(Fs)), sEighth));
      tf.unstack(m).forEach((t, k) => {
        XM[k].push(track(t));
      });
    }),
  );
  return XM;
}

/** x at time τ: a node, a midpoint, else cubic Hermite from x and f at both ends of its step (call inside a tidy for the latter). */
function hermite(
  tf: TF,
  X: Tensor[][],
  F: Tensor[][],
  XM: () => Tensor[][],
  t0: number,
  K: number,
  H: number,
  tau: number,
): Tensor[] {
  const u = (tau - t0) / H;
  const k = Math.max(0, Math.min(K - 1, Math.floor(u + 1e-7)));
  const s = u - k;
  if (Math.abs(s) < 1e-7) return X[k];
  if (Math.abs(s - 1) < 1e-7) return X[k + 1];
  if (Math.abs(s - 0.5) < 1e-7) return XM()[k];
  // Cubic Hermite on [k, k+1].
  const { v0, d0, v1, d1 } = hermiteBasis(s, H);
  const c = [v0, d0, v1, d1].map((v) => tf.scalar(v));
  return X[k].map((xa, i) =>
    tf.addN([tf.mul(xa, c[0]), tf.mul(F[k][i], c[1]), tf.mul(X[k + 1][i], c[2]), tf.mul(F[k + 1][i], c[3])]),
  );
}

/**
 * The flow loss: the loss of the parameters interpolated in t, solved
 * accurately (the reference's forward RK4 solve alone, no adjoint).
 */
export function accurateLoss(tf: TF, cm: CompiledModel, inp: ReferenceInput): number {
  const fw = forwardSolve(tf, referenceModel(cm), inp);
  try {
    if (fw.blownAt !== undefined) return NaN;
    let v = NaN;
    tf.tidy(() => {
      v = fw.lossOf(fw.X[fw.K], fw.observedStates()).dataSync()[0];
    });
    return v;
  } finally {
    fw.dispose();
  }
}

interface Jump {
  t: number;
  lam: Tensor[];
}
/**
 * Scalar models with several states solve the reference on their packed state (one kernel per
 * operation instead of one per state; CompiledModel.packed); data losses keep the state list.
 */
function referenceModel(cm: CompiledModel): CompiledModel {
  const view = cm.packed && cm.packed.owner === cm.rhs && cm.observed.length === 0 ? cm.packed.model() : cm;
  // The forward solve in JS where f is the whole-solve kernel's program (not a view that replaces f).
  const ws = cm.wholeSolve;
  if (ws?.program && ws.owner === cm.rhs && !cm.timeStepping) kernelPrograms.set(view, ws.program);
  return view;
}

/** Reference models whose forward solve runs in JS (scalarKernel/referenceRk4.ts), with their program. */
const kernelPrograms = new WeakMap<CompiledModel, ScalarProgram>();

/** g just after (plus) and just before (minus) a jump inside a reference step, per parameter. */
interface InnerJump {
  t: number;
  plus: Float32Array[];
  minus: Float32Array[];
}

/**
 * When every per-step parameter has equal copies (θ(t) constant, no kinks): the
 * points per h of the finest uniform grid through every layer time (1: the h-grid,
 * as for leapfrog and Euler; 2: the h/2-grid, as for step-tied Runge–Kutta copies at
 * t_n + h/2). 0 when the copies differ or the layer times are on neither grid.
 */
function tiedGridDivisions(inp: ReferenceInput): 0 | 1 | 2 {
  const { h, t0 } = inp;
  const on = (r: number) =>
    inp.layerTimes.every((tn) => Math.abs((r * (tn - t0)) / h - Math.round((r * (tn - t0)) / h)) < 1e-6);
  const r = on(1) ? 1 : on(2) ? 2 : 0;
  const tied = inp.params.every((p) => !p.perStep || equalCopies(p, inp.layerTimes.length));
  return tied ? r : 0;
}

/** Coarse reference steps tried, coarsest first (H = factor·h). */
const COARSE_FACTORS = [8, 4, 2] as const;
type CoarseFactor = (typeof COARSE_FACTORS)[number];
/**
 * Fewest steps a coarse grid may have. 8h only from 16 steps on: below that it saves
 * little, and when its forward estimate misses (as for 64 states, N = 64), the wasted
 * forward solve cost a quarter of the reference.
 */
const MIN_COARSE_STEPS: Record<CoarseFactor, number> = { 8: 16, 4: 8, 2: 8 };

/**
 * The reference on step H = 8h, 4h or 2h when that is accurate enough, else on the usual
 * grid. Coarse only for a smooth θ(t) (tied copies, layer times on the h- or h/2-grid)
 * and no data losses (no adjoint jumps), and only when the coarse solve's own embedded
 * truncation estimate stays below the fine solve's modelled float32 rounding 2⁻²⁴·√N.
 * The forward solve's estimate is read first: when it alone misses, the adjoint is not
 * solved on that grid. A miss predicts the next grid's estimate by H⁴ scaling; grids
 * predicted to miss are skipped. (The estimate is third order, O(H⁴) like the cubic
 * Hermite interpolation of x and p between the nodes, so it bounds that error's size too.)
 */
export function continuousReference(
  tf: TF,
  model: CompiledModel,
  given: ReferenceInput,
  signalCheck?: () => void,
): ReferenceResult {
  const cm = referenceModel(model);
  // Scanned once here: the grid choice and every forward solve below ask (4.6 ms a check on 2 million values).
  const inp: ReferenceInput = {
    ...given,
    params: given.params.map((p) => ({ ...p, equalCopies: p.perStep && equalCopies(p, given.layerTimes.length) })),
  };
  const divisions = tiedGridDivisions(inp);
  if (inp.N >= 32 && inp.N % 2 === 0 && cm.observed.length === 0 && cm.rhsVjp && divisions > 0) {
    const tolerance = 2 ** -24 * Math.sqrt(inp.N);
    // g at the layer times in one batched vjp allows any factor; without it H = 2h needs them on the h-grid.
    const grid = gridGradientApplies(cm, divisions);
    const factors = COARSE_FACTORS.filter(
      (f) => inp.N % f === 0 && inp.N / f >= MIN_COARSE_STEPS[f] && (grid || (f === 2 && divisions === 1)),
    );
    let missed: { factor: CoarseFactor; truncation: number } | undefined;
    for (const factor of factors) {
      if (missed && !(missed.truncation * (factor / missed.factor) ** 4 <= tolerance)) continue;
      const fw = forwardSolve(tf, cm, inp, factor);
      const forward = fw.forwardError();
      if (!(forward <= tolerance)) {
        fw.dispose();
        missed = { factor, truncation: forward };
        continue;
      }
      const { truncation, ...r } = referenceWith(tf, cm, inp, factor, divisions, signalCheck, fw);
      if (!r.nonFinite && truncation <= tolerance) return r;
      if (r.nonFinite) break;
      missed = { factor, truncation };
    }
  }
  // Error control on the usual grid by halving the step: once when the reported error exceeds
  // REFERENCE_TARGET, then while it stays above REFERENCE_USABLE, the solves' differences keep
  // shrinking (chaotic sensitivity does not let them) and the grid stays within MAX_REFERENCE_STEPS.
  // Each solve is checked against the one before: every part of the reference is at least second order
  // in H, so the finer solve's error is at most a third of their difference (a fifteenth for RK4 proper);
  // the embedded third-order estimate goes as H³ where RK4's error goes as H⁴, and before the asymptotic
  // regime it falls short (at 4e-4 by 3×). Each halving costs as much again as the solve before it.
  const paramFloats = inp.params.reduce((a, q) => a + q.size, 0),
    stateFloats = 8 * cm.x0.reduce((a, x) => a + x.size, 0);
  // What a solve of `steps` steps keeps: g at every node, or for an MLP field's JS passes with per-step
  // parameters only, g at the rows their layer times read (the other rows' pages are never written).
  const keptFloats = (steps: number): number => {
    const rows =
      inp.params.every((q) => q.perStep) && mlpApplies(cm, inp)
        ? (layerRows(inp.t0, steps, (inp.N * inp.h) / steps, inp.params, inp.layerTimes)?.reduce((a, r) => a + r, 0) ??
          steps + 1)
        : steps + 1;
    return rows * paramFloats + (steps + 1) * stateFloats;
  };
  // Copies that differ make θ(t) turn at every layer time: inside a step f then moves with t faster than
  // with x, and RK4's error there is its quadrature in t (Simpson's, as for x' = f(t)), which the embedded
  // estimate cannot see (k4 and f at the new node are then the same value). So such a solve is always
  // checked against one on half the step (independent copies, N = 1024: measured 2.2e-4 where the
  // estimate said 4.8e-6).
  const untied = inp.params.some((q) => q.perStep && !q.equalCopies);
  // Where the solves keep their nodes as arrays, half the step is solved at once and its error in t taken
  // from its own pairs of steps, which span the usual grid's steps (timeQuadrature.ts: on independent
  // copies within 3% of the third of the two solves' difference it replaces, without the usual grid's solve).
  const usualClock = workClock();
  const half =
    untied && keptFloats(2 * usualSteps(inp)) <= SUBDIVIDE_FLOATS
      ? referenceWith(tf, cm, inp, 1, 1, signalCheck, undefined, 2, true)
      : undefined;
  const direct = half && !half.nonFinite && half.timeError !== undefined;
  let fine = direct ? half : referenceWith(tf, cm, inp, 1, 1, signalCheck);
  const usualMs = usualClock.workMs();
  // RK4 blew up on the usual grid: a stiff model gets the step that makes RK4 stable, within its budget.
  let base = 1;
  let stiff: StiffReference | undefined;
  const budgetMs = inp.stiffBudgetMs ?? STIFF_REFERENCE_BUDGET_MS;
  const solvedSteps = fine.gridTimes.length - 1;
  // A step's cost, for a stiff model's budget: the usual grid's, unless its solve stopped at a blow-up within a few
  // steps; then the stable grid's (stableReference: probed, then measured on the grid solved).
  const blown = fine.blownAt !== undefined;
  let perStepMs = blown ? NaN : usualMs / solvedSteps;
  if (!Number.isFinite(fine.lossAccurate)) {
    const stable = stableReference(tf, cm, inp, solvedSteps, perStepMs, budgetMs, keptFloats, signalCheck);
    stiff = stable.stiff;
    if (!stable.result) return { ...withoutTruncation(fine), stiff };
    fine = stable.result;
    base = stable.subdivide;
    if (blown) perStepMs = stable.perStepMs;
  }
  let spentMs = stiff?.ms ?? 0;
  let lastApart = Infinity;
  // The first halving (the usual grid's, or a stable grid's) is asked for on REFERENCE_TARGET; a direct half-step
  // solve has had it.
  const first = direct ? 0 : 2 * base;
  // Only where one halving is all the grid allows: two can make such a reference usable (van der Pol, μ = 7, on 1,250
  // steps of 0.08: 0.73 → 2.3 → 0.034).
  const oneHalving = 4 * (fine.gridTimes.length - 1) > MAX_REFERENCE_STEPS;
  if (oneHalving && fine.referenceError > UNREFINABLE_FACTOR * UNCERTAIN_REFERENCE)
    fine = { ...fine, unrefinable: true };
  for (let subdivide = direct ? 4 : 2 * base; !fine.unrefinable; subdivide *= 2) {
    const steps = 2 * (fine.gridTimes.length - 1);
    const wanted =
      subdivide === first
        ? untied || fine.referenceError > REFERENCE_TARGET
        : fine.referenceError > REFERENCE_USABLE && steps <= MAX_REFERENCE_STEPS;
    if (!wanted || keptFloats(steps) > SUBDIVIDE_FLOATS) break;
    // A stiff model's halvings stay within its budget too (each costs twice the solve before it).
    if (stiff && spentMs + perStepMs * steps > budgetMs) break;
    const clock = workClock();
    const finer = subdivide === 2 && half ? half : referenceWith(tf, cm, inp, 1, 1, signalCheck, undefined, subdivide);
    spentMs += clock.workMs();
    if (finer.nonFinite) break;
    const apart = Math.max(...finer.g.map((g, i) => relError(g, fine.g[i])));
    fine = { ...finer, referenceError: Math.max(finer.referenceError, apart / 3) };
    if (!(apart <= lastApart / 2)) break;
    lastApart = apart;
  }
  // A stiff model's figures name the grid finally taken (halvings included) and the time of all its stable solves.
  const taken = stiff && { ...stiff, steps: fine.gridTimes.length - 1, ms: spentMs };
  return { ...withoutTruncation(fine), ...(taken ? { stiff: taken } : {}) };
}

const withoutTruncation = ({
  truncation: _t,
  timeError: _e,
  blownAt: _b,
  ...r
}: ReferenceResult & { truncation: number; timeError?: number; blownAt?: number }): ReferenceResult => r;

/** Default time the solves on a stable step of a stiff model may take (the check stays well under 10 s). */
export const STIFF_REFERENCE_BUDGET_MS = 4000;
/** H·ρ of the stable grid: inside RK4's stability interval (−2.79, 0) and its imaginary range (±2.83), with room for ρ's estimate from below. */
const STABLE_H_RHO = 2.4;
/** Grids tried on a stiff model: the estimated stable step, then halved while it still blows up. */
const MAX_STIFF_ATTEMPTS = 3;
/** Power iterations of the spectral radius estimate. */
const POWER_ITERATIONS = 40;
/** Steps of the forward solve that times a stable grid when the usual grid's solve gave no cost per step. */
const PROBE_STEPS = 64;
/**
 * A reference solve's time over its forward solve's (the adjoint, the estimates and g besides): measured 2.6 on a
 * 202-state diffusion lattice, 3.7 to 6 on a 4-state Hodgkin–Huxley model (XPPAUT's schnak.ode and hhred.ode).
 */
const REFERENCE_PER_FORWARD = 4;

/**
 * The reference on the step at which RK4 is stable, H ≤ STABLE_H_RHO/ρ (ρ estimated at x(t0)), halved while it still
 * blows up (ρ grows along the solution, or the estimate fell short); each solve only when its time, predicted from a
 * cost per step, fits what is left of the budget, and its nodes fit in memory. The cost per step is the usual grid's
 * when its solve ran through (`perStepMs`), else (NaN: it stopped at its blow-up, after steps too few and too cold to
 * time) the first PROBE_STEPS forward steps of the stable grid's, times REFERENCE_PER_FORWARD. Returns the solved
 * grid's own cost per step, for the halvings after it.
 */
function stableReference(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  usualSteps: number,
  perStepMs: number,
  budgetMs: number,
  keptFloats: (steps: number) => number,
  signalCheck?: () => void,
): {
  stiff: StiffReference;
  result?: ReferenceResult & { truncation: number };
  subdivide: number;
  perStepMs: number;
} {
  const spectralRadius = spectralRadiusAtStart(tf, cm, inp);
  const T = inp.N * inp.h;
  const estimated = Math.ceil(((T / usualSteps) * spectralRadius) / STABLE_H_RHO);
  let subdivide = Number.isFinite(estimated) ? Math.max(2, estimated) : 2;
  if (!Number.isFinite(perStepMs)) perStepMs = probeStepMs(tf, cm, inp, subdivide);
  let spent = 0;
  const stiff = (steps: number, ms: number, refused?: StiffReference['refused']): StiffReference => ({
    spectralRadius,
    usualSteps,
    stiffAtStart: estimated > 1,
    steps,
    ms,
    budgetMs,
    solved: !refused,
    ...(refused ? { refused } : {}),
  });
  for (let attempt = 0; attempt < MAX_STIFF_ATTEMPTS; attempt++, subdivide *= 2) {
    const steps = subdivide * usualSteps;
    const predicted = spent + perStepMs * steps;
    if (predicted > budgetMs) return { stiff: stiff(steps, predicted, 'time'), subdivide, perStepMs };
    if (keptFloats(steps) > SUBDIVIDE_FLOATS) return { stiff: stiff(steps, predicted, 'memory'), subdivide, perStepMs };
    signalCheck?.();
    const clock = workClock();
    const r = referenceWith(tf, cm, inp, 1, 1, signalCheck, undefined, subdivide);
    const ms = clock.workMs();
    spent += ms;
    if (!r.nonFinite) return { stiff: stiff(steps, spent), result: r, subdivide, perStepMs: ms / steps };
    if (Number.isFinite(r.lossAccurate)) return { stiff: stiff(steps, spent, 'unstable'), subdivide, perStepMs };
  }
  return { stiff: stiff(subdivide * usualSteps, spent, 'unstable'), subdivide, perStepMs };
}

/** The cost of a reference step on `subdivide` times the usual grid: PROBE_STEPS of its forward solve, timed. */
function probeStepMs(tf: TF, cm: CompiledModel, inp: ReferenceInput, subdivide: number): number {
  const clock = workClock();
  const fw = forwardSolve(tf, cm, inp, 1, subdivide, PROBE_STEPS);
  const ms = clock.workMs();
  const steps = fw.blownAt ?? fw.K;
  fw.dispose();
  return (ms / steps) * REFERENCE_PER_FORWARD;
}

/** Every state's values at a node are finite. */
function finiteNode(x: Tensor[]): boolean {
  return x.every((t) => {
    for (const v of t.dataSync() as Float32Array) if (!Number.isFinite(v)) return false;
    return true;
  });
}

function euclidean(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

/**
 * The spectral radius of ∂f/∂x at (x(t0), θ(t0), t0), by power iteration on vector–Jacobian products (the eigenvalues
 * of (∂f/∂x)ᵀ are those of ∂f/∂x): the largest ‖Jᵀv‖/‖v‖ over the last half of the iterations, which approaches ρ
 * from below for a dominant real eigenvalue (a stiff decaying mode). NaN when a product is not finite.
 */
function spectralRadiusAtStart(tf: TF, cm: CompiledModel, inp: ReferenceInput): number {
  const owned: Tensor[] = [];
  const track = <T extends Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  try {
    const theta = parameterPath(tf, inp, track)(inp.t0);
    const vjp = adjointVjp(tf, cm);
    const sizes = cm.x0.map((x) => x.size);
    const D = sizes.reduce((a, b) => a + b, 0);
    // A fixed start with every component (a deterministic stand-in for a random vector).
    let v = Float32Array.from({ length: D }, (_, i) => 1 + 0.5 * Math.sin(1.7 * i + 0.3));
    let best = 0;
    for (let k = 0; k < POWER_ITERATIONS; k++) {
      const vNorm = euclidean(v);
      const w = tf.tidy(() => {
        let at = 0;
        const ps = cm.x0.map((x, i) => {
          const part = v.subarray(at, at + sizes[i]);
          at += sizes[i];
          return tf.tensor(part, x.shape);
        });
        return concatElements(vjp(cm.x0, theta, inp.t0, ps, false).vx);
      });
      const wNorm = euclidean(w);
      if (!Number.isFinite(wNorm)) return NaN;
      if (wNorm === 0) return best;
      if (k >= POWER_ITERATIONS / 2) best = Math.max(best, wNorm / vNorm);
      v = Float32Array.from(w, (x) => x / wNorm);
    }
    return best;
  } finally {
    tf.dispose(owned);
  }
}

/**
 * What the pairs' quadrature difference in t is divided by to bound the finer solve's error: 15 where Simpson's
 * error goes as its step⁵ (16 − 1); 3, as for two solves' difference (continuousReference), because θ(t)
 * turns on the usual step itself, before that regime.
 */
const PAIR_DIVISOR = 3;

/** Reported error above which the usual grid is solved again on half the step. */
export const REFERENCE_TARGET = 1e-5;
/** Reported error above which the step is halved again (while that pays off), up to MAX_REFERENCE_STEPS. */
export const REFERENCE_USABLE = 1e-3;
/**
 * A first solve whose own estimated error is above this many times UNCERTAIN_REFERENCE (where the reference judges AD)
 * is not halved when the grid allows one halving only: that halving could not bring it under. The embedded estimate
 * is third order, so a halving divides it by about 8 in its asymptotic regime; on XPPAUT's examples no reference
 * whose first estimate was above 0.1 became usable by one halving (fhn_noise 0.085 → 0.049 the closest), and ml1's
 * halving on 200,000 steps was two thirds of its reference's time and ended at 1.37.
 */
const UNREFINABLE_FACTOR = 8;
/** Most steps a further halving of the reference may take (the first halving is bounded by memory only). */
const MAX_REFERENCE_STEPS = 8192;
/** Floats a refined reference may keep at its nodes (g for every parameter value, states and stages). */
const SUBDIVIDE_FLOATS = 1 << 24;

/** Floats one batched vjp of gradientOnGrid may hold (states, adjoints and parameters at its points); more points go in chunks. */
export const GRID_GRADIENT_FLOATS = 1 << 23;

/** g on the h/r-grid by batched vjps: needs the batched model and no explicit t (one t for the batch). */
function gridGradientApplies(cm: CompiledModel, divisions: number): boolean {
  return !!cm.batched && !cm.usesTime && divisions >= 1;
}

/**
 * g = pᵀ ∂θ f at the m·K + 1 points t0 + j·H/m of a coarse solve with step H and K
 * steps, θ constant (tied copies): x and p by cubic Hermite between the K + 1 reference
 * nodes (x' = f, p' = −v with v = (∂x f)ᵀp), then a vjp of the batched model over
 * the points (in chunks of GRID_GRADIENT_FLOATS). Returns per parameter [m·K + 1, …]
 * (row j: g at t0 + j·H/m).
 */
function gradientOnGrid(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  H: number,
  m: number,
  X: Tensor[][],
  F: Tensor[][],
  P: Tensor[][],
  V: Tensor[][],
): Tensor[] {
  const K = X.length - 1,
    B = m * K + 1;
  const padded = (shape: number[]) => (shape.length === 0 ? [1, 1] : shape.length === 1 ? [shape[0], 1] : shape);
  if (mlpApplies(cm, inp)) {
    // An MLP field: the points' forward and backward passes in plain JS (fusedMlp/reference.ts).
    const data = (vals: Tensor[][]) => vals.map((v) => v[0].dataSync() as Float32Array);
    const g = mlpGridGradients(cm.mlp!.field, inp.params, H, m, data(X), data(F), data(P), data(V));
    return inp.params.map((q, i) => tf.tensor(g[i], [B, ...padded(q.shape)]));
  }
  const perPoint = inp.params.reduce((a, q) => a + q.size, 0) + 2 * cm.x0.reduce((a, x) => a + x.size, 0);
  const rows = Math.max(1, Math.floor(GRID_GRADIENT_FLOATS / perPoint));
  // Each state's nodes read once, [K + 1, size] row-major: a point's Hermite combination reads two rows of each.
  const nodes = (vals: Tensor[][]) =>
    cm.x0.map((_x, i) => {
      let data: Float32Array = new Float32Array(0);
      tf.tidy(() => {
        data = tf.stack(vals.map((v) => tf.reshape(v[i], [-1]))).dataSync() as Float32Array;
      });
      return data;
    });
  const Xn = nodes(X),
    Fn = nodes(F),
    Pn = nodes(P),
    Vn = nodes(V);
  const weights = Array.from({ length: B }, (_, j) => gridHermite(j, m, K, H));
  /** Points r0 … r0 + b − 1 of one state by cubic Hermite (hermite.ts). */
  const interpolate = (vals: Float32Array, slopes: Float32Array, i: number, r0: number, b: number, sign: 1 | -1) => {
    const size = cm.x0[i].size,
      out = new Float32Array(b * size);
    for (let r = 0; r < b; r++) {
      const w = weights[r0 + r];
      for (let e = 0, a = w.k * size, c = a + size; e < size; e++, a++, c++)
        out[r * size + e] = hermiteValue(w, vals[a], vals[c], slopes[a], slopes[c], sign);
    }
    return tf.tensor(out, [b, ...padded(cm.stateShapes[i])]);
  };
  return tf.tidy(() => {
    const chunks: Tensor[][] = [];
    for (let r0 = 0; r0 < B; r0 += rows) {
      const b = Math.min(rows, B - r0);
      chunks.push(
        tf.tidy(() => {
          const xs = cm.x0.map((_x, i) => interpolate(Xn[i], Fn[i], i, r0, b, 1));
          const ps = cm.x0.map((_x, i) => interpolate(Pn[i], Vn[i], i, r0, b, -1));
          // θ is constant: one copy per point, so that the vjp keeps them apart (repeated here: tfjs-cpu's tile is slow).
          const thetas = inp.params.map((q) => {
            const one = q.values.subarray(0, q.size),
              all = new Float32Array(b * q.size);
            for (let j = 0; j < b; j++) all.set(one, j * q.size);
            return tf.tensor(all, [b, ...padded(q.shape)]);
          });
          const { value, grads } = tf.engine().gradients(
            () => {
              const f = cm.batched!.rhs(xs, thetas, inp.t0);
              return tf.addN(f.map((fk, k) => tf.sum(tf.mul(fk, ps[k]))));
            },
            thetas,
            undefined,
            true,
          );
          value.dispose();
          return grads.map((g, i) => g ?? tf.zerosLike(thetas[i]));
        }),
      );
    }
    return inp.params.map((_q, i) =>
      chunks.length === 1
        ? chunks[0][i]
        : tf.concat(
            chunks.map((c) => c[i]),
            0,
          ),
    );
  });
}

/**
 * One reference solve. factor 1: the usual grid. factor m > 1 (tied copies, no jumps):
 * step H = m·h and g on the h-grid from x and p by cubic Hermite (p' = −(∂x f)ᵀp at
 * both ends, from the node vjps computed anyway): in one batched vjp when the model
 * allows (gradientOnGrid; required for m = 4 and 8), else for m = 2 one vjp for ∂θfᵀp
 * per step midpoint. `forward`: the forward solve on that grid, already made (and then owned here).
 */
export function referenceOn(
  tf: TF,
  model: CompiledModel,
  inp: ReferenceInput,
  factor: 1 | CoarseFactor,
  signalCheck?: () => void,
): ReferenceResult & { truncation: number } {
  return referenceWith(tf, referenceModel(model), inp, factor, factor > 1 ? tiedGridDivisions(inp) : 1, signalCheck);
}

/** A plain-JS adjoint pass's part of the result: no jumps, its error estimate, p, and its pairs' quadrature in t. */
function passOut(b: {
  estimateError: number;
  p: AdjointGradient['p'];
  pairDifference?: number;
}): Omit<AdjointGradient, 'g'> {
  return {
    left: new Map(),
    inner: new Map(),
    estimateError: b.estimateError,
    p: b.p,
    ...(b.pairDifference !== undefined ? { pairDifference: b.pairDifference } : {}),
  };
}

/** referenceOn with the model already chosen and `divisions` (points of the g grid per h: 1, or 2 for layer times at odd h/2-nodes) already known; disposes `forward`. */
function referenceWith(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  factor: 1 | CoarseFactor,
  divisions: number,
  signalCheck?: () => void,
  forward?: Forward,
  subdivide = 1,
  pairs = false,
): ReferenceResult & { truncation: number; timeError?: number; blownAt?: number } {
  const { t0 } = inp;
  const coarse = factor > 1;
  const onGrid = coarse && gridGradientApplies(cm, divisions);
  if (coarse && !onGrid && (factor !== 2 || divisions !== 1)) {
    forward?.dispose();
    throw new Error(
      `a reference on step ${factor}h needs tied copies, and g at the layer times in batched vjps unless H = 2h with layer times on the h-grid`,
    );
  }
  const owned: Tensor[] = [];
  const fw = forward ?? forwardSolve(tf, cm, inp, factor, subdivide);
  try {
    signalCheck?.();
    if (fw.blownAt !== undefined) return { ...blownReference(tf, inp, fw), blownAt: fw.blownAt };
    const { K, H } = fw;
    const terminal = terminalAdjoint(tf, cm, inp, fw);
    const { lossAccurate, lossRounding } = terminal;
    for (const t of terminal.pT) owned.push(t);
    for (const j of terminal.jumps) owned.push(...j.lam);
    const sTwo = tf.scalar(2);
    owned.push(sTwo);
    const solve: AdjointSolve = { tf, cm, inp, fw, vjp: adjointVjp(tf, cm), terminal, sTwo, factor, divisions };

    // K+1 nodes (coarse: the m·K+1 h-nodes); small states without jumps in batched passes; the general
    // loop only for adjoint jumps or without rhsLinearize.
    let fineOut: Omit<AdjointGradient, 'g'>, fineData: Float32Array[];
    // Where fineData holds only some rows of the g grid: a row's place there (mlpSmoothAdjoint's `slots`).
    let slots: Int32Array | undefined;
    let gPerStep = factor * divisions; // g-grid points per step H
    let blownNodes = false;
    if (!coarse && !inp.perNodeAdjoint && terminal.jumps.length === 0 && batchedAdjointApplies(cm)) {
      const prog = fw.nodes && kernelPrograms.get(cm);
      const b =
        prog && fw.nodes
          ? programAdjoint(prog, {
              ...inp,
              K,
              H,
              nodes: fw.nodes,
              pT: Float64Array.from(concatElements(terminal.pT)),
              pairs,
            })
          : batchedAdjoint(tf, cm, {
              ...inp,
              K,
              H,
              X: fw.X,
              F: fw.F,
              pT: terminal.pT,
              ...(fw.mlp && fw.mlpNodes ? { mlp: { X: fw.mlpNodes.X, F: fw.mlpNodes.F, theta: fw.mlp.theta } } : {}),
              pairs,
            });
      fineOut = passOut(b);
      fineData = b.g;
      gPerStep = 2;
    } else if (
      !coarse &&
      !inp.perNodeAdjoint &&
      terminal.jumps.length === 0 &&
      cm.rhsLinearize &&
      mlpApplies(cm, inp)
    ) {
      // An MLP field: backwardSmooth's steps in plain JS (fusedMlp/reference.ts).
      const mid = kinkedSharedIntegrand(inp);
      const b = mlpSmoothAdjoint(cm.mlp!.field, {
        ...inp,
        K,
        H,
        ...(fw.mlp ? { passes: fw.mlp } : {}),
        X: fw.mlpNodes?.X ?? fw.X.map((x) => x[0].dataSync() as Float32Array),
        F: fw.mlpNodes?.F ?? fw.F.map((f) => f[0].dataSync() as Float32Array),
        pT: terminal.pT[0].dataSync() as Float32Array,
        mid,
        columns: Math.min(MAX_PATH_COMPONENTS, cm.x0[0].size),
        // g only where the per-step parameters read it (on half the step, every other node).
        ...(mid ? {} : { rows: layerRows(t0, K, H, inp.params, inp.layerTimes) }),
        pairs,
      });
      fineOut = passOut(b);
      fineData = b.g;
      slots = b.slots;
      if (mid) gPerStep = 2;
    } else if (onGrid && terminal.jumps.length === 0 && cm.rhsLinearize && mlpApplies(cm, inp)) {
      // An MLP field on a coarse grid: backwardSmooth's steps in plain JS as well (no g at the nodes: p and v
      // there feed gradientOnGrid's Hermite points), instead of an op per stage.
      const field = cm.mlp!.field;
      const X = fw.mlpNodes?.X ?? fw.X.map((x) => x[0].dataSync() as Float32Array),
        F = fw.mlpNodes?.F ?? fw.F.map((f) => f[0].dataSync() as Float32Array);
      const b = mlpSmoothAdjoint(field, {
        ...inp,
        K,
        H,
        ...(fw.mlp ? { passes: fw.mlp } : {}),
        X,
        F,
        pT: terminal.pT[0].dataSync() as Float32Array,
        mid: false,
        grid: true,
        columns: Math.min(MAX_PATH_COMPONENTS, cm.x0[0].size),
      });
      fineOut = passOut(b);
      const { P, V } = b.nodes!;
      fineData = mlpGridGradients(field, inp.params, H, factor * divisions, X, F, P, V);
    } else {
      // ∫ g dt by Simpson needs g inside every step when θ(t) has kinks at the nodes (untied copies).
      const smooth = coarse || (terminal.jumps.length === 0 && !!cm.rhsLinearize);
      const midpoints = coarse || (smooth && kinkedSharedIntegrand(inp));
      if (midpoints && !coarse) gPerStep = 2;
      const prog = smooth && fw.nodes && kernelPrograms.get(cm);
      if (prog && fw.nodes) {
        const j = programSmoothAdjoint(prog, {
          t0,
          K,
          H,
          nodes: fw.nodes,
          pT: concatElements(terminal.pT),
          theta: flatParameterPath(inp),
          stateSizes: cm.x0.map((x) => x.size),
          paramSizes: inp.params.map((q) => q.size),
          mid: midpoints,
          grid: onGrid ? { m: factor * divisions } : undefined,
        });
        const S = cm.x0.reduce((a, x) => a + x.size, 0);
        fineOut = passOut({ ...j, pairDifference: pairs ? adjointPairs(j.P, j.V, K, H, S) : undefined });
        // No g on a coarse grid whose nodes are not all finite: that solve is no reference (the caller falls back
        // to the usual grid). Taking its g by the tensor path anyway was 0.77 s of a 2.3 s check (a CPU profile).
        if (!j.g) blownNodes = true;
        fineData = j.g ?? inp.params.map((q) => new Float32Array((factor * divisions * K + 1) * q.size).fill(NaN));
      } else {
        const out = smooth ? backwardSmooth(solve, midpoints, onGrid, pairs) : backwardWithJumps(solve);
        for (const t of out.g) owned.push(t);
        for (const l of out.left.values()) owned.push(...l);
        fineOut = out;
        fineData = out.g.map((t) => t.dataSync() as Float32Array);
      }
    }
    let nonFinite = blownNodes || !Number.isFinite(lossAccurate);
    // On half the usual step: RK4's error in t from the pairs of steps (timeQuadrature.ts), forward and adjoint.
    const forwardPairs = pairs ? fw.pairDifference() : undefined;
    const timeError =
      forwardPairs !== undefined && fineOut.pairDifference !== undefined
        ? (forwardPairs + fineOut.pairDifference) / PAIR_DIVISOR
        : undefined;
    // Truncation (adjoint, forward, in t) plus modelled float32 rounding: see the header.
    const truncation = fineOut.estimateError + fw.forwardError() + (timeError ?? 0);
    const referenceModelError = truncation + 2 ** -24 * Math.sqrt(K) + lossRounding;

    const gridTimes = Array.from({ length: K + 1 }, (_, j) => t0 + j * H);
    // The g grid: the nodes, the nodes and midpoints (batched adjoint), or in a coarse solve the h- or h/2-nodes.
    const gK = K * gPerStep,
      gH = H / gPerStep;
    const g = inp.params.map((p, i) =>
      p.perStep
        ? perStepGradient(inp, fineData[i], p.size, gK, gH, slots)
        : sharedGradient(inp, fineData[i], fineOut, i, p.size, gK, gH),
    );
    // ∫ g dt of shared parameters: relative errors of g grow by the cancellation ∫|g| / |∫ g|, and Simpson's
    // rule has an error of its own (Richardson against Simpson on 2·gH).
    const q = quadratureError(inp, fineData, g, gK, gH, fineOut.left.size + fineOut.inner.size > 0);
    addInitialAdjoint(
      inp,
      g,
      fineOut,
      terminal.atStart,
      cm.x0.reduce((a, x) => a + x.size, 0),
    );
    const referenceError = referenceModelError * q.cancellation + q.simpson;
    if (!Number.isFinite(referenceError)) nonFinite = true;
    const x = fw.nodes ? nodeRows(fw.nodes.X, K) : fw.mlpNodes ? arrayRows(fw.mlpNodes.X) : readNodes(tf, fw.X);
    const paths: StatePaths = { times: gridTimes, x, ...(fineOut.p ? { p: fineOut.p } : {}) };
    return {
      g,
      referenceError,
      lossAccurate,
      gridTimes,
      nonFinite,
      truncation,
      paths,
      ...(timeError !== undefined ? { timeError } : {}),
    };
  } finally {
    tf.dispose(owned);
    fw.dispose();
  }
}

/**
 * The outcome of a forward solve that blew up (Forward.blownAt): no loss, gradient or error estimate (NaN, and
 * `nonFinite`, which the callers read as a blow-up: a stable step for a stiff model, else no reference), and x at
 * the nodes it solved (NaN after them).
 */
function blownReference(tf: TF, inp: ReferenceInput, fw: Forward): ReferenceResult & { truncation: number } {
  const { K, H } = fw;
  const gridTimes = Array.from({ length: K + 1 }, (_, j) => inp.t0 + j * H);
  let x: NodeValues;
  if (fw.nodes) x = nodeRows(fw.nodes.X, K);
  else {
    // The nodes up to the blow-up, NaN after it.
    const solved = fw.mlpNodes ? arrayRows(fw.mlpNodes.X) : readNodes(tf, fw.X);
    const values = new Float32Array((K + 1) * solved.columns).fill(NaN);
    values.set(solved.values);
    x = { columns: solved.columns, values };
  }
  return {
    g: inp.params.map((p) => new Float32Array(p.perStep ? inp.layerTimes.length * p.size : p.size).fill(NaN)),
    referenceError: NaN,
    lossAccurate: NaN,
    gridTimes,
    nonFinite: true,
    truncation: NaN,
    paths: { times: gridTimes, x },
  };
}

/**
 * The gradient of an initial value checked as a parameter (ReferenceInput.params' initialValueAt): no f reads it, so
 * its ∫ g dt is 0 and its whole gradient is p(t0) (plus ∂ℓ/∂x(t0) of observations at t0), where the adjoint sweep
 * ends. NaN when the solve kept p(t0) for the first MAX_PATH_COMPONENTS elements only and the state lies beyond them.
 */
function addInitialAdjoint(
  inp: ReferenceInput,
  g: Float32Array[],
  out: Omit<AdjointGradient, 'g'>,
  atStart: Float32Array | undefined,
  S: number,
): void {
  const p0 = out.start ?? (out.p ? out.p.values.subarray(0, out.p.columns) : undefined);
  inp.params.forEach((q, i) => {
    const at = q.initialValueAt;
    if (at === undefined) return;
    for (let k = 0; k < q.size; k++) {
      const j = at + k;
      g[i][k] += p0 && j < p0.length && j < S ? p0[j] + (atStart?.[j] ?? 0) : NaN;
    }
  });
}

/** A shared parameter's ∫ g dt over a θ(t) with kinks at the layer times (a per-step parameter whose copies differ). */
function kinkedSharedIntegrand(inp: ReferenceInput): boolean {
  return (
    inp.params.some((p) => !p.perStep) && inp.params.some((p) => p.perStep && !equalCopies(p, inp.layerTimes.length))
  );
}

type Vjp = (xs: Tensor[], th: Tensor[], t: number, ps: Tensor[], withTheta: boolean) => { vx: Tensor[]; vth: Tensor[] };

/** (∂x f)ᵀp and, with `withTheta`, (∂θ f)ᵀp at (x, θ, t): by the model's hand-written reverse mode, else by AD of f alone. */
function adjointVjp(tf: TF, cm: CompiledModel): Vjp {
  return (xs, th, t, ps, withTheta) => {
    if (cm.rhsVjp) {
      // Hand-written reverse mode (compile.ts): no gradient tape per stage.
      const r = cm.rhsVjp(xs, th, t, ps, withTheta);
      return { vx: r.vx, vth: r.vp };
    }
    const wrt = withTheta ? [...xs, ...th] : xs;
    const single = xs.length === 1;
    const { value, grads } = tf.engine().gradients(
      () => {
        const f = cm.rhs(xs, th, t);
        if (single) return f[0];
        return tf.addN(f.map((fk, k) => tf.sum(tf.mul(fk, ps[k]))));
      },
      wrt,
      single ? ps[0] : undefined,
      true,
    );
    value.dispose();
    const g = grads.map((gr, i) => gr ?? tf.zerosLike(wrt[i]));
    return { vx: g.slice(0, xs.length), vth: g.slice(xs.length) };
  };
}

/** The adjoint at T, p(T) = ∂ℓ/∂x(T), and its jumps ∂ℓ/∂x(t_k) at observation times (latest first), from AD of the loss alone. */
interface TerminalAdjoint {
  pT: Tensor[];
  jumps: Jump[];
  /** ∂ℓ/∂x(t0) of observations at t0, all states' elements (no θ reaches it; an initial value does). */
  atStart?: Float32Array;
  lossAccurate: number;
  lossRounding: number;
}

function terminalAdjoint(tf: TF, cm: CompiledModel, inp: ReferenceInput, fw: Forward): TerminalAdjoint {
  const { t0 } = inp;
  const { K, H, X } = fw;
  const T = t0 + K * H;
  const xT = X[K];
  const tolT = 1e-6 * H;
  let lossAccurate = NaN,
    lossRounding = 0;
  const jumps: Jump[] = [];
  let atStart: Float32Array | undefined;
  const pT = tf.tidy(() => {
    const obs = fw.observedStates();
    const obsList = cm.observed.flatMap((d) => (obs.get(d.name) as Tensor[]).map((t, si) => ({ d, si, t })));
    const wrt = [...xT, ...obsList.map((o) => o.t)];
    const { value, grads } = tf.engine().gradients(() => fw.lossOf(xT, obs), wrt, undefined, true);
    lossAccurate = value.dataSync()[0];
    const byTime = new Map<number, Tensor[]>();
    obsList.forEach((o, j) => {
      const gr = grads[xT.length + j];
      if (!gr || cm.stateShapes[o.si].length > 1) return;
      o.d.times.forEach((tk, k) => {
        const key = Math.round((tk - t0) / tolT); // merge equal times of different data sets
        let lam = byTime.get(key);
        if (!lam) {
          lam = cm.x0.map((x) => tf.zerosLike(x));
          byTime.set(key, lam);
        }
        lam[o.si] = tf.add(lam[o.si], tf.reshape(tf.slice(gr, [k, 0], [1, -1]), cm.x0[o.si].shape));
      });
    });
    for (const [key, lam] of byTime) {
      const t = t0 + key * tolT;
      if (t <= t0 + tolT) {
        atStart = concatElements(lam); // x(t0) depends on no θ, only on an initial value
        continue;
      }
      for (const l of lam) tf.keep(l);
      jumps.push({ t: Math.min(t, T), lam });
    }
    const p = grads.slice(0, xT.length).map((g, i) => g ?? tf.zerosLike(xT[i]));
    lossRounding = lossGradientRounding(tf, fw, xT, p, obs, K);
    return p;
  });
  jumps.sort((a, b) => b.t - a.t);
  return { pT, jumps, lossAccurate, lossRounding, ...(atStart ? { atStart } : {}) };
}

/** What the backward solves share: the model, its forward solve, the vjp and the adjoint at T. */
interface AdjointSolve {
  tf: TF;
  cm: CompiledModel;
  inp: ReferenceInput;
  fw: Forward;
  vjp: Vjp;
  terminal: TerminalAdjoint;
  /** 2 as a scalar tensor (RK4's weights), owned by the caller. */
  sTwo: Tensor;
  factor: 1 | CoarseFactor;
  divisions: number;
}

/** g on the grid, stacked per parameter in increasing time, its left limits at jump nodes and inside steps, and the embedded error estimate. */
interface AdjointGradient {
  g: Tensor[];
  left: Map<number, Tensor[]>;
  inner: Map<number, InnerJump[]>;
  estimateError: number;
  /** p at the nodes t0 … T, when the solve keeps them (backwardSmooth). */
  p?: NodeValues;
  /** p(t0), all states' elements, when the solve does not keep p at the nodes (backwardWithJumps). */
  start?: Float32Array;
  /** On half the usual step: the adjoint's pair quadrature difference in t (timeQuadrature.ts), undivided. */
  pairDifference?: number;
}

/** One RK4 step of the adjoint, with the step coefficients σ/2, σ, σ/6 as scalars kept per σ (they outlive the step's tidy). */
class AdjointRk4 {
  private readonly scalarCache = new Map<number, Tensor[]>();

  constructor(private readonly a: AdjointSolve) {}

  coeffs(sigma: number): Tensor[] {
    const tf = this.a.tf;
    let c = this.scalarCache.get(sigma);
    if (!c) {
      c = [sigma / 2, sigma, sigma / 6].map((v) => tf.keep(tf.scalar(v)));
      this.scalarCache.set(sigma, c);
    } // outlives the step's tidy
    return c;
  }

  /** One RK4 step of the adjoint from a down to b, given (∂x f)ᵀp at a; also its last stage (for the embedded estimate). */
  step(a: number, b: number, p: Tensor[], va: Tensor[]): { p: Tensor[]; s4: Tensor[] } {
    const { tf, cm, vjp, sTwo } = this.a;
    const { xAt, thetaAtTime } = this.a.fw;
    const sigma = a - b,
      [half, full, sixth] = this.coeffs(sigma);
    const tm = (a + b) / 2;
    const xm = xAt(tm),
      thm = thetaAtTime(tm);
    const s2 = vjp(
      xm,
      thm,
      tm,
      p.map((pk, k) =>
        linear(
          cm,
          [
            [va[k], sigma / 2],
            [pk, 1],
          ],
          () => tf.add(pk, tf.mul(va[k], half)),
        ),
      ),
      false,
    );
    const s3 = vjp(
      xm,
      thm,
      tm,
      p.map((pk, k) =>
        linear(
          cm,
          [
            [s2.vx[k], sigma / 2],
            [pk, 1],
          ],
          () => tf.add(pk, tf.mul(s2.vx[k], half)),
        ),
      ),
      false,
    );
    const s4 = vjp(
      xAt(b),
      thetaAtTime(b),
      b,
      p.map((pk, k) =>
        linear(
          cm,
          [
            [s3.vx[k], sigma],
            [pk, 1],
          ],
          () => tf.add(pk, tf.mul(s3.vx[k], full)),
        ),
      ),
      false,
    );
    const next = p.map((pk, k) =>
      linear(
        cm,
        [
          [va[k], sigma / 6],
          [s2.vx[k], sigma / 3],
          [s3.vx[k], sigma / 3],
          [s4.vx[k], sigma / 6],
          [pk, 1],
        ],
        () => tf.add(pk, tf.mul(tf.addN([va[k], tf.mul(tf.add(s2.vx[k], s3.vx[k]), sTwo), s4.vx[k]]), sixth)),
      ),
    );
    return { p: next, s4: s4.vx };
  }

  dispose(): void {
    for (const c of this.scalarCache.values()) this.a.tf.dispose(c);
  }
}

/** Embedded estimate state: the previous step's last stage and length, the running sum E, and E / p per node. */
class EmbeddedEstimate {
  private s4Prev: Tensor[] | undefined;
  private sigmaPrev = 0;
  private E: Tensor[] | undefined;
  private readonly errAt: Tensor[][] = [];
  private readonly pAt: Tensor[][] = [];
  private pending: Tensor[] | undefined; // estimates of sub-steps split at jumps, not yet in E

  constructor(
    private readonly tf: TF,
    private readonly rk4: AdjointRk4,
  ) {}

  /** E at the new node from its (∂x f)ᵀp (FSAL), or undefined before the first step. */
  estimate(s1vx: Tensor[]): Tensor[] | undefined {
    const tf = this.tf,
      s4Prev = this.s4Prev,
      E = this.E;
    if (!s4Prev) return undefined;
    const sixth = this.rk4.coeffs(this.sigmaPrev)[2];
    const add = this.pending;
    this.pending = undefined;
    const Enew = s1vx.map((v, k) => {
      let d = tf.mul(tf.sub(s4Prev[k], v), sixth);
      if (add) d = tf.add(d, add[k]);
      return E ? tf.add(E[k], d) : d;
    });
    if (add) tf.dispose(add); // kept tensors: not freed by the tidy
    return Enew;
  }

  /** A sub-step's estimate (split at a jump), added at the next node. */
  addPending(d: Tensor[]): void {
    const tf = this.tf;
    const old = this.pending;
    this.pending = d.map((dk, k) => tf.keep(old ? tf.add(old[k], dk) : dk));
    if (old) tf.dispose(old);
  }

  record(Enew: Tensor[] | undefined, pNode: Tensor[], s4: Tensor[] | undefined, sigma: number): void {
    if (Enew) {
      this.E = Enew;
      this.errAt.push(Enew);
      this.pAt.push(pNode);
    }
    if (this.s4Prev) this.tf.dispose(this.s4Prev);
    this.s4Prev = s4;
    this.sigmaPrev = sigma;
  }

  /** Relative estimate over the nodes (one read-back); frees what it holds but p(T). */
  finish(pT: Tensor[]): number {
    const tf = this.tf,
      errAt = this.errAt,
      pAt = this.pAt;
    let estimateError = 0;
    if (errAt.length) {
      const sums = tf.tidy(() => {
        const sq = (list: Tensor[][]) =>
          tf.addN(list[0].map((_x, k) => tf.sum(tf.square(tf.stack(list.map((v) => v[k]))))));
        return tf.stack([sq(errAt), sq(pAt)]);
      });
      const [num, den] = sums.dataSync();
      sums.dispose();
      estimateError = den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
    }
    tf.dispose(errAt.flat());
    if (this.pending) tf.dispose(this.pending);
    tf.dispose(pAt.flat().filter((x) => !pT.includes(x)));
    return estimateError;
  }
}

/** One backward step m (from t0 + m·H down by H) of backwardWithJumps, split at the jumps inside it. Call inside a tidy. */
function stepWithJumps(a: AdjointSolve, rk4: AdjointRk4, est: EmbeddedEstimate, m: number, pPrev: Tensor[]) {
  const { tf, vjp, inp } = a;
  const { jumps } = a.terminal;
  const { H, xAt, thetaAtTime } = a.fw;
  const { t0 } = inp;
  const tolT = 1e-6 * H;
  const addJump = (p: Tensor[], j: Jump) => p.map((pk, k) => tf.add(pk, j.lam[k]));
  const tA = t0 + m * H,
    tB = tA - H;
  const thA = thetaAtTime(tA);
  const s1 = vjp(xAt(tA), thA, tA, pPrev, true);
  let pc = pPrev;
  let va = s1.vx;
  let gLeft: Tensor[] | undefined;
  const atNode = jumps.find((j) => Math.abs(j.t - tA) < tolT);
  if (atNode) {
    pc = addJump(pc, atNode);
    const s1m = vjp(xAt(tA), thA, tA, pc, true);
    va = s1m.vx;
    gLeft = s1m.vth;
  }
  let at = tA;
  const limits: { t: number; plus: Tensor[]; minus: Tensor[] }[] = [];
  for (const j of jumps) {
    if (!(j.t < tA - tolT && j.t > tB + tolT)) continue;
    const sub = rk4.step(at, j.t, pc, va);
    pc = sub.p;
    const xj = xAt(j.t),
      thj = thetaAtTime(j.t);
    const before = vjp(xj, thj, j.t, pc, true);
    const plus = before.vth;
    // The sub-step's embedded estimate (FSAL: the vjp just before the jump), added at the next node.
    const sixth = rk4.coeffs(at - j.t)[2];
    est.addPending(before.vx.map((v, k) => tf.mul(tf.sub(sub.s4[k], v), sixth)));
    pc = addJump(pc, j);
    const sj = vjp(xj, thj, j.t, pc, true);
    va = sj.vx;
    limits.push({ t: j.t, plus, minus: sj.vth });
    at = j.t;
  }
  const last = rk4.step(at, tB, pc, va);
  return { pNew: last.p, s4: last.s4, sigma: at - tB, g: s1.vth, gLeft, limits, Enew: est.estimate(s1.vx) };
}

/**
 * Backward RK4 on the adjoint with step H from T to t0 (with jumps, or without rhsLinearize).
 * Returns g at the nodes t0 + j·uH (right limits), stacked per parameter
 * [K + 1, ...], and the left limits at nodes with a jump.
 */
function backwardWithJumps(a: AdjointSolve): AdjointGradient {
  const { tf, vjp, inp } = a;
  const { pT } = a.terminal;
  const { K, X, thetaAtTime } = a.fw;
  const { t0 } = inp;
  const gs: Tensor[][] = inp.params.map(() => []); // from T downwards
  const left = new Map<number, Tensor[]>();
  const inner = new Map<number, InnerJump[]>(); // step index → g limits at jumps inside it (for ∫ g dt)
  const rk4 = new AdjointRk4(a);
  const est = new EmbeddedEstimate(tf, rk4);
  let p = pT;
  for (let m = K; m > 0; m--) {
    const pPrev = p;
    const out = tf.tidy(() => stepWithJumps(a, rk4, est, m, pPrev));
    est.record(out.Enew, pPrev, out.s4, out.sigma);
    for (let i = 0; i < gs.length; i++) gs[i].push(out.g[i]);
    if (out.gLeft) left.set(m, out.gLeft);
    if (out.limits.length) {
      inner.set(
        m - 1,
        out.limits.reverse().map((l) => ({
          t: l.t,
          plus: l.plus.map((x) => x.dataSync() as Float32Array),
          minus: l.minus.map((x) => x.dataSync() as Float32Array),
        })),
      );
      for (const l of out.limits) tf.dispose([...l.plus, ...l.minus]);
    }
    if (pPrev !== pT && !out.Enew) tf.dispose(pPrev); // else kept in pAt
    p = out.pNew;
  }
  const end = tf.tidy(() => {
    const s = vjp(X[0], thetaAtTime(t0), t0, p, true);
    return { g: s.vth, Enew: est.estimate(s.vx) };
  });
  const last = end.g;
  const start = concatElements(p);
  est.record(end.Enew, p, undefined, 0);
  for (let i = 0; i < gs.length; i++) gs[i].push(last[i]);
  if (p !== pT && !end.Enew) tf.dispose(p);
  const estimateError = est.finish(pT);
  rk4.dispose();
  // Stack in increasing time: index j ↔ t0 + j·uH.
  const g = gs.map((list) => tf.tidy(() => tf.stack(list.slice().reverse())));
  tf.dispose(gs.flat()); // after all stacks: two parameters' ∂θfᵀp can be one tensor
  return { g, left, inner, estimateError, start };
}

/**
 * The adjoint without jumps: backward RK4 with step H, f linearised once at each
 * midpoint and node (stages 2, 3 share the midpoint; stage 4 and the next node's
 * (∂x f)ᵀp, ∂θfᵀp share the node). g at the nodes and, with `mid` (the coarse
 * solve), by cubic Hermite p (p' = −(∂x f)ᵀp at both ends) at the midpoints:
 * stacked t0 + j·H/2 then.
 */
function backwardSmooth(a: AdjointSolve, mid: boolean, grid: boolean, pairs = false): AdjointGradient {
  const { tf, cm, inp, fw, factor, divisions } = a;
  const { pT } = a.terminal;
  const { K, H, xAt, thetaAtTime } = fw;
  const { t0 } = inp;
  const T = t0 + K * H;
  const lin = (t: number) => cm.rhsLinearize!(xAt(t), thetaAtTime(t), t);
  const c = [H / 2, H, H / 6, 0.5, H / 8].map((v) => tf.scalar(v));
  const [sHalf, sFull, sSixth, sMidP, sEighthP] = c;
  const ctx: SmoothBackward = { a, mid, grid, lin, sHalf, sFull, sSixth, sMidP, sEighthP };
  const gNodes: Tensor[][] = inp.params.map(() => []),
    gMid: Tensor[][] = inp.params.map(() => []); // from T downwards
  const s4At: Tensor[][] = [],
    vAt: Tensor[][] = [],
    pAt: Tensor[][] = []; // from T downwards, at the lower node of each step
  let p = pT;
  const top = tf.tidy(() => lin(T).back(p, !grid));
  let v = top.vx; // (∂x f)ᵀp at the upper node of the next step
  if (!grid) inp.params.forEach((_q, i) => gNodes[i].push(top.vp[i]));
  for (let m = K; m > 0; m--) {
    const out = smoothStep(ctx, m, p, v);
    if (!grid)
      inp.params.forEach((_q, i) => {
        gNodes[i].push(out.g[i]);
        if (mid) gMid[i].push(out.gm[i]);
      });
    s4At.push(out.s4);
    vAt.push(out.vB);
    pAt.push(out.pB);
    p = out.pB;
    v = out.vB;
  }
  const estimateError = smoothEstimate(tf, cm, K, sSixth, s4At, vAt, pAt);
  // Nodes in increasing time: p and v at t0 … T.
  const pNodes = readNodes(tf, [...pAt].reverse().concat([pT]));
  let pairDifference: number | undefined;
  if (pairs) {
    const S = cm.x0.reduce((n, x) => n + x.size, 0);
    const P = new Float32Array((K + 1) * S),
      V = new Float32Array((K + 1) * S);
    [...pAt]
      .reverse()
      .concat([pT])
      .forEach((q, k) => P.set(concatElements(q), k * S));
    [...vAt]
      .reverse()
      .concat([top.vx])
      .forEach((q, k) => V.set(concatElements(q), k * S));
    pairDifference = adjointPairs(P, V, K, H, S);
  }
  const g = grid
    ? gradientOnGrid(
        tf,
        cm,
        inp,
        H,
        factor * divisions,
        fw.X,
        fw.F,
        [...pAt].reverse().concat([pT]),
        [...vAt].reverse().concat([top.vx]),
      )
    : interleaveNodesAndMidpoints(tf, gNodes, gMid);
  // Freed only now: one product can hand out one tensor as both (∂x f)ᵀp and ∂θfᵀp (f = exp(a + u):
  // ∂f/∂a = ∂f/∂u), or as ∂θfᵀp of two parameters.
  tf.dispose([...top.vx, ...s4At.flat(), ...vAt.flat(), ...pAt.flat(), ...c, ...gNodes.flat(), ...gMid.flat()]);
  return {
    g,
    left: new Map(),
    inner: new Map(),
    estimateError,
    p: pNodes,
    ...(pairDifference !== undefined ? { pairDifference } : {}),
  };
}

/** What every step of backwardSmooth shares (created once per solve): f linearised at a time, and the scalars H/2, H, H/6, 1/2, H/8. */
interface SmoothBackward {
  a: AdjointSolve;
  mid: boolean;
  grid: boolean;
  lin: (t: number) => ReturnType<NonNullable<CompiledModel['rhsLinearize']>>;
  sHalf: Tensor;
  sFull: Tensor;
  sSixth: Tensor;
  sMidP: Tensor;
  sEighthP: Tensor;
}

/**
 * One backward RK4 step from the upper node m (p = pA, (∂x f)ᵀp = vA there) to node m − 1: p, (∂x f)ᵀp
 * and ∂θfᵀp at the lower node, ∂θfᵀp at the midpoint (with `mid`, off the grid), and the last stage s4.
 */
function smoothStep(
  ctx: SmoothBackward,
  m: number,
  pA: Tensor[],
  vA: Tensor[],
): { pB: Tensor[]; vB: Tensor[]; g: Tensor[]; gm: Tensor[]; s4: Tensor[] } {
  const { a, mid, grid, lin, sHalf, sFull, sSixth, sMidP, sEighthP } = ctx;
  const { tf, cm, sTwo } = a;
  const { H } = a.fw;
  const tA = a.inp.t0 + m * H,
    tB = tA - H,
    tm = tA - H / 2;
  return tf.tidy(() => {
    const Lm = lin(tm),
      LB = lin(tB);
    const s2 = Lm.back(plusScaled(tf, cm, pA, vA, H / 2, sHalf), false).vx;
    const s3 = Lm.back(plusScaled(tf, cm, pA, s2, H / 2, sHalf), false).vx;
    const s4 = LB.back(plusScaled(tf, cm, pA, s3, H, sFull), false).vx;
    const pB = rk4Combine(tf, cm, pA, vA, s2, s3, s4, H, sTwo, sSixth);
    const sB = LB.back(pB, !grid);
    if (!mid || grid) return { pB, vB: sB.vx, g: sB.vp, gm: [], s4 };
    const pm = pA.map((pk, k) => tf.add(tf.mul(tf.add(pk, pB[k]), sMidP), tf.mul(tf.sub(vA[k], sB.vx[k]), sEighthP)));
    const gm = Lm.back(pm, true, false).vp;
    return { pB, vB: sB.vx, g: sB.vp, gm, s4 };
  });
}

/**
 * Embedded estimate (FSAL), as backward's: Δ_m = H/6·(s4 − (∂x f)ᵀp at the new node), E_m = Σ Δ
 * against p there (one read-back). The lists run from T downwards; `sSixth` is H/6.
 */
function smoothEstimate(
  tf: TF,
  cm: CompiledModel,
  K: number,
  sSixth: Tensor,
  s4At: Tensor[][],
  vAt: Tensor[][],
  pAt: Tensor[][],
): number {
  const sums = tf.tidy(() => {
    const parts = cm.x0.map((_x, k) => {
      const d = tf.mul(tf.sub(tf.stack(s4At.map((q) => q[k])), tf.stack(vAt.map((q) => q[k]))), sSixth);
      const e = tf.cumsum(tf.reshape(d, [K, -1]), 0);
      return [tf.sum(tf.square(e)), tf.sum(tf.square(tf.stack(pAt.map((q) => q[k]))))];
    });
    return tf.stack([tf.addN(parts.map((q) => q[0])), tf.addN(parts.map((q) => q[1]))]);
  });
  const [num, den] = sums.dataSync();
  sums.dispose();
  return den > 0 ? Math.sqrt(num / den) : num > 0 ? 1 : 0;
}

/** Per parameter, g at the nodes and midpoints (each listed from T downwards) stacked in increasing time: t0, t0 + H/2, … */
function interleaveNodesAndMidpoints(tf: TF, gNodes: Tensor[][], gMid: Tensor[][]): Tensor[] {
  return gNodes.map((list, i) => {
    const nodes = list.slice().reverse(),
      mids = gMid[i].slice().reverse();
    return tf.tidy(() => tf.stack(nodes.flatMap((x, j) => (j < mids.length ? [x, mids[j]] : [x]))));
  });
}

/** ∫ g dt of a shared parameter from g on the grid (`d`, P elements per node): Simpson, with left limits at jump nodes; trapezoid on a pair whose middle node (or inside) has a jump. */
function sharedGradient(
  inp: ReferenceInput,
  d: Float32Array,
  fineOut: Pick<AdjointGradient, 'left' | 'inner'>,
  i: number,
  P: number,
  gK: number,
  gH: number,
): Float32Array {
  const { t0 } = inp;
  const leftAt = (j: number, k: number) => {
    const l = fineOut.left.get(j);
    return l ? l[i].dataSync()[k] : d[j * P + k];
  };
  // Trapezoid over step j, split at the jumps inside it.
  const trapezoid = (j: number, k: number) => {
    let a = t0 + j * gH,
      ga = d[j * P + k],
      s = 0;
    for (const e of fineOut.inner.get(j) ?? []) {
      s += ((e.t - a) / 2) * (ga + e.minus[i][k]);
      a = e.t;
      ga = e.plus[i][k];
    }
    return s + ((t0 + (j + 1) * gH - a) / 2) * (ga + leftAt(j + 1, k));
  };
  const out = new Float32Array(P);
  // Without jumps, Simpson's rule on every pair of steps, without a map lookup per step (the same sums).
  const smooth = fineOut.left.size === 0 && fineOut.inner.size === 0;
  for (let k = 0; k < P; k++) {
    let s = 0;
    if (smooth) {
      for (let j = 0; j < gK; j += 2) s += (gH / 3) * (d[j * P + k] + 4 * d[(j + 1) * P + k] + d[(j + 2) * P + k]);
      out[k] = s;
      continue;
    }
    for (let j = 0; j < gK; j += 2) {
      if (fineOut.left.has(j + 1) || fineOut.inner.has(j) || fineOut.inner.has(j + 1))
        s += trapezoid(j, k) + trapezoid(j + 1, k);
      else s += (gH / 3) * (d[j * P + k] + 4 * d[(j + 1) * P + k] + leftAt(j + 2, k));
    }
    out[k] = s;
  }
  return out;
}

/** g of a per-step parameter at its layer times, from g on the grid (`d`, P elements per node). */
function perStepGradient(
  inp: ReferenceInput,
  d: Float32Array,
  P: number,
  gK: number,
  gH: number,
  slots?: Int32Array,
): Float32Array {
  const { t0 } = inp;
  // Row j's place in d: itself, or where only the rows read are stored, its slot (mlpSmoothAdjoint).
  const place = (j: number) => (slots ? slots[j] : j);
  const at = inp.layerTimes.map((tn) => {
    const x = (tn - t0) / gH;
    const j0 = Math.max(0, Math.min(gK - 1, Math.floor(x + 1e-9)));
    // Below 1e-9 a layer time is on the row (batchedAdjoint.ts gradientRows computes only the rows read).
    const w = Math.min(1, Math.max(0, x - j0));
    return { j0: place(j0), j1: place(j0 + 1), w: w < 1e-9 ? 0 : w };
  });
  // Layer times on consecutive rows of d (g-grid nodes for leapfrog and Euler; on half the step, the rows
  // stored alone): the rows themselves.
  if (at.every((a, n) => a.j0 === at[0].j0 + n && a.w < 1e-9))
    return d.subarray(at[0].j0 * P, (at[0].j0 + at.length) * P);
  const out = new Float32Array(inp.layerTimes.length * P);
  at.forEach(({ j0, j1, w }, n) => {
    // On a row (every other node on half the step): the row itself.
    if (w === 0) out.set(d.subarray(j0 * P, (j0 + 1) * P), n * P);
    else for (let k = 0; k < P; k++) out[n * P + k] = (1 - w) * d[j0 * P + k] + w * d[j1 * P + k];
  });
  return out;
}

/**
 * Relative change of p(T) = ∂ℓ/∂x(T) when x(T) moves by its float32 rounding 2⁻²⁴·√K·|x| (signs
 * alternating over the components): every g moves with p(T). Large near the loss's minimum, where
 * x(T) − target cancels (a loss of 1.5e-6 on x ≈ 0.3: 3e-5, where truncation and rounding said 9e-6).
 * Observation states `obs` (those p(T) was taken with) are left as they are (an estimate).
 */
function lossGradientRounding(
  tf: TF,
  fw: Forward,
  xT: Tensor[],
  pT: Tensor[],
  obs: Map<string, Tensor[]>,
  K: number,
): number {
  const u = 2 ** -24 * Math.sqrt(K);
  const [num, den] = tf.tidy(() => {
    const moved = xT.map((x) => {
      const signs = new Float32Array(x.size);
      for (let k = 0; k < signs.length; k++) signs[k] = k % 2 ? -u : u;
      return tf.add(x, tf.mul(tf.abs(x), tf.reshape(tf.tensor(signs), x.shape)));
    });
    // A loss may ignore x(T) (data losses alone): no gradient then, as for p(T).
    const { grads } = tf.engine().gradients(() => fw.lossOf(moved, obs), moved, undefined, true);
    const diff = tf.addN(grads.map((g, i) => tf.sum(tf.square(g ? tf.sub(g, pT[i]) : pT[i]))));
    const norm = tf.addN(pT.map((p) => tf.sum(tf.square(p))));
    return tf.stack([diff, norm]).dataSync();
  });
  return den > 0 ? Math.sqrt(num / den) : 0;
}

/**
 * For ∫ g dt over the shared parameters: the cancellation ‖∫|g| dt‖ / ‖∫ g dt‖ (≥ 1; 1 without shared
 * parameters), and Simpson's relative error |S(gH) − S(2gH)| / 15 on the longest prefix of the grid
 * that both rules cover (0 with adjoint jumps: their pairs use the trapezoid; not estimated).
 */
function quadratureError(
  inp: ReferenceInput,
  samples: Float32Array[],
  integrals: Float32Array[],
  gK: number,
  gH: number,
  jumps: boolean,
): { cancellation: number; simpson: number } {
  const M = gK - (gK % 4);
  let num = 0,
    den = 0,
    absolute = 0;
  inp.params.forEach((p, i) => {
    if (p.perStep) return;
    const P = p.size,
      d = samples[i];
    for (let k = 0; k < P; k++) {
      let fine = 0,
        coarse = 0,
        abs = 0;
      for (let j = 0; j < gK; j++) abs += (gH / 2) * (Math.abs(d[j * P + k]) + Math.abs(d[(j + 1) * P + k]));
      if (!jumps && M >= 4) {
        for (let j = 0; j < M; j += 2) fine += (gH / 3) * (d[j * P + k] + 4 * d[(j + 1) * P + k] + d[(j + 2) * P + k]);
        for (let j = 0; j < M; j += 4)
          coarse += ((2 * gH) / 3) * (d[j * P + k] + 4 * d[(j + 2) * P + k] + d[(j + 4) * P + k]);
      }
      num += ((fine - coarse) / 15) ** 2;
      den += integrals[i][k] ** 2;
      absolute += abs * abs;
    }
  });
  if (!(den > 0)) return { cancellation: absolute > 0 ? RATIO_LIMIT : 1, simpson: 0 };
  return { cancellation: Math.min(RATIO_LIMIT, Math.max(1, Math.sqrt(absolute / den))), simpson: Math.sqrt(num / den) };
}

/** Caps the cancellation factor (an integral that vanishes exactly has no finite relative error). */
const RATIO_LIMIT = 1e6;

/**
 * The reference on half the usual step with RK4's error in t estimated from its own pairs of steps
 * (timeQuadrature.ts) where its solves keep their nodes as arrays; `timeError` is that part of the
 * reported error (undefined where it is not estimated).
 */
export function referenceOnHalfStep(
  tf: TF,
  model: CompiledModel,
  inp: ReferenceInput,
  signalCheck?: () => void,
): ReferenceResult & { truncation: number; timeError?: number } {
  return referenceWith(tf, referenceModel(model), inp, 1, 1, signalCheck, undefined, 2, true);
}
