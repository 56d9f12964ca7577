// The bench's editor rows measure what they say, over the built server (dist/server.js): a check's
// diagnostics cannot arrive before the default debounce has passed (an earlier publish would be the
// front end's, not the check's), every save is timed, and the latency row counts the requests it sent
// and the notifications it received.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../../protocol/settings';
import { benchEditorTimings } from '../../bench/editorTimings';
import { benchLspLatency } from '../../bench/lspLatency';
import { repoRoot } from '../support/lspClient';

const SERVER = join(repoRoot, 'dist/server.js');

test('editor timings: the spiral’s first check and save → diagnostics come after the default debounce', {
  timeout: 180_000,
}, async () => {
  const t = await benchEditorTimings(SERVER, join(repoRoot, 'examples/spiral.ode'), 2);
  assert.equal(t.debounceMs, DEFAULT_SETTINGS.check.debounceMs);
  assert.equal(t.saveToDiagnosticsMs.length, 2);
  for (const ms of [t.firstCheckMs, ...t.saveToDiagnosticsMs])
    assert.ok(Number.isFinite(ms) && ms >= t.debounceMs, `${ms} ms: before the debounce of ${t.debounceMs} ms`);
  assert.equal(t.saveMaxMs, Math.max(...t.saveToDiagnosticsMs));
});

test('LSP latency: requests while the spiral-sized check runs, and the notifications it sent', {
  timeout: 180_000,
}, async () => {
  const [row] = await benchLspLatency(SERVER, [[16, 64]]);
  assert.ok(row.requests > 0 && row.finishRequests > 0, JSON.stringify(row));
  assert.ok(
    row.checkMs > 0 && Number.isFinite(row.finishP95Ms) && row.finishMaxMs >= row.finishP95Ms,
    JSON.stringify(row),
  );
  assert.notEqual(row.largestMessage, '-', 'no notification counted');
  assert.ok(row.largestMessageBytes > 0 && row.largestMessageBytes <= row.totalBytes, JSON.stringify(row));
});
