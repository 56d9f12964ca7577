// Backward Euler (`meth=backeul`, solver/engine/implicitStep.ts): the solve against the hand-derived
// x_{n+1} = x_n / (1 + kh), AD against the exact discrete gradient and finite differences, the implicit-function
// VJP against AD of unrolled Newton iterations on a nonlinear model, per-step copies at t_{n+1}, no period-2
// artefact on a per-step network, and the scheme in the registry, the options and the editor.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { initBackend } from '../../solver/engine/backend';
import type { Tensor } from '../../solver/engine/tf';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';
import { parameterCopies } from '../../solver/schemes/copies';
import { schemeByName } from '../../solver/schemes/schemes';
import { describeScheme } from '../../solver/schemes/analysis';
import { completion, hover, ServiceDocument } from '../../solver/service/index';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

describe('backward Euler: the solve and its gradients', () => {
  const k = 2,
    N = 10,
    h = 0.1,
    c = 0.3;
  // x' = -k x + c_n: x_{n+1} = (x_n + h c_n) / (1 + kh), L = x_N.
  const LINEAR = `par k=${k}\nparam c per-step = ${c}\nx' = -k*x + c\ninit x=1\nloss = x(T)\n@ total=1, steps=${N}, meth=backeul\n`;

  /** Float64: x_N, dL/dk and dL/dc_n of the discrete map (differentiated by hand). */
  function exact() {
    const q = 1 / (1 + k * h);
    const xs = [1];
    for (let n = 0; n < N; n++) xs.push((xs[n] + h * c) * q);
    // dx_{n+1}/dk = −h x_{n+1} q + q dx_n/dk; dx_{n+1}/dc_n = h q; dx_N/dx_{n+1} = q^(N−n−1).
    let dk = 0;
    for (let n = 0; n < N; n++) dk = q * dk - h * xs[n + 1] * q;
    const dc = Array.from({ length: N }, (_, n) => h * q ** (N - n));
    return { loss: xs[N], dk, dc };
  }

  test('x_N, AD of k and of each c_n equal the float64 discrete map; finite differences agree', async () => {
    const ref = exact();
    const r = await runCheck(model(LINEAR), { backend: 'cpu' });
    assert.equal(r.scheme, 'backeul');
    assert.ok(rel(r.loss, ref.loss) < 1e-6, `${r.loss} vs ${ref.loss}`);
    const kp = r.parameters.find((p) => p.name === 'k')!;
    assert.ok(rel(kp.raw[0][0], ref.dk) < 1e-5, `dk ${kp.raw[0][0]} vs ${ref.dk}`);
    const cp = r.parameters.find((p) => p.name === 'c')!;
    // Densities d_n = G_n / (h w_n), w_n = 1, at t_{n+1}.
    cp.raw.forEach((row, n) => assert.ok(rel(row[0] * h, ref.dc[n]) < 1e-5, `c_${n}: ${row[0] * h} vs ${ref.dc[n]}`));
    assert.deepEqual(
      cp.layerTimes.map((t) => Math.round(t * 1e9) / 1e9),
      Array.from({ length: N }, (_, n) => Math.round((n + 1) * h * 1e9) / 1e9),
    );
    for (const p of r.parameters) assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, p.name);
    // The continuous reference judges it: first order, converging.
    assert.equal(r.verdict?.kind, 'converges', r.verdict?.explanation);
  });

  test('copies: one per step at t_{n+1}, weight 1', () => {
    const pc = parameterCopies(schemeByName('backeul'), 4, 0.25, 1);
    assert.deepEqual(pc.times, [1.25, 1.5, 1.75, 2]);
    assert.deepEqual(pc.weights, [1, 1, 1, 1]);
  });

  test('the implicit-function VJP equals AD of Newton iterations unrolled to convergence (nonlinear model)', async () => {
    const a = 1.5,
      b = 0.7,
      steps = 8,
      dt = 0.25;
    const r = await runCheck(
      model(
        `par a=${a}, b=${b}\nx' = -a*x^3 + b*sin(x) + 0.2*t\ninit x=1.2\nloss = x(T)^2\n@ total=${steps * dt}, steps=${steps}, meth=backeul\n`,
      ),
      { backend: 'cpu', reference: false },
    );
    // The same steps in TF.js, each solved by 25 Newton iterations that AD unrolls.
    const { tf } = await initBackend('cpu');
    const unrolled = tf.tidy(() => {
      const f = (y: Tensor, A: Tensor, B: Tensor, t: number) =>
        tf.add(tf.add(tf.neg(tf.mul(A, tf.pow(y, 3))), tf.mul(B, tf.sin(y))), tf.scalar(0.2 * t));
      const df = (y: Tensor, A: Tensor, B: Tensor) =>
        tf.add(tf.neg(tf.mul(tf.mul(A, tf.scalar(3)), tf.square(y))), tf.mul(B, tf.cos(y)));
      const loss = (A: Tensor, B: Tensor) => {
        let x = tf.scalar(1.2);
        for (let n = 0; n < steps; n++) {
          const t1 = (n + 1) * dt;
          let y = x;
          for (let it = 0; it < 25; it++) {
            const res = tf.sub(tf.sub(y, x), tf.mul(tf.scalar(dt), f(y, A, B, t1)));
            y = tf.sub(y, tf.div(res, tf.sub(tf.scalar(1), tf.mul(tf.scalar(dt), df(y, A, B)))));
          }
          x = y;
        }
        return tf.square(x);
      };
      const [ga, gb] = tf.grads(loss)([tf.scalar(a), tf.scalar(b)]);
      return [loss(tf.scalar(a), tf.scalar(b)).dataSync()[0], ga.dataSync()[0], gb.dataSync()[0]];
    });
    const [L, ga, gb] = unrolled;
    assert.ok(rel(r.loss, L) < 1e-5, `loss ${r.loss} vs ${L}`);
    const byName = new Map(r.parameters.map((p) => [p.name, p.raw[0][0]]));
    assert.ok(rel(byName.get('a')!, ga) < 1e-4, `a: ${byName.get('a')} vs ${ga}`);
    assert.ok(rel(byName.get('b')!, gb) < 1e-4, `b: ${byName.get('b')} vs ${gb}`);
    for (const p of r.parameters) assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, p.name);
  });

  test('a per-step network under backeul: strongly stable, no period-2 artefact (leapfrog has one)', async () => {
    const net = (meth: string) =>
      model(`state x[2]
init x = [1, 0]
param W1[4,2] per-step ~ normal(0, 0.5)
param W2[2,4] per-step ~ normal(0, 0.5)
x' = W2 @ tanh(W1 @ x)
loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)
@ total=1, steps=32, meth=${meth}, seed=1
`);
    const be = await runCheck(net('backeul'), { backend: 'cpu' });
    assert.deepEqual(
      be.findings.filter((f) => f.code === 'oscillating-gradient'),
      [],
    );
    for (const p of be.parameters) {
      assert.ok(p.metrics.alpha < 0.1, `${p.name}: α ${p.metrics.alpha}`);
      assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, p.name);
    }
    const lf = await runCheck(net('leapfrog'), { backend: 'cpu' });
    assert.ok(lf.findings.some((f) => f.code === 'oscillating-gradient'));
  });
});

describe('backward Euler: language and editor', () => {
  test('meth=backeul and meth=b check; start=backeul is refused (the start steps are explicit)', () => {
    assert.equal(analyse("x' = -x\n@ meth=backeul").model?.options.meth, 'backeul');
    assert.equal(analyse("x' = -x\n@ meth=B").model?.options.meth, 'backeul');
    const a = analyse("x' = -x\n@ meth=ab2, start=backeul");
    assert.equal(a.diagnostics.find((d) => d.code === 'invalid-option')?.severity, 'error');
  });

  test('describeScheme, completion and hover say implicit, A-stable, order 1', () => {
    const d = describeScheme('backeul')!;
    assert.deepEqual([d.order, d.stability], [1, 'strong']);
    assert.match(d.summary, /^implicit Runge–Kutta, 1 stage, order 1, A-stable/);
    assert.match(d.documentation, /implicit-function theorem/);
    const text = "x' = -x\n@ meth=";
    const item = completion(new ServiceDocument(text), { line: 1, character: 7 }).items.find(
      (i) => i.label === 'backeul',
    );
    assert.equal(item?.detail, 'Runge–Kutta · order 1 · strongly stable');
    const h = hover(new ServiceDocument("x' = -x\n@ meth=backeul"), { line: 1, character: 9 });
    assert.match(h!.markdown, /L-stable/);
  });
});

test('a step whose implicit equation has no solution near x_n is reported as Newton not converging, on its equation', async () => {
  // y' = y^2 from y = 1 with h = 0.5: y − 0.5 y² = 1 has no real root; x' = -x has one (x = 1/1.5).
  const m = model(
    "par a=1\nx' = -x\ny' = a*y^2\ninit x=1, y=1\nloss = x(T) + y(T)\n@ total=1, steps=2, meth=backeul\n",
  );
  const r = await runCheck(m, { backend: 'cpu' });
  const f = r.findings.find((x) => x.code === 'blow-up');
  assert.ok(f, JSON.stringify(r.findings));
  assert.match(
    f.message,
    /^Newton's method does not converge at step 1 \(t = 0\.5\) with backeul, dt=0\.5: .* residual .* never falls below [0-9.]+ relative to the states \(the tolerance is 1e-5; largest in y's equation\)/,
  );
  assert.doesNotMatch(f.message, /blows up/);
  // On y's equation, not the first state's.
  assert.deepEqual(f.range, m.equations.find((e) => e.state === 'y')?.range);
});

test('a step whose only root lies across a fold of its equation is solved (pseudo-transient continuation), as a float64 backward Euler solves it', async () => {
  // x' = x² + c − x³/K from x = 0.5 with h = 0.5: y − h f(y) = x has no root near x (x² + c alone has none,
  // 4h(x + hc) > 1) and one at y ≈ 48, where the cubic turns the growth back. On the way the residual has a hump
  // below zero and then a dip (Newton's method circles the hump, and no line search on |r| passes it).
  const c = 0.5,
    K = 50,
    h = 0.5,
    steps = 2;
  const m = model(
    `par c=${c}, K=${K}\nx' = x^2 + c - x^3/K\ninit x=0.5\nloss = x(T)\n@ total=${steps * h}, dt=${h}, meth=backeul\n`,
  );
  // Float64: each step's real roots by a scan and bisection (one at each step, so any solver must find it); x_N and
  // dx_N/dc, dx_N/dK by the implicit-function theorem, dx_{n+1} = (dx_n + h ∂f/∂θ) / (1 − h ∂f/∂x) at x_{n+1}.
  const f = (y: number) => y * y + c - (y * y * y) / K;
  let x = 0.5,
    dc = 0,
    dK = 0;
  for (let n = 0; n < steps; n++) {
    const r = (y: number) => y - x - h * f(y);
    const roots: number[] = [];
    for (let a = -4 * K; a < 4 * K; a += 0.01) {
      if (Math.sign(r(a)) === Math.sign(r(a + 0.01))) continue;
      let [lo, hi] = [a, a + 0.01];
      for (let k = 0; k < 60; k++) {
        const mid = (lo + hi) / 2;
        if (Math.sign(r(mid)) === Math.sign(r(lo))) lo = mid;
        else hi = mid;
      }
      roots.push((lo + hi) / 2);
    }
    assert.equal(roots.length, 1, `step ${n + 1}: roots ${roots}`);
    const y = roots[0],
      q = 1 / (1 - h * (2 * y - (3 * y * y) / K));
    dc = (dc + h) * q;
    dK = (dK + (h * y * y * y) / (K * K)) * q;
    x = y;
  }
  assert.ok(x > 40, `x_1 ${x}: across the fold`);
  // The whole-solve kernel and the per-step tensor path (the same Newton solve, under the model's tensors).
  for (const wholeSolve of [true, false]) {
    const r = await runCheck(m, { backend: 'cpu', reference: false, wholeSolve });
    assert.equal(r.rhsPath === 'scalar-solve', wholeSolve, r.rhsPath);
    assert.ok(!r.findings.some((f) => f.code === 'blow-up'), JSON.stringify(r.findings));
    assert.ok(rel(r.loss, x) < 1e-6, `${r.loss} vs ${x}`);
    const byName = new Map(r.parameters.map((p) => [p.name, p]));
    assert.ok(rel(byName.get('c')!.raw[0][0], dc) < 1e-4, `c: ${byName.get('c')!.raw[0][0]} vs ${dc}`);
    assert.ok(rel(byName.get('K')!.raw[0][0], dK) < 1e-4, `K: ${byName.get('K')!.raw[0][0]} vs ${dK}`);
    for (const p of r.parameters) assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, p.name);
  }
});

test("a stiff model whose reference (explicit RK4) blows up: a stable step of its own, else backward Euler's refined limit, else no reference, said as such", async () => {
  // x' = −k (x − c) with k·dt = 10: backward Euler is stable at any step; RK4 on dt/2 amplifies x − c by
  // |R(−5)| ≈ 13.7 a step, past float32 in 40 steps. x(T) → c, so the loss is ½ and its gradient in c about 1.
  const m = analyse("par k=100, c=1\nx'=-k*(x-c)\ninit x=0\n@ meth=backeul, dt=0.1, total=2\ndone\n").model!;
  // Within its budget the reference takes a stable step of its own (k·H < 2.8): about 1 in c, against the float64 flow.
  const solved = await runCheck(m, { backend: 'cpu' });
  assert.equal(solved.referenceUnavailable, undefined);
  assert.ok(
    solved.stiffReference && solved.stiffReference.steps >= (2 * 100) / 2.8,
    JSON.stringify(solved.stiffReference),
  );
  // No time for the stable step: the limit of backward Euler itself on refined grids (2N, 4N), stable at any step.
  const refined = await runCheck(m, { backend: 'cpu', stiffReferenceBudgetMs: 0 });
  assert.equal(refined.referenceUnavailable, undefined);
  assert.deepEqual(refined.refinedReference && [refined.refinedReference.scheme, refined.refinedReference.steps], [
    'backeul',
    [40, 80],
  ]);
  const cRefined = refined.parameters.find((p) => p.name === 'c')!;
  // x(T) = c(1 − e^{−kT}) on the flow and c(1 − 11^{−20}) on the network: both gradients are 1 to float32.
  assert.ok(cRefined.metrics.relError < 1e-4, `${cRefined.metrics.relError}`);
  assert.ok(refined.referenceError < 1e-3, `${refined.referenceError}`);
  // Neither fits its budget: n/a, with both reasons.
  const r = await runCheck(m, { backend: 'cpu', stiffReferenceBudgetMs: 0, refinedReferenceBudgetMs: 0 });
  assert.equal(r.referenceUnavailable?.cause, 'unstable');
  assert.ok(!r.findings.some((f) => f.severity === 'error'), JSON.stringify(r.findings));
  const note = r.findings.filter((f) => f.code === 'reference-unavailable');
  assert.equal(note.length, 1);
  assert.equal(note[0].severity, 'information');
  assert.match(note[0].message, /explicit RK4 on a finer step\) blows up, while the model's own solve stays finite/);
  assert.match(
    note[0].message,
    /The limit of the model's implicit scheme on refined grids was not taken either: the refined solves/,
  );
  const c = r.parameters.find((p) => p.name === 'c')!;
  assert.ok(Number.isNaN(c.metrics.relError), `${c.metrics.relError}`);
  assert.ok(c.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `${c.metrics.gradcheckRelError}`);
  assert.match(c.verdict?.explanation ?? '', /^no continuous reference: its accurate solve/);
});
