// The engine's cpu matrix product (engine/matrixProduct.ts): TF.js's float32 values and gradients,
// bit for bit, over every transpose, batch broadcasting, block boundaries (48 shared indices) and the
// outer and matrix–vector shapes of a per-step network's steps; and a network solve that does not
// change when it replaces tf.matMul.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { cpuProduct, matrixProduct, productValues } from '../../solver/engine/matrixProduct';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';

const dims = fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(47, 48, 49, 97));
const shapes = fc.record({
  m: dims,
  k: dims,
  n: fc.oneof(fc.constant(1), dims),
  tA: fc.boolean(),
  tB: fc.boolean(),
  // Batches: none (rank 2), equal, or one side 1 / rank 2 against a batch.
  batch: fc.constantFrom<[number, number]>([0, 0], [3, 3], [1, 3], [3, 1], [0, 2], [2, 0], [1, 1]),
  seed: fc.integer({ min: 1, max: 1e6 }),
});

test('the cpu product gives TF.js’s float32 values and gradients, bit for bit', async () => {
  const { tf } = await initBackend('cpu');
  const matMul = matrixProduct(tf);
  cpuProduct.minOperandProduct = 0; // the loops for every size here
  await fc
    .assert(
      fc.asyncProperty(shapes, async ({ m, k, n, tA, tB, batch: [ba, bb], seed }) => {
        tf.tidy(() => {
          const aInner = tA ? [k, m] : [m, k],
            bInner = tB ? [n, k] : [k, n];
          // Values of mixed sizes and signs, with exact zeros and negative zeros among them.
          const values = (shape: number[], s: number) => {
            const t = tf.randomNormal(shape, 0, 1, 'float32', s);
            const v = Float32Array.from(t.dataSync(), (x, i) =>
              i % 11 === 3 ? 0 : i % 13 === 5 ? -0 : x * 10 ** ((i % 7) - 3),
            );
            return tf.tensor(v, shape);
          };
          const a = values(ba ? [ba, ...aInner] : aInner, seed),
            b = values(bb ? [bb, ...bInner] : bInner, seed + 1);
          const mine = matMul(a, b, tA, tB),
            theirs = tf.matMul(a, b, tA, tB);
          assert.deepEqual(mine.shape, theirs.shape);
          assert.deepEqual(
            Array.from(mine.dataSync()),
            Array.from(theirs.dataSync()),
            `values, ${JSON.stringify({ m, k, n, tA, tB, ba, bb })}`,
          );
          const broadcasts = ba !== bb;
          if (broadcasts) return; // TF.js's own matMul gradient does not sum over broadcast batches (below, against sums)
          const dy = values(theirs.shape, seed + 2);
          const [ga, gb] = tf.grads((x: Tensor, y: Tensor) => matMul(x, y, tA, tB))([a, b], dy);
          const [ta, tb] = tf.grads((x: Tensor, y: Tensor) => tf.matMul(x, y, tA, tB))([a, b], dy);
          assert.deepEqual(Array.from(ga.dataSync()), Array.from(ta.dataSync()), 'gradient of a');
          assert.deepEqual(Array.from(gb.dataSync()), Array.from(tb.dataSync()), 'gradient of b');
        });
      }),
      { seed: 7, numRuns: 250 },
    )
    .finally(() => {
      cpuProduct.minOperandProduct = 1024;
    });
});

test('gradients through a broadcast batch are summed back to the operand’s shape', async () => {
  const { tf } = await initBackend('cpu');
  const matMul = matrixProduct(tf);
  cpuProduct.minOperandProduct = 0;
  tf.tidy(() => {
    const W = tf.randomNormal([4, 3], 0, 1, 'float32', 1),
      X = tf.randomNormal([5, 3, 2], 0, 1, 'float32', 2);
    const dy = tf.randomNormal([5, 4, 2], 0, 1, 'float32', 3);
    const [gW, gX] = tf.grads((w: Tensor, x: Tensor) => matMul(w, x))([W, X], dy);
    assert.deepEqual(gW.shape, [4, 3]);
    assert.deepEqual(gX.shape, [5, 3, 2]);
    // Per batch element by tf.matMul, then summed.
    const parts = tf.unstack(X).map((x, i) => tf.matMul(tf.unstack(dy)[i], x, false, true));
    const want = tf.addN(parts).dataSync(),
      got = gW.dataSync();
    got.forEach((g, i) =>
      assert.ok(Math.abs(g - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `dW[${i}] ${g} against ${want[i]}`),
    );
  });
  cpuProduct.minOperandProduct = 1024;
});

test('shapes the loops do not take are left to tf.matMul', () => {
  assert.equal(
    productValues(new Float32Array(24), [2, 2, 3, 2], new Float32Array(4), [2, 2], false, false),
    undefined,
    'rank 4',
  );
  assert.equal(
    productValues(new Float32Array(12), [2, 3, 2], new Float32Array(12), [3, 2, 2], false, false),
    undefined,
    'batches 2 and 3',
  );
});

test('a per-step network’s check is the same with the cpu product as with tf.matMul', async () => {
  const text = [
    // W1 @ x and W2 @ h both above the size the loops start at.
    'state x[4]',
    'init x = [1, 0, -0.5, 0.2]',
    'param W1[64,4] per-step ~ normal(0, 0.5)',
    'param b1[64] per-step ~ normal(0, 0.1)',
    'param W2[4,64] per-step ~ normal(0, 0.1)',
    "x' = W2 @ tanh(W1 @ x + b1)",
    'loss = 0.5 * sum((x(T) - [0.5, -1.0, 0.2, 0])^2)',
    '@ total=1, steps=32, meth=leapfrog, seed=3',
    'done',
  ].join('\n');
  const model = analyse(text).model!;
  const mine = await runCheck(model, { backend: 'cpu' });
  cpuProduct.enabled = false;
  const check = await runCheck(model, { backend: 'cpu' }).finally(() => {
    cpuProduct.enabled = true;
  });
  assert.equal(mine.loss, check.loss, 'the loss');
  mine.parameters.forEach((p, i) => {
    assert.deepEqual(p.raw, check.parameters[i].raw, `AD gradient of ${p.name}`);
    assert.equal(p.metrics.gradcheckRelError, check.parameters[i].metrics.gradcheckRelError, `gradcheck of ${p.name}`);
    assert.equal(p.metrics.relError, check.parameters[i].metrics.relError, `reference error of ${p.name}`);
  });
});
