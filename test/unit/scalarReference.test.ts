// The continuous reference of a fused model in JS (engine/scalarKernel/referenceRk4.ts: the forward RK4;
// scalarKernel/referenceAdjoint.ts: the batched adjoint of small states) against the reference on TF.js
// kernels it replaces (the same model compiled without the whole-solve kernel): the same g, error,
// accurate loss and paths, bit for bit, on random models with seeded, smooth and independent copies, on
// the coarse grids, the usual grid, its halvings, and on states too large for the batched adjoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { accurateLoss, continuousReference, type ReferenceResult } from '../../solver/engine/reference';
import { BATCHED_ADJOINT_MAX_STATES } from '../../solver/engine/batchedAdjoint';
import type { Model } from '../../solver/model';
import { copiesOf, referenceInput, type CopiesKind } from '../../bench/referenceCopies';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';

const same = (a: ReferenceResult, b: ReferenceResult, what: string) => {
  assert.deepEqual(a.gridTimes, b.gridTimes, `${what}: grid`);
  a.g.forEach((g, i) => assert.deepEqual(g, b.g[i], `${what}: g of parameter ${i}`));
  assert.ok(Object.is(a.referenceError, b.referenceError), `${what}: error ${a.referenceError} vs ${b.referenceError}`);
  assert.ok(Object.is(a.lossAccurate, b.lossAccurate), `${what}: loss ${a.lossAccurate} vs ${b.lossAccurate}`);
  assert.equal(a.nonFinite, b.nonFinite, `${what}: non-finite`);
  assert.deepEqual(a.paths, b.paths, `${what}: paths`);
};

/** Compares the two references of `text` for every kind of copies; false when the model does not run on the kernel. */
async function agree(text: string, kinds: CopiesKind[]): Promise<boolean> {
  const a = analyse(text);
  if (!a.model || a.diagnostics.some((d) => d.severity === 'error')) return false;
  const m: Model = a.model;
  const { tf } = await initBackend('cpu');
  const kernel = compileModel(tf, m).compiled,
    plain = compileModel(tf, m, { wholeSolve: false }).compiled;
  try {
    if (!kernel.wholeSolve?.program || kernel.observed.length > 0) return false;
    const seeded = initialParameters(tf, m);
    for (const kind of kinds) {
      const inp = referenceInput(m, copiesOf(m, seeded, kind));
      same(continuousReference(tf, kernel, inp), continuousReference(tf, plain, inp), `${kind}\n${text}`);
      assert.ok(Object.is(accurateLoss(tf, kernel, inp), accurateLoss(tf, plain, inp)), `${kind}: accurate loss`);
    }
    return true;
  } finally {
    kernel.dispose();
    plain.dispose();
  }
}

test('the reference in JS equals the reference on TF.js kernels on random fused models, bit for bit', async () => {
  const { tf } = await initBackend('cpu');
  const before = tf.memory().numTensors;
  const texts = [
    ...fc.sample(expressionModel, { seed: 41, numRuns: 40 }),
    ...fc.sample(modelText, { seed: 42, numRuns: 30 }),
    ...fc.sample(smallTensorModel, { seed: 43, numRuns: 30 }),
  ];
  let compared = 0;
  for (const t of texts) if (await agree(t, ['seeded', 'independent'])) compared++;
  assert.ok(compared >= 50, `only ${compared} generated models ran on the JS reference`);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

// A chaotic pendulum over a long horizon: the reference halves its step several times (usual grid, N ≥ 32).
const PENDULUM = `t1' = t1p
t2' = t2p
t1p' = -mu*t1p - g*sin(t1) + 0.5*sin(t2 - t1)*t2p^2
t2p' = -mu*t2p - g*sin(t2) - 0.5*sin(t2 - t1)*t1p^2
par g=9.8, mu=.01
init t1=1.5, t2=0
@ total=20, dt=0.05
done
`;

test('the reference in JS equals the TF.js one where it halves its step (a chaotic pendulum)', async () => {
  assert.ok(await agree(PENDULUM, ['seeded', 'smooth']));
});

// More states than the batched adjoint takes: the JS forward feeds the per-node adjoint on TF.js.
const CHAIN = (
  n: number,
) => `${Array.from({ length: n }, (_, i) => `x${i}' = -k*x${i} + sin(x${(i + 1) % n}) * a${i % 3}`).join('\n')}
par k=0.7
param a0 per-step = 0.5
param a1 = -0.3
param a2 per-step = 0.2
init ${Array.from({ length: n }, (_, i) => `x${i}=${(i % 4) / 4 + 0.1}`).join(', ')}
@ total=3, steps=40, meth=rk4
done
`;

test(`the reference in JS equals the TF.js one above ${BATCHED_ADJOINT_MAX_STATES} states (per-node adjoint)`, async () => {
  assert.ok(await agree(CHAIN(BATCHED_ADJOINT_MAX_STATES + 4), ['seeded', 'smooth', 'independent']));
});
