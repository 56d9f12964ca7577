// The whole-solve kernel's stage and step combinations (engine/scalarKernel/rungeKutta.ts: combine), element by
// element with the usual tableaus' terms written out, against the plain loop over the terms one at a time: the same
// float32 numbers bit for bit, for any number of terms (the written-out counts and the general loop), into a
// float32 or float64 row, at any offsets, with NaN, both zeros and the infinities among the values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { combine } from '../../solver/engine/scalarKernel/rungeKutta';

const f32 = Math.fround;

/** x + Σ c·K_j, one term at a time over every element, each product and partial sum rounded. */
function termByTerm(
  x: ArrayLike<number>,
  xAt: number,
  terms: { j: number; c: number }[],
  K: Float64Array[],
  S: number,
) {
  const out = new Float64Array(S);
  for (let e = 0; e < S; e++) out[e] = x[xAt + e];
  for (const { j, c } of terms) for (let e = 0; e < S; e++) out[e] = f32(out[e] + f32(c * K[j][e]));
  return out;
}

const value = fc.oneof(
  { weight: 8, arbitrary: fc.float({ noDefaultInfinity: false }).map(f32) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, 0, -0, Infinity, -Infinity, 1e-45) },
);

test('combinations element by element equal the term-by-term loop bit for bit, for 0 to 7 terms', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 1, max: 7 }),
      fc.array(fc.record({ j: fc.nat(), c: value }), { maxLength: 7 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 3 }),
      fc.boolean(),
      fc.infiniteStream(value),
      (S, stages, drawn, xAt, intoAt, float32Row, values) => {
        const next = () => values.next().value as number;
        const K = Array.from({ length: stages }, () => Float64Array.from({ length: S }, next));
        const terms = drawn.map(({ j, c }) => ({ j: j % stages, c }));
        const x = Float32Array.from({ length: xAt + S }, next);
        const into = float32Row ? new Float32Array(intoAt + S) : new Float64Array(intoAt + S);
        combine(x, xAt, terms, K, into, intoAt, S);
        const want = termByTerm(x, xAt, terms, K, S);
        for (let e = 0; e < S; e++)
          assert.ok(
            Object.is(into[intoAt + e], want[e]),
            `element ${e} of ${S}, ${terms.length} terms: ${into[intoAt + e]} vs ${want[e]}`,
          );
      },
    ),
    { numRuns: 400 },
  );
});
