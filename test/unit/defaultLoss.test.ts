// The default loss ½‖x(T)‖² on x(T)'s row (engine/defaultLoss.ts) against the per-state TF.js ops it stands for: the
// same float32 value and gradient, bit for bit, on the cpu backend; and a check of a many-state model takes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend } from '../../solver/engine/backend';
import { defaultLoss } from '../../solver/engine/defaultLoss';
import { compileModel } from '../../solver/engine/compile';
import { copyTensors, discreteLoss, paramsFor } from '../../solver/engine/discrete';
import { trajectoryLossBatched } from '../../solver/engine/observe';
import { schemeOf } from '../../solver/schemes/schemes';
import { initialParameters } from '../../solver/engine/parameters';
import { analyse } from '../../solver/language/index';

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
        assert.ok(loss.ofRow, 'cpu has the row form');
        const sizes = ss.map((s) => s.reduce((x, y) => x * y, 1));
        const S = sizes.reduce((a, b) => a + b, 0);
        const flat = Float32Array.from(xs.slice(0, S));
        tf.tidy(() => {
          const row = tf.tensor2d(flat, [1, S]);
          const states = (r: typeof row) => {
            let at = 0;
            return ss.map((shape, i) =>
              tf.reshape(tf.slice(r, [0, (at += sizes[i]) - sizes[i]], [1, sizes[i]]), shape),
            );
          };
          const perState = (r: typeof row) => tf.mul(loss.fn({ s: states(r), p: [] }) as never, dy);
          const onRow = (r: typeof row) => tf.mul(loss.ofRow!(r), dy);
          const a = tf.valueAndGrad(perState)(row),
            b = tf.valueAndGrad(onRow)(row);
          assert.deepEqual(b.value.dataSync(), a.value.dataSync(), `value of ${JSON.stringify(ss)}`);
          assert.deepEqual(b.grad.dataSync(), a.grad.dataSync(), `gradient of ${JSON.stringify(ss)}`);
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
        const { batched, ofRows } = defaultLoss(tf, half, ss);
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
        assert.deepEqual(ofRows!(rows, B), perState, `batched losses of ${JSON.stringify(ss)}`);
      },
    ),
    { numRuns: 200 },
  );
  half.dispose();
});

test('a check of a many-state model on the whole-solve kernel takes the loss from the final row, with the per-state value', async () => {
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
    assert.ok(kernel.lossOfRow && kernel.wholeSolve, 'the kernel model has the row loss');
    let rows = 0;
    const lossOfRow = kernel.lossOfRow;
    const counted = {
      ...kernel,
      lossOfRow: (row: Parameters<typeof lossOfRow>[0]) => {
        rows++;
        return lossOfRow(row);
      },
    };
    const copies = copyTensors(tf, m, initialParameters(tf, m));
    const scheme = schemeOf(m);
    const [onRow, perState] = [counted, plain].map((cm) =>
      tf.tidy(() => discreteLoss(tf, cm, scheme, m, copies).dataSync()[0]),
    );
    assert.equal(rows, 1, 'the kernel solve reads its loss from the row');
    assert.equal(onRow, perState);
    // A batched solve of the same parameters (finite differences' path) reads its loss from its final rows too.
    let batches = 0;
    const lossOfRows = kernel.lossOfRows!;
    const countedRows = {
      ...kernel,
      lossOfRows: (r: Float32Array, B: number) => {
        batches++;
        return lossOfRows(r, B);
      },
    };
    const { steps, dt, t0 } = m.options;
    const batchedLoss = tf.tidy(() => {
      const traj = kernel.wholeSolve!.solveBatched(scheme, steps, dt, t0, paramsFor(m, copies), 2, false)!;
      return trajectoryLossBatched(tf, countedRows, traj, t0, dt, 2).dataSync();
    });
    assert.equal(batches, 1, 'the batched kernel solve reads its losses from its final rows');
    assert.deepEqual(Array.from(batchedLoss), [perState, perState]);
  } finally {
    kernel.dispose();
    plain.dispose();
  }
});
