// Expressions as long or as deep as a file can make them: a sum of thousands of
// terms is a chain of left operands thousands deep, so every walk over the syntax
// tree (parser, checker, constant folding, compilers, fused program, formatter,
// language service) must take it without recursion bounded by its length. Nesting
// the parser bounds (parentheses, unary signs, powers) gets a diagnostic, not a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyseDocument, format } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { documentSymbols, foldingRanges, hover, semanticTokens, ServiceDocument } from '../../solver/service/index';
import type { Model } from '../../solver/model';
import { CompileError, MAX_CHAIN } from '../../solver/engine/compileNode';
import { compileModel, internalShape, type CompiledModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';

/** `first op term op term …` with n terms after the first. */
const chain = (first: string, n: number, term: (i: number) => string) =>
  first + Array.from({ length: n }, (_x, i) => term(i)).join('');

const OPTIONS = '@ total=0.1, dt=0.05, meth=rk4\ndone\n';

/** Models whose expressions are thousands of operations long, with the exact value of each where it is known. */
const LONG: { name: string; text: string }[] = [
  {
    name: '3,000-term sum in an equation',
    text: `par a=0.5\ninit x=1\nx' = -x${chain('', 3000, (i) => ` + ${(i % 7) - 3}e-4*a*x`)}\n${OPTIONS}`,
  },
  {
    name: '3,000 alternating sums and differences, products and quotients',
    text: `par a=0.5\ninit x=1, y=0.5\nx' = -x${chain('', 3000, (i) => (i % 2 ? ` - 1e-4*y/a` : ` + 1e-4*x*a`))}\ny' = x*a${chain('', 3000, () => '*1.0001')}\n${OPTIONS}`,
  },
  {
    name: '5,000 fixed quantities, each reading the one before',
    text: `par p=1\nw0 = p*x\n${Array.from({ length: 4999 }, (_x, i) => `w${i + 1} = w${i}*0.9999`).join('\n')}\ninit x=1\nx' = -w4999\n${OPTIONS}`,
  },
  {
    name: '10,000 continuation lines',
    text: `par a=0.5\ninit x=1\nx' = -a*x \\\n${Array.from({ length: 10000 }, () => '  + 1e-5*x \\').join('\n')}\n  + 0\n${OPTIONS}`,
  },
  {
    name: 'long sums in a fixed quantity, an initial value, a derived parameter, a function and the loss',
    text: [
      `par a=0.5`,
      `!d = 1${chain('', 3000, () => ' + 1e-4')}`,
      `f(u) = u${chain('', 3000, () => ' + 1e-5*u')}`,
      `init x = 0${chain('', 3000, () => ' + 1e-3')}`,
      `w = x${chain('', 3000, () => ' - 1e-5*x')}`,
      `x' = -a*f(w)/d`,
      `loss = x(T)${chain('', 3000, () => ' + 0*x(T)')}`,
      OPTIONS,
    ].join('\n'),
  },
];

/** Nesting the parser bounds: a diagnostic naming it, no internal error. */
const DEEP: { name: string; text: string }[] = [
  { name: '5,000 nested parentheses', text: `init x=1\nx' = -x + ${'('.repeat(5000)}x${')'.repeat(5000)}\n${OPTIONS}` },
  { name: '5,000 unary minus signs', text: `init x=1\nx' = ${'-'.repeat(5000)}x\n${OPTIONS}` },
  { name: '5,000 powers', text: `init x=1\nx' = -x${'^1'.repeat(5000)}\n${OPTIONS}` },
  { name: '5,000 nested calls', text: `init x=1\nx' = ${'sin('.repeat(5000)}x${')'.repeat(5000)}\n${OPTIONS}` },
  {
    name: '5,000 user functions calling one another',
    text: `par p=1\nf0(u) = p*u\n${Array.from({ length: 4999 }, (_x, i) => `f${i + 1}(u) = f${i}(u)*0.9999`).join('\n')}\ninit x=1\nx' = -f4999(x)\n${OPTIONS}`,
  },
  { name: '5,000 indices', text: `state v[2]\nv' = -v${'[0]'.repeat(5000)}\n${OPTIONS}` },
];

function model(text: string): Model {
  const a = analyseDocument(text);
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors, [], 'no error on a long expression');
  assert.ok(a.model);
  return a.model;
}

/** Every language-service feature over a document, at a position on each of a few lines. */
function serviceFeatures(text: string): void {
  const doc = new ServiceDocument(text);
  documentSymbols(doc);
  foldingRanges(doc);
  semanticTokens(doc);
  const lines = text.split('\n');
  for (let line = 0; line < lines.length; line += Math.max(1, lines.length >> 3))
    hover(doc, { line, character: lines[line].length >> 1 });
}

for (const { name, text } of LONG)
  test(`a long expression is checked like any other: ${name}`, async () => {
    const m = model(text);
    const report = await runCheck(m, { backend: 'cpu' });
    assert.ok(Number.isFinite(report.loss), 'finite loss');
    assert.ok(report.parameters.length > 0 && report.parameters.every((p) => Number.isFinite(p.metrics.relError)));
    // The per-operation compile gives the same f where it takes the expression (chains up to MAX_CHAIN).
    const { tf } = await initBackend('cpu');
    const fused = compileModel(tf, m).compiled;
    let perOperation: CompiledModel | undefined;
    try {
      perOperation = compileModel(tf, m, { fuseScalars: false }).compiled;
    } catch (e) {
      assert.ok(e instanceof CompileError && e.code === 'too-large', String(e));
    }
    if (perOperation) {
      const p = initialParameters(tf, m).map((v, i) => tf.tensor(v, internalShape(m.params[i].shape)));
      const a = fused.rhs(fused.x0, p, 0).map((x) => Array.from(x.dataSync()));
      const b = perOperation.rhs(perOperation.x0, p, 0).map((x) => Array.from(x.dataSync()));
      for (let i = 0; i < a.length; i++)
        for (let k = 0; k < a[i].length; k++)
          assert.ok(Math.abs(a[i][k] - b[i][k]) <= 1e-5 * Math.max(1, Math.abs(b[i][k])), `${a[i][k]} vs ${b[i][k]}`);
      perOperation.dispose();
    }
    fused.dispose();
    const formatted = format(text);
    assert.deepEqual(
      analyseDocument(formatted).diagnostics.filter((d) => d.severity === 'error'),
      [],
      'the formatted text checks too',
    );
    serviceFeatures(text);
  });

for (const { name, text } of DEEP)
  test(`nesting deeper than the parser allows gets a diagnostic, not a crash: ${name}`, () => {
    const a = analyseDocument(text);
    assert.ok(
      a.diagnostics.some((d) => d.severity === 'error' && /nested too deeply/.test(d.message)),
      JSON.stringify(a.diagnostics.map((d) => d.message)),
    );
    assert.ok(a.diagnostics.every((d) => d.code !== 'internal-error'));
    format(text);
    serviceFeatures(text);
  });

test('sums of any length give the sum of their terms, left to right (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: -9, max: 9 }), { minLength: 1, maxLength: 4000 }), async (cs) => {
      // x' = c0 + c1 + … (each term 1e-3·ci·p): f is a constant, so x(T) = x0 + T·Σ, exactly as summed in float32.
      const terms = cs.map((c) => `${c}e-3*p`).join(' + ');
      const m = model(`par p=1\ninit x=0\nx' = ${terms}\nloss = x(T)\n@ total=1, dt=1, meth=euler\ndone\n`);
      let want = 0;
      for (const c of cs) want = Math.fround(want + Math.fround(Math.fround(c * 1e-3) * 1));
      const report = await runCheck(m, { backend: 'cpu' });
      assert.equal(report.loss, Math.fround(want));
      // ∂loss/∂p = Σ ci·1e-3 (one euler step of length 1).
      const g = report.parameters[0].raw[0][0];
      assert.ok(Math.abs(g - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${g} vs ${want}`);
    }),
    { seed: 7, numRuns: 12 },
  );
});

test('a loss longer than the per-operation compile can nest is refused with a finding, not a crash', async () => {
  const m = model(`init x=1\nx' = -x\nloss = x(T)${chain('', MAX_CHAIN + 1, () => ' + 1e-3*x(T)')}\n${OPTIONS}`);
  const report = await runCheck(m, { backend: 'cpu' });
  assert.ok(
    report.findings.some((f) => f.code === 'too-large' && /chain of \d+ operations/.test(f.message)),
    JSON.stringify(report.findings.map((f) => [f.code, f.message])),
  );
});
