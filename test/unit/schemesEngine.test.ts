// Schemes in the integrator (TF.js, cpu backend): observed order of every
// scheme against an exact solution, AD through every scheme against finite
// differences, and AD gradients of x-independent vector fields against the
// copy weights of schemes/copies.ts (the integrator and the bookkeeping must
// number and weight copies alike). Models are written in the language.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language';
import type { Model } from '../../solver/model';
import { SCHEME_NAMES } from '../../solver/schemes/registry';
import { initBackend } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { Rng } from '../../solver/engine/random';
import { schemeOf } from '../../solver/schemes/schemes';
import { copyCount, parameterCopies } from '../../solver/schemes/copies';

const backend = 'cpu' as const;

function modelOf(src: string): Model {
  const a = analyse(src);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

const USER = `scheme kutta3 rk a=[[0,0,0],[1/2,0,0],[-1,2,0]] b=[1/6,2/3,1/6] c=[0,1/2,1]
scheme mylmm lmm alpha=[-0.5, -0.5, 1] beta=[-0.25, 1.75, 0]
scheme myab2 lmm alpha=[0, -1, 1] beta=[-0.5, 1.5, 0]`;

// x' = t x, x(0) = 1: x(t) = exp(t²/2). Time-dependent, so stage times c_i matter; errors stay
// well above float32 round-off at the step counts below (chosen in the asymptotic range).
const exact = (t: number) => Math.exp((t * t) / 2);

async function finalState(meth: string, start: string, steps: number): Promise<number> {
  const { tf } = await initBackend(backend);
  const m = modelOf(
    `state x\ninit x = 1\n${USER}\nx' = t*x\n@ total=2, steps=${steps}, meth=${meth}, start=${start}\ndone\n`,
  );
  const { compiled } = compileModel(tf, m);
  try {
    return tf.tidy(
      () =>
        solveDiscrete(tf, compiled, schemeOf(m), steps, m.options.dt, 0, () => [])
          .at(-1)![0]
          .dataSync()[0],
    );
  } finally {
    compiled.dispose();
  }
}

// [scheme, start, expected observed order, step counts]
const ORDER_CASES: [string, string, number, number[]][] = [
  ['euler', 'euler', 1, [32, 64, 128]],
  ['heun', 'euler', 2, [16, 32, 64]],
  ['midpoint', 'euler', 2, [16, 32, 64]],
  ['ralston', 'euler', 2, [16, 32, 64]],
  ['rk4', 'euler', 4, [8, 16]], // beyond 16 steps float32 round-off dominates
  ['leapfrog', 'euler', 2, [16, 32, 64]],
  ['leapfrog', 'heun', 2, [16, 32, 64]],
  ['ab2', 'euler', 2, [32, 64, 128]],
  ['ab3', 'rk4', 3, [32, 64, 128]],
  ['ab3', 'euler', 2, [32, 64, 128]], // the Euler start limits it (documented)
  ['milne', 'rk4', 4, [16, 32]], // beyond 32 steps float32 round-off dominates
  ['milne', 'euler', 2, [32, 64, 128]],
  ['kutta3', 'euler', 3, [16, 32, 64]],
  ['mylmm', 'heun', 2, [32, 64, 128]],
  ['myab2', 'euler', 2, [32, 64, 128]],
];

for (const [meth, start, p, Ns] of ORDER_CASES) {
  test(`${meth} (start=${start}): observed order ${p} against the exact solution`, async () => {
    const errs: number[] = [];
    for (const N of Ns) errs.push(Math.abs((await finalState(meth, start, N)) - exact(2)));
    const orders = errs.slice(1).map((e, i) => Math.log2(errs[i] / e));
    for (const q of orders)
      assert.ok(
        Math.abs(q - p) < 0.4,
        `${meth}: orders ${orders.map((x) => x.toFixed(2))}, errors ${errs.map((e) => e.toExponential(2))}`,
      );
  });
}

/** Parameter copies (tensors) for a model's per-step and shared parameters, deterministic. */
function makeCopies(tf: Awaited<ReturnType<typeof initBackend>>['tf'], m: Model, count: number, seed = 7): Tensor[][] {
  const rng = new Rng(seed);
  return m.params.map((p) => {
    const P = sizeOf(p.shape);
    return Array.from({ length: p.perStep ? count : 1 }, () =>
      tf.tensor(rng.normals(P, 0, 0.5), internalShape(p.shape)),
    );
  });
}

const CONFIGS: [string, string, string][] = [
  ...SCHEME_NAMES.map((s): [string, string, string] => [s, 'euler', 'step']),
  ['heun', 'euler', 'stage'],
  ['rk4', 'euler', 'stage'],
  ['midpoint', 'euler', 'stage'],
  ['kutta3', 'euler', 'stage'],
  ['ab2', 'heun', 'step'],
  ['ab3', 'heun', 'step'],
  ['leapfrog', 'heun', 'step'],
  ['milne', 'rk4', 'step'],
  ['ab3', 'ralston', 'step'],
  ['mylmm', 'rk4', 'step'],
];

for (const [meth, start, tie] of CONFIGS) {
  test(`${meth} (start=${start}, tie=${tie}): AD through the unrolled solve matches finite differences`, async () => {
    const { tf } = await initBackend(backend);
    const N = 12;
    const m = modelOf(
      `state x[2]\ninit x = [1, -0.5]\n${USER}\nparam W[2,2] per-step ~ normal(0, 0.5)\nparam b[2] ~ normal(0, 0.5)\n` +
        `x' = tanh(W @ x + b) + 0.3*sin(3*t)\nloss = 0.5*sum((x(T) - [0.2, 0.1])^2)\n@ total=1.5, steps=${N}, meth=${meth}, start=${start}, tie=${tie}\ndone\n`,
    );
    const scheme = schemeOf(m);
    const count = copyCount(scheme, N);
    const { compiled } = compileModel(tf, m);
    const copies = makeCopies(tf, m, count);
    const flat = copies.flat();
    try {
      const lossOf = (cs: Tensor[][]) => {
        const at = (c: number) => cs.map((ps, i) => (m.params[i].perStep ? ps[c] : ps[0]));
        return compiled.loss(solveDiscrete(tf, compiled, scheme, N, m.options.dt, 0, at).at(-1)!);
      };
      const grads = tf.tidy(() =>
        tf
          .grads((...xs: Tensor[]) => {
            let k = 0;
            return lossOf(copies.map((ps) => ps.map(() => xs[k++])));
          })(flat)
          .map((g) => g.dataSync()),
      );
      const rng = new Rng(42);
      const dirs = flat.map((t) => rng.normals(t.size));
      let ad = 0;
      grads.forEach((g, j) => {
        for (let q = 0; q < g.length; q++) ad += g[q] * dirs[j][q];
      });
      const eps = 1e-2;
      const moved = (sgn: number) =>
        tf.tidy(() => {
          let k = 0;
          const cs = copies.map((ps) =>
            ps.map((t) => {
              const j = k++;
              return tf.add(t, tf.mul(tf.tensor(dirs[j], t.shape), sgn * eps));
            }),
          );
          return lossOf(cs).dataSync()[0];
        });
      const fd = (moved(1) - moved(-1)) / (2 * eps);
      assert.ok(Math.abs(fd - ad) <= 2e-2 * Math.abs(fd) + 1e-5, `AD ${ad} vs FD ${fd}`);
      // Every copy the scheme uses gets a gradient; copies with zero weight may not.
      const pc = parameterCopies(scheme, N, m.options.dt, 0);
      for (let c = 0; c < count; c++) {
        const norm = Math.hypot(...Array.from(grads[c])); // W's copies come first in flat
        if (pc.weights[c] !== 0) assert.ok(norm > 0, `copy ${c} of W got no gradient`);
      }
    } finally {
      tf.dispose(flat);
      compiled.dispose();
    }
  });
}

// A map (discrete) iterates x(t+1) = F: with F = θ it is no quadrature of θ, so it has no such weights.
for (const [meth, start, tie] of CONFIGS.filter(([m]) => m !== 'discrete')) {
  test(`${meth} (start=${start}, tie=${tie}): AD of a pure quadrature gives h·w for every copy`, async () => {
    const { tf } = await initBackend(backend);
    const N = 11,
      h = 2 / N;
    // f independent of x: x_N (strongly stable) or the smooth end average (weakly stable) is x_0 + h Σ w_c θ_c.
    const m = modelOf(
      `state x\n${USER}\nparam th per-step = 1\nx' = th\n@ total=2, steps=${N}, meth=${meth}, start=${start}, tie=${tie}\ndone\n`,
    );
    const scheme = schemeOf(m);
    const count = copyCount(scheme, N);
    const pc = parameterCopies(scheme, N, h, 0);
    const { compiled } = compileModel(tf, m);
    const copies = Array.from({ length: count }, () => tf.scalar(1));
    try {
      // allowNoGradients: copies with weight 0 (midpoint's first stage here) are not connected to the loss at all.
      const G = tf.tidy(() =>
        tf
          .engine()
          .gradients(
            () => {
              const traj = solveDiscrete(tf, compiled, scheme, N, h, 0, (c) => [copies[c]]);
              if (scheme.kind === 'lmm' && scheme.weaklyStable) return tf.mul(tf.add(traj[N][0], traj[N - 1][0]), 0.5); // leapfrog, milne: c = (½, ½)
              return tf.sum(traj[N][0]);
            },
            copies,
            undefined,
            true,
          )
          .grads.map((g) => (g ? g.dataSync()[0] : 0)),
      );
      G.forEach((g, c) =>
        assert.ok(
          Math.abs(g - h * pc.weights[c]) < 1e-5,
          `copy ${c}: G = ${g}, h·w = ${h * pc.weights[c]} (w = ${pc.weights})`,
        ),
      );
    } finally {
      tf.dispose(copies);
      compiled.dispose();
    }
  });
}
