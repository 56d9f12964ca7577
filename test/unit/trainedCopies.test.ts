// The check at trained copies (docs/design.md#training-consequence). Copies trained on raw AD under leapfrog
// zig-zag from layer to layer themselves: the zigzag-copies finding says so on each parameter with the discrete and
// the flow loss; copies trained with filter121, seeded copies and independent random copies (white noise, β ≈ 4)
// get no such finding. Where training has come to rest, the corrected gradient nearly vanishes against the flow's,
// and the oscillation finding says that its large corrected error is the network's distance from the flow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import { CORRECTED_NORM_ERROR, type Report } from '../../solver/report';
import { train } from '../../solver/train/train';
import { DETECTOR } from '../../solver/engine/detect';
import { Rng } from '../../solver/engine/random';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { formatNumber } from '../../solver/presentation/format';
import { spiral } from './engineFixtures';

const backend = 'cpu' as const;
const zigzag = (r: Report) => r.findings.filter((f) => f.code === 'zigzag-copies');

test('copies trained on raw AD under leapfrog get zigzag-copies with the flow loss; filter121-trained ones do not', async () => {
  // SGD, lr 0.2, 200 iterations, leapfrog N = 64 (train.test.ts: raw total variation ≈ 200, flow loss ≫ discrete).
  const opts = { iterations: 200, optimizer: 'sgd' as const, learningRate: 0.2, backend, flowEvery: 200 };
  const raw = await train(spiral({ steps: 64 }), { ...opts, gradient: 'ad' });
  // Adam to rest (discrete loss ≈ 2e-10 with `odelens train --optimizer adam --lr 0.01`), where SGD is still moving.
  const fixed = await train(spiral({ steps: 64 }), {
    ...opts,
    optimizer: 'adam',
    learningRate: 0.01,
    gradient: 'filter121',
  });

  const atRaw = await runCheck(spiral({ steps: 64 }), { backend, parameterValues: raw.values, gradcheck: false });
  const found = zigzag(atRaw);
  assert.ok(found.length >= 1, `no zigzag-copies at raw-trained values: ${atRaw.findings.map((f) => f.code)}`);
  for (const f of found) {
    const m = f.metrics!;
    assert.equal(f.severity, 'warning');
    assert.ok(m.copiesAlpha! > DETECTOR.alpha && m.copiesBeta! > DETECTOR.beta, JSON.stringify(m));
    // The flow loss is the reference's accurate solve of the same copies: training's own flow loss (its own
    // accurate solve) agrees with it, and both are far above the discrete loss.
    const flow = Number(/solved accurately give loss ([^ .]+(?:\.\d+)?(?:e-?\d+)?)/.exec(f.message)?.[1]);
    assert.ok(Math.abs(flow - raw.final.flowLoss) <= 0.01 * raw.final.flowLoss, `${flow} vs ${raw.final.flowLoss}`);
    assert.ok(f.message.includes(`loss ${formatNumber(atRaw.loss)}`), f.message);
    assert.ok(flow > 10 * atRaw.loss, f.message);
  }

  const atFixed = await runCheck(spiral({ steps: 64 }), { backend, parameterValues: fixed.values, gradcheck: false });
  assert.deepEqual(
    zigzag(atFixed).map((f) => f.message),
    [],
    'filter121-trained copies are smooth',
  );
  // Training with filter121 came to rest: the corrected gradient is small against the flow's, so its corrected
  // error is large although the correction converges (the refinement study's order), and the finding says why.
  for (const p of atFixed.parameters) {
    const m = p.metrics;
    assert.ok(m.correctedRelError >= CORRECTED_NORM_ERROR, `${p.name}: ${m.correctedRelError}`);
    assert.ok(m.correctedNormRatio! < 0.25, `${p.name}: ‖corrected‖/‖reference‖ ${m.correctedNormRatio}`);
    const f = atFixed.findings.find((d) => d.code === 'oscillating-gradient' && d.parameter === p.name);
    assert.match(f?.message ?? '', /nearly vanishes here \([^)]+ of the flow's\): training with it has come to rest/);
  }
  const seeded = await runCheck(spiral({ steps: 64 }), { backend, gradcheck: false });
  assert.deepEqual(zigzag(seeded), [], 'seeded copies are equal');
  for (const p of seeded.parameters) assert.equal(p.metrics.correctedNormRatio, undefined, 'filter121 corrects it');
  assert.ok(!seeded.findings.some((f) => /nearly vanishes/.test(f.message)));
});

test('independent random copies (white noise across layers) are not taken for a zig-zag', async () => {
  const m = spiral({ steps: 64 });
  const { tf } = await initBackend(backend);
  const rng = new Rng(3);
  const values = initialParameters(tf, m).map((v) => v.map((x) => x * (1 + 0.5 * rng.normal())));
  const r = await runCheck(m, { backend, parameterValues: values, gradcheck: false });
  assert.deepEqual(zigzag(r), []);
  // The same copies with a period-2 pattern added are.
  const alternating = values.map((v, i) => {
    const P = v.length / 64;
    return v.map((x, k) => x + (Math.floor(k / P) % 2 ? 0.3 : -0.3) * (i + 1));
  });
  const z = await runCheck(m, { backend, parameterValues: alternating, gradcheck: false });
  assert.equal(zigzag(z).length, 3, z.findings.map((f) => f.code).join(', '));
});

test('a loss that is exactly 0 (the network reaches its target): the zero gradient is said to be the minimum, not a dead parameter', async () => {
  const { analyse } = await import('../../solver/language/index');
  const at = async (init: number) => {
    const a = analyse(`par k=1\nx' = k*x\ninit x=${init}\nloss = 0.5*x(T)^2\n@ total=1, dt=0.05, meth=rk4\ndone\n`);
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    return runCheck(a.model, { backend });
  };
  const zero = await at(0);
  assert.equal(zero.loss, 0);
  const f = zero.findings.find((d) => d.code === 'vanishing-gradient' && d.parameter === 'k');
  assert.match(f?.message ?? '', /The loss is exactly 0 at these values/);
  assert.equal(f?.severity, 'information');
  assert.match(zero.parameters[0].verdict?.explanation ?? '', /because the loss is exactly 0 here/);
  // Away from it the same model has a gradient, and no such note.
  const moving = await at(0.5);
  assert.ok(moving.loss > 0);
  assert.ok(!moving.findings.some((d) => /loss is exactly 0/.test(d.message)));
});

/** The check of a model without a loss line whose solution ends at the origin, and its parameter's vanishing note. */
async function zeroDefaultLoss(text: string, parameter: string) {
  const { analyse } = await import('../../solver/language/index');
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  const r = await runCheck(a.model, { backend });
  assert.equal(r.loss, 0);
  return { r, f: r.findings.find((d) => d.code === 'vanishing-gradient' && d.parameter === parameter) };
}

test("ODE Lens's default loss exactly 0 (a classic model at rest at the origin): the note says so and asks for a loss, not of a network at its target", async () => {
  // No loss line: the check's loss is ½‖x(T)‖², 0 for a solution that stays at the origin.
  const { r, f } = await zeroDefaultLoss(
    "par k=1\nx' = k*x - x^3\ninit x=0\n@ total=1, dt=0.05, meth=rk4\ndone\n",
    'k',
  );
  assert.match(f?.message ?? '', /The default loss ½‖x\(T\)‖² is exactly 0 at these values/);
  assert.match(f?.message ?? '', /A `loss = …` line of your own/);
  assert.doesNotMatch(f?.message ?? '', /network/);
  assert.match(r.parameters[0].verdict?.explanation ?? '', /the default loss ½‖x\(T\)‖² is exactly 0 here/);
});

test('a default loss of 0 and a parameter read only on ignored lines: the verdict gives the reason the note gives (no loss would help)', async () => {
  // XPPAUT's dumbbvp.ode: a is read only on a boundary-condition line, and the solution stays at the origin.
  const { r, f } = await zeroDefaultLoss("x'=y\ny'=x\nb x-y'\nb y-a\npar a=1\n@ total=1\ndone\n", 'a');
  assert.match(f?.message ?? '', /read only on `b` lines/);
  const verdict = r.parameters[0].verdict?.explanation ?? '';
  assert.match(verdict, /gets no gradient/);
  assert.doesNotMatch(verdict, /loss of your own/);
});
