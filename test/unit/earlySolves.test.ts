// Perturbed solves taken before AD (engine/earlySolves.ts): the ladder of finite differences takes a slot's losses
// when its probe has the slot's perturbed values, and its results are then those of its own solves, whichever way AD's
// gradient points (a scalar's direction is +1 or −1: the slot's θ₊ is then the probe's θ₋). A slot at other values is
// not read; a slot whose losses were changed changes the results (the ladder reads them); a slot the second thread
// never finishes is waited for once, for its bound, and then solved by the ladder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, type CompiledModel } from '../../solver/engine/compile';
import { discreteGradients } from '../../solver/engine/discrete';
import { earlySolves, earlySolvesTaken, solveEarly, type EarlySolves } from '../../solver/engine/earlySolves';
import {
  finiteDifferenceWork,
  localMeter,
  scalarProbeLosses,
  type FiniteDifferenceMeter,
} from '../../solver/engine/finiteDifferences';
import { initialParameters } from '../../solver/engine/parameters';
import type { TF } from '../../solver/engine/tf';
import type { Model } from '../../solver/model';
import { schemeOf } from '../../solver/schemes/schemes';
import { modelOf } from '../support/timeStepping';
import { lorenzText } from '../support/chaotic';

// Chaotic over many Lyapunov times: AD's gradient is large (every step at its floor), so every slot is the ladder's
// first step, and no first step agrees with AD: each ladder goes on to ε/4, which it solves itself.
const LORENZ = lorenzText(20, 0.002);

interface Setup {
  tf: TF;
  cm: CompiledModel;
  model: Model;
  values: Float32Array[];
  G: Float32Array[];
  loss: number;
}

/** The ladder's results over every unit, and the solves it ran itself (its meter's own, not those it took). */
function ladder(s: Setup, G: Float32Array[], early?: { solves: EarlySolves; waitMs: number }) {
  const scheme = schemeOf(s.model);
  const work = finiteDifferenceWork(s.tf, s.cm, scheme, s.model, s.values, G, s.loss, 'auto', undefined, early);
  const base = localMeter();
  let own = 0;
  const meter: FiniteDifferenceMeter = {
    ...base,
    solved: (n) => {
      own += n;
      base.solved(n);
    },
  };
  const results = work.settle(
    work.units.map((_u, k) => k),
    Infinity,
    meter,
  );
  return { results, own, solves: meter.solves() };
}

async function filled(s: Setup, values = s.values): Promise<EarlySolves> {
  const early = earlySolves(s.model, values, false);
  assert.ok(early, 'the model has scalar parameters');
  const scheme = schemeOf(s.model);
  await solveEarly(
    early,
    (param, step) => scalarProbeLosses(s.tf, s.cm, scheme, s.model, values, param, step),
    () => false,
  );
  return early;
}

async function setup(): Promise<Setup & { dispose: () => void }> {
  const { tf } = await initBackend('cpu');
  const model = modelOf(LORENZ);
  const { compiled: cm } = compileModel(tf, model);
  const values = initialParameters(tf, model);
  const { G, loss } = discreteGradients(tf, cm, schemeOf(model), model, values);
  return { tf, cm, model, values, G, loss, dispose: () => cm.dispose() };
}

test("the ladder takes early solves at its probes' values: its own results, for either direction of AD's gradient", async () => {
  const s = await setup();
  try {
    for (const G of [s.G, s.G.map((g) => g.map((x) => -x))]) {
      const alone = ladder(s, G);
      const early = await filled(s);
      assert.equal(early.slots.length, 3, 'three scalars');
      const taking = ladder(s, G, { solves: early, waitMs: 0 });
      assert.deepStrictEqual(taking.results, alone.results);
      // Every ladder went on past ε (chaotic): its first two solves were the slot's, not run again.
      assert.ok(alone.results.every((r) => r && r.step < 1e-3 * 28 && !r.converged));
      assert.equal(earlySolvesTaken(early), 6);
      assert.equal(taking.own, alone.own - 6);
      assert.equal(taking.solves, alone.solves, 'the budget counts the solves taken');
    }
  } finally {
    s.dispose();
  }
});

test('a slot at other values is not read, and a slot whose losses changed changes the results', async () => {
  const s = await setup();
  try {
    const alone = ladder(s, s.G);
    // Slots made at other parameter values (as if the values had changed after they were posted): no probe matches.
    const elsewhere = await filled(
      s,
      s.values.map((v) => v.map((x) => x * 1.5)),
    );
    const missed = ladder(s, s.G, { solves: elsewhere, waitMs: 0 });
    assert.deepStrictEqual(missed.results, alone.results);
    assert.equal(earlySolvesTaken(elsewhere), 0);
    assert.equal(missed.own, alone.own);
    // The ladder reads what the slots hold: losses moved by 1 % move s's result.
    const early = await filled(s);
    early.results[0] *= 1.01;
    const moved = ladder(s, s.G, { solves: early, waitMs: 0 });
    assert.notDeepStrictEqual(moved.results[0], alone.results[0]);
    assert.deepStrictEqual(moved.results.slice(1), alone.results.slice(1));
  } finally {
    s.dispose();
  }
});

test('a slot the second thread never finishes is waited for once, then solved by the ladder: the same results', async () => {
  const s = await setup();
  try {
    let t = performance.now();
    const alone = ladder(s, s.G);
    const aloneMs = performance.now() - t;
    const early = earlySolves(s.model, s.values, false)!;
    // Every slot "being solved" by a thread that never ends it.
    early.states.fill(1);
    const waitMs = 1500;
    t = performance.now();
    const stalled = ladder(s, s.G, { solves: early, waitMs });
    const stalledMs = performance.now() - t;
    assert.deepStrictEqual(stalled.results, alone.results);
    assert.equal(stalled.own, alone.own);
    assert.equal(earlySolvesTaken(early), 0);
    // One wait, not one per slot (three would be 4.5 s).
    assert.ok(stalledMs >= waitMs, `${stalledMs} ms`);
    assert.ok(stalledMs < 1.8 * waitMs + 3 * aloneMs, `${stalledMs} ms against ${aloneMs} ms without the slots`);
  } finally {
    s.dispose();
  }
});

test('early solves: none for a model whose solves record firings, nor for one without a scalar parameter that a solve reads', () => {
  const model = modelOf(LORENZ);
  const values = model.params.map(() => Float32Array.of(1));
  assert.equal(earlySolves(model, values, true), undefined);
  const table = modelOf(`table w % 3 0 2 t*s
par s=2
x' = -w(1)*x
init x=1
@ total=1, dt=0.1
done
`);
  assert.equal(earlySolves(table, [Float32Array.of(2)], false), undefined);
  // A slot per scalar, each at θ ± ε as the ladder writes them in float32.
  const early = earlySolves(model, values, false)!;
  assert.deepEqual(
    early.slots.map((x) => [x.param, x.step]),
    [
      [0, 1e-3],
      [1, 1e-3],
      [2, 1e-3],
    ],
  );
  assert.equal(early.slots[0].plus, Math.fround(1 + 1e-3));
});
