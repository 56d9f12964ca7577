// The Volterra whole-solve kernel (engine/volterraKernel.ts) against the per-operation solve
// (engine/volterraSolve.ts, compiled with wholeSolve: false) on models of every construct: int{K#u} with
// kernels that read parameters, int[mu]{…}, integrands of t and t', integral and integro-differential
// equations together, a vmaxpts window, per-step parameters. Trajectories and AD gradients agree to float32
// tolerance; AD equals central differences of the kernel's own discrete solve; a step whose corrections
// do not settle is reported with its step and time, by both paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { copyTensors, discreteGradients, discreteLoss, paramsFor } from '../../solver/engine/discrete';
import { initialParameters } from '../../solver/engine/parameters';
import { schemeOf } from '../../solver/schemes/schemes';
import { runCheck } from '../../solver/check';
import { THREAD_MIN_SOLVE_WORK } from '../../solver/check/thread';
import { volterraFindings } from '../../solver/check/volterra';
import type { CompiledModel } from '../../solver/engine/compile';
import { axpyReversed, historySum, weightsBack } from '../../solver/engine/volterraKernel';
import type { Model } from '../../solver/model';
import { modelOf } from '../support/timeStepping';

/** Models in the constructs of XPPAUT's Volterra files, each with parameters that reach the loss. */
const MODELS: [string, string][] = [
  [
    'int{K#u} with kernels of parameters, an integral and an integro-differential equation',
    `u(t) = cos(t) - a*int{exp(-b*t)#u^2} + 0.3*x
x' = -x + c*int{exp(-t)#u*x} - 0.2*int{exp(-b*t)#u^2}
par a=0.7, b=1.3, c=0.5
init x=1
loss = u(T)^2 + x(T)^2
@ total=3, dt=0.02
`,
  ],
  [
    'int[mu]{…}: singular weights, a parameter inside the integrand',
    `par lam=1.5, q=0.8
volt u = 0.9*exp(-5*t) + 0.5*int[.5]{exp(-t)#lam*u - v - (u*u+v*v)*(u+q*v)}
volt v = 0.5*int[.5]{exp(-t)#lam*v + u - (u*u+v*v)*(v-q*u)}
loss = u(T)^2 + v(T)^2
@ total=2, dt=0.02
`,
  ],
  [
    "integrands of t and t' (evaluated over the history), a window of vmaxpts points",
    `u(t) = sin(t) + k*int{(t-t')*exp(t'-t)*u} - 0.1*int[.25]{exp(-a*(t-t'))*u}
par k=0.5, a=2
loss = u(T)^2
@ total=2, dt=0.02, vmaxpts=40
`,
  ],
  [
    'integral equations that read delays: tau a state, a constant tau between grid points and on one',
    `tau' = -0.5*(tau - r)
x' = v
v' = -v/q - x + a*u*u - 0.1*delay(v, 0.12) + 0.05*delay(x, 0.1)
volt u = 1 + 0.5*cos(delay(x, tau))*delay(u, tau) - 0.1*int{exp(-t)#x}
par q=2, a=0.3, r=0.3
init tau=0.2, x=0.5
loss = x(T)^2 + u(T)^2 + tau(T)^2
@ total=2, dt=0.05
`,
  ],
  ...['step', 'stage'].map((tie): [string, string] => [
    `per-step parameters, tie=${tie}`,
    `x' = -a*x + int{exp(-t)#y}
y' = x - 0.5*y
param a per-step ~ normal(1, 0.1)
init x=1, y=0
loss = x(T)^2 + y(T)^2
@ total=1, dt=0.05, seed=3, tie=${tie}
`,
  ]),
];

async function trajectory(model: Model, wholeSolve: boolean) {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model, { wholeSolve });
  try {
    const out: number[][] = [];
    tf.tidy(() => {
      const copies = copyTensors(tf, model, initialParameters(tf, model));
      const { steps, dt, t0 } = model.options;
      for (const xs of solveDiscrete(tf, compiled, schemeOf(model), steps, dt, t0, paramsFor(model, copies)))
        out.push(xs.map((x) => x.dataSync()[0]));
    });
    return { out, kernel: !!compiled.volterra?.program && compiled.volterra.owner === compiled.rhs };
  } finally {
    compiled.dispose();
  }
}

async function gradient(model: Model, wholeSolve: boolean, values?: Float32Array[]) {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model, { wholeSolve });
  try {
    const v = values ?? initialParameters(tf, model);
    return discreteGradients(tf, compiled, schemeOf(model), model, v);
  } finally {
    compiled.dispose();
  }
}

async function lossAt(model: Model, values: Float32Array[]): Promise<number> {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    let loss = NaN;
    tf.tidy(() => {
      loss = discreteLoss(tf, compiled, schemeOf(model), model, copyTensors(tf, model, values)).dataSync()[0];
    });
    return loss;
  } finally {
    compiled.dispose();
  }
}

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

for (const [name, text] of MODELS) {
  test(`Volterra kernel = per-operation solve: ${name}`, async () => {
    const model = modelOf(text);
    const fast = await trajectory(model, true);
    const slow = await trajectory(model, false);
    assert.ok(fast.kernel, 'the kernel covers the model');
    assert.equal(fast.out.length, slow.out.length);
    fast.out.forEach((xs, n) => xs.forEach((x, i) => close(x, slow.out[n][i], 2e-5, `step ${n}, state ${i}`)));
    const a = await gradient(model, true);
    const b = await gradient(model, false);
    close(a.loss, b.loss, 2e-5, 'loss');
    a.G.forEach((g, i) =>
      g.forEach((v, k) => {
        const scale = Math.max(...b.G[i].map(Math.abs));
        assert.ok(scale > 1e-4, `parameter ${i} reaches the loss`);
        assert.ok(Math.abs(v - b.G[i][k]) <= 1e-4 * scale, `parameter ${i}[${k}]: ${v} vs ${b.G[i][k]}`);
      }),
    );
  });
}

test('Volterra kernel: AD equals central differences of the same discrete solve', async () => {
  for (const [name, text] of MODELS.slice(0, 4)) {
    const model = modelOf(text);
    const { G } = await gradient(model, true);
    const { tf } = await initBackend('cpu');
    const base = initialParameters(tf, model);
    for (let i = 0; i < base.length; i++) {
      const eps = 1e-2 * Math.max(1, Math.abs(base[i][0]));
      const moved = (s: number) => base.map((b, j) => (j === i ? b.map((x) => x + s * eps) : b));
      const fd = ((await lossAt(model, moved(1))) - (await lossAt(model, moved(-1)))) / (2 * eps);
      assert.ok(Math.abs(fd) > 1e-3, `${name}: parameter ${i} reaches the loss`);
      assert.ok(Math.abs(G[i][0] - fd) <= 2e-3 * Math.abs(fd), `${name}: parameter ${i}: AD ${G[i][0]}, FD ${fd}`);
    }
  }
});

test('a step whose corrections do not settle in MAX_CORRECTIONS is a warning naming the step and time (both paths)', async () => {
  // h/2·|∂f/∂x| = 2.5: the fixed-point corrections of the implicit step grow instead of contracting.
  const text = `x' = -a*x + int{exp(-t)#x}
par a=50
init x=1
@ total=0.3, dt=0.1
`;
  for (const wholeSolve of [true, false]) {
    const { tf } = await initBackend('cpu');
    const model = modelOf(text);
    const { compiled } = compileModel(tf, model, { wholeSolve });
    tf.tidy(() => {
      discreteLoss(tf, compiled, schemeOf(model), model, copyTensors(tf, model, initialParameters(tf, model)));
    });
    assert.equal(!!compiled.volterra?.program, wholeSolve);
    const u = compiled.volterra?.unconverged;
    compiled.dispose();
    assert.ok(u, `${wholeSolve ? 'kernel' : 'per operation'}: the unconverged step is recorded`);
    assert.equal(u.step, 1);
    close(u.time, 0.1, 1e-9, 'its time');
    assert.equal(u.steps, 3, 'every step of the solve');
  }
  const report = await runCheck(modelOf(text), { backend: 'cpu' });
  const f = report.findings.find((x) => x.code === 'volterra-not-converged');
  assert.ok(f, report.findings.map((x) => x.code).join(', '));
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /in 3 of the 3 steps, first at step 1 \(t = 0\.1\)/);
  // A step that settles has no such finding; the report says the kernel ran the solves.
  const fine = await runCheck(modelOf(text.replace('a=50', 'a=1')), { backend: 'cpu' });
  assert.ok(!fine.findings.some((x) => x.code === 'volterra-not-converged'));
  assert.equal(fine.rhsPath, 'scalar-solve');
  assert.match(fine.rhsPathNote ?? '', /volterra/);
});

test('a near miss of the corrections’ tolerance is information, a step far from settled a warning', () => {
  const model = modelOf("x' = -x + int{exp(-t)#x}\ninit x=1\n@ total=1, dt=0.1\n");
  const severity = (change: number) =>
    volterraFindings(model, {
      volterra: { unconverged: { step: 3, time: 0.3, change, steps: 2 } },
    } as unknown as CompiledModel).map((f) => [f.severity, f.range.start.character]);
  assert.deepEqual(severity(1.8e-6), [['information', "x' = -x + ".length]], 'on the integral');
  assert.deepEqual(severity(3e-2), [['warning', "x' = -x + ".length]]);
});

test('a Volterra model outside the kernel (an event, a delay of a state with a history formula) keeps the per-operation solve', async () => {
  const { tf } = await initBackend('cpu');
  for (const text of [
    "x' = 1 + 0.5*int{exp(-t)#x}\nglobal 1 x-1 {x=0}\ninit x=0\n@ total=2, dt=0.05\n",
    "x' = -x + 0.5*delay(x, 0.2) + int{exp(-t)#x}\nx(0)=1+t\n@ total=1, dt=0.05, delay=1\n",
  ]) {
    const model = modelOf(text);
    const { compiled } = compileModel(tf, model);
    assert.ok(compiled.volterra && !compiled.volterra.program, text);
    compiled.dispose();
    const got = await trajectory(model, true);
    assert.ok(!got.kernel);
    assert.ok(got.out.every((xs) => xs.every(Number.isFinite)));
  }
});

test("a Volterra solve's work counts its history sums: they grow like N² up to vmaxpts and start the second thread", async () => {
  const { tf } = await initBackend('cpu');
  // Two convolutions over a long history and few operations a step (as XPPAUT's mlvolt.ode): the sums dominate.
  const text = (total: number, maxPoints?: number) =>
    'f1=k*(v^2-v^3-w)\nv(t)=exp(-kk*t)+int[.5]{exp(-a*t)#f1}+int{exp(-2*a*t)#w}\n' +
    "w'=b*(v-c-d*w)\npar a=.1,d=.5,c=.2,b=.2,k=2,kk=5\ninit w=.5\nloss = v(T)^2\n" +
    `@ dt=.05, total=${total}${maxPoints ? `, vmaxpts=${maxPoints}` : ''}\n`;
  const work = (total: number, maxPoints?: number) => {
    const { compiled, volterraWork } = compileModel(tf, modelOf(text(total, maxPoints)));
    compiled.dispose();
    assert.ok(volterraWork !== undefined, 'the model runs on the kernel');
    return volterraWork;
  };
  // N = 2,000 steps: past the second thread's threshold, where the steps with a history of one point stay below it.
  const long = work(100);
  assert.ok(long > THREAD_MIN_SOLVE_WORK, `${long}`);
  assert.ok(work(100, 1) < THREAD_MIN_SOLVE_WORK / 2, `${work(100, 1)}`);
  // Doubling N about quadruples the work while N stays within vmaxpts; past it, the sums grow linearly.
  const ratio = work(100) / work(50);
  assert.ok(ratio > 3.5 && ratio < 4.1, `ratio ${ratio}`);
  const windowed = work(100, 100) / work(50, 100);
  assert.ok(windowed > 1.9 && windowed < 2.2, `windowed ratio ${windowed}`);
});

test("the history sums and their adjoint's loops, four terms to an iteration, equal the plain loops bit for bit", () => {
  const doubles = (n: number) =>
    fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: n, maxLength: n });
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }).chain((m) =>
        fc.record({
          m: fc.constant(m),
          at: fc.integer({ min: 0, max: 5 }),
          l: fc.double({ min: -10, max: 10, noNaN: true }),
          y: doubles(m + 6),
          w: doubles(m + 1),
          g: doubles(m + 6),
        }),
      ),
      ({ m, at, l, y, w, g }) => {
        const W = Float64Array.from(w),
          G = Float64Array.from(g);
        const got = Float64Array.from(y),
          want = Float64Array.from(y);
        axpyReversed(got, at, W, m, l);
        for (let i = 1; i < m; i++) want[at + i] += W[m - i] * l;
        assert.deepEqual(got, want);
        const gotC = Float64Array.from(y),
          wantC = Float64Array.from(y);
        weightsBack(gotC, W, G, at, m, l);
        for (let i = 1; i < m; i++) wantC[m - i] += W[m - i] * G[at + i] * l;
        assert.deepEqual(gotC, wantC);
        let sum = l;
        for (let i = 1; i < m; i++) sum += Math.fround(W[m - i] * G[at + i]);
        assert.equal(historySum(l, W, G, at, m), sum);
      },
    ),
  );
});
