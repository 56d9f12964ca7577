// The fused right-hand side of all-scalar models (engine/scalarRhs.ts) against
// the per-operation compilation of the same model: values, AD gradients through
// the unrolled solve, the hand-written vjps, the batched rhs and the full check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { compileModel, internalShape, sizeOf } from '../../solver/engine/compile';
import { compileScalarProgram, evaluate, MAX_FUSED_ELEMENTS } from '../../solver/engine/scalarRhs';
import { schemeOf } from '../../solver/schemes/schemes';
import { parameterCopies } from '../../solver/schemes/copies';
import { adGradient, type TrainContext } from '../../solver/train/gradients';
import { solveDiscrete } from '../../solver/engine/integrate';
import { continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import type { Model } from '../../solver/model';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

// Every unary and binary function, operators, comparisons, logic and if/then/else, `t`, `pi`.
const EVERY_FUNCTION = `par a=0.7, b=-0.4, c=1.3
param k per-step = 0.5
init x=0.3, y=-0.2, z=0.8
x' = tanh(a*x) + sigmoid(y) + relu(x - 0.1) + sin(t) * cos(y) + tan(0.3*x) + exp(-z) + log(2 + tanh(z)) + ln(2 + tanh(x)) + abs(y) - k*x
y' = sqrt(2 + tanh(z)) + sinh(0.2*y) + cosh(0.1*x) + asin(0.3*tanh(y)) + acos(0.2*tanh(x)) + atan(y) + sign(y) * 0.1 + floor(3*z) * 0.01 + flr(z) + ceil(z) * 0.01 + log10(2 + tanh(z)) + heav(x) * 0.1 - b*y
z' = max(x, y) - min(x, z) + pow(2 + tanh(z), c) + atan2(y, 2 + tanh(z)) + mod(5*x + 3, 2) * 0.1 + tanh(x)^3 - y^2 + (2 + tanh(z))^0.5 + (3 + tanh(z))^(-1) + if(x > 0.1 & y < 0) then(a) else(b) + (x >= y) * 0.1 + (x <= y) * 0.2 + (x == y) + (x != y) * 0.05 + (x | y) * 0.01 + pi * 0.01 - c*z
loss = x(T)^2 + 0.5*y(T) + z(T)^2
@ total=0.5, steps=32, meth=rk4, seed=1
done
`;

const WILSON_COWAN = `f(u)=1/(1+exp(-u))
par aee=10,aie=8,aei=12,aii=3,ze=.2,zi=4
par tau=1
i_e(t)=ie0+ie1*sin(w*t)
par ie0=0.1,ie1=0.2,w=.25
init u=.1,v=.05
u'=-u+f(aee*u-aie*v-ze+i_e(t))
v'=(-v+f(aei*u-aii*v-zi))/tau
@ total=4,dt=0.05
done
`;

// Vector states and parameters: indexing (an element, a matrix row), vector literals of scalars and
// of vectors, broadcasting of scalars, vectors and matrices, @ in its four forms, sum, elementwise
// if, comparisons and functions on vectors; a vector, a matrix and a scalar state.
const SMALL_TENSORS = `state u[3]
state M[2,2]
state v
param A[3,3] ~ normal(0, 0.5)
param b[3] per-step = 0.1
param c = 0.3
param r[2,1] = 0.2
init u = [0.2, -0.4, 0.7]
init M = [[0.5, -0.1], [0.2, 0.3]]
init v = 0.1
u' = tanh(A @ u + b) - v*u + A[1] * c + [u[2], M[1, 0], sum(M)] + (M[0] @ [[1, 2, 3], [0, -1, 1]]) * 0.1 + if(u > 0) then(u) else(-0.5*u)
M' = -M + [[sin(v), c], [u[0], u[2]^2]] @ M + max(M, 0.1) * [1, -1] + (M >= 0.2) * 0.01 + r * [1, -2] * 0.1
v' = sum(u)/3 - sqrt(sum(u^2))*0.1 + max(u[0], u[1]) - min(M[0, 1], 0.2) + exp(-v) + [1, 2, 3] @ u * 0.01 + u @ u * 0.1
loss = sum(u(T)^2) + sum(M(T)) + v(T)^2
@ total=0.5, steps=32, meth=rk4, seed=1
done
`;

/** Van der Pol written with a vector state, as examples/models/vanderpol.ode. */
const VANDERPOL_VECTOR = `state z[2]
par mu=1
init z = [0.5, 0]
z' = [z[1], mu*(1 - z[0]^2)*z[1] - z[0]]
loss = (z(T)[0] - 1)^2
@ total=2, dt=0.05, meth=rk4
done
`;

/** Three scalar states, shared and per-step parameters: packed solves and references. */
const threeStates = (options: string) => `par a=0.7, b=-0.4
param k per-step = 0.5
init x=0.3, y=-0.2, z=0.8
x' = tanh(a*x) - k*y
y' = sin(x) + b*y*z
z' = -z + x*y
loss = x(T)^2 + y(T) + z(T)^2
@ total=1, ${options}, seed=1
done
`;

function rel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0,
    d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return d === 0 ? Math.sqrt(n) : Math.sqrt(n / d);
}

for (const [name, text] of [
  ['every scalar function', EVERY_FUNCTION],
  ['XPPAUT Wilson–Cowan', WILSON_COWAN],
  ['small vectors and matrices', SMALL_TENSORS],
  ['Van der Pol on a vector state', VANDERPOL_VECTOR],
] as const) {
  test(`fused rhs equals the per-operation compile: ${name}`, async () => {
    const { tf } = await initBackend('cpu');
    const m = parse(text);
    assert.ok(compileScalarProgram(m), 'the model is in the fused subset');
    const before = tf.memory().numTensors;
    const fused = compileModel(tf, m).compiled,
      plain = compileModel(tf, m, { fuseScalars: false }).compiled;
    try {
      const values = initialParameters(tf, m);
      const sizes = m.params.map((p) => sizeOf(p.shape));
      tf.tidy(() => {
        // Distinct values in every element (k counts them across states).
        let k = 0;
        const next = (n: number) => Float32Array.from({ length: n }, () => 0.31 * Math.sin(1.7 * ++k) + 0.05);
        const s = m.states.map((x) => tf.tensor(next(sizeOf(x.shape)), internalShape(x.shape)));
        const p = m.params.map((q, j) => tf.tensor(values[j].subarray(0, sizes[j]), internalShape(q.shape)));
        const cot = m.states.map((x) => tf.tensor(next(sizeOf(x.shape)), internalShape(x.shape)));
        const flat = (xs: Tensor[]) => xs.flatMap((x) => Array.from(x.dataSync()));
        const a = flat(fused.rhs(s, p, 0.37)),
          b = flat(plain.rhs(s, p, 0.37));
        assert.ok(rel(a, b) < 1e-6, `rhs ${a} vs ${b}`);
        fused.rhs(s, p, 0.37).forEach((f, i) => assert.deepEqual(f.shape, s[i].shape, 'f has the shape of its state'));
        const va = fused.rhsVjp!(s, p, 0.37, cot, true);
        // The per-operation model's vjp by TF.js AD of its rhs.
        const { grads } = tf
          .engine()
          .gradients(
            () => tf.addN(plain.rhs(s, p, 0.37).map((f, i) => tf.sum(tf.mul(f, cot[i])))),
            [...s, ...p],
            undefined,
            true,
          );
        const vb = { vx: grads.slice(0, s.length), vp: grads.slice(s.length).map((g, j) => g ?? tf.zerosLike(p[j])) };
        const both = (r: { vx: Tensor[]; vp: Tensor[] }) => flat([...r.vx, ...r.vp]);
        assert.ok(rel(both(va), both(vb)) < 1e-5, `vjp ${both(va)} vs ${both(vb)}`);
        const la = fused.rhsLinearize!(s, p, 0.37).back(cot, true);
        assert.ok(rel(both(la), both(vb)) < 1e-5, 'linearised vjp');
        // Batched: three batch elements, states batched, parameters of batch 1.
        const lead = (x: Tensor) => (x.rank === 0 ? [1, 1] : x.shape);
        const sb = s.map((x) => tf.concat([tf.reshape(x, [1, ...lead(x)]), tf.fill([2, ...lead(x)], 0.1)], 0));
        const pb = p.map((x) => tf.reshape(x, [1, ...lead(x)]));
        const ba = fused.batched!.rhs(sb, pb, 0.37),
          bb = plain.batched!.rhs(sb, pb, 0.37);
        ba.forEach((f, i) => assert.deepEqual(f.shape, bb[i].shape, 'batched f has the batched shape of its state'));
        assert.ok(rel(flat(ba), flat(bb)) < 1e-6, `batched ${flat(ba)} vs ${flat(bb)}`);
        // Its vjps, as the reference's g on a grid takes them: one parameter copy per batch element.
        const pb3 = p.map((x) => tf.concat([tf.reshape(x, [1, ...lead(x)]), tf.fill([2, ...lead(x)], 0.3)], 0));
        const vjp = (cm: typeof fused) =>
          tf
            .engine()
            .gradients(
              () =>
                tf.addN(
                  cm
                    .batched!.rhs(sb, pb3, 0.37)
                    .map((f, i) =>
                      tf.sum(tf.mul(f, tf.reshape(tf.tile(tf.reshape(cot[i], [1, -1]), [3, 1]), f.shape))),
                    ),
                ),
              [...sb, ...pb3],
              undefined,
              true,
            ).grads;
        const [ga, gb] = [vjp(fused), vjp(plain)];
        ga.forEach((g, i) =>
          assert.ok(
            rel(g!.dataSync(), gb[i]!.dataSync()) < 1e-5,
            `batched vjp, source ${i}: ${g!.dataSync()} vs ${gb[i]!.dataSync()}`,
          ),
        );
      });
      // AD through the whole unrolled solve.
      const scheme = schemeOf(m),
        N = m.options.steps;
      const pc = parameterCopies(scheme, N, m.options.dt, m.options.t0);
      const ctx = (cm: typeof fused): TrainContext => ({
        tf,
        cm,
        model: m,
        scheme,
        N,
        h: m.options.dt,
        t0: m.options.t0,
        copies: pc.count,
        taus: pc.times,
        weights: pc.weights,
        sizes,
      });
      const ga = adGradient(ctx(fused), values),
        gb = adGradient(ctx(plain), values);
      assert.ok(Math.abs(ga.loss - gb.loss) <= 1e-5 * Math.abs(gb.loss), `loss ${ga.loss} vs ${gb.loss}`);
      ga.G.forEach((g, i) => assert.ok(rel(g, gb.G[i]) < 1e-4, `${m.params[i].name}: ${rel(g, gb.G[i])}`));
      // The continuous reference on both.
      const inp: ReferenceInput = {
        N,
        h: m.options.dt,
        t0: m.options.t0,
        layerTimes: pc.times,
        params: m.params.map((q, i) => ({
          perStep: q.perStep,
          values: values[i],
          shape: internalShape(q.shape),
          size: sizes[i],
        })),
      };
      const ra = continuousReference(tf, fused, inp),
        rb = continuousReference(tf, plain, inp);
      ra.g.forEach((g, i) => assert.ok(rel(g, rb.g[i]) < 1e-4, `reference ${m.params[i].name}: ${rel(g, rb.g[i])}`));
    } finally {
      fused.dispose();
      plain.dispose();
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  });
}

test('the full check of a fused vector model passes its gradcheck and follows its reference', async () => {
  const r = await runCheck(parse(SMALL_TENSORS), { backend: 'cpu' });
  assert.deepEqual(
    r.findings.map((f) => f.code),
    [],
  );
  for (const p of r.parameters) {
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name} gradcheck ${p.metrics.gradcheckRelError}`);
    assert.ok(p.metrics.relError < 1e-2, `${p.name} reference ${p.metrics.relError}`);
  }
});

test('the full check of a fused scalar model passes its gradcheck and matches its reference', async () => {
  const r = await runCheck(parse(WILSON_COWAN), { backend: 'cpu' });
  for (const p of r.parameters) {
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name} gradcheck ${p.metrics.gradcheckRelError}`);
    assert.ok(p.metrics.relError < 1e-3, `${p.name} reference ${p.metrics.relError}`);
  }
});

test('models outside the fused subset are not fused', () => {
  // Larger than MAX_FUSED_ELEMENTS: a per-step MLP stays with TF.js's kernels.
  assert.ok(8 + 64 > MAX_FUSED_ELEMENTS);
  assert.equal(
    compileScalarProgram(
      parse(
        "state x[8]\ninit x = 0.5\nparam W[8,8] per-step ~ normal(0, 1)\nx' = tanh(W @ x)\n@ total=1, steps=8\ndone\n",
      ),
    ),
    undefined,
  );
  // Small, but as few kernels per operation as fused (flattening W and x, splitting f): not fused.
  assert.equal(
    compileScalarProgram(
      parse(
        "state x[2]\ninit x = [1, 0]\nparam W[2,2] per-step ~ normal(0, 1)\nparam c[2] per-step = 0\nx' = W @ x + c\n@ total=1, steps=8\ndone\n",
      ),
    ),
    undefined,
  );
  assert.ok(
    compileScalarProgram(
      parse(
        "state x[2]\ninit x = [1, 0]\nparam W[2,2] ~ normal(0, 1)\nx' = tanh(W @ x) - x^3 + [x[1], -x[0]]\n@ total=1, steps=8\ndone\n",
      ),
    ),
  );
  assert.ok(compileScalarProgram(parse("init x=1\nx' = -x\n@ total=1, steps=8\ndone\n")));
});

test('a chaotic solve: finite differences are reported as unable to judge AD, not as a mismatch', async () => {
  // Lorenz over 40 time units: perturbations grow by ~e^36, so finite differences never settle.
  const m = parse(
    "par s=10, r=28, b=2.667\ninit x=1, y=1, z=1\nx' = s*(y-x)\ny' = x*(r-z) - y\nz' = x*y - b*z\n@ total=40, dt=0.02\ndone\n",
  );
  const r = await runCheck(m, { backend: 'cpu', reference: false });
  const codes = r.findings.map((f) => f.code);
  assert.ok(!codes.includes('gradcheck-mismatch'), JSON.stringify(codes));
  assert.equal(codes.filter((c) => c === 'gradcheck-unresolved').length, 3);
  for (const p of r.parameters) {
    assert.equal(p.metrics.gradcheckUnresolved, true);
    assert.equal(p.verdict?.kind, 'inconclusive');
  }
  assert.match(
    r.findings.find((f) => f.code === 'gradcheck-unresolved')!.message,
    /do not settle as the step shrinks .* shorter total/,
  );
  // The same model over a short horizon is checkable.
  const short = await runCheck(
    parse(
      "par s=10, r=28, b=2.667\ninit x=1, y=1, z=1\nx' = s*(y-x)\ny' = x*(r-z) - y\nz' = x*y - b*z\n@ total=0.5, dt=0.02\ndone\n",
    ),
    { backend: 'cpu', reference: false },
  );
  for (const p of short.parameters)
    assert.ok(
      !p.metrics.gradcheckUnresolved && p.metrics.gradcheckRelError < 1e-2,
      `${p.name}: ${JSON.stringify(p.metrics)}`,
    );
});

test('packed discrete solves of scalar models equal the per-state solve, values and AD, for every scheme kind', async () => {
  const { tf } = await initBackend('cpu');
  for (const meth of ['rk4', 'heun', 'leapfrog', 'ab3', 'milne'] as const) {
    for (const tie of meth === 'heun' ? ['step', 'stage'] : ['step']) {
      const m = parse(threeStates(`steps=24, meth=${meth}, tie=${tie}`));
      // The packed TF.js solve (the whole-solve kernel has its own test: scalarKernel.test.ts).
      const { compiled: cm } = compileModel(tf, m, { wholeSolve: false });
      try {
        assert.ok(cm.packed, `${meth}: a several-state scalar model is packed`);
        const unpacked = { ...cm, rhs: (s: Tensor[], p: Tensor[], t: number) => cm.rhs(s, p, t) }; // a view: solved per state
        const scheme = schemeOf(m),
          N = m.options.steps;
        const values = initialParameters(tf, m);
        const copies = values.map((v, i) =>
          m.params[i].perStep ? Array.from(v, (x) => tf.scalar(x)) : [tf.scalar(v[0])],
        );
        const at = (c: number) => copies.map((cs, i) => (m.params[i].perStep ? cs[c] : cs[0]));
        const run = (model: typeof cm) =>
          tf.tidy(() => {
            const flat = copies.flat();
            const { value, grads } = tf.engine().gradients(
              () => {
                const traj = solveDiscrete(tf, model, scheme, N, m.options.dt, 0, at);
                return tf.addN([model.loss(traj[N]), tf.mul(0.1, tf.sum(tf.stack(traj.map((xs) => xs[1]))))]); // every step read
              },
              flat,
              undefined,
              true,
            );
            return [value.dataSync()[0], ...grads.map((g) => (g ? g.dataSync()[0] : 0))];
          });
        const a = run(cm),
          b = run(unpacked);
        assert.deepEqual(a, b, `${meth} tie=${tie}: packed and per-state solves give the same float32 numbers`);
        tf.dispose(copies.flat());
      } finally {
        cm.dispose();
      }
    }
  }
});

test('the continuous reference of a packed scalar model equals the per-state one (tied and untied copies)', async () => {
  const { tf } = await initBackend('cpu');
  const m = parse(threeStates('steps=32, meth=leapfrog'));
  const before = tf.memory().numTensors;
  const { compiled: cm } = compileModel(tf, m);
  try {
    assert.ok(cm.packed);
    const unpacked = { ...cm, rhs: (s: Tensor[], p: Tensor[], t: number) => cm.rhs(s, p, t) };
    const N = m.options.steps;
    const layerTimes = parameterCopies(schemeOf(m), N, m.options.dt, 0).times;
    for (const untie of [false, true]) {
      const values = initialParameters(tf, m);
      if (untie)
        values[2].forEach((v, n) => {
          values[2][n] = v * (1 + 0.3 * Math.sin(n));
        });
      const inp: ReferenceInput = {
        N,
        h: m.options.dt,
        t0: 0,
        layerTimes,
        params: m.params.map((p, i) => ({ perStep: p.perStep, values: values[i], shape: [], size: 1 })),
      };
      const a = continuousReference(tf, cm, inp),
        b = continuousReference(tf, unpacked, inp);
      assert.equal(a.gridTimes.length, b.gridTimes.length, 'the same grid');
      a.g.forEach((g, i) =>
        assert.ok(rel(g, b.g[i]) < 1e-5, `${untie ? 'untied' : 'tied'} ${m.params[i].name}: ${rel(g, b.g[i])}`),
      );
      assert.ok(Math.abs(a.lossAccurate - b.lossAccurate) <= 1e-6 * Math.abs(b.lossAccurate));
    }
  } finally {
    cm.dispose();
  }
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

test('fused and per-operation compiles agree on random small models: loss and AD gradients through the solve', async () => {
  const { tf } = await initBackend('cpu');
  let fusedModels = 0;
  const agree = async (text: string) => {
    const a = analyse(text);
    if (!a.model || !compileScalarProgram(a.model)) return;
    const m = a.model;
    fusedModels++;
    const scheme = schemeOf(m),
      N = m.options.steps;
    const pc = parameterCopies(scheme, N, m.options.dt, m.options.t0);
    const values = initialParameters(tf, m);
    const grads = (fuseScalars: boolean) => {
      const { compiled: cm } = compileModel(tf, m, { fuseScalars });
      try {
        return adGradient(
          {
            tf,
            cm,
            model: m,
            scheme,
            N,
            h: m.options.dt,
            t0: m.options.t0,
            copies: pc.count,
            taus: pc.times,
            weights: pc.weights,
            sizes: m.params.map((p) => sizeOf(p.shape)),
          },
          values,
        );
      } finally {
        cm.dispose();
      }
    };
    const f = grads(true),
      p = grads(false);
    // Where the per-operation AD is finite, the fused one is too and equal to float32 rounding (amplified by at
    // most 10³ along the solve). Not the converse: TF.js's where() gradient multiplies an untaken branch's
    // infinite derivative (v/0) by a zero cotangent into NaN; the fused reverse mode skips zero cotangents.
    const finite = (r: typeof f) => Number.isFinite(r.loss) && r.G.every((g) => g.every(Number.isFinite));
    if (!finite(p)) return;
    assert.ok(finite(f), `finite on the per-operation compile only\n${text}`);
    assert.ok(
      Math.abs(f.loss - p.loss) <= 1e-4 * Math.max(1, Math.abs(p.loss)),
      `loss ${f.loss} vs ${p.loss}\n${text}`,
    );
    // Relative to the gradient, with a floor for gradients that vanish by cancellation (b/b, a·(1/a)): there
    // each compile keeps its own float32 rounding noise.
    const norm = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((x, y) => x + y * y, 0));
    f.G.forEach((g, i) => {
      const diff = norm(g.map((x, k) => x - p.G[i][k]));
      assert.ok(
        diff <= 1e-3 * norm(p.G[i]) + 1e-4 * (1 + Math.abs(p.loss)),
        `${m.params[i].name}: ${diff} against ${norm(p.G[i])}\n${text}`,
      );
    });
  };
  await fc.assert(fc.asyncProperty(expressionModel, agree), { seed: 21, numRuns: 100 });
  await fc.assert(fc.asyncProperty(modelText, agree), { seed: 22, numRuns: 60 });
  await fc.assert(fc.asyncProperty(smallTensorModel, agree), { seed: 23, numRuns: 150 });
  assert.ok(fusedModels >= 150, `only ${fusedModels} generated models were fused`);
});

test("relu on the fused path gives what TF.js's relu gives, NaN included (a blow-up stays visible)", async () => {
  const { tf } = await initBackend('cpu');
  const m = parse("state x\nparam k = 0.5\nx' = relu(k*x)\ninit x = 1\nloss = x(T)^2\n@ steps=4\ndone\n");
  const prog = compileScalarProgram(m);
  assert.ok(prog, 'a scalar model runs fused');
  for (const x of [Number.NaN, -2, 0, 3]) {
    const fused = evaluate(prog, [x], [0.5], 0)[prog.outputs[0]];
    const kernel = tf.tidy(() => tf.relu(tf.scalar(0.5 * x)).dataSync()[0]);
    assert.ok(
      Object.is(fused, kernel) || (fused === 0 && kernel === 0),
      `relu(0.5·${x}): fused ${fused}, TF.js ${kernel}`,
    );
  }
});
