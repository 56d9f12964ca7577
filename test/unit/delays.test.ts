// XPPAUT delays (`delay(x, tau)` with `@ delay=`): diagnostics, the fixed-grid solve of x' = −a·x(t − tau)
// against the method-of-steps solution and against an independent float64 re-implementation (RK4 with
// the history interpolated linearly on the grid, the initial value before t0), AD in a and tau against
// float64 finite differences of that re-implementation, the n/a reference and the editor features.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { hover, ServiceDocument } from '../../solver/service/index';
import { centralDifferences, engineGradient, engineTrajectory, modelOf, rk4Step } from '../support/timeStepping';

const LINEAR = (a: number, tau: number, total = 3) => `# x' = -a x(t - tau), history x = 1
x'=-a*delay(x,tau)
par a=${a}, tau=${tau}
init x=1
loss = x(T)^2
@ total=${total}, dt=0.01, delay=2
done
`;

/** x(t) of x' = −x(t − 1), x = 1 for t ≤ 0, by the method of steps (one polynomial piece per unit interval). */
function methodOfSteps(t: number): number {
  if (t <= 1) return 1 - t;
  if (t <= 2) return 1 - t + (t - 1) ** 2 / 2;
  return 1 - t + (t - 1) ** 2 / 2 - (t - 2) ** 3 / 6;
}

/** The same discrete network in float64: RK4 whose stages read the grid history linearly interpolated. */
function linear64([a, tau]: number[], N: number, h: number): number[] {
  const grid = [1];
  const history = (s: number): number => {
    const u = s / h;
    if (u <= 0) return grid[0];
    const n = Math.floor(u);
    if (n >= grid.length - 1) return grid[grid.length - 1];
    return grid[n] + (u - n) * (grid[n + 1] - grid[n]);
  };
  for (let n = 0; n < N; n++) grid.push(rk4Step((t) => [-a * history(t - tau)], n * h, [grid[n]], h)[0]);
  return grid;
}

test('delay(x, tau): the state is checked, the bound @ delay= is asked for, and delays are refused outside equations', () => {
  const a = analyse(`x'=-delay(x,1) - delay(p, 1) + delay(x, 3)
par p=1
loss = delay(x, 1)^2
`);
  const at = (line: number) =>
    a.diagnostics.filter((d) => d.range.start.line === line).map((d) => [d.code, d.severity]);
  assert.deepEqual(at(0), [
    ['delay-bound', 'warning'],
    ['unsupported', 'error'],
    ['delay-bound', 'warning'],
  ]);
  assert.deepEqual(at(2), [['unsupported', 'error']]);
  const b = analyse(`x'=-delay(x,1) + delay(x, 3)
loss = x(T)^2
@ delay=2
`);
  assert.ok(b.model);
  assert.deepEqual(
    b.diagnostics.map((d) => [d.code, d.range.start.character]),
    [['delay-bound', 26]],
  );
  assert.match(b.diagnostics[0].message, /beyond the maximal delay @ delay=2/);
  assert.ok(modelOf(LINEAR(1, 1)), 'the linear delay model checks');
});

test("x' = -x(t-1) on the grid follows the method-of-steps solution and a float64 re-implementation", async () => {
  const got = await engineTrajectory(modelOf(LINEAR(1, 1)));
  const want = linear64([1, 1], 300, 0.01);
  assert.equal(got.length, 301);
  for (let n = 0; n <= 300; n++) {
    assert.ok(Math.abs(got[n][0] - want[n]) < 1e-5, `step ${n}: ${got[n][0]} vs ${want[n]}`);
    assert.ok(Math.abs(got[n][0] - methodOfSteps(n * 0.01)) < 1e-4, `step ${n} against the exact solution`);
  }
  assert.ok(Math.abs(got[300][0] + 1 / 6) < 1e-4, `x(3) = -1/6, got ${got[300][0]}`);
});

test('AD through the interpolated history, in a and in tau, equals float64 finite differences of the re-implementation', async () => {
  // tau off the grid's half steps, so that the stages read inside cells (the interpolant's kinks are at grid points).
  const p = [0.8, 0.973];
  const { loss, grad } = await engineGradient(modelOf(LINEAR(p[0], p[1])));
  const L = (q: number[]) => linear64(q, 300, 0.01)[300] ** 2;
  assert.ok(Math.abs(loss - L(p)) < 1e-5, `${loss} vs ${L(p)}`);
  const fd = centralDifferences(L, p, 1e-7);
  for (let i = 0; i < 2; i++)
    assert.ok(
      Math.abs(grad[i] - fd[i]) < 2e-3 * Math.max(1, Math.abs(fd[i])),
      `param ${i}: AD ${grad[i]} vs FD ${fd[i]}`,
    );
  assert.ok(Math.abs(fd[1]) > 0.01, 'the delay matters to the loss');
});

test('a check of a delay equation: the reference is the limit of refined grids, equal to the continuous gradient', async () => {
  const [a, tau] = [0.8, 0.973];
  // A budget that never refuses: the per-operation delay solve's cost is not what this test is about.
  const report = await runCheck(modelOf(LINEAR(a, tau)), { backend: 'cpu', refinedReferenceBudgetMs: Infinity });
  assert.equal(report.referenceUnavailable, undefined);
  assert.deepEqual(report.refinedReference?.steps, [600, 1200]);
  assert.equal(report.refinedReference?.scheme, 'rk4');
  // The file's own scheme is rk4: three levels give the observed order. About 1: ∂/∂tau reads the slope of the
  // linear interpolant at the same offset inside a cell every step (tau fixed), an O(h) error that does not average out.
  assert.ok(report.refinedReference!.observed);
  assert.ok(
    report.refinedReference!.order >= 1 && report.refinedReference!.order < 1.5,
    `${report.refinedReference!.order}`,
  );
  assert.ok(report.referenceError < 5e-3, `${report.referenceError}`);
  // The continuous gradient, independently: float64 finite differences of the float64 scheme on a 30× finer grid.
  const L = (q: number[]) => linear64(q, 9000, 3 / 9000)[9000] ** 2;
  const exact = centralDifferences(L, [a, tau], 1e-6);
  report.parameters.forEach((p, i) => {
    const g = p.reference[0][0];
    const error = Math.abs(g - exact[i]) / Math.abs(exact[i]);
    // The estimate bounds the truth (it is what the check relies on) without being vacuous.
    assert.ok(
      error <= Math.max(report.referenceError, 1e-4),
      `${p.name}: ${g} against ${exact[i]} (${error} > ${report.referenceError})`,
    );
    assert.ok(Number.isFinite(p.metrics.relError) && p.metrics.relError < 0.01, `${p.name}: ${p.metrics.relError}`);
    assert.ok(p.metrics.gradcheckRelError < 0.01, `${p.name}: ${p.metrics.gradcheckRelError}`);
  });
  assert.equal(report.findings.filter((f) => f.code === 'reference-unavailable').length, 0);
  // The trajectory view's x(t): the finest level's solve at the model's own 301 grid times, against the float64
  // scheme on the same fine grid (1200 steps).
  const path = report.statePaths!;
  assert.equal(path.times.length, 301);
  assert.deepEqual(path.labels, ['x']);
  const fine = linear64([a, tau], 1200, 3 / 1200);
  path.times.forEach((t, n) => {
    assert.ok(Math.abs(t - n * 0.01) < 1e-9, `time ${n}: ${t}`);
    assert.ok(Math.abs(path.x[n][0] - fine[4 * n]) < 1e-5, `x at t = ${t}: ${path.x[n][0]} against ${fine[4 * n]}`);
  });
  assert.equal(path.p, undefined, 'AD on refined grids runs no adjoint solve');
});

test('a delay equation whose refined solves would cost too much keeps the n/a reference, with the reason on the delay call', async () => {
  const report = await runCheck(modelOf(LINEAR(0.8, 0.973)), { backend: 'cpu', refinedReferenceBudgetMs: 0 });
  assert.equal(report.referenceUnavailable?.cause, 'delays');
  assert.match(report.referenceUnavailable!.reason, /the refined solves \(2N and 4N steps\) would take about \d/);
  const f = report.findings.find((x) => x.code === 'reference-unavailable');
  assert.equal(f?.range.start.line, 1);
  assert.match(f!.message, /advanced arguments.*refined grids/s);
  for (const p of report.parameters) {
    assert.ok(Number.isNaN(p.metrics.relError));
    assert.match(p.verdict!.explanation, /no continuous reference: the model has delays/);
  }
});

test('editor features: delay(…) hovers as a function, @ delay= as an option', () => {
  const doc = new ServiceDocument(LINEAR(1, 1));
  assert.match(hover(doc, { line: 1, character: 6 })?.markdown ?? '', /delay\(x, tau\)/);
  assert.match(hover(doc, { line: 5, character: 24 })?.markdown ?? '', /maximal delay/);
});

test("an option's hover shows the file's setting, not the vocabulary's example", () => {
  const doc = new ServiceDocument("x' = -x\ninit x=1\n@ dt=.25, total=300\n");
  const md = hover(doc, { line: 2, character: 3 })?.markdown ?? '';
  assert.match(md, /\*\*@ dt=`\.25`\*\*/);
  assert.match(md, /Step size h/);
  assert.doesNotMatch(md, /dt=0\.01/, 'the completion example is not the file value');
});

test("XPPAUT's history x(0) = formula of t: read before t0, and the initial value unless init gives one", async () => {
  const text = (init: string) => `x'=-delay(x,1)
x(0)=1-t
${init}
@ total=1, dt=0.01, delay=1
`;
  // On [0, 1], x' = -(1 - (t - 1)) = t - 2: x(1) = x(0) - 2 + 1/2. With init x=2 the history jumps at 0
  // (from 1 to 2), and RK4's last stage reads x(0) = 2 with weight h/6: x(1) moves by -(2 - 1)·h/6.
  for (const [init, x0] of [
    ['', 1],
    ['init x=2', 2],
  ] as const) {
    const m = modelOf(text(init));
    assert.ok(m.states[0].history, 'the history is kept');
    const got = await engineTrajectory(m);
    assert.ok(Math.abs(got[0][0] - x0) < 1e-6, `x(0) = ${got[0][0]}`);
    const want = x0 - 1.5 - ((x0 - 1) * 0.01) / 6;
    assert.ok(Math.abs(got[100][0] - want) < 1e-5, `x(1) = ${got[100][0]}, want ${want}`);
  }
  const twice = analyse(`x'=-delay(x,1)
x(0)=1-t
x(0)=2-t
@ delay=1
`);
  assert.deepEqual(
    twice.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code),
    ['duplicate-declaration'],
  );
  const param = analyse(`x'=-delay(x,1)
par a=1
x(0)=a-t
@ delay=1
`);
  assert.deepEqual(
    param.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code),
    ['not-constant'],
  );
});

test('a delay that reads the history formula gets the formula’s time derivative as its gradient in tau', async () => {
  // On [0, 1] with tau = 3, x' = -(1 - (t - tau)) reads only the history: x(1) = 1 - (1 + tau) + 1/2, so dx(1)/dtau = -1.
  const m = modelOf(`x'=-delay(x,tau)
par tau=3
x(0)=1-t
loss = x(T)
@ total=1, dt=0.01, delay=4
`);
  const { loss, grad } = await engineGradient(m);
  assert.ok(Math.abs(loss - (1 - 4 + 0.5)) < 1e-4, `x(1) = ${loss}`);
  assert.ok(Math.abs(grad[0] + 1) < 1e-4, `dx(1)/dtau = ${grad[0]}`);
});
