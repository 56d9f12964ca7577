// The default loss ½‖x(T)‖² on x(T)'s row (engine/defaultLoss.ts) against the per-state TF.js ops it stands for: the
// same float32 value and gradient, bit for bit, on the cpu backend; and a check of a many-state model takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend } from '../../solver/engine/backend';
import { defaultLoss, type RowLoss } from '../../solver/engine/defaultLoss';
import { compileModel } from '../../solver/engine/compile';
import { copyTensors, discreteLoss, paramsFor } from '../../solver/engine/discrete';
import { trajectoryLossBatched } from '../../solver/engine/observe';
import { schemeOf } from '../../solver/schemes/schemes';
import { initialParameters } from '../../solver/engine/parameters';
import { analyse } from '../../solver/language/index';
import { continuousReference } from '../../solver/engine/reference';
import { parameterCopies } from '../../solver/schemes/copies';

const shapes = fc.array(
  fc.oneof(
    fc.constant([] as number[]),
    fc.tuple(fc.integer({ min: 1, max: 5 })).map(([n]) => [n, 1]),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  ),
  { minLength: 1, maxLength: 12 },
);
// Values over many binades, so that the float32 sums round differently in double and in float32.
const value = fc.float({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true });

test('the default loss on the final row equals the per-state ops on cpu: value and gradient bit for bit, and batched', async () => {
  const { tf } = await initBackend('cpu');
  const half = tf.scalar(0.5);
  fc.assert(
    fc.property(
      shapes.chain((ss) =>
        fc.tuple(
          fc.constant(ss),
          fc.array(value, { minLength: ss.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0), maxLength: 200 }),
          fc.float({ min: Math.fround(0.1), max: 10, noNaN: true }),
        ),
      ),
      ([ss, xs, dy]) => {
        const loss = defaultLoss(tf, half, ss);
        assert.ok(loss.rows, 'cpu has the row form');
        const sizes = ss.map((s) => s.reduce((x, y) => x * y, 1));
        const S = sizes.reduce((a, b) => a + b, 0);
        const flat = Float32Array.from(xs.slice(0, S));
        tf.tidy(() => {
          let at = 0;
          const states = ss.map((shape, i) => tf.tensor(flat.subarray(at, (at += sizes[i])), shape));
          const perState = (...xs: typeof states) => tf.mul(loss.fn({ s: xs, p: [] }) as never, dy);
          const onRow = (...xs: typeof states) =>
            tf.mul(loss.rows!.one(tf.reshape(tf.concat(xs.map((x) => tf.reshape(x, [-1]))), [1, S])), dy);
          const a = tf.valueAndGrads(perState)(states),
            b = tf.valueAndGrads(onRow)(states);
          assert.deepEqual(b.value.dataSync(), a.value.dataSync(), `value of ${JSON.stringify(ss)}`);
          b.grads.forEach((g, i) =>
            assert.deepEqual(g.dataSync(), a.grads[i].dataSync(), `gradient of state ${i} of ${JSON.stringify(ss)}`),
          );
        });
      },
    ),
    { numRuns: 300 },
  );
  // The batched form: B final rows against the per-state batched ops (states [B, …] as the batched solves give them).
  fc.assert(
    fc.property(
      shapes,
      fc.integer({ min: 1, max: 4 }),
      fc.array(value, { minLength: 4 * 60, maxLength: 4 * 60 }),
      (ss, B, xs) => {
        const { batched, rows: onRows } = defaultLoss(tf, half, ss);
        const sizes = ss.map((s) => s.reduce((x, y) => x * y, 1));
        const S = sizes.reduce((a, b) => a + b, 0);
        const rows = Float32Array.from(xs.slice(0, B * S));
        const perState = tf.tidy(() => {
          let at = 0;
          const states = ss.map((shape, i) => {
            at += sizes[i];
            const part = tf.slice(tf.tensor2d(rows, [B, S]), [0, at - sizes[i]], [B, sizes[i]]);
            return tf.reshape(part, [B, ...(shape.length === 0 ? [1, 1] : shape)]);
          });
          return tf.reshape(batched({ s: states, p: [] }) as never, [B]).dataSync();
        });
        assert.deepEqual(onRows!.batch(rows, B), perState, `batched losses of ${JSON.stringify(ss)}`);
      },
    ),
    { numRuns: 200 },
  );
  half.dispose();
});

test('solves of a many-state model take the default loss from the final row, with the per-state value and gradient', async () => {
  const { tf } = await initBackend('cpu');
  const text = [
    'par k=0.3',
    ...Array.from({ length: 40 }, (_, i) => `x${i}'=-k*x${i}+sin(${i + 1}*t)*x${(i + 1) % 40}`),
    ...Array.from({ length: 40 }, (_, i) => `init x${i}=${(i % 7) - 3.3}`),
    '@ meth=rk4, dt=0.05, total=2',
    'done',
  ].join('\n');
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  const m = a.model;
  const kernel = compileModel(tf, m).compiled,
    plain = compileModel(tf, m, { wholeSolve: false }).compiled;
  try {
    assert.ok(kernel.rowLoss && kernel.wholeSolve, 'the kernel model has the row loss');
    const copies = copyTensors(tf, m, initialParameters(tf, m));
    const scheme = schemeOf(m);
    /** A row loss that counts its calls (undefined: the per-state ops). */
    const counting = (rowLoss: RowLoss | undefined) => {
      const calls = { one: 0, batch: 0 };
      const counted = rowLoss && {
        one: (row: Parameters<RowLoss['one']>[0]) => {
          calls.one++;
          return rowLoss.one(row);
        },
        batch: (rows: Float32Array, B: number) => {
          calls.batch++;
          return rowLoss.batch(rows, B);
        },
      };
      return { counted, calls };
    };
    /** The loss and its gradient in k through the solve, with the number of losses read from a row. */
    const lossAndGradient = (cm: typeof kernel, rowLoss: RowLoss | undefined) => {
      const { counted, calls } = counting(rowLoss);
      const { value, grads } = tf.tidy(() =>
        tf.valueAndGrads((k: (typeof copies)[0][0]) => discreteLoss(tf, { ...cm, rowLoss: counted }, scheme, m, [[k]]))(
          [copies[0][0]],
        ),
      );
      return { rows: calls.one, loss: value.dataSync()[0], gradient: grads[0].dataSync()[0] };
    };
    // The kernel's solve (its whole trajectory) and the packed per-kernel solve (its packed states) read it from a row;
    // each gives the loss and gradient it gives with the per-state ops (the two solves' adjoints add in other orders).
    const perState = lossAndGradient(plain, undefined);
    for (const [cm, path] of [
      [kernel, 'whole-solve kernel'],
      [plain, 'packed solve'],
    ] as const) {
      const r = lossAndGradient(cm, cm.rowLoss),
        own = lossAndGradient(cm, undefined);
      assert.equal(r.rows, 1, `the ${path} reads its loss from the row`);
      assert.equal(own.rows, 0);
      assert.equal(r.loss, perState.loss, path);
      assert.equal(r.gradient, own.gradient, path);
    }
    // The continuous reference's loss and adjoint at T take it from x(T)'s row too: the same reference.
    const inp = {
      N: m.options.steps,
      h: m.options.dt,
      t0: m.options.t0,
      layerTimes: parameterCopies(scheme, m.options.steps, m.options.dt, m.options.t0).times,
      params: m.params.map((q, i) => ({ perStep: q.perStep, values: initialParameters(tf, m)[i], shape: [], size: 1 })),
    };
    // The reference solves the packed model (one state [S]): its view carries the loss it reads.
    const withRowLoss = (rowLoss: RowLoss | undefined) => ({
      ...kernel,
      rowLoss,
      packed: kernel.packed && { ...kernel.packed, model: () => ({ ...kernel.packed!.model(), rowLoss }) },
    });
    const inReference = counting(kernel.rowLoss);
    const ref = continuousReference(tf, withRowLoss(inReference.counted), inp),
      refPerState = continuousReference(tf, withRowLoss(undefined), inp);
    assert.ok(inReference.calls.one >= 1, 'the reference reads its loss from the row');
    assert.equal(ref.lossAccurate, refPerState.lossAccurate);
    assert.deepEqual(ref.g[0], refPerState.g[0]);
    // A batched solve of the same parameters (finite differences' path) reads its loss from its final rows too.
    const inBatch = counting(kernel.rowLoss);
    const { steps, dt, t0 } = m.options;
    const batchedLoss = tf.tidy(() => {
      const traj = kernel.wholeSolve!.solveBatched(scheme, steps, dt, t0, paramsFor(m, copies), 2, false)!;
      return trajectoryLossBatched(tf, { ...kernel, rowLoss: inBatch.counted }, traj, t0, dt, 2).dataSync();
    });
    assert.equal(inBatch.calls.batch, 1, 'the batched kernel solve reads its losses from its final rows');
    assert.deepEqual(Array.from(batchedLoss), [perState.loss, perState.loss]);
  } finally {
    kernel.dispose();
    plain.dispose();
  }
});
