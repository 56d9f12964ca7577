// The plot rows of wide tensors keep the columns with the largest norms: checked against the definition.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { largestColumns } from '../../solver/engine/detect';

/** The definition: columns ordered by norm (descending, ties by index), the first `limit`, ascending. */
function byDefinition(a: Float32Array, N: number, P: number, limit: number): number[] | undefined {
  if (P <= limit) return undefined;
  const norms = new Float64Array(P);
  for (let n = 0; n < N; n++) for (let k = 0; k < P; k++) norms[k] += a[n * P + k] ** 2;
  const order = Array.from({ length: P }, (_, k) => k).sort((x, y) => norms[y] - norms[x] || x - y);
  return order.slice(0, limit).sort((x, y) => x - y);
}

test('largestColumns picks the columns with the largest norms, ties by index', () => {
  // Values from a small set, so that equal norms (ties at the cut) are common.
  const rowsAndColumns = fc.record({
    N: fc.integer({ min: 1, max: 5 }),
    P: fc.integer({ min: 1, max: 40 }),
    limit: fc.integer({ min: 1, max: 30 }),
  });
  fc.assert(
    fc.property(
      rowsAndColumns.chain(({ N, P, limit }) =>
        fc
          .array(fc.constantFrom(0, 1, -1, 2, 0.5), { minLength: N * P, maxLength: N * P })
          .map((xs) => ({ N, P, limit, a: Float32Array.from(xs) })),
      ),
      ({ N, P, limit, a }) => {
        assert.deepEqual(largestColumns(a, N, P, limit), byDefinition(a, N, P, limit));
      },
    ),
    { seed: 7, numRuns: 500 },
  );
});

test('largestColumns shows a non-finite column first', () => {
  const a = Float32Array.from([1, NaN, 3, 0.5, 2, 1, 1, 4]);
  assert.deepEqual(largestColumns(a, 2, 4, 1), [1]);
  assert.deepEqual(largestColumns(a, 2, 4, 2), [1, 3]);
});
