// Unrolled discrete solves (the network whose AD gradients are checked) and
// the generic explicit-RK stepper reused by the continuous reference.
import type { Tensor, TF } from './backend';
import type { CompiledModel } from './compile';
import type { ButcherTableau, Scheme } from '../schemes/schemes';

/** Parameters for stage `i` of step `n` (per-step copies are tied across stages). */
export type ParamsFor = (n: number, stage: number) => Tensor[];

/** Precomputed scalar coefficients of one tableau for step size h (create inside a tidy). */
export interface RKCoefficients {
  a: (Tensor | null)[][];
  b: (Tensor | null)[];
  c: number[];
  h: number;
}

export function rkCoefficients(tf: TF, t: ButcherTableau, h: number): RKCoefficients {
  return {
    a: t.a.map((row) => row.map((v) => (v === 0 ? null : tf.scalar(h * v)))),
    b: t.b.map((v) => (v === 0 ? null : tf.scalar(h * v))),
    c: t.c,
    h,
  };
}

/** One explicit RK step from x at time t. */
export function rkStep(tf: TF, cm: CompiledModel, co: RKCoefficients, x: Tensor[], t: number, params: (stage: number) => Tensor[]): Tensor[] {
  const ks: Tensor[][] = [];
  const s = co.b.length;
  for (let i = 0; i < s; i++) {
    let xi = x;
    const row = co.a[i] ?? [];
    if (i > 0) {
      xi = x.map((xk, k) => {
        let acc = xk;
        for (let j = 0; j < row.length && j < i; j++) {
          const aij = row[j];
          if (aij) acc = tf.add(acc, tf.mul(ks[j][k], aij));
        }
        return acc;
      });
    }
    ks.push(cm.rhs(xi, params(i), t + co.c[i] * co.h));
  }
  return x.map((xk, k) => {
    const terms: Tensor[] = [xk];
    for (let i = 0; i < s; i++) {
      const bi = co.b[i];
      if (bi) terms.push(tf.mul(ks[i][k], bi));
    }
    return terms.length === 2 ? tf.add(terms[0], terms[1]) : tf.addN(terms);
  });
}

/**
 * Solves the discrete model over N steps of size h and returns the states
 * x_0..x_N (x_0 = cm.x0). Call inside a tidy (or a gradient scope).
 */
export function solveDiscrete(tf: TF, cm: CompiledModel, scheme: Scheme, N: number, h: number, t0: number, params: ParamsFor): Tensor[][] {
  const traj: Tensor[][] = [cm.x0];
  if (scheme.kind === 'rk') {
    const co = rkCoefficients(tf, scheme.tableau, h);
    let x = cm.x0;
    for (let n = 0; n < N; n++) {
      x = rkStep(tf, cm, co, x, t0 + n * h, (i) => params(n, i));
      traj.push(x);
    }
    return traj;
  }
  // Leapfrog with an Euler start: x1 = x0 + h f(x0, θ0); x_{n+1} = x_{n-1} + 2h f(x_n, θ_n).
  const hs = tf.scalar(h);
  const h2 = tf.scalar(2 * h);
  if (N === 0) return traj;
  const f0 = cm.rhs(cm.x0, params(0, 0), t0);
  traj.push(cm.x0.map((x, k) => tf.add(x, tf.mul(f0[k], hs))));
  for (let n = 1; n < N; n++) {
    const fn = cm.rhs(traj[n], params(n, 0), t0 + n * h);
    const prev = traj[n - 1];
    traj.push(prev.map((x, k) => tf.add(x, tf.mul(fn[k], h2))));
  }
  return traj;
}
