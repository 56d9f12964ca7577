// XPPAUT methods that choose their own steps (adaptive: qualrk, 5dp, …; stiff: cvode, gear, …) are checked as one
// fixed-step solve at the file's dt; where that step blows up, the check halves it up to dt/8 and says so
// (solver/check.ts, finding `step-halved`). A fixed-step method keeps its blow-up. Backward Euler's Newton solve on
// a fused model runs on the program's interpreter with the tensor path's numbers (engine/implicitStep.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { MAX_STEP_HALVINGS, runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { copyTensors, paramsFor } from '../../solver/engine/discrete';
import { solveDiscrete } from '../../solver/engine/integrate';
import { wholeTrajectory } from '../../solver/engine/lazySteps';
import { initialParameters } from '../../solver/engine/parameters';
import { schemeOf } from '../../solver/schemes/schemes';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

// x' = −a x with a = 30: RK4 at h = 0.1 has hλ = −3, outside its stability interval (|R(−3)| = 1.375, overflow
// in float32 within 300 steps); at h/2 (hλ = −1.5) it decays.
const stiffDecay = (meth: string) => `par a=30\nx' = -a*x\ninit x=1\n@ total=50, dt=0.1, meth=${meth}\n`;

test('an adaptive method whose fixed step blows up at dt is checked at dt/2, and the report says so', async () => {
  const m = model(stiffDecay('qualrk'));
  assert.equal(m.options.stepControl, true);
  const r = await runCheck(m, { backend: 'cpu' });
  assert.equal(r.scheme, 'rk4');
  assert.equal(r.steps, 1000);
  assert.ok(Math.abs(r.dt - 0.05) < 1e-12, `dt ${r.dt}`);
  assert.ok(Number.isFinite(r.loss));
  assert.ok(!r.findings.some((f) => f.code === 'blow-up'), JSON.stringify(r.findings));
  const halved = r.findings.find((f) => f.code === 'step-halved');
  assert.ok(halved, JSON.stringify(r.findings.map((f) => f.code)));
  assert.equal(halved.severity, 'information');
  assert.match(halved.message, /^meth=qualrk checked as rk4 with dt\/2 = 0\.05 \(2 steps per dt=0\.1\)/);
  assert.match(halved.message, /x is not finite at step \d+/);
});

test('a fixed-step method keeps its blow-up at the file dt', async () => {
  const m = model(stiffDecay('rk4'));
  assert.equal(m.options.stepControl, undefined);
  const r = await runCheck(m, { backend: 'cpu' });
  assert.equal(r.steps, 500);
  assert.ok(r.findings.some((f) => f.code === 'blow-up'));
  assert.ok(!r.findings.some((f) => f.code === 'step-halved'));
});

test("the blow-up is located on the fused solve's whole trajectory, read once: the steps as the per-step tensors hold them", async () => {
  const m = model(stiffDecay('rk4'));
  const { tf } = await initBackend('cpu');
  const { compiled: cm } = compileModel(tf, m);
  const { steps: N, dt: h, t0 } = m.options;
  let first = -1;
  try {
    tf.tidy(() => {
      const copies = copyTensors(tf, m, initialParameters(tf, m));
      const traj = solveDiscrete(tf, cm, schemeOf(m), N, h, t0, paramsFor(m, copies));
      const whole = wholeTrajectory(traj);
      assert.ok(whole, 'the fused solve keeps its whole trajectory');
      const rows = whole.dataSync();
      for (let n = 0; n <= N; n++) {
        const x = traj[n][0].dataSync()[0];
        assert.ok(Object.is(rows[n], x), `step ${n}: ${rows[n]} against ${x}`);
        if (first < 0 && !Number.isFinite(x)) first = n;
      }
    });
  } finally {
    cm.dispose();
  }
  assert.ok(first > 0, 'the case blows up');
  const r = await runCheck(m, { backend: 'cpu' });
  const f = r.findings.find((x) => x.code === 'blow-up');
  assert.match(f?.message ?? '', new RegExp(`x is not finite at step ${first}\\b`));
});

test('a blow-up that no halving cures is reported at the file dt and says the halvings did not help', async () => {
  // x' = x² grows without bound before t = 1 from x = 1: every fixed step blows up.
  const r = await runCheck(model("par a=1\nx' = a*x^2\ninit x=1\n@ total=2, dt=0.1, meth=5dp\n"), { backend: 'cpu' });
  assert.equal(r.steps, 20);
  const f = r.findings.find((x) => x.code === 'blow-up');
  assert.ok(f);
  assert.match(f.message, new RegExp(`dt/${2 ** MAX_STEP_HALVINGS} too`));
});

test('a stiff method whose implicit step has no solution at dt is checked at a smaller step', async () => {
  // x' = x² + c: backward Euler's y − h(y² + c) = x has no real root when 4h(x + hc) > 1 (h = 0.5, x = 0.5); at
  // h = 0.25 it has, and the flow stays finite up to t ≈ 1.35.
  const m = model("par c=0.5\nx' = x^2 + c\ninit x=0.5\n@ total=0.5, dt=0.5, meth=cvode\n");
  const r = await runCheck(m, { backend: 'cpu' });
  assert.equal(r.scheme, 'backeul');
  assert.ok(r.steps > 1 && r.steps <= 2 ** MAX_STEP_HALVINGS, `steps ${r.steps}`);
  assert.ok(Number.isFinite(r.loss));
  const halved = r.findings.find((f) => f.code === 'step-halved');
  assert.ok(halved);
  assert.match(halved.message, /^meth=cvode checked as backeul with dt\/\d = /);
  assert.match(halved.message, /Newton's method does not converge at step 1 \(t = 0\.5\)/);
});

test('a declared meth after an XPPAUT one clears the step control', () => {
  assert.equal(model("x' = -x\n@ meth=gear\n@ meth=heun\n").options.stepControl, undefined);
  assert.equal(model("x' = -x\n@ meth=heun\n@ meth=gear\n").options.stepControl, true);
});

test("backward Euler on a fused model: the whole-solve kernel gives the tensor path's solve and AD, to float32 rounding", async () => {
  const m = model(
    "par a=1.5, b=0.4, c=2\nx' = -a*x^3 + b*sin(y) + 0.1*t\ny' = c*(x - y) - y^2\ninit x=1.2, y=-0.3\n@ total=3, dt=0.25, meth=backeul\n",
  );
  const js = await runCheck(m, { backend: 'cpu' }),
    tensors = await runCheck(m, { backend: 'cpu', wholeSolve: false });
  assert.equal(js.rhsPath, 'scalar-solve');
  // The last correction takes the chord method's factors where the tensor path takes M at the solution.
  assert.ok(Math.abs(js.loss - tensors.loss) <= 1e-6 * Math.abs(tensors.loss), `loss ${js.loss} vs ${tensors.loss}`);
  // The kernel's discrete adjoint sums in double where the tape sums float32 tensors.
  js.parameters.forEach((p, i) => {
    const other = tensors.parameters[i].raw.flat(),
      scale = Math.max(...other.map(Math.abs));
    p.raw
      .flat()
      .forEach((g, k) => assert.ok(Math.abs(g - other[k]) <= 1e-5 * scale, `${p.name}[${k}]: ${g} vs ${other[k]}`));
    assert.ok(Math.abs(p.metrics.gradcheckRelError - tensors.parameters[i].metrics.gradcheckRelError) < 1e-3, p.name);
  });
});
