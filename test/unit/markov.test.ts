// XPPAUT Markov variables (`markov z N` and its transition table): the parser reads both row layouts and reports a
// table of the wrong size; the realisation follows XPPAUT's rule (checked against a float64 re-implementation in this
// file with the same coins); the check's AD gradient of the realised path agrees with float64 finite differences of
// the same discrete solve, and with the continuous reference as dt shrinks; training starts from the same path; the
// information note, the hover and completion say what a Markov variable is.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyse } from '../../solver/language/index';
import type { Diagnostic, Model } from '../../solver/model';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { initialParameters } from '../../solver/engine/parameters';
import { markovCoins, realiseMarkov } from '../../solver/engine/markov';
import { train } from '../../solver/train/train';
import { completion, hover, ServiceDocument } from '../../solver/service/index';
import { ExportError, pythonExpression } from '../../solver/export/pythonExpression';
import { rk4Step } from '../support/timeStepping';

/** One float64 step of the scalar x' = f(x, t) by Euler or classic RK4 (timeStepping.ts's rk4Step). */
function scalarStep(meth: string, f: (x: number, t: number) => number, x: number, t: number, h: number): number {
  if (meth === 'euler') return x + h * f(x, t);
  return rk4Step((tt, [xx]) => [f(xx, tt)], t, [x], h)[0];
}

const lines = (...ls: string[]): string => ls.join('\n');
const errors = (ds: Diagnostic[]) => ds.filter((d) => d.severity === 'error');
const codes = (ds: Diagnostic[]) => ds.map((d) => [d.range.start.line, d.code, d.severity]);

function model(text: string): Model {
  const a = analyse(text);
  assert.deepEqual(errors(a.diagnostics), [], text);
  assert.ok(a.model);
  return a.model;
}

async function realised(m: Model) {
  const { tf } = await initBackend('cpu');
  return realiseMarkov(tf, m, initialParameters(tf, m));
}

/** A Markov variable's path in the (realised) model, sample n for step n. */
const pathOf = (m: Model, name: string) => {
  const t = m.tables?.find((d) => d.origin === 'markov' && d.name === name);
  assert.ok(t, name);
  return t.values;
};

describe('parsing', () => {
  const BODY = ['par a=1, b=2', "x' = -x + z", 'init x=1', 'loss = x(T)', '@ total=1, dt=0.1'];

  test('a row a line and an entry a line give the same chain; the diagonal is read and dropped', () => {
    const rows = model(lines('markov z 3', '{0} {a} {b*x}', '{1} {0} {2}', '{a+b} {3} {0}', ...BODY));
    const entries = model(
      lines('markov z 3', '{0}', '{a}', '{b*x}', '{1}', '{0}', '{2}', '{a+b}', '{3}', '{0}', ...BODY),
    );
    const [m] = rows.markov ?? [];
    assert.equal(m.states, 3);
    assert.equal(m.initial, 0);
    assert.deepEqual(
      m.rates.map((r) => r.map((e) => e?.kind)),
      [
        [undefined, 'name', 'binary'],
        ['number', undefined, 'number'],
        ['binary', 'number', undefined],
      ],
    );
    const strip = (x: unknown) => JSON.stringify(x, (k, v) => (k.endsWith('Range') || k === 'range' ? undefined : v));
    assert.equal(strip(entries.markov), strip(rows.markov));
    // XPPAUT's abbreviation `ma`, and the initial state from init.
    const ma = model(lines('ma z 2', '{0} {a}', '{b} {0}', 'init z=1', ...BODY));
    assert.equal(ma.markov?.[0].initial, 1);
    assert.ok(
      pathOf(ma, 'z').every((v) => v === 1),
      'the unrealised path holds the initial state',
    );
  });

  test('a table of the wrong size is one invalid-markov error on its markov line', () => {
    const short = analyse(lines('markov z 2', '{0} {a}', ...BODY));
    assert.deepEqual(codes(errors(short.diagnostics)), [[0, 'invalid-markov', 'error']]);
    assert.match(short.diagnostics.find((d) => d.code === 'invalid-markov')?.message ?? '', /2 rows of 2 .* it has 2$/);
    const none = analyse(lines('markov z 2', ...BODY));
    assert.deepEqual(codes(errors(none.diagnostics)), [[0, 'invalid-markov', 'error']]);
    // A line of three entries in a 2-state table, a row that starts inside a row, one line too many.
    const three = analyse(lines('markov z 2', '{0} {a} {b}', '{b} {0}', ...BODY));
    assert.deepEqual(codes(errors(three.diagnostics)), [[1, 'invalid-markov', 'error']]);
    assert.match(
      errors(three.diagnostics)[0].message,
      /one row \(2 \{formula\} entries\) or one entry; this one has 3/,
    );
    const inside = analyse(lines('markov z 2', '{0}', '{a} {b}', '{0}', ...BODY));
    assert.deepEqual(codes(errors(inside.diagnostics)), [[2, 'invalid-markov', 'error']]);
    assert.match(errors(inside.diagnostics)[0].message, /starts inside a row/);
    const extra = analyse(lines('markov z 2', '{0} {a}', '{b} {0}', '{1} {1}', ...BODY));
    assert.deepEqual(codes(errors(extra.diagnostics)), [[3, 'invalid-markov', 'error']]);
    // A number of states that is not a whole number from 1 to 50; a row without its markov line.
    for (const n of ['0', '2.5', '51', 'a'])
      assert.deepEqual(codes(errors(analyse(lines(`markov z ${n}`, '{0}', ...BODY)).diagnostics)), [
        [0, 'syntax-error', 'error'],
      ]);
    const stray = analyse(lines('par a=1', "x' = -a*x", '{0} {1}', 'loss = x(T)'));
    assert.deepEqual(codes(errors(stray.diagnostics)), [[2, 'syntax-error', 'error']]);
    assert.match(errors(stray.diagnostics)[0].message, /row of a Markov transition table/);
  });

  test('initial values that are no state, non-scalar rates, reads outside right-hand sides are errors', () => {
    const half = analyse(lines('markov z 2', '{0} {a}', '{b} {0}', 'init z=0.5', ...BODY));
    assert.deepEqual(codes(errors(half.diagnostics)), [[3, 'invalid-markov', 'error']]);
    const vector = analyse(lines('markov z 2', '{0} {[a, b]}', '{b} {0}', ...BODY));
    assert.deepEqual(codes(errors(vector.diagnostics)), [[1, 'invalid-markov', 'error']]);
    const inLoss = analyse(lines('markov z 2', '{0} {a}', '{b} {0}', 'par a=1, b=2', "x' = -x + z", 'loss = x(T) + z'));
    assert.deepEqual(codes(errors(inLoss.diagnostics)), [[5, 'not-constant', 'error']]);
    assert.match(errors(inLoss.diagnostics)[0].message, /'z' is a Markov variable/);
    const misspelt = analyse(lines('markov z 2', '{0} {aa}', '{b} {0}', ...BODY));
    assert.deepEqual(codes(errors(misspelt.diagnostics)), [[1, 'undefined-name', 'error']]);
  });

  test('a model the realisation cannot follow gets unsupported-markov on the markov line', () => {
    const events = analyse(lines('markov z 2', '{0} {a}', '{b} {0}', 'global 1 x-2 {x=0}', ...BODY));
    assert.deepEqual(codes(errors(events.diagnostics)), [[0, 'unsupported-markov', 'error']]);
    assert.match(errors(events.diagnostics)[0].message, /jumps of z: .* events/);
    const delay = analyse(lines('markov z 2', '{0} {a}', '{b} {0}', "y' = delay(x, 0.2) - y", '@ delay=1', ...BODY));
    assert.deepEqual(codes(errors(delay.diagnostics)), [[0, 'unsupported-markov', 'error']]);
    // XPPAUT's array of Markov variables (one table with [j] in it): refused once, its rows read and dropped.
    const array = analyse(
      lines('markov z[1..2] 2', '{0} {a*[j]}', '{b} {0}', 'par a=1, b=2', "x' = -x + z1 + z2", 'loss = x(T)'),
    );
    assert.deepEqual(codes(errors(array.diagnostics)), [[0, 'unsupported-markov', 'error']]);
    assert.match(errors(array.diagnostics)[0].message, /array of Markov variables .* not supported/);
  });
});

/** Two chains (one reads the other) driving one state, RK4 or Euler: XPPAUT's rule, re-implemented below. */
const CHAINS = (meth: 'rk4' | 'euler') =>
  lines(
    'par k=1, a=3, b=2, c=1.5',
    'markov q 3',
    '{0} {a*x^2} {0.5}',
    '{b} {0} {c*(1+q)}',
    '{1} {0} {0}',
    'markov s 2',
    '{0}',
    '{2*q}',
    '{1}',
    '{0}',
    "x' = -k*x + q - 0.5*s + sin(t)",
    'init x=0.5, q=1',
    'loss = x(T)^2',
    `@ total=200, dt=0.02, meth=${meth}, seed=7`,
  );

/** XPPAUT's update_markov/new_state and a float64 solve with each chain held through the step. */
function byHand(meth: 'rk4' | 'euler', N: number, h: number, seed: number) {
  const [k, a, b, c] = [1, 3, 2, 1.5];
  const rates = (x: number, q: number) => [
    [
      [0, a * x * x, 0.5],
      [b, 0, c * (1 + q)],
      [1, 0, 0],
    ],
    [
      [0, 2 * q],
      [1, 0],
    ],
  ];
  const coins = [markovCoins(seed, 'q'), markovCoins(seed, 'S')]; // names are case-insensitive
  const z = [1, 0];
  const paths: number[][] = [[], []];
  let x = 0.5;
  for (let n = 0; n < N; n++) {
    const t = n * h;
    const r = rates(x, z[0]);
    const next = z.map((row, i) => {
      const u = coins[i].uniform();
      let sum = 0;
      for (let j = 0; j < r[i].length; j++) {
        if (j === row) continue;
        sum += r[i][row][j] * h;
        if (u <= sum) return j;
      }
      return row;
    });
    z.splice(0, 2, ...next);
    paths[0].push(z[0]);
    paths[1].push(z[1]);
    const f = (xx: number, tt: number) => -k * xx + z[0] - 0.5 * z[1] + Math.sin(tt);
    x = scalarStep(meth, f, x, t, h);
  }
  return paths;
}

describe('the realisation', () => {
  test('follows XPPAUT’s rule: one coin per chain and step, rates at the step’s start (rk4, euler)', async () => {
    for (const meth of ['rk4', 'euler'] as const) {
      const m = model(CHAINS(meth));
      const r = await realised(m);
      const [q, s] = byHand(meth, 10000, 0.02, 7);
      assert.deepEqual(pathOf(r.model, 'q'), q, meth);
      assert.deepEqual(pathOf(r.model, 's'), s, meth);
      const jumps = (p: number[], from: number) => p.filter((v, n) => v !== (n === 0 ? from : p[n - 1])).length;
      assert.deepEqual(r.jumps, [jumps(q, 1), jumps(s, 0)]);
      assert.ok(r.jumps[0] >= 5 && r.jumps[1] >= 5, `a path with jumps: ${r.jumps}`);
      // The declared model is not changed: its path still holds the initial state.
      assert.ok(pathOf(m, 'q').every((v) => v === 1));
    }
  });

  test('the same seed draws the same path, another seed another; the check notes its jump count', async () => {
    const a = await realised(model(CHAINS('rk4')));
    const again = await realised(model(CHAINS('rk4')));
    const other = await realised(model(CHAINS('rk4').replace('seed=7', 'seed=8')));
    assert.deepEqual(pathOf(a.model, 'q'), pathOf(again.model, 'q'));
    assert.notDeepEqual(pathOf(a.model, 'q'), pathOf(other.model, 'q'));
    const report = await runCheck(model(CHAINS('rk4')), { backend: 'cpu', threads: 1 });
    const notes = report.findings.filter((f) => f.code === 'markov-realisation');
    assert.deepEqual(
      notes.map((f) => [f.range.start.line, f.severity]),
      [
        [1, 'information'],
        [5, 'information'],
      ],
    );
    assert.match(
      notes[0].message,
      new RegExp(`Markov variable q \\(3 states\\).* seed=7 .* ${a.jumps[0]} jumps in 10000 steps`),
    );
    assert.match(notes[0].message, /sample path with its jump times held .*not part of AD's gradient/);
  });
});

/** A two-state channel driving a relaxation: k and g enter the flow, a and b only the rates. */
const CHANNEL = (dt: number, meth = 'euler') =>
  lines(
    'par k=1.5, g=0.8, a=2, b=1',
    'markov z 2',
    '{0} {a*exp(x)}',
    '{b} {0}',
    "x' = -k*x + g*z",
    'init x=0.2',
    'loss = (x(T) - 0.3)^2',
    `@ total=4, dt=${dt}, meth=${meth}, seed=3`,
  );

/** The discrete loss of the frozen path in float64 (sample n on [t_n, t_{n+1}), as a check reads it). */
function frozenLoss(path: ArrayLike<number>, dt: number, meth: string, k: number, g: number): number {
  const N = path.length;
  const z = (t: number) => path[Math.min(Math.floor(t / dt + 1e-3), N - 1)];
  const f = (x: number, t: number) => -k * x + g * z(t);
  let x = 0.2;
  for (let n = 0; n < N; n++) {
    const t = n * dt;
    x = scalarStep(meth, f, x, t, dt);
  }
  return (x - 0.3) ** 2;
}

describe('gradients of the sample path', () => {
  test('AD agrees with float64 finite differences of the same path; rate-only parameters get none', async () => {
    for (const meth of ['euler', 'rk4']) {
      const m = model(CHANNEL(0.01, meth));
      const path = pathOf((await realised(m)).model, 'z');
      assert.ok(path.filter((v, n) => n > 0 && v !== path[n - 1]).length >= 3, 'jumps');
      const report = await runCheck(m, { backend: 'cpu', threads: 1 });
      const ad = (name: string) => report.parameters.find((p) => p.name === name)?.raw[0][0] ?? Number.NaN;
      const eps = 1e-6;
      const fdK =
        (frozenLoss(path, 0.01, meth, 1.5 + eps, 0.8) - frozenLoss(path, 0.01, meth, 1.5 - eps, 0.8)) / (2 * eps);
      const fdG =
        (frozenLoss(path, 0.01, meth, 1.5, 0.8 + eps) - frozenLoss(path, 0.01, meth, 1.5, 0.8 - eps)) / (2 * eps);
      for (const [name, fd] of [
        ['k', fdK],
        ['g', fdG],
      ] as const)
        assert.ok(Math.abs(ad(name) - fd) <= 2e-3 * Math.abs(fd), `${meth} ${name}: AD ${ad(name)} vs FD ${fd}`);
      assert.equal(ad('a'), 0);
      assert.equal(ad('b'), 0);
      const note = report.findings.find((f) => f.code === 'vanishing-gradient' && f.parameter === 'a');
      assert.match(note?.message ?? '', /read only by the transition rates of Markov variable z/);
      assert.equal(note?.severity, 'information');
    }
  });

  test('AD approaches the continuous reference of the path as dt shrinks (euler, heun)', async () => {
    // Rates so large past their switch times that a jump comes at the first step after them, whatever dt: every dt
    // draws the same path up to a step, so the gap between AD and the reference is the scheme's error, O(dt).
    const SWITCHED = (dt: number, meth: string) =>
      lines(
        'par k=1.5, g=0.8',
        'markov z 3',
        '{0} {1e6*heav(t-1.51)} {0}',
        '{0} {0} {1e6*heav(t-3.01)}',
        '{0} {0} {0}',
        "x' = -k*x + g*z*(2-z)*(1+x^2)",
        'init x=0.2',
        'loss = (x(T) - 0.3)^2',
        `@ total=4, dt=${dt}, meth=${meth}`,
      );
    for (const meth of ['euler', 'heun']) {
      let last: number[] | undefined;
      for (const dt of [0.02, 0.01, 0.005, 0.0025]) {
        const r = await runCheck(model(SWITCHED(dt, meth)), { backend: 'cpu', threads: 1 });
        assert.match(r.findings.find((f) => f.code === 'markov-realisation')?.message ?? '', / 2 jumps /);
        const errs = ['k', 'g'].map((n) => r.parameters.find((p) => p.name === n)?.metrics.relError ?? Number.NaN);
        if (last)
          errs.forEach((e, i) =>
            assert.ok(e < last![i] / 1.4, `${meth} ${['k', 'g'][i]} at dt ${dt}: ${e} after ${last![i]}`),
          );
        last = errs;
      }
      assert.ok(last && Math.max(...last) < 3e-3, `${meth}: ${last}`);
    }
  });

  test('training starts from the path a check draws at the same values', async () => {
    const m = model(CHANNEL(0.01));
    const report = await runCheck(m, { backend: 'cpu', threads: 1 });
    const trained = await train(m, { iterations: 1, backend: 'cpu' });
    assert.equal(trained.history[0].loss, report.loss);
    const path = pathOf((await realised(m)).model, 'z');
    assert.ok(Math.abs(report.loss - frozenLoss(path, 0.01, 'euler', 1.5, 0.8)) < 1e-5 * report.loss);
  });
});

test('export to PyTorch refuses a Markov variable by name (a module has no realisation of its chain)', () => {
  const m = model(CHANNEL(0.01));
  const rhs = m.equations[0].rhs;
  assert.throws(
    () => pythonExpression(rhs, { model: m, states: 'rhs' }),
    (e: unknown) =>
      e instanceof ExportError &&
      /^the Markov variable z \(one realisation of its chain, drawn by a check\) cannot be exported$/.test(e.message),
  );
});

describe('the editor', () => {
  test('the hover says it is a Markov variable with its states; completion offers it', () => {
    const doc = new ServiceDocument(CHANNEL(0.01));
    const h = hover(doc, { line: 1, character: 7 })?.markdown ?? '';
    assert.match(h, /Markov variable `z`.* 2 states \(0 … 1\)/);
    assert.match(h, /sample path with its jump times held/);
    const use = hover(doc, { line: 4, character: 14 })?.markdown ?? '';
    assert.match(use, /Markov variable `z`/);
    const labels = completion(doc, { line: 4, character: 15 }).items.map((i) => i.label);
    assert.ok(labels.includes('z'), labels.join(' '));
  });
});
