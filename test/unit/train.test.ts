// Training (solver/train): the training finding of docs/design.md#training-consequence on leapfrog N = 64,
// determinism, cancellation, the adjoint gradient engine, and refusal of
// oversize models. Bounds are loose on purpose (the measured figures are in
// the comments; see also `odelens train`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { train, TrainError, totalVariation } from '../../solver/train/train';
import { spiral, linear } from './engineFixtures';

const backend = 'cpu' as const;
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

test('training finding (docs/design.md#training-consequence): raw AD zig-zags and loses the flow; filter121 stays smooth and close to the flow', async () => {
  // SGD, lr 0.2, 200 iterations, leapfrog N = 64, spiral (measured: raw TV 213, discrete 5e-10, flow 0.37;
  // filter121 TV 4.3, discrete 9.9e-3, flow 1.2e-2).
  const opts = { iterations: 200, optimizer: 'sgd' as const, learningRate: 0.2, backend, flowEvery: 50 };
  const raw = await train(spiral({ steps: 64 }), { ...opts, gradient: 'ad' });
  const fixed = await train(spiral({ steps: 64 }), { ...opts, gradient: 'filter121' });
  assert.equal(raw.stopped, 'completed');
  assert.equal(fixed.stopped, 'completed');
  const tvRaw = sum(raw.final.totalVariation),
    tvFixed = sum(fixed.final.totalVariation);
  assert.ok(tvRaw > 10 * tvFixed, `TV raw ${tvRaw} vs filter121 ${tvFixed}`);
  // Raw AD: the discrete loss is driven down by the parasitic mode, the flow loss is not.
  assert.ok(raw.final.flowLoss > 10 * raw.final.loss, `raw: flow ${raw.final.flowLoss} vs discrete ${raw.final.loss}`);
  assert.ok(raw.final.flowLoss > 0.1 * raw.history[0].loss, `raw flow loss ${raw.final.flowLoss} should stay poor`);
  // filter121: the learned copies describe a flow.
  assert.ok(
    Math.abs(fixed.final.flowLoss - fixed.final.loss) <= 0.5 * fixed.final.loss + 1e-3,
    `filter121: flow ${fixed.final.flowLoss} vs discrete ${fixed.final.loss}`,
  );
  assert.ok(
    fixed.final.flowLoss < 0.1 * raw.final.flowLoss,
    `flow loss filter121 ${fixed.final.flowLoss} vs raw ${raw.final.flowLoss}`,
  );
  // Per-iteration records are there and the flow loss is sampled every 50th.
  assert.equal(raw.history.length, 200);
  assert.ok(Number.isFinite(raw.history[50].flowLoss) && Number.isNaN(raw.history[51].flowLoss));
});

test('training is deterministic under the model seed and returns learned parameters', async () => {
  const a = await train(spiral({ steps: 16, width: 8 }), { iterations: 5, backend, gradient: 'ad' });
  const b = await train(spiral({ steps: 16, width: 8 }), { iterations: 5, backend, gradient: 'ad' });
  assert.deepEqual(a.parameters, b.parameters);
  assert.deepEqual(
    a.history.map((r) => r.loss),
    b.history.map((r) => r.loss),
  );
  const c = await train(spiral({ steps: 16, width: 8, seed: 2 }), { iterations: 5, backend, gradient: 'ad' });
  assert.notDeepEqual(a.parameters, c.parameters);
  assert.equal(a.parameters.length, 3);
  assert.equal(a.parameters[0].values.length, 16);
  assert.ok(a.final.loss < a.history[0].loss);
  assert.deepEqual(a.final.totalVariation, totalVariation(spiral({ steps: 16, width: 8 }), a.values, 16));
});

test('training stops cleanly on cancellation and on its time budget', async () => {
  const controller = new AbortController();
  const r = await train(spiral({ steps: 16, width: 8 }), {
    iterations: 50,
    backend,
    signal: controller.signal,
    onIteration: (rec) => {
      if (rec.iteration === 3) controller.abort();
    },
  });
  assert.equal(r.stopped, 'cancelled');
  assert.equal(r.history.length, 4);
  assert.ok(Number.isFinite(r.final.loss));
  const adj = new AbortController();
  adj.abort();
  const r2 = await train(spiral({ steps: 16, width: 8 }), {
    iterations: 5,
    backend,
    signal: adj.signal,
    gradient: 'adjoint',
  });
  assert.equal(r2.stopped, 'cancelled');
  assert.equal(r2.history.length, 0);
  const r3 = await train(spiral({ steps: 16, width: 8 }), { iterations: 5, backend, timeBudgetMs: 0 });
  assert.equal(r3.stopped, 'timeout');
});

test('grad=adjoint: training with the continuous adjoint is smooth, follows the flow, and reports a small reference error', async () => {
  const model = spiral({ steps: 64 });
  model.options = { ...model.options, grad: 'adjoint' };
  const r = await train(model, { iterations: 60, optimizer: 'sgd', learningRate: 0.2, backend });
  assert.equal(r.gradient, 'adjoint');
  assert.equal(r.stopped, 'completed');
  assert.ok(r.final.flowLoss < 0.5 * r.history[0].flowLoss, `flow loss ${r.history[0].flowLoss} → ${r.final.flowLoss}`);
  assert.ok(sum(r.final.totalVariation) < 20, `TV ${sum(r.final.totalVariation)}`);
  for (const rec of r.history) assert.ok((rec.referenceError ?? 1) < 1e-3, `reference error ${rec.referenceError}`);
});

test('adjoint gradient of a shared parameter matches AD on a convergent scheme', async () => {
  // x' = a x, loss ½ x(T)²: dL/da = T x(T)² exactly; RK4 with 64 steps is accurate.
  const m = linear({ steps: 64, meth: 'rk4', a: -0.7 });
  const viaAdjoint = await train(m, { iterations: 1, optimizer: 'sgd', learningRate: 1, backend, gradient: 'adjoint' });
  const viaAd = await train(m, { iterations: 1, optimizer: 'sgd', learningRate: 1, backend, gradient: 'ad' });
  const exact = Math.exp(2 * -0.7);
  const stepAdjoint = -0.7 - viaAdjoint.parameters[0].values[0][0];
  const stepAd = -0.7 - viaAd.parameters[0].values[0][0];
  assert.ok(Math.abs(stepAdjoint - exact) < 1e-4 * exact, `adjoint ${stepAdjoint} vs exact ${exact}`);
  assert.ok(Math.abs(stepAd - exact) < 1e-4 * exact, `AD ${stepAd} vs exact ${exact}`);
});

test('oversize models and bad options are refused before anything is allocated', async () => {
  await assert.rejects(
    train(spiral({ steps: 200_000 }), { iterations: 1, backend }),
    (e: unknown) => e instanceof TrainError && e.code === 'model-too-large' && /Too large/.test(e.message),
  );
  await assert.rejects(
    train(spiral({ steps: 16 }), { iterations: 1, learningRate: -1, backend }),
    (e: unknown) => e instanceof TrainError && e.code === 'invalid-options',
  );
});
