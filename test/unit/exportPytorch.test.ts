// The PyTorch exporter's side of the one operation table: every operation the engines compile has a PyTorch
// spelling, and what cannot be exported is refused with the construct named (the modules themselves run in
// test/e2e/pytorch.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FUNCTIONS, NEGATE, OPERATORS, POWER_FORMS, REDUCTIONS } from '../../solver/ops/table';
import { analyse } from '../../solver/language/index';
import { ExportError, pythonExpression, pythonNumber } from '../../solver/export/pythonExpression';
import { exportPyTorch } from '../../solver/export/pytorch';
import type { Expr } from '../../solver/model';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/repo';

const spiral = readFileSync(join(repoRoot(), 'examples/spiral.ode'), 'utf8');

test('every operation of solver/ops/table.ts has a PyTorch spelling', () => {
  const missing = [
    ...[...FUNCTIONS].map(([n, op]) => [n, op] as const),
    ...[...REDUCTIONS].map(([n, op]) => [`${n} (reduction)`, op] as const),
    ...Object.entries(OPERATORS),
    ['-x', NEGATE] as const,
    ...[...POWER_FORMS].flatMap(([k, op]) => (op === 'identity' ? [] : [[`x^${k}`, op] as const])),
  ].filter(([, op]) => !op.torch);
  assert.deepEqual(
    missing.map(([n]) => n),
    [],
  );
  assert.equal(OPERATORS['<='].torch?.('a', 'b'), '_f(a <= b)');
});

test('Python literals round-trip float32 values; non-finite ones are spelled out', () => {
  for (const v of [0.1, Math.fround(0.3), 1e-30, 2, -0.5, 1e21])
    assert.equal(Number(pythonNumber(v).replace(/^float\('(.*)'\)$/, '$1')), v);
  assert.equal(pythonNumber(2), '2.0');
  assert.equal(pythonNumber(Number.NaN), "float('nan')");
  assert.equal(pythonNumber(-Infinity), "float('-inf')");
});

test('a construct without a PyTorch spelling is refused with its name and range', () => {
  const a = analyse(spiral);
  assert.ok(a.model);
  const range = a.model.equations[0].rhs.range;
  const call: Expr = {
    kind: 'call',
    callee: 'erf',
    args: [{ kind: 'number', value: 1, range }],
    range,
    calleeRange: range,
  };
  assert.throws(
    () => pythonExpression(call, { model: a.model!, states: 'rhs' }),
    (e: unknown) =>
      e instanceof ExportError && /the function erf cannot be exported/.test(e.message) && e.range === range,
  );
  const t: Expr = { kind: 'name', name: 't', range };
  assert.throws(() => pythonExpression(t, { model: a.model!, states: 'loss' }), /the name t cannot be used here/);
});

test('the module names the scheme, copies, weights and correction of the model', () => {
  const a = analyse(spiral.replace(/meth=leapfrog/, 'meth=leapfrog, gradfix=filter121'));
  assert.ok(a.model);
  const P = [32, 16, 32];
  const text = exportPyTorch(a.model, {
    source: 'spiral.ode',
    values: P.map((n) => new Float32Array(n * a.model!.options.steps)),
    valuesFrom: 'zeros',
    version: 'test',
  });
  assert.match(text, /^SCHEME = \{"kind": "lmm", "method": \{"alpha": \[-1, 0, 1\], "beta": \[0, 2, 0\]\}/m);
  assert.match(text, /^CORRECTION = "filter121"$/m);
  assert.match(text, /^WEIGHTS = \[0\.5, 1, 1,/m);
  assert.match(text, /torch\.matmul\(p\[2\], torch\.tanh\(/);
});
