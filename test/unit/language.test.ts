// Unit tests of the language front end (solver/language).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { largeModelText } from '../../bench/largeModel';
import type { Analysis, Diagnostic, Expr, Model, Range } from '../../solver/model';
import {
  callsByCallee,
  delayCalls,
  findOption,
  solveCalls,
  solveExpressions,
  visitExpressions,
} from '../../solver/model';
import { integralCalls } from '../../solver/language/volterraSyntax';
import { schemeDiagnostics } from '../../solver/schemes/analysis';
import { repoRoot, xppautSamplesDir } from '../support/repo';

// ---- helpers ---------------------------------------------------------------

const root = repoRoot();
const readExample = (name: string): string => readFileSync(join(root, 'examples', name), 'utf8');

const r = (l1: number, c1: number, l2: number, c2: number): Range => ({
  start: { line: l1, character: c1 },
  end: { line: l2, character: c2 },
});

function errors(a: Analysis): Diagnostic[] {
  return a.diagnostics.filter((d) => d.severity === 'error');
}

function only(a: Analysis, code: string): Diagnostic {
  const ds = a.diagnostics.filter((d) => d.code === code);
  assert.equal(ds.length, 1, `expected one '${code}' diagnostic, got: ${JSON.stringify(a.diagnostics, null, 1)}`);
  return ds[0];
}

function ok(text: string): Model {
  const a = analyse(text);
  assert.deepEqual(errors(a), [], 'unexpected errors');
  assert.ok(a.model, 'expected a model');
  return a.model;
}

/** A small valid model, with `extra` lines appended (before the options). */
function withLines(...extra: string[]): string {
  return ['state x[2]', 'init x = [1, 0]', "x' = -x", 'loss = sum(x(T))', ...extra].join('\n');
}

/** Every node of e once, each before its operands, without recursion (a 50,000-term sum is a chain that deep). */
function walk(e: Expr, f: (e: Expr) => void): void {
  visitExpressions([e], f);
}

function allExprs(m: Model): Expr[] {
  const out: Expr[] = [];
  const add = (e: Expr | undefined): void => {
    if (e) walk(e, (x) => out.push(x));
  };
  m.states.forEach((s) => add(s.init));
  m.params.forEach((p) => {
    if (p.init.kind === 'value') add(p.init.value);
  });
  m.equations.forEach((e) => add(e.rhs));
  add(m.loss?.expr);
  return out;
}

function lineCount(text: string): number {
  return text.split(/\r\n|\r|\n/).length;
}

function assertWellFormed(text: string, a: Analysis): void {
  const lines = lineCount(text);
  const lengths = text.split(/\r\n|\r|\n/).map((l) => l.length);
  for (const d of a.diagnostics) {
    assert.ok(typeof d.message === 'string' && d.message.length > 0);
    assert.ok(typeof d.code === 'string' && d.code.length > 0);
    for (const p of [d.range.start, d.range.end]) {
      assert.ok(
        Number.isInteger(p.line) && p.line >= 0 && p.line < lines,
        `line ${p.line} out of range in ${JSON.stringify(d)}`,
      );
      assert.ok(
        Number.isInteger(p.character) && p.character >= 0 && p.character <= lengths[p.line],
        `character ${p.character} past the end of line ${p.line} (${lengths[p.line]}) in ${JSON.stringify(d)}`,
      );
    }
  }
  const hasError = a.diagnostics.some((d) => d.severity === 'error');
  assert.equal(a.model === undefined, hasError, 'a model is returned iff there is no error');
  // The message only on failure: JSON.stringify recurses through the whole (possibly very deep) tree.
  if (a.model)
    for (const e of allExprs(a.model))
      if (!e.shape) assert.fail(`expression without shape: ${JSON.stringify(e.range)}`);
}

// ---- the examples ------------------------------------------------------------

describe('examples', () => {
  for (const [file, meth] of [
    ['spiral.ode', 'leapfrog'],
    ['spiral-rk4.ode', 'rk4'],
  ] as const) {
    test(`${file} checks and gives the expected model`, () => {
      const text = readExample(file);
      const a = analyse(text);
      const m = a.model;
      assert.ok(m);
      // The front end adds nothing of its own; the scheme analysis may (leapfrog is weakly stable).
      assert.deepEqual(a.diagnostics, schemeDiagnostics(m));
      assertWellFormed(text, a);

      assert.equal(m.states.length, 1);
      const x = m.states[0];
      assert.equal(x.name, 'x');
      assert.deepEqual(x.shape, [2]);
      assert.deepEqual(x.nameRange, r(4, 6, 4, 7));
      assert.equal(x.init?.kind, 'vector');
      assert.deepEqual(x.init?.shape, [2]);

      assert.deepEqual(
        m.params.map((p) => [p.name, p.shape, p.perStep, p.init.kind]),
        [
          ['W1', [16, 2], true, 'normal'],
          ['b1', [16], true, 'value'],
          ['W2', [2, 16], true, 'normal'],
        ],
      );
      const w1 = m.params[0];
      assert.ok(w1.init.kind === 'normal');
      assert.equal(w1.init.mean, 0);
      assert.equal(w1.init.std, 0.3);
      assert.deepEqual(w1.nameRange, r(6, 6, 6, 8));
      assert.deepEqual(w1.range, r(6, 0, 6, 40));
      const b1 = m.params[1];
      assert.ok(b1.init.kind === 'value');
      assert.deepEqual(b1.init.value, { kind: 'number', value: 0, range: r(7, 26, 7, 27), shape: [] });

      assert.equal(m.equations.length, 1);
      const eq = m.equations[0];
      assert.equal(eq.state, 'x');
      assert.deepEqual(eq.range, r(9, 0, 9, 27));
      assert.equal(eq.rhs.kind, 'binary');
      assert.ok(eq.rhs.kind === 'binary');
      assert.equal(eq.rhs.op, '@');
      assert.deepEqual(eq.rhs.shape, [2]);
      assert.deepEqual(eq.rhs.opRange, r(9, 8, 9, 9));
      const tanh = eq.rhs.right;
      assert.ok(tanh.kind === 'call' && tanh.callee === 'tanh');
      assert.deepEqual(tanh.shape, [16]);

      assert.ok(m.loss);
      assert.deepEqual(m.loss.expr.shape, []);
      assert.deepEqual(m.loss.range, r(10, 0, 10, 40));
      const ends: Expr[] = [];
      walk(m.loss.expr, (e) => {
        if (e.kind === 'stateAtEnd') ends.push(e);
      });
      assert.deepEqual(ends, [{ kind: 'stateAtEnd', state: 'x', range: r(10, 18, 10, 22), shape: [2] }]);

      assert.deepEqual(m.options, {
        t0: 0,
        total: 1,
        steps: 64,
        dt: 1 / 64,
        meth,
        start: 'euler',
        seed: 1,
        gradfix: 'none',
        grad: 'ad',
        tie: 'step',
      });
      assert.equal(m.optionLines.length, 1);
      const line = m.optionLines[0];
      const end = 36 + 'seed=1'.length + (meth === 'rk4' ? -5 : 0);
      assert.deepEqual(line.range, r(11, 0, 11, end));
      assert.deepEqual(
        line.settings.map((s) => [s.key, s.value]),
        [
          ['total', '1'],
          ['steps', '64'],
          ['meth', meth],
          ['seed', '1'],
        ],
      );
      const methSetting = findOption(m, 'meth');
      assert.ok(methSetting);
      assert.deepEqual(methSetting.range, r(11, 21, 11, 26 + meth.length));
      assert.deepEqual(methSetting.valueRange, r(11, 26, 11, 26 + meth.length));
      assert.deepEqual(line.settings[0].range, r(11, 2, 11, 9));
      assert.deepEqual(line.settings[0].valueRange, r(11, 8, 11, 9));
    });
  }

  test('the quick-fix edits (append gradfix, replace gradfix) give the expected options', () => {
    const text = readExample('spiral.ode');
    const m = ok(text);
    const lines = text.split('\n');
    const end = m.optionLines[0].range.end;
    lines[end.line] =
      lines[end.line].slice(0, end.character) + ', gradfix=filter121' + lines[end.line].slice(end.character);
    const fixed = lines.join('\n');
    const m2 = ok(fixed);
    assert.equal(m2.options.gradfix, 'filter121');
    assert.equal(m2.options.meth, 'leapfrog');
    const g = findOption(m2, 'gradfix');
    assert.ok(g);
    assert.deepEqual(g.valueRange, r(11, 52, 11, 61));

    const ls = fixed.split('\n');
    ls[11] = ls[11].slice(0, g.valueRange.start.character) + 'none' + ls[11].slice(g.valueRange.end.character);
    assert.equal(ok(ls.join('\n')).options.gradfix, 'none');
  });

  test('docs/language.md: every ode example checks without errors', () => {
    const md = readFileSync(join(root, 'docs', 'language.md'), 'utf8');
    const blocks = [...md.matchAll(/```ode\n([\s\S]*?)```/g)].map((b) => b[1]);
    assert.ok(blocks.length >= 4);
    // ```csv blocks whose first line is `# name.csv` are the data files the examples read.
    const files = new Map<string, string>();
    for (const c of md.matchAll(/```csv\n# (\S+)\n([\s\S]*?)```/g)) files.set(c[1], c[2]);
    const context = {
      documentPath: '/docs/model.ode',
      workspaceRoot: '/docs',
      readFile: (p: string): string => {
        const text = files.get(p.replace(/^\/docs\//, ''));
        if (text === undefined) throw Object.assign(new Error(`no such file ${p}`), { code: 'ENOENT' });
        return text;
      },
    };
    for (const b of blocks) {
      const a = analyse(b, context);
      assert.deepEqual(errors(a), [], `doc example:\n${b}`);
      assertWellFormed(b, a);
    }
  });
});

// ---- syntax -------------------------------------------------------------------

describe('syntax', () => {
  const rhs = (expr: string): Expr => {
    const m = ok(`state x\nparam a = 1\nparam b = 2\nparam c = 3\nx' = ${expr}\nloss = x(T)`);
    return m.equations[0].rhs;
  };
  const show = (e: Expr): string => {
    switch (e.kind) {
      case 'number':
        return String(e.value);
      case 'name':
        return e.name;
      case 'unary':
        return `(${e.op}${show(e.operand)})`;
      case 'binary':
        return `(${show(e.left)} ${e.op} ${show(e.right)})`;
      case 'call':
        return `${e.callee}(${e.args.map(show).join(', ')})`;
      case 'vector':
        return `[${e.elements.map(show).join(', ')}]`;
      case 'stateAtEnd':
        return `${e.state}(T)`;
      default:
        return `<${e.kind}>`;
    }
  };

  test('precedence and associativity', () => {
    assert.equal(show(rhs('-x^2')), '(-(x ^ 2))');
    assert.equal(show(rhs('a^b^c')), '(a ^ (b ^ c))');
    assert.equal(show(rhs('2^-1')), '(2 ^ (-1))');
    assert.equal(show(rhs('a - b - c')), '((a - b) - c)');
    assert.equal(show(rhs('a + b * c')), '(a + (b * c))');
    assert.equal(show(rhs('a / b * c')), '((a / b) * c)');
    assert.equal(show(rhs('-a * b')), '((-a) * b)');
    assert.equal(show(rhs('x ** 2')), '(x ^ 2)');
    assert.equal(show(rhs('(a + b) * +c')), '((a + b) * (+c))');
  });

  test('@ has the precedence of * and /', () => {
    const m = ok("state x[2]\nparam A[2,2] = 0\nx' = A @ x * 2 + A @ A @ x\nloss = sum(x(T))");
    const e = m.equations[0].rhs;
    assert.equal(show(e), '(((A @ x) * 2) + ((A @ A) @ x))');
    assert.deepEqual(e.shape, [2]);
  });

  test('numbers', () => {
    assert.equal(show(rhs('1 + 1.5 + 1e-3 + .5 + 2. + 1.5E+2')), '(((((1 + 1.5) + 0.001) + 0.5) + 2) + 150)');
  });

  test('ranges of nodes and operators', () => {
    const m = ok("state x\nparam a = 1\nx' = a*(x + 1)\nloss = x(T)");
    const e = m.equations[0].rhs;
    assert.ok(e.kind === 'binary');
    assert.deepEqual(e.range, r(2, 5, 2, 14));
    assert.deepEqual(e.opRange, r(2, 6, 2, 7));
    assert.deepEqual(e.left.range, r(2, 5, 2, 6));
    assert.deepEqual(e.right.range, r(2, 7, 2, 14));
  });

  test('dx/dt, x(0)=…, init lists, comments, blank lines, continuation, done', () => {
    const m = ok(
      [
        '# header comment',
        '',
        'state x, y   # two scalars',
        'x(0) = 1',
        'init y = 2',
        'dx/dt = -x + \\',
        '   y',
        "y' = -y",
        'loss = x(T) + \\',
        '  y(T)',
        'done',
        'this is ignored ) (',
      ].join('\n'),
    );
    assert.deepEqual(
      m.states.map((s) => [s.name, s.shape]),
      [
        ['x', []],
        ['y', []],
      ],
    );
    assert.equal(m.states[0].init?.kind, 'number');
    assert.deepEqual(
      m.equations.map((e) => e.state),
      ['x', 'y'],
    );
    const plus = m.equations[0].rhs;
    assert.ok(plus.kind === 'binary');
    assert.deepEqual(plus.right.range, r(6, 3, 6, 4));
    assert.deepEqual(m.equations[0].range, r(5, 0, 6, 4));
  });

  test('parameters: shapes, per-step, normal and value initialisers', () => {
    const m = ok(
      withLines(
        'param A[2,2] = [[1, 0], [0, 1]]',
        'param s per-step = 0.5',
        'param v[2] shared ~ normal(-1, 2*0.5)',
        'param k',
      ).replace('param k', 'param k = 1, q = 2'),
    );
    assert.deepEqual(
      m.params.map((p) => [p.name, p.shape, p.perStep]),
      [
        ['A', [2, 2], false],
        ['s', [], true],
        ['v', [2], false],
        ['k', [], false],
        ['q', [], false],
      ],
    );
    const v = m.params[2].init;
    assert.ok(v.kind === 'normal');
    assert.equal(v.mean, -1);
    assert.equal(v.std, 1);
    const a = m.params[0].init;
    assert.ok(a.kind === 'value');
    assert.deepEqual(a.value.shape, [2, 2]);
  });

  test('a syntax error gives one diagnostic on its line', () => {
    const a = analyse(withLines("y' = (1 + ", 'param q[2 = 0'));
    const syn = a.diagnostics.filter((d) => d.code === 'syntax-error');
    assert.equal(syn.length, 2);
    assert.equal(syn[0].range.start.line, 4);
    assert.equal(syn[1].range.start.line, 5);
    assert.match(syn[1].message, /Expected '\]'/);
    assert.deepEqual(syn[1].range, r(5, 10, 5, 11));
  });

  test('ten independent mistakes on ten lines give ten diagnostics', () => {
    const bad = [
      "x' = 1 +",
      'param = 3',
      'state',
      'init x = (',
      '@ total',
      'loss = )',
      'param w[2 ~ normal(0, 1)',
      'x = = 1',
      '} stray',
      'state z[0]',
    ];
    const text = ['state x', ...bad, 'loss = x(T)'].join('\n');
    const a = analyse(text);
    assert.equal(a.diagnostics.length, 10, JSON.stringify(a.diagnostics, null, 1));
    assert.deepEqual(
      a.diagnostics.map((d) => d.range.start.line),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.ok(a.diagnostics.every((d) => d.severity === 'error'));
    assert.equal(a.model, undefined);
  });

  test('a broken declaration does not cause follow-on errors', () => {
    const a = analyse("state x[2\nx' = -x\nloss = sum(x(T))");
    assert.equal(a.diagnostics.length, 1);
    assert.equal(a.diagnostics[0].code, 'syntax-error');
    const b = analyse("state x\nx' = (x\nloss = x(T)");
    assert.deepEqual(
      b.diagnostics.map((d) => d.code),
      ['syntax-error'],
    );
  });
});

// ---- semantic diagnostics --------------------------------------------------------

describe('diagnostics', () => {
  test('undefined name: range is the name', () => {
    const a = analyse("state x[2]\nx' = -x + bias\nloss = sum(x(T))");
    const d = only(a, 'undefined-name');
    assert.equal(d.severity, 'error');
    assert.deepEqual(d.range, r(1, 10, 1, 14));
    assert.match(d.message, /Undefined name 'bias'/);
    assert.equal(a.model, undefined);
  });

  test('undefined name suggests a close declared name', () => {
    const d = only(analyse("state x\nparam alpha = 1\nx' = -alpah*x\nloss = x(T)"), 'undefined-name');
    assert.match(d.message, /did you mean 'alpha'/);
  });

  test('duplicate declarations (names are case-insensitive)', () => {
    const d = only(analyse("state x\nparam W = 1\nparam w = 2\nx' = -W*x\nloss = x(T)"), 'duplicate-declaration');
    assert.deepEqual(d.range, r(2, 6, 2, 7));
    assert.match(d.message, /'w' is already declared as a param 'W'/);
    const d2 = only(analyse("state x\nstate x\nx' = -x\nloss = x(T)"), 'duplicate-declaration');
    assert.deepEqual(d2.range, r(1, 6, 1, 7));
    const d3 = only(analyse("state x\ninit x = 1\ninit x = 2\nx' = -x\nloss = x(T)"), 'duplicate-declaration');
    assert.deepEqual(d3.range, r(2, 5, 2, 6));
  });

  test('names resolve case-insensitively to the declared spelling', () => {
    const m = ok("state Xa\nparam K = 2\nxa' = -k*XA\nloss = xA(T)");
    assert.equal(m.equations[0].state, 'Xa');
    const names: string[] = [];
    walk(m.equations[0].rhs, (e) => {
      if (e.kind === 'name') names.push(e.name);
    });
    assert.deepEqual(names, ['K', 'Xa']);
  });

  test('state without equation', () => {
    const d = only(analyse("state x\nstate y[3]\nx' = -x\nloss = x(T)"), 'missing-equation');
    assert.deepEqual(d.range, r(1, 6, 1, 7));
    assert.match(d.message, /State 'y' has no equation/);
  });

  test('a file with nothing to solve (empty, comments, parameters only) is one error, not a crash', () => {
    for (const text of ['', '# a note\n', 'par a=1, b=2\ndone\n']) {
      const a = analyse(text);
      assert.equal(a.model, undefined, JSON.stringify(text));
      const d = only(a, 'no-states');
      assert.deepEqual(d.range, r(0, 0, 0, 0));
      assert.ok(!a.diagnostics.some((x) => x.code === 'default-loss'), 'no default-loss note without a state');
    }
    // A broken equation has its own error; no second one about the missing states.
    assert.ok(!analyse("x' = (\n").diagnostics.some((x) => x.code === 'no-states'));
  });

  test('equation for an unknown state, duplicate equation', () => {
    const d = only(analyse("state x\nx' = -x\nz' = 1\nloss = x(T)"), 'unknown-state');
    assert.deepEqual(d.range, r(2, 0, 2, 1));
    assert.match(d.message, /unknown state 'z'/);
    const d2 = only(analyse("state x\ndz/dt = 1\nx' = -x\nloss = x(T)"), 'unknown-state');
    assert.deepEqual(d2.range, r(1, 1, 1, 2));
    const d3 = only(analyse("state x\nx' = -x\nx' = x\nloss = x(T)"), 'duplicate-equation');
    assert.deepEqual(d3.range, r(2, 0, 2, 1));
  });

  test('shape mismatch under broadcasting: message names both shapes, range is the operator', () => {
    const a = analyse("state x[2]\nparam b[3] = 0\nx' = x + b\nloss = sum(x(T))");
    const d = only(a, 'shape-mismatch');
    assert.deepEqual(d.range, r(2, 7, 2, 8));
    assert.match(d.message, /\[2\] and \[3\] do not broadcast for '\+'/);
    // Broadcasting that works: [2,1] + [3] → [2,3]; scalar * vector.
    const m = ok("state x[2]\nparam A[2,1] = 0\nparam c[3] = 0\nx' = sum(A + c) * x\nloss = sum(x(T))");
    const s = m.equations[0].rhs;
    assert.ok(s.kind === 'binary' && s.left.kind === 'call');
    assert.deepEqual(s.left.args[0].shape, [2, 3]);
  });

  test('rhs that does not fit its state', () => {
    const d = only(analyse("state x[2]\nparam W[3,2] = 0\nx' = W @ x\nloss = sum(x(T))"), 'shape-mismatch');
    assert.deepEqual(d.range, r(2, 5, 2, 10));
    assert.match(d.message, /\[3\].*\[2\]/);
  });

  test("'@' needs [m,n]@[n] or [m,n]@[n,p]", () => {
    const a = analyse("state x[2]\nparam W[3,4] = 0\nparam V[2,3] = 0\nx' = V @ (W @ x)\nloss = sum(x(T))");
    const d = only(a, 'matmul-shape');
    assert.deepEqual(d.range, r(3, 12, 3, 13));
    assert.match(d.message, /\[3, 4\] @ \[2\]/);
    assert.match(d.message, /\[m,n\]@\[n\]/);
    const s = only(analyse("state x[2]\nx' = 2 @ x\nloss = sum(x(T))"), 'matmul-shape');
    assert.match(s.message, /use '\*'/);
    // The valid forms.
    const m = ok(
      "state x[2]\nparam A[2,3] = 0\nparam B[3,2] = 0\nparam v[3] = 1\nx' = (A @ B) @ x + (v @ B) + (v @ v) + A @ v\nloss = sum(x(T))",
    );
    assert.deepEqual(m.equations[0].rhs.shape, [2]);
  });

  test('no loss: valid (classic XPPAUT), an information naming the default loss, and the model has no loss', () => {
    const a = analyse("state x\nx' = -x");
    assert.ok(
      !a.diagnostics.some((d) => d.severity === 'warning' || d.severity === 'error'),
      JSON.stringify(a.diagnostics),
    );
    const d = only(a, 'default-loss');
    assert.equal(d.severity, 'information');
    assert.match(d.message, /^No loss declared: gradients are checked for ½‖x\(T\)‖²/);
    assert.ok(a.model);
    assert.equal(a.model.loss, undefined);
  });

  test('init shape mismatch', () => {
    const d = only(analyse("state x[2]\ninit x = [1, 2, 3]\nx' = -x\nloss = sum(x(T))"), 'init-shape');
    assert.deepEqual(d.range, r(1, 9, 1, 18));
    assert.match(d.message, /\[3\].*\[2\]/);
    const p = only(analyse("state x[2]\nparam W[2,2] = [1, 2, 3]\nx' = W @ x\nloss = sum(x(T))"), 'init-shape');
    assert.deepEqual(p.range, r(1, 15, 1, 24));
    // Broadcasting to the declared shape is fine.
    const m = ok("state x[2]\ninit x = 3\nparam W[2,2] = [1, 2]\nx' = W @ x\nloss = sum(x(T))");
    assert.deepEqual(m.states[0].init?.shape, []);
  });

  test('x(T) only in the loss; states in the loss only as x(T); the loss is a scalar', () => {
    const d = only(analyse("state x\nx' = -x(T)\nloss = x(T)"), 'state-at-end-outside-loss');
    assert.deepEqual(d.range, r(1, 6, 1, 10));
    const d2 = only(analyse("state x\nx' = -x\nloss = x^2"), 'state-in-loss');
    assert.deepEqual(d2.range, r(2, 7, 2, 8));
    assert.match(d2.message, /x\(T\)/);
    const d3 = only(analyse("state x[2]\nx' = -x\nloss = x(T)^2"), 'shape-mismatch');
    assert.match(d3.message, /loss must be a scalar/);
  });

  test('initial values must be constant', () => {
    const d = only(analyse("state x\nparam a = 1\ninit x = a\nx' = -x\nloss = x(T)"), 'not-constant');
    assert.deepEqual(d.range, r(2, 9, 2, 10));
  });

  test('unknown function, wrong arity', () => {
    const d = only(analyse("state x\nx' = tahn(x)\nloss = x(T)"), 'unknown-function');
    assert.deepEqual(d.range, r(1, 5, 1, 9));
    assert.match(d.message, /did you mean 'tanh'/);
    only(analyse("state x\nx' = sum(x, x)\nloss = x(T)"), 'bad-arity');
  });

  test('sum reduces to a scalar; element-wise functions keep the shape', () => {
    const m = ok(
      "state x[3]\nx' = tanh(x) + sin(x) + cos(x) + exp(x) + log(x) + sigmoid(x) + relu(x) + abs(x) + sqrt(x) + sum(x)\nloss = sum(x(T))",
    );
    assert.deepEqual(m.equations[0].rhs.shape, [3]);
  });

  test('invalid shapes', () => {
    only(analyse("state x[2,2,2]\nx' = -x\nloss = sum(x(T))"), 'invalid-shape');
    only(analyse("state x[100000,100000]\nx' = -x\nloss = sum(x(T))"), 'invalid-shape');
    only(analyse("state x[1.5]\nx' = -x\nloss = sum(x(T))"), 'invalid-shape');
  });

  test('t is the time and is reserved', () => {
    const m = ok("state x\nx' = -x + sin(t) + T\nloss = x(T)");
    assert.equal(m.equations.length, 1);
    only(analyse("state t\nstate x\nx' = -x\nloss = x(T)"), 'reserved-name');
  });
});

// ---- options -------------------------------------------------------------------------

describe('options', () => {
  test('defaults', () => {
    const m = ok(withLines());
    assert.deepEqual(m.options, {
      t0: 0,
      total: 1,
      steps: 64,
      dt: 1 / 64,
      meth: 'rk4',
      start: 'euler',
      seed: 1,
      gradfix: 'none',
      grad: 'ad',
      tie: 'step',
    });
    assert.deepEqual(m.optionLines, []);
  });

  test("neither steps nor dt: XPPAUT's dt = 0.05, but at least 64 steps", () => {
    const long = ok(withLines('@ total=200'));
    assert.equal(long.options.steps, 4000);
    assert.equal(long.options.dt, 0.05);
    assert.equal(ok(withLines('@ total=40')).options.steps, 800);
    assert.equal(ok(withLines('@ total=2')).options.steps, 64);
    assert.equal(ok(withLines('@ total=3.3')).options.steps, 66);
  });

  test('dt without steps gives steps = round(total/dt), dt = total/steps', () => {
    const m = ok(withLines('@ total=2 dt=0.03'));
    assert.equal(m.options.steps, 67);
    assert.equal(m.options.dt, 2 / 67);
  });

  test('space or comma separated, several lines, last wins, case-insensitive keys, XPPAUT names', () => {
    const m = ok(withLines('@ total=3 steps=10, meth=euler', '@ METH=heun, seed=5 t0=-1', '@ method=rungekutta'));
    assert.deepEqual(m.options, {
      t0: -1,
      total: 3,
      steps: 10,
      dt: 0.3,
      meth: 'rk4',
      start: 'euler',
      seed: 5,
      gradfix: 'none',
      grad: 'ad',
      tie: 'step',
    });
    assert.equal(m.optionLines.length, 3);
    assert.equal(m.optionLines[1].settings[0].key, 'meth');
    assert.equal(m.optionLines[2].settings[0].key, 'meth');
    assert.equal(findOption(m, 'meth')?.value, 'rungekutta');
    assert.deepEqual(m.optionLines[1].range, r(5, 0, 5, 25));
  });

  test('steps wins over dt (warning)', () => {
    const a = analyse(withLines('@ total=1, steps=10, dt=0.5'));
    assert.ok(a.model);
    assert.equal(a.model.options.steps, 10);
    const d = only(a, 'ignored-option');
    assert.equal(d.severity, 'warning');
  });

  test('unknown scheme: error on the value with "did you mean"', () => {
    const a = analyse(withLines('@ total=1, meth=leapfrg'));
    const d = only(a, 'unknown-scheme');
    assert.equal(d.severity, 'error');
    assert.deepEqual(d.range, r(4, 16, 4, 23));
    assert.match(d.message, /Unknown scheme 'leapfrg' — did you mean 'leapfrog'\?/);
  });

  test('bad values', () => {
    const cases: [string, RegExp, Range][] = [
      ['@ steps=abc', /must be a number/, r(4, 8, 4, 11)],
      ['@ steps=0', /at least 1/, r(4, 8, 4, 9)],
      ['@ steps=2.5', /whole number/, r(4, 8, 4, 11)],
      ['@ total=0', /must be positive/, r(4, 8, 4, 9)],
      ['@ total=-1', /must be positive/, r(4, 8, 4, 10)],
      ['@ dt=0', /must be positive/, r(4, 5, 4, 6)],
      ['@ gradfix=filter12', /did you mean 'filter121'/, r(4, 10, 4, 18)],
      ['@ steps=1e9', /at most/, r(4, 8, 4, 11)],
      ['@ seed=x', /must be a number/, r(4, 7, 4, 8)],
    ];
    for (const [line, re, range] of cases) {
      const a = analyse(withLines(line));
      const es = errors(a);
      assert.equal(es.length, 1, `${line}: ${JSON.stringify(a.diagnostics)}`);
      assert.match(es[0].message, re, line);
      assert.deepEqual(es[0].range, range, line);
      assert.equal(a.model, undefined);
    }
  });

  test('unknown keys warn; XPPAUT plot options are hints', () => {
    const a = analyse(withLines('@ total=1, colour=red, xlo=-1'));
    assert.ok(a.model);
    const w = only(a, 'unknown-option');
    assert.equal(w.severity, 'warning');
    assert.deepEqual(w.range, r(4, 11, 4, 21));
    assert.equal(only(a, 'ignored-option').severity, 'hint');
  });

  test('a syntax error on an @ line keeps the settings before it', () => {
    const a = analyse(withLines('@ total=2, steps'));
    assert.equal(a.diagnostics.length, 1);
    assert.equal(a.model, undefined);
  });
});

// ---- XPPAUT -------------------------------------------------------------------------

describe('XPPAUT core', () => {
  test('par lists, number, user functions and fixed quantities expand inline', () => {
    const m = ok(
      [
        '# classic style: no state lines',
        'par a=0.7, b=0.8 eps=0.08',
        'number I0=0.5',
        'f(v) = v - v^3/3',
        'cur = I0 + 0*a',
        'dv/dt = f(V) - w + cur',
        "w' = eps*(v + a - b*w)",
        'init v=-1, w=1',
        'loss = v(T)^2',
        '@ total=10, dt=0.1, meth=rungekutta',
        'done',
      ].join('\n'),
    );
    assert.deepEqual(
      m.states.map((s) => [s.name, s.shape]),
      [
        ['v', []],
        ['w', []],
      ],
    );
    assert.deepEqual(
      m.params.map((p) => p.name),
      ['a', 'b', 'eps'],
    );
    assert.deepEqual(m.options.steps, 100);
    assert.equal(m.options.meth, 'rk4');
    const calls: string[] = [];
    walk(m.equations[0].rhs, (e) => {
      if (e.kind === 'call') calls.push(e.callee);
      if (e.kind === 'name') calls.push(e.name);
    });
    // f inlined (its argument one node, read at both places: visited once), I0 a number, V → v
    assert.deepEqual(calls, ['v', 'w', 'a']);
  });

  test('unsupported constructs get one diagnostic on their line; the rest still checks', () => {
    const text = [
      'state x',
      'markov z 2',
      '{0} {1}',
      '{1} {0}',
      'export {x} {x}',
      'import bar',
      'set fast {a=2}',
      '" an action comment {x=1}',
      'aux out = x^2',
      "x' = -x + z",
      'loss = x(T)',
    ].join('\n');
    const a = analyse(text);
    assertWellFormed(text, a);
    assert.deepEqual(
      a.diagnostics.map((d) => [d.range.start.line, d.code, d.severity]),
      [
        // A Markov variable is checked (test/unit/markov.test.ts): no diagnostic before a check runs.
        [4, 'unsupported-export', 'error'],
        [5, 'unsupported-import', 'error'],
        [6, 'unsupported', 'information'],
        // An aux line is an output only: information, not a warning.
        [8, 'unsupported', 'information'],
      ],
    );
    assert.match(a.diagnostics[0].message, /export/);
    assert.deepEqual(a.diagnostics[0].range, r(4, 0, 4, 14));
  });

  test('boundary conditions (bdry, bndry, b) are information on their line; the model still checks', () => {
    const text = [
      'par v0=1',
      "v' = w",
      "w' = v",
      'init v=1, w=0',
      'bdry v-v0',
      'bndry w',
      'b v',
      'loss = (v(T) - v0)^2',
      '@ total=1, dt=0.1',
    ].join('\n');
    const a = analyse(text);
    assertWellFormed(text, a);
    assert.deepEqual(
      a.diagnostics.map((d) => [d.range.start.line, d.code, d.severity]),
      [
        [4, 'unsupported', 'information'],
        [5, 'unsupported', 'information'],
        [6, 'unsupported', 'information'],
      ],
    );
    assert.match(a.diagnostics[2].message, /`b`.*initial-value problem/);
    assert.ok(a.model, 'the initial-value problem is still a model');
  });

  test('the XPPAUT sample files analyse without throwing and with sensible diagnostics', (t) => {
    const dir = xppautSamplesDir();
    if (!dir) {
      t.skip('no XPPAUT samples here (set ODELENS_XPPAUT_SAMPLES to a folder of .ode files)');
      return;
    }
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ode'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      const a = analyse(text);
      assertWellFormed(text, a);
      assert.ok(
        !a.diagnostics.some((d) => d.code === 'internal-error' || d.code === 'syntax-error'),
        `${f}: ${JSON.stringify(a.diagnostics)}`,
      );
    }
  });
});

// ---- robustness and speed ---------------------------------------------------------------

describe('robustness', () => {
  test('half an emoji (a lone high surrogate) before a line break stays on its own line', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const s = ['state x', '\ud83d', "x' = -x", 'init x = 1', 'loss = x(T)^2', '@ steps=4', 'done'].join(eol);
      const a = analyse(s);
      assertWellFormed(s, a);
      const errors = a.diagnostics.filter((d) => d.severity === 'error');
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.deepEqual([errors[0].range.start.line, errors[0].range.end.line], [1, 1], JSON.stringify(errors[0]));
    }
  });

  const seeds = [
    readExample('spiral.ode'),
    readExample('spiral-rk4.ode'),
    withLines('@ total=2 dt=0.1'),
    "scheme s rk a=[[0,0],[1,0]] b=[1/2,1/2] c=[0,1]\nstate v[2]\nv' = if(v[0] > 0 & t <= 1)then(-v)else(v) + max(v, 1)\nloss = sum(v(T))\n@ meth=s, tie=stage",
    'par a=1 b=2\nf(u)=u^2\ndx/dt = -a*f(x) \\\n + b\nx(0)=1\n@ meth=euler\ndone',
  ];
  const alphabet = [
    ...'abcxyzWT0123456789.e+-*/^@()[],=~\'#\\" \n\t{}!<>',
    'state ',
    'param ',
    'init ',
    'loss ',
    'per-step',
    'normal',
    'tanh(',
    'sum(',
    'x(T)',
    'done\n',
    'markov ',
    '\r\n',
    '\u00e9',
    '\ud83d\ude00',
    '\ud83d',
    '<=',
    '==',
    '!=',
    '&',
    '|',
    'if(',
    ')then(',
    ')else(',
    '[0]',
    '[1, 2]',
    'data obs = "o.csv"\n',
    'x(obs)',
    'scheme s rk a=[[0]] b=[1] c=[0]\n',
    'scheme q lmm alpha=[-1, 1] beta=[1, 0]\n',
    'meth=s ',
    'heav(',
    'max(',
    '__proto__',
    'constructor',
    'toString',
  ];
  const token = fc.constantFrom(...alphabet);

  // A hang guard, not a speed measurement (that is `npm run bench`): an input of a few
  // hundred characters that takes a whole second means a runaway loop or blow-up.
  const HANG_MS = 1000;
  const analyseBounded = (s: string): Analysis => {
    const t0 = performance.now();
    const a = analyse(s);
    const ms = performance.now() - t0;
    assert.ok(ms < HANG_MS, `analyse took ${ms.toFixed(0)} ms on ${JSON.stringify(s.slice(0, 200))}`);
    return a;
  };

  test('random strings never throw and always return', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        assertWellFormed(s, analyseBounded(s));
      }),
      { seed: 42, numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 200 }), (ts) => {
        const s = ts.join('');
        assertWellFormed(s, analyseBounded(s));
      }),
      { seed: 42, numRuns: 1000 },
    );
  });

  test('mutated copies of the examples never throw and always return', () => {
    const mutation = fc.tuple(fc.nat(), fc.nat({ max: 20 }), fc.array(token, { maxLength: 5 }));
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
        let s = seed;
        for (const [pos, del, ins] of ms) {
          const p = pos % (s.length + 1);
          s = s.slice(0, p) + ins.join('') + s.slice(p + del);
        }
        assertWellFormed(s, analyseBounded(s));
      }),
      { seed: 42, numRuns: 1500 },
    );
  });

  test('pathological inputs', () => {
    const deep = `state x\nx' = ${'('.repeat(5000)}x${')'.repeat(5000)}\nloss = x(T)`;
    assertWellFormed(deep, analyse(deep));
    const unary = `state x\nx' = ${'-'.repeat(100000)}x\nloss = x(T)`;
    assertWellFormed(unary, analyse(unary));
    const pow = `state x\nx' = x${'^x'.repeat(5000)}\nloss = x(T)`;
    assertWellFormed(pow, analyse(pow));
    const long = `state x\nx' = x${' + x'.repeat(50000)}\nloss = x(T)`;
    assertWellFormed(long, analyse(long));
    // Exponential expansion of nested user functions is cut off with a diagnostic.
    const fns = [
      'f0(u) = u + u',
      ...Array.from({ length: 40 }, (_, i) => `f${i + 1}(u) = f${i}(u) + f${i}(u)`),
      "x' = f40(x)",
      'loss = x(T)',
    ].join('\n');
    const a = analyse(fns);
    assertWellFormed(fns, a);
    assert.ok(a.diagnostics.some((d) => d.code === 'too-large'));
    const rec = "f(u) = g(u)\ng(u) = f(u)\nx' = f(x)\nloss = x(T)";
    assert.ok(analyse(rec).diagnostics.some((d) => d.code === 'recursive-definition'));
    const huge = "state x[1000000]\nparam A[1000000, 1] = 0\nx' = sum(A + x) + x\nloss = sum(x(T))";
    assert.ok(analyse(huge).diagnostics.some((d) => d.code === 'too-large'));
    for (const s of [
      '',
      '\n\n\n',
      '@',
      '@@@',
      'done',
      '\\',
      'state x\\',
      "x'",
      "x' =",
      'loss',
      '[',
      '"',
      '\u0000\u0001',
      '\r\r\r',
    ]) {
      assertWellFormed(s, analyse(s));
    }
  });

  // Its speed is measured by `npm run bench`, not here.
  test('the 2,000-line benchmark model parses and checks without errors', () => {
    const text = largeModelText();
    assert.ok(lineCount(text) >= 2000);
    const a = analyse(text);
    assert.deepEqual(errors(a), []);
    assert.equal(a.model?.params.length, 1200);
  });
});

test('a subexpression shared by several parents is visited once, and its delay calls are found once', () => {
  // kohonen.ode's findext index is one node read by each of its 100 equations: walked as a tree, 3,698 nodes were
  // visited 847,358 times on every analysis.
  const text = [
    'par a=0.5',
    "x[0..39]' = -x[j] + a*tanh(sum(0,39)of(shift(x0,i')*shift(x0,i')))*delay(x[j], 1)",
    'x[0..39](0) = 0.1',
    '@ total=2, dt=0.1, delay=2',
  ].join('\n');
  const m = analyse(text).model;
  assert.ok(m);
  const roots = m.equations.map((q) => q.rhs);
  const visited: Expr[] = [];
  visitExpressions(roots, (e) => visited.push(e));
  assert.equal(new Set(visited).size, visited.length, 'no node twice');
  const shared = {
    kind: 'call',
    callee: 'delay',
    args: [
      { kind: 'name', name: 'x0' },
      { kind: 'number', value: 1 },
    ],
    shape: [],
  };
  const twice = { kind: 'binary', op: '+', left: shared, right: shared } as unknown as Expr;
  const seen: Expr[] = [];
  visitExpressions([twice, twice], (e) => seen.push(e));
  assert.equal(seen.length, 4, 'the sum, the call and its two arguments');
  assert.equal(delayCalls(callsByCallee([twice])).length, 1);
});

test('the delay bound and the Volterra note find their calls however the checker built them', () => {
  const codes = (lines: string[]) => analyse(lines.join('\n')).diagnostics.map((d) => d.code);
  const delayBound = (lines: string[]) => codes(lines).filter((c) => c === 'delay-bound').length;
  assert.equal(delayBound(['f(u) = delay(u, 1)', "x' = -f(x)", 'init x=1']), 1, 'through a user function');
  assert.equal(delayBound(["x' = -x", 'global 1 x-0.5 {x=delay(x, 0.1)+1}', 'init x=1']), 1, 'in a reset');
  assert.equal(delayBound(["x0' = -del_shft(x0, 1, 0.5)", "x1' = -x1", 'init x0=1, x1=2']), 1, 'del_shft');
  assert.equal(delayBound(["x' = -delay(x, 1)", 'init x=1', '@ delay=2']), 0, 'within the maximal delay');
  assert.ok(codes(["x' = -x + int{exp(-t)#x}", 'init x=1']).includes('volterra-model'));
  const plain = codes(["x' = -x", 'init x=1']);
  assert.ok(!plain.includes('delay-bound') && !plain.includes('volterra-model'));
});

test("a model's solve calls are walked once and are those of its solve expressions", () => {
  const text = [
    'par a=0.5, k=2',
    "x' = -x + a*delay(y, 1) + int{exp(-t)#x}",
    "y' = -y + delay(x, 0.5)",
    'global 1 x-1 {y=delay(x, 0.2)}',
    'init x=0.1, y=0.2',
    '@ total=2, dt=0.1, delay=2',
  ].join('\n');
  const m = analyse(text).model;
  assert.ok(m);
  const calls = solveCalls(m);
  assert.equal(solveCalls(m), calls, 'kept for the model');
  // Independently: every call node of the right-hand sides, events and resets, found by a walk of each.
  const found: Expr[] = [];
  visitExpressions(solveExpressions(m), (e) => {
    if (e.kind === 'call') found.push(e);
  });
  const delays = found.filter((e) => e.kind === 'call' && e.callee === 'delay');
  assert.equal(delays.length, 3);
  assert.deepEqual(delayCalls(calls), delays);
  assert.deepEqual(
    integralCalls(calls),
    found.filter((e) => e.kind === 'call' && e.callee === 'int'),
  );
  assert.equal(integralCalls(calls).length, 1);
});
