// Finite differences of event models (engine/finiteDifferences.ts): the network applies each reset at the grid point
// after its condition crosses, so its loss jumps wherever a perturbation moves a firing across a grid point, and AD
// is the derivative with the firing steps held fixed. A quotient whose + or − solve fires at other steps than the
// unperturbed one is not compared with AD; the ladder goes on to finer steps while the loss resolves them.
// An integrate-and-fire neuron with one firing, whose rate i sets how close the firing's condition is to zero at
// its grid point, gives each case; a float64 re-implementation gives the held-firing derivative.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { discreteGradients } from '../../solver/engine/discrete';
import { initialParameters } from '../../solver/engine/parameters';
import {
  finiteDifferenceCheck,
  finiteDifferenceDirections,
  firingsOf,
  GRADCHECK_TOLERANCE,
  MIN_RESOLUTION,
  type FiniteDifferenceMode,
  unperturbedFirings,
} from '../../solver/engine/finiteDifferences';
import { schemeOf } from '../../solver/schemes/schemes';
import { runCheck } from '../../solver/check';
import { verdictFor, type VerdictContext } from '../../solver/engine/verdict';
import { EVENT_JUMPS } from '../../solver/engine/kinks';
import { gradcheckMismatchMessage } from '../../solver/presentation/findingText';
import type { ParameterReport } from '../../solver/report';
import { engineTrajectory, modelOf, rk4Step } from '../support/timeStepping';

const DT = 0.01,
  STEPS = 150,
  VR = 0.2;

/** v' = −v + i from 0, reset to vr when v crosses 1 upwards: one firing before T = 1.5 for i near 1.5. */
const neuron = (i: number) => `v'=-v+i
par i=${i}, vr=${VR}
global 1 v-1 {v=vr}
loss = v(T)^2
@ total=${STEPS * DT}, dt=${DT}, meth=rk4
done
`;

/**
 * The same network in float64: the reset at the first grid point after v crosses 1, or, given `firing`, at that
 * step whatever the condition says (the firing held fixed). Returns the loss and the step it fired at.
 */
function network64(i: number, vr: number, firing?: number): { loss: number; fired: number[] } {
  let v = 0;
  const fired: number[] = [];
  for (let n = 0; n < STEPS; n++) {
    let next = rk4Step((_t, x) => [-x[0] + i], n * DT, [v], DT)[0];
    if (firing === undefined ? v - 1 < 0 && next - 1 > 0 : n + 1 === firing) {
      next = vr;
      fired.push(n + 1);
    }
    v = next;
  }
  return { loss: v * v, fired };
}

async function gradcheck(i: number, options: { mode?: FiniteDifferenceMode; wholeSolve?: boolean } = {}) {
  const model = modelOf(neuron(i));
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model, { wholeSolve: options.wholeSolve });
  try {
    const scheme = schemeOf(model);
    const values = initialParameters(tf, model);
    const { loss, G } = discreteGradients(tf, compiled, scheme, model, values);
    const { eps, predicted, rounding } = finiteDifferenceDirections(model, values, G, loss);
    const results = finiteDifferenceCheck(tf, compiled, scheme, model, values, G, loss, options.mode);
    return { results, eps, predicted, rounding, G, values };
  } finally {
    compiled.dispose();
  }
}

/**
 * The rate i at which the firing's condition at its grid point k is `delta` (in units of v), from the engine's own
 * float32 trajectory: before the firing v_n = i·w_n, so the condition v_k − 1 = i·w_k − 1 moves by w_k per unit of i.
 */
async function rateWithMargin(delta: (w: number) => number): Promise<{ i: number; w: number; k: number }> {
  const i0 = 1.5;
  const traj = await engineTrajectory(modelOf(neuron(i0)));
  const k = traj.findIndex((x, n) => n > 0 && x[0] < traj[n - 1][0]);
  assert.ok(k > 0, 'the neuron fires');
  const w = traj[k - 1][0] / i0;
  // v_k before the reset: one more step from v_{k−1} (the trajectory holds the reset value at k).
  const wk = rk4Step((_t, x) => [-x[0] + 1], 0, [w], DT)[0];
  return { i: Math.fround((1 + delta(wk)) / wk), w: wk, k };
}

test('a firing the usual steps move across its grid point: the ladder goes on to a step that keeps it and agrees with AD', async () => {
  const probe = await gradcheck(1.5);
  const eps = probe.eps[0];
  // The firing's condition sits between what ε/16 and ε/64 move it by: the − solves at ε, ε/4 and ε/16 fire a step later.
  const { i, k } = await rateWithMargin((w) => (w * eps) / 32);
  const { results, eps: at, G } = await gradcheck(i);
  assert.ok(Math.abs(at[0] / eps - 1) < 1e-3, `the step is the one the margin was set for (${at[0]} vs ${eps})`);
  const r = results[0];
  // ε, ε/4 and ε/16 moved the firing; ε/64 kept it and agrees.
  assert.deepEqual(
    r.firings?.steps,
    [1, 4, 16, 64].map((f) => at[0] / f),
  );
  assert.equal(r.firings?.moved, 3);
  assert.equal(r.step, at[0] / 64);
  assert.ok(r.converged && r.relError < GRADCHECK_TOLERANCE, JSON.stringify(r));
  // The held-firing derivative in float64: AD is that derivative, and the network fires at k.
  assert.deepEqual(network64(i, VR).fired, [k]);
  const h = 1e-6;
  const held = (network64(i + h, VR, k).loss - network64(i - h, VR, k).loss) / (2 * h);
  assert.ok(Math.abs(G[0][0] - held) < 1e-3 * Math.abs(held), `AD ${G[0][0]} vs held-firing ${held}`);
  // Across the jump, float64 quotients at the usual step are far from it.
  const across = (network64(i + eps, VR).loss - network64(i - eps, VR).loss) / (2 * eps);
  assert.ok(Math.abs(across - held) > 0.5 * Math.abs(held), `the usual step crosses a jump (${across} vs ${held})`);
  // vr does not move the firing: checked at its first step.
  assert.deepEqual(results[1].firings, { steps: [at[1]], moved: 0 });
  assert.equal(results[1].step, at[1]);
  assert.ok(results[1].relError < GRADCHECK_TOLERANCE);
  // The loop path records the firings as the batched one does.
  const loop = await gradcheck(i, { mode: 'loop' });
  assert.deepEqual(
    loop.results.map((x) => [x.step, x.firings]),
    results.map((x) => [x.step, x.firings]),
  );

  const report = await runCheck(modelOf(neuron(i)), { backend: 'cpu' });
  const p = report.parameters.find((x) => x.name === 'i')!;
  assert.ok(!p.metrics.gradcheckUnresolved, 'the check settles i');
  assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `${p.metrics.gradcheckRelError}`);
  assert.ok(!report.findings.some((f) => f.code.startsWith('gradcheck')), JSON.stringify(report.findings));
});

test('a firing every resolvable step moves: unresolved, with the firing-moved reason, in the finding and the verdict', async () => {
  const probe = await gradcheck(1.5);
  // Half the smallest step whose change the loss resolves (MIN_RESOLUTION rounding units).
  const smallest = (MIN_RESOLUTION * probe.rounding) / Math.abs(probe.predicted[0]);
  const { i } = await rateWithMargin((w) => (w * smallest) / 2);
  const { results } = await gradcheck(i);
  const r = results[0];
  assert.equal(r.converged, false);
  assert.ok(r.firings && r.firings.moved === r.firings.steps.length, JSON.stringify(r));
  assert.equal(r.firings.stop, 'resolution');
  assert.ok(r.firings.steps.length >= 3, `the ladder went on past the usual steps (${r.firings.steps})`);
  assert.ok(r.resolution >= MIN_RESOLUTION && r.resolution / 4 < MIN_RESOLUTION, `${r.resolution}`);
  assert.deepEqual(results[1].firings?.moved, 0);

  const report = await runCheck(modelOf(neuron(i)), { backend: 'cpu' });
  const p = report.parameters.find((x) => x.name === 'i')!;
  assert.equal(p.metrics.gradcheckUnresolved, true);
  const f = report.findings.find((x) => x.code === 'gradcheck-unresolved' && x.parameter === 'i');
  assert.equal(f?.severity, 'information');
  assert.match(f!.message, /at every step from \S+ down to \S+, a perturbed solve fired at other steps/);
  assert.match(f!.message, /a finer step would move the loss by less than 10 times its float32 rounding/);
  assert.match(p.verdict!.explanation, /every step they took moved a firing across a grid point/);
  assert.ok(!report.findings.some((x) => x.severity === 'warning'), JSON.stringify(report.findings));
});

test('a firing far from its grid points is unaffected: checked at the first step, with the firings kept', async () => {
  // The condition half a step's change past zero: no probe moves the firing.
  const { i } = await rateWithMargin((w) => 0.5 * DT * (1 / w - 1));
  const { results, eps } = await gradcheck(i);
  results.forEach((r, k) => {
    assert.deepEqual(r.firings, { steps: [eps[k]], moved: 0 });
    assert.equal(r.step, eps[k]);
    assert.ok(r.converged && r.relError < 1e-2, JSON.stringify(r));
  });
});

test('solves per operation record no firings: finite differences judge as before', async () => {
  const probe = await gradcheck(1.5);
  const { i } = await rateWithMargin((w) => (w * probe.eps[0]) / 32);
  const { results } = await gradcheck(i, { wholeSolve: false });
  for (const r of results) assert.equal(r.firings, undefined);
});

test('a mismatch on a non-smooth model: the verdict hedges as the warning does, and events that kept their firings are no excuse', () => {
  const p = {
    name: 'k',
    shape: [],
    perStep: false,
    metrics: { relError: 0.01, correctedRelError: 0.01, gradcheckRelError: 0.2 },
  } as unknown as ParameterReport;
  const ctx = (kinks: string[], moved?: number): VerdictContext => ({
    gradfix: 'none',
    correction: 'filter121',
    scheme: 'rk4',
    zeroWeightCopies: 0,
    stageImbalanced: false,
    oscillating: false,
    hasReference: true,
    referenceError: 1e-4,
    kinks,
    steps: 64,
    ...(moved !== undefined ? { gradcheckFirings: { steps: [1e-3, 2.5e-4, 6.25e-5, 1.5625e-5], moved } } : {}),
  });
  const smooth = verdictFor(p, ctx([]));
  assert.equal(smooth.kind, 'gradcheck-mismatch');
  assert.match(smooth.explanation, /the discrete gradient itself is wrong/);
  // Per operation (no firings recorded), events are a kink finite differences may cross: no certainty either way.
  const events = verdictFor(p, ctx([EVENT_JUMPS]));
  assert.doesNotMatch(events.explanation, /itself is wrong/);
  assert.match(
    events.explanation,
    /not smooth \(events on the grid\), so either the discrete gradient is wrong or the steps cross a kink/,
  );
  assert.match(gradcheckMismatchMessage('k', 0.2, [EVENT_JUMPS]), /not smooth \(events on the grid\)/);
  // Steps that kept every firing: the events are no cause, the other kinks still are.
  assert.match(verdictFor(p, ctx([EVENT_JUMPS], 1)).explanation, /the discrete gradient itself is wrong/);
  assert.match(verdictFor(p, ctx([EVENT_JUMPS, 'abs'], 1)).explanation, /not smooth \(abs\)/);
  const kept = gradcheckMismatchMessage('k', 0.2, [EVENT_JUMPS], true);
  assert.match(kept, /\(the events' jumps do not explain it\)\.$/);
  assert.doesNotMatch(kept, /not smooth/);
});

test("AD's solve records the unperturbed solve's firings: finite differences take them instead of solving again", async () => {
  const model = modelOf(neuron(1.5));
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    const scheme = schemeOf(model);
    const values = initialParameters(tf, model);
    const ad = firingsOf(compiled, scheme, () => discreteGradients(tf, compiled, scheme, model, values));
    const solved = unperturbedFirings(tf, compiled, scheme, model, values);
    assert.deepEqual(ad.firings, solved);
    // One firing, at the grid step the float64 network fires at (the key of step n's event 0 is n − 1: the step from t_{n−1}).
    const { fired } = network64(1.5, VR);
    assert.equal(fired.length, 1);
    assert.equal(ad.firings?.count, 1);
    assert.equal(ad.firings?.first, fired[0] - 1);
    assert.ok(Number.isFinite(ad.result.loss));
  } finally {
    compiled.dispose();
  }
});

test('a model without events solves nothing for the unperturbed firings (its finite differences solve only their probes)', async () => {
  // A DAE among them: its Newton solves start from the previous evaluation's values, so an extra solve would move
  // its finite differences' numbers too.
  const model = modelOf(`x'=-a*x + 0.5*z
0 = z + z^3 - x
solv z=0
par a=1
x(0)=1
@ total=1, dt=0.05, meth=rk4
done
`);
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    const scheme = schemeOf(model);
    const values = initialParameters(tf, model);
    const solved = await tf.profile(() => {
      assert.equal(unperturbedFirings(tf, compiled, scheme, model, values), undefined);
    });
    assert.equal(solved.kernels.length, 0, `kernels run: ${solved.kernelNames.join(', ')}`);
    // The same call on the event model solves once (the profile sees that solve's kernels).
    const events = modelOf(neuron(1.5));
    const withEvents = compileModel(tf, events).compiled;
    try {
      const values2 = initialParameters(tf, events);
      const eventSolve = await tf.profile(() => {
        unperturbedFirings(tf, withEvents, schemeOf(events), events, values2);
      });
      assert.ok(eventSolve.kernels.length > 0);
    } finally {
      withEvents.dispose();
    }
  } finally {
    compiled.dispose();
  }
});
