// Which parameters a check confirms at a second step count (docs/design.md#detector): flagged ones always;
// borderline ones (α above its threshold, β not) at N/2 only when β is above what uncorrelated copies give.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BORDERLINE_BETA, confirmationPlan } from '../../solver/check/confirmation';
import type { LayerAnalysis } from '../../solver/check/layers';
import type { LayerResult } from '../../solver/engine/layerAnalysis';
import type { ParameterReport } from '../../solver/report';
import type { Model } from '../../solver/model';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { initialParameters } from '../../solver/engine/parameters';
import { Rng } from '../../solver/engine/random';

function analysis(...metrics: { alpha: number; beta: number; oscillating?: boolean }[]): LayerAnalysis {
  return {
    results: metrics.map(() => ({}) as LayerResult),
    parameters: metrics.map(
      (m, i) =>
        ({
          name: `p${i}`,
          oscillating: !!m.oscillating,
          metrics: { alpha: m.alpha, beta: m.beta, relError: 0, correctedRelError: 0, gradcheckRelError: 0 },
        }) as ParameterReport,
    ),
  };
}

const run = (steps: number, refinement?: number) => ({
  model: { options: { steps } } as Model,
  options: refinement ? { refinement } : {},
});

test('a borderline α with β at the noise level is not re-solved at N/2; above it, or flagged, it is', () => {
  const noise = analysis({ alpha: 0.61, beta: 4.0 }, { alpha: 0.6, beta: BORDERLINE_BETA });
  assert.deepEqual(confirmationPlan(run(256), noise), { borderline: [], studyLevels: 0, coarse: false, levels: 0 });
  const above = analysis({ alpha: 0.61, beta: 4.0 }, { alpha: 0.5, beta: 7.6 });
  const plan = confirmationPlan(run(256), above);
  assert.equal(plan.coarse, true);
  assert.deepEqual(
    plan.borderline.map((p) => p.name),
    ['p1'],
  );
  const flagged = confirmationPlan(
    run(256),
    analysis({ alpha: 0.61, beta: 4.0 }, { alpha: 0.7, beta: 80, oscillating: true }),
  );
  assert.equal(flagged.coarse, true);
  assert.deepEqual(flagged.borderline, []);
  // Not at N/2 (odd N, or a study): every borderline parameter goes to the 2N level as before.
  const odd = confirmationPlan(run(255), noise);
  assert.equal(odd.levels, 1);
  assert.equal(odd.borderline.length, 2);
  assert.equal(confirmationPlan(run(256, 1), noise).borderline.length, 2);
});

test('independent random copies (what trained weights look like): β at the noise level, no finding, no N/2 solve needed', async () => {
  const text = `state x[2]\ninit x = 0.7\nparam W1[8,2] per-step ~ normal(0, 0.6)\nparam b[8] per-step ~ normal(0, 0.3)\nparam W2[2,8] per-step ~ normal(0, 0.6)\nx' = W2 @ tanh(W1 @ x + b)\nloss = 0.5 * sum((x(T) - 0.3)^2)\n@ total=1, steps=128, meth=leapfrog, seed=4\ndone`;
  const m = analyse(text).model!;
  const { tf } = await initBackend('cpu');
  const rng = new Rng(9);
  const values = initialParameters(tf, m).map((v) => v.map((x) => x + rng.normal()));
  const r = await runCheck(m, { backend: 'cpu', parameterValues: values, reference: false, gradcheck: false });
  for (const p of r.parameters) {
    assert.ok(p.metrics.alpha > 0.1 && p.metrics.beta < BORDERLINE_BETA, `${p.name}: ${JSON.stringify(p.metrics)}`);
    assert.equal(p.metrics.refinedSteps, undefined);
  }
  assert.ok(!r.findings.some((f) => f.code === 'oscillating-gradient'));
});
