// Batched finite differences: the one batched solve for all 2·P perturbed
// parameter sets gives the same losses as one solve per set, on models that
// exercise every batched expression kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import {
  combinedProbe,
  directionValues,
  finiteDifferenceCheck,
  finiteDifferenceDirections,
  finiteDifferenceLosses,
  MIN_RESOLUTION,
  writeMoved,
} from '../../solver/engine/finiteDifferences';
import { discreteGradients } from '../../solver/engine/discrete';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Expr, Model } from '../../solver/model';
import { spiral, bin, call, name, num, R } from './engineFixtures';
import { Rng } from '../../solver/engine/random';

const ROOT =
  [resolve(__dirname, '../..'), resolve(__dirname, '../../..'), process.cwd()].find((d) =>
    existsSync(join(d, 'examples/spiral.ode')),
  ) ?? process.cwd();

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

// XPPAUT Wilson–Cowan: many scalar parameters, user functions, `t`.
const WILSON_COWAN = `# wilson-cowan
f(u)=1/(1+exp(-u))
par aee=10,aie=8,aei=12,aii=3,ze=.2,zi=4
par tau=1
i_e(t)=ie0+ie1*sin(w*t)
i_i(t)=ii0+ii1*sin(w*t)
par ie0=0.1,ie1=0.2,w=.25
par ii0=0,ii1=0.1
init u=.1,v=.05
u'=-u+f(aee*u-aie*v-ze+i_e(t))
v'=(-v+f(aei*u-aii*v-zi+i_i(t)))/tau
@ total=4,dt=0.05
done
`;

// Indexing, if/then/else, comparisons, vector literals, reductions, x @ W and x @ y.
const EXPRESSIONS = `state x[3]
state u
init x = [1, -0.5, 0.25]
init u = 0.3
param A[3,3] ~ normal(0, 0.4)
param c[3] = 0.1
param k = 0.7
x' = tanh(A @ x + c) * if(u > 0.2) then(1) else(0.5) + [x[1], x[2] * k, sum(x) / 3] - 0.1 * (x @ A)
u' = -k * u + 0.1 * sqrt(sum(x^2)) + max(x[0], x[1]) * 0.05 + (x @ x) * 0.01 + A[1, 2] * x[0] + sum(A[0]) * 0.1
loss = 0.5 * sum(x(T)^2) + u(T)^2
@ total=1, steps=20, meth=rk4, seed=3
done
`;

/** Adds the engine's reductions that the language does not spell (mean, norm, one-argument max/min) to u'. */
function withReductions(m: Model): Model {
  const eq = m.equations.find((e) => e.state === 'u')!;
  const x = name('x');
  const extra = bin(
    '+',
    bin('*', num(0.1), call('mean', x)),
    bin('+', bin('*', num(0.05), call('norm', x)), bin('-', call('max', x), call('min', x))),
  );
  eq.rhs = bin('+', eq.rhs, bin('*', num(0.1), extra));
  return m;
}

const matrix = (rows: number[][]): Expr => ({
  kind: 'vector',
  range: R,
  elements: rows.map((r) => ({ kind: 'vector', range: R, elements: r.map(num) })),
});

/** The spiral network, shared weights, with a loss on observations at three times. */
function dataModel(): Model {
  const m = spiral({ steps: 16, meth: 'heun', width: 8 });
  const times = [0.2, 0.55, 1];
  const targets = times.map((t) => [Math.cos(3 * t), Math.sin(2 * t) - 0.5]);
  m.params = m.params.map((p) => ({ ...p, perStep: false }));
  m.data = [
    { name: 'obs', path: 'obs.csv', times, columns: ['a', 'b'], values: targets, range: R, nameRange: R, pathRange: R },
  ];
  m.loss = {
    expr: bin(
      '*',
      num(0.5),
      call(
        'sum',
        bin('^', bin('-', { kind: 'stateAtData', state: 'x', data: 'obs', range: R }, matrix(targets)), num(2)),
      ),
    ),
    range: R,
  };
  return m;
}

const CASES: [string, () => Model][] = [
  ['spiral per-step leapfrog', () => spiral({ steps: 24, meth: 'leapfrog' })],
  ['spiral per-step heun', () => spiral({ steps: 16, meth: 'heun' })],
  ['spiral per-step ab3', () => spiral({ steps: 16, meth: 'ab3' })],
  ['XPPAUT Wilson–Cowan (12 scalar parameters)', () => parse(WILSON_COWAN)],
  ['morris-lecar', () => parse(readFileSync(join(ROOT, 'examples/models/morris-lecar.ode'), 'utf8'))],
  ['expression kinds', () => withReductions(parse(EXPRESSIONS))],
  ['data loss', dataModel],
  [
    'constant and time-only right-hand sides',
    () =>
      parse(
        "v' = -v + i + a*sin(t)\ni' = 0\nz' = cos(t)\npar a = 0.5\nv(0) = 1\nloss = v(T)^2 + z(T)\n@ total=1, steps=16",
      ),
  ],
];

for (const [name, make] of CASES) {
  test(`batched finite differences equal the per-tensor loop: ${name}`, async () => {
    const { tf } = await initBackend('cpu');
    const m = make();
    const { compiled } = compileModel(tf, m);
    try {
      assert.ok(compiled.batched, 'the model should be batchable');
      const values = initialParameters(tf, m);
      // Any gradient-sized vectors give directions; the losses do not depend on G beyond v.
      const G = values.map((v, i) => Float32Array.from(v, (x, k) => Math.sin(1 + x + k + i)));
      const { dirs, eps } = finiteDifferenceDirections(m, values, G, 1);
      const scheme = schemeOf(m);
      const loop = finiteDifferenceLosses(tf, compiled, scheme, m, values, dirs, eps, 'loop');
      const batched = finiteDifferenceLosses(tf, compiled, scheme, m, values, dirs, eps, 'batched');
      assert.equal(batched.length, m.params.length);
      for (let i = 0; i < loop.length; i++) {
        for (let s = 0; s < 2; s++) {
          const a = loop[i][s],
            b = batched[i][s];
          assert.ok(
            Number.isFinite(a) && Math.abs(a - b) <= 4e-6 * Math.max(Math.abs(a), 1e-3),
            `${m.params[i].name} ${s ? '−' : '+'}: loop ${a} batched ${b}`,
          );
        }
        // The central difference itself (the gradcheck's signal) agrees too.
        const dl = (loop[i][0] - loop[i][1]) / (2 * eps[i]),
          db = (batched[i][0] - batched[i][1]) / (2 * eps[i]);
        assert.ok(Math.abs(dl - db) <= 1e-2 * Math.abs(dl) + 1e-4, `${m.params[i].name}: fd loop ${dl} batched ${db}`);
      }
      const errLoop = finiteDifferenceCheck(tf, compiled, scheme, m, values, G, 1, 'loop');
      const errBatched = finiteDifferenceCheck(tf, compiled, scheme, m, values, G, 1, 'batched');
      errLoop.forEach((e, i) =>
        assert.ok(
          Math.abs(e.relError - errBatched[i].relError) <= 1e-2 * e.relError + 1e-4,
          `${m.params[i].name}: ${e.relError} vs ${errBatched[i].relError}`,
        ),
      );
    } finally {
      compiled.dispose();
    }
  });
}

test('the full check on an XPPAUT model passes its gradcheck with batched finite differences', async () => {
  const m = parse(WILSON_COWAN);
  const r = await runCheck(m, { backend: 'cpu', reference: false });
  assert.equal(r.parameters.length, 12);
  for (const p of r.parameters)
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: ${p.metrics.gradcheckRelError}`);
});

test('a model outside the batched subset falls back to the loop', async () => {
  const { tf } = await initBackend('cpu');
  const m = spiral({ steps: 8, meth: 'heun' });
  const { compiled } = compileModel(tf, m);
  try {
    const plain = { ...compiled, batched: undefined };
    const values = initialParameters(tf, m);
    const { dirs, eps } = finiteDifferenceDirections(m, values, values, 1);
    const scheme = schemeOf(m);
    assert.throws(() => finiteDifferenceLosses(tf, plain, scheme, m, values, dirs, eps, 'batched'));
    const auto = finiteDifferenceLosses(tf, plain, scheme, m, values, dirs, eps);
    const loop = finiteDifferenceLosses(tf, compiled, scheme, m, values, dirs, eps, 'loop');
    assert.deepEqual(auto, loop);
  } finally {
    compiled.dispose();
  }
});

test('perturbed values θ ± ε·v are written along the direction, in whole words of signs and singly alike', () => {
  const m = spiral({ steps: 8, meth: 'heun' });
  const n = 200;
  const theta = Float32Array.from({ length: n }, (_, k) => Math.cos(k));
  const G = Float32Array.from({ length: n }, (_, k) => Math.sin(3 * k));
  const { dirs } = finiteDifferenceDirections({ ...m, params: m.params.slice(0, 1) }, [theta], [G], 1);
  const v = directionValues(dirs[0]);
  for (const [from, count] of [
    [0, 200],
    [32, 100],
    [7, 90],
    [64, 31],
  ]) {
    const out = new Float32Array(2 * count + 3);
    writeMoved(theta, dirs[0], 0.01, from, count, out, 1, count + 3);
    for (let k = 0; k < count; k++) {
      assert.equal(out[1 + k], Math.fround(theta[from + k] + 0.01 * v[from + k]), `+ ${from}+${k}`);
      assert.equal(out[count + 3 + k], Math.fround(theta[from + k] - 0.01 * v[from + k]), `− ${from}+${k}`);
    }
  }
});

test('finite-difference steps are float32-aware: sized to the loss rounding, within 1e-3…3e-2 × max(rms θ, 1)', () => {
  const m = spiral({ steps: 64, meth: 'leapfrog' });
  const values = [new Float32Array(64).fill(4), new Float32Array(64).fill(0.1)]; // rms 4 and 0.1 (scale 4 and 1)
  const G = [new Float32Array(64).fill(2e-3), new Float32Array(64).fill(2e-3)];
  const two = { ...m, params: m.params.slice(0, 2) };
  const step = (loss: number) => finiteDifferenceDirections(two, values, G, loss).eps;
  // Tiny loss: rounding negligible, the lower bound.
  assert.deepEqual(
    step(1e-9).map((e) => +e.toPrecision(6)),
    [4e-3, 1e-3],
  );
  // Huge loss: the upper bound.
  assert.deepEqual(
    step(1e9).map((e) => +e.toPrecision(6)),
    [0.12, 0.03],
  );
  // In between: ε·⟨G, v⟩ = 10³ × the loss's rounding 2⁻²⁴·√N·|L|.
  const loss = 1,
    { dirs, eps } = finiteDifferenceDirections(two, values, G, loss);
  dirs.forEach((d, i) => {
    // ⟨G, v⟩ of the float32 directions the solves move along (the engine sums it for the unrounded v: ~1e-7 apart).
    const v = directionValues(d);
    let predicted = 0;
    for (let k = 0; k < v.length; k++) predicted += G[i][k] * v[k];
    const want = (1e3 * 2 ** -24 * Math.sqrt(64) * loss) / Math.abs(predicted);
    assert.ok(want > 4e-3 && want < 3e-2, `the case lies between the bounds: ${want}`);
    assert.ok(Math.abs(eps[i] - want) <= 1e-6 * want, `${eps[i]} vs ${want}`);
  });
});

test('two coarse steps that agree with each other but not with AD do not make a mismatch: ε/16 settles it', async () => {
  // L(a) = z(T): slope 1 at a = 0.1, 1.15 beyond a width R; central differences over steps ≫ R see ≈ 1.15.
  // The step is ε = 1e-3 (the loss vanishes at θ, so the lower bound) along v = ±|v|, so R = ε|v|/16
  // puts ε and ε/4 outside the bend (both ≥ 10 % off, within 5 % of each other) and ε/16 inside.
  const text = (r: number) =>
    `z' = 1.15*(a - 0.1) - 0.15*${r}*tanh((a - 0.1)/${r})\nz(0) = 0\npar a = 0.1\nloss = z(T)\n@ total=1, steps=16`;
  const unit = Math.abs(
    directionValues(
      finiteDifferenceDirections(parse(text(1)), [Float32Array.of(0.1)], [Float32Array.of(1)], 0).dirs[0],
    )[0],
  );
  const R_BEND = (1e-3 * unit) / 16;
  const m = parse(text(R_BEND));
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, m);
  try {
    const values = initialParameters(tf, m);
    const G = [new Float32Array([1])];
    const { dirs, eps, predicted } = finiteDifferenceDirections(m, values, G, 0);
    assert.equal(+eps[0].toPrecision(6), 1e-3);
    const fdAt = (f: number) => {
      const L = finiteDifferenceLosses(tf, compiled, schemeOf(m), m, values, dirs, [eps[0] / f])[0];
      return (L[0] - L[1]) / (2 * (eps[0] / f)) / predicted[0];
    };
    const [fd1, fd4, fd16] = [fdAt(1), fdAt(4), fdAt(16)];
    assert.ok(
      fd1 > 1.1 && fd4 > 1.1 && Math.abs(fd1 - fd4) / fd4 < 0.05,
      `the case: ε ${fd1}, ε/4 ${fd4} (both off, close to each other)`,
    );
    assert.ok(Math.abs(fd16 - 1) < 0.05, `ε/16 ${fd16}`);
    const [r] = finiteDifferenceCheck(tf, compiled, schemeOf(m), m, values, G, 0);
    assert.ok(r.converged && r.relError < 0.05, JSON.stringify(r));
    assert.equal(+r.step.toPrecision(6), +(eps[0] / 16).toPrecision(6));
  } finally {
    compiled.dispose();
  }
});

test('a gradient too small for float32 finite differences is unresolved (too little to resolve), not a mismatch', async () => {
  // a moves x(T) by ~1e-9·ε: below float32's resolution of x ≈ 0.4, so both finer steps give 0 and "agree".
  const m = parse(
    `x' = -x + 1e-9*a\nx(0) = 1\npar a = 0.5, b = 1\ny' = -b*y\ny(0) = 1\nloss = x(T)^2 + y(T)^2\n@ total=1, steps=32`,
  );
  const r = await runCheck(m, { backend: 'cpu', reference: false });
  const a = r.parameters.find((p) => p.name === 'a')!,
    b = r.parameters.find((p) => p.name === 'b')!;
  assert.equal(a.metrics.gradcheckUnresolved, true);
  assert.ok(!r.findings.some((f) => f.code === 'gradcheck-mismatch'), JSON.stringify(r.findings.map((f) => f.message)));
  const note = r.findings.find((f) => f.code === 'gradcheck-unresolved' && f.parameter === 'a');
  assert.match(note?.message ?? '', /too little to resolve/);
  // The verdict gives the same cause as the note, not chaos.
  assert.match(a.verdict?.explanation ?? '', /the loss hardly depends on this parameter/);
  assert.doesNotMatch(a.verdict?.explanation ?? '', /sensitivity|chaotic/);
  // The well-conditioned parameter next to it is checked as usual.
  assert.ok(!b.metrics.gradcheckUnresolved && b.metrics.gradcheckRelError < 1e-2, JSON.stringify(b.metrics));
});

/** Random networks (seeded): every scheme, tied and per-stage copies, 1–5 states, width 2–32, 8–100 steps, horizons up to 8, three activations. */
function* randomNetworks(seed: number, count: number): Generator<{ m: Model; spec: string }> {
  const rng = new Rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rng.uniform() * xs.length)];
  for (let k = 0; k < count; k++) {
    const o = {
      meth: pick(['euler', 'heun', 'midpoint', 'ralston', 'rk4', 'leapfrog', 'ab2', 'ab3', 'milne']),
      steps: pick([8, 16, 32, 64, 100]),
      width: pick([2, 4, 8, 16, 32]),
      seed: 1 + Math.floor(rng.uniform() * 1000),
      total: pick([0.5, 1, 2, 4, 8]),
      perStep: rng.uniform() < 0.6,
      d: pick([1, 2, 3, 5]),
      act: pick(['tanh', 'sin', 'sigmoid']),
    };
    const tie =
      ['heun', 'midpoint', 'ralston', 'rk4'].includes(o.meth) && o.perStep && rng.uniform() < 0.5 ? ', tie=stage' : '';
    const ps = o.perStep ? ' per-step' : '';
    const m = parse(
      `state x[${o.d}]\ninit x = 0.7\nparam W1[${o.width},${o.d}]${ps} ~ normal(0, 0.6)\nparam b[${o.width}]${ps} ~ normal(0, 0.3)\nparam W2[${o.d},${o.width}]${ps} ~ normal(0, 0.6)\n` +
        `x' = W2 @ ${o.act}(W1 @ x + b)\nloss = 0.5 * sum((x(T) - 0.3)^2)\n@ total=${o.total}, steps=${o.steps}, meth=${o.meth}, seed=${o.seed}${tie}\ndone`,
    );
    yield { m, spec: `model ${k}: ${JSON.stringify(o)}${tie}` };
  }
}

test('no gradcheck mismatch on 100 random networks whose AD is correct (seeded; chaotic ones are unresolved)', async () => {
  // Model 74 is chaotic: two finite-difference steps of b agreed by chance, 23 % off AD.
  let unresolved = 0;
  for (const { m, spec } of randomNetworks(2, 100)) {
    const r = await runCheck(m, { backend: 'cpu', reference: false });
    const wrong = r.findings.filter((f) => f.code === 'gradcheck-mismatch');
    assert.deepEqual(
      wrong.map((f) => f.message),
      [],
      spec,
    );
    if (r.findings.some((f) => f.code === 'gradcheck-unresolved')) unresolved++;
  }
  console.log(`gradcheck: 0 mismatches on 100 random networks, ${unresolved} unresolved (chaotic or flat)`);
});

test('the gradcheck catches wrong AD gradients on random networks: a scaled tensor, half a tensor zeroed (seeded)', async () => {
  // One direction per tensor sees an error only through its projection. With v weighted towards G (G/rms G) the
  // zeroed half went unnoticed in 58 of 100 networks; r and G/‖G‖ weigh alike now.
  const { tf } = await initBackend('cpu');
  const bugs: [string, number, (g: Float32Array) => Float32Array][] = [
    ['b × 1.2', 1, (g) => g.map((v) => v * 1.2)],
    ['W2 with its second half zeroed', 2, (g) => g.map((v, j) => (j >= g.length / 2 ? 0 : v))],
    // Just over the tolerance, behind the combined probe of the three tensors (it must not hide it).
    ['W1 × 1.07', 0, (g) => g.map((v) => v * 1.07)],
    ['W2 / 1.07', 2, (g) => g.map((v) => v / 1.07)],
  ];
  const caught = bugs.map(() => 0),
    judged = bugs.map(() => 0);
  for (const { m } of randomNetworks(5, 60)) {
    const { compiled } = compileModel(tf, m);
    try {
      const values = initialParameters(tf, m);
      const { G, loss } = discreteGradients(tf, compiled, schemeOf(m), m, values);
      bugs.forEach(([, i, bug], b) => {
        const r = finiteDifferenceCheck(
          tf,
          compiled,
          schemeOf(m),
          m,
          values,
          G.map((g, j) => (j === i ? bug(g) : g)),
          loss,
        )[i];
        if (!r.converged) return; // inconclusive (chaotic), not a pass
        judged[b]++;
        if (r.relError > 0.05) caught[b]++;
      });
    } finally {
      compiled.dispose();
    }
  }
  bugs.forEach(([name], b) =>
    console.log(`gradcheck caught "${name}" in ${caught[b]} of ${judged[b]} judged networks`),
  );
  assert.ok(
    judged.every((j) => j >= 50),
    `judged ${judged}`,
  );
  assert.ok(caught[0] >= 0.95 * judged[0], `scaled: ${caught[0]} of ${judged[0]}`);
  assert.ok(caught[1] >= 0.75 * judged[1], `half zeroed: ${caught[1]} of ${judged[1]}`);
  assert.ok(caught[2] >= 0.95 * judged[2] && caught[3] >= 0.95 * judged[3], `7 %: ${caught} of ${judged}`);
});

test('tensors whose AD is right are settled by one combined probe, each moving the loss alike; scalars are not in it', async () => {
  const { tf } = await initBackend('cpu');
  const m = spiral({ steps: 24, meth: 'leapfrog' });
  const { compiled } = compileModel(tf, m);
  try {
    const values = initialParameters(tf, m);
    const scheme = schemeOf(m);
    const { G, loss } = discreteGradients(tf, compiled, scheme, m, values);
    const { eps, predicted, rounding } = finiteDifferenceDirections(m, values, G, loss);
    const probe = combinedProbe(m, eps, predicted, rounding)!;
    assert.deepEqual(probe.members, [0, 1, 2]);
    // Every member moves the loss by the same amount, none by a step larger than its own.
    const changes = probe.members.map((i, k) => probe.steps[k] * predicted[i]);
    for (const c of changes) assert.ok(Math.abs(c - changes[0]) <= 1e-9 * changes[0], `${changes}`);
    probe.members.forEach((i, k) => assert.ok(probe.steps[k] <= eps[i] * (1 + 1e-12), `${probe.steps} vs ${eps}`));
    const r = finiteDifferenceCheck(tf, compiled, scheme, m, values, G, loss);
    assert.deepEqual(
      r.map((x) => x.probe),
      ['combined', 'combined', 'combined'],
    );
    for (const x of r) assert.ok(x.converged && x.relError < 0.01, JSON.stringify(r));
    // A tensor whose own step moves the loss by only 10 rounding units, and scalars, stay out of it.
    const weak = predicted.map((p, i) => (i === 1 ? (10 * rounding) / eps[i] : p));
    assert.deepEqual(combinedProbe(m, eps, weak, rounding)?.members, [0, 2]);
    const scalars = { ...m, params: m.params.map((p) => ({ ...p, perStep: false, shape: [] })) };
    assert.equal(combinedProbe(scalars, eps, predicted, rounding), undefined);
  } finally {
    compiled.dispose();
  }
});

test('finite differences that do not settle stop at their time budget, and the finding says so with the figures', async () => {
  // relu(sin(2000·a·t)) at the stage times: a kink every ~1e-4 in a, finer than the steps, so no two steps agree.
  const m = parse(
    "state x\ninit x = 1\nparam a = 1\nx' = relu(sin(2000*a*t)) - x\nloss = x(T)^2\n@ total=1, steps=50, meth=rk4\ndone\n",
  );
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, m);
  try {
    const values = initialParameters(tf, m);
    const { G, loss } = discreteGradients(tf, compiled, schemeOf(m), m, values);
    const [free] = finiteDifferenceCheck(tf, compiled, schemeOf(m), m, values, G, loss);
    // Without a budget: every step, and no settling.
    assert.ok(!free.converged && free.budget === undefined, JSON.stringify(free));
    // With none to spare: the first pass only; the tensor is unresolved with what was measured and predicted.
    const [stopped] = finiteDifferenceCheck(tf, compiled, schemeOf(m), m, values, G, loss, 'auto', 0);
    assert.equal(stopped.converged, false);
    assert.ok(stopped.budget, JSON.stringify(stopped));
    assert.deepEqual(stopped.budget.steps, [stopped.step]);
    assert.equal(stopped.step, 16 * free.step);
    assert.equal(stopped.budget.solves, 2);
    assert.ok(stopped.budget.spentMs > 0 && stopped.budget.nextMs > 0 && stopped.budget.budgetMs === 0);
  } finally {
    compiled.dispose();
  }
  const r = await runCheck(m, { backend: 'cpu', reference: false, finiteDifferenceBudgetMs: 0 });
  const note = r.findings.find((f) => f.code === 'gradcheck-unresolved');
  assert.match(
    note?.message ?? '',
    /at step [0-9.e-]+ AD differs from them by [0-9.e]+ relative, and the finer steps that would show whether they settle were not taken: finite differences had used [0-9.e-]+ s of CPU time, and the next 2 perturbed solves would take about [0-9.e-]+ s more, over their time budget of 0 s/,
  );
  assert.doesNotMatch(note?.message ?? '', /do not settle as the step shrinks/);
  assert.match(r.parameters[0].verdict?.explanation ?? '', /time budget stopped the finer steps/);
});

test('a tensor finite differences cannot resolve at their step is not refined: finer steps resolve less', async () => {
  const m = parse(`x' = -x + 1e-9*a\nx(0) = 1\npar a = 0.5\nloss = x(T)^2\n@ total=1, steps=32`);
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, m);
  try {
    const values = initialParameters(tf, m);
    const { G, loss } = discreteGradients(tf, compiled, schemeOf(m), m, values);
    const { eps } = finiteDifferenceDirections(m, values, G, loss);
    const [r] = finiteDifferenceCheck(tf, compiled, schemeOf(m), m, values, G, loss);
    assert.equal(r.converged, false);
    assert.ok(r.resolution < MIN_RESOLUTION, JSON.stringify(r));
    // Reported at the step taken, the first.
    assert.equal(r.step, eps[0]);
  } finally {
    compiled.dispose();
  }
});
