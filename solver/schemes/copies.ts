// Parameter-copy bookkeeping (docs/design.md#setting): for a per-step parameter
// under a scheme with N steps, how many copies there are, which stage
// sequence each belongs to, its layer time and its quadrature weight w, so
// that d = G / (h w) approximates the continuous gradient density g(t).
//
// Copy numbering (shared with engine/integrate.ts):
// - Runge–Kutta, tie=step: copy n for every stage of step n (N copies);
// - Runge–Kutta, tie=stage: copy n·s + i for stage i of step n (N·s copies);
// - multistep: copy m for f evaluated at node t_m (N copies; the node t_N,
//   used only by milne's last corrector, reuses copy N−1). A start-scheme
//   stage at t_n + c h uses (1 − c)·θ_n + c·θ_{n+1}.
//
// Weights are derived, not tabulated: w_m is the total coefficient of
// h·f(θ_m) in the unrolled scheme, seen through its Lagrange multipliers.
// For a strongly stable scheme these are the exact multipliers of the loss
// ℓ = x_N (for f independent of x the scheme is a quadrature and
// x_N = x_0 + h Σ w_m f_m), which gives AB2 (start=heun) 0, 3/2, 1, …, 1, 3/2.
// For a weakly stable one the exact multipliers carry the parasitic mode
// (leapfrog: 2, 0, 2, 0, …); there the smooth mode is used instead — every
// multiplier of the method 1/ρ'(1), ended by the average of the last k
// states that keeps it constant — giving leapfrog ½, 1, 1, … (docs/design.md#leapfrog).
import type { MultistepScheme, Scheme } from './schemes';
import { startSteps } from './schemes';

/** Where the copies of a per-step parameter sit and how they are weighted (field names shared with engine/layerAnalysis.ts). */
export interface ParameterCopies {
  steps: number;
  /** Stage sequences: s for tie=stage Runge–Kutta, else 1. */
  stages: number;
  h: number;
  t0: number;
  /** Node of each sequence within a step (tied: Σ b_i c_i, the copy's centre). */
  c: number[];
  /** Weight of each sequence (tied and multistep: 1). */
  b: number[];
  /** Copies per per-step parameter. */
  count: number;
  perStage: boolean;
  /** Quadrature weight w of each copy (d = G / (h w)); 0 marks a copy that gets no gradient. */
  weights: number[];
  /** Layer time of each copy. */
  times: number[];
  /** Stage sequence of each copy (0 unless tie=stage). */
  stage: number[];
  /** ρ has a second root on the unit circle (leapfrog, milne, …). */
  weaklyStable: boolean;
  multistep: boolean;
}

export function copyCount(scheme: Scheme, N: number): number {
  return scheme.kind === 'rk' && scheme.tie === 'stage' ? N * scheme.tableau.b.length : N;
}

/** Copy indices of stage sequence q, in time order. */
export function sequenceCopies(pc: Pick<ParameterCopies, 'steps' | 'stages'>, q: number): number[] {
  return Array.from({ length: pc.steps }, (_, n) => n * pc.stages + q);
}

export function parameterCopies(scheme: Scheme, N: number, h: number, t0: number): ParameterCopies {
  if (scheme.kind === 'rk') {
    const { b, c } = scheme.tableau;
    const s = b.length;
    if (scheme.tie === 'stage') {
      const idx = Array.from({ length: N * s }, (_, j) => j);
      return {
        steps: N,
        stages: s,
        h,
        t0,
        c: [...c],
        b: [...b],
        count: N * s,
        perStage: true,
        weights: idx.map((j) => b[j % s]),
        times: idx.map((j) => t0 + h * (Math.floor(j / s) + c[j % s])),
        stage: idx.map((j) => j % s),
        weaklyStable: false,
        multistep: false,
      };
    }
    const total = b.reduce((x, y) => x + y, 0);
    const centre = b.reduce((acc, bi, i) => acc + bi * c[i], 0);
    return {
      steps: N,
      stages: 1,
      h,
      t0,
      c: [centre],
      b: [1],
      count: N,
      perStage: false,
      weights: new Array<number>(N).fill(total),
      times: Array.from({ length: N }, (_, n) => t0 + h * (n + centre)),
      stage: new Array<number>(N).fill(0),
      weaklyStable: false,
      multistep: false,
    };
  }
  return {
    steps: N,
    stages: 1,
    h,
    t0,
    c: [0],
    b: [1],
    count: N,
    perStage: false,
    weights: multistepWeights(scheme, N),
    times: Array.from({ length: N }, (_, m) => t0 + m * h),
    stage: new Array<number>(N).fill(0),
    weaklyStable: scheme.weaklyStable,
    multistep: true,
  };
}

/** One equation of the unrolled scheme, Σ x-terms = h Σ f-terms; `produces` is the state it defines. */
export interface UnrolledEquation {
  produces: number;
  /** [state index, coefficient] */
  x: [number, number][];
  /** [copy index, coefficient] (a start stage between nodes splits over two copies) */
  f: [number, number][];
}

/** The node copy of t_m (t_N reuses copy N−1). */
export function nodeCopy(m: number, N: number): number {
  return Math.min(m, N - 1);
}

/** Equations m = 1..N of a multistep scheme with N steps, as the integrator runs them. */
function unrolledEquations(scheme: MultistepScheme, N: number): UnrolledEquation[] {
  const eqs: UnrolledEquation[] = [];
  const s0 = startSteps(scheme);
  for (let m = 1; m <= N; m++) {
    const ramp = m >= 2 ? scheme.ramp[m - 2] : undefined;
    if (m <= s0 && !ramp) {
      const { b, c } = scheme.start.tableau;
      const f: [number, number][] = [];
      b.forEach((bi, i) => {
        if (bi === 0) return;
        if (c[i] !== 1) f.push([nodeCopy(m - 1, N), bi * (1 - c[i])]);
        if (c[i] !== 0) f.push([nodeCopy(m, N), bi * c[i]]);
      });
      eqs.push({
        produces: m,
        x: [
          [m, 1],
          [m - 1, -1],
        ],
        f,
      });
      continue;
    }
    const lmm = ramp ?? scheme.method;
    const k = lmm.alpha.length - 1;
    const x: [number, number][] = [];
    const f: [number, number][] = [];
    for (let j = 0; j <= k; j++) {
      if (lmm.alpha[j] !== 0) x.push([m - k + j, lmm.alpha[j]]);
      if (lmm.beta[j] !== 0) f.push([nodeCopy(m - k + j, N), lmm.beta[j]]);
    }
    eqs.push({ produces: m, x, f });
  }
  return eqs;
}

/**
 * Quadrature weights of a multistep scheme's copies from its unrolled
 * equations (see the file comment): a backward sweep for the multipliers λ
 * of Σ λ_m A[m][j] = c_j (j = 1..N), then w = Σ λ_m B[m][copy].
 */
function multistepWeights(scheme: MultistepScheme, N: number): number[] {
  const eqs = unrolledEquations(scheme, N);
  const terminal = new Float64Array(N + 1);
  const { alpha } = scheme.method;
  const k = alpha.length - 1;
  const rhoPrime1 = alpha.reduce((acc, a, j) => acc + j * a, 0);
  if (scheme.weaklyStable && N - k + 1 > startSteps(scheme) && rhoPrime1 !== 0) {
    // Smooth mode: c_{N−i} = (α_k + … + α_{k−i}) / ρ'(1) keeps every multiplier at 1/ρ'(1).
    let partial = 0;
    for (let i = 0; i < k; i++) {
      partial += alpha[k - i];
      terminal[N - i] = partial / rhoPrime1;
    }
  } else {
    terminal[N] = 1;
  }
  const acc = new Float64Array(N + 1);
  const w = new Array<number>(N).fill(0);
  for (let m = N; m >= 1; m--) {
    const eq = eqs[m - 1];
    const diag = eq.x.find(([j]) => j === m)?.[1] ?? 1;
    const lambda = (terminal[m] - acc[m]) / diag;
    for (const [j, a] of eq.x) if (j < m) acc[j] += lambda * a;
    for (const [copy, bf] of eq.f) w[copy] += lambda * bf;
  }
  return w.map((v) => (Math.abs(v) < 1e-13 ? 0 : v));
}
