// Analysis and corrections (docs/design.md#corrections, #detector) on models written in the language:
// the corrections' formulas on synthetic sequences, adjoint121 / average /
// filter121 in a check, the refinement study, verdicts, κ, no tensor leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { MAX_REPORTED_COMPONENTS } from '../../solver/report';
import { initBackend } from '../../solver/engine/backend';
import { average, filter121, stagesum, stageImbalance, adjoint121 } from '../../solver/engine/corrections';
import type { Model } from '../../solver/model';
import type { ParameterReport } from '../../solver/report';
import { overallVerdict, verdictFor, UNCERTAIN_REFERENCE } from '../../solver/engine/verdict';
import { REFERENCE_USABLE } from '../../solver/engine/reference';
import { relError } from '../../solver/engine/detect';
import { gradfixEdit, quickFixTitle } from '../../solver/service/codeActions';
import { applyEdits } from '../support/textEdits';
import { parameterMetricsMarkdown, reportHoverMarkdown } from '../../solver/service/gradientHover';

const backend = 'cpu' as const;

export function mlpModel(o: {
  meth: string;
  steps: number;
  width?: number;
  seed?: number;
  total?: number;
  gradfix?: string;
  perStep?: boolean;
}): Model {
  const w = o.width ?? 4,
    ps = o.perStep === false ? '' : ' per-step';
  const text = `state x[2]
init x = [1, 0]
param W1[${w},2]${ps} ~ normal(0, 0.5)
param W2[2,${w}]${ps} ~ normal(0, 0.5)
x' = W2 @ tanh(W1 @ x)
loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)
@ total=${o.total ?? 1}, steps=${o.steps}, meth=${o.meth}, seed=${o.seed ?? 1}${o.gradfix ? `, gradfix=${o.gradfix}` : ''}
done
`;
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

test('average sits at t_{n+½} and cancels an alternating part to first order', () => {
  const N = 32,
    P = 1,
    h = 1 / N;
  const times = Array.from({ length: N }, (_, n) => n * h);
  const d = times.map((t, n) => Math.sin(3 * t) + (n % 2 ? 1 : -1) * Math.cos(t));
  const a = average(d, N, P, times);
  assert.equal(a.times[3], 3.5 * h);
  // interior: (d_n + d_{n+1})/2 = mean of the smooth part ± O(h) from cos
  for (let n = 2; n < N - 2; n++)
    assert.ok(Math.abs(a.values[n] - Math.sin(3 * a.times[n])) < 2 * h, `${n}: ${a.values[n]}`);
  const f = filter121(d, N, P);
  for (let n = 2; n < N - 2; n++) assert.ok(Math.abs(f[n] - Math.sin(3 * times[n])) < 4 * h * h, `${n}: ${f[n]}`);
});

test('stagesum puts Σ_i G_{n,i}/h at the stage centre and interpolates to the stage times; κ measures the split', () => {
  // midpoint-like split: stage 1 gets nothing, stage 2 everything; the sum is the smooth g(t)·h.
  const N = 40,
    s = 2,
    h = 1 / N,
    g = (t: number) => 1 + t * t;
  const G = new Float32Array(N * s);
  for (let n = 0; n < N; n++) G[n * s + 1] = h * g((n + 0.5) * h);
  const out = stagesum(G, { steps: N, stages: s, h, t0: 0, c: [0, 0.5], b: [0, 1] }, 1);
  for (let n = 2; n < N - 2; n++) {
    assert.ok(Math.abs(out[n * s] - g(n * h)) < h * h, `stage 1 at ${n}: ${out[n * s]}`);
    assert.ok(Math.abs(out[n * s + 1] - g((n + 0.5) * h)) < 1e-5, `stage 2 at ${n}`);
  }
  const d = Float32Array.from(G, (x) => x / h);
  const kappa = stageImbalance(d, out, { steps: N, stages: s }, 1);
  assert.ok(kappa > 0.5 && kappa < 1, `κ ${kappa}`);
  assert.equal(stageImbalance(out, out, { steps: N, stages: s }, 1), 0);
});

test("adjoint121 filters the adjoint and keeps the layer's own Jacobian; ends extrapolated", () => {
  const N = 10,
    S = 1,
    sizes = [1];
  const m = Array.from({ length: N }, (_, n) => n + (n % 2 ? 1 : -1));
  const J = (n: number) => 2 + n; // ∂θf_n
  const [c] = adjoint121(m, N, S, sizes, (n, cot) => [[J(n) * cot[0]]]);
  for (let n = 1; n < N - 1; n++) assert.ok(Math.abs(c[n] - J(n) * n) < 1e-5, `${n}: ${c[n]}`);
  assert.ok(Math.abs(c[0] - (2 * c[1] - c[2])) < 1e-5);
  assert.ok(Math.abs(c[N - 1] - (2 * c[N - 2] - c[N - 3])) < 1e-5);
});

test('leapfrog per-step: report recommends filter121; verdict says oscillating; gradfix selects the correction', async () => {
  const r = await runCheck(mlpModel({ meth: 'leapfrog', steps: 64 }), { backend });
  assert.equal(r.recommendedCorrection, 'filter121');
  assert.equal(r.correction, 'filter121');
  assert.equal(r.verdict?.kind, 'oscillating');
  for (const p of r.parameters) {
    assert.equal(p.verdict?.kind, 'oscillating', p.verdict?.explanation);
    assert.match(p.verdict!.explanation, /does not converge as h → 0/);
  }
  for (const gradfix of ['average', 'filter121', 'adjoint121'] as const) {
    const c = await runCheck(mlpModel({ meth: 'leapfrog', steps: 64, gradfix }), { backend });
    assert.equal(c.correction, gradfix);
    assert.equal(c.recommendedCorrection, 'filter121');
    assert.deepEqual(
      c.findings.filter((f) => f.severity === 'warning'),
      [],
      `${gradfix}: ${c.findings.map((f) => f.message)}`,
    );
    for (const p of c.parameters) {
      assert.equal(p.oscillating, false, `${gradfix} ${p.name} α=${p.metrics.alpha}`);
      assert.ok(
        p.metrics.correctedRelError < (gradfix === 'average' ? 0.1 : 0.02),
        `${gradfix} ${p.name}: ${p.metrics.correctedRelError}`,
      );
      assert.equal(p.verdict?.kind, 'corrected');
      // The uncorrected run priced this correction from the same AD gradient: the figure its remedy quotes.
      const priced = r.parameters.find((q) => q.name === p.name)?.metrics.correctionErrors?.[gradfix];
      if (gradfix === 'adjoint121') assert.equal(priced, undefined, 'adjoint121 needs a VJP per step: not priced');
      else
        assert.ok(
          priced !== undefined && Math.abs(priced - p.metrics.correctedRelError) <= 1e-4 * p.metrics.correctedRelError,
          `${gradfix} ${p.name}: priced ${priced}, applied ${p.metrics.correctedRelError}`,
        );
      if (gradfix === 'average') assert.equal(p.correctedTimes?.[0], 0.5 / 64);
      else assert.equal(p.correctedTimes, undefined);
    }
  }
});

test('strongly stable tied schemes recommend no correction and converge', async () => {
  for (const meth of ['euler', 'heun', 'midpoint', 'rk4']) {
    const r = await runCheck(mlpModel({ meth, steps: 32 }), { backend });
    assert.equal(r.recommendedCorrection, undefined, meth);
    assert.equal(r.verdict?.kind, 'converges', `${meth}: ${r.verdict?.explanation}`);
  }
});

test('a reference that one halving cannot resolve is halved again, and its reported error holds', async () => {
  // ω·dt = 2.5: the reference's steps start from dt. One halving left it 20 % off (the embedded estimate
  // alone said 1 %); ∫ g dt of the shared w does not depend on the step count, so the same model on 64 steps
  // (a reference 8× finer) measures it.
  const text = (steps: number) =>
    `state x\nstate v\ninit x = 1\ninit v = 0\nparam w = 20\nx' = v\nv' = -w*w*x\nloss = 0.5*x(T)^2\n@ total=1, steps=${steps}, meth=rk4\ndone\n`;
  const check = async (steps: number) => {
    const a = analyse(text(steps));
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    return runCheck(a.model, { backend });
  };
  const r = await check(8),
    fine = await check(64);
  assert.ok(r.referenceError < REFERENCE_USABLE, `reference error ${r.referenceError}`);
  const actual = relError(
    Float32Array.from(r.parameters[0].reference[0]),
    Float32Array.from(fine.parameters[0].reference[0]),
  );
  assert.ok(
    actual <= r.referenceError + fine.referenceError,
    `measured ${actual}, reported ${r.referenceError} (+ ${fine.referenceError})`,
  );
  // AD is right for the discrete model (ω·dt = 2.5 leaves it far from the flow): the verdict says both.
  const v = r.parameters[0].verdict!;
  assert.equal(v.kind, 'converges', v.explanation);
  assert.match(v.explanation, /still far from the flow's gradient, a smaller dt brings it closer/);
  assert.doesNotMatch((await check(64)).parameters[0].verdict!.explanation, /still far/);
});

test('verdicts that rest on an uncertain reference are inconclusive and say why', () => {
  const shared = {
    name: 'w',
    shape: [],
    perStep: false,
    metrics: { relError: 0.01, correctedRelError: 0.01, gradcheckRelError: 1e-4 },
  } as unknown as ParameterReport;
  const perStep = { ...shared, perStep: true } as ParameterReport;
  const ctx = (referenceError: number, gradfix: 'none' | 'filter121' = 'none') => ({
    gradfix,
    correction: 'filter121' as const,
    scheme: 'rk4',
    zeroWeightCopies: 0,
    stageImbalanced: false,
    oscillating: false,
    hasReference: true,
    referenceError,
    kinks: [],
    steps: 64,
  });
  for (const p of [shared, perStep]) {
    for (const gradfix of ['none', 'filter121'] as const) {
      assert.notEqual(verdictFor(p, ctx(UNCERTAIN_REFERENCE / 2, gradfix)).kind, 'inconclusive');
      const v = verdictFor(p, ctx(2 * UNCERTAIN_REFERENCE, gradfix));
      assert.equal(v.kind, 'inconclusive');
      assert.match(v.explanation, /reference is uncertain itself \(estimated relative error 0\.1/);
    }
  }
  // An oscillation needs no reference to be seen: it stays the verdict.
  assert.equal(verdictFor(perStep, { ...ctx(0.5), oscillating: true }).kind, 'oscillating');
});

test('refinement study: levels N, 2N, 4N with observed orders (leapfrog raw ≈ 0, filter121 ≥ 1.8)', async () => {
  const r = await runCheck(mlpModel({ meth: 'leapfrog', steps: 32 }), { backend, refinement: true });
  for (const p of r.parameters) {
    const st = p.refinement!;
    assert.deepEqual(
      st.levels.map((l) => l.steps),
      [32, 64, 128],
    );
    assert.equal(st.rawOrders.length, 2);
    assert.ok(Math.abs(st.rawOrder) < 0.3, `${p.name} raw order ${st.rawOrder}`);
    assert.ok(st.correctedOrder > 1.8, `${p.name} corrected order ${st.correctedOrder}`);
    for (const l of st.levels) assert.ok(l.alpha > 0.1, `α at ${l.steps}: ${l.alpha}`);
    assert.match(p.verdict!.explanation, /filter121 converges at order/);
  }
});

test('no tensors leak with adjoint121 and the refinement study', async () => {
  const { tf } = await initBackend(backend);
  const m = mlpModel({ meth: 'leapfrog', steps: 16, gradfix: 'adjoint121' });
  await runCheck(m, { backend, refinement: 1 });
  const before = tf.memory().numTensors;
  await runCheck(m, { backend, refinement: 1 });
  await runCheck(mlpModel({ meth: 'leapfrog', steps: 16, gradfix: 'average' }), { backend, refinement: true });
  assert.equal(tf.memory().numTensors, before);
});

test('per-stage midpoint: κ flags the stage split, stagesum is recommended and offered by the quick fix', async () => {
  const text = (gradfix: string) => `state x[2]
init x = [1, 0]
param W1[4,2] per-step ~ normal(0, 0.5)
param W2[2,4] per-step ~ normal(0, 0.5)
x' = W2 @ tanh(W1 @ x)
@ total=1, steps=32, meth=midpoint, tie=stage, seed=3${gradfix}
done
`;
  const a = analyse(text(''));
  assert.ok(a.model);
  const r = await runCheck(a.model, { backend });
  assert.equal(r.recommendedCorrection, 'stagesum');
  assert.equal(r.correction, 'stagesum');
  for (const p of r.parameters) {
    assert.equal(p.raw.length, 64);
    assert.deepEqual(p.stages?.slice(0, 4), [0, 1, 0, 1]);
    assert.ok((p.metrics.kappa ?? 0) > 0.3, `κ ${p.metrics.kappa}`);
    assert.ok(
      p.metrics.relError > 0.3 && p.metrics.correctedRelError < 0.05,
      `${p.metrics.relError} ${p.metrics.correctedRelError}`,
    );
    assert.equal(p.verdict?.kind, 'stage-imbalance');
  }
  const f = r.findings.filter((x) => x.code === 'stage-imbalance');
  assert.equal(f.length, 2);
  assert.match(f[0].message, /κ=[\d.]+ > 0\.3/);
  const edit = gradfixEdit(text(''), a.model, r.recommendedCorrection);
  assert.equal(applyEdits(text(''), [edit!]), text(', gradfix=stagesum'));
  assert.equal(quickFixTitle(r.recommendedCorrection), 'Correct AD gradients with stagesum');
  const md = reportHoverMarkdown({ report: r, reportIsCurrent: true });
  assert.match(md, /recommended: `gradfix=stagesum`/);
  assert.match(md, / κ \|/);
  // The verdict names the parameter its figures are for; the other of its kind follows as likewise.
  assert.match(
    md,
    /\*\*Verdict:\*\* W1: per-stage copies split the gradient unevenly.* Likewise W2, each with its own figures\./,
  );

  const fixed = analyse(text(', gradfix=stagesum'));
  const c = await runCheck(fixed.model!, { backend });
  assert.deepEqual(
    c.findings.filter((x) => x.severity === 'warning').map((x) => x.message),
    [],
  );
  for (const p of c.parameters) assert.equal(p.verdict?.kind, 'corrected');
});

test('the parameter hover shows the verdict and the refinement study', async () => {
  const r = await runCheck(mlpModel({ meth: 'leapfrog', steps: 32 }), { backend, refinement: 1 });
  const md = parameterMetricsMarkdown('W1', true, { report: r, reportIsCurrent: true });
  assert.match(md, /⚠ \*\*oscillating:\*\* oscillating: the AD density alternates/);
  assert.match(md, /\| 64 \| [\d.]+ \| [\d.e-]+ \| [\d.]+ \|/);
  assert.match(md, /Refinement \(same θ\(t\), more steps\): raw order -?[\d.e-]+, filter121 order [\d.]+/);
});

test('wide per-step tensors: the report carries the components with the largest continuous gradient, the metrics all of them', async () => {
  // W[32,16] acts on a constant u with zeros in its odd entries: only the 32·8 = 256
  // components W[i, even j] get a gradient, exactly MAX_REPORTED_COMPONENTS of 512.
  const u = Array.from({ length: 16 }, (_, j) => (j % 2 === 0 ? 1 + j / 16 : 0));
  const text = `state u[16]
state y[32]
init u = [${u.join(', ')}]
param W[32,16] per-step ~ normal(0, 0.3)
u' = 0 * u
y' = tanh(W @ u)
loss = sum(y(T))
@ total=1, steps=16, meth=heun, seed=2
done
`;
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  const r = await runCheck(a.model, { backend });
  const p = r.parameters[0];
  assert.equal(MAX_REPORTED_COMPONENTS, 256);
  assert.ok(p.components, 'a 512-component tensor is cut to the reported components');
  assert.deepEqual(
    p.components,
    Array.from({ length: 512 }, (_, k) => k).filter((k) => (k % 16) % 2 === 0),
  );
  for (const rowsOf of [p.raw, p.corrected, p.reference]) {
    assert.equal(rowsOf.length, 16);
    for (const row of rowsOf) assert.equal(row.length, 256);
  }
  assert.ok(
    p.reference.every((row) => row.every((v) => v !== 0)),
    'the reported components are those with a gradient',
  );
  assert.ok(p.metrics.relError < 1e-3 && p.metrics.gradcheckRelError < 1e-2, JSON.stringify(p.metrics));
  // A small tensor keeps every component and no index list.
  const small = await runCheck(
    analyse(text.replace('W[32,16]', 'W[2,16]').replace('state y[32]', 'state y[2]')).model!,
    { backend },
  );
  assert.equal(small.parameters[0].components, undefined);
  assert.equal(small.parameters[0].raw[0].length, 32);
});

test('the overall verdict names only the parameters its figures belong to; the others of its kind follow as likewise', () => {
  const p = (name: string, kind: 'inconclusive' | 'converges', explanation: string) =>
    ({ name, verdict: { kind, explanation } }) as unknown as ParameterReport;
  const v = overallVerdict([
    p('a', 'inconclusive', 'no reference; AD agrees with finite differences (relative error 0.002).'),
    p('b', 'converges', 'converges (error 1e-4).'),
    p('c', 'inconclusive', 'no reference; AD agrees with finite differences (relative error 0.041).'),
    p('d', 'inconclusive', 'no reference; AD agrees with finite differences (relative error 0.002).'),
  ]);
  assert.equal(v?.kind, 'inconclusive');
  assert.equal(
    v?.explanation,
    'a, d: no reference; AD agrees with finite differences (relative error 0.002). Likewise c, each with its own figures.',
  );
  assert.equal(
    overallVerdict([p('b', 'converges', 'converges (error 1e-4).')])?.explanation,
    'b: converges (error 1e-4).',
  );
  // Of the same kind for another reason (XPPAUT's delta.ode: w's finite differences crossed firings): its own words.
  const other = overallVerdict([
    p('b', 'inconclusive', 'no reference: two events fire at t = 6.283; AD agrees with finite differences (5.1e-4).'),
    p('phi', 'inconclusive', 'no reference: two events fire at t = 6.283; AD agrees with finite differences (0.0302).'),
    p('w', 'inconclusive', 'finite differences cannot judge the AD gradient here: every step moved a firing.'),
  ]);
  assert.equal(
    other?.explanation,
    'b: no reference: two events fire at t = 6.283; AD agrees with finite differences (5.1e-4). Likewise phi, each with its own figures. w: finite differences cannot judge the AD gradient here: every step moved a firing.',
  );
});
