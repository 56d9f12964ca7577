// The whole-solve kernel (engine/scalarKernel/) against the per-kernel TF.js solve it replaces: the same
// fused program, the same scheme, the same float32 trajectory bit for bit, and the discrete adjoint's
// gradients equal to TF.js AD's up to float32 accumulation order (TF.js sums each use's gradient in
// float32 in its tape's order, the kernel in double).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { solvesByKernel } from '../../solver/engine/integrate';
import { discreteGradients } from '../../solver/engine/discrete';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';
import { lossAndGradients } from '../support/kernelCompare';

const KERNEL_METHODS = ['euler', 'heun', 'midpoint', 'rk4'] as const;

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((x, y) => x + y * y, 0));

test('the whole-solve kernel equals the per-kernel solve on random models: the float32 trajectory bit for bit, AD gradients to float32 accumulation', async () => {
  const { tf } = await initBackend('cpu');
  const before = tf.memory().numTensors;
  let compared = 0;
  const agree = (text: string, meth: string, tie: string) => {
    const a = analyse(text.replace(/meth=\w+/, `meth=${meth}, tie=${tie}`).replace(/, gradfix=\w+/, ''));
    if (!a.model || a.diagnostics.some((d) => d.severity === 'error')) return;
    const m = a.model;
    const kernel = compileModel(tf, m).compiled,
      plain = compileModel(tf, m, { wholeSolve: false }).compiled;
    try {
      if (!solvesByKernel(kernel, schemeOf(m))) return;
      assert.ok(!solvesByKernel(plain, schemeOf(m)), 'wholeSolve: false keeps the per-kernel solve');
      compared++;
      const values = initialParameters(tf, m);
      const k = lossAndGradients(tf, kernel, m, values),
        p = lossAndGradients(tf, plain, m, values);
      assert.deepEqual(k.trajectory, p.trajectory, `trajectories differ (${meth}, tie=${tie})\n${text}`);
      assert.ok(Object.is(k.loss, p.loss), `loss ${k.loss} vs ${p.loss}\n${text}`);
      const finite = Number.isFinite(p.loss) && p.G.every((g) => g.every(Number.isFinite));
      if (!finite) return; // TF.js's where() gradient turns an untaken infinite branch into NaN; the reverse mode skips zero cotangents
      p.G.forEach((g, i) => {
        const diff = norm(g.map((x, j) => x - k.G[i][j]));
        // float32 accumulation of sums over many uses: a few ulps per step, relative to the gradient's size.
        assert.ok(
          diff <= 1e-5 * norm(g) * Math.sqrt(m.options.steps) + 1e-6 * (1 + Math.abs(p.loss)),
          `gradient ${i}: |Δ| ${diff} against ${norm(g)} (${meth}, tie=${tie})\n${text}`,
        );
      });
    } finally {
      kernel.dispose();
      plain.dispose();
    }
  };
  const settings = fc.tuple(fc.constantFrom(...KERNEL_METHODS), fc.constantFrom('step', 'stage'));
  fc.assert(
    fc.property(expressionModel, settings, (t, [meth, tie]) => agree(t, meth, tie)),
    { seed: 31, numRuns: 120 },
  );
  fc.assert(
    fc.property(modelText, settings, (t, [meth, tie]) => agree(t, meth, tie)),
    { seed: 32, numRuns: 60 },
  );
  fc.assert(
    fc.property(smallTensorModel, settings, (t, [meth, tie]) => agree(t, meth, tie)),
    { seed: 33, numRuns: 80 },
  );
  assert.ok(compared >= 150, `only ${compared} generated models ran on the kernel`);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

const PENDULUM = `# a double pendulum, XPPAUT style
t1' = t1p
t2' = t2p
t1p' = -mu*t1p - g*sin(t1) + 0.5*sin(t2 - t1)*t2p^2
t2p' = -mu*t2p - g*sin(t2) - 0.5*sin(t2 - t1)*t1p^2
par g=9.8, mu=.01
init t1=1.5, t2=0
@ total=2, dt=0.05
done
`;

test('a check on the kernel reports the same findings and numbers as the per-kernel solve, and says which ran', async () => {
  const m = parse(PENDULUM);
  const kernel = await runCheck(m, { backend: 'cpu' }),
    plain = await runCheck(m, { backend: 'cpu', wholeSolve: false });
  assert.equal(kernel.rhsPath, 'scalar-solve');
  assert.equal(plain.rhsPath, 'scalar-program');
  assert.ok(Object.is(kernel.loss, plain.loss), `loss ${kernel.loss} vs ${plain.loss}`);
  assert.deepEqual(
    kernel.findings.map((f) => f.code),
    plain.findings.map((f) => f.code),
  );
  kernel.parameters.forEach((p, i) => {
    const q = plain.parameters[i];
    assert.ok(Math.abs(p.metrics.relError - q.metrics.relError) <= 1e-4 * Math.max(1, q.metrics.relError));
    assert.ok(Math.abs(p.metrics.gradcheckRelError - q.metrics.gradcheckRelError) <= 1e-3);
  });
});

// Events: upward, downward and either-way crossings, a reset reading a parameter and other states, two
// events setting the same state (the later wins), per-step and shared parameters, time in a condition.
const EVENT_MODELS = [
  `v'=-v+i
par i=1.6, vr=0.2
global 1 v-1 {v=vr}
loss = v(T)^2
@ total=5, dt=0.02, meth=rk4
done`,
  `x'=y
y'=-g - c*y
par g=9.8, c=0.1, e=0.8
init x=1, y=0
global -1 x {y=-e*y; x=0}
loss = x(T)^2 + y(T)^2
@ total=3, dt=0.01, meth=heun
done`,
  `u'=a - u*w
w'=b*u - w + sin(t)
param a per-step = 1.2
par b=0.7, k=0.5
init u=0.1, w=0.3
global 0 u-w-0.2 {u=k*u; w=w+0.1}
global 1 t-1.5 {u=0.5*u+a}
global 1 u-1.1 {u=0}
loss = u(T) + w(T)^2
@ total=4, dt=0.05, meth=midpoint, tie=stage
done`,
];

test('events on the kernel equal events on TF.js kernels: trajectories and AD gradients', async () => {
  const { tf } = await initBackend('cpu');
  for (const text of EVENT_MODELS) {
    const m = parse(text);
    const kernel = compileModel(tf, m).compiled,
      plain = compileModel(tf, m, { wholeSolve: false }).compiled;
    try {
      assert.ok(solvesByKernel(kernel, schemeOf(m)), `the kernel runs the events\n${text}`);
      assert.ok(!solvesByKernel(plain, schemeOf(m)));
      const values = initialParameters(tf, m);
      const k = lossAndGradients(tf, kernel, m, values),
        p = lossAndGradients(tf, plain, m, values);
      // The events fire: some state jumps by more than a smooth step could move it.
      const S = m.states.length;
      let jumps = 0;
      for (let n = 1; n + 1 < p.trajectory.length / S; n++)
        for (let s = 0; s < S; s++) {
          const d = (i: number) => Math.abs(p.trajectory[i * S + s] - p.trajectory[(i - 1) * S + s]);
          if (d(n) > 10 * (d(n - 1 || 1) + d(n + 1)) + 1e-3) jumps++;
        }
      assert.ok(jumps > 0, `no event fired\n${text}`);
      assert.ok(
        norm(k.trajectory.map((x, i) => x - p.trajectory[i])) <= 1e-5 * norm(p.trajectory),
        `trajectories\n${text}`,
      );
      assert.ok(Math.abs(k.loss - p.loss) <= 1e-5 * Math.max(1, Math.abs(p.loss)), `loss ${k.loss} vs ${p.loss}`);
      p.G.forEach((g, i) => {
        const diff = norm(g.map((x, j) => x - k.G[i][j]));
        assert.ok(diff <= 1e-4 * norm(g) + 1e-6, `gradient ${i}: |Δ| ${diff} against ${norm(g)}\n${text}`);
      });
    } finally {
      kernel.dispose();
      plain.dispose();
    }
  }
});

// The loss reads each state of x(T) from the kernel's trajectory [N+1, S]. A slice's gradient is its input's shape
// of zeros around it, so slicing every state from the whole trajectory made AD build and add S tensors of
// (N+1)·S floats (a 101-state map over 16,000 steps spent a quarter of its check there); the states are sliced
// from their row, which leaves one tensor of the trajectory's size in the backward pass.
test('AD through the whole-solve kernel builds one trajectory-sized gradient, not one per state read', async () => {
  const { tf } = await initBackend('cpu');
  for (const S of [2, 7, 30]) {
    const m = parse(`par a=0.3, b=0.1
x[0..${S - 1}]' = -a*x[j] + b*sin(x[j]) + 0.01*[j]
init x[0..${S - 1}]=0.5
@ total=4, dt=0.02, meth=heun
done`);
    const { compiled: cm } = compileModel(tf, m);
    try {
      assert.ok(solvesByKernel(cm, schemeOf(m)), 'the kernel runs the solve');
      assert.equal(m.states.length, S, 'one state per element');
      const N = m.options.steps,
        trajectorySize = (N + 1) * S;
      const values = initialParameters(tf, m);
      let G: Float32Array[] = [];
      const profile = await tf.profile(() => {
        G = discreteGradients(tf, cm, schemeOf(m), m, values).G;
      });
      assert.ok(
        G.some((g) => g.some((x) => x !== 0)),
        'the parameters get a gradient',
      );
      const big = profile.kernels.filter((k) =>
        k.outputShapes.some((shape) => shape.reduce((x, y) => x * y, 1) >= trajectorySize),
      );
      // The solve's output (and customGrad's identity of it), and the gradient of the row that holds x(T).
      assert.ok(
        big.length <= 3,
        `${S} states: ${big.length} kernels made trajectory-sized tensors (${big.map((k) => k.name).join(', ')})`,
      );
    } finally {
      cm.dispose();
    }
  }
});
