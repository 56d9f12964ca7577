// Differential-algebraic systems in XPPAUT's syntax (`0 = g` with `solv z=guess`; solver/engine/algebraic.ts): the
// front end's diagnostics, the solve against float64 re-implementations written here (z by the test's own Newton's
// method at every stage of RK4), AD through z against finite differences and the continuous reference, a fold of the
// algebraic equations as a clear error, and the editor features on an algebraic variable. Models written for these
// tests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';
import { completion, documentSymbols, hover, ServiceDocument } from '../../solver/service/index';
import { simulate } from '../support/simulate';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { interpreterOf, WANT_ALL } from '../../solver/engine/programInterpreter';

const lines = (...ls: string[]): string => ls.join('\n');

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const errors = (text: string) =>
  analyse(text)
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => ({ line: d.range.start.line, code: d.code, message: d.message }));

/** Float64 classical RK4 of x' = f(x) from x0, N steps of h: every step's state. */
function rk4(f: (x: number[], t: number) => number[], x0: number[], N: number, h: number): number[][] {
  const xs = [x0];
  let x = x0;
  const axpy = (a: number[], k: number[], c: number) => a.map((v, i) => v + c * k[i]);
  for (let n = 0; n < N; n++) {
    const t = n * h;
    const k1 = f(x, t),
      k2 = f(axpy(x, k1, h / 2), t + h / 2),
      k3 = f(axpy(x, k2, h / 2), t + h / 2),
      k4 = f(axpy(x, k3, h), t + h);
    x = x.map((v, i) => v + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    xs.push(x);
  }
  return xs;
}

/** y with y + b·y³ = x, by Newton's method in float64 from `from`. */
function cubicRoot(x: number, b: number, from: number): number {
  let y = from;
  for (let i = 0; i < 100; i++) {
    const step = (y + b * y ** 3 - x) / (1 + 3 * b * y * y);
    y -= step;
    if (Math.abs(step) < 1e-15 * (1 + Math.abs(y))) break;
  }
  return y;
}

describe('DAEs: the front end', () => {
  test('0 = … lines and solv/solve names make the model algebraic; a name read before its solv line is fine', () => {
    const m = model(
      lines("x' = -y", '0 = y + exp(y) - x', 'solve y=-0.5', 'init x=1', "w' = z - w", '0=z-2*x', 'so z', 'done'),
    );
    assert.deepEqual(
      m.algebraic?.variables.map((v) => [v.name, v.guess]),
      [
        ['y', -0.5],
        ['z', 0],
      ],
    );
    assert.equal(m.algebraic?.equations.length, 2);
    assert.deepEqual(
      m.states.map((s) => s.name),
      ['x', 'w'],
    );
  });

  test('as many 0 = equations as algebraic variables, or an error on each 0 = line', () => {
    const two = errors(lines("x' = -x + y", '0 = x + y - 1', '0 = y - 2', 'solv y'));
    assert.deepEqual(
      two.map((e) => [e.line, e.code]),
      [
        [1, 'dae-equations'],
        [2, 'dae-equations'],
      ],
    );
    assert.match(two[0].message, /2 algebraic equations \(`0 = …`\) for 1 algebraic variable/);
    assert.match(two[0].message, /declare each unknown/);
    // solv without an equation: on the solv line.
    const none = errors(lines("x' = -x + y", 'solv y=1'));
    assert.deepEqual(
      none.map((e) => [e.line, e.code]),
      [[1, 'dae-equations']],
    );
    assert.match(none[0].message, /0 algebraic equations .* for 1 algebraic variable.*write one `0 = …` equation/);
  });

  test('a 0 = line without solv: its unknown is undefined, and the counts differ', () => {
    const es = errors(lines("x' = -x + y", '0 = x + y - 1'));
    assert.ok(
      es.some((e) => e.code === 'undefined-name' && /'y'/.test(e.message)),
      JSON.stringify(es),
    );
    assert.ok(
      es.some((e) => e.code === 'dae-equations' && e.line === 1),
      JSON.stringify(es),
    );
  });

  test('an algebraic variable no 0 = equation reads, a guess that is not constant, z in the loss: errors', () => {
    const unread = errors(lines("x' = -x + y + z", '0 = y - x', '0 = y + 1', 'solv y', 'solv z'));
    assert.deepEqual(
      unread.map((e) => [e.line, e.code]),
      [[4, 'dae-equations']],
    );
    assert.match(unread[0].message, /'z' appears in no `0 = …` equation/);
    const guess = errors(lines('par a=1', "x' = -y", '0 = y - x', 'solv y=a'));
    assert.deepEqual(
      guess.map((e) => e.code),
      ['not-constant'],
    );
    const loss = errors(lines("x' = -y", '0 = y - x', 'solv y', 'init x=1', 'loss = y'));
    assert.deepEqual(
      loss.map((e) => e.code),
      ['state-in-loss'],
    );
    assert.match(loss[0].message, /'y' is an algebraic variable/);
  });
});

test('DAEs: XPPAUT’s Newton options are ignored with the reason', () => {
  const hints = analyse(lines("x' = -y", '0 = y - x', 'solv y', '@ newt_tol=1e-8, jac_eps=1e-5, xp=x'))
    .diagnostics.filter((d) => d.code === 'ignored-option')
    .map((d) => d.message);
  assert.equal(hints.length, 1, JSON.stringify(hints));
  assert.equal(
    hints[0],
    "The XPPAUT option 'xp' is ignored by ODE Lens (it sets XPPAUT's plots, numerics or AUTO, not the checked solve), and so are 'newt_tol', 'jac_eps': they tune XPPAUT's Newton iterations (a DAE's algebraic variables, implicit steps), which ODE Lens runs on the exact Jacobian to float32 rounding, so that finite differences and AD see the same solution",
  );
  const alone = analyse(lines("x' = -y", '0 = y - x', 'solv y', '@ newt_iter=50'))
    .diagnostics.filter((d) => d.code === 'ignored-option')
    .map((d) => d.message);
  assert.match(
    alone[0] ?? '',
    /^The XPPAUT option 'newt_iter' is ignored by ODE Lens: it tunes XPPAUT's Newton iterations/,
  );
});

describe('DAEs: the solve', () => {
  test('linear: 0 = x + y - 1 gives y = 1 - x exactly; RK4 equals the float64 ODE it reduces to', async () => {
    const N = 40,
      h = 0.05;
    const m = model(
      lines("x' = -x + 0.5*y", '0 = x + y - 1', 'solv y=3', 'init x=2', `@ total=${N * h}, dt=${h}, meth=rk4`),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    const ref = rk4((x) => [-x[0] + 0.5 * (1 - x[0])], [2], N, h);
    ref.forEach((x, n) => assert.ok(Math.abs(traj.states.x[n][0] - x[0]) < 2e-6, `step ${n}`));
  });

  test('nonlinear: 0 = y + b·y³ - x solved at every stage, as the test’s own Newton solve', async () => {
    const N = 50,
      h = 0.04,
      b = 0.8;
    const m = model(
      lines(
        `par b=${b}`,
        "x' = -y + 0.3*sin(t)",
        '0 = y + b*y^3 - x',
        'solve y=0',
        'init x=2.5',
        `@ total=${N * h}, dt=${h}`,
      ),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    let last = 0;
    const ref = rk4(
      (x, t) => {
        last = cubicRoot(x[0], b, last);
        return [-last + 0.3 * Math.sin(t)];
      },
      [2.5],
      N,
      h,
    );
    ref.forEach((x, n) =>
      assert.ok(Math.abs(traj.states.x[n][0] - x[0]) < 1e-5 * (1 + Math.abs(x[0])), `step ${n}: ${traj.states.x[n]}`),
    );
    assert.ok(Math.abs(ref[N][0] - ref[0][0]) > 0.5, 'the state moves');
  });

  test('two algebraic variables (a linear system with a parameter) on a state vector of two', async () => {
    const N = 30,
      h = 0.05,
      p = 0.4;
    const m = model(
      lines(
        `par p=${p}`,
        "x' = -u",
        "v' = u - w",
        '0 = u + w - x',
        '0 = u - w - p*v',
        'solv u',
        'solv w',
        'init x=1, v=0.5',
        `@ total=${N * h}, dt=${h}`,
      ),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    const ref = rk4(
      ([x, v]) => {
        const u = (x + p * v) / 2,
          w = (x - p * v) / 2;
        return [-u, u - w];
      },
      [1, 0.5],
      N,
      h,
    );
    ref.forEach(([x, v], n) => {
      assert.ok(Math.abs(traj.states.x[n][0] - x) < 2e-6, `x at step ${n}`);
      assert.ok(Math.abs(traj.states.v[n][0] - v) < 2e-6, `v at step ${n}`);
    });
  });
});

test('DAEs: the interpreter’s reverse pass through z is the implicit-function theorem’s, in x, p and t', () => {
  // z2 + z2³ = x2, z1 = sin(x1) + p·z2 (two coupled equations); f = (z1·z2 + t, −z2).
  const prog = compileScalarProgram(
    model(
      lines(
        'par p=0.7',
        "x1' = z1*z2 + t",
        "x2' = -z2",
        '0 = z1 - sin(x1) - p*z2',
        '0 = z2 + z2^3 - x2',
        'solv z1',
        'solv z2',
      ),
    ),
  );
  assert.ok(prog?.algebraic);
  const run = interpreterOf(prog);
  const vals = new Float64Array(prog.code.length),
    adj = new Float64Array(prog.code.length);
  for (const [x1, x2, p, t, c1, c2] of [
    [0.4, 1.3, 0.7, 0.25, 1, 0],
    [-1.1, 0.2, -0.3, 2, 0.5, -2],
    [2.0, -3.5, 1.5, 0, -1, 1],
  ]) {
    run.forward([x1, x2], 0, [p], t, vals);
    const z2 = cubicRoot(x2, 1, 0),
      z1 = Math.sin(x1) + p * z2;
    const f = prog.outputs.map((o) => vals[o]);
    assert.ok(Math.abs(f[0] - (z1 * z2 + t)) < 1e-5 * (1 + Math.abs(z1 * z2 + t)), `f1 ${f[0]}`);
    assert.ok(Math.abs(f[1] + z2) < 1e-5 * (1 + Math.abs(z2)), `f2 ${f[1]}`);
    const vs = new Float64Array(2),
      vp = new Float64Array(1),
      vt = new Float64Array(1);
    run.reverse(vals, [c1, c2], vs, vp, adj, WANT_ALL, undefined, t, vt);
    const dz2 = 1 / (1 + 3 * z2 * z2);
    const want = [c1 * z2 * Math.cos(x1), (c1 * (z2 * p + z1) - c2) * dz2, c1 * z2 * z2, c1];
    [vs[0], vs[1], vp[0], vt[0]].forEach((got, i) =>
      assert.ok(Math.abs(got - want[i]) < 1e-5 * (1 + Math.abs(want[i])), `component ${i}: ${got} vs ${want[i]}`),
    );
  }
});

describe('DAEs: the gradients', () => {
  const N = 40,
    h = 0.05,
    a = 1.3,
    b = 0.6;
  const NONLINEAR = lines(
    `par a=${a}, b=${b}`,
    "x' = -a*y + 0.2",
    '0 = y + b*y^3 - x',
    'solv y=0.5',
    'init x=1.5',
    'loss = x(T)^2',
    `@ total=${N * h}, dt=${h}`,
  );

  /** The float64 discrete loss x_N² of NONLINEAR at (a, b). */
  const loss64 = (pa: number, pb: number) => {
    let last = 0.5;
    const xs = rk4(
      (x) => {
        last = cubicRoot(x[0], pb, last);
        return [-pa * last + 0.2];
      },
      [1.5],
      N,
      h,
    );
    return xs[N][0] ** 2;
  };

  test('AD through z equals central differences of the float64 solve, finite differences and the reference agree', async () => {
    const r = await runCheck(model(NONLINEAR), { backend: 'cpu' });
    assert.ok(Math.abs(r.loss - loss64(a, b)) < 1e-5, `${r.loss} vs ${loss64(a, b)}`);
    const e = 1e-5;
    const fd = {
      a: (loss64(a + e, b) - loss64(a - e, b)) / (2 * e),
      b: (loss64(a, b + e) - loss64(a, b - e)) / (2 * e),
    };
    assert.deepEqual(
      r.parameters.map((p) => p.name),
      ['a', 'b'],
    );
    for (const p of r.parameters) {
      // A shared parameter's raw row is its total gradient.
      const ad = p.raw[0][0],
        want = fd[p.name as 'a' | 'b'];
      assert.ok(Math.abs(ad - want) < 1e-3 * Math.abs(want), `${p.name}: AD ${ad} vs float64 ${want}`);
      assert.ok(
        p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE,
        `${p.name} gradcheck ${p.metrics.gradcheckRelError}`,
      );
      // The continuous reference evaluates the same f(x, z(x)): AD converges to it.
      assert.ok(p.metrics.relError < 1e-3, `${p.name} against the reference: ${p.metrics.relError}`);
    }
    assert.equal(r.referenceUnavailable, undefined);
  });

  test('with an event: the check runs through z and finite differences agree', async () => {
    const r = await runCheck(
      model(
        lines(
          'par a=1, k=0.5',
          "x' = v",
          "v' = -a*y",
          '0 = y + 0.2*y^3 - x',
          'solv y',
          'global -1 x+0.5 {v=-k*v}',
          'init x=1',
          'loss = x(T)^2 + v(T)^2',
          '@ total=4, dt=0.02',
        ),
      ),
      { backend: 'cpu' },
    );
    assert.ok(Number.isFinite(r.loss));
    for (const p of r.parameters)
      assert.ok(
        p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE,
        `${p.name} gradcheck ${p.metrics.gradcheckRelError}`,
      );
  });

  test('a fold of the algebraic equation (∂g/∂v = 0) stops the solve with an error naming the 0 = line and its step', async () => {
    // v(1 − v²) = w with w' = c·v from v = 1: the branch ends at v = 1/√3, w = 2/(3√3) ≈ 0.385.
    const h = 0.02;
    const text = lines('par c=1', "w' = c*v", '0 = v*(1-v*v) - w', 'solv v=1', `@ total=2, dt=${h}`);
    const r = await runCheck(model(text), { backend: 'cpu' });
    const f = r.findings.find((x) => x.code === 'blow-up');
    assert.ok(f, JSON.stringify(r.findings.map((x) => x.message)));
    assert.equal(f.range.start.line, 2, 'on the 0 = line');
    const m = /Newton's method does not solve this algebraic equation for v at step (\d+) \(t = ([\d.]+)\)/.exec(
      f.message,
    );
    assert.ok(m, f.message);
    // The float64 solve's first step with a stage past the fold.
    const fold = 2 / (3 * Math.sqrt(3));
    let w = 0,
      v = 1,
      step = 0;
    const branch = (x: number) => {
      if (x > fold) return Number.NaN;
      for (let i = 0; i < 100; i++) v -= (v * (1 - v * v) - x) / (1 - 3 * v * v);
      return v;
    };
    for (let n = 1; n <= 100 && step === 0; n++) {
      const k1 = branch(w),
        k2 = branch(w + (h / 2) * k1),
        k3 = branch(w + (h / 2) * k2),
        k4 = branch(w + h * k3);
      w += (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
      if (!Number.isFinite(w)) step = n;
    }
    assert.ok(Math.abs(Number(m[1]) - step) <= 1, `step ${m[1]} vs the float64 solve's ${step}`);
  });
});

describe('DAEs: the editor', () => {
  const text = lines('par b=0.5', "x' = -y", '0 = y + b*y^3 - x', 'solv y=0.25', 'init x=1', 'done');
  const doc = new ServiceDocument(text);

  test('hover on an algebraic variable names it, its guess and its 0 = equation', () => {
    for (const at of [
      { line: 1, character: 6 },
      { line: 3, character: 5 },
    ]) {
      const h = hover(doc, at);
      assert.ok(h, JSON.stringify(at));
      const md = h.markdown;
      assert.match(md, /algebraic variable `y`/);
      assert.match(md, /guess `0\.25`/);
      assert.match(md, /0 = y \+ b\*y\^3 - x/);
    }
  });

  test('outline and completion list the algebraic variable', () => {
    const names = documentSymbols(doc).map((s) => s.name);
    assert.ok(names.includes('y'), names.join(', '));
    const items = completion(doc, { line: 1, character: 6 }).items;
    const y = items.find((i) => i.label === 'y');
    assert.ok(y, items.map((i) => i.label).join(', '));
    assert.match(String(y.detail), /algebraic/);
  });
});
