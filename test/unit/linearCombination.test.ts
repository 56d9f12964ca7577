// The one-kernel linear combination of fused small models (engine/linearCombination.ts): the same
// float32 numbers as TF.js's multiplies and adds, values and gradients, and discrete solves that do
// not change when it replaces them, for every scheme kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { compileModel, type CompiledModel } from '../../solver/engine/compile';
import { copyTensors, paramsFor } from '../../solver/engine/discrete';
import { linearCombination, type Term } from '../../solver/engine/linearCombination';
import { solveDiscrete } from '../../solver/engine/integrate';
import { schemeOf } from '../../solver/schemes/schemes';
import { parameterCopies } from '../../solver/schemes/copies';
import { continuousReference } from '../../solver/engine/reference';

/** Σ c_j v_j by TF.js kernels, in the order the op sums: each product, then adds left to right (±1 as add and sub). */
function byKernels(tf: typeof import('@tensorflow/tfjs-core'), terms: Term[]): Tensor {
  const term = ([v, c]: Term) => (c === 1 ? v : c === -1 ? tf.neg(v) : tf.mul(v, tf.scalar(c)));
  return terms
    .slice(1)
    .reduce((acc, [v, c]) => (c === -1 ? tf.sub(acc, v) : tf.add(acc, term([v, c]))), term(terms[0]));
}

const float = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
const coefficient = fc.oneof(
  fc.constant(1),
  fc.constant(-1),
  fc.double({ noNaN: true, min: -10, max: 10 }),
  fc.constantFrom(1 / 6, 1 / 3, 0.5, 2 / 3, 1e-3),
);

test('the linear combination gives TF.js’s float32 values and gradients, bit for bit', async () => {
  const { tf } = await initBackend('cpu');
  const combine = linearCombination(tf);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.array(coefficient, { minLength: 2, maxLength: 6 }),
      fc.array(float, { minLength: 24, maxLength: 24 }),
      fc.array(float, { minLength: 4, maxLength: 4 }),
      async (n, cs, data, dyData) => {
        tf.tidy(() => {
          const vs = cs.map((_c, j) => tf.tensor(data.slice((j * n) % 20, ((j * n) % 20) + n), [n, 1]));
          const dy = tf.tensor(dyData.slice(0, n), [n, 1]);
          const terms = vs.map((v, j): Term => [v, cs[j]]);
          const mine = tf.grads((...xs: Tensor[]) => combine(xs.map((x, j): Term => [x, cs[j]])));
          const theirs = tf.grads((...xs: Tensor[]) =>
            byKernels(
              tf,
              xs.map((x, j): Term => [x, cs[j]]),
            ),
          );
          assert.deepEqual(
            Array.from(combine(terms).dataSync()),
            Array.from(byKernels(tf, terms).dataSync()),
            `values, coefficients ${cs}`,
          );
          const [ga, gb] = [mine(vs, dy), theirs(vs, dy)];
          ga.forEach((g, j) =>
            assert.deepEqual(
              Array.from(g.dataSync()),
              Array.from(gb[j].dataSync()),
              `gradient ${j}, coefficients ${cs}`,
            ),
          );
        });
      },
    ),
    { seed: 31, numRuns: 300 },
  );
});

const MODELS = [
  // All-scalar (packed state), shared and per-step parameters.
  (o: string) =>
    `par a=0.7, b=-0.4\nparam k per-step = 0.5\ninit x=0.3, y=-0.2, z=0.8\nx' = tanh(a*x) - k*y\ny' = sin(x) + b*y*z\nz' = -z + x*y\nloss = x(T)^2 + y(T) + z(T)^2\n@ total=1, ${o}, seed=1\ndone\n`,
  // A vector and a scalar state with a per-step vector parameter (blended between nodes by the start steps).
  (o: string) =>
    `state u[2]\nstate v\nparam c[2] per-step = 0.2\npar mu = 1\ninit u = [0.5, 0]\ninit v = 0.1\nu' = [u[1], mu*(1 - u[0]^2)*u[1] - u[0]] + c*v\nv' = -v + u[0]*u[1]\nloss = sum(u(T)^2) + v(T)\n@ total=1, ${o}, seed=1\ndone\n`,
];

test('discrete solves with the linear combination equal those with multiplies and adds, for every scheme kind', async () => {
  const { tf } = await initBackend('cpu');
  for (const model of MODELS) {
    for (const opts of [
      'meth=rk4',
      'meth=heun, tie=stage',
      'meth=ralston',
      'meth=leapfrog, start=rk4',
      'meth=ab3, start=heun',
      'meth=milne',
      'meth=euler',
    ]) {
      const a = analyse(model(`steps=24, ${opts}`));
      assert.ok(a.model, a.diagnostics.map((d) => d.message).join('; '));
      const m = a.model;
      const { compiled: cm } = compileModel(tf, m);
      try {
        assert.ok(cm.combine, 'a fused model combines in one kernel');
        const plain: CompiledModel = { ...cm, combine: undefined };
        const scheme = schemeOf(m),
          N = m.options.steps;
        const values = initialParameters(tf, m);
        const copies = copyTensors(tf, m, values);
        const at = paramsFor(m, copies);
        const run = (model: CompiledModel) =>
          tf.tidy(() => {
            const { value, grads } = tf.engine().gradients(
              () => {
                const traj = solveDiscrete(tf, model, scheme, N, m.options.dt, 0, at);
                return model.loss(traj[N]);
              },
              copies.flat(),
              undefined,
              true,
            );
            const states = solveDiscrete(tf, model, scheme, N, m.options.dt, 0, at).flatMap((xs) =>
              xs.flatMap((x) => Array.from(x.dataSync())),
            );
            return {
              loss: value.dataSync()[0],
              states,
              grads: grads.flatMap((g) => (g ? Array.from(g.dataSync()) : [0])),
            };
          });
        const one = run(cm),
          many = run(plain);
        assert.deepEqual(one.states, many.states, `${opts}: the same float32 states`);
        assert.equal(one.loss, many.loss, `${opts}: the same loss`);
        const scale = Math.max(...many.grads.map(Math.abs));
        one.grads.forEach((g, i) =>
          assert.ok(Math.abs(g - many.grads[i]) <= 1e-6 * scale, `${opts}: gradient ${i}: ${g} vs ${many.grads[i]}`),
        );
        tf.dispose(copies.flat());
      } finally {
        cm.dispose();
      }
    }
  }
});

test('the continuous reference with the linear combination keeps its accuracy: the same g as with multiplies and adds, to float32 rounding', async () => {
  const { tf } = await initBackend('cpu');
  // Van der Pol on a vector state, 400 RK4 steps: with the state summed first, every increment rounded at
  // the state's scale and g moved by 3e-5 (the reference's own error estimate is 4e-5).
  const a = analyse(
    "state z[2]\npar mu=1\ninit z = [0.5, 0]\nz' = [z[1], mu*(1 - z[0]^2)*z[1] - z[0]]\nloss = (z(T)[0] - 1)^2\n@ total=8, dt=0.02, meth=rk4\ndone\n",
  );
  assert.ok(a.model);
  const m = a.model;
  const { compiled: cm } = compileModel(tf, m);
  try {
    assert.ok(cm.combine);
    const N = m.options.steps,
      values = initialParameters(tf, m);
    const inp = {
      N,
      h: m.options.dt,
      t0: 0,
      layerTimes: parameterCopies(schemeOf(m), N, m.options.dt, 0).times,
      params: m.params.map((q, i) => ({ perStep: q.perStep, values: values[i], shape: [], size: 1 })),
    };
    const one = continuousReference(tf, cm, inp),
      many = continuousReference(tf, { ...cm, combine: undefined }, inp);
    const [g1, g2] = [one.g[0][0], many.g[0][0]];
    assert.ok(Math.abs(g1 - g2) <= 2e-6 * Math.abs(g2), `g ${g1} against ${g2}`);
  } finally {
    cm.dispose();
  }
});
