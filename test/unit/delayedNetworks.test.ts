// XPPAUT's delayed network functions (`special k = delmmult(…)`, `delsparse(…)`, spelled `delspar` too), its
// extremum finder (`special mx = findext(…)`) and `del_shft(x, k, tau)`, written from simplenet.c and
// parserslow2.c: the parse and the diagnostics, a solve against an independent float64 re-implementation
// (RK4 whose stages read the grid history linearly interpolated, the initial value before t0), AD against
// float64 finite differences of that re-implementation, and a whole check (AD, refined reference, FD).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import type { Diagnostic } from '../../solver/model';
import { runCheck } from '../../solver/check';
import { hover, ServiceDocument } from '../../solver/service/index';
import { centralDifferences, engineGradient, engineTrajectory, modelOf, rk4Step } from '../support/timeStepping';

const lines = (...ls: string[]): string => ls.join('\n');
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');
const at = (ds: Diagnostic[]) => ds.map((d) => [d.range.start.line, d.code, d.severity]);

/** The tables' samples as the test computes them from the same formulas (xlo 0, dx 1). */
const W = Array.from({ length: 6 }, (_x, k) => 0.4 * Math.cos(k) + 0.1);
const IND = Array.from({ length: 6 }, (_x, k) => (k % 4) - 1);
const TD = Array.from({ length: 6 }, (_x, k) => 0.05 + 0.07 * k);

const DELAYED = (a: number, b: number, spelling = 'delsparse') =>
  lines(
    'table w % 6 0 5 0.4*cos(t)+0.1',
    'table ind % 6 0 5 mod(t,4)-1',
    'table td % 6 0 5 0.05+0.07*t',
    `special k=${spelling}(3,2,w,ind,td,u0)`,
    'special m=delmmult(3,2,w,td,u0)',
    "u[0..2]'=-a*u[j]+tanh(k([j]))+b*m([j])",
    'init u[0..2]=0.3*[j]-0.2',
    `par a=${a}, b=${b}`,
    'loss = u0(T)^2 + u2(T)^2',
    '@ total=1.5, dt=0.02, delay=1, meth=rk4',
  );

/** The grid history of a float64 solve: state c at time s (linear between grid points; x(t0) before, the newest inside the step). */
function reader(grid: number[][], h: number) {
  return (c: number, s: number): number => {
    const u = s / h;
    if (u <= 0) return grid[0][c];
    const n = Math.floor(u);
    if (n >= grid.length - 1) return grid[grid.length - 1][c];
    return grid[n][c] + (u - n) * (grid[n + 1][c] - grid[n][c]);
  };
}

/** simplenet.c's DEL_SPAR and DEL_MUL, in float64, solved by RK4: the trajectory. */
function delayed64([a, b]: number[], N = 75, h = 0.02): number[][] {
  const grid = [[0, 1, 2].map((j) => 0.3 * j - 0.2)];
  const past = reader(grid, h);
  const f = (t: number, u: number[]): number[] => {
    const k = [0, 1, 2].map((i) => {
      let sum = 0;
      for (let j = 0; j < 2; j++) {
        const ij = i * 2 + j;
        if (IND[ij] >= 0) sum += W[ij] * past(IND[ij], t - TD[ij]);
      }
      return sum;
    });
    // delmmult(n = 3 inputs, m = 2 outputs): m(2) is past the outputs, 0.
    const m = [0, 1, 2].map((i) => {
      let sum = 0;
      if (i < 2) for (let j = 0; j < 3; j++) sum += W[i * 3 + j] * past(j, t - TD[i * 3 + j]);
      return sum;
    });
    return u.map((x, j) => -a * x + Math.tanh(k[j]) + b * m[j]);
  };
  for (let n = 0; n < N; n++) grid.push(rk4Step(f, n * h, grid[n], h));
  return grid;
}

const SHIFTED = (tau: number, k: number) =>
  lines(
    'table wt % 3 -1 1 exp(-abs(t))',
    "x[0..3]'=1 + k*sum(-1,1)of(wt(i')*sin(del_shft(x0,mod(i'+[j],4),tau*abs(i'))-x[j]))",
    `par tau=${tau}, k=${k}`,
    'init x[0..3]=0.7*[j]',
    'loss = x1(T)^2 + x3(T)',
    '@ total=1, dt=0.02, delay=1, meth=rk4',
  );

/** `del_shft(x0, mod(i'+j, 4), tau·|i'|)`: x at element (i'+j) mod 4, tau·|i'| back, in float64. */
function shifted64([tau, k]: number[], N = 50, h = 0.02): number[][] {
  const grid = [[0, 1, 2, 3].map((j) => 0.7 * j)];
  const past = reader(grid, h);
  const f = (t: number, x: number[]): number[] =>
    x.map((xj, j) => {
      let sum = 0;
      for (let i = -1; i <= 1; i++)
        sum += Math.exp(-Math.abs(i)) * Math.sin(past((i + j + 4) % 4, t - tau * Math.abs(i)) - xj);
      return 1 + k * sum;
    });
  for (let n = 0; n < N; n++) grid.push(rk4Step(f, n * h, grid[n], h));
  return grid;
}

const EXTREMA = (a: number) =>
  lines(
    'special mx=findext(0,5,2,u0)',
    "u[0..4]'=-(a+0.3*[j])*u[j]+0.3*mx(0)-0.2*mx(2)+0.05*mx(1)-0.04*mx(3)+mx(7)",
    'init u[0..4]=0.5*([j]==0)-0.3*([j]==1)+0.1*([j]==2)+0.2*([j]==3)+0.5*([j]==4)',
    `par a=${a}`,
    'loss = u0(T)^2 + u4(T)',
    '@ total=1, dt=0.025, meth=euler',
  );

/** simplenet.c's FINDEXT scan over u0, u2, u4 (first index of equal values), solved by Euler. */
function extrema64([a]: number[], N = 40, h = 0.025): number[][] {
  const grid = [[0.5, -0.3, 0.1, 0.2, 0.5]];
  for (let n = 0; n < N; n++) {
    const u = grid[n];
    let [imax, imin] = [0, 0];
    for (let i = 0; i < 5; i += 2) {
      if (u[i] > u[imax]) imax = i;
      if (u[i] < u[imin]) imin = i;
    }
    const common = 0.3 * u[imax] - 0.2 * u[imin] + 0.05 * imax - 0.04 * imin;
    grid.push(u.map((x, j) => x + h * (-(a + 0.3 * j) * x + common)));
  }
  return grid;
}

function close(got: number[][], want: number[][], tol: number) {
  assert.equal(got.length, want.length);
  got.forEach((row, n) =>
    row.forEach((v, c) => assert.ok(Math.abs(v - want[n][c]) < tol, `step ${n} state ${c}: ${v} vs ${want[n][c]}`)),
  );
}

function adAgreesWithFd(grad: number[], fd: number[]) {
  grad.forEach((g, i) =>
    assert.ok(Math.abs(g - fd[i]) < 2e-3 * Math.max(1, Math.abs(fd[i])), `param ${i}: AD ${g} vs FD ${fd[i]}`),
  );
  assert.ok(
    fd.every((d) => Math.abs(d) > 1e-3),
    'every parameter matters to the loss',
  );
}

describe('delmmult and delsparse', () => {
  test('parse in both spellings, with the delay bound asked for as for delay(…)', () => {
    for (const spelling of ['delsparse', 'delspar', 'DELSPAR'])
      assert.deepEqual(errors(analyse(DELAYED(0.7, 0.5, spelling)).diagnostics), [], spelling);
    const noBound = analyse(DELAYED(0.7, 0.5).replace(', delay=1', ''));
    assert.ok(noBound.model);
    assert.ok(noBound.diagnostics.some((d) => d.code === 'delay-bound' && d.range.start.line === 5));
  });

  test('bad arguments: one error on the special line', () => {
    const cases: [string, RegExp][] = [
      ['special m=delmmult(3,3,w,td,u0)', /weight table has 6 samples, fewer than the 9/],
      ['special m=delmmult(3,2,w,nope,u0)', /'nope' \(argument 4 of delmmult\) must be a table/],
      ['special m=delsparse(3,2,w,ind,neg,u0)', /a delay must be ≥ 0/],
      ['special m=delmmult(0,2,w,td,u0)', /sizes of at least 1/],
    ];
    for (const [special, message] of cases) {
      const a = analyse(
        lines(
          'table w % 6 0 5 1',
          'table ind % 6 0 5 0',
          'table td % 6 0 5 0.1',
          'table neg % 6 0 5 0.1-t',
          special,
          "u[0..2]'=-u[j]+m([j])",
          'loss = u0(T)',
          '@ delay=1',
        ),
      );
      const errs = errors(a.diagnostics);
      assert.deepEqual(at(errs), [[4, 'unsupported', 'error']], special);
      assert.match(errs[0].message, message);
    }
  });

  test('the solve equals simplenet.c’s delayed sums on the interpolated history (float64)', async () => {
    close(await engineTrajectory(modelOf(DELAYED(0.7, 0.5))), delayed64([0.7, 0.5]), 2e-5);
  });

  test('AD in a and b equals float64 finite differences of the re-implementation', async () => {
    const p = [0.7, 0.5];
    const { loss, grad } = await engineGradient(modelOf(DELAYED(p[0], p[1])));
    const L = (q: number[]) => {
      const u = delayed64(q).at(-1)!;
      return u[0] ** 2 + u[2] ** 2;
    };
    assert.ok(Math.abs(loss - L(p)) < 1e-5, `${loss} vs ${L(p)}`);
    adAgreesWithFd(grad, centralDifferences(L, p, 1e-6));
  });

  test('a whole check: AD, the refined-grid reference and finite differences agree', async () => {
    const report = await runCheck(modelOf(DELAYED(0.7, 0.5)), { backend: 'cpu', refinedReferenceBudgetMs: Infinity });
    assert.equal(report.referenceUnavailable, undefined);
    assert.equal(report.refinedReference?.scheme, 'rk4');
    for (const p of report.parameters) {
      assert.ok(p.metrics.relError < 0.01, `${p.name}: ${p.metrics.relError}`);
      assert.ok(p.metrics.gradcheckRelError < 0.01, `${p.name}: ${p.metrics.gradcheckRelError}`);
    }
  });
});

describe('del_shft', () => {
  test('diagnostics: arity, a shift that is not a constant, an element before the array', () => {
    const a = analyse(
      lines(
        "x[0..1]'=del_shft(x0,1)",
        "y'=del_shft(x0,x1,0.1)",
        "z'=del_shft(x1,-2,0.1)",
        "v'=del_shft(x0,1,0.2)",
        'loss = x0(T)',
        '@ delay=1',
      ),
    );
    // The array line's two elements give one diagnostic.
    assert.deepEqual(at(errors(a.diagnostics)), [
      [0, 'bad-arity', 'error'],
      [1, 'not-constant', 'error'],
      [2, 'unsupported', 'error'],
    ]);
  });

  test('hover names it as a delayed shift', () => {
    const doc = new ServiceDocument(SHIFTED(0.1, 0.4));
    const line = SHIFTED(0.1, 0.4).split('\n')[1];
    assert.match(
      hover(doc, { line: 1, character: line.indexOf('del_shft') + 2 })?.markdown ?? '',
      /delay\(x\{k\}, tau\)/,
    );
  });

  test('the solve equals x{k} read tau back on the interpolated history (float64)', async () => {
    close(await engineTrajectory(modelOf(SHIFTED(0.1234, 0.4))), shifted64([0.1234, 0.4]), 2e-5);
  });

  test('AD in tau and k equals float64 finite differences of the re-implementation', async () => {
    // tau·|i'|/h = 6.17: the stages read inside cells, away from the interpolant's kinks at grid points.
    const p = [0.1234, 0.4];
    const { loss, grad } = await engineGradient(modelOf(SHIFTED(p[0], p[1])));
    const L = (q: number[]) => {
      const x = shifted64(q).at(-1)!;
      return x[1] ** 2 + x[3];
    };
    assert.ok(Math.abs(loss - L(p)) < 1e-5, `${loss} vs ${L(p)}`);
    adAgreesWithFd(grad, centralDifferences(L, p, 1e-7));
  });
});

describe('findext', () => {
  test('diagnostics: the type, n and skip, and the four values', () => {
    const bad = (special: string, use = 'mx(0)') =>
      errors(analyse(lines(special, `u[0..4]'=-u[j]+${use}`, 'loss = u0(T)')).diagnostics);
    assert.deepEqual(at(bad('special mx=findext(2,5,1,u0)')), [[0, 'unsupported', 'error']]);
    assert.match(bad('special mx=findext(2,5,1,u0)')[0].message, /1 \(maximum\), -1 \(minimum\) or 0/);
    assert.match(bad('special mx=findext(1,5,0,u0)')[0].message, /skip ≥ 1/);
    assert.match(bad('special mx=findext(1,5,1,u0)', 'mx(4)')[0].message, /gives 4 values/);
    // From n on a network function is 0 (XPPAUT's network_value), as is an index below 0.
    assert.deepEqual(bad('special mx=findext(1,2,1,u0)', 'mx(3)+mx(-1)'), []);
  });

  test('the solve equals simplenet.c’s scan (first index among equal values), by Euler in float64', async () => {
    close(await engineTrajectory(modelOf(EXTREMA(0.6))), extrema64([0.6]), 2e-5);
  });

  test('AD is the gradient of the selected elements (piecewise), equal to float64 finite differences', async () => {
    const { loss, grad } = await engineGradient(modelOf(EXTREMA(0.6)));
    const L = (q: number[]) => {
      const u = extrema64(q).at(-1)!;
      return u[0] ** 2 + u[4];
    };
    assert.ok(Math.abs(loss - L([0.6])) < 1e-5, `${loss} vs ${L([0.6])}`);
    adAgreesWithFd(grad, centralDifferences(L, [0.6], 1e-6));
  });
});
