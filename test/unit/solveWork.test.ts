// A fused model whose discrete solves would each run more than MAX_SOLVE_WORK operations of its program (a
// network whose every state sums over all of them, at the file's own steps) is refused before any solve, with
// the numbers and what makes it checkable; with fewer steps the same model checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

/**
 * A network of n oscillators: every state reads a sum over all the others, through a coupling that does not
 * separate (tanh: a sine's sums would be computed once for all states, language/separableSums.ts).
 */
const kuramoto = (n: number) => `h(phi)=tanh(phi+a)-tanh(a)+b*sin(2*phi)
par a=.5, b=.2, k=1
x[0..${n - 1}]'=0.01*[j]+k*sum(0,${n - 1})of(h(shift(x0,i')-x[j]))/${n}
@ total=1, dt=0.1
done`;

test('a model whose solves would run too many operations is refused before solving, with its numbers', async () => {
  const m = parse(kuramoto(100).replace('total=1, dt=0.1', 'total=100, dt=0.05'));
  const started = performance.now();
  const report = await runCheck(m, { backend: 'cpu' });
  const refusal = report.findings.find((f) => f.code === 'model-too-large');
  assert.ok(refusal, JSON.stringify(report.findings.map((f) => f.code)));
  assert.match(refusal.message, /8,000 times/);
  assert.match(refusal.message, /shorter total or a larger dt/);
  assert.ok(performance.now() - started < 20_000, 'refused without solving');
  // Fewer steps: the same network checks.
  const short = await runCheck(parse(kuramoto(100).replace('total=1', 'total=0.2')), { backend: 'cpu' });
  assert.ok(!short.findings.some((f) => f.code === 'model-too-large'));
});
