// The one-pass pricing of filter121 and average (what a remedy quotes) gives the figures of the corrected
// rows themselves: relError of filter121's rows against g, and of average's rows against g re-sampled at
// their times, equal to the last bit (same float32 values, same sums in the same order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  averageError,
  filter121Error,
  postProcessingErrors,
  resample,
  type CopyLayout,
} from '../../solver/engine/layerAnalysis';
import { average, filter121 } from '../../solver/engine/corrections';
import { relError } from '../../solver/engine/detect';
import { layerPass } from '../../solver/engine/layerPass';

const value = fc.float({ min: -100, max: 100, noNaN: true });
const cases = fc.record({ N: fc.integer({ min: 4, max: 40 }), P: fc.integer({ min: 1, max: 9 }) }).chain(({ N, P }) =>
  fc.record({
    N: fc.constant(N),
    P: fc.constant(P),
    d: fc.array(value, { minLength: N * P, maxLength: N * P }),
    g: fc.array(value, { minLength: N * P, maxLength: N * P }),
    // Ascending layer times with uneven gaps (the copies of a scheme need not be equally spaced).
    gaps: fc.array(fc.double({ min: 0.01, max: 2, noNaN: true }), { minLength: N, maxLength: N }),
  }),
);

test('filter121Error and averageError equal relError of the corrected rows', () => {
  fc.assert(
    fc.property(cases, ({ N, P, d, g, gaps }) => {
      const df = Float32Array.from(d),
        gf = Float32Array.from(g);
      const times = gaps.map((_x, n) => gaps.slice(0, n + 1).reduce((a, b) => a + b, 0));
      assert.equal(filter121Error(df, N, P, gf), relError(filter121(df, N, P, 'linear'), gf));
      const a = average(df, N, P, times);
      const priced = relError(a.values, resample(gf, P, times, a.times));
      assert.equal(averageError(df, N, P, times, gf), priced);
      // The one-pass analysis takes it too when every average time lies in its own interval (always for even steps).
      const scale = times.map(() => 1);
      const pass = layerPass(df, N, P, scale, true, gf, times);
      if (pass.averageRelError !== undefined) assert.equal(pass.averageRelError, priced);
      const even = times.map((_t, n) => n * gaps[0]);
      assert.equal(
        layerPass(df, N, P, scale, true, gf, even).averageRelError,
        averageError(df, N, P, even, gf),
        'equally spaced layer times',
      );
    }),
    { numRuns: 300 },
  );
});

test('postProcessingErrors prices from the densities it is given as from G', () => {
  const N = 16,
    P = 3,
    h = 0.1;
  const times = Array.from({ length: N }, (_x, n) => n * h);
  const layout: CopyLayout = {
    steps: N,
    stages: 1,
    h,
    t0: 0,
    c: [0],
    b: [1],
    count: N,
    perStage: false,
    weights: times.map(() => 1),
    times,
    stage: times.map(() => 0),
    weaklyStable: true,
    multistep: true,
  };
  const G = Float32Array.from({ length: N * P }, (_x, i) => Math.sin(i) + (i % 2 ? 0.3 : -0.3));
  const g = Float32Array.from({ length: N * P }, (_x, i) => Math.sin(i) / h);
  const d = Float32Array.from(G, (x) => x / h);
  const priced = postProcessingErrors(G, P, layout, g);
  assert.deepEqual(postProcessingErrors(G, P, layout, g, undefined, d), priced);
  assert.equal(priced.filter121, relError(filter121(d, N, P), g));
  assert.ok((priced.average ?? NaN) > 0);
  // A correction the analysis applied is priced at the figure it measured.
  assert.deepEqual(postProcessingErrors(G, P, layout, g, undefined, d, { filter121: 0.25 }), {
    filter121: 0.25,
    average: priced.average,
  });
});
