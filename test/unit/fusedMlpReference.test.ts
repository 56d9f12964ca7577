// The continuous reference's plain-JS passes for MLP fields (solver/engine/fusedMlp/reference.ts)
// against the tensor passes they replace, on random networks, schemes and copies: the forward solve
// bit for bit (x at the nodes, the accurate loss), g and the reported error to float32 rounding
// (the Jacobians and g of the batched adjoint sum their products in another order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, internalShape, sizeOf, type CompiledModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import { copyLayout } from '../../solver/engine/layerAnalysis';
import { schemeOf } from '../../solver/schemes/schemes';
import { relError } from '../../solver/engine/detect';
import { Rng } from '../../solver/engine/random';
import { thetaPath } from '../../solver/engine/fusedMlp/reference';

const network = fc.record({
  d: fc.integer({ min: 1, max: 10 }),
  widths: fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 2 }),
  act: fc.constantFrom('tanh', 'sigmoid', 'sin', ''),
  bias: fc.boolean(),
  perStep: fc.boolean(),
  meth: fc.constantFrom('leapfrog', 'euler', 'rk4', 'heun'),
  steps: fc.constantFrom(8, 32, 40),
  independent: fc.boolean(),
  seed: fc.nat({ max: 99 }),
});

function source(o: {
  d: number;
  widths: number[];
  act: string;
  bias: boolean;
  perStep: boolean;
  meth: string;
  steps: number;
  seed: number;
}): string {
  const lines = [`state x[${o.d}]`, 'init x = 0.5'];
  let expr = 'x',
    inSize = o.d;
  [...o.widths, o.d].forEach((out, k, all) => {
    const ps = o.perStep || k === 0 ? ' per-step' : '';
    lines.push(`param W${k}[${out},${inSize}]${ps} ~ normal(0, ${(1 / Math.sqrt(inSize)).toFixed(3)})`);
    let z = `W${k} @ ${expr}`;
    if (o.bias) {
      lines.push(`param b${k}[${out}]${ps} ~ normal(0, 0.2)`);
      z = `${z} + b${k}`;
    }
    expr = k === all.length - 1 ? z : o.act ? `${o.act}(${z})` : `(${z})`;
    inSize = out;
  });
  lines.push(
    `x' = ${expr}`,
    'loss = 0.5 * sum((x(T) - 0.1)^2)',
    `@ total=1, steps=${o.steps}, meth=${o.meth}, seed=${o.seed}`,
  );
  return lines.join('\n');
}

test('the reference of an MLP field in plain JS equals the tensor solve: forward bit for bit, g to rounding', async () => {
  const { tf } = await initBackend('cpu');
  await fc.assert(
    fc.asyncProperty(network, async (o) => {
      const model = analyse(source(o)).model;
      assert.ok(model, source(o));
      const { compiled: cm } = compileModel(tf, model);
      try {
        assert.ok(cm.mlp, 'the field is recognised');
        const { steps: N, dt: h, t0 } = model.options;
        const layout = copyLayout(schemeOf(model), N, h, t0);
        const rng = new Rng(o.seed + 7);
        const values = initialParameters(tf, model).map((v, i) =>
          o.independent && model.params[i].perStep ? rng.normals(v.length, 0, 0.5) : v,
        );
        const inp: ReferenceInput = {
          N,
          h,
          t0,
          layerTimes: layout.times,
          params: model.params.map((p, i) => ({
            perStep: p.perStep,
            values: values[i],
            shape: internalShape(p.shape),
            size: sizeOf(p.shape),
          })),
        };
        const tensors: CompiledModel = { ...cm, mlp: undefined };
        const js = continuousReference(tf, cm, inp),
          ops = continuousReference(tf, tensors, inp);
        assert.deepEqual(js.paths?.x, ops.paths?.x, 'x at the nodes');
        assert.equal(js.lossAccurate, ops.lossAccurate);
        assert.deepEqual(js.gridTimes, ops.gridTimes);
        js.g.forEach((g, i) => {
          const e = relError(g, ops.g[i]);
          assert.ok(e <= 1e-5, `${model.params[i].name}: g apart by ${e}`);
        });
        const re = Math.abs(js.referenceError - ops.referenceError);
        assert.ok(
          re <= 1e-3 * ops.referenceError + 1e-9,
          `reference error ${js.referenceError} vs ${ops.referenceError}`,
        );
      } finally {
        cm.dispose();
      }
    }),
    { numRuns: 40 },
  );
});

test('θ(t) filled a layer interval at a time, few points kept, equals θ(t) point by point, bit for bit, in either order', () => {
  fc.assert(
    fc.property(
      fc.record({
        N: fc.integer({ min: 2, max: 12 }),
        // Layer times on the h-grid (leapfrog, Euler) or at step midpoints (per-stage copies).
        offset: fc.constantFrom(0, 0.5),
        stride: fc.constantFrom(1, 2, 4),
        // Points kept (0: all); asked again after their buffers went to others, they are interpolated again.
        keep: fc.constantFrom(0, 3, 4, 16),
        backward: fc.boolean(),
        seed: fc.nat({ max: 99 }),
      }),
      ({ N, offset, stride, keep, backward, seed }) => {
        const h = 0.1,
          t0 = 0.3,
          rng = new Rng(seed);
        const layerTimes = Array.from({ length: N }, (_, n) => t0 + (n + offset) * h);
        const params = [
          { perStep: true, values: rng.normals(N * 5, 0, 1), shape: [5, 1], size: 5 },
          { perStep: false, values: rng.normals(3, 0, 1), shape: [3, 1], size: 3 },
        ];
        const points = Array.from({ length: (8 * N) / stride + 1 }, (_, j) => t0 + (j * stride * h) / 8);
        // A solve's order: each point, then the next, then back over them (the adjoint), then forward again.
        const order = [...points, ...[...points].reverse(), ...points];
        if (backward) order.reverse();
        const filled = thetaPath(params, layerTimes, h, t0, true, stride, keep),
          single = thetaPath(params, layerTimes, h, t0);
        for (const t of order) assert.deepEqual(filled(t), single(t), `θ(${t})`);
        // The values handed out stay as they were while the next points of a step are asked for (what the
        // solves hold: a stage's θ while the step's next point is interpolated), their buffers not reused.
        if (keep === 16) {
          const got = filled(points[1]),
            held = got.map((v) => v.slice());
          for (const t of points.slice(2, 6)) filled(t);
          assert.deepEqual(got, held);
        }
      },
    ),
    { numRuns: 300 },
  );
});
