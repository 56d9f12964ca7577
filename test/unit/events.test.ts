// XPPAUT events (`global sign condition {x=…; y=…}`): parse, diagnostics, the fixed-grid solve against an
// independent float64 re-implementation, AD through the resets against float64 finite differences of
// that re-implementation, the check's findings on the firing times (or its "no continuous reference") and the
// editor features.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { train } from '../../solver/train/train';
import { documentSymbols, hover, ServiceDocument } from '../../solver/service/index';
import { reportHoverMarkdown } from '../../solver/service/gradientHover';
import { centralDifferences, engineGradient, engineTrajectory, modelOf, rk4Step } from '../support/timeStepping';

const IAF = (i: number, vr: number) => `# integrate-and-fire: v is reset to vr when it crosses 1 upwards
v'=-v+i
par i=${i}, vr=${vr}
global 1 v-1 {v=vr}
loss = v(T)^2
@ total=5, dt=0.01, meth=rk4
done
`;

type Event = {
  sign: number;
  cond: (t: number, x: number[], p: number[]) => number;
  reset: (t: number, x: number[], p: number[]) => number[];
};

/** XPPAUT's tests on the grid (engine/events.ts), in float64: every formula on the new point's states, then set. */
function fires(sign: number, c0: number, c1: number): boolean {
  if (sign === 1) return c0 < 0 && c1 > 0;
  if (sign === -1) return c0 > 0 && c1 <= 0;
  return c0 !== 0 && c0 * c1 <= 0;
}

function solve64(
  f: (t: number, x: number[], p: number[]) => number[],
  events: Event[],
  x0: number[],
  p: number[],
  N: number,
  h: number,
): number[][] {
  const traj = [x0];
  let x = x0;
  for (let n = 0; n < N; n++) {
    const t = n * h;
    const next = rk4Step((s, y) => f(s, y, p), t, x, h);
    let out = next;
    for (const ev of events)
      if (fires(ev.sign, ev.cond(t, x, p), ev.cond(t + h, next, p)))
        out = ev.reset(t + h, next, p).map((v, k) => (Number.isNaN(v) ? out[k] : v));
    x = out;
    traj.push(x);
  }
  return traj;
}

const iafEvents: Event[] = [{ sign: 1, cond: (_t, x) => x[0] - 1, reset: (_t, _x, p) => [p[1]] }];
const iaf64 = (p: number[]) => solve64((_t, x, q) => [-x[0] + q[0]], iafEvents, [0], p, 500, 0.01);

test('global lines parse in both XPPAUT forms, with their sign, condition and resets', () => {
  const m = modelOf(`x'=1
y'=w
par w=1.3, b=-0.25
global 1 {x-2*pi} {x=0;y=b*sin(y)+y}
global -1 y-2 {y=0;}
global 0 x-y {x=x+1}
loss = x(T) + y(T)
@ total=1
`);
  assert.equal(m.events?.length, 3);
  assert.deepEqual(
    m.events!.map((e) => [e.sign, e.resets.map((r) => r.state)]),
    [
      [1, ['x', 'y']],
      [-1, ['y']],
      [0, ['x']],
    ],
  );
  assert.equal(m.events![0].range.start.line, 3);
  assert.equal(m.events![1].condition.kind, 'binary');
});

test('global lines: a bad sign, a parameter or unknown target, a vector condition are errors on their line; out_put and arret are ignored with a note', () => {
  const a = analyse(`v'=-v+i
par i=1.5
global 2 v-1 {v=0}
global 1 v-1 {i=0}
global 1 v-1 {u=0}
global 1 v-1 {v=0; out_put=1; arret=v>3}
global 1 v-1 v=0
loss = v(T)^2
`);
  const by = (line: number) =>
    a.diagnostics.filter((d) => d.range.start.line === line).map((d) => [d.code, d.severity]);
  assert.deepEqual(by(2), [['invalid-event', 'error']]);
  assert.deepEqual(by(3), [['invalid-event', 'error']]);
  assert.match(a.diagnostics.find((d) => d.range.start.line === 3)!.message, /'i' is a parameter/);
  assert.deepEqual(by(4), [['invalid-event', 'error']]);
  assert.deepEqual(by(5), [
    ['ignored-event', 'information'],
    ['ignored-event', 'information'],
  ]);
  assert.deepEqual(by(6), [['syntax-error', 'error']]);
  assert.equal(a.model, undefined);
  const ok = analyse(`v'=-v+i
par i=1.5
global 1 v-1 {v=0; out_put=1}
loss = v(T)^2
`);
  assert.ok(ok.model, JSON.stringify(ok.diagnostics));
  assert.equal(ok.model.events?.[0].resets.length, 1);
});

test('an integrate-and-fire reset on the grid matches a float64 re-implementation (sign 1, several firings)', async () => {
  const got = await engineTrajectory(modelOf(IAF(1.5, 0.2)));
  const want = iaf64([1.5, 0.2]);
  assert.equal(got.length, want.length);
  const resets = want.filter((x, n) => n > 0 && x[0] < want[n - 1][0]).length;
  assert.ok(resets >= 2, `the model fires several times (${resets})`);
  for (let n = 0; n < want.length; n++)
    assert.ok(Math.abs(got[n][0] - want[n][0]) < 2e-5, `step ${n}: ${got[n][0]} vs ${want[n][0]}`);
});

test('sign -1 and sign 0 events, with every formula evaluated before the states are set', async () => {
  const text = `x'=-1
y'=0.47
init x=0.52, y=0
global -1 x {x=0.97; y=y+x}
global 0 y-0.8 {y=y-1}
loss = x(T)^2 + y(T)^2
@ total=3, dt=0.05, meth=heun
`;
  const got = await engineTrajectory(modelOf(text));
  const heun = (f: (x: number[]) => number[], x: number[], h: number) => {
    const k1 = f(x),
      k2 = f(x.map((v, i) => v + h * k1[i]));
    return x.map((v, i) => v + (h / 2) * (k1[i] + k2[i]));
  };
  let x = [0.52, 0];
  const want = [x];
  for (let n = 0; n < 60; n++) {
    const next = heun(() => [-1, 0.47], x, 0.05);
    let out = next.slice();
    if (fires(-1, x[0], next[0])) out = [0.97, next[1] + next[0]]; // y=y+x reads x before the reset
    if (fires(0, x[1] - 0.8, next[1] - 0.8)) out[1] = next[1] - 1;
    x = out;
    want.push(x);
  }
  for (let n = 0; n < want.length; n++)
    for (let k = 0; k < 2; k++)
      assert.ok(Math.abs(got[n][k] - want[n][k]) < 1e-5, `step ${n} state ${k}: ${got[n][k]} vs ${want[n][k]}`);
});

test('AD through the reset map equals float64 finite differences of the re-implemented network', async () => {
  const { loss, grad } = await engineGradient(modelOf(IAF(1.5, 0.2)));
  const L = (p: number[]) => iaf64(p)[500][0] ** 2;
  assert.ok(Math.abs(loss - L([1.5, 0.2])) < 1e-5);
  const fd = centralDifferences(L, [1.5, 0.2]);
  for (let i = 0; i < 2; i++)
    assert.ok(
      Math.abs(grad[i] - fd[i]) < 2e-3 * Math.max(1, Math.abs(fd[i])),
      `param ${i}: AD ${grad[i]} vs FD ${fd[i]}`,
    );
  assert.ok(Math.abs(fd[1]) > 0.01, 'the reset value matters to the loss');
});

test('a check of a model with events: gradcheck passes, the reference locates the firings, and AD misses their times (an information on the global line)', async () => {
  const report = await runCheck(modelOf(IAF(1.5, 0.2)), { backend: 'cpu' });
  assert.equal(report.referenceUnavailable, undefined);
  const f = report.findings.find((x) => x.code === 'event-firing-time');
  assert.equal(f?.severity, 'information');
  assert.equal(f?.range.start.line, 3);
  assert.match(f!.message, /AD has no gradient of the firing time/);
  assert.match(f!.message, /does not shrink with dt/);
  for (const p of report.parameters) {
    assert.ok(p.metrics.gradcheckRelError < 0.01, `${p.name}: ${p.metrics.gradcheckRelError}`);
    assert.ok(p.metrics.relError > 0.1, `${p.name}: AD is far from the flow's gradient (${p.metrics.relError})`);
    assert.equal(p.verdict?.kind, 'inconclusive');
    assert.match(p.verdict!.explanation, /events snap to the grid/);
  }
  assert.ok(
    !report.findings.some((x) => x.severity === 'warning' || x.severity === 'error'),
    JSON.stringify(report.findings),
  );
});

test('an event within one step of T that the network does not fire: no reference, with that reason on its global line', async () => {
  // The flow crosses v = 148 at t = ln 148 ≈ 4.997, inside the last step; Euler's v_N = 1.01^500 ≈ 144.8 never does.
  const text = `v'=a*v
par a=1
global 1 v-148 {v=v*0.5}
init v=1
loss = v(T)^2
@ total=5, dt=0.01, meth=euler
done
`;
  const report = await runCheck(modelOf(text), { backend: 'cpu' });
  assert.equal(report.referenceUnavailable?.cause, 'events');
  assert.equal(report.referenceUnavailable?.range.start.line, 2);
  assert.match(
    report.referenceUnavailable!.reason,
    /within one step of the end \(t = 4\.99\d\) and the network does not fire it in that step \(0 firings against the flow's 1\)/,
  );
  const f = report.findings.find((x) => x.code === 'reference-unavailable');
  assert.equal(f?.severity, 'information');
  assert.equal(f?.range.start.line, 2);
  assert.match(f!.message, /jump condition/);
  for (const p of report.parameters) {
    assert.ok(Number.isNaN(p.metrics.relError), 'no error against a reference that was not computed');
    assert.match(p.verdict!.explanation, /no continuous reference: an event fires within one step of the end/);
  }
  assert.match(reportHoverMarkdown({ report, reportIsCurrent: true }), /continuous reference n\/a: an event fires/);
  // JSON keeps the reason (NaN errors become null).
  assert.equal(JSON.parse(JSON.stringify(report)).referenceUnavailable.cause, 'events');
});

test("an event within one step of T that the network fires in the same step: the flow's gradient judges AD", async () => {
  const text = `v'=-v+i
par i=1.5, vr=0.2
global 1 v-1 {v=vr}
global 1 t-4.996 {v=v*0.5}
loss = v(T)^2
@ total=5, dt=0.01, meth=rk4
done
`;
  const report = await runCheck(modelOf(text), { backend: 'cpu' });
  assert.equal(report.referenceUnavailable, undefined, JSON.stringify(report.referenceUnavailable));
  const firings = report.eventReference?.firings ?? 0;
  assert.ok(firings >= 2, `the late firing and the threshold's (${firings})`);
  for (const p of report.parameters) assert.ok(Number.isFinite(p.metrics.relError), p.name);
  // The same model checked on a grid whose last step ends before the late firing (T = 4.99): it is not fired at all,
  // so the firing near T is what moves the loss; its flow gradient differs from the shorter one's.
  const shorter = await runCheck(modelOf(text.replace('total=5', 'total=4.99')), { backend: 'cpu' });
  assert.equal(shorter.eventReference?.firings, firings - 1);
});

test('editor features on a global line: outline entry, keyword hover, hover on the reset target', () => {
  const doc = new ServiceDocument(IAF(1.5, 0.2));
  const g = documentSymbols(doc).find((s) => s.name === 'global');
  assert.ok(g);
  assert.equal(g.range.start.line, 3);
  assert.match(g.detail ?? '', /v-1 \{v=vr\}/);
  assert.match(hover(doc, { line: 3, character: 2 })?.markdown ?? '', /event/i);
  assert.match(hover(doc, { line: 3, character: 14 })?.markdown ?? '', /\bv\b/); // `v` in {v=vr}: the state
  assert.match(hover(doc, { line: 3, character: 16 })?.markdown ?? '', /vr/); // `vr`: the parameter
});

test('training with the continuous adjoint is refused for a model with events (it has no reference), with the reason', async () => {
  await assert.rejects(
    train(modelOf(IAF(1.5, 0.2)), { gradient: 'adjoint', iterations: 1, backend: 'cpu' }),
    (e: Error & { code?: string }) => e.code === 'reference-unavailable' && /events/.test(e.message),
  );
  // With AD it trains; the flow loss (the reference solver's, which runs no events) is n/a.
  const r = await train(modelOf(IAF(1.5, 0.2)), { iterations: 2, backend: 'cpu' });
  assert.ok(Number.isFinite(r.final.loss));
  assert.ok(Number.isNaN(r.final.flowLoss));
});

test('events on the elements of a large XPPAUT array: the elements stay scalar states, each reset where its own condition crosses', async () => {
  // 40 uncoupled units (above the size from which complete arrays become tensor states), reset one by one.
  const text = `u[0..39]'=1+0.05*[j]
global 1 u[0..39]-1 {u[j]=0}
@ total=1.5, dt=0.05, meth=euler
`;
  const m = modelOf(text);
  assert.equal(m.states.length, 40);
  assert.equal(m.events?.length, 40);
  const got = await engineTrajectory(m);
  for (let j = 0; j < 40; j += 13) {
    let u = 0;
    for (let n = 0; n < 30; n++) {
      const next = u + 0.05 * (1 + 0.05 * j);
      u = fires(1, u - 1, next - 1) ? 0 : next;
      assert.ok(Math.abs(got[n + 1][j] - u) < 1e-5, `u${j} at step ${n + 1}: ${got[n + 1][j]} vs ${u}`);
    }
  }
});

test('a firing event that reads noise has no continuous reference (the draw is per grid step), one that never fires does not matter', async () => {
  const noisy = (threshold: number) => `x'=a
par a=1.3
global 1 x-${threshold} {x=0.1*ran(1)}
@ total=3, dt=0.05
done
`;
  const fired = await runCheck(modelOf(noisy(0.7)), { backend: 'cpu' });
  assert.equal(fired.referenceUnavailable?.cause, 'events');
  assert.match(fired.referenceUnavailable!.reason, /reads noise/);
  assert.equal(fired.referenceUnavailable?.range.start.line, 2);
  const never = await runCheck(modelOf(noisy(70)), { backend: 'cpu' });
  assert.equal(never.referenceUnavailable, undefined);
  assert.ok(
    never.parameters.every((p) => p.metrics.relError < 1e-3),
    JSON.stringify(never.parameters.map((p) => p.metrics)),
  );
});
