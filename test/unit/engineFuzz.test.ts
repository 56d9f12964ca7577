// Valid but unusual models through the whole check with the defaults a user gets (backend auto):
// every scheme (built-in and declared), 1–100 steps (stacks of copies of one: 1, 17, 33, 65),
// tied, per-stage and shared parameters, every correction, grad=adjoint, scalar XPPAUT-like systems,
// no loss; and random right-hand sides over every built-in function. The check must return a report
// (or stop on its time budget), never throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse } from '../../solver/language/index';
import type { AnalysisContext } from '../../solver/model';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';
import { runCheck } from '../../solver/check';

/** The backends a check can run on here: auto (measured per size class: wasm for some small models), and each by name. */
const backend = fc.constantFrom('auto', 'cpu', 'wasm') as fc.Arbitrary<'auto' | 'cpu' | 'wasm'>;

async function checkReturns(text: string, on: 'auto' | 'cpu' | 'wasm' = 'auto', context?: AnalysisContext) {
  const a = analyse(text, context);
  if (!a.model) return false;
  let report;
  try {
    report = await runCheck(a.model, { backend: on, timeBudgetMs: 30_000 });
  } catch (e) {
    if ((e as Error).name === 'CheckTimeout') return true; // stopped on its budget: a clean end
    throw new Error(`${(e as Error).message}\n${text}`);
  }
  if (!report.findings.some((f) => f.code === 'blow-up'))
    assert.equal(report.parameters.length, a.model.params.length, text);
  for (const f of report.findings) assert.ok(f.range && f.message, `${f.code} without a range or message\n${text}`);
  return true;
}

test('the check returns a report for every valid model, with the default backend', async () => {
  await fc.assert(
    fc.asyncProperty(modelText, backend, async (text, on) => {
      assert.ok(
        await checkReturns(text, on),
        `the front end rejects a model this generator means to be valid:\n${analyse(text)
          .diagnostics.map((d) => d.message)
          .join('; ')}\n${text}`,
      );
    }),
    { seed: 11, numRuns: 150 },
  );
});

test('the check returns a report for random right-hand sides over every function', async () => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(expressionModel, backend, async (text, on) => {
      if (await checkReturns(text, on)) checked++;
    }),
    {
      seed: 5,
      numRuns: 150,
      examples: [
        // max of a scalar and a [1]: TF.js's maximum gradient does not sum over broadcast dimensions.
        [
          "state u[1]\ninit u = 0\nparam a[1] ~ normal(0.5, 0.3)\nparam b = 0.2\nu' = max(b, a - u)\nloss = sum(u(T)^2)\n@ total=1, steps=64, meth=rk4\ndone",
          'cpu',
        ],
        // ∂f/∂a = ∂f/∂u: one tensor for both products in the reference's backward sweep.
        [
          "state u[1]\ninit u = 0.5\nparam a[1] ~ normal(0.5, 0.3)\nparam b per-step = 0\nu' = exp(a + u) + 2\nloss = sum(u(T)^2)\n@ total=0.2, steps=1, meth=midpoint\ndone",
          'cpu',
        ],
      ],
    },
  );
  assert.ok(checked >= 100, `only ${checked} of 152 generated models pass the front end`);
});

test('the check returns a report for small vector and matrix models (fused right-hand sides), on every backend', async () => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(smallTensorModel, backend, async (text, on) => {
      if (await checkReturns(text, on)) checked++;
    }),
    { seed: 8, numRuns: 80 },
  );
  assert.equal(checked, 80, 'the generator makes only valid models');
});

test('data losses: observation times on and off the grid, at t0 and T, on every backend', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-fuzz-'));
  let file = 0;
  try {
    const dataModel = fc.record({
      total: fc.constantFrom(0.5, 1, 2),
      steps: fc.constantFrom(1, 3, 8, 16, 17, 64),
      d: fc.integer({ min: 1, max: 2 }),
      fractions: fc.uniqueArray(fc.constantFrom(0, 1, 0.5, 0.001, 0.25, 0.3, 0.77, 0.999), {
        minLength: 1,
        maxLength: 6,
      }),
      header: fc.boolean(),
      perStep: fc.boolean(),
      meth: fc.constantFrom('euler', 'heun', 'rk4', 'leapfrog', 'ab2', 'milne'),
      loss: fc.constantFrom(
        '0.5 * sum((x(obs) - obs)^2)',
        'sum((x(obs) - obs)^2) + sum(x(T)^2)',
        'sum(abs(x(obs) - obs))',
      ),
      values: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
    });
    await fc.assert(
      fc.asyncProperty(dataModel, backend, async (o, on) => {
        const times = [...o.fractions].sort((a, b) => a - b).map((f) => f * o.total);
        const csv =
          (o.header ? ['t', ...Array.from({ length: o.d }, (_, i) => `x${i}`)].join(',') + '\n' : '') +
          times
            .map((t, k) =>
              [t, ...Array.from({ length: o.d }, (_, i) => o.values[(2 * k + i) % 12].toFixed(3))].join(','),
            )
            .join('\n') +
          '\n';
        const name = `d${file++}.csv`;
        writeFileSync(join(dir, name), csv);
        const text = [
          `data obs = "${name}"`,
          `state x[${o.d}]`,
          'init x = 0.5',
          `param W[${o.d},${o.d}]${o.perStep ? ' per-step' : ''} ~ normal(0, 0.5)`,
          `param b[${o.d}] = 0`,
          "x' = W @ tanh(x) + b",
          `loss = ${o.loss}`,
          `@ total=${o.total}, steps=${o.steps}, meth=${o.meth}`,
          'done',
        ].join('\n');
        assert.ok(
          await checkReturns(text, on, { documentPath: join(dir, 'model.ode') }),
          `the front end rejects:\n${text}\n${csv}`,
        );
      }),
      { seed: 3, numRuns: 60 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
