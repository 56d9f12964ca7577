// Tests of the formatter (solver/language/format.ts): exact output on each
// construct, comments kept, broken lines untouched, idempotence, and
// parse(format(src)) = parse(src) apart from positions.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { analyse, format, formatEdits, formatRange, parse } from '../../solver/language/index';
import { repoRoot, xppautSamplesDir } from '../support/repo';

const root = repoRoot();

/** Every .ode file of the repository's examples (recursively) and every ```ode block of the docs. */
function corpus(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ode')) out.push([p.slice(root.length + 1), readFileSync(p, 'utf8')]);
    }
  };
  walk(join(root, 'examples'));
  const md = readFileSync(join(root, 'docs', 'language.md'), 'utf8');
  [...md.matchAll(/```ode\n([\s\S]*?)```/g)].forEach((b, i) => out.push([`docs/language.md block ${i + 1}`, b[1]]));
  // XPPAUT samples, when the machine has them (read only, never copied into the repository).
  const samples = xppautSamplesDir();
  if (samples)
    for (const f of readdirSync(samples).filter((f) => f.endsWith('.ode')))
      out.push([f, readFileSync(join(samples, f), 'utf8')]);
  return out;
}

/** The parse tree and diagnostics without positions (ranges are expected to move). */
function shapeOfParse(text: string): unknown {
  const { program, diagnostics } = parse(text);
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        if (k !== 'range' && !k.endsWith('Range') && k !== 'ranges' && !k.endsWith('Ranges')) o[k] = strip(x);
      return o;
    }
    return v;
  };
  return {
    statements: strip(program.statements),
    diagnostics: diagnostics.map((d) => [d.code, d.severity, d.message]),
  };
}

function checkFormat(src: string, name = 'input'): string {
  const once = format(src);
  assert.equal(format(once), once, `${name}: format is not idempotent`);
  assert.deepEqual(shapeOfParse(once), shapeOfParse(src), `${name}: formatting changed the parse`);
  // Every comment survives (same text, same order).
  const comments = (t: string): string[] =>
    t.split(/\r\n|\r|\n/).flatMap((l) => (l.includes('#') ? [l.slice(l.indexOf('#')).trimEnd()] : []));
  assert.deepEqual(comments(once), comments(src), `${name}: comments changed`);
  return once;
}

describe('format: each construct', () => {
  const cases: [string, string][] = [
    ["x'=-x+a*b", "x' = -x + a * b"],
    ['dx/dt=x^2', 'dx/dt = x^2'],
    ['  state   x[2] ,y', 'state x[2], y'],
    ['state x[2,3]', 'state x[2, 3]'],
    ['init x=[1,-2]', 'init x = [1, -2]'],
    ['x(0)=1', 'x(0) = 1'],
    ['par a=1,b=-2  c=3', 'par a = 1, b = -2 c = 3'],
    ['param W1[16,2]   per-step ~normal(0,0.3)', 'param W1[16, 2] per-step ~ normal(0, 0.3)'],
    ['param b[2] shared=0', 'param b[2] shared = 0'],
    ['number  k=2*3', 'number k = 2 * 3'],
    ['f(u,v)=u*v', 'f(u, v) = u * v'],
    ['k=a  /  2', 'k = a / 2'],
    ['aux e=x^2', 'aux e = x^2'],
    ["x'=W@tanh(V@x)", "x' = W @ tanh(V @ x)"],
    ["x'=x**2*2^-1", "x' = x^2 * 2^-1"],
    ["x'=-(-x)", "x' = -(-x)"],
    ["x'=a- -b", "x' = a - -b"],
    ["x'=if(x>1&x<=2|x!=0)then(-x)else(x==1)", "x' = if(x > 1 & x <= 2 | x != 0) then(-x) else(x == 1)"],
    ["x'=A[0,1]+v[2]+x(T)[0]", "x' = A[0, 1] + v[2] + x(T)[0]"],
    ['loss=0.5*sum((x(T)-[0.5,-1])^2)', 'loss = 0.5 * sum((x(T) - [0.5, -1])^2)'],
    ['data  obs="a b.csv"', 'data obs = "a b.csv"'],
    [
      'scheme s rk a=[[0,0],[2/3,0]] b=[1/4,3/4] c=[0,2/3]',
      'scheme s rk a = [[0, 0], [2 / 3, 0]] b = [1 / 4, 3 / 4] c = [0, 2 / 3]',
    ],
    ['@ total = 1 steps=10,meth=rk4  t0=-1', '@ total=1, steps=10, meth=rk4, t0=-1'],
    ["x'=x   # a comment  ", "x' = x # a comment"],
    ['   # indented comment   ', '# indented comment'],
    ['done', 'done'],
  ];
  for (const [input, expected] of cases) {
    test(`${input} → ${expected}`, () => {
      assert.equal(format(input), expected);
      checkFormat(input);
    });
  }

  test('lines with syntax errors, unsupported lines, continuations and everything after done are left as they are', () => {
    const src = [
      "x' = (1 +  ",
      "  y'=  1",
      'markov z 2',
      '{0} {1}',
      '" an XPPAUT action',
      "w' = a + \\",
      '   b',
      'done',
      '  after   =  done  ',
    ].join('\n');
    assert.equal(format(src), src.replace("  y'=  1", "y' = 1"));
  });

  test('line endings are kept (\\r\\n, \\n, \\r)', () => {
    assert.equal(format("x'=x\r\ny'=y\rz'=z\n"), "x' = x\r\ny' = y\rz' = z\n");
  });
});

describe('format: edits for LSP', () => {
  const src = "x'=x\n# c\ny'=y\nz' = z\nloss=x(T)";
  test('formatEdits replaces only the lines that change, whole-line', () => {
    assert.deepEqual(formatEdits(src), [
      { range: { start: { line: 0, character: 0 }, end: { line: 0, character: 4 } }, newText: "x' = x" },
      { range: { start: { line: 2, character: 0 }, end: { line: 2, character: 4 } }, newText: "y' = y" },
      { range: { start: { line: 4, character: 0 }, end: { line: 4, character: 9 } }, newText: 'loss = x(T)' },
    ]);
  });
  test('formatRange touches only lines in the range', () => {
    assert.deepEqual(
      formatRange(src, 1, 3).map((e) => e.range.start.line),
      [2],
    );
    assert.deepEqual(formatRange(src, 3, 3), []);
    assert.deepEqual(formatRange(src, -5, 100), formatEdits(src));
  });
});

describe('format: properties', () => {
  test('every example, docs and XPPAUT sample model: idempotent, same parse, same diagnostics', () => {
    const files = corpus();
    assert.ok(files.length >= 6);
    for (const [name, text] of files) {
      const once = checkFormat(text, name);
      const codes = (t: string): string[] =>
        analyse(t).diagnostics.map((d) => `${d.code}:${d.severity}:${d.range.start.line}`);
      assert.deepEqual(codes(once), codes(text), name);
    }
  });

  // Generated valid models with random spacing.
  const sp = fc.constantFrom('', ' ', '  ', '\t');
  const name = fc.constantFrom('x', 'y', 'a', 'b', 't');
  const num = fc.constantFrom('1', '2.5', '.5', '1e-3', '3E+2', '0');
  const expr: fc.Arbitrary<string> = fc.letrec((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      name,
      num,
      fc
        .tuple(
          sp,
          fc.constantFrom('+', '-', '*', '/', '<', '>', '<=', '>=', '==', '!=', '&', '|'),
          sp,
          tie('e'),
          tie('e'),
        )
        .map(([s1, op, s2, l, r]) => `${l}${s1}${op}${s2}${r}`),
      fc.tuple(sp, tie('e'), tie('e')).map(([s, l, r]) => `(${l})${s}^${s}(${r})`),
      fc.tuple(sp, tie('e')).map(([s, x]) => `-${s}${x}`),
      fc.tuple(sp, tie('e')).map(([s, x]) => `(${s}${x}${s})`),
      fc.tuple(sp, fc.constantFrom('sin', 'tanh', 'heav', 'abs'), tie('e')).map(([s, f, x]) => `${f}(${s}${x})`),
      fc.tuple(sp, tie('e'), tie('e')).map(([s, x, y]) => `max(${x},${s}${y})`),
      fc.tuple(sp, tie('e'), tie('e'), tie('e')).map(([s, c, x, y]) => `if(${c})${s}then${s}(${x})${s}else(${y})`),
    ),
  })).e;
  const model = fc
    .tuple(sp, sp, expr, expr, fc.constantFrom('', ' # note', '#x'))
    .map(([s1, s2, e1, e2, c]) =>
      [
        `# generated${c}`,
        `${s1}par${s2}a=1,${s1}b${s2}=${s1}2${c}`,
        `x'${s1}=${s2}${e1}`,
        `dy/dt${s2}=${s1}${e2}${c}`,
        `init x=1${s1}y=${s2}-2`,
        `loss${s1}=${s2}x(T)^2${s1}+${s2}y(T)`,
        `@${s1}total=1${s2}steps=8,${s1}meth=heun`,
        'done',
      ].join('\n'),
    );

  test('generated models: idempotent and the same parse', () => {
    fc.assert(
      fc.property(model, (src) => {
        checkFormat(src);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('random and mutated text: never throws, idempotent, the same parse', () => {
    const alphabet = [
      ...'abcxyzWT0123456789.e+-*/^@()[],=~\'#\\" \n\t<>!&|',
      'state ',
      'param ',
      'init ',
      'loss ',
      'per-step',
      'if(',
      'then',
      'else',
      'data ',
      'scheme ',
      '\r\n',
    ];
    const text = fc.array(fc.constantFrom(...alphabet), { maxLength: 120 }).map((ts) => ts.join(''));
    fc.assert(
      fc.property(text, (src) => {
        checkFormat(src);
      }),
      { seed: 42, numRuns: 1000 },
    );
  });
});
