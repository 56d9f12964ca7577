// Engine tests: scheme orders, AD vs finite differences, the continuous
// reference, the oscillation detector and filter121 on the spiral, findings,
// cancellation and tensor hygiene. Models are built by hand (engineFixtures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { detectOscillation } from '../../solver/engine/detect';
import { filter121 } from '../../solver/engine/corrections';
import { schemeByName, validateTableau, TABLEAUX } from '../../solver/schemes/schemes';
import { parameterCopies } from '../../solver/schemes/copies';
import type { SchemeName } from '../../solver/model';
import { Rng, signAt } from '../../solver/engine/random';
import { spiral, linear, bin, name, num, call } from './engineFixtures';
import { analyse } from '../../solver/language/index';

const backend = 'cpu' as const;

/** x(T) of x' = a x from the discrete solve. */
async function finalValue(meth: SchemeName, steps: number, a: number, total: number): Promise<number> {
  const { tf } = await initBackend(backend);
  const model = linear({ steps, meth, a, total });
  const { compiled } = compileModel(tf, model);
  try {
    const aT = tf.scalar(a);
    const v = tf.tidy(
      () =>
        solveDiscrete(tf, compiled, schemeByName(meth), steps, total / steps, 0, () => [aT])
          .at(-1)![0]
          .dataSync()[0],
    );
    aT.dispose();
    return v;
  } finally {
    compiled.dispose();
  }
}

const EXPECTED_ORDER: Partial<Record<SchemeName, number>> = {
  euler: 1,
  heun: 2,
  midpoint: 2,
  rk4: 4,
  leapfrog: 2,
  backeul: 1,
};
/** The schemes the engine implements (SCHEME_NAMES is what the language accepts). */
const ENGINE_SCHEMES = Object.keys(EXPECTED_ORDER) as SchemeName[];

for (const meth of ENGINE_SCHEMES) {
  test(`${meth}: observed order against x' = a x`, async () => {
    const a = -1,
      total = 2;
    const exact = Math.exp(a * total);
    const Ns = meth === 'rk4' ? [4, 8, 16] : [8, 16, 32];
    const errs: number[] = [];
    for (const N of Ns) errs.push(Math.abs((await finalValue(meth, N, a, total)) - exact));
    const orders = errs.slice(1).map((e, i) => Math.log2(errs[i] / e));
    for (const p of orders)
      assert.ok(
        Math.abs(p - EXPECTED_ORDER[meth]!) < 0.35,
        `${meth}: orders ${orders.map((x) => x.toFixed(2))}, errors ${errs}`,
      );
  });
}

test('tableaux are explicit and consistent; layer times and weights', () => {
  for (const [name, t] of Object.entries(TABLEAUX)) if (name !== 'backeul') assert.deepEqual(validateTableau(t), []); // backeul's diagonal is its implicitness
  const close = (a: number[], b: number[]) =>
    assert.ok(a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-12), `${a} vs ${b}`);
  close(parameterCopies(schemeByName('rk4'), 2, 0.5, 0).times, [0.25, 0.75]);
  close(parameterCopies(schemeByName('midpoint'), 2, 0.5, 1).times, [1.25, 1.75]);
  close(parameterCopies(schemeByName('euler'), 2, 0.5, 0).times, [0, 0.5]);
  close(parameterCopies(schemeByName('leapfrog'), 3, 0.5, 0).times, [0, 0.5, 1]);
  close(parameterCopies(schemeByName('leapfrog'), 3, 1, 0).weights, [0.5, 1, 1]);
  close(parameterCopies(schemeByName('heun'), 3, 1, 0).weights, [1, 1, 1]);
});

test('seeded initialisation is deterministic; per-step copies start tied', async () => {
  const { tf } = await initBackend(backend);
  const a = initialParameters(tf, spiral({ seed: 7 }));
  const b = initialParameters(tf, spiral({ seed: 7 }));
  const c = initialParameters(tf, spiral({ seed: 8 }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a[0], c[0]);
  const P = 32;
  assert.deepEqual(a[0].subarray(0, P), a[0].subarray(63 * P, 64 * P));
  assert.ok(a[1].every((v) => v === 0));
  const r = new Rng(1);
  const xs = r.normals(20000);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(sd - 1) < 0.03, `mean ${mean} sd ${sd}`);
});

test('AD of the discrete solve matches the closed form (euler, shared a)', async () => {
  const N = 16,
    a = -0.7,
    h = 1 / N;
  const r = await runCheck(linear({ steps: N, meth: 'euler', a }), { backend });
  const xN = (1 + h * a) ** N;
  const exact = xN * N * h * (1 + h * a) ** (N - 1); // d/da ½ x_N²
  const ad = r.parameters[0].raw[0][0];
  assert.ok(Math.abs(ad - exact) / Math.abs(exact) < 1e-5, `${ad} vs ${exact}`);
  // continuous: dL/da = T x0² e^{2aT}
  const cont = Math.exp(2 * a);
  assert.ok(
    Math.abs(r.parameters[0].reference[0][0] - cont) / cont < 1e-5,
    `${r.parameters[0].reference[0][0]} vs ${cont}`,
  );
  assert.ok(Math.abs(r.loss - 0.5 * xN * xN) < 1e-6);
});

test("continuous reference of x' = a x with per-step a is x0² e^{2aT} at every layer", async () => {
  const a = -0.5;
  for (const meth of ['rk4', 'leapfrog'] as const) {
    const r = await runCheck(linear({ steps: 32, meth, a, perStep: true }), { backend });
    const g = Math.exp(2 * a);
    for (const row of r.parameters[0].reference) assert.ok(Math.abs(row[0] - g) / g < 1e-5, `${row[0]} vs ${g}`);
    assert.ok(r.referenceError < 1e-5, `referenceError ${r.referenceError}`);
  }
});

for (const meth of ENGINE_SCHEMES) {
  test(`${meth}: AD agrees with finite differences on the spiral`, async () => {
    const r = await runCheck(spiral({ meth }), { backend });
    for (const p of r.parameters)
      assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: ${p.metrics.gradcheckRelError}`);
    assert.ok(!r.findings.some((f) => f.code === 'gradcheck-mismatch'));
  });
}

for (const seed of [1, 2, 3]) {
  test(`spiral seed ${seed}: leapfrog flagged, filter121 fixes it; euler/heun/midpoint/rk4 clean`, async () => {
    const lf = await runCheck(spiral({ meth: 'leapfrog', seed }), { backend });
    assert.ok(lf.referenceError < 1e-4, `referenceError ${lf.referenceError}`);
    for (const p of lf.parameters) {
      assert.equal(p.oscillating, true, `${p.name} α=${p.metrics.alpha} β=${p.metrics.beta}`);
      assert.ok(p.metrics.alpha > 0.1 && p.metrics.beta > 10);
      assert.ok(p.metrics.relError > 0.5, `${p.name} raw ${p.metrics.relError}`);
      assert.ok(p.metrics.correctedRelError < 0.05, `${p.name} corrected ${p.metrics.correctedRelError}`);
      // refinement: α does not shrink at 2N
      assert.ok(
        p.metrics.refinedAlpha !== undefined && Math.abs(p.metrics.refinedAlpha - p.metrics.alpha) < 0.1,
        `${p.name} α ${p.metrics.alpha} → ${p.metrics.refinedAlpha}`,
      );
    }
    const codes = lf.findings.map((f) => f.code);
    assert.equal(codes.filter((c) => c === 'oscillating-gradient').length, 3);
    assert.equal(codes.filter((c) => c === 'weakly-stable-scheme').length, 1);
    const ws = lf.findings.find((f) => f.code === 'weakly-stable-scheme')!;
    assert.equal(ws.range.start.line, 12); // the meth value on the options line
    assert.match(ws.message, /parasitic root −1/);
    assert.match(ws.message, /filter121/);
    const w1 = lf.findings.find((f) => f.parameter === 'W1' && f.code === 'oscillating-gradient')!;
    assert.match(
      w1.message,
      /^AD gradient of W1 oscillates from layer to layer \(α=[\d.]+, β(=[\d.e]+| > 1e6)\): relative error [\d.]+ against the continuous gradient; filter121 would give /,
    );
    assert.equal(w1.range.start.line, 7);

    for (const meth of ['euler', 'heun', 'midpoint', 'rk4'] as const) {
      const r = await runCheck(spiral({ meth, seed }), { backend });
      assert.deepEqual(r.findings, [], `${meth}: ${r.findings.map((f) => f.message)}`);
      for (const p of r.parameters) {
        assert.equal(p.oscillating, false);
        assert.ok(p.metrics.relError < (meth === 'euler' ? 0.05 : 1e-3), `${meth} ${p.name} ${p.metrics.relError}`);
      }
    }
  });
}

test('gradfix=filter121 removes the oscillation and every warning', async () => {
  const r = await runCheck(spiral({ meth: 'leapfrog', gradfix: 'filter121' }), { backend });
  assert.equal(r.gradfix, 'filter121');
  assert.equal(r.correction, 'filter121');
  assert.deepEqual(
    r.findings.filter((f) => f.severity !== 'information'),
    [],
  );
  for (const p of r.parameters) {
    assert.equal(p.oscillating, false);
    assert.ok(p.metrics.relError > 0.5);
    assert.ok(p.metrics.correctedRelError < 0.05);
  }
});

test('leapfrog oscillation does not vanish as h → 0; filter121 error does', async () => {
  const raw: number[] = [],
    cor: number[] = [],
    alpha: number[] = [];
  for (const steps of [32, 128]) {
    const r = await runCheck(spiral({ steps }), { backend });
    raw.push(r.parameters[0].metrics.relError);
    cor.push(r.parameters[0].metrics.correctedRelError);
    alpha.push(r.parameters[0].metrics.alpha);
  }
  assert.ok(
    raw.every((e) => e > 0.5),
    `raw ${raw}`,
  );
  assert.ok(Math.abs(alpha[1] - alpha[0]) < 0.1, `α ${alpha}`);
  assert.ok(cor[1] < cor[0] / 4, `corrected ${cor}`);
});

test('detector on synthetic sequences', () => {
  const N = 64,
    P = 2;
  const smooth = new Float32Array(N * P),
    osc = new Float32Array(N * P);
  for (let n = 0; n < N; n++)
    for (let k = 0; k < P; k++) {
      const g = Math.sin((n / N) * 3 + k);
      smooth[n * P + k] = g;
      osc[n * P + k] = g + (n % 2 ? 0.5 : -0.5);
    }
  assert.equal(detectOscillation(smooth, N, P).oscillating, false);
  assert.equal(detectOscillation(osc, N, P).oscillating, true);
  assert.equal(detectOscillation(osc, 12, P).applicable, false);
  const c = filter121(osc, N, P);
  let err = 0;
  for (let n = 0; n < N; n++) err = Math.max(err, Math.abs(c[n * P] - smooth[n * P]));
  assert.ok(err < 1e-2, `filter121 max error ${err}`);
});

test('blow-up is an error naming the step and time', async () => {
  const r = await runCheck(linear({ steps: 64, meth: 'euler', a: 200 }), { backend });
  const f = r.findings.find((x) => x.code === 'blow-up');
  assert.ok(f, JSON.stringify(r.findings));
  assert.equal(f.severity, 'error');
  assert.match(f.message, /step \d+ \(t = [\d.]+\)/);
  assert.equal(f.range.start.line, 2); // the equation
});

test("f not finite at the initial state is named as such, on the state whose f it is, with the start's values", async () => {
  // sin(1/x)·x² at x = 0 is NaN (sin(∞)): no step helps. With and without a parameter (the loss-only path).
  for (const par of ['par k=1\n', '']) {
    const k = par ? 'k*' : '';
    const text = `${par}y'=x\nx'=-y+${k}sin(1/x)*x^2\n@ total=1, dt=0.1, meth=rk4\ndone\n`;
    const r = await runCheck(analyse(text).model!, { backend });
    const f = r.findings.find((x) => x.code === 'blow-up');
    assert.ok(f && f.severity === 'error', JSON.stringify(r.findings));
    assert.match(f.message, /^The right-hand side of x is not finite at the initial state \(t = 0, y = 0, x = 0\)/);
    assert.equal(f.range.start.line, par ? 2 : 1, "x's equation");
  }
  // A start where f is finite keeps the step's message.
  const later = await runCheck(analyse("par k=1\nx'=k*x^2\ninit x=1\n@ total=2, dt=0.1, meth=rk4\ndone\n").model!, {
    backend,
  });
  const f = later.findings.find((x) => x.code === 'blow-up');
  assert.ok(f, JSON.stringify(later.findings));
  assert.match(f.message, /^The solution blows up: x is not finite at step \d+/);
});

test('a non-finite AD gradient under a finite loss is an error on its parameter, in any component', async () => {
  // d/da √a is infinite at a = 0: the loss x(T)² = 0 stays finite, its gradient does not (0·∞).
  for (const [decl, bad] of [
    ['param a[40] per-step = 0', 'a'],
    ['param a[40] per-step = 1\nparam c = 0', 'c'],
  ]) {
    const text = `state x\ninit x = 0\n${decl}\nx' = ${bad === 'a' ? 'sqrt(a[7])' : 'sum(a) * 0.001 + sqrt(c)'}\nloss = x(T)^2\n@ total=1, steps=8, meth=euler\ndone`;
    const m = analyse(text).model!;
    const r = await runCheck(m, { backend, reference: false });
    const f = r.findings.find((x) => x.code === 'blow-up');
    assert.ok(f && f.severity === 'error', JSON.stringify(r.findings));
    assert.match(f.message, new RegExp(`AD gradient of ${bad} is not finite`));
  }
});

test('unsupported function is an error finding, not a crash', async () => {
  const m = linear({ steps: 16, meth: 'euler' });
  m.equations[0].rhs = call('besselj', name('x'));
  const r = await runCheck(m, { backend });
  assert.equal(r.findings[0].code, 'unsupported-function');
  assert.equal(r.findings[0].severity, 'error');
});

test('time dependence, shared matrices and vector @ matrix compile and check', async () => {
  const m = spiral({ meth: 'rk4', steps: 32 });
  m.params[1].perStep = false; // b1 shared
  // x' = W2 @ tanh(W1 @ x + b1 * sin(t)) + 0.1 * (x @ [[0,1],[-1,0]]) (a rotation written as vector @ matrix)
  const rot = {
    kind: 'vector' as const,
    elements: [
      { kind: 'vector' as const, elements: [num(0), num(1)], range: m.loss!.range },
      { kind: 'vector' as const, elements: [num(-1), num(0)], range: m.loss!.range },
    ],
    range: m.loss!.range,
  };
  m.equations[0].rhs = bin(
    '+',
    bin(
      '@',
      name('W2'),
      call('tanh', bin('+', bin('@', name('W1'), name('x')), bin('*', name('b1'), call('sin', name('t'))))),
    ),
    bin('*', num(0.1), bin('@', name('x'), rot)),
  );
  const r = await runCheck(m, { backend });
  assert.deepEqual(r.findings, []);
  const b1 = r.parameters[1];
  assert.equal(b1.perStep, false);
  assert.equal(b1.raw.length, 1);
  assert.ok(b1.metrics.relError < 1e-3, `${b1.metrics.relError}`);
  for (const p of r.parameters)
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name} ${p.metrics.gradcheckRelError}`);
});

test('cancellation and time budget', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(runCheck(spiral(), { backend, signal: ac.signal }), (e: Error) => e.name === 'CheckCancelled');
  const ac2 = new AbortController();
  const p = runCheck(spiral({ steps: 256 }), { backend, signal: ac2.signal });
  setImmediate(() => ac2.abort());
  await assert.rejects(p, (e: Error) => e.name === 'CheckCancelled');
  await assert.rejects(
    runCheck(spiral({ steps: 256 }), { backend, timeBudgetMs: 1 }),
    (e: Error) => e.name === 'CheckTimeout',
  );
});

test('no tensors leak across repeated checks (including cancelled ones)', async () => {
  const { tf } = await initBackend(backend);
  await runCheck(spiral(), { backend });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    await runCheck(spiral({ seed: i }), { backend });
    const ac = new AbortController();
    const p = runCheck(spiral(), { backend, signal: ac.signal });
    setImmediate(() => ac.abort());
    await p.catch(() => undefined);
  }
  await runCheck(linear({ steps: 64, meth: 'euler', a: 200 }), { backend });
  assert.equal(tf.memory().numTensors, before);
});

test('a model without parameters is solved, reports its loss and checks its initial value', async () => {
  const m = linear({ steps: 10, meth: 'euler' });
  m.params = [];
  m.equations[0].rhs = bin('*', num(-1), name('x'));
  const r = await runCheck(m, { backend });
  assert.ok(Math.abs(r.loss - 0.5 * 0.9 ** 20) < 1e-6, `${r.loss}`);
  // ½ x_N² with x_N = 0.9^10 x0: d/dx0 = 0.9^20 x0 (x0 = 1).
  assert.deepEqual(
    r.parameters.map((p) => p.name),
    ['x(0)'],
  );
  assert.ok(Math.abs(r.parameters[0].raw[0][0] - 0.9 ** 20) < 1e-6, `${r.parameters[0].raw[0][0]}`);
});

test('several scalar states with shared parameters (Lotka–Volterra)', async () => {
  const m = linear({ steps: 50, meth: 'rk4' });
  const y = { ...m.states[0], name: 'y' };
  m.states.push(y);
  m.params.push({ ...m.params[0], name: 'b', init: { kind: 'value', value: num(0.5), range: m.params[0].range } });
  m.params[0].init = { kind: 'value', value: num(1.2), range: m.params[0].range };
  m.equations = [
    {
      state: 'x',
      rhs: bin('-', bin('*', name('a'), name('x')), bin('*', bin('*', name('b'), name('x')), name('y'))),
      range: m.equations[0].range,
    },
    {
      state: 'y',
      rhs: bin('+', bin('*', num(-1), name('y')), bin('*', name('x'), name('y'))),
      range: m.equations[0].range,
    },
  ];
  const r = await runCheck(m, { backend });
  assert.equal(r.parameters.length, 2);
  for (const p of r.parameters) {
    assert.ok(p.metrics.relError < 1e-4, `${p.name} ${p.metrics.relError}`);
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name} ${p.metrics.gradcheckRelError}`);
  }
  assert.deepEqual(r.findings, []);
});

test('oversized models get an error finding instead of an allocation', async () => {
  const r = await runCheck(spiral({ steps: 100_000, width: 4096 }), { backend });
  assert.equal(r.findings[0].code, 'model-too-large');
});

test('backends: wasm agrees with cpu; tensorflow falls back when tfjs-node is absent', async () => {
  const cpu = await runCheck(spiral({ steps: 32 }), { backend: 'cpu' });
  const wasm = await runCheck(spiral({ steps: 32 }), { backend: 'wasm' });
  assert.equal(wasm.backend, 'wasm');
  assert.ok(Math.abs(wasm.loss - cpu.loss) < 1e-5);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(wasm.parameters[i].metrics.relError - cpu.parameters[i].metrics.relError) < 1e-3);
    assert.equal(wasm.parameters[i].oscillating, cpu.parameters[i].oscillating);
  }
  const tfn = await runCheck(spiral({ steps: 32 }), { backend: 'tensorflow' });
  assert.ok(['tensorflow', 'cpu'].includes(tfn.backend));
  const back = await initBackend('cpu');
  assert.equal(back.backend, 'cpu');
});

test('Rng.uniforms: the draws of uniform() times the scale, and the stream continues after them', () => {
  for (const [seed, n, scale] of [
    [7, 1000, 1],
    [123, 17, -2.5],
    [0, 0, 3],
  ]) {
    const a = new Rng(seed),
      b = new Rng(seed);
    const out = new Float64Array(n);
    a.uniforms(out, scale);
    for (let i = 0; i < n; i++) assert.equal(out[i], scale * b.uniform(), `draw ${i} of seed ${seed}`);
    assert.equal(a.uniform(), b.uniform());
    assert.equal(a.normal(), b.normal());
  }
});

test('Rng.signs: bit j of each draw gives sign j (32 per draw), balanced, and the stream continues after it', () => {
  const a = new Rng(7),
    b = new Rng(7);
  const many = a.signs(1000); // 32 draws: 31 full, one of 8 signs
  assert.equal(many.length, 32);
  for (let i = 0; i < 1000; i += 32) {
    const bits = Math.floor(b.uniform() * 2 ** 32);
    for (let j = 0; j < 32 && i + j < 1000; j++)
      assert.equal(signAt(many, i + j), (bits >>> j) & 1 ? 1 : -1, `sign ${i + j}`);
  }
  assert.equal(a.uniform(), b.uniform());
  const big = new Rng(3).signs(100_000);
  let sum = 0;
  for (let k = 0; k < 100_000; k++) sum += signAt(big, k);
  assert.ok(Math.abs(sum) < 5 * Math.sqrt(100_000), `mean ${sum / 100_000}`);
});
