// XPPAUT constructs in the front end: pseudo-arrays (`x[1..n]' = … [j] …`,
// `%[..]` blocks), the constructs refused with one honest diagnostic (maps,
// Volterra integrals), DAEs, aux names with dots and
// derived parameters. Models are written for these tests in XPPAUT's words.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse, format, tokenize } from '../../solver/language/index';
import type { Analysis, Diagnostic, Expr, Model } from '../../solver/model';
import { simulate } from '../support/simulate';

const lines = (...ls: string[]): string => ls.join('\n');

function inRange(text: string, a: Analysis): void {
  const lengths = text.split(/\r\n|\r|\n/).map((l) => l.length);
  for (const d of a.diagnostics) {
    for (const p of [d.range.start, d.range.end]) {
      assert.ok(
        p.line >= 0 && p.line < lengths.length && p.character >= 0 && p.character <= lengths[p.line],
        `range outside the text: ${JSON.stringify(d)}`,
      );
    }
  }
  assert.equal(
    a.model === undefined,
    a.diagnostics.some((d) => d.severity === 'error'),
    'a model iff no error',
  );
}

/** Diagnostics other than the advice every small test model gets (no loss, plot options). */
function problems(a: Analysis): Diagnostic[] {
  return a.diagnostics.filter((d) => d.code !== 'default-loss' && d.severity !== 'hint');
}

function model(text: string): Model {
  const a = analyse(text);
  inRange(text, a);
  assert.deepEqual(problems(a), [], 'no problems expected');
  assert.ok(a.model);
  return a.model;
}

/** The leaves `pick` returns something for, left to right. */
function leaves<T>(e: Expr, pick: (x: Expr) => T | undefined): T[] {
  const out: T[] = [];
  const stack = [e];
  while (stack.length > 0) {
    const x = stack.pop() as Expr;
    const v = pick(x);
    if (v !== undefined) out.push(v);
    else if (x.kind === 'binary') stack.push(x.right, x.left);
    else if (x.kind === 'unary') stack.push(x.operand);
    else if (x.kind === 'call') stack.push(...[...x.args].reverse());
    else if (x.kind === 'index') stack.push(x.target);
  }
  return out;
}
const namesIn = (e: Expr): string[] => leaves(e, (x) => (x.kind === 'name' ? x.name : undefined));
const numbersIn = (e: Expr): number[] => leaves(e, (x) => (x.kind === 'number' ? x.value : undefined));

describe('XPPAUT arrays: parse', () => {
  test('`0..9` lexes as a number, `..`, a number (not 0. and .9)', () => {
    assert.deepEqual(
      tokenize('x[0..9]')
        .map((t) => t.text)
        .slice(0, 6),
      ['x', '[', '0', '..', '9', ']'],
    );
    assert.deepEqual(
      tokenize('a=0.5')
        .map((t) => t.text)
        .slice(0, 3),
      ['a', '=', '0.5'],
    );
  });

  test("x[1..4]' = -x[j] + [j] is four equations x1' = -x1 + 1, …", () => {
    const m = model(lines("x[1..4]' = -x[j] + [j]", 'init x[1..4]=0'));
    assert.deepEqual(
      m.states.map((s) => [s.name, s.shape]),
      [
        ['x1', []],
        ['x2', []],
        ['x3', []],
        ['x4', []],
      ],
    );
    assert.deepEqual(
      m.equations.map((e) => [e.state, namesIn(e.rhs), numbersIn(e.rhs)]),
      [
        ['x1', ['x1'], [1]],
        ['x2', ['x2'], [2]],
        ['x3', ['x3'], [3]],
        ['x4', ['x4'], [4]],
      ],
    );
  });

  test('[j+n], [j-n], [j*n] in names and as numbers; a descending range runs downwards', () => {
    const m = model(lines("u[3..1]' = u[j-1] + u[j+1] - 2*u[j] + [j*2]", "u0' = 0", "u4' = 0"));
    assert.deepEqual(
      m.equations.slice(0, 3).map((e) => [e.state, namesIn(e.rhs), numbersIn(e.rhs)]),
      [
        ['u3', ['u2', 'u4', 'u3'], [2, 6]],
        ['u2', ['u1', 'u3', 'u2'], [2, 4]],
        ['u1', ['u0', 'u2', 'u1'], [2, 2]],
      ],
    );
  });

  test('%[1..2] … % repeats the block element by element, in XPPAUT order', () => {
    const m = model(lines("x0' = -x0", '%[1..2]', "x[j]' = x[j-1] - x[j]", "y[j]' = x[j]", '%'));
    assert.deepEqual(
      m.equations.map((e) => e.state),
      ['x0', 'x1', 'y1', 'x2', 'y2'],
    );
  });

  test('array fixed quantities, aux, par and x[..](0) initial values', () => {
    const text = lines(
      'par k[0..1]=2, c[j]=[j]',
      'r[0..1]=k[j]*x[j] + c[j]',
      "x[0..1]' = -r[j]",
      'x[0..1](0)=[j]+1',
      'aux e[0..1]=x[j]^2',
    );
    const a = analyse(text);
    inRange(text, a);
    assert.ok(a.model);
    assert.deepEqual(
      a.model.params.map((p) => p.name),
      ['k0', 'c0', 'k1', 'c1'],
    );
    assert.deepEqual(
      a.model.states.map((s) => [s.name, s.init && numbersIn(s.init)]),
      [
        ['x0', [0, 1]],
        ['x1', [1, 1]],
      ],
    );
    // The aux line is one note, not one per element, and says why the check can leave it out.
    const aux = a.diagnostics.filter((d) => d.code === 'unsupported');
    assert.equal(aux.length, 1, JSON.stringify(aux));
    assert.equal(aux[0].severity, 'information');
    assert.match(
      aux[0].message,
      /^Auxiliary output 'e0' is for XPPAUT's plots and data: the gradient check does not need it/,
    );
    assert.match(aux[0].message, /e0.*1 more element of this array line/);
  });

  test('u[3] on an ordinary line is the name u3 when no u is declared (XPPAUT reads it so)', () => {
    const m = model(lines("u[0..3]' = -u[j]", "y' = u[3] - y"));
    assert.deepEqual(namesIn(m.equations[4].rhs), ['u3', 'y']);
    // A declared tensor keeps ODE Lens's indexing.
    const t = model(lines('state v[2], y', "v' = -v", 'init v = [1, 2]', "y' = v[1]"));
    assert.equal(t.equations[1].rhs.kind, 'index');
  });

  test('the formatter leaves array lines as written and glues `..`', () => {
    const text = lines("x[0..2]' = -x[j]+x[j+1]", 'x3=0', '!d=2', 'aux P.E.=x0^2');
    const once = format(text);
    assert.equal(once.split('\n')[0], "x[0..2]' = -x[j]+x[j+1]");
    assert.equal(once.split('\n')[2], '!d = 2');
    assert.equal(once.split('\n')[3], 'aux P.E. = x0^2');
    assert.equal(format(once), once);
  });
});

describe('XPPAUT arrays: diagnostics', () => {
  const only = (text: string): Diagnostic[] => {
    const a = analyse(text);
    inRange(text, a);
    return problems(a);
  };

  test('a problem shared by every element is reported once on the array line', () => {
    const ds = only(lines("x[0..9]' = -k*x[j]", 'init x[0..9]=1'));
    assert.deepEqual(
      ds.map((d) => [d.code, d.range.start.line, d.range.start.character]),
      [['undefined-name', 0, 12]],
    );
  });

  test('a problem of some elements names the first and counts the rest', () => {
    const ds = only(lines("x[0..3]' = x[j+2] - x[j]"));
    assert.deepEqual(
      ds.map((d) => d.code),
      ['undefined-name'],
    );
    assert.match(ds[0].message, /'x4'.*1 more element/);
  });

  test('a negative index in a name is an error for the element that has it, once', () => {
    const ds = only(lines("u[0..5]' = u[j-1] - u[j]"));
    assert.equal(ds.length, 1, JSON.stringify(ds));
    assert.equal(ds[0].code, 'syntax-error');
    assert.match(ds[0].message, /j = 0, u\[…\] has the index -1/);
    assert.deepEqual([ds[0].range.start.character, ds[0].range.end.character], [11, 17]);
  });

  test('malformed ranges, blocks and [j] outside an array', () => {
    const cases: [string, RegExp][] = [
      ["x[0..a]' = 1", /two whole numbers/],
      ["x[0..2]' = y[0..2]", /one index range/],
      ["x[1..20000]' = 1", /at most 10000/],
      ["x' = y[j]", /only has a value on an array line/],
      ["x[0..2]' = x[j/2]", /\[j\], \[j\+n\], \[j-n\] or \[j\*n\]/],
      ["x[0..2]' = -x[j]+[j", /index \[j… is not closed: a '\]' is missing/],
      ['%', /none is open/],
      ["%[1..2]\nx[j]' = 1", /not closed/],
    ];
    for (const [text, message] of cases) {
      const ds = only(text).filter((d) => d.severity === 'error');
      assert.equal(ds.length, 1, `${text}: ${JSON.stringify(ds)}`);
      assert.match(ds[0].message, message, text);
    }
  });
});

describe('XPPAUT arrays and derived parameters: simulation', () => {
  test("x[0..2]' = -a*x[j] + [j]: x_j(t) = j/a + (x_j(0) - j/a) e^(-a t)", async () => {
    const m = model(
      lines('par a=2', "x[0..2]' = -a*x[j] + [j]", 'init x[0..2]=1', 'loss = x0(T)', '@ total=1, dt=0.01, meth=rk4'),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    for (const j of [0, 1, 2]) {
      const exact = j / 2 + (1 - j / 2) * Math.exp(-2);
      assert.ok(
        Math.abs(traj.states[`x${j}`][100][0] - exact) < 1e-5,
        `x${j}(1) = ${traj.states[`x${j}`][100][0]}, exact ${exact}`,
      );
    }
  });

  test("a %[..] chain x_j' = x_(j-1) - x_j from x0 = e^-t gives x_j = t^j e^-t / j!", async () => {
    const m = model(
      lines(
        "x0' = -x0",
        '%[1..3]',
        "x[j]' = x[j-1] - x[j]",
        'init x[j]=0',
        '%',
        'init x0=1',
        'loss = x3(T)',
        '@ total=2, dt=0.01, meth=rk4',
      ),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    const t = 2;
    for (const [j, fact] of [
      [1, 1],
      [2, 2],
      [3, 6],
    ]) {
      const exact = (t ** j * Math.exp(-t)) / fact;
      assert.ok(
        Math.abs(traj.states[`x${j}`][200][0] - exact) < 1e-5,
        `x${j}(2) = ${traj.states[`x${j}`][200][0]}, exact ${exact}`,
      );
    }
  });

  test("!d = 1/(h*h) is a quantity of the parameters: x' = -d*x decays as e^(-t/h²)", async () => {
    const m = model(
      lines('par h=2', '!d=1/(h*h)', "x' = -d*x", 'init x=1', 'loss = x(T)', '@ total=2, dt=0.02, meth=rk4'),
    );
    const traj = await simulate(m, { backend: 'cpu' });
    assert.ok(Math.abs(traj.states.x[100][0] - Math.exp(-0.5)) < 1e-5, String(traj.states.x[100][0]));
  });
});

describe('XPPAUT constructs refused with one diagnostic on their own line', () => {
  test('names read only by a refused line (or by a function it calls) are not reported as never used', () => {
    const text = lines('f(u) = r*u*(1-u)', 'g(u) = f(u)', 'par r=3.5, s=1', 'x(t+1) = g(x)', 'init x=0.1', "y' = -y");
    const a = analyse(text);
    inRange(text, a);
    assert.deepEqual(
      a.diagnostics.filter((d) => d.code === 'unused-name').map((d) => d.message),
      ["The parameter 's' is never used"],
    );
  });

  test('DAEs: 0 = … with solve/solv are checked (test/unit/dae.test.ts), an unmatched count is one error per 0 = line', () => {
    const a = analyse(lines("x' = -y", '0 = y + exp(y) - x', 'solve y=-0.5', 'init x=0'));
    inRange(lines("x' = -y", '0 = y + exp(y) - x', 'solve y=-0.5', 'init x=0'), a);
    assert.ok(a.model?.algebraic, JSON.stringify(a.diagnostics));
    const text = lines("x' = -y", '0 = y - x', '0 = y + x', 'solv y=0');
    const b = analyse(text);
    inRange(text, b);
    assert.deepEqual(
      b.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.range.start.line, d.code]),
      [
        [1, 'dae-equations'],
        [2, 'dae-equations'],
      ],
    );
  });

  test('Volterra integrals int{…} in a Volterra equation or an ODE: checked, with one note', () => {
    for (const text of [
      lines('u(t) = exp(-t) + int{exp(-t)#u}', "y' = u - y"),
      lines("y' = -y + a*int{exp(-(t-t'))*y}", 'par a=1', 'init y=1'),
    ]) {
      const a = analyse(text);
      inRange(text, a);
      assert.ok(a.model, JSON.stringify(a.diagnostics));
      assert.deepEqual(
        a.diagnostics.filter((d) => d.code === 'volterra-model').map((d) => d.range.start.line),
        [0],
      );
    }
    assert.ok(analyse(lines('u(t) = int[2]{exp(-t)#u}')).diagnostics.some((d) => d.code === 'volterra-kernel'));
  });

  test('aux names may hold dots (aux P.E.=…): one aux note, nothing else', () => {
    const a = analyse(lines("x' = -x", 'aux P.E.=x^2', 'aux T.E=x', 'loss = x(T)'));
    assert.deepEqual(
      a.diagnostics.map((d) => [d.range.start.line, d.code]),
      [
        [1, 'unsupported'],
        [2, 'unsupported'],
      ],
    );
    assert.match(a.diagnostics[0].message, /'P\.E\.'/);
    assert.ok(a.model);
  });
});

describe('XPPAUT names and lists', () => {
  test('per and shared are names where XPPAUT files use them (par per=6.67); per-step still modifies', () => {
    const m = model(lines('par per=6.67, shared=2', "x' = -x/per + shared", "per2' = 0"));
    assert.deepEqual(
      m.params.map((p) => [p.name, p.perStep]),
      [
        ['per', false],
        ['shared', false],
      ],
    );
    const s = model(lines('param w per-step = 1', "x' = -w*x", 'loss = x(T)'));
    assert.equal(s.params[0].perStep, true);
  });

  test('aux ica=ica: an output may share the name of the fixed quantity it shows', () => {
    const a = analyse(lines('ica = 2*v', "v' = -ica", 'aux ica=ica', 'aux early=v', 'loss = v(T)'));
    assert.deepEqual(
      a.diagnostics.map((d) => d.code),
      ['unsupported', 'unsupported'],
    );
    assert.ok(a.model);
    // An aux name is still not a name formulas can read.
    const b = analyse(lines("v' = -out", 'aux out=v'));
    assert.ok(b.diagnostics.some((d) => d.code === 'undefined-name' && /auxiliary output/.test(d.message)));
  });

  test('par, init and number lists: commas, spaces, tabs, a trailing comma', () => {
    for (const decl of ['par a=1,b=2', 'par a=1 b=2', 'p a=1\tb=2', 'par a=1 ,b=2', 'par a=1, b=2,']) {
      const m = model(lines(decl, 'number c=1, k=3,', "x' = a + b - c*x", 'init x=1 , y=2,', "y' = -k*y"));
      assert.deepEqual(
        m.params.map((p) => p.name),
        ['a', 'b'],
        decl,
      );
      assert.deepEqual(
        m.states.map((s) => s.name),
        ['x', 'y'],
      );
    }
  });
});

describe('XPPAUT arrays as tensor states', () => {
  // A diffusion chain of N compartments with closed ends, a source [j]-dependent rate and
  // an elementwise user function: N ≥ 33 scalar states, so the arrays become tensors.
  const N = 40;
  const chain = lines(
    'par d=0.8, k=0.05',
    'g(x) = x/(1+x^2)',
    'rate[0..39] = k*[j]',
    "u0' = d*(u1-u0) - rate0*u0",
    "u[1..38]' = d*(u[j+1] - 2*u[j] + u[j-1]) - rate[j]*u[j] + g(u[j])/10",
    "u39' = d*(u38-u39) - rate39*u39",
    'init u[0..4]=1',
    'loss = u5(T)^2 + u39(T)',
    '@ total=2, dt=0.05, meth=rk4',
  );
  /** The same system by hand, in float64. */
  const rhs = (u: number[]): number[] =>
    u.map((x, j) => {
      const r = 0.05 * j;
      if (j === 0) return 0.8 * (u[1] - x) - r * x;
      if (j === N - 1) return 0.8 * (u[N - 2] - x) - r * x;
      return 0.8 * (u[j + 1] - 2 * x + u[j - 1]) - r * x + x / (1 + x * x) / 10;
    });
  const reference = (): number[] => {
    let u: number[] = Array.from({ length: N }, (_, j) => (j <= 4 ? 1 : 0));
    const h = 0.05;
    for (let n = 0; n < 40; n++) {
      const add = (a: number[], b: number[], c: number) => a.map((x, i) => x + c * b[i]);
      const k1 = rhs(u),
        k2 = rhs(add(u, k1, h / 2)),
        k3 = rhs(add(u, k2, h / 2)),
        k4 = rhs(add(u, k3, h));
      u = u.map((x, i) => x + (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    }
    return u;
  };

  test('a complete array family is one [N] state; the solve matches a float64 RK4 by hand', async () => {
    const m = model(chain);
    assert.deepEqual(
      m.states.map((s) => [s.name, s.shape]),
      [['u', [N]]],
    );
    const traj = await simulate(m, { backend: 'cpu' });
    const want = reference();
    const got = traj.states.u[40];
    for (let j = 0; j < N; j++)
      assert.ok(Math.abs(got[j] - want[j]) < 2e-6, `u${j}(2) = ${got[j]}, by hand ${want[j]}`);
  });

  test('what does not vectorise stays scalar, with the same meaning', async () => {
    const cases = [
      // sum() of a varying argument would reduce the vector: elementwise it is the element itself.
      chain.replace('+ g(u[j])/10', '+ sum(g(u[j]))/10'),
      // An incomplete family: u1 … u39 without u0.
      lines("u[1..39]' = -u[j]", 'init u[1..39]=1', 'loss = u1(T)'),
    ];
    for (const text of cases) {
      const a = analyse(text);
      assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
      assert.ok(
        a.model.states.every((s) => s.shape.length === 0),
        'scalar states',
      );
    }
    const traj = await simulate(analyse(cases[0]).model as Model, { backend: 'cpu' });
    const want = reference();
    for (let j = 0; j < N; j++) assert.ok(Math.abs(traj.states[`u${j}`][40][0] - want[j]) < 2e-6, `u${j}`);
  });

  test('small array models stay scalar (the engine runs them fused)', () => {
    const m = model(lines("x[0..9]' = -x[j]", 'init x[0..9]=1'));
    assert.equal(m.states.length, 10);
  });
});

describe('XPPAUT arrays: robustness', () => {
  const token = fc.constantFrom(
    'u',
    'v',
    'x',
    'a',
    '[0..3]',
    '[3..0]',
    '[0..39]',
    '[j]',
    '[j+1]',
    '[j-1]',
    '[j*2]',
    '[2]',
    '[j',
    '..',
    '%[1..2]\n',
    '%\n',
    '%',
    "'",
    ' = ',
    '=',
    '+',
    '*',
    '(',
    ')',
    '(0)',
    'init ',
    'aux ',
    'par ',
    '!',
    '.',
    '1',
    '0.5',
    ',',
    ' ',
    '\n',
    'sum(',
    ')of(',
    "i'",
    'int{',
    '}',
    'u0',
    'u39',
    "u0' = -u0\n",
    "u[1..39]' = u[j-1] - u[j]\n",
    'loss = u1(T)\n',
  );
  test('random array text never throws; diagnostics stay inside the text; a model iff no error', () => {
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (ts) => {
        const text = ts.join('');
        inRange(text, analyse(text));
        assert.equal(typeof format(text), 'string');
      }),
      { seed: 7, numRuns: 800 },
    );
  });
});
