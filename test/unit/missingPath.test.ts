// Why the dashboard's trajectory and adjoint tabs are empty (webview/views.ts: missingPath), from real reports:
// a map's reference runs (its own adjoint) but records neither path, which is not "the reference did not run".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { splitReport } from '../../solver/summary';
import { missingPath } from '../../webview/views';

async function summaryOf(lines: string[]) {
  const a = analyse(lines.join('\n'));
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return splitReport(await runCheck(a.model, { backend: 'cpu', threads: 1 })).summary;
}

const RANGE = { start: { line: 1, character: 0 }, end: { line: 1, character: 8 } };
const MAP = ['par a=0.9, b=0.3', 'x(t+1) = a*x + b', 'init x=0.2', '@ total=20', 'done'];

test("a map's reference ran: its empty tabs say that it records no path, not that it did not run", async () => {
  for (const lines of [MAP, [...MAP.slice(0, -1), 'global 1 x-0.8 {x=0.1}', 'done']]) {
    const summary = await summaryOf(lines);
    assert.equal(summary.referenceUnavailable, undefined, 'the map has its reference');
    assert.match(missingPath(summary, 'trajectory'), /a map's reference .* records none/);
    assert.doesNotMatch(missingPath(summary, 'trajectory'), /did not run/);
    assert.match(missingPath(summary, 'adjoint'), /a map's reference/);
  }
});

test('a report whose reference did not run says so, a map included', async () => {
  const ran = await summaryOf(MAP);
  const skipped = {
    ...ran,
    referenceUnavailable: { cause: 'map' as const, reason: 'a map with a data loss', message: '', range: RANGE },
  };
  assert.match(missingPath(skipped, 'trajectory'), /which did not run/);
  assert.doesNotMatch(missingPath(skipped, 'adjoint'), /a map's reference/);
});
