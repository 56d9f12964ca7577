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
import type { Tensor, TF } from '../../solver/engine/tf';
import { compileModel, internalShape, sizeOf, type CompiledModel } from '../../solver/engine/compile';
import { solveDiscrete, solvesByKernel } from '../../solver/engine/integrate';
import { schemeOf } from '../../solver/schemes/schemes';
import { copiesPerParameter } from '../../solver/engine/discrete';
import type { Model } from '../../solver/model';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';

const KERNEL_METHODS = ['euler', 'heun', 'midpoint', 'rk4'] as const;

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

/** Loss and AD gradients (one array per copy tensor) of the solve, with a term on every step's first state. */
function lossAndGradients(tf: TF, cm: CompiledModel, m: Model, values: Float32Array[]) {
  const scheme = schemeOf(m),
    N = m.options.steps,
    count = copiesPerParameter(m);
  let out: { loss: number; trajectory: number[]; G: Float64Array[] } | undefined;
  tf.tidy(() => {
    const copies = m.params.map((p, i) => {
      const P = sizeOf(p.shape);
      return Array.from({ length: p.perStep ? count : 1 }, (_, n) =>
        tf.tensor(values[i].subarray(n * P, (n + 1) * P), internalShape(p.shape)),
      );
    });
    const at = (c: number) => copies.map((cs, i) => (m.params[i].perStep ? cs[c] : cs[0]));
    const flat = copies.flat();
    let trajectory: number[] = [];
    const { value, grads } = tf.engine().gradients(
      () => {
        const traj = solveDiscrete(tf, cm, scheme, N, m.options.dt, m.options.t0, at);
        trajectory = traj.flatMap((xs) => xs.flatMap((x) => Array.from(x.dataSync())));
        const everyStep = tf.sum(tf.stack(traj.map((xs) => tf.sum(xs[0]))));
        return tf.add(cm.loss(traj[N]), tf.mul(0.1, everyStep));
      },
      flat,
      undefined,
      true,
    );
    out = {
      loss: value.dataSync()[0],
      trajectory,
      G: grads.map((g, k) => (g ? Float64Array.from(g.dataSync()) : new Float64Array(flat[k].size))),
    };
  });
  return out!;
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
  assert.match(kernel.discreteSolve ?? '', /one kernel/);
  assert.match(plain.discreteSolve ?? '', /per TF\.js kernel/);
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
