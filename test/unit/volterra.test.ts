// XPPAUT's Volterra integrals (`int{K#u}`, `int{K(t,t',u)}`, `int[mu]{…}`, `u(t) = …`, `volt u = …`):
// parse and diagnostics; the fixed-grid solve against closed forms (u = 1 + ∫u is e^t; x' = −∫e^{−(t−t')}x
// is a damped oscillation; ∫(t − t')^{−1/2} dt' is 2√t, which XPPAUT's singular weights give exactly) and
// against an independent float64 re-implementation of XPPAUT's scheme (trapezoid product integration,
// each implicit step iterated to convergence, as XPPAUT's Newton solve); AD against float64 finite
// differences of that re-implementation; the check's n/a reference; hover, outline and completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { completion, documentSymbols, hover, ServiceDocument } from '../../solver/service/index';
import { centralDifferences, engineGradient, engineTrajectory, modelOf } from '../support/timeStepping';

/** One integral of the float64 model: ∫ (t−t')^−mu c(t − t') g(t, t', x(t')) dt'. */
interface Integral64 {
  mu: number;
  /** c at the lag (XPPAUT tabulates it at t0 + lag; t0 = 0 here). */
  kernel?: (lag: number, p: number[]) => number;
  integrand: (t: number, tp: number, x: number[], p: number[]) => number;
}
interface Model64 {
  /** Per state: an integral equation u = F (true) or x' = F. */
  integral: boolean[];
  x0: number[];
  /** F(t, x, K, p) per state, K the integrals' values. */
  f: (t: number, x: number[], K: number[], p: number[]) => number[];
  integrals: Integral64[];
  maxPoints?: number;
}

/** XPPAUT's weights (volterra2.c): oldest point of a window of m, a middle point at lag l, the newest. */
function weights(mu: number, h: number) {
  const m1 = 1 - mu;
  const pw = (x: number) => Math.abs(x) ** m1;
  return {
    oldest: (m: number) => (mu === 0 ? h / 2 : (0.5 * (pw(m * h) - pw((m - 1) * h))) / m1),
    middle: (l: number) => (mu === 0 ? h : (0.5 * (pw((l + 1) * h) - pw((l - 1) * h))) / m1),
    newest: mu === 0 ? h / 2 : (0.5 * pw(h)) / m1,
  };
}

/** The discrete solution x_0..x_N of XPPAUT's volterra scheme, in float64, each step solved to convergence. */
function solve64(model: Model64, p: number[], N: number, h: number): number[][] {
  const M = model.maxPoints ?? 4000;
  const X: number[][] = [];
  /** The integrals at grid point n with x_n = y (points 0..n−1 from the history). */
  const integrals = (n: number, y: number[]): number[] =>
    model.integrals.map((I) => {
      const w = weights(I.mu, h);
      const c = (lag: number) => (I.kernel ? I.kernel(lag * h, p) : 1);
      const t = n * h;
      if (n === 0) return 0;
      const m = Math.min(n, M);
      let sum = 0;
      for (let j = n - m; j < n; j++) {
        const lag = n - j;
        sum += (j === n - m ? w.oldest(m) : w.middle(lag)) * c(lag) * I.integrand(t, j * h, X[j], p);
      }
      return sum + w.newest * c(0) * I.integrand(t, t, y, p);
    });
  const zeros = model.integrals.map(() => 0);
  const f0 = model.f(0, model.x0, zeros, p);
  X.push(model.x0.map((x, i) => (model.integral[i] ? f0[i] : x)));
  let Kn = zeros;
  for (let n = 0; n < N; n++) {
    const x = X[n];
    const fn = model.f(n * h, x, Kn, p);
    let y = x.map((xi, i) => (model.integral[i] ? xi : xi + h * fn[i]));
    for (let it = 0; it < 500; it++) {
      X[n + 1] = y; // the history the newest term does not read
      const f = model.f((n + 1) * h, y, integrals(n + 1, y), p);
      const next = x.map((xi, i) => (model.integral[i] ? f[i] : xi + (h / 2) * (fn[i] + f[i])));
      const change = Math.max(...next.map((v, i) => Math.abs(v - y[i])));
      y = next;
      if (change < 1e-15) break;
    }
    X[n + 1] = y;
    Kn = integrals(n + 1, y);
  }
  return X;
}

const near = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('parse and diagnostics: every form of integral and integral equation checks; mistakes are named on their line', () => {
  const ok = analyse(`# integral equations and an integro-differential one
u(t) = exp(-t) + int{exp(-t)#u} + int[.5]{1#x}
volt w = 1 + int{(t-t')*exp(t'-t)*w}
v z = int[0.25]{exp(-a*t)#z^2}
x' = -x + int{exp(-t)#x*(1-x)}   # a comment after the integral
par a=1
init x=0.5
@ vmaxpts=200
`);
  assert.ok(ok.model, JSON.stringify(ok.diagnostics));
  const kinds = ok.model.equations.map((q) => [q.state, !!q.volterra]);
  assert.deepEqual(kinds, [
    ['u', true],
    ['w', true],
    ['z', true],
    ['x', false],
  ]);
  assert.equal(ok.model.options.maxPoints, 200);
  assert.equal(ok.model.options.meth, 'heun', "the volterra scheme's explicit skeleton");
  const note = ok.diagnostics.filter((d) => d.code === 'volterra-model');
  assert.equal(note.length, 1);
  assert.equal(note[0].range.start.line, 1);
  assert.ok(!ok.diagnostics.some((d) => d.severity === 'error' || d.severity === 'warning'));

  // A function of t without an integral stays a function (XPPAUT tells them apart by the integral).
  const fn = analyse("k(t) = exp(-t)\nx' = -x + int{k(t)#x}\ninit x=1\n");
  assert.ok(fn.model);
  assert.deepEqual(
    fn.model.equations.map((q) => q.state),
    ['x'],
  );

  const bad = analyse(`x' = -x + int[1.5]{exp(-t)#x}
y' = -y + int{x*exp(-t)#y}
z' = -z + int{int{1#z}}
loss = int{1#x}
init x=1, y=1, z=1
`);
  const at = (line: number) =>
    bad.diagnostics.filter((d) => d.range.start.line === line && d.severity === 'error').map((d) => d.code);
  assert.deepEqual(at(0), ['volterra-kernel'], 'mu must lie in [0, 1)');
  assert.deepEqual(at(1), ['unsupported-volterra'], 'a kernel that reads the state');
  assert.deepEqual(at(2), ['unsupported-volterra'], 'an integral inside an integral');
  assert.deepEqual(at(3), ['unsupported-volterra'], 'an integral in the loss');
  assert.match(bad.diagnostics.find((d) => d.code === 'volterra-kernel')!.message, /\[0, 1\)/);
  assert.ok(!bad.diagnostics.some((d) => d.code === 'syntax-error'), 'no syntax error');

  const syntax = analyse("x' = -x + int{exp(-t)#x\n").diagnostics.filter((d) => d.code === 'syntax-error');
  assert.equal(syntax.length, 1);
  assert.match(syntax[0].message, /close the integral/);
});

test('u(t) = 1 + ∫u: the solve is e^t to the trapezoid rule’s accuracy and equals the float64 scheme', async () => {
  const h = 0.01;
  const got = await engineTrajectory(modelOf('u(t) = 1 + int{1#u}\n@ total=1, dt=0.01\n'));
  const want = solve64(
    {
      integral: [true],
      x0: [0],
      f: (_t, _x, K) => [1 + K[0]],
      integrals: [{ mu: 0, integrand: (_t, _tp, x) => x[0] }],
    },
    [],
    100,
    h,
  );
  assert.equal(got.length, 101);
  for (let n = 0; n <= 100; n++) {
    near(got[n][0], want[n][0], 2e-6, `step ${n} against float64`);
    near(got[n][0], Math.exp(n * h), 1e-4, `step ${n} against e^t`);
  }
});

test('an integral equation with no parameter has nothing to check: one note says so, with the loss of its solve', async () => {
  const report = await runCheck(modelOf('u(t) = 1 + int{1#u}\n@ total=1, dt=0.01\n'), { backend: 'cpu' });
  assert.deepEqual(report.parameters, []);
  // The default loss ½ u(T)², u(1) = e to the trapezoid rule's accuracy.
  near(report.loss, Math.exp(2) / 2, 1e-3, 'loss');
  const notes = report.findings.filter((f) => f.code === 'nothing-to-check');
  assert.equal(notes.length, 1, JSON.stringify(report.findings));
  assert.equal(notes[0].severity, 'information');
  assert.equal(notes[0].range.start.line, 0);
  assert.match(notes[0].message, new RegExp(`loss is ${report.loss.toPrecision(5).replace('.', '\\.')}`));
});

test("x' = −∫e^{−(t−t')}x: the damped oscillation x'' + x' + x = 0, and the float64 scheme", async () => {
  const h = 0.02;
  const got = await engineTrajectory(modelOf("x' = -int{exp(-t)#x}\ninit x=1\n@ total=4, dt=0.02\n"));
  const want = solve64(
    {
      integral: [false],
      x0: [1],
      f: (_t, _x, K) => [-K[0]],
      integrals: [{ mu: 0, kernel: (lag) => Math.exp(-lag), integrand: (_t, _tp, x) => x[0] }],
    },
    [],
    200,
    h,
  );
  const w = Math.sqrt(3) / 2;
  const exact = (t: number) => Math.exp(-t / 2) * (Math.cos(w * t) + Math.sin(w * t) / (2 * w));
  for (let n = 0; n <= 200; n++) {
    near(got[n][0], want[n][0], 1e-5, `step ${n} against float64`);
    assert.ok(Math.abs(got[n][0] - exact(n * h)) < 2e-4, `step ${n} against the closed form: ${got[n][0]}`);
  }
});

test('int[.5]{…}: XPPAUT’s singular weights integrate (t − t’)^−½ exactly (2√t), in a window of vmaxpts points too', async () => {
  const text = (extra: string) => `one' = 0\ninit one=1\nvolt u = int[.5]{1#one}\n@ total=1, dt=0.01${extra}\n`;
  const got = await engineTrajectory(modelOf(text('')));
  for (let n = 0; n <= 100; n++) near(got[n][1], 2 * Math.sqrt(n * 0.01), 1e-5, `u(${n * 0.01})`);
  // With 10 points the oldest weight closes the window: ∫ over the last 10 steps only, 2√(10h), from step 10 on.
  const cut = await engineTrajectory(modelOf(text(', vmaxpts=10')));
  for (let n = 10; n <= 100; n++) near(cut[n][1], 2 * Math.sqrt(0.1), 1e-5, `windowed u(${n * 0.01})`);
});

/** A nonlinear singular equation with parameters in the kernel and outside, and one with t and t' in it. */
const SINGULAR = (a: number, b: number) => `u(t) = cos(t) - a*int[.25]{exp(-b*t)#u^2}
par a=${a}, b=${b}
loss = u(T)^2
@ total=2, dt=0.02
`;
const SINGULAR64: Model64 = {
  integral: [true],
  x0: [0],
  f: (t, _x, K, p) => [Math.cos(t) - p[0] * K[0]],
  integrals: [{ mu: 0.25, kernel: (lag, p) => Math.exp(-p[1] * lag), integrand: (_t, _tp, x) => x[0] ** 2 }],
};
const GENERAL = (k: number) => `volt u = 1 - int{exp(-k*(t-t'))*t'*u}
par k=${k}
loss = u(T)^2
@ total=2, dt=0.02
`;
const GENERAL64: Model64 = {
  integral: [true],
  x0: [0],
  f: (_t, _x, K) => [1 - K[0]],
  integrals: [{ mu: 0, integrand: (t, tp, x, p) => Math.exp(-p[0] * (t - tp)) * tp * x[0] }],
};

for (const [name, text, model64, p] of [
  ['int[.25]{exp(-b*t)#u^2}', SINGULAR(0.7, 1.3), SINGULAR64, [0.7, 1.3]],
  ["int{exp(-k*(t-t'))*t'*u} (t and t' over the history)", GENERAL(0.9), GENERAL64, [0.9]],
] as const) {
  test(`${name}: the solve equals the float64 scheme; AD equals its finite differences`, async () => {
    const model = modelOf(text);
    const got = await engineTrajectory(model);
    const want = solve64(model64, [...p], 100, 0.02);
    for (let n = 0; n <= 100; n++) near(got[n][0], want[n][0], 2e-5, `step ${n}`);
    const { loss, grad } = await engineGradient(model);
    const L = (q: number[]) => solve64(model64, q, 100, 0.02)[100][0] ** 2;
    near(loss, L([...p]), 5e-5, 'loss');
    const fd = centralDifferences(L, [...p], 1e-6);
    for (let i = 0; i < p.length; i++) {
      near(grad[i], fd[i], 2e-3, `parameter ${i}: AD against float64 finite differences`);
      assert.ok(Math.abs(fd[i]) > 1e-3, 'the parameter matters to the loss');
    }
  });
}

test('a check of a Volterra model: the reference is the limit of refined grids, equal to the continuous gradient', async () => {
  const text = SINGULAR(0.7, 1.3).replace('total=2, dt=0.02', 'total=1, dt=0.05');
  // A budget that never refuses: the per-operation Volterra solve's cost is not what this test is about.
  const report = await runCheck(modelOf(text), { backend: 'cpu', refinedReferenceBudgetMs: Infinity });
  assert.equal(report.referenceUnavailable, undefined);
  assert.deepEqual(report.refinedReference, {
    scheme: 'volterra',
    steps: [40, 80],
    order: report.refinedReference?.order,
    observed: true,
  });
  assert.ok(report.refinedReference!.order > 1, `${report.refinedReference!.order}`);
  assert.ok(report.referenceError < 0.01, `${report.referenceError}`);
  assert.equal(report.findings.filter((f) => f.code === 'reference-unavailable').length, 0);
  // The continuous gradient, independently: float64 finite differences of the float64 scheme on a 64× finer grid.
  const L = (q: number[]) => solve64(SINGULAR64, q, 1280, 1 / 1280)[1280][0] ** 2;
  const exact = centralDifferences(L, [0.7, 1.3], 1e-6);
  report.parameters.forEach((q, i) => {
    const error = Math.abs(q.reference[0][0] - exact[i]) / Math.abs(exact[i]);
    // The estimate bounds the truth (it is what the check relies on) without being vacuous.
    assert.ok(error <= Math.max(report.referenceError, 1e-4), `${q.name}: ${q.reference[0][0]} against ${exact[i]}`);
    assert.ok(Number.isFinite(q.metrics.relError), `${q.name}: an error against the reference`);
    assert.ok(q.metrics.gradcheckRelError < 0.01, `${q.name}: ${q.metrics.gradcheckRelError}`);
  });
});

test('a Volterra model whose refined solves would cost too much: the reference is n/a with the reason on the integral', async () => {
  const report = await runCheck(modelOf(SINGULAR(0.7, 1.3)), { backend: 'cpu', refinedReferenceBudgetMs: 0 });
  assert.equal(report.referenceUnavailable?.cause, 'volterra');
  assert.match(report.referenceUnavailable!.reason, /the refined solves \(2N and 4N steps\) would take about \d/);
  const f = report.findings.find((x) => x.code === 'reference-unavailable');
  assert.equal(f?.range.start.line, 0);
  assert.equal(f?.range.start.character, 'u(t) = cos(t) - a*'.length, 'on the integral');
  assert.match(f!.message, /integral equation running backward/);
  for (const q of report.parameters) {
    assert.ok(q.metrics.gradcheckRelError < 0.01, `${q.name}: ${q.metrics.gradcheckRelError}`);
    assert.ok(Number.isNaN(q.metrics.relError));
    assert.match(q.verdict!.explanation, /Volterra/);
  }
});

test('editor features: outline names u(t), hovers explain int and vmaxpts, completion offers volt and t-side names', () => {
  const text = `u(t) = exp(-t) + a*int{exp(-t)#u}
volt w = int[.5]{1#u}
par a=1
@ vmaxpts=100
vo
`;
  const doc = new ServiceDocument(text);
  const names = documentSymbols(doc).map((s) => s.name);
  assert.ok(names.includes('u(t)') && names.includes('w(t)'), names.join(', '));
  assert.match(hover(doc, { line: 0, character: 20 })?.markdown ?? '', /∫ K\(t − t'\) u\(t'\)/);
  assert.match(hover(doc, { line: 3, character: 4 })?.markdown ?? '', /Volterra history/);
  assert.match(hover(doc, { line: 0, character: 0 })?.markdown ?? '', /state `u`/);
  const atStart = completion(doc, { line: 4, character: 2 }).items.map((i) => i.label);
  assert.ok(atStart.includes('volt'), atStart.join(', '));
  const inside = completion(doc, { line: 0, character: 32 }).items.map((i) => i.label);
  assert.ok(inside.includes('a') && inside.includes('u'), inside.slice(0, 30).join(', '));
});

test('one integrand in two integrals (evaluated once per right-hand side) gives the float64 scheme of both', async () => {
  const got = await engineTrajectory(
    modelOf(
      "u(t) = 1 - int{exp(-t)#u^2} - 0.5*int[.5]{1#u^2}\nx' = -int{exp(-2*t)#u^2}\ninit x=1\n@ total=1, dt=0.02\n",
    ),
  );
  const want = solve64(
    {
      integral: [true, false],
      x0: [0, 1],
      f: (_t, _x, K) => [1 - K[0] - 0.5 * K[1], -K[2]],
      integrals: [
        { mu: 0, kernel: (lag) => Math.exp(-lag), integrand: (_t, _tp, x) => x[0] ** 2 },
        { mu: 0.5, integrand: (_t, _tp, x) => x[0] ** 2 },
        { mu: 0, kernel: (lag) => Math.exp(-2 * lag), integrand: (_t, _tp, x) => x[0] ** 2 },
      ],
    },
    [],
    50,
    0.02,
  );
  for (let n = 0; n <= 50; n++) for (let i = 0; i < 2; i++) near(got[n][i], want[n][i], 2e-5, `step ${n}, state ${i}`);
});
