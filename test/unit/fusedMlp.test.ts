// The fused MLP paths (solver/engine/fusedMlp) against the per-operation compile they replace:
// which models they take, and the loss and AD gradients of the unrolled solve with one op per
// evaluation of f and with the whole solve as one op, on random networks, schemes and ties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { initBackend, type BackendPreference } from '../../solver/engine/backend';
import { compileModel, type CompileOptions } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { schemeOf } from '../../solver/schemes/schemes';
import { discreteGradients } from '../../solver/engine/discrete';
import { recogniseMlp } from '../../solver/engine/fusedMlp';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';

const ACTIVATIONS = ['tanh', 'sigmoid', 'relu', 'sin', 'cos', 'exp', ''] as const;
const RK = ['euler', 'heun', 'midpoint', 'ralston', 'rk4', 'myrk'];
const LMM = ['leapfrog', 'ab2', 'ab3', 'milne', 'mylmm'];

/** A random per-step MLP field: depth, widths, activations, biases, per-step or shared tensors, scheme and tie. */
const mlpModel = fc
  .record({
    d: fc.integer({ min: 1, max: 4 }),
    layers: fc.array(
      fc.record({
        // Up to 60 in a row: past TF.js cpu's 48-index blocks of the matrix product.
        width: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constantFrom(16, 49, 60)),
        act: fc.constantFrom(...ACTIVATIONS),
        bias: fc.boolean(),
        biasFirst: fc.boolean(),
        perStep: fc.boolean(),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    steps: fc.constantFrom(1, 2, 3, 5, 8, 17),
    meth: fc.constantFrom(...RK, ...LMM),
    start: fc.constantFrom(undefined, 'euler', 'heun', 'rk4'),
    tieStage: fc.boolean(),
    seed: fc.nat({ max: 99 }),
  })
  .map((o) => {
    const lines: string[] = [];
    if (o.meth === 'myrk') lines.push('scheme myrk rk a=[[0, 0], [1/2, 0]] b=[0, 1] c=[0, 1/2]');
    if (o.meth === 'mylmm') lines.push('scheme mylmm lmm alpha=[-1, 0, 1] beta=[0, 2, 0]');
    lines.push(`state x[${o.d}]`, 'init x = 0.5');
    let expr = 'x',
      inSize = o.d;
    o.layers.forEach((l, k) => {
      const last = k === o.layers.length - 1,
        out = last ? o.d : l.width;
      const ps = l.perStep ? ' per-step' : '';
      lines.push(`param W${k}[${out},${inSize}]${ps} ~ normal(0, ${(0.8 / Math.sqrt(inSize)).toFixed(3)})`);
      let z = `W${k} @ ${expr}`;
      if (l.bias) {
        lines.push(`param b${k}[${out}]${ps} ~ normal(0, 0.2)`);
        z = l.biasFirst ? `b${k} + ${z}` : `${z} + b${k}`;
      }
      expr = last ? z : l.act ? `${l.act}(${z})` : `(${z})`;
      inSize = out;
    });
    const rk = RK.includes(o.meth);
    lines.push(
      `x' = ${expr}`,
      'loss = 0.5 * sum((x(T) - 0.1)^2)',
      `@ total=1, steps=${o.steps}, meth=${o.meth}, seed=${o.seed}` +
        (rk && o.tieStage ? ', tie=stage' : '') +
        (!rk && o.start ? `, start=${o.start}` : ''),
      'done',
    );
    return lines.join('\n');
  });

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, `${text}\n${a.diagnostics.map((d) => d.message).join('\n')}`);
  return a.model;
}

/** Loss and AD gradients of the discrete solve with a compile option, and the path the solve took. */
async function adPass(backend: BackendPreference, m: Model, fuseMlp: CompileOptions['fuseMlp']) {
  const { tf } = await initBackend(backend);
  const { compiled } = compileModel(tf, m, { fuseMlp });
  try {
    const r = discreteGradients(tf, compiled, schemeOf(m), m, initialParameters(tf, m));
    return { ...r, path: compiled.rhsPath, G: r.G.map((g) => Float32Array.from(g)) };
  } finally {
    compiled.dispose();
  }
}

test('recogniseMlp takes per-step MLP fields of any depth and nothing else', () => {
  const head = 'state x[2]\nparam W1[8,2] per-step ~ normal(0, 0.3)\nparam b1[8] = 0\nparam W2[2,8] ~ normal(0, 0.3)\n';
  const tail = '\nparam b2[2] = 0\nparam v[8] = 0\n@ total=1, steps=4, meth=rk4\n';
  const mlp = (rhs: string) => recogniseMlp(model(`${head}x' = ${rhs}${tail}`));
  assert.deepEqual(mlp('W2 @ tanh(W1 @ x + b1)'), {
    size: 2,
    layers: [
      { weight: 0, bias: 1, out: 8, activation: 'tanh' },
      { weight: 2, bias: undefined, out: 2 },
    ],
  });
  assert.deepEqual(
    mlp('b2 + W2 @ relu(v + W1 @ x)')?.layers.map((l) => [l.weight, l.bias, l.activation]),
    [
      [0, 4, 'relu'],
      [2, 3, undefined],
    ],
  );
  assert.equal(mlp('W2 @ (W1 @ x)')?.layers[0].activation, undefined);
  for (const other of [
    '-x + W2 @ tanh(W1 @ x + b1)', // an MLP plus another term
    'W2 @ tanh(W1 @ tanh(x))', // an activation of x
    'W2 @ log(W1 @ x + b1)', // not one of the activations
    'tanh(W2 @ tanh(W1 @ x))', // an activation of the output
    'W2 @ tanh(W1 @ x + 1)', // a constant bias
  ])
    assert.equal(mlp(other), undefined, other);
  // Two states, and a weight read twice, stay per operation.
  assert.equal(recogniseMlp(model("state x[2]\nstate y\nparam W[2,2] = 0\nx' = W @ x\ny' = -y\n")), undefined);
  assert.equal(recogniseMlp(model("state x[2]\nparam W[2,2] ~ normal(0, 1)\nx' = W @ tanh(W @ x)\n")), undefined);
});

test('fused MLP paths equal the per-operation compile on cpu, bit for bit: loss and AD gradients through the solve', async () => {
  const paths = new Set<string>();
  await fc.assert(
    fc.asyncProperty(mlpModel, async (text) => {
      const m = model(text);
      const plain = await adPass('cpu', m, false);
      for (const fuse of ['stage', 'solve'] as const) {
        const f = await adPass('cpu', m, fuse);
        paths.add(f.path);
        assert.equal(f.path, `mlp-${fuse}`, text);
        assert.ok(
          Object.is(f.loss, plain.loss) || f.loss === plain.loss,
          `${fuse}: loss ${f.loss} vs ${plain.loss}\n${text}`,
        );
        // Equal as numbers (a zero's sign may differ: the fused reverse sums into zeros where TF.js stacks a −0).
        f.G.forEach((g, i) => {
          const k = g.findIndex((v, e) => !(v === plain.G[i][e] || (Number.isNaN(v) && Number.isNaN(plain.G[i][e]))));
          assert.equal(k, -1, `${fuse}: gradient of ${m.params[i].name}[${k}]: ${g[k]} vs ${plain.G[i][k]}\n${text}`);
        });
      }
    }),
    { seed: 17, numRuns: 120 },
  );
  assert.deepEqual([...paths].sort(), ['mlp-solve', 'mlp-stage']);
});

test('fused MLP paths agree with the per-operation compile on wasm to float32 rounding', async () => {
  const { backend } = await initBackend('wasm');
  if (backend !== 'wasm') {
    console.log(`skipped: the wasm backend did not start here (got ${backend})`);
    return;
  }
  const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
  await fc.assert(
    fc.asyncProperty(mlpModel, async (text) => {
      const m = model(text);
      const plain = await adPass('wasm', m, false);
      const finite = Number.isFinite(plain.loss) && plain.G.every((g) => g.every(Number.isFinite));
      if (!finite || Math.abs(plain.loss) > 1e6) return;
      for (const fuse of ['stage', 'solve'] as const) {
        const f = await adPass('wasm', m, fuse);
        assert.equal(f.path, `mlp-${fuse}`);
        assert.ok(Math.abs(f.loss - plain.loss) <= 1e-4 * Math.max(1, Math.abs(plain.loss)), `${fuse}: loss\n${text}`);
        f.G.forEach((g, i) => {
          const diff = norm(g.map((v, k) => v - plain.G[i][k]));
          assert.ok(
            diff <= 1e-3 * norm(plain.G[i]) + 1e-5 * (1 + Math.abs(plain.loss)),
            `${fuse}: ${m.params[i].name}\n${text}`,
          );
        });
      }
    }),
    { seed: 18, numRuns: 40 },
  );
});

test('the report names the path the solve took: the whole solve as one op for the spiral network on cpu, one op per stage with backward Euler', async () => {
  const text = (await import('node:fs')).readFileSync(`${__dirname}/../../../examples/spiral.ode`, 'utf8');
  const r = await runCheck(model(text), { backend: 'cpu' });
  assert.equal(r.rhsPath, 'mlp-solve');
  // Backward Euler solves its implicit step with the model's own reverse mode: one op per evaluation of f.
  const implicit = await adPass('cpu', model(text.replace('meth=leapfrog', 'meth=backeul')), 'solve');
  assert.equal(implicit.path, 'mlp-stage');
  assert.ok(Number.isFinite(implicit.loss));
});
