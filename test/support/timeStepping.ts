// Helpers of the event and delay tests: the engine's discrete solve and AD gradients of a model text,
// and a float64 RK4 step for the tests' independent re-implementations.
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { copyTensors, discreteGradients, paramsFor } from '../../solver/engine/discrete';
import { initialParameters } from '../../solver/engine/parameters';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';

export function modelOf(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

/** The engine's discrete trajectory (float32), per grid point the values of every (scalar) state. */
export async function engineTrajectory(model: Model): Promise<number[][]> {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    const out: number[][] = [];
    tf.tidy(() => {
      const copies = copyTensors(tf, model, initialParameters(tf, model));
      const { steps, dt, t0 } = model.options;
      const traj = solveDiscrete(tf, compiled, schemeOf(model), steps, dt, t0, paramsFor(model, copies));
      for (const xs of traj) out.push(xs.map((x) => x.dataSync()[0]));
    });
    return out;
  } finally {
    compiled.dispose();
  }
}

/** The engine's AD gradient of the loss per (shared, scalar) parameter, and the loss. */
export async function engineGradient(model: Model): Promise<{ loss: number; grad: number[] }> {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    const { loss, G } = discreteGradients(tf, compiled, schemeOf(model), model, initialParameters(tf, model));
    return { loss, grad: G.map((g) => g[0]) };
  } finally {
    compiled.dispose();
  }
}

/** One classic RK4 step of x' = f(t, x) in float64. */
export function rk4Step(f: (t: number, x: number[]) => number[], t: number, x: number[], h: number): number[] {
  const axpy = (a: number[], k: number[], c: number) => a.map((v, i) => v + c * k[i]);
  const k1 = f(t, x);
  const k2 = f(t + h / 2, axpy(x, k1, h / 2));
  const k3 = f(t + h / 2, axpy(x, k2, h / 2));
  const k4 = f(t + h, axpy(x, k3, h));
  return x.map((v, i) => v + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
}

/** Central difference of a float64 function of the parameters, one parameter at a time. */
export function centralDifferences(loss: (p: number[]) => number, p: number[], eps = 1e-6): number[] {
  return p.map((_, i) => {
    const up = p.slice(),
      down = p.slice();
    up[i] += eps;
    down[i] -= eps;
    return (loss(up) - loss(down)) / (2 * eps);
  });
}
