// The continuous reference of models with events (engine/scalarKernel/referenceEvents.ts): firings located at
// their crossing times, the adjoint's jump condition (saltation matrix and the firing time's parameter term)
// against closed forms and against float64 finite differences of an independent event-located solve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { eventProgram } from '../../solver/engine/scalarKernel/events';
import { eventAdjoint, eventSolve, type EventSolveInput } from '../../solver/engine/scalarKernel/referenceEvents';
import { eventFiringTimeFinding } from '../../solver/check/eventFindings';
import type { CheckRun } from '../../solver/check/run';
import type { ReferenceResult } from '../../solver/engine/reference';
import type { ParameterReport } from '../../solver/report';
import { modelOf, rk4Step } from '../support/timeStepping';
import { eventReference, halveAgain } from '../../solver/engine/eventReference';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, type CompiledModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { referenceInput } from '../../bench/referenceCopies';

/** dL/dθ of the continuous solve (and with the firing times held fixed) for a loss gradient p(T), from x0 at θ. */
function reference(text: string, K: number, pT: number[], theta: number[], x0: number[]) {
  const model = modelOf(text);
  const rhs = compileScalarProgram(model),
    events = eventProgram(model);
  assert.ok(rhs && events, 'a fused model with scalar resets');
  const { t0, total } = model.options;
  const inp: EventSolveInput = { rhs, events, x0, theta, t0, T: t0 + total, K };
  const fw = eventSolve(inp);
  assert.ok(!('reason' in fw), 'reason' in fw ? fw.reason : '');
  const adj = eventAdjoint(inp, fw, pT);
  assert.ok(!('reason' in adj), 'reason' in adj ? adj.reason : '');
  return { fw, g: Array.from(adj.g), fixed: Array.from(adj.gFixed) };
}

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} against ${b}`);

const RAMP = `# x rises at rate a and is reset to 0 when it crosses c: firings at c/a, 2c/a, …
x'=a
par a=1.3, c=0.7
global 1 x-c {x=0}
@ total=5, dt=0.1
done
`;

test("a model's event program is built once: the reference's availability, the compile and the event reference share it", () => {
  const model = modelOf(RAMP);
  const events = eventProgram(model);
  assert.ok(events);
  assert.equal(eventProgram(model), events);
  // Another analysis of the same text is another model, with its own program of the same code.
  const again = eventProgram(modelOf(RAMP));
  assert.ok(again);
  assert.notEqual(again, events);
  assert.deepEqual(again.prog.code, events.prog.code);
});

test('a ramp reset at a threshold: firing times k·c/a, x(T) and its gradient equal the closed form', () => {
  const { fw, g, fixed } = reference(RAMP, 100, [1], [1.3, 0.7], [0]);
  const a = 1.3,
    c = 0.7,
    T = 5;
  const n = Math.floor((a * T) / c);
  assert.equal(fw.firings.length, n);
  fw.firings.forEach((f, k) => near(f.t, ((k + 1) * c) / a, 1e-6, `firing ${k}`));
  near(fw.xT[0], a * T - n * c, 1e-5, 'x(T)');
  // x(T) = aT − n c: dL/da = T, dL/dc = −n (the firing times move with both).
  near(g[0], T, 1e-5, 'dL/da');
  near(g[1], -n, 1e-5, 'dL/dc');
  // Firing times held fixed (the grid's limit): x(T) = a(T − t_n), so T − n c/a and nothing for c.
  near(fixed[0], T - (n * c) / a, 1e-5, 'dL/da, firing times fixed');
  near(fixed[1], 0, 1e-6, 'dL/dc, firing times fixed');
});

const IAF = `# integrate-and-fire from v = 0: v' = −v + i, reset to vr when v crosses 1
v'=-v+i
par i=1.5, vr=0.2
global 1 v-1 {v=vr}
@ total=4.2, dt=0.05
done
`;

/** x(T) of the integrate-and-fire model in closed form: first firing ln(i/(i−1)), then every ln((i−vr)/(i−1)). */
function iafClosed([i, vr]: number[], T: number): number {
  let t = Math.log(i / (i - 1));
  const period = Math.log((i - vr) / (i - 1));
  if (T < t) return i * (1 - Math.exp(-T));
  while (t + period < T) t += period;
  return i + (vr - i) * Math.exp(-(T - t));
}

test('integrate-and-fire: the reference equals derivatives of the closed form, and fails it without the saltation term', () => {
  const p = [1.5, 0.2],
    T = 4.2;
  const { fw, g, fixed } = reference(IAF, 168, [1], p, [0]);
  assert.ok(fw.firings.length >= 3, `${fw.firings.length} firings`);
  near(fw.xT[0], iafClosed(p, T), 1e-6, 'v(T)');
  const d = 1e-6;
  const closed = p.map((_v, k) => {
    const up = p.slice(),
      dn = p.slice();
    up[k] += d;
    dn[k] -= d;
    return (iafClosed(up, T) - iafClosed(dn, T)) / (2 * d);
  });
  near(g[0], closed[0], 1e-4, 'dv(T)/di');
  near(g[1], closed[1], 1e-4, 'dv(T)/dvr');
  // Without the jump condition's firing-time terms the gradient is another one, far from the flow's.
  assert.ok(Math.abs(fixed[0] - closed[0]) > 0.1 * Math.abs(closed[0]), `fixed ${fixed[0]} vs ${closed[0]}`);
});

const BALL = `# a ball thrown up from x = 0.1, with drag k, bouncing with restitution r; gravity grows with t
x'=v
v'=-gr*(1+0.1*t)-k*v
par gr=9.8, r=0.8, k=0.3
global -1 x {v=-r*v}
init x=0.1, v=3
@ total=2.3, dt=0.01
done
`;

/** The ball in float64: RK4 on dt, each bounce located by bisection on RK4 sub-steps and applied there. */
function ball64([gr, r, k]: number[], T: number, dt: number): number[] {
  const f = (t: number, y: number[]) => [y[1], -gr * (1 + 0.1 * t) - k * y[1]];
  let x = [0.1, 3],
    t = 0;
  while (t < T - 1e-12) {
    const step = Math.min(dt, T - t);
    const next = rk4Step(f, t, x, step);
    if (x[0] > 0 && next[0] <= 0) {
      let a = 0,
        b = step;
      for (let k = 0; k < 200 && b - a > 1e-15; k++) {
        const m = (a + b) / 2;
        if (rk4Step(f, t, x, m)[0] > 0) a = m;
        else b = m;
      }
      const hit = rk4Step(f, t, x, b);
      x = [hit[0], -r * hit[1]];
      t += b;
      continue;
    }
    x = next;
    t += step;
  }
  return x;
}

test('a bouncing ball with a time-dependent field: the reference equals float64 finite differences of an event-located solve', () => {
  const p = [9.8, 0.8, 0.3],
    T = 2.3;
  // Loss x(T) + 0.5·v(T).
  const { fw, g } = reference(BALL, 460, [1, 0.5], p, [0.1, 3]);
  assert.ok(fw.firings.length >= 2, `${fw.firings.length} bounces`);
  const L = (q: number[]) => {
    const y = ball64(q, T, 1e-3);
    return y[0] + 0.5 * y[1];
  };
  const d = 1e-5;
  p.forEach((_v, k) => {
    const up = p.slice(),
      dn = p.slice();
    up[k] += d;
    dn[k] -= d;
    near(g[k], (L(up) - L(dn)) / (2 * d), 1e-4, `parameter ${k}`);
  });
});

test('two events firing at one time are refused with the reason; one within a step of T is solved', () => {
  const twin = `x'=1
y'=w
par w=1
global 1 x-0.83 {x=0}
global 1 y-0.83 {y=0}
@ total=1.5, dt=0.1
done
`;
  const model = modelOf(twin);
  const rhs = compileScalarProgram(model)!,
    events = eventProgram(model)!;
  const inp: EventSolveInput = { rhs, events, x0: [0, 0], theta: [1], t0: 0, T: 1.5, K: 30 };
  const r = eventSolve(inp);
  assert.ok('reason' in r && /two events fire at the same time/.test(r.reason), JSON.stringify(r));
  // Apart in time they are differentiable: y fires at 0.83/w and 2·0.83/w, x at 0.83.
  const apart = eventSolve({ ...inp, theta: [1.25] });
  assert.ok(!('reason' in apart) && apart.firings.length === 3, JSON.stringify(apart));
  // Near T the solve itself differentiates the firing; whether the network fires it too is the caller's question
  // (engine/eventReference.ts compares their firings: events.test.ts).
  const late = eventSolve({ ...inp, theta: [1.25], T: 0.88, K: 22 });
  assert.ok(!('reason' in late) && late.firings.length === 2, JSON.stringify(late));
});

test('the event-firing-time finding: quiet near the flow, information when far, a warning only when AD points uphill', () => {
  const model = modelOf(RAMP);
  const run = { model } as unknown as CheckRun;
  const param = (raw: number, reference: number) =>
    ({ name: 'a', perStep: false, raw: [[raw]], reference: [[reference]], metrics: {} }) as unknown as ParameterReport;
  const ref = (fixed: number): ReferenceResult => ({
    g: [Float32Array.of(2)],
    referenceError: 1e-6,
    lossAccurate: 1,
    gridTimes: [],
    nonFinite: false,
    events: { firings: 3, fixed: [Float32Array.of(fixed), Float32Array.of(0)] },
  });
  assert.equal(eventFiringTimeFinding(run, ref(1.95), [param(1.95, 2)]), undefined, 'AD within 10% of the flow');
  const far = eventFiringTimeFinding(run, ref(1.25), [param(1.25, 2)]);
  assert.equal(far?.severity, 'information');
  assert.equal(far?.range.start.line, model.events![0].range.start.line);
  assert.match(
    far!.message,
    /a: AD differs from the flow's gradient by 0\.375 and from the gradient with the firing times held fixed by 0;/,
  );
  const uphill = eventFiringTimeFinding(run, ref(-1), [param(-1, 2)]);
  assert.equal(uphill?.severity, 'warning');
  assert.match(uphill!.message, /points uphill/);
  // A reference too uncertain to judge says nothing.
  assert.equal(eventFiringTimeFinding(run, { ...ref(-1), referenceError: 0.2 }, [param(-1, 2)]), undefined);
});

test('a step whose firing count differs from the next step is not differentiated: adjoints only where the counts agree', async () => {
  // The condition is above zero only in windows of 0.028 around sin's peaks: the coarsest reference steps (0.05)
  // step over some of them, finer ones see all five; the reference is the same as with every adjoint solved.
  const text = `x'=1
y'=-a*y
par a=1, w=10
global 1 {sin(w*x)-0.99} {y=y+1}
init x=0, y=0
@ total=3, dt=0.1
done
`;
  const model = modelOf(text);
  const { tf } = await initBackend('cpu');
  const { compiled: cm } = compileModel(tf, model);
  try {
    let solves = 0,
      adjoints = 0;
    // One loss gradient per adjoint solved (its p(T)); one cancellation check per forward solve.
    const counted: CompiledModel = {
      ...cm,
      loss: (xs) => {
        adjoints++;
        return cm.loss(xs);
      },
    };
    const inp = referenceInput(model, initialParameters(tf, model));
    const r = eventReference(tf, model, counted, inp, () => solves++);
    assert.ok(!('reason' in r), 'reason' in r ? r.reason : '');
    assert.equal(r.result.events?.firings, 5);
    assert.ok(solves >= 3, `${solves} forward solves: the first pair's counts differ`);
    assert.ok(adjoints < solves, `${adjoints} adjoints for ${solves} forward solves`);
    // The firings' gradient is the flow's: y(T) = Σ e^{−a(T − t_k)} over the firings, whose times do not move with a.
    const T = 3;
    const peaks = [0, 1, 2, 3, 4].map((k) => (Math.PI / 2 + 2 * Math.PI * k) / 10);
    const ts = peaks.map((p) => p - Math.acos(0.99) / 10);
    const y = ts.reduce((s, t) => s + Math.exp(-(T - t)), 0);
    const dyda = ts.reduce((s, t) => s - (T - t) * Math.exp(-(T - t)), 0);
    const a = r.result.g[model.params.findIndex((p) => p.name === 'a')][0];
    near(a, y * dyda, 1e-3, 'dL/da');
  } finally {
    cm.dispose();
  }
});

test('the event reference halves its step again while its two solves disagree, and past its usual size only for a near miss', () => {
  const at = { counts: [10, 10], apart: 1e-2, stateSteps: 1000, spentMs: 0, levelMs: 10, budgetMs: 4000 };
  assert.equal(halveAgain(at), true, 'gradients apart, small solves');
  assert.equal(halveAgain({ ...at, apart: 1e-4 }), false, 'gradients close: done');
  assert.equal(halveAgain({ ...at, counts: [10, 12], apart: Infinity }), true, 'counts apart, small solves');
  const big = { ...at, stateSteps: 1 << 17 };
  assert.equal(
    halveAgain({ ...big, counts: [10, 12], apart: Infinity }),
    false,
    'counts far apart past the usual size',
  );
  assert.equal(halveAgain({ ...big, counts: [826, 827], apart: Infinity }), true, 'one firing apart: a near miss');
  assert.equal(
    halveAgain({ ...big, counts: [826, 827], apart: Infinity, spentMs: 3000, levelMs: 600 }),
    false,
    'over the budget',
  );
  assert.equal(
    halveAgain({ ...big, counts: [826, 827], apart: Infinity, stateSteps: 1 << 22 }),
    false,
    'past the near-miss size',
  );
  assert.equal(halveAgain({ ...big, apart: 1e-2 }), false, 'counts agree past the usual size: the finer solve stands');
});
