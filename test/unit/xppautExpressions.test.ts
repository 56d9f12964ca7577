// XPPAUT's expression-level constructs: tables (`table f % …`, `table f file.tab`),
// noise (`wiener`, `ran`, `normal`), indexed sums `sum(i1,i2)of(… i' …)` with
// `shift`, and the network functions of `special`. For each: the parse and the
// diagnostics, a solve against an independent float64 re-implementation written
// here from XPPAUT's documentation and sources (tabular.c, markov.c, simplenet.c),
// AD against finite differences through the full check, and hover/completion.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import type { AnalysisContext, Diagnostic, Model, TableDecl } from '../../solver/model';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { solveDiscrete } from '../../solver/engine/integrate';
import { schemeByName } from '../../solver/schemes/schemes';
import { evalConst } from '../../solver/language/checker/constants';
import { completion, hover, ServiceDocument } from '../../solver/service/index';

const lines = (...ls: string[]): string => ls.join('\n');
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');
const codes = (ds: Diagnostic[]) => ds.map((d) => [d.range.start.line, d.code, d.severity]);

function model(text: string, context?: AnalysisContext): Model {
  const a = analyse(text, context);
  assert.deepEqual(errors(a.diagnostics), [], text);
  assert.ok(a.model);
  return a.model;
}

/** The model's final state by its own scheme and steps, by both compiles (fused and per operation) when it fuses. */
async function finalStates(m: Model): Promise<number[][]> {
  const { tf } = await initBackend('cpu');
  const out: number[][] = [];
  for (const fuseScalars of compileScalarProgram(m) ? [true, false] : [false]) {
    const { compiled } = compileModel(tf, m, { fuseScalars });
    const values = m.params.map((p) => {
      assert.equal(p.init.kind, 'value');
      return tf.scalar((p.init as { value: { kind: string; value: number } }).value.value);
    });
    const { t0, dt, steps } = m.options;
    const last = solveDiscrete(tf, compiled, schemeByName(m.options.meth as 'euler'), steps, dt, t0, () => values).at(
      -1,
    )!;
    out.push(last.map((x) => x.dataSync()[0]));
    compiled.dispose();
  }
  return out;
}

function near(got: number, want: number, what: string, tol = 2e-5) {
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
}

/** float64 Euler and classic RK4 of x' = f(x, t). */
function solve(f: (x: number[], t: number) => number[], x0: number[], meth: 'euler' | 'rk4', steps: number, h: number) {
  let x = x0.slice();
  const axpy = (a: number[], s: number, b: number[]) => a.map((v, i) => v + s * b[i]);
  for (let n = 0; n < steps; n++) {
    const t = n * h;
    if (meth === 'euler') x = axpy(x, h, f(x, t));
    else {
      const k1 = f(x, t);
      const k2 = f(axpy(x, h / 2, k1), t + h / 2);
      const k3 = f(axpy(x, h / 2, k2), t + h / 2);
      const k4 = f(axpy(x, h, k3), t + h);
      x = x.map((v, i) => v + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    }
  }
  return x;
}

/** XPPAUT's lookup (tabular.c), as written there: (int) truncation, extrapolation past both ends. */
function xppLookup(y: number[], xlo: number, xhi: number, x: number): number {
  const n = y.length;
  const dx = (xhi - xlo) / (n - 1);
  const i1 = Math.trunc((x - xlo) / dx);
  const i2 = i1 + 1;
  if (i1 > -1 && i2 < n) return y[i1] + ((y[i2] - y[i1]) * (x - (dx * i1 + xlo))) / dx;
  if (i1 < 0) return y[0] + ((y[1] - y[0]) * (x - xlo)) / dx;
  return y[n - 1] + ((y[n - 1] - y[n - 2]) * (x - xhi)) / dx;
}

describe('tables', () => {
  const files: Record<string, string> = {
    '/ws/w.tab': '4\n0\n3\n1\n2\n0\n5\n',
    '/ws/step.tab': 'i4\n0\n3\n1\n2\n0\n5\n',
    '/ws/short.tab': '4\n0\n3\n1\n2\n',
  };
  const ws: AnalysisContext = {
    documentPath: '/ws/m.ode',
    workspaceRoot: '/ws',
    readFile: (p) => {
      if (p in files) return files[p];
      throw new Error(`ENOENT: ${p}`);
    },
  };

  test('a formula table samples its formula of t; a file table reads XPPAUT’s format', () => {
    const m = model(
      lines('table g % 5 -1 1 t^3', 'table h w.tab', "x' = g(x) + h(x)", 'init x=0.1', 'loss = x(T)^2'),
      ws,
    );
    const [g, h] = m.tables as TableDecl[];
    assert.deepEqual(
      [g.name, g.xlo, g.dx, g.values, g.interpolation],
      ['g', -1, 0.5, [-1, -0.125, 0, 0.125, 1], 'linear'],
    );
    assert.deepEqual([h.name, h.xlo, h.dx, h.values], ['h', 0, 1, [1, 2, 0, 5]]);
    // tabular is XPPAUT's long spelling, and a constant argument is the sample value.
    const c = model(lines('tabular g % 3 0 2 t*t', "x' = g(1.5) - x", 'loss = x(T)'));
    const rhs = c.equations[0].rhs;
    assert.equal(
      rhs.kind === 'binary' && rhs.left.kind === 'number' ? rhs.left.value : NaN,
      xppLookup([0, 1, 4], 0, 2, 1.5),
    );
  });

  test('diagnostics: bad tables, files missing, outside the workspace or in another format; parameters sampled', () => {
    const a = analyse(
      lines(
        'par k=2',
        'table a % 1 0 1 t',
        'table b % 5 1 0 t',
        'table c missing.tab',
        'table d "../out.tab"',
        'table e step.tab',
        'table f short.tab',
        'table g % 3 0 1 k*t',
        "x' = a(x) + b(x) + c(x) + d(x) + e(x) + f(x) + g(x) + g(1, 2) + g",
        'loss = x(T)',
      ),
      ws,
    );
    assert.deepEqual(codes(a.diagnostics), [
      [1, 'invalid-table', 'error'],
      [2, 'invalid-table', 'error'],
      [3, 'table-file', 'error'],
      [4, 'table-file', 'error'],
      [5, 'table-file', 'error'],
      [6, 'table-file', 'error'],
      [7, 'table-parameter', 'information'],
      [8, 'bad-arity', 'error'],
      [8, 'undefined-name', 'error'],
    ]);
    const msg = (line: number) => a.diagnostics.find((d) => d.range.start.line === line)?.message ?? '';
    assert.match(msg(4), /outside the workspace/);
    assert.match(msg(5), /step interpolation/);
    assert.match(msg(6), /no number for point 3 of 4/);
    assert.match(msg(7), /sampled at k = 2/);
  });

  test('a solve through a table equals a float64 solve with XPPAUT’s lookup (euler, rk4; fused and per operation)', async () => {
    const ys = Array.from({ length: 9 }, (_x, k) => Math.sin(-2 + 0.5 * k) * (-2 + 0.5 * k));
    for (const meth of ['euler', 'rk4'] as const) {
      const m = model(
        lines(
          'par a=0.5',
          'table g % 9 -2 2 sin(t)*t',
          "x' = g(x) - a*x + 0.3*g(2.5*cos(3*t))",
          "y' = g(-3 + x) - y",
          'init x=-1.7, y=0.4',
          'loss = x(T)^2 + y(T)^2',
          `@ total=2, dt=0.05, meth=${meth}`,
        ),
      );
      const want = solve(
        ([x, y], t) => [
          xppLookup(ys, -2, 2, x) - 0.5 * x + 0.3 * xppLookup(ys, -2, 2, 2.5 * Math.cos(3 * t)),
          xppLookup(ys, -2, 2, -3 + x) - y,
        ],
        [-1.7, 0.4],
        meth,
        40,
        0.05,
      );
      const runs = await finalStates(m);
      assert.equal(runs.length, 2, 'both compiles');
      for (const got of runs) got.forEach((v, i) => near(v, want[i], `${meth} state ${i}`, 1e-4));
    }
  });

  test('AD through a table agrees with finite differences (the slope of the segment)', async () => {
    const r = await runCheck(
      model(
        lines(
          'par a=0.5, b=0.8',
          'table g % 21 -3 3 tanh(t)',
          "x' = g(b*x) - a*x",
          'init x=1.2',
          'loss = x(T)^2',
          '@ total=1, dt=0.05, meth=rk4',
        ),
      ),
      { backend: 'cpu' },
    );
    for (const p of r.parameters)
      assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: ${p.metrics.gradcheckRelError}`);
  });

  test("a parameter read only by a table's formula: its zero gradient is said to come from the samples, not from kinks; not unused", async () => {
    // sig shapes the table through abs (a kink), k is read by the equation too; only sig is sampled alone.
    const text = lines(
      'par sig=3, k=0.4',
      'table w % 21 -10 10 exp(-abs(t)/sig) + k',
      "x' = -x + k*w(x)",
      'init x=1',
      'loss = x(T)^2',
      '@ total=1, dt=0.05, meth=rk4',
    );
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    assert.ok(!a.diagnostics.some((d) => d.code === 'unused-name'), JSON.stringify(a.diagnostics));
    assert.equal(a.model.params.find((p) => p.name === 'sig')?.sampledBy, 'w');
    assert.equal(a.model.params.find((p) => p.name === 'k')?.sampledBy, undefined);
    const r = await runCheck(a.model, { backend: 'cpu' });
    const f = r.findings.find((d) => d.code === 'vanishing-gradient' && d.parameter === 'sig');
    assert.match(f?.message ?? '', /read only in the formula of table 'w', which is sampled once at its value/);
    assert.doesNotMatch(f?.message ?? '', /non-smooth/);
    assert.equal(f?.severity, 'information');
    assert.ok(!r.findings.some((d) => d.code === 'vanishing-gradient' && d.parameter === 'k'));
  });

  test('hover on a table names its interpolation; hover on its call too', () => {
    const doc = new ServiceDocument(lines('table g % 5 -1 1 t^3', "x' = g(x)", 'loss = x(T)'));
    assert.match(hover(doc, { line: 0, character: 6 })?.markdown ?? '', /table `g\(x\)`.*\n\nLinear interpolation/);
    assert.match(hover(doc, { line: 1, character: 5 })?.markdown ?? '', /Linear interpolation/);
  });
});

/** The samples of a noise realisation by its origin. */
const realisations = (m: Model, origin: TableDecl['origin']) => (m.tables ?? []).filter((t) => t.origin === origin);

describe('noise', () => {
  const NOISY = (seed: number, meth = 'euler') =>
    lines(
      'wiener w',
      'par a=1, s=0.3',
      "x' = -a*x + s*w + ran(0.2) + normal(0.1, 0.05)",
      'init x=0.5',
      'loss = x(T)^2',
      `@ total=2, dt=0.02, meth=${meth}, seed=${seed}`,
    );

  test('one seeded realisation: the same for the same seed, another for another seed; XPPAUT’s scaling', () => {
    const a = model(NOISY(1));
    assert.deepEqual(a.tables, model(NOISY(1)).tables);
    const [w] = realisations(a, 'wiener');
    assert.notDeepEqual(w.values, realisations(model(NOISY(2)), 'wiener')[0].values);
    assert.equal(w.values.length, 100);
    assert.equal(w.dx, 0.02);
    // Wiener: z/√dt per step with z standard normal; ran: uniform on [0, 1); normal: standard normal.
    const long = model(lines('w n1', "x' = n1 + ran(1) + normal(0, 1)", 'loss = x(T)', '@ total=100, dt=0.01'));
    const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((p, q) => p + q, 0) / xs.length;
    const zs = realisations(long, 'wiener')[0].values.map((v) => v * Math.sqrt(0.01));
    assert.ok(Math.abs(mean(zs)) < 0.05 && Math.abs(mean(zs.map((z) => z * z)) - 1) < 0.05, 'wiener z ~ N(0, 1)');
    const us = realisations(long, 'ran')[0].values;
    assert.ok(us.every((u) => u >= 0 && u < 1) && Math.abs(mean(us) - 0.5) < 0.02, 'ran ~ U[0, 1)');
    const ns = realisations(long, 'normal')[0].values;
    assert.ok(Math.abs(mean(ns)) < 0.05 && Math.abs(mean(ns.map((z) => z * z)) - 1) < 0.05, 'normal ~ N(0, 1)');
    // ran in an initial value: one draw.
    const init = model(lines("x' = -x", 'x(0)=ran(2)', 'loss = x(T)'));
    const x0 = evalConst(init.states[0].init!);
    assert.ok(x0 !== undefined && x0 >= 0 && x0 < 2, String(x0));
  });

  test('one information diagnostic says it is one sample path; noise cannot be read by the loss', () => {
    const a = analyse(NOISY(3));
    assert.deepEqual(codes(a.diagnostics), [[0, 'noise-realisation', 'information']]);
    assert.match(a.diagnostics[0].message, /seed=3.*sample path/);
    const bad = analyse(lines("x' = -x", 'loss = x(T) + ran(1)'));
    assert.deepEqual(codes(errors(bad.diagnostics)), [[1, 'not-constant', 'error']]);
  });

  test('a noisy solve equals a float64 solve with the same samples, held for each step (euler, rk4)', async () => {
    for (const meth of ['euler', 'rk4'] as const) {
      const m = model(NOISY(4, meth));
      const [w] = realisations(m, 'wiener');
      const [u] = realisations(m, 'ran');
      const [z] = realisations(m, 'normal');
      // Sample n on [t_n, t_{n+1}); a stage at t_{n+1} reads sample n + 1 (the last one past the end).
      const at = (xs: ArrayLike<number>, t: number) => xs[Math.min(Math.floor(t / 0.02 + 1e-3), xs.length - 1)];
      const want = solve(
        ([x], t) => [-x + 0.3 * at(w.values, t) + 0.2 * at(u.values, t) + 0.1 + 0.05 * at(z.values, t)],
        [0.5],
        meth,
        100,
        0.02,
      );
      for (const [got] of await finalStates(m)) near(got, want[0], meth, 1e-4);
    }
  });

  test('AD through a noisy model agrees with finite differences of the same sample path', async () => {
    const r = await runCheck(model(NOISY(5, 'rk4')), { backend: 'cpu' });
    for (const p of r.parameters)
      assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: ${p.metrics.gradcheckRelError}`);
  });

  test('hovers say the gradients are those of the sample path; completion offers ran and normal', () => {
    const doc = new ServiceDocument(NOISY(1));
    assert.match(hover(doc, { line: 0, character: 7 })?.markdown ?? '', /Wiener variable `w`.*sample path/s);
    assert.match(hover(doc, { line: 2, character: 20 })?.markdown ?? '', /ran\(x\).*sample path/s);
    const labels = completion(doc, { line: 2, character: 7 }).items.map((i) => i.label);
    assert.ok(labels.includes('ran') && labels.includes('normal'), labels.join(' '));
  });
});

describe("indexed sums sum(i1,i2)of(… i' …) and shift", () => {
  test("sum(1,10)of(i') is 55; sum(0,4)of(shift(u0,i')) adds u0 … u4", () => {
    const m = model(
      lines(
        "u[0..4]' = -u[j] + 0.1*sum(0,4)of(shift(u0,i')*(i'+1))",
        'u[0..4](0)=[j]/4',
        "x(0)=sum(1,10)of(i')",
        "x' = 0",
        'loss = x(T)',
      ),
    );
    const x = m.states.find((s) => s.name === 'x');
    assert.equal(evalConst(x!.init!), 55);
  });

  test('a coupled chain with sums and shifts equals its float64 solve', async () => {
    const m = model(
      lines(
        'par k=0.4',
        "u[0..5]' = -u[j] + k*sum(0,5)of(cos(0.3*([j]-i'))*shift(u0,i'))/6 + sum(0,[j])of(i')*0.01",
        'u[0..5](0)=1-[j]/5',
        'loss = u5(T)',
        '@ total=1, dt=0.05, meth=rk4',
      ),
    );
    const f = (u: number[]) =>
      u.map((uj, j) => {
        let s = 0;
        for (let i = 0; i <= 5; i++) s += Math.cos(0.3 * (j - i)) * u[i];
        return -uj + (0.4 * s) / 6 + ((j * (j + 1)) / 2) * 0.01;
      });
    const want = solve(f, [1, 0.8, 0.6, 0.4, 0.2, 0], 'rk4', 20, 0.05);
    for (const got of await finalStates(m)) got.forEach((v, i) => near(v, want[i], `u${i}`, 1e-5));
    const r = await runCheck(m, { backend: 'cpu' });
    assert.ok(r.parameters[0].metrics.gradcheckRelError < 1e-2, String(r.parameters[0].metrics.gradcheckRelError));
  });

  test('shift(x0, f([j])) with a table f is resolved by the checker, and x[j] beside a function x(t)', () => {
    const m = model(
      lines(
        'x(t)=mod(t,3)',
        'table nb % 3 0 2 x(t+1)',
        "u[0..2]' = shift(u0,nb([j])) - u[j]",
        'u[0..2](0)=[j]',
        'loss = u0(T)',
      ),
    );
    const read = m.equations.map((e) => (e.rhs.kind === 'binary' && e.rhs.left.kind === 'name' ? e.rhs.left.name : ''));
    assert.deepEqual(read, ['u1', 'u2', 'u0']);
  });

  test('diagnostics: nested sums, bounds that are not constants, a shift below 0', () => {
    const a = analyse(
      lines(
        'par n=3',
        "x0' = sum(0,2)of(sum(0,1)of(i'))",
        "x1' = sum(0,n)of(i')",
        "x2' = shift(x0,-1)",
        'loss = x0(T)',
      ),
    );
    assert.deepEqual(codes(errors(a.diagnostics)), [
      [1, 'unsupported', 'error'],
      [2, 'not-constant', 'error'],
      [3, 'index-out-of-range', 'error'],
    ]);
  });
});

/** simplenet.c's networks, written from its loops. */
function xppNetwork(kind: string, u: number[], w: number[], ncon: number, index: number[] = []): number[] {
  const n = u.length;
  return u.map((_x, i) => {
    let sum = 0;
    if (kind === 'even')
      for (let j = -ncon; j <= ncon; j++) {
        let k = Math.abs(i + j);
        if (k < 2 * n) {
          if (k >= n) k = Math.abs(2 * n - 2 - k);
          sum += w[j + ncon] * u[k];
        }
      }
    else if (kind === 'periodic') for (let j = -ncon; j <= ncon; j++) sum += w[j + ncon] * u[(2 * n + i + j) % n];
    else if (kind === 'zero')
      for (let j = -ncon; j <= ncon; j++) {
        const k = i + j;
        if (k >= 0 && k < n) sum += w[j + ncon] * u[k];
      }
    else if (kind === 'sparse')
      for (let j = 0; j < ncon; j++) {
        const k = index[i * ncon + j];
        if (k >= 0) sum += w[i * ncon + j] * u[k];
      }
    else for (let j = 0; j < n; j++) sum += w[i * n + j] * u[j]; // mmult (n = m)
    return sum;
  });
}

describe('special: network functions', () => {
  const u0 = [0.3, -0.5, 0.8, 0.1, -0.2];
  const init = 'u[0..4](0)=' + '[j]';
  for (const [kind, special, w, ncon, index] of [
    ['even', 'conv(even,5,2,w,u0)', [0.1, 0.2, 0.4, 0.2, 0.1], 2],
    ['periodic', 'conv(period,5,1,w,u0)', [0.5, -1, 0.25], 1],
    ['zero', 'conv(0,5,1,w,u0)', [0.5, -1, 0.25], 1],
    [
      'sparse',
      'sparse(5,2,w,ind,u0)',
      [0.5, -1, 0.25, 2, 0.3, 0.1, 0.7, -0.2, 1, 1],
      2,
      [1, 3, 0, 0, 4, -1, 2, 2, 3, 1],
    ],
    ['mmult', 'mmult(5,5,w,u0)', Array.from({ length: 25 }, (_x, k) => Math.sin(k)), 0],
  ] as [string, string, number[], number, number[]?][]) {
    test(`${kind}: one Euler step equals simplenet.c’s sum`, async () => {
      const files: Record<string, string> = {
        '/ws/w.tab': `${w.length}\n0\n${w.length - 1}\n${w.join('\n')}\n`,
        '/ws/ind.tab': index ? `${index.length}\n0\n${index.length - 1}\n${index.join('\n')}\n` : '',
      };
      const m = model(
        lines(
          'table w w.tab',
          ...(index ? ['table ind ind.tab'] : []),
          `special k=${special}`,
          "u[0..4]' = k([j])",
          init.replace('[j]', `${u0.map((v, j) => `(${v})*([j]==${j})`).join('+')}`),
          'loss = u0(T)',
          '@ total=0.1, steps=1, meth=euler',
        ),
        { documentPath: '/ws/m.ode', workspaceRoot: '/ws', readFile: (p) => files[p] },
      );
      const want = xppNetwork(kind, u0, w, ncon, index).map((d, i) => u0[i] + 0.1 * d);
      for (const got of await finalStates(m)) got.forEach((v, i) => near(v, want[i], `${kind} u${i}`, 1e-6));
    });
  }

  test('a special with an argument that is not a table is one error on its line; hover names the function', () => {
    const a = analyse(lines('special k=conv(even,3,1,nope,u0)', "u[0..2]' = k([j])", 'loss = u0(T)'));
    assert.deepEqual(codes(errors(a.diagnostics)), [[0, 'unsupported', 'error']]);
    const doc = new ServiceDocument(lines('table w % 3 -1 1 1', 'special k=conv(even,3,1,w,u0)', "u[0..2]' = k([j])"));
    assert.match(hover(doc, { line: 1, character: 8 })?.markdown ?? '', /network function `k\(i\)`/);
  });
});

test('a parameter without a value is 0, as in XPPAUT (scalars only)', () => {
  const m = model(lines('par a, b=2 c', "x' = -a*x - b + c", 'loss = x(T)'));
  assert.deepEqual(
    m.params.map((p) => [p.name, p.init.kind === 'value' ? evalConst(p.init.value) : NaN]),
    [
      ['a', 0],
      ['b', 2],
      ['c', 0],
    ],
  );
  assert.deepEqual(codes(errors(analyse(lines('param W[2]', "x' = -x", 'loss = x(T)')).diagnostics)), [
    [0, 'syntax-error', 'error'],
  ]);
});
