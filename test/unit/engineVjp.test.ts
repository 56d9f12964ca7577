// The compiled right-hand side's hand-written reverse mode (compile.ts rhsVjp,
// used by the continuous reference) against TF.js AD of the same expressions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';

const MODELS: [string, string, boolean][] = [
  [
    'per-step MLP',
    "state x[2]\ninit x = [2, 0]\nparam W1[16,2] per-step ~ normal(0, 0.3)\nparam b1[16] per-step = 0.1\nparam W2[2,16] per-step ~ normal(0, 0.3)\nx' = W2 @ tanh(W1 @ x + b1)\nloss = 0.5 * sum((x(T) - [0.5, -1.0])^2)\n@ total=1, steps=8, meth=leapfrog\ndone",
    true,
  ],
  [
    'scalar states, every supported op',
    "state x\nstate y\ninit x = 1\nparam a = 0.5\nx' = a*y - sin(x)/2 + t - cos(a*x)\ny' = -x*x - exp(y*a) / (1 + sigmoid(x)) + (x - y)^2\nloss = x(T)^2 + y(T)\n@ total=1, steps=8, meth=rk4\ndone",
    true,
  ],
  [
    'unsupported (sum in the right-hand side): falls back to AD',
    "state x[2]\ninit x = [1, 2]\nparam a = 0.5\nx' = a * x - sum(x)\nloss = sum(x(T))\n@ total=1, steps=8, meth=rk4\ndone",
    false,
  ],
];

for (const [label, src, supported] of MODELS) {
  test(`rhsVjp matches AD: ${label}`, async () => {
    const { tf } = await initBackend('cpu');
    const a = analyse(src);
    assert.ok(a.model, a.diagnostics.map((d) => d.message).join('; '));
    const m = a.model;
    const { compiled: cm } = compileModel(tf, m, { fuseScalars: false }); // the per-operation reverse mode (fused models: scalarRhs.test.ts)
    try {
      assert.equal(!!cm.rhsVjp, supported);
      if (!cm.rhsVjp) return;
      tf.tidy(() => {
        const s = cm.x0.map((x, i) => tf.randomNormal(x.shape, 0, 1, 'float32', 3 + i));
        const p = m.params.map((q, i) =>
          tf.randomNormal(q.shape.length === 1 ? [q.shape[0], 1] : q.shape, 0, 1, 'float32', 11 + i),
        );
        const cot = cm.x0.map((x, i) => tf.randomNormal(x.shape, 0, 1, 'float32', 23 + i));
        for (const withParams of [false, true]) {
          const r = cm.rhsVjp!(s, p, 0.3, cot, withParams);
          const wrt = withParams ? [...s, ...p] : s;
          const { grads } = tf
            .engine()
            .gradients(() => tf.addN(cm.rhs(s, p, 0.3).map((f, k) => tf.sum(tf.mul(f, cot[k])))), wrt, undefined, true);
          const mine = withParams ? [...r.vx, ...r.vp] : r.vx;
          assert.equal(mine.length, wrt.length);
          mine.forEach((v, i) => {
            const want = grads[i] ?? tf.zerosLike(wrt[i]);
            assert.deepEqual(v.shape, wrt[i].shape);
            const err = tf.max(tf.abs(tf.sub(v, want))).dataSync()[0];
            const scale = Math.max(1, tf.max(tf.abs(want)).dataSync()[0]);
            assert.ok(err <= 1e-5 * scale, `source ${i}: ${err}`);
          });
        }
      });
    } finally {
      cm.dispose();
    }
  });
}

test("rhsVjp results are new tensors even when f passes the cotangent through (x' = x + c)", async () => {
  const { tf } = await initBackend('cpu');
  const a = analyse(
    "state h[3]\ninit h = [1, 0, -1]\nparam c[3] per-step = 0\nh' = h + c\nloss = 0.5*sum(h(T)^2)\n@ total=1, steps=4, meth=euler\ndone",
  );
  assert.ok(a.model);
  const { compiled: cm } = compileModel(tf, a.model, { fuseScalars: false });
  try {
    assert.ok(cm.rhsVjp);
    const s = [tf.ones([3, 1])],
      p = [tf.zeros([3, 1])],
      cot = [tf.fill([3, 1], 2)];
    const r = cm.rhsVjp(s, p, 0, cot, true);
    for (const g of [...r.vx, ...r.vp]) assert.ok(![...s, ...p, ...cot].includes(g));
    tf.dispose([...s, ...p, ...cot]);
    assert.deepEqual(Array.from(r.vx[0].dataSync()), [2, 2, 2]);
    assert.deepEqual(Array.from(r.vp[0].dataSync()), [2, 2, 2]);
    tf.dispose([...r.vx, ...r.vp]);
  } finally {
    cm.dispose();
  }
});
