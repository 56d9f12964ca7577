// The one-pass layer analysis gives what its separate passes give: densities
// and filter121's rows bit for bit, the detector and both errors to rounding of their
// sums (they add the same terms in another order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { filter121Rows, layerPass } from '../../solver/engine/layerPass';
import { detectOscillation, relErrorPair, rows } from '../../solver/engine/detect';
import { filter121 } from '../../solver/engine/corrections';

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);

const value = fc.float({ min: -100, max: 100, noNaN: true });
const cases = fc
  .record({
    N: fc.integer({ min: 3, max: 40 }),
    P: fc.integer({ min: 1, max: 9 }),
    filtered: fc.boolean(),
    withReference: fc.boolean(),
  })
  .chain(({ N, P, filtered, withReference }) =>
    fc.record({
      N: fc.constant(N),
      P: fc.constant(P),
      filtered: fc.constant(filtered),
      G: fc.array(value, { minLength: N * P, maxLength: N * P }),
      g: withReference ? fc.array(value, { minLength: N * P, maxLength: N * P }) : fc.constant(undefined),
      scale: fc.array(fc.double({ min: 0.01, max: 1e3, noNaN: true }), { minLength: N, maxLength: N }),
    }),
  );

test('layerPass equals densities, filter121, detectOscillation and relErrorPair', () => {
  fc.assert(
    fc.property(cases, ({ N, P, filtered, G, g, scale }) => {
      const Gf = Float32Array.from(G),
        gf = g ? Float32Array.from(g) : undefined;
      const r = layerPass(Gf, N, P, scale, filtered, gf);
      const d = Float32Array.from(Gf, (x, i) => x * scale[Math.floor(i / P)]);
      assert.deepEqual(r.d, d);
      const det = detectOscillation(d, N, P);
      assert.equal(r.detector.applicable, det.applicable);
      close(r.detector.alpha, det.alpha, 'α');
      close(r.detector.beta, det.beta, 'β');
      if (Math.abs(det.alpha - 0.1) > 1e-9 && Math.abs(det.beta - 10) > 1e-9)
        assert.equal(r.detector.oscillating, det.oscillating);
      const c = filter121(d, N, P);
      // The corrected rows a report carries, every column and a few, are filter121's bit for bit.
      assert.deepEqual(filter121Rows(r.d, N, P), rows(c, N, P));
      const some = [P - 1, 0].filter((k, i, a) => a.indexOf(k) === i);
      assert.deepEqual(filter121Rows(r.d, N, P, some), rows(c, N, P, some));
      if (!filtered) {
        assert.ok(Number.isNaN(r.relError) && Number.isNaN(r.correctedRelError));
        return;
      }
      if (!gf) {
        assert.ok(Number.isNaN(r.relError));
        return;
      }
      const [e, ec] = relErrorPair(d, c, gf);
      close(r.relError, e, 'error of d');
      close(r.correctedRelError, ec, 'error of c');
    }),
    { seed: 11, numRuns: 400 },
  );
});

test('layerPass on an oscillating sequence flags it, and its filtered rows are smooth', () => {
  // d_n = cos(t_n) + 0.5(−1)^n per column: the leapfrog pattern of docs/design.md#leapfrog.
  const N = 64,
    P = 3;
  const G = Float32Array.from({ length: N * P }, (_, i) => {
    const n = Math.floor(i / P);
    return Math.cos(n / N + (i % P)) + 0.5 * (n % 2 ? -1 : 1);
  });
  const smooth = Float32Array.from({ length: N * P }, (_, i) => Math.cos(Math.floor(i / P) / N + (i % P)));
  const r = layerPass(G, N, P, new Array(N).fill(1), true, smooth);
  assert.ok(r.detector.oscillating && r.detector.alpha > 0.3, JSON.stringify(r.detector));
  assert.ok(r.relError > 0.3 && r.correctedRelError < 0.01, `${r.relError} → ${r.correctedRelError}`);
  assert.throws(() => layerPass(G.subarray(0, 2 * P), 2, P, [1, 1], true), /at least 3 rows/);
});
