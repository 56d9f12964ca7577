// The one-pass layer analysis gives what its separate passes give: densities
// and filter121's rows bit for bit, the detector and both errors to rounding of their
// sums (they add the same terms in another order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  averagedBulkRow,
  densityArray,
  densityColumns,
  filter121Rows,
  layerPass,
  A1,
  A2,
  DD,
  NA,
  NC,
  DEN,
  V0,
  V1,
  U0,
  U1,
  SUMS,
} from '../../solver/engine/layerPass';
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
      assert.deepEqual(densityArray(Gf, N, P, scale), d);
      const det = detectOscillation(d, N, P);
      assert.equal(r.detector.applicable, det.applicable);
      close(r.detector.alpha, det.alpha, 'α');
      close(r.detector.beta, det.beta, 'β');
      if (Math.abs(det.alpha - 0.1) > 1e-9 && Math.abs(det.beta - 10) > 1e-9)
        assert.equal(r.detector.oscillating, det.oscillating);
      const c = filter121(d, N, P);
      // The corrected rows a report carries, every column and a few, are filter121's bit for bit.
      assert.deepEqual(filter121Rows(d, N, P), rows(c, N, P));
      const some = [P - 1, 0].filter((k, i, a) => a.indexOf(k) === i);
      assert.deepEqual(filter121Rows(d, N, P, some), rows(c, N, P, some));
      // The report's rows from d's few columns alone: d's and c's values there.
      const few = densityColumns(Gf, N, P, scale, some);
      assert.deepEqual(rows(few, N, some.length), rows(d, N, P, some));
      assert.deepEqual(filter121Rows(few, N, some.length), rows(c, N, P, some));
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

/** averagedBulkRow as it was written first (a test per value for average's parity, the detector's /4 per value). */
function averagedBulkRowPlain(
  G: Float32Array,
  d: Float32Array,
  g: Float32Array,
  o: number,
  P: number,
  s: number,
  w: number,
  acc: Float64Array,
): void {
  const o1 = o - P,
    o2 = o1 - P,
    o3 = o2 - P,
    o4 = o3 - P,
    u = 1 - w;
  for (let k = 0; k < P; k++) {
    const dn = Math.fround(G[o + k] * s);
    d[o + k] = dn;
    const d1 = d[o1 + k],
      d2 = d[o2 + k],
      d3 = d[o3 + k],
      d4 = d[o4 + k];
    const cm = Math.fround((d2 + 2 * d1 + dn) / 4);
    const x1 = (-d3 + 2 * d2 - d1) / 4,
      x2 = (-d4 + 2 * d2 - dn) / 4;
    acc[A1] += x1 * x1;
    acc[A2] += x2 * x2;
    acc[DD] += d2 * d2;
    const r = g[o1 + k],
      ea = d1 - r,
      ec = cm - r;
    acc[NA] += ea * ea;
    acc[NC] += ec * ec;
    acc[DEN] += r * r;
    const b = Math.fround(u * r + w * g[o + k]),
      e = Math.fround((d1 + dn) / 2) - b;
    if ((o1 + k) & 1) {
      acc[V1] += e * e;
      acc[U1] += b * b;
    } else {
      acc[V0] += e * e;
      acc[U0] += b * b;
    }
  }
}

test('averagedBulkRow gives the plain loop’s row and sums bit for bit (odd and even widths and offsets)', () => {
  const rowCase = fc
    .record({ n: fc.integer({ min: 4, max: 9 }), P: fc.integer({ min: 1, max: 11 }) })
    .chain(({ n, P }) =>
      fc.record({
        n: fc.constant(n),
        P: fc.constant(P),
        lead: fc.integer({ min: 0, max: 3 }),
        G: fc.array(value, { minLength: (n + 1) * P, maxLength: (n + 1) * P }),
        d: fc.array(value, { minLength: n * P, maxLength: n * P }),
        g: fc.array(value, { minLength: (n + 1) * P, maxLength: (n + 1) * P }),
        s: fc.double({ min: 0.01, max: 1e3, noNaN: true }),
        w: fc.double({ min: 0, max: 1, noNaN: true }),
        acc: fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: SUMS, maxLength: SUMS }),
      }),
    );
  fc.assert(
    fc.property(rowCase, ({ n, P, lead, G, d, g, s, w, acc }) => {
      const Gf = Float32Array.from(G),
        gf = Float32Array.from(g);
      // d's rows elsewhere than G's and g's (the pass's ring): `lead` rows further on.
      const d1 = new Float32Array((n + lead + 1) * P),
        d2 = new Float32Array((n + 1) * P);
      d1.set(d, lead * P);
      d2.set(d);
      const a1 = Float64Array.from(acc),
        a2 = Float64Array.from(acc);
      averagedBulkRow(Gf, d1, gf, n * P, (n + lead) * P, P, s, w, a1);
      averagedBulkRowPlain(Gf, d2, gf, n * P, P, s, w, a2);
      assert.deepEqual(d1.subarray(lead * P), d2);
      assert.deepEqual(a1, a2);
    }),
    { seed: 17, numRuns: 500 },
  );
});
