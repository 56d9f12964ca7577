// The plot page's messages to the host are checked before the host acts on them: an export names its
// format, a file name and its data; anything else is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHostToWebview, isWebviewToHost } from '../../protocol/webviewMessages';

test('an export message is accepted only with a known format, a file name and its data', () => {
  const ok = { type: 'export', uri: 'file:///m.ode', format: 'csv', fileName: 'm-trajectory.csv', data: 'a,b\n' };
  assert.equal(isWebviewToHost(ok), true);
  assert.equal(isWebviewToHost({ ...ok, format: 'png', data: 'data:image/png;base64,AAAA' }), true);
  assert.equal(isWebviewToHost({ ...ok, format: 'svg' }), false);
  assert.equal(isWebviewToHost({ ...ok, data: 42 }), false);
  assert.equal(isWebviewToHost({ ...ok, fileName: undefined }), false);
  assert.equal(isWebviewToHost({ ...ok, uri: undefined }), false);
});

test('training messages reach the page only in their own shape', () => {
  const uri = 'file:///m.ode';
  const start = { type: 'trainStart', uri, gradients: ['ad', 'filter121'], iterations: 50 };
  assert.equal(isHostToWebview(start), true);
  assert.equal(isHostToWebview({ ...start, iterations: '50' }), false);
  assert.equal(isHostToWebview({ ...start, gradients: 'ad' }), false);
  const it = { gradient: 'ad', iteration: 0, loss: 0.8, flowLoss: null, totalVariation: 0 };
  assert.equal(isHostToWebview({ type: 'trainIterations', uri, iterations: [it] }), true);
  assert.equal(isHostToWebview({ type: 'trainIterations', uri, iterations: it }), false);
  assert.equal(isHostToWebview({ type: 'trainEnd', uri, outcome: 'cancelled', lines: [] }), true);
  assert.equal(isHostToWebview({ type: 'trainEnd', uri, outcome: 'cancelled' }), false);
  assert.equal(isHostToWebview({ type: 'trainEnd', outcome: 'completed', lines: [] }), false);
});
