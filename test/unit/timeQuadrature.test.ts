// RK4's error in t from the pairs of a solve on half the usual step (engine/timeQuadrature.ts): for y' = f(t)
// RK4 is Simpson's rule, and the pairs' difference to Simpson on the usual step is (16 − 1)× the finer
// solve's error, forward and backward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairQuadratureDifference } from '../../solver/engine/timeQuadrature';

/** y' = ω cos(ωt) on [0, 1] by RK4 (Simpson per step) with K steps: y and y' at the nodes. */
function simpsonSolve(K: number, omega: number, backward: boolean) {
  const H = 1 / K;
  const f = (t: number) => omega * Math.cos(omega * t);
  const y = new Float64Array(K + 1),
    s = new Float64Array(K + 1);
  for (let k = 0; k <= K; k++) s[k] = f(k * H);
  if (backward) {
    // p' = −v with v = f: p(1) exact, then down, as the adjoint runs.
    y[K] = -Math.sin(omega);
    for (let k = K; k > 0; k--) y[k - 1] = y[k] + (H / 6) * (f(k * H) + 4 * f((k - 0.5) * H) + f((k - 1) * H));
  } else for (let k = 0; k < K; k++) y[k + 1] = y[k] + (H / 6) * (f(k * H) + 4 * f((k + 0.5) * H) + f((k + 1) * H));
  const exact = (k: number) => (backward ? -Math.sin(omega * k * H) : Math.sin(omega * k * H));
  let num = 0,
    den = 0;
  for (let k = 0; k <= K; k += 2) {
    num += (y[k] - exact(k)) ** 2;
    den += y[k] ** 2;
  }
  return { y, s, H, actual: Math.sqrt(num / den) };
}

for (const backward of [false, true]) {
  test(`pairs of steps against Simpson on twice the step: 15× the error in t (${backward ? 'backward' : 'forward'})`, () => {
    for (const omega of [3, 10, 25]) {
      const K = 64;
      const { y, s, H, actual } = simpsonSolve(K, omega, backward);
      const row = (a: Float64Array) => (k: number) => a.subarray(k, k + 1);
      const D = pairQuadratureDifference(row(y), row(s), K, H, 1, backward);
      const ratio = D / 15 / actual;
      assert.ok(ratio > 0.7 && ratio < 1.5, `ω ${omega}: estimate ${D / 15}, actual ${actual}`);
    }
  });
}

test('an odd number of steps has no pairs: no estimate', () => {
  const one = () => new Float64Array(1);
  assert.ok(Number.isNaN(pairQuadratureDifference(one, one, 3, 0.1, 1, false)));
});
