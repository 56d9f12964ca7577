// Backend selection: auto takes cpu by rule for small models, measures larger ones per size class and
// remembers the choice (in a cache directory of its own here); explicit cpu/wasm requests are honoured;
// tensorflow falls back with a reason when @tensorflow/tfjs-node is not installed (it cannot install here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, autoChoices, sizeClass, sizeHint } from '../../solver/engine/backend';
import { analyse } from '../../solver/language/index';

// Decisions this file measures go to a directory of its own, not the user's cache.
process.env.ODELENS_CACHE_DIR = mkdtempSync(join(tmpdir(), 'odelens-backend-'));

let nativeAvailable = false;
try {
  require.resolve('@tensorflow/tfjs-node');
  nativeAvailable = true;
} catch {
  /* not installed */
}

test('auto takes cpu by rule, without a measurement, for models of at most 256 values per step', {
  skip: nativeAvailable ? 'tfjs-node is installed here: auto takes it without a probe' : false,
}, async () => {
  for (const hint of [
    { elements: 64 * 80, steps: 64 }, // the spiral example
    { elements: 4, steps: 200 }, // the harmonic oscillator: one shared 2×2 matrix
    { elements: 256 * 1024, steps: 1024 },
  ]) {
    const h = await initBackend('auto', hint);
    assert.equal(h.backend, 'cpu');
    assert.match(h.reason ?? '', /by rule/);
    assert.equal(autoChoices().get(sizeClass(hint)), undefined, 'nothing measured');
  }
});

test('auto returns a valid backend, measured once per size class and remembered', async () => {
  const small = { elements: 64 * 10_000, steps: 64 }; // 4^7 values per step
  const h = await initBackend('auto', small);
  assert.ok(['tensorflow', 'wasm', 'cpu'].includes(h.backend));
  assert.ok(h.reason && h.reason.startsWith('auto'), h.reason);
  const x = h.tf.tensor1d([1, 2, 3]);
  assert.equal(h.tf.sum(x).dataSync()[0], 6);
  x.dispose();
  if (!nativeAvailable) {
    const cls = sizeClass(small);
    const first = autoChoices().get(cls);
    assert.ok(first, 'the choice is remembered');
    assert.match(first.reason, /cpu .*wasm/);
    const again = await initBackend('auto', { elements: 64 * 10_200, steps: 64 }); // same size class
    assert.equal(sizeClass({ elements: 64 * 10_200, steps: 64 }), cls);
    assert.equal(again.backend, first.backend);
    assert.equal(autoChoices().get(cls), first, 'not measured again');
    assert.notEqual(sizeClass({ elements: 64 * 100_000, steps: 64 }), cls);
  }
});

test('auto measures every step class, short solves included', {
  skip: nativeAvailable ? 'tfjs-node is installed here: auto takes it without a probe' : false,
}, async () => {
  // The probe once split a single stack with tf.split, which has no gradient: every model of ≤ 16 steps
  // failed its first check under auto.
  for (const steps of [1, 4, 8, 16, 17, 64, 256]) {
    const hint = { elements: 3000 * steps, steps }; // 4^6 values per step: a class no other test here measures
    const h = await initBackend('auto', hint);
    assert.ok(['wasm', 'cpu'].includes(h.backend), `${steps} steps: ${h.backend}`);
    assert.ok(autoChoices().get(sizeClass(hint)), `${steps} steps: measured and remembered`);
  }
});

test('auto takes cpu without a probe for a model whose right-hand side is fused, and measures a network', {
  skip: nativeAvailable ? 'tfjs-node is installed here: auto takes it without a probe' : false,
}, async () => {
  const xpp = analyse("par a=0.7\ninit u=0.5, v=0\nu' = v\nv' = -a*u - 0.1*v^3\n@ total=2, dt=0.004\ndone\n").model!;
  const hint = sizeHint(xpp);
  assert.equal(hint.fused, true);
  const h = await initBackend('auto', hint);
  assert.equal(h.backend, 'cpu');
  assert.match(h.reason ?? '', /fused/);
  assert.equal(autoChoices().get(sizeClass(hint)), undefined, 'nothing measured');
  // A per-step network of a size class no other test here measures (4^5 values per step).
  const net = analyse(
    "state x[2]\ninit x = [1, 0]\nparam W[256,2] per-step ~ normal(0, 0.3)\nparam V[2,256] per-step ~ normal(0, 0.3)\nx' = V @ tanh(W @ x)\n@ total=1, steps=32, meth=leapfrog\ndone\n",
  ).model!;
  const netHint = sizeHint(net);
  assert.equal(netHint.fused, false);
  assert.equal(autoChoices().get(sizeClass(netHint)), undefined, 'not measured yet');
  await initBackend('auto', netHint);
  assert.match(autoChoices().get(sizeClass(netHint))?.reason ?? '', /cpu .*wasm/, 'a network is measured');
});

test('explicit cpu and wasm requests are honoured', async () => {
  const c = await initBackend('cpu');
  assert.equal(c.backend, 'cpu');
  assert.equal(c.tf.getBackend(), 'cpu');
  const w = await initBackend('wasm');
  assert.equal(w.backend, 'wasm', w.reason);
  assert.equal(w.tf.getBackend(), 'wasm');
  const y = w.tf.tidy(() => w.tf.sum(w.tf.mul(w.tf.tensor1d([1, 2]), 3)).dataSync()[0]);
  assert.equal(y, 9);
  const back = await initBackend('cpu');
  assert.equal(back.tf.getBackend(), 'cpu');
});

test('tensorflow falls back with a clear reason when tfjs-node is absent', {
  skip: nativeAvailable ? 'tfjs-node is installed here' : false,
}, async () => {
  const h = await initBackend('tensorflow');
  assert.notEqual(h.backend, 'tensorflow');
  assert.match(h.reason ?? '', /tensorflow requested but @tensorflow\/tfjs-node cannot be loaded/);
  assert.match(h.reason ?? '', /using cpu/);
});
