// Unit tests of the full grammar (docs/language.md#grammar): indexing, if/then/else,
// comparisons, the added built-ins, data sets, user schemes, the new options,
// unused / shadowed / case diagnostics, and names that are also JavaScript
// prototype keys.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyse, BUILTIN_NAMES, LOWERED, evalConst } from '../../solver/language/index';
import type { Analysis, AnalysisContext, Diagnostic, Expr, Model, Range } from '../../solver/model';

const r = (l1: number, c1: number, l2: number, c2: number): Range => ({
  start: { line: l1, character: c1 },
  end: { line: l2, character: c2 },
});
const errors = (a: Analysis): Diagnostic[] => a.diagnostics.filter((d) => d.severity === 'error');

function only(a: Analysis, code: string): Diagnostic {
  const ds = a.diagnostics.filter((d) => d.code === code);
  assert.equal(ds.length, 1, `expected one '${code}' diagnostic, got: ${JSON.stringify(a.diagnostics, null, 1)}`);
  return ds[0];
}

function ok(text: string, context?: AnalysisContext): Model {
  const a = analyse(text, context);
  assert.deepEqual(errors(a), [], 'unexpected errors');
  assert.ok(a.model, 'expected a model');
  return a.model;
}

/** Every diagnostic is well formed: a string message, a code, a range inside the text. */
function wellFormed(text: string, a: Analysis): void {
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const d of a.diagnostics) {
    assert.equal(typeof d.message, 'string', JSON.stringify(d));
    assert.ok(d.message.length > 0 && !d.message.includes('undefined') && !d.message.includes('[object'), d.message);
    assert.ok(!/function \w*\(\)/.test(d.message), d.message);
    assert.ok(d.range.start.line >= 0 && d.range.end.line < lines);
  }
}

/** `x' = <rhs>` for a state x[3] with a matrix parameter A[2,3]. */
function rhsOf(expr: string): Expr {
  const m = ok(`state x[3]\nparam A[2,3] = 1\nx' = ${expr}\nloss = sum(x(T))`);
  return m.equations[0].rhs;
}

// ---- prototype keys ----------------------------------------------------------

describe('JavaScript prototype names are ordinary names', () => {
  const NAMES = [
    '__proto__',
    'constructor',
    'toString',
    'valueOf',
    'hasOwnProperty',
    'prototype',
    '__defineGetter__',
    'isPrototypeOf',
  ];
  for (const w of NAMES) {
    test(`'${w}' in every position`, () => {
      // At the start of a line: an unrecognised line, with a real message.
      const a1 = analyse(w);
      const d1 = only(a1, 'syntax-error');
      assert.match(d1.message, new RegExp(`Unrecognised line starting with '${w}'`));
      assert.deepEqual(d1.range, r(0, 0, 0, w.length));
      // As an option key: an unknown option, named as written.
      const a2 = analyse(`@ ${w}=1`);
      assert.match(only(a2, 'unknown-option').message, new RegExp(`Unknown option '${w.toLowerCase()}'`));
      // As a callee: an unknown function.
      const a3 = analyse(`x' = ${w}(1)\nloss = x(T)`);
      const d3 = only(a3, 'unknown-function');
      assert.match(d3.message, new RegExp(`Unknown function '${w}'`));
      assert.deepEqual(d3.range, r(0, 5, 0, 5 + w.length));
      // As option values: rejected, never silently accepted.
      const a4 = analyse(`x' = -x\nloss = x(T)\n@ meth=${w}, start=${w}, gradfix=${w}, grad=${w}, tie=${w}`);
      assert.equal(a4.model, undefined);
      assert.equal(errors(a4).length, 5, JSON.stringify(a4.diagnostics));
      assert.match(only(a4, 'unknown-scheme').message, new RegExp(`Unknown scheme '${w}'`));
      // As a declared name and as a scheme name: it works like any other.
      const m = ok(`par ${w}=2\nf(${w}) = ${w}*2\nx' = -${w}*f(x)\nloss = x(T)`);
      assert.equal(m.params[0].name, w);
      const ms = ok(`scheme ${w} rk a=[[0]] b=[1] c=[0]\nx' = -x\nloss = x(T)\n@ meth=${w}`);
      assert.equal(ms.options.meth, w);
      assert.equal(ms.schemes[0].name, w);
      // As a data name, a state, a function argument read in the loss.
      const md = ok(`state ${w}\n${w}' = -${w}\nloss = ${w}(T)`);
      assert.equal(md.states[0].name, w);
      for (const text of [
        w,
        `@ ${w}=1`,
        `x' = ${w}(1)`,
        `@ meth=${w}`,
        `x' = ${w}\nloss = x(T)`,
        `${w}(0) = 1`,
        `data ${w} = "${w}"`,
        `scheme ${w} ${w} ${w}=[1]`,
        `state x[2]\nx' = x[${w}]`,
        `init ${w}=1`,
        `${w}' = 1`,
      ]) {
        wellFormed(
          text,
          analyse(text, {
            readFile: () => {
              throw new Error('no files');
            },
          }),
        );
      }
    });
  }
});

// ---- expressions -------------------------------------------------------------

describe('indexing', () => {
  test('v[i] and A[i, j] (0-based) give the element, A[i] a row', () => {
    const e = rhsOf('x[2] + A[1, 0] + A[0]');
    assert.equal(e.kind, 'binary');
    const parts: Expr[] = [];
    const flat = (x: Expr): void => {
      if (x.kind === 'binary') {
        flat(x.left);
        flat(x.right);
      } else parts.push(x);
    };
    flat(e);
    assert.deepEqual(
      parts.map((p) => [p.kind, p.kind === 'index' ? p.indices : [], p.shape]),
      [
        ['index', [2], []],
        ['index', [1, 0], []],
        ['index', [0], [3]],
      ],
    );
    assert.deepEqual(e.shape, [3]);
    const first = parts[0] as Extract<Expr, { kind: 'index' }>;
    assert.deepEqual(first.range, r(2, 5, 2, 9));
    assert.equal(first.target.kind, 'name');
  });

  test('chained and on calls: A[1][2], x(T)[0]', () => {
    const m = ok("state x[3]\nparam A[2,3] = 1\nx' = A[1][2] * x\nloss = x(T)[0]");
    const lossExpr = m.loss?.expr;
    assert.equal(lossExpr?.kind, 'index');
    assert.deepEqual(lossExpr?.shape, []);
  });

  test('out of range: an error naming the shape, on the indexing', () => {
    const a = analyse("state x[3]\nx' = -x + x[3]\nloss = sum(x(T))");
    const d = only(a, 'index-out-of-range');
    assert.equal(d.message, 'Index 3 is out of range for shape [3]: indices count from 0, so dimension 1 takes 0 to 2');
    assert.deepEqual(d.range, r(1, 10, 1, 14));
    const b = analyse("state x[3]\nx' = -x + x[0, 1]\nloss = sum(x(T))");
    assert.equal(only(b, 'index-out-of-range').message, 'Too many indices: 2 given, but the shape [3] has 1 dimension');
    const c = analyse("x' = -x + x[0]\nloss = x(T)");
    assert.equal(only(c, 'index-out-of-range').message, 'A scalar cannot be indexed (it has shape [])');
  });

  test('indices are whole-number literals from 0', () => {
    const a = analyse("state x[3]\nx' = x[1.5]\nloss = sum(x(T))");
    assert.equal(only(a, 'syntax-error').message, "An index must be a whole number, found '1.5'");
    assert.deepEqual(only(a, 'syntax-error').range, r(1, 7, 1, 10));
    const b = analyse("state x[3]\nx' = x[-1]\nloss = sum(x(T))");
    assert.equal(only(b, 'syntax-error').message, 'Indices count from 0 and cannot be negative');
    const c = analyse("state x[3]\nx' = x[k]\nloss = sum(x(T))");
    assert.match(only(c, 'syntax-error').message, /Expected an index \(a whole number from 0\)/);
  });
});

describe('if/then/else, comparisons and logic', () => {
  test('if(c)then(a)else(b) gives an if node with the broadcast shape', () => {
    const e = rhsOf('if(x[0] > 1)then(-x)else(x)');
    assert.equal(e.kind, 'if');
    if (e.kind !== 'if') return;
    assert.deepEqual(e.shape, [3]);
    assert.equal(e.cond.kind, 'binary');
    assert.deepEqual(e.range, r(2, 5, 2, 32));
  });

  test('XPPAUT precedence: | below &, below comparisons, below + -', () => {
    const e = rhsOf('x[0] + 1 < 2 & x[1] >= 0 | x[2] != 1');
    assert.ok(e.kind === 'binary' && e.op === '|');
    if (e.kind !== 'binary') return;
    assert.ok(e.left.kind === 'binary' && e.left.op === '&');
    if (e.left.kind !== 'binary') return;
    assert.ok(e.left.left.kind === 'binary' && e.left.left.op === '<');
    if (e.left.left.kind !== 'binary') return;
    assert.ok(e.left.left.left.kind === 'binary' && e.left.left.left.op === '+');
    for (const op of ['<', '>', '<=', '>=', '==', '!=', '&', '|']) {
      const b = rhsOf(`x ${op} 1`);
      assert.ok(b.kind === 'binary' && b.op === op, op);
      assert.deepEqual(b.kind === 'binary' && b.opRange, r(2, 7, 2, 7 + op.length));
    }
  });

  test('the parts must broadcast: error on if, naming the shapes', () => {
    const a = analyse("state x[3]\nx' = if(x > 0)then([1, 2])else(x)\nloss = sum(x(T))");
    const d = only(a, 'shape-mismatch');
    assert.equal(d.message, 'The parts of if(c)then(a)else(b) do not broadcast: condition [3], then [2], else [3]');
    assert.deepEqual(d.range, r(1, 5, 1, 7));
    const b = analyse("x' = if(x > 0) -x\nloss = x(T)");
    assert.equal(only(b, 'syntax-error').message, "Expected 'then' in if(c)then(a)else(b), found '-'");
  });

  test('comparisons of mismatched shapes name both shapes and point at the operator', () => {
    const a = analyse("state x[3]\nx' = x + (x < [1, 2])\nloss = sum(x(T))");
    const d = only(a, 'shape-mismatch');
    assert.equal(d.message, "Shapes [3] and [2] do not broadcast for '<'");
    assert.deepEqual(d.range, r(1, 12, 1, 13));
  });

  test('constant folding knows comparisons, if and the new built-ins', () => {
    const m = ok("number k = if(2 > 1 & 0 | 1)then(max(3, mod(-1, 4)))else(0)\nx' = -k*x\nloss = x(T)");
    const rhs = m.equations[0].rhs;
    const vals: number[] = [];
    const find = (e: Expr): void => {
      if (e.kind === 'number') vals.push(e.value);
      if (e.kind === 'binary') {
        find(e.left);
        find(e.right);
      }
      if (e.kind === 'unary') find(e.operand);
    };
    find(rhs);
    assert.ok(vals.includes(3), JSON.stringify(vals));
    assert.equal(
      evalConst({
        kind: 'call',
        callee: 'heav',
        args: [{ kind: 'number', value: 0, range: r(0, 0, 0, 0) }],
        range: r(0, 0, 0, 0),
        calleeRange: r(0, 0, 0, 0),
      }),
      1,
    );
  });
});

describe('built-ins', () => {
  test('every built-in checks with its arity; two-argument ones broadcast', () => {
    assert.ok(BUILTIN_NAMES.length >= 21);
    for (const name of ['heav', 'max', 'min', 'mod', 'floor', 'abs', 'sign', 'ceil', 'atan', 'atan2'])
      assert.ok(BUILTIN_NAMES.includes(name as never), name);
    const two = new Set(['max', 'min', 'mod', 'atan2']);
    for (const name of BUILTIN_NAMES) {
      const args = two.has(name) ? 'x, 2' : 'x';
      const e = rhsOf(name === 'sum' ? `x + ${name}(${args})` : `${name}(${args})`);
      assert.deepEqual(e.shape, [3], name);
      const bad = analyse(`state x[3]\nx' = x + ${name}(${two.has(name) ? 'x' : 'x, x'})\nloss = sum(x(T))`);
      assert.match(
        only(bad, 'bad-arity').message,
        new RegExp(`^${name}\\(…\\) takes ${two.has(name) ? 2 : 1} argument`),
        name,
      );
    }
    const mm = analyse("state x[3]\nx' = max(x, [1, 2])\nloss = sum(x(T))");
    assert.equal(only(mm, 'shape-mismatch').message, 'The arguments of max(…) do not broadcast: [3] and [2]');
    assert.deepEqual(only(mm, 'shape-mismatch').range, r(1, 5, 1, 8));
  });

  test('XPPAUT flr and ln are rewritten; pi is a constant', () => {
    const e = rhsOf('flr(x) + ln(x) + pi');
    const callees: string[] = [];
    const nums: number[] = [];
    const walk = (x: Expr): void => {
      if (x.kind === 'call') {
        callees.push(x.callee);
        x.args.forEach(walk);
      }
      if (x.kind === 'binary') {
        walk(x.left);
        walk(x.right);
      }
      if (x.kind === 'number') nums.push(x.value);
    };
    walk(e);
    assert.deepEqual(callees, ['floor', 'log']);
    assert.deepEqual(nums, [Math.PI]);
  });
});

// ---- data ---------------------------------------------------------------------

describe('data sets', () => {
  const files: Record<string, string> = {
    '/w/obs.csv': 't,a,b\n0.25,1,2\n0.5,3,4\n1,5,6\n',
    '/w/nohead.csv': '0.5, 1\n1, 2\n',
    '/w/bad.csv': 't,a\n0.5,1\n1,oops\n',
    '/w/ragged.csv': 't,a\n0.5,1\n1,2,3\n',
    '/w/order.csv': 't,a\n0.5,1\n0.25,2\n',
    '/w/late.csv': 't,a\n0.5,1\n3,2\n',
    '/w/empty.csv': '',
  };
  const context: AnalysisContext = {
    documentPath: '/w/model.ode',
    workspaceRoot: '/w',
    readFile: (p) => {
      if (p === '/w/locked.csv') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      const t = Object.hasOwn(files, p) ? files[p] : undefined;
      if (t === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return t;
    },
  };
  const model = (path: string, loss = 'sum((x(obs) - obs)^2)'): string =>
    `data obs = "${path}"\nstate x[2]\nx' = -x\nloss = ${loss}`;

  test('a CSV with a header: times, columns, values; x(obs) is [K, 2], obs is [K, 2]', () => {
    const m = ok(model('obs.csv'), context);
    assert.equal(m.data.length, 1);
    const d = m.data[0];
    assert.deepEqual(
      [d.name, d.path, d.resolvedPath, d.times, d.columns, d.values],
      [
        'obs',
        'obs.csv',
        '/w/obs.csv',
        [0.25, 0.5, 1],
        ['a', 'b'],
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ],
    );
    assert.deepEqual(d.pathRange, r(0, 11, 0, 20));
    const loss = m.loss?.expr;
    assert.ok(loss?.kind === 'call');
    if (loss?.kind !== 'call') return;
    const diff = (loss.args[0] as Extract<Expr, { kind: 'binary' }>).left as Extract<Expr, { kind: 'binary' }>;
    assert.equal(diff.left.kind, 'stateAtData');
    assert.deepEqual(diff.left.shape, [3, 2]);
    assert.deepEqual(diff.left.kind === 'stateAtData' && [diff.left.state, diff.left.data], ['x', 'obs']);
    assert.deepEqual(diff.right, { kind: 'name', name: 'obs', range: r(3, 21, 3, 24), shape: [3, 2] });
  });

  test('a scalar state against one data column: [K] - [K, 1] is flagged, not silently [K, K]', () => {
    const a = analyse(`data obs = "nohead.csv"\nx' = -x\nloss = sum((x(obs) - obs)^2)`, context);
    const d = only(a, 'broadcast-outer');
    assert.equal(d.severity, 'warning');
    assert.match(d.message, /^Shapes \[2\] and \[2, 1\] broadcast to \[2, 2\] for '-', larger than either/);
    assert.deepEqual(d.range, r(2, 19, 2, 20));
  });

  test('without a header the first column is the time', () => {
    const m = ok(model('nohead.csv', 'sum(x(obs)[0] - obs[0])'), context);
    assert.deepEqual([m.data[0].times, m.data[0].columns, m.data[0].values], [[0.5, 1], ['v1'], [[1], [2]]]);
  });

  test('shape mismatch between the state at the data and the values', () => {
    const a = analyse(`data obs = "obs.csv"\nstate x[3]\nx' = -x\nloss = sum((x(obs) - obs)^2)`, context);
    const d = only(a, 'shape-mismatch');
    assert.equal(d.message, "Shapes [3, 3] and [3, 2] do not broadcast for '-'");
    assert.deepEqual(d.range, r(3, 19, 3, 20));
  });

  const cases: [string, string, RegExp][] = [
    ['missing.csv', 'data-file', /^Data 'obs': file "missing.csv" not found \(looked for \/w\/missing.csv\)$/],
    ['locked.csv', 'data-file', /^Data 'obs': cannot read "locked.csv" \(EACCES: permission denied\)$/],
    ['../outside.csv', 'data-outside-workspace', /^Data 'obs': "..\/outside.csv" is outside the workspace \(\/w\)/],
    ['/etc/passwd', 'data-outside-workspace', /is outside the workspace/],
    ['bad.csv', 'data-malformed', /^Data 'obs': row 3, column 'a': 'oops' is not a finite number$/],
    ['ragged.csv', 'data-malformed', /is not a valid CSV file/],
    ['order.csv', 'data-malformed', /^Data 'obs': row 3: the times must increase \(t = 0.25 after t = 0.5\)$/],
    ['late.csv', 'data-malformed', /^Data 'obs': row 3: time 3 is outside the solved interval \[0, 1\]/],
    ['empty.csv', 'data-malformed', /is empty/],
    ['', 'data-file', /the file name is empty/],
  ];
  for (const [path, code, message] of cases) {
    test(`"${path}": ${code} on the path`, () => {
      const a = analyse(model(path), context);
      const d = only(a, code);
      assert.match(d.message, message);
      assert.deepEqual(d.range, r(0, 11, 0, 13 + path.length));
      assert.equal(a.model, undefined);
      // One mistake, one diagnostic: uses of the data set are not reported again.
      assert.equal(errors(a).length, 1, JSON.stringify(a.diagnostics));
    });
  }

  test('syntax: a quoted path is required; data is only read in the loss', () => {
    assert.equal(
      only(analyse('data obs = obs.csv'), 'syntax-error').message,
      'Expected the data file as a quoted path, e.g. "observations.csv", found \'obs\'',
    );
    assert.equal(
      only(analyse('data obs = "obs.csv'), 'syntax-error').message,
      'The file name is missing its closing quote "',
    );
    // A broken data line declares its name: its uses are not reported again.
    const broken = analyse("data obs = obs.csv\nstate x[2]\nx' = -x\nloss = sum(x(obs) - obs)");
    assert.equal(errors(broken).length, 1, JSON.stringify(broken.diagnostics));
    const a = analyse(`data obs = "obs.csv"\nstate x[2]\nx' = -x + obs[0]\nloss = sum(x(obs) - obs)`, context);
    assert.equal(only(a, 'data-outside-loss').message, "The data set 'obs' can only be used in the loss");
    assert.deepEqual(only(a, 'data-outside-loss').range, r(2, 10, 2, 13));
    const b = analyse(`data obs = "obs.csv"\nstate x[2]\nx' = -x\nloss = sum(x(T))`, context);
    assert.equal(only(b, 'unused-name').message, "The data set 'obs' is never used");
  });

  test('real files: read through the file system, inside the workspace only', () => {
    // The repository's own package.json is not a valid data file: a malformed-data diagnostic, not a crash.
    const a = analyse(`data obs = "package.json"\nstate x\nx' = -x\nloss = sum(x(obs) - obs)`, {
      workspaceRoot: process.cwd(),
    });
    assert.ok(
      a.diagnostics.some((d) => d.code === 'data-malformed' || d.code === 'data-file'),
      JSON.stringify(a.diagnostics),
    );
  });
});

// ---- schemes and options -------------------------------------------------------

describe('user-defined schemes', () => {
  test('rk and lmm schemes with expression coefficients; meth selects one', () => {
    const m = ok(
      "scheme Ralston2 rk a=[[0, 0], [2/3, 0]] b=[1/4, 3/4] c=[0, 2/3]\nscheme myab lmm alpha=[0, -1, 1] beta=[-1/2, 3/2, 0]\nx' = -x\nloss = x(T)\n@ meth=ralston2",
    );
    assert.equal(m.options.meth, 'Ralston2');
    assert.deepEqual(m.schemes[0], {
      kind: 'rk',
      name: 'Ralston2',
      a: [
        [0, 0],
        [2 / 3, 0],
      ],
      b: [0.25, 0.75],
      c: [0, 2 / 3],
      range: r(0, 0, 0, 63),
      nameRange: r(0, 7, 0, 15),
    });
    assert.deepEqual(m.schemes[1], {
      kind: 'lmm',
      name: 'myab',
      alpha: [0, -1, 1],
      beta: [-0.5, 1.5, 0],
      range: r(1, 0, 1, 52),
      nameRange: r(1, 7, 1, 11),
    });
  });

  const bad: [string, string, string][] = [
    [
      'scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2,0] c=[0,1]',
      'a must be a 3×3 matrix for 3 stages (b has 3 entries), but it is a matrix [2, 2]',
      '[[0,0],[1,0]]',
    ],
    [
      'scheme s rk a=[[0,0],[1,0]] b=[[1/2,1/2]] c=[0,1]',
      'b must be a vector of stage weights, but it is a matrix [1, 2]',
      '[[1/2,1/2]]',
    ],
    [
      'scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2] c=[0]',
      'c must be a vector of 2 stage times (b has 2 entries), but it is a vector [1]',
      'c=|[0]',
    ],
    [
      'scheme s rk a=[[0,1],[1,0]] b=[1/2,1/2] c=[0,1]',
      'Only explicit Runge–Kutta schemes are supported: a must be strictly lower triangular, but a[0, 1] = 1',
      '[[0,1],[1,0]]',
    ],
    ['scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2]', "The scheme 's' needs c=[…]", 'scheme |s'],
    [
      'scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2] c=[0,1] d=[1]',
      "Unknown coefficient 'd' for an rk scheme; expected a=, b=, c=",
      '1] |d',
    ],
    ['scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2] b=[0,1] c=[0,1]', "The coefficient 'b' is given twice", '1/2] |b'],
    [
      'scheme s lmm alpha=[1] beta=[0]',
      'alpha must be a vector of at least 2 coefficients (oldest first), but it is a vector [1]',
      'alpha=|[1]',
    ],
    [
      'scheme s lmm alpha=[-1,1] beta=[1]',
      'beta must be a vector of 2 coefficients, like alpha, but it is a vector [1]',
      'beta=|[1]',
    ],
    [
      'scheme s lmm alpha=[-1,1] beta=[1/2,1/2]',
      'Only explicit multistep schemes are supported: the last (newest) beta coefficient must be 0, found 0.5',
      'beta=|[1/2,1/2]',
    ],
    ['scheme s lmm alpha=[-1,0] beta=[1,0]', 'The last (newest) alpha coefficient must not be 0', 'alpha=|[-1,0]'],
    ['scheme rk4 rk a=[[0]] b=[1] c=[0]', "'rk4' is a built-in scheme; give your scheme another name", 'scheme |rk4'],
  ];
  // The third column is the text the diagnostic must cover; `before|text` finds it after `before`.
  for (const [line, message, marker] of bad) {
    const [before, target] = marker.includes('|') ? marker.split('|') : ['', marker];
    const found = line.indexOf(before + target);
    assert.ok(found >= 0, marker);
    const at = found + before.length;
    const range = r(0, at, 0, at + target.length);
    test(`${line} → ${message}`, () => {
      const a = analyse(`${line}\nx' = -x\nloss = x(T)\n@ meth=s`);
      const es = errors(a).filter((d) => d.code !== 'unknown-scheme');
      assert.equal(es.length, 1, JSON.stringify(a.diagnostics));
      assert.equal(es[0].message, message);
      assert.deepEqual(es[0].range, range);
    });
  }

  test('syntax errors: the kind of scheme; a broken scheme line does not make meth= fail again', () => {
    const a = analyse("scheme s xyz a=[1]\nx' = -x\nloss = x(T)\n@ meth=s");
    assert.equal(errors(a).length, 1);
    assert.equal(
      errors(a)[0].message,
      "Expected the kind of scheme after 's': rk (Runge–Kutta) or lmm (linear multistep), found 'xyz'",
    );
    assert.deepEqual(errors(a)[0].range, r(0, 9, 0, 12));
  });

  test('an unused scheme is a warning on its name', () => {
    const a = analyse("scheme s rk a=[[0]] b=[1] c=[0]\nx' = -x\nloss = x(T)");
    const d = only(a, 'unused-name');
    assert.equal(d.message, "The scheme 's' is never used; select it with @ meth=s");
    assert.deepEqual(d.range, r(0, 7, 0, 8));
  });
});

describe('options start, grad, tie, gradfix, meth', () => {
  const base = "x' = -x\nloss = x(T)\n";
  test('valid values', () => {
    const m = ok(`${base}@ meth=ab2, start=RK4, grad=adjoint, tie=stage, gradfix=stagesum`);
    assert.deepEqual(
      [m.options.meth, m.options.start, m.options.grad, m.options.tie, m.options.gradfix],
      ['ab2', 'rk4', 'adjoint', 'stage', 'stagesum'],
    );
    for (const g of ['none', 'average', 'filter121', 'adjoint121', 'stagesum'])
      assert.equal(ok(`${base}@ gradfix=${g}`).options.gradfix, g);
    assert.equal(ok(`${base}@ start=rungekutta`).options.start, 'rk4');
  });

  const bad: [string, string, string][] = [
    [
      'start=leapfrog',
      'invalid-option',
      'start=leapfrog: the start steps need a one-step built-in scheme (one of euler, heun, midpoint, ralston, rk4)',
    ],
    [
      'start=eulr',
      'invalid-option',
      "start=eulr: the start steps need a one-step built-in scheme — did you mean 'euler'? (one of euler, heun, midpoint, ralston, rk4)",
    ],
    [
      'grad=adjont',
      'invalid-option',
      "grad=adjont: unknown gradient engine — did you mean 'adjoint'? (ad: AD through the solver; adjoint: the continuous adjoint)",
    ],
    [
      'tie=stages',
      'invalid-option',
      "tie=stages: per-step parameters are tied per step or per stage — did you mean 'stage'? (one of step, stage)",
    ],
    [
      'meth=rungekuta',
      'unknown-scheme',
      "Unknown scheme 'rungekuta' — did you mean 'rungekutta'? (known schemes: euler, heun, midpoint, ralston, rk4, leapfrog, ab2, ab3, milne, backeul, discrete); XPPAUT would read only its first character, which selects rungekutta",
    ],
  ];
  for (const [setting, code, message] of bad) {
    test(`@ ${setting}`, () => {
      const a = analyse(`${base}@ ${setting}`);
      const d = only(a, code);
      assert.equal(d.message, message);
      const eq = setting.indexOf('=');
      assert.deepEqual(d.range, r(2, 3 + eq, 2, 2 + setting.length));
    });
  }

  test('XPPAUT adams maps to ab3 with a note', () => {
    const a = analyse(`${base}@ meth=adams`);
    assert.equal(a.model?.options.meth, 'ab3');
    assert.match(only(a, 'scheme-alias').message, /^meth=adams: XPPAUT's adams is a 4th-order/);
    assert.equal(only(a, 'scheme-alias').severity, 'information');
  });
});

// ---- names -----------------------------------------------------------------------

describe('unused, shadowed and case-differing names', () => {
  test('unused parameter, number, fixed quantity, function: a warning on the name', () => {
    const a = analyse("par a=1, b=2\nnumber c=3\nk = 2*a\ng(u) = u\nx' = -a*x\nloss = x(T)");
    const ds = a.diagnostics.filter((d) => d.code === 'unused-name');
    assert.deepEqual(
      ds.map((d) => [d.severity, d.message, d.range]),
      [
        ['warning', "The parameter 'b' is never used", r(0, 9, 0, 10)],
        ['warning', "The number 'c' is never used", r(1, 7, 1, 8)],
        ['warning', "The fixed quantity 'k' is never used", r(2, 0, 2, 1)],
        ['warning', "The function 'g' is never used", r(3, 0, 3, 1)],
      ],
    );
    assert.ok(a.model, 'warnings keep the model');
  });

  test('names read only by aux lines count as used', () => {
    const a = analyse("par a=1, b=2\nx' = -a*x\naux y = b*x\nloss = x(T)");
    assert.equal(a.diagnostics.filter((d) => d.code === 'unused-name').length, 0);
  });

  test('a function argument hiding a state, a parameter or t; an argument never read', () => {
    const a = analyse("par k=1\nf(x, k, t, z) = x*k*t\nx' = f(x, k, 1, 2)\nloss = x(T)");
    const sh = a.diagnostics.filter((d) => d.code === 'shadowed-name');
    assert.deepEqual(
      sh.map((d) => [d.severity, d.message, d.range]),
      [
        ['hint', "The argument 'x' of f(…) hides the state 'x' inside the function", r(1, 2, 1, 3)],
        ['hint', "The argument 'k' of f(…) hides the parameter 'k' inside the function", r(1, 5, 1, 6)],
        ['hint', "The argument 't' of f(…) hides the time t inside the function", r(1, 8, 1, 9)],
      ],
    );
    assert.equal(only(a, 'unused-name').message, "The argument 'z' of f(…) is never used");
    assert.equal(
      only(analyse("f(u, u) = u\nx' = f(x, x)\nloss = x(T)"), 'duplicate-declaration').message,
      "The argument 'u' appears twice in f(…)",
    );
  });

  test('a name used with another case than declared: a hint on the use', () => {
    const a = analyse("par Alpha=1\nx' = -ALPHA*X\nloss = x(T)");
    const ds = a.diagnostics.filter((d) => d.code === 'name-case');
    assert.deepEqual(
      ds.map((d) => [d.severity, d.range]),
      [
        ['hint', r(1, 6, 1, 11)],
        ['hint', r(1, 12, 1, 13)],
      ],
    );
    assert.equal(
      ds[0].message,
      "'ALPHA' refers to the parameter 'Alpha': names are case-insensitive here, as in XPPAUT; a case-sensitive reading would see two different names",
    );
    assert.ok(a.model);
  });
});

// ---- the TextMate grammar agrees with the parser ------------------------------------

describe('TextMate grammar', () => {
  interface Rule {
    match?: string;
    begin?: string;
    name?: string;
    patterns?: Rule[];
    include?: string;
  }
  // Resolve the repository root from the test's working directory (npm test runs at the root).
  const grammar = JSON.parse(readFileSync(join(process.cwd(), 'syntaxes', 'ode.tmLanguage.json'), 'utf8')) as {
    repository: Record<string, Rule>;
  };
  /** Oniguruma's `(?i:…)` as a JavaScript regex: drop the modifier and match case-insensitively. */
  const js = (src: string): RegExp => new RegExp(src.replace(/\(\?i:/g, '(?:'), 'i');
  const repo = grammar.repository;

  test('every built-in and rewritten function is highlighted as a built-in', () => {
    const builtin = (repo.expression.patterns ?? []).find((p) => p.match?.includes('tanh'));
    assert.ok(builtin?.match);
    const re = js(`^${builtin.match}`);
    for (const f of [...BUILTIN_NAMES, ...LOWERED.keys()]) assert.ok(re.test(`${f}(`), f);
    assert.ok(!re.test('foo('));
  });

  test('data, scheme and markov lines have their own rules and are not marked unsupported', () => {
    const unsupported = js(repo.unsupported.match ?? '');
    assert.ok(!unsupported.test('data obs = "a.csv"'));
    assert.ok(!unsupported.test('scheme s rk a=[[0]] b=[1] c=[0]'));
    assert.ok(unsupported.test('export {x} {y}'));
    // A Markov variable is declared like a Wiener variable.
    assert.ok(!unsupported.test('markov z 2'));
    assert.ok(js(repo.declaration.begin ?? '').test('markov z 2'));
    const data = js(repo.data.match ?? '').exec('data obs = "a.csv"');
    assert.deepEqual(data?.slice(1), ['data', 'obs', '=', '"a.csv"']);
    const scheme = js(repo.scheme.begin ?? '').exec('scheme myab LMM alpha=[0, -1, 1]');
    assert.deepEqual(scheme?.slice(1), ['scheme', 'myab', 'LMM']);
  });

  test('if/then/else, comparisons and logic operators', () => {
    const pats = repo.expression.patterns ?? [];
    const named = (name: string): RegExp =>
      js(pats.find((p) => p.name === name || JSON.stringify(p).includes(name))?.match ?? '(?!)');
    const cond = pats
      .filter((p) => JSON.stringify(p).includes('keyword.control.conditional.ode'))
      .map((p) => js(p.match ?? ''));
    const line = 'if(x > 1)then(a)else(b)';
    assert.ok(cond.some((re) => re.exec(line)?.[1] === 'if'));
    assert.ok(cond.some((re) => re.exec(line.slice(8))?.[1] === 'then'));
    assert.ok(cond.some((re) => re.exec(line.slice(15))?.[1] === 'else'));
    for (const op of ['<=', '>=', '==', '!=', '<', '>'])
      assert.equal(named('keyword.operator.comparison.ode').exec(`a ${op} b`)?.[0], op);
    for (const op of ['&', '|']) assert.equal(named('keyword.operator.logical.ode').exec(`a ${op} b`)?.[0], op);
  });
});

describe('constants through indexing', () => {
  test('an element of a literal is a constant', () => {
    const m = ok("number k = [[1, 2], [3, 4]][1, 0]\nx' = -k*x\nloss = x(T)");
    const rhs = m.equations[0].rhs;
    assert.ok(rhs.kind === 'binary' && rhs.left.kind === 'unary' && rhs.left.operand.kind === 'number');
    if (rhs.kind === 'binary' && rhs.left.kind === 'unary')
      assert.deepEqual(rhs.left.operand.kind === 'number' && rhs.left.operand.value, 3);
  });
});
