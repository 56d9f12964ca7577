// Delays inside the whole-solve kernel (engine/scalarKernel/delays.ts) against the per-operation delay engine
// (engine/delays.ts), which stays the fallback: random delay models (a constant tau, tau a parameter or an
// expression of one, a tau that reads the state, a tau shorter than the step, several delays, XPPAUT's history
// formula, per-step parameters, events) under every scheme the kernel runs. The trajectory and the AD
// gradients must match the per-operation path's, the batched finite differences on the kernel the
// per-operation path's one-by-one ones, and a whole check's AD its finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { NodeCompiler } from '../../solver/engine/compileNode';
import { solvesByKernel } from '../../solver/engine/integrate';
import { discreteGradients } from '../../solver/engine/discrete';
import { finiteDifferenceDirections, finiteDifferenceLosses } from '../../solver/engine/finiteDifferences';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';
import { lossAndGradients } from '../support/kernelCompare';

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, `${JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error'))}\n${text}`);
  return a.model;
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((x, y) => x + y * y, 0));

/** Delays a model may read: constants (one shorter than every step), parameters, an expression of one, the state. */
const LAGS = ['0.37', '1', '0.004', '2.5', 'tau', 'tau2', 'tau/2 + 0.013', 'tau*(1 + 0.1*u^2)'];

const delayModel = fc
  .record({
    meth: fc.constantFrom('euler', 'heun', 'midpoint', 'rk4'),
    tie: fc.constantFrom('step', 'stage'),
    dt: fc.constantFrom(0.01, 0.05, 0.1),
    total: fc.constantFrom(0.6, 1.5, 3),
    lags: fc.tuple(...[0, 1, 2, 3].map(() => fc.constantFrom(...LAGS))),
    tau: fc.double({ min: 0.05, max: 2, noNaN: true }),
    history: fc.boolean(),
    perStep: fc.boolean(),
    event: fc.boolean(),
  })
  .map(
    (o) => `# a random delay model
u' = -a*delay(u, ${o.lags[0]}) + b*sin(t)*delay(v, ${o.lags[1]})
v' = u - b*v*delay(v, ${o.lags[2]}) + 0.3*delay(u, ${o.lags[3]})
par b=0.5, tau2=0.9
param tau${o.perStep ? ' per-step' : ''} = ${Math.fround(o.tau)}
param a${o.perStep ? ' per-step' : ''} = 0.8
init v=0.2
${o.history ? 'u(0)=1-0.5*t' : 'init u=1'}
${o.event ? 'global -1 u-0.7 {v=0.5*v+b}' : ''}
loss = u(T)^2 + v(T)^2
@ total=${o.total}, dt=${o.dt}, meth=${o.meth}, tie=${o.tie}, delay=4
done
`,
  );

test('delays on the kernel equal the per-operation delay engine on random models: trajectories, AD gradients, batched finite differences', async () => {
  const { tf } = await initBackend('cpu');
  const before = tf.memory().numTensors;
  let compared = 0,
    fired = 0;
  const agree = (text: string) => {
    const m = parse(text);
    const scheme = schemeOf(m);
    const kernel = compileModel(tf, m).compiled,
      plain = compileModel(tf, m, { wholeSolve: false }).compiled;
    try {
      assert.ok(solvesByKernel(kernel, scheme), `the kernel runs the delays\n${text}`);
      assert.ok(!solvesByKernel(plain, scheme), 'wholeSolve: false keeps the per-operation solve');
      compared++;
      const values = initialParameters(tf, m);
      const k = lossAndGradients(tf, kernel, m, values),
        p = lossAndGradients(tf, plain, m, values);
      assert.ok(
        norm(k.trajectory.map((x, i) => x - p.trajectory[i])) <= 1e-5 * norm(p.trajectory),
        `trajectories\n${text}`,
      );
      assert.ok(Math.abs(k.loss - p.loss) <= 1e-5 * Math.max(1, Math.abs(p.loss)), `loss ${k.loss} vs ${p.loss}`);
      // The event fires where u crosses 0.7 downward (XPPAUT's sign −1 rule; row n holds u, v).
      const u = (n: number) => p.trajectory[2 * n];
      if (text.includes('global'))
        for (let n = 0; n + 1 < p.trajectory.length / 2; n++)
          if (u(n) > 0.7 && u(n + 1) <= 0.7) {
            fired++;
            break;
          }
      p.G.forEach((g, i) => {
        assert.ok(g.every(Number.isFinite), `per-operation gradient ${i} is finite\n${text}`);
        const diff = norm(g.map((x, j) => x - k.G[i][j]));
        assert.ok(diff <= 1e-4 * norm(g) + 1e-6, `gradient ${i}: |Δ| ${diff} against ${norm(g)}\n${text}`);
      });
      // Finite differences: one batched solve on the kernel, one solve per perturbation per operation.
      const { G, loss } = discreteGradients(tf, plain, scheme, m, values);
      const { dirs, eps } = finiteDifferenceDirections(m, values, G, loss);
      const batched = finiteDifferenceLosses(tf, kernel, scheme, m, values, dirs, eps, 'batched');
      const loop = finiteDifferenceLosses(tf, plain, scheme, m, values, dirs, eps, 'loop');
      batched.forEach((pair, i) =>
        pair.forEach((l, s) =>
          assert.ok(
            Math.abs(l - loop[i][s]) <= 1e-5 * Math.max(1, Math.abs(loop[i][s])),
            `perturbed loss ${i}/${s}: ${l} vs ${loop[i][s]}\n${text}`,
          ),
        ),
      );
    } finally {
      kernel.dispose();
      plain.dispose();
    }
  };
  fc.assert(
    fc.property(delayModel, (t) => agree(t)),
    { seed: 41, numRuns: 30 },
  );
  assert.equal(compared, 30);
  assert.ok(fired >= 3, `events fired in ${fired} models only`);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

test('a delayed vector state on the kernel equals the per-operation engine', async () => {
  const { tf } = await initBackend('cpu');
  const text = `state w[3]
init w = 0.4
param k = 0.6
param tau = 0.45
w' = -k*delay(w, tau) + [0.1, -0.2, 0.3]*delay(w, 0.2)[0]
loss = sum(w(T)^2)
@ total=2, dt=0.05, meth=rk4
done
`;
  const m = parse(text);
  const kernel = compileModel(tf, m).compiled,
    plain = compileModel(tf, m, { wholeSolve: false }).compiled;
  try {
    assert.ok(solvesByKernel(kernel, schemeOf(m)), 'the kernel runs a vector delay');
    const values = initialParameters(tf, m);
    const k = lossAndGradients(tf, kernel, m, values),
      p = lossAndGradients(tf, plain, m, values);
    assert.ok(norm(k.trajectory.map((x, i) => x - p.trajectory[i])) <= 1e-5 * norm(p.trajectory));
    p.G.forEach((g, i) => {
      const diff = norm(g.map((x, j) => x - k.G[i][j]));
      assert.ok(diff <= 1e-4 * norm(g) + 1e-6, `gradient ${i}: |Δ| ${diff} against ${norm(g)}`);
      assert.ok(norm(g) > 1e-3, `gradient ${i} matters`);
    });
  } finally {
    kernel.dispose();
    plain.dispose();
  }
});

// XPPAUT's Mackey–Glass form over a few hundred steps: several delays, tau a parameter, a history formula.
const GLASS = `x'=-g*x + b*delay(x,tau)/(1 + delay(x,tau)^4) + 0.05*delay(y, tau/3)
y'=x - y
par g=0.3, b=0.6, tau=1.37
x(0)=0.5+0.1*t
init y=0.1
@ total=6, dt=0.02, meth=rk4, delay=3
done
`;

test('a check of a delay model on the kernel: AD agrees with its batched finite differences and with the per-operation check', async () => {
  const m = parse(GLASS);
  const kernel = await runCheck(m, { backend: 'cpu' }),
    plain = await runCheck(m, { backend: 'cpu', wholeSolve: false });
  assert.equal(kernel.rhsPath, 'scalar-solve');
  assert.equal(plain.rhsPath, 'per-operation');
  assert.ok(Math.abs(kernel.loss - plain.loss) <= 1e-5 * Math.abs(plain.loss), `${kernel.loss} vs ${plain.loss}`);
  // The reference is the limit of refined RK4 grids (check/refinedReference.ts), which the kernel makes cheap.
  assert.equal(kernel.refinedReference?.scheme, 'rk4');
  kernel.parameters.forEach((p, i) => {
    assert.ok(Number.isFinite(p.metrics.relError), `${p.name}: an error against the reference`);
    assert.ok(p.metrics.gradcheckRelError < 0.01, `${p.name}: AD against FD ${p.metrics.gradcheckRelError}`);
    assert.ok(Math.abs(p.metrics.gradcheckRelError - plain.parameters[i].metrics.gradcheckRelError) < 1e-3);
  });
});

test('a multistep scheme keeps the per-operation delay engine and says so', async () => {
  const m = parse(GLASS.replace('meth=rk4', 'meth=ab3'));
  const report = await runCheck(m, { backend: 'cpu' });
  assert.equal(report.rhsPath, 'per-operation');
  assert.match(report.rhsPathNote ?? '', /multistep/);
  for (const p of report.parameters) assert.ok(p.metrics.gradcheckRelError < 0.01, `${p.name}`);
});

test('a model with delays or events on the kernel compiles its per-operation right-hand sides when first asked: the same f, reverse modes and time flag', async () => {
  const { tf } = await initBackend('cpu');
  const models = [
    // Delays, and a right-hand side that reads t: no reverse mode through the delay.
    `u' = -a*delay(u, tau) + 0.3*sin(t)*v
v' = u - 0.5*v + 0.25
param a = 0.8
param tau = 0.4
init u=1, v=0.2
loss = u(T)^2
@ total=2, dt=0.05, meth=rk4
done
`,
    // Events alone: the right-hand sides have their vector–Jacobian products.
    `u' = -a*u + 1.5
param a = 0.8
init u=0
global 1 u-0.5 {u=0.1}
loss = u(T)^2
@ total=2, dt=0.05, meth=heun
done
`,
  ];
  // The right-hand sides compiled per operation: NodeCompiler's compile of an equation's own expression.
  const compile = NodeCompiler.prototype.compile;
  let rhsCompiles = 0;
  let rhsExprs = new Set<unknown>();
  NodeCompiler.prototype.compile = function (this: NodeCompiler, e, inLoss, final) {
    if (rhsExprs.has(e)) rhsCompiles++;
    return compile.call(this, e, inLoss, final);
  };
  try {
    for (const text of models) {
      const m = parse(text);
      rhsExprs = new Set(m.equations.map((q) => q.rhs));
      const base = tf.memory().numTensors;
      rhsCompiles = 0;
      const kernel = compileModel(tf, m).compiled;
      assert.equal(rhsCompiles, 0, "the kernel's model compiles no right-hand side per operation");
      const plain = compileModel(tf, m, { wholeSolve: false }).compiled;
      assert.equal(rhsCompiles, m.states.length, 'the per-operation model compiles them at once');
      try {
        assert.ok(solvesByKernel(kernel, schemeOf(m)), `the kernel runs the model\n${text}`);
        assert.equal(kernel.usesTime, plain.usesTime, 'usesTime');
        assert.equal(kernel.usesTime, text.includes('sin(t)'));
        assert.equal(rhsCompiles, 2 * m.states.length, "asked for usesTime, the kernel's model compiled them, once");
        assert.equal(!!kernel.rhsVjp, !!plain.rhsVjp, 'reverse modes');
        assert.equal(!!kernel.rhsVjp, !text.includes('delay'));
        tf.tidy(() => {
          const s = m.states.map((_x, i) => tf.scalar(0.3 + 0.2 * i)),
            p = m.params.map((_x, i) => tf.scalar(0.7 - 0.1 * i));
          const values = (cm: typeof kernel) => cm.rhs(s, p, 0.35).map((y) => Array.from(y.dataSync()));
          assert.deepStrictEqual(values(kernel), values(plain), 'f');
          if (kernel.rhsVjp && plain.rhsVjp) {
            const cot = s.map(() => tf.scalar(1.25));
            const grads = (cm: typeof kernel) => {
              const { vx, vp } = cm.rhsVjp!(s, p, 0.35, cot, true);
              return [...vx, ...vp].map((g) => Array.from(g.dataSync()));
            };
            assert.deepStrictEqual(grads(kernel), grads(plain), 'vector–Jacobian products');
          }
        });
        assert.equal(rhsCompiles, 2 * m.states.length);
      } finally {
        kernel.dispose();
        plain.dispose();
      }
      assert.equal(tf.memory().numTensors, base, 'no tensors leak');
    }
  } finally {
    NodeCompiler.prototype.compile = compile;
  }
});
