// Large scalar models (XPPAUT networks and arrays of hundreds of states) run on
// the fused program (engine/scalarRhs.ts) whatever their size: its instruction
// count grows linearly in the states (an array's selection products are gathers,
// shared subexpressions are computed once), and it gives the per-operation
// compile's f and vector–Jacobian products.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { compileModel, internalShape } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import type { Model } from '../../solver/model';
import type { Tensor } from '../../solver/engine/tf';
import { scalarChainText } from '../../bench/scalarChain';
import { nonSmoothOperations } from '../../solver/engine/kinks';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

/** n scalar states written out one line each (no arrays), all reading a fixed quantity shared by every equation. */
function network(n: number): string {
  const lines = ['h(u) = sin(u) + a*(cos(u) - b)', 'par a=0.3, b=1', 'm = h(x1 - x0)'];
  for (let i = 0; i < n; i++) {
    const next = `x${(i + 1) % n}`,
      prev = `x${(i + n - 1) % n}`;
    lines.push(`x${i}' = h(${next} - x${i}) + h(${prev} - x${i}) - m`, `init x${i} = ${((i * 0.37) % 1).toFixed(3)}`);
  }
  lines.push('@ total=0.2, dt=0.05, meth=rk4', 'done');
  return lines.join('\n');
}

const instructions = (m: Model) => {
  const p = compileScalarProgram(m);
  assert.ok(p, 'the model is fused');
  return p.code.length;
};

test('large scalar models are fused, with instructions linear in the states (networks and arrays)', () => {
  for (const text of [network, scalarChainText]) {
    const small = instructions(model(text(50))),
      large = instructions(model(text(400)));
    const ratio = large / small;
    assert.ok(ratio > 6 && ratio < 10, `400 vs 50 states: ${large} / ${small} instructions`);
  }
});

test('a fixed quantity read by every equation is computed once', () => {
  // m = h(x1 - x0) inlined into 100 equations: one evaluation of h for m, two per equation.
  const n = 100;
  const withShared = instructions(model(network(n)));
  assert.ok(withShared < n * 2 * 12, `${withShared} instructions for ${n} states`);
});

test('the fused program of large models gives the per-operation f and vector–Jacobian products', async () => {
  const { tf } = await initBackend('cpu');
  for (const text of [network(60), scalarChainText(120)]) {
    const m = model(text);
    const fused = compileModel(tf, m).compiled;
    const perOperation = compileModel(tf, m, { fuseScalars: false }).compiled;
    try {
      const p = initialParameters(tf, m).map((v, i) => tf.tensor(v, internalShape(m.params[i].shape)));
      const x = fused.x0.map((s, i) =>
        tf.add(s, tf.mul(0.1, tf.sin(tf.add(tf.reshape(tf.range(0, s.size), s.shape), i)))),
      );
      const close = (a: Float32Array | Int32Array | Uint8Array, b: typeof a, what: string) => {
        assert.equal(a.length, b.length);
        for (let k = 0; k < a.length; k++)
          assert.ok(Math.abs(a[k] - b[k]) <= 1e-5 * Math.max(1, Math.abs(b[k])), `${what}[${k}]: ${a[k]} vs ${b[k]}`);
      };
      const fa = fused.rhs(x, p, 0.3),
        fb = perOperation.rhs(x, p, 0.3);
      fa.forEach((y, i) => close(y.dataSync(), fb[i].dataSync(), 'f'));
      // Vector–Jacobian products by TF.js's AD through each rhs: the fused kernel's reverse mode against the per-operation tape.
      const cot = x.map((s) => tf.cos(s));
      const vjp = (cm: typeof fused) =>
        tf.grads((...xs: Tensor[]) => {
          const f = cm.rhs(xs.slice(0, x.length), xs.slice(x.length), 0.3);
          // + 0·Σ inputs: every input on the tape (an input f does not read gets a zero gradient).
          return tf.addN([...f.map((y, i) => tf.sum(tf.mul(y, cot[i]))), ...xs.map((v) => tf.mul(0, tf.sum(v)))]);
        })([...x, ...p.map((v) => tf.clone(v))]); // fresh parameter tensors: the fused rhs reuses the flattened parameters of tensors it has seen
      const va = vjp(fused),
        vb = vjp(perOperation);
      va.forEach((y, i) => close(y.dataSync(), vb[i].dataSync(), i < x.length ? 'vjp state' : 'vjp parameter'));
    } finally {
      fused.dispose();
      perOperation.dispose();
    }
  }
});

test("an array's selection products compare constants: no kink is reported for them", () => {
  const chainModel = model(scalarChainText(60));
  assert.ok(chainModel.states.length === 1, 'the 60-state array is one vector state');
  assert.deepEqual(nonSmoothOperations(chainModel), []);
  // A comparison that reads a state still counts.
  assert.deepEqual(nonSmoothOperations(model("init x=1\nx' = -x + (x > 0.5)\n@ total=1, dt=0.1\ndone\n")), ["'>'"]);
});

test("an indexed sum's abs, mod and table of its index read numbers: no kink; the same calls on a state are kinks", () => {
  // XPPAUT's sine-circle.ode reads its sum's index as tau*abs(i'), w(i') and mod(i'+[j], n).
  const table = 'table w % 5 -2 2 exp(-t*t)\n';
  const indexOnly = model(
    `${table}par tau=0.1\nx[0..4]' = sum(-2,2)of(w(i')*sin(delay(x[0], tau*abs(i')) + mod(i'+[j], 5) - x[j]))\ninit x[0..4]=0.1\n@ total=1, dt=0.1, delay=2\ndone\n`,
  );
  assert.deepEqual(nonSmoothOperations(indexOnly), []);
  const onState = model(
    `${table}init x=1\nx' = -abs(x) + w(x) + mod(x, 2) + if(1 > 0)then(x)else(-x)\n@ total=1, dt=0.1\ndone\n`,
  );
  assert.deepEqual(nonSmoothOperations(onState), ['abs', 'table w', 'mod']);
  const onParameter = model("par a=1\ninit x=1\nx' = -x + if(a > 0)then(x)else(0)\n@ total=1, dt=0.1\ndone\n");
  assert.deepEqual(nonSmoothOperations(onParameter), ['if/then/else', "'>'"]);
});
