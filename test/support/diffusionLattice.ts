// A stiff model for the reference's tests: a diffusion lattice of m sites (no flux at the ends) with decay a and a
// source s, u0 raised at the start, checked by backward Euler at dt = 0.1. ρ(∂f/∂x) ≈ 4d + a, so RK4 on the usual grid
// blows up where backward Euler does not. Its flow's gradient in float64 comes from the forward sensitivities.
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import type { Model } from '../../solver/model';
import { rk4Step } from './timeStepping';

export interface Lattice {
  m: number;
  d: number;
  a: number;
  s: number;
  u0: number;
  total: number;
}

export function latticeModel(l: Lattice): Model {
  const { m } = l;
  const r = analyse(`par d=${l.d}, a=${l.a}, s=${l.s}
u0'=d*(u1-u0)-a*u0+s
u[1..${m - 2}]'=d*(u[j+1]-2*u[j]+u[j-1])-a*u[j]+s
u${m - 1}'=d*(u${m - 2}-u${m - 1})-a*u${m - 1}+s
init u0=${l.u0}
@ meth=backeul, dt=0.1, total=${l.total}
done
`);
  assert.ok(r.model, JSON.stringify(r.diagnostics.filter((d) => d.severity === 'error')));
  return r.model;
}

/** f with its derivatives in (d, a, s) carried along, in float64: y = (u, ∂u/∂d, ∂u/∂a, ∂u/∂s). */
export function sensitivityField(l: Lattice): (t: number, y: number[]) => number[] {
  const { m, d, a, s } = l;
  return (_t, y) => {
    const out = new Array<number>(4 * m);
    const lap = (o: number, j: number) =>
      (j > 0 ? y[o + j - 1] - y[o + j] : 0) + (j < m - 1 ? y[o + j + 1] - y[o + j] : 0);
    for (let j = 0; j < m; j++) {
      out[j] = d * lap(0, j) - a * y[j] + s;
      out[m + j] = d * lap(m, j) - a * y[m + j] + lap(0, j);
      out[2 * m + j] = d * lap(2 * m, j) - a * y[2 * m + j] - y[j];
      out[3 * m + j] = d * lap(3 * m, j) - a * y[3 * m + j] + 1;
    }
    return out;
  };
}

/** The state and its sensitivities after float64 RK4 with K steps of H from the model's initial state (each node to `node`). */
export function sensitivities(l: Lattice, K: number, H: number, node?: (y: number[]) => void): number[] {
  const f = sensitivityField(l);
  let y = new Array<number>(4 * l.m).fill(0);
  y[0] = l.u0;
  node?.(y);
  for (let k = 0; k < K; k++) {
    y = rk4Step(f, k * H, y, H);
    node?.(y);
  }
  return y;
}

/** d/dθ of the default loss ½‖u(T)‖² (Σ u_j(T)·∂u_j/∂θ) for θ = (d, a, s), from `sensitivities`' end state. */
export function lossGradient(l: Lattice, y: number[]): number[] {
  return [1, 2, 3].map((p) => {
    let g = 0;
    for (let j = 0; j < l.m; j++) g += y[j] * y[p * l.m + j];
    return g;
  });
}
