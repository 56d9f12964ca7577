// Finite-difference steps (engine/finiteDifferences.ts): a parameter far smaller than the smallest absolute step
// (a rate of 1e-5 in exp(q·1e5)) gets steps relative to itself, so central differences resolve its gradient
// instead of moving it by a hundred times its size; a parameter of ordinary size keeps its steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';

const backend = 'cpu' as const;

async function check(text: string) {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return runCheck(a.model, { backend });
}

test('a tiny parameter in a steep nonlinearity: finite differences at steps relative to it agree with AD', async () => {
  const r = await check("par q=1e-5\nx' = -x + exp(q*1e5)\ninit x=0\n@ total=1, dt=0.05, meth=rk4\ndone\n");
  const q = r.parameters.find((p) => p.name === 'q')!;
  assert.ok(!q.metrics.gradcheckUnresolved, 'steps of 1e-3 moved q by 100× its size: unresolved');
  assert.ok(q.metrics.gradcheckRelError < 1e-2, `gradcheck ${q.metrics.gradcheckRelError}`);
  assert.ok(q.metrics.relError < 1e-3, `reference ${q.metrics.relError}`);
});

test('a tiny parameter whose loss relative steps cannot resolve keeps the absolute steps', async () => {
  // The loss moves by ~1e-12 per unit of c: steps of 1e-3·|c| change it far below float32 rounding.
  const r = await check("par k=0.5, c=1e-12\nx' = -k*x + c\ninit x=1\n@ total=1, dt=0.05, meth=rk4\ndone\n");
  for (const p of r.parameters) {
    assert.ok(!p.metrics.gradcheckUnresolved, `${p.name} unresolved`);
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: gradcheck ${p.metrics.gradcheckRelError}`);
  }
});
