// The continuous reference's forward RK4 on a grid too coarse for a stiff model: it stops at its first node that is
// not finite, without evaluating f on the blown-up states or solving the adjoint from them (scalarKernel/referenceRk4.ts
// for a fused program, reference.ts's forwardRk4 on TF.js), and the reference on the stable step is still the flow's
// gradient (checked against float64 RK4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { initBackend } from '../../solver/engine/backend';
import { type CompiledModel, compileModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import { referenceRk4 } from '../../solver/engine/scalarKernel/referenceRk4';
import type { Tensor } from '../../solver/engine/tf';
import { type Lattice, latticeModel, lossGradient, sensitivities } from '../support/diffusionLattice';
import { referenceInput } from '../../bench/referenceCopies';

/** ρ(∂f/∂x) ≈ 4d + a = 121: RK4 on the usual grid blows up. */
const LATTICE: Lattice = { m: 12, d: 30, a: 1, s: 0.2, u0: 3, total: 3 };
const M = LATTICE.m;

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** u at the K + 1 nodes of float64 RK4 with step H from the model's initial state. */
function float64Nodes(K: number, H: number): number[][] {
  const nodes: number[][] = [];
  sensitivities(LATTICE, K, H, (y) => nodes.push(y.slice(0, M)));
  return nodes;
}

/** d/dθ of the default loss ½‖u(T)‖² for θ = (d, a, s), by float64 RK4 with K steps. */
const float64Gradient = (K: number, H: number) => lossGradient(LATTICE, sensitivities(LATTICE, K, H));

async function compiled() {
  const model = latticeModel(LATTICE);
  const { tf } = await initBackend('cpu');
  const values = initialParameters(tf, model);
  const { compiled: cm } = compileModel(tf, model);
  return { tf, cm, inp: referenceInput(model, values), values };
}

test("the fused program's reference RK4 stops at its first node that is not finite, its nodes before it float64 RK4's", async () => {
  const { cm, values } = await compiled();
  try {
    const prog = cm.wholeSolve?.program;
    assert.ok(prog, 'the lattice runs as a fused program');
    // H·ρ ≈ 0.1·121 = 12: far outside RK4's stability interval (2.79).
    const K = 30,
      H = 0.1;
    const theta = Float32Array.from(values.flatMap((v) => Array.from(v)));
    const x0 = new Float32Array(M);
    x0[0] = 3;
    const nodes = referenceRk4(prog, x0, K, H, 0, () => theta);
    const exact = float64Nodes(K, H);
    const b = nodes.blownAt;
    assert.ok(b !== undefined && b > 1 && b < K, `blownAt ${b}`);
    // Before it: finite, and float64 RK4's nodes to float32 rounding (the growth amplifies that rounding by
    // RK4's factor per step, so relative to the node's size).
    for (let k = 0; k < b; k++) {
      const row = nodes.X.subarray(k * M, (k + 1) * M);
      assert.ok(row.every(Number.isFinite), `node ${k} finite`);
      const scale = Math.max(...exact[k].map(Math.abs));
      row.forEach((v, j) =>
        assert.ok(Math.abs(v - exact[k][j]) <= 1e-4 * scale, `node ${k}, site ${j}: ${v} vs ${exact[k][j]}`),
      );
    }
    // At it: float64 RK4 itself has left float32's range (3.4e38) there or one step later (a stage overflows first).
    assert.ok(!nodes.X.subarray(b * M, (b + 1) * M).every(Number.isFinite), `node ${b} not finite`);
    const largest = (k: number) => Math.max(...exact[k].map(Math.abs));
    assert.ok(
      largest(b - 1) < FLOAT32_MAX && largest(Math.min(K, b + 1)) > FLOAT32_MAX,
      `${largest(b - 1)}, ${largest(b + 1)}`,
    );
    // After it nothing was solved: the nodes, f and the stages are NaN.
    assert.ok(nodes.X.subarray((b + 1) * M).every(Number.isNaN));
    assert.ok(nodes.F.subarray(b * M).every(Number.isNaN));
    assert.ok(nodes.K4.subarray(b * M).every(Number.isNaN));
  } finally {
    cm.dispose();
  }
});

test('on TF.js the blown-up usual grid evaluates f on few non-finite states, and the stable reference is the float64 gradient', async () => {
  const { tf, cm, inp } = await compiled();
  try {
    // f counted: a right-hand side that is not the fused program's owner runs the reference on TF.js kernels.
    let blownCalls = 0;
    const finite = (xs: Tensor[]) => xs.every((x) => (x.dataSync() as Float32Array).every(Number.isFinite));
    const counted: CompiledModel = {
      ...cm,
      rhs: (x, th, t) => {
        if (!finite(x)) blownCalls++;
        return cm.rhs(x, th, t);
      },
    };
    const r = continuousReference(tf, counted, inp);
    const stiff = r.stiff;
    assert.ok(stiff?.solved, JSON.stringify(stiff));
    assert.equal(r.nonFinite, false);
    // The usual grid (2N = 60 steps, H·ρ ≈ 6) leaves float32's range after about 27 steps: RK4 on through it would
    // evaluate f 4 times a step on the states after that (over 120 times); the solve, reading its nodes at 1, 2, 4, 8,
    // 16, 32, …, stops at the read after (a step either way for where float32 overflows first: a stage or a node).
    const overflow = float64Nodes(stiff.usualSteps, (inp.N * inp.h) / stiff.usualSteps).findIndex((x) =>
      x.some((v) => !(Math.abs(v) < FLOAT32_MAX)),
    );
    assert.ok(overflow > 0, 'float64 RK4 on the usual grid leaves float32 range');
    const nextRead = 2 ** Math.ceil(Math.log2(overflow));
    assert.ok(blownCalls <= 4 * (nextRead - overflow + 3), `${blownCalls} evaluations of f on non-finite states`);
    // The flow's gradient: float64 RK4 on the stable grid's step, halved three times (its own error far below).
    const K = 8 * stiff.steps;
    const exact = float64Gradient(K, (inp.N * inp.h) / K);
    let num = 0,
      den = 0;
    exact.forEach((e, i) => {
      num += (r.g[i][0] - e) ** 2;
      den += e * e;
    });
    const err = Math.sqrt(num / den);
    // (The gradient in d nearly cancels over [0, T], 1e-9 of the others: the reported error carries that cancellation.)
    assert.ok(r.referenceError < 0.05, `reported ${r.referenceError}`);
    assert.ok(
      err <= r.referenceError,
      `error ${err} against float64, reported ${r.referenceError}: ${r.g} vs ${exact}`,
    );
  } finally {
    cm.dispose();
  }
});

test("an MLP field's reference in JS stops where the tensor solve does, with the same blow-up", async () => {
  // x' = W1·(W0·x) with W1·W0 = −400·I: H·ρ = 12.5 on the usual grid (32 steps of 1/32).
  const text = [
    'state x[2]',
    'init x = 0.5',
    'param W0[3,2] ~ normal(0, 1)',
    'param W1[2,3] ~ normal(0, 1)',
    "x' = W1 @ (W0 @ x)",
    'loss = 0.5 * sum(x(T)^2)',
    '@ total=1, steps=32, meth=rk4',
  ].join('\n');
  const model = analyse(text).model;
  assert.ok(model, text);
  const { tf } = await initBackend('cpu');
  const { compiled: cm } = compileModel(tf, model);
  try {
    assert.ok(cm.mlp, 'the field is recognised');
    // W0 = [I; 0], W1 = [−400·I, 0]: row-major [3,2] and [2,3].
    const values = [Float32Array.of(1, 0, 0, 1, 0, 0), Float32Array.of(-400, 0, 0, 0, -400, 0)];
    const N = model.options.steps;
    const inp: ReferenceInput = { ...referenceInput(model, values), stiffBudgetMs: 0 };
    const js = continuousReference(tf, cm, inp),
      ops = continuousReference(tf, { ...cm, mlp: undefined }, inp);
    for (const r of [js, ops]) {
      assert.equal(r.nonFinite, true);
      assert.ok(Number.isNaN(r.lossAccurate));
      assert.equal(r.stiff?.refused, 'time');
    }
    // RK4's factor per step on x' = −400x at H = 1/32: |1 + z + z²/2 + z³/6 + z⁴/24| at z = −12.5.
    const z = -12.5,
      growth = Math.abs(1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24);
    const blownAt = Math.ceil(Math.log(FLOAT32_MAX / 0.5) / Math.log(growth));
    const x = js.paths!.x;
    const finiteRows = Array.from({ length: N + 1 }, (_, k) =>
      x.values.subarray(k * x.columns, (k + 1) * x.columns).every(Number.isFinite),
    ).filter(Boolean).length;
    assert.ok(
      Math.abs(finiteRows - blownAt) <= 1,
      `${finiteRows} finite nodes, float64 overflows float32 at ${blownAt}`,
    );
    assert.ok(x.values.subarray((finiteRows + 1) * x.columns).every(Number.isNaN), 'nothing solved after the blow-up');
    assert.deepEqual(js.paths?.x, ops.paths?.x, 'x at the nodes');
  } finally {
    cm.dispose();
  }
});
