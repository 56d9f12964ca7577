// The continuous reference of small states solves its adjoint in batched passes (engine/batchedAdjoint.ts).
// For seeded (equal), smooth and independent random per-step copies alike: it equals the solve with one
// linearisation per node, its reported error bounds the measured difference to the same continuous
// problem solved on an 8× finer grid, and ∫ g dt of a shared parameter matches central finite
// differences of the continuous problem's loss (the accurate solve's loss, θ(t) interpolated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { initialParameters } from '../../solver/engine/parameters';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { accurateLoss, continuousReference, type ReferenceInput } from '../../solver/engine/reference';
import { BATCHED_ADJOINT_MAX_STATES, batchedAdjointApplies } from '../../solver/engine/batchedAdjoint';
import { relError } from '../../solver/engine/detect';
import type { Model } from '../../solver/model';
import { copiesOf, referenceInput, type CopiesKind } from '../../bench/referenceCopies';

const N = 32;
const MODEL = `state x[2]
init x = [1, -0.5]
param W1[12,2] per-step ~ normal(0, 0.5)
param b[12] ~ normal(0, 0.2)
param W2[2,12] per-step ~ normal(0, 0.4)
x' = W2 @ tanh(W1 @ x + b)
loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)
@ total=1, steps=${N}, meth=leapfrog, seed=3
done`;

async function setup(kind: CopiesKind) {
  const a = analyse(MODEL);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  const model: Model = a.model;
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  const values = copiesOf(model, initialParameters(tf, model), kind);
  const inp = referenceInput(model, values);
  return { tf, compiled, inp };
}

/** The same θ(t) (same copies and layer times) on a grid `k` times finer. */
const finer = (inp: ReferenceInput, k: number): ReferenceInput => ({ ...inp, N: k * inp.N, h: inp.h / k });

for (const kind of ['seeded', 'smooth', 'independent'] as CopiesKind[]) {
  test(`batched adjoint, ${kind} copies: equals the per-node solve and its reported error bounds an 8× finer solve`, async () => {
    const { tf, compiled, inp } = await setup(kind);
    try {
      assert.ok(batchedAdjointApplies(compiled), `a state of 2 ≤ ${BATCHED_ADJOINT_MAX_STATES} with a batched model`);
      const r = continuousReference(tf, compiled, inp);
      const perNode = continuousReference(tf, compiled, { ...inp, perNodeAdjoint: true });
      assert.equal(r.gridTimes.length, perNode.gridTimes.length, 'the same grid');
      for (let i = 0; i < r.g.length; i++) {
        const e = relError(r.g[i], perNode.g[i]);
        assert.ok(e < 1e-5, `${kind}: parameter ${i} apart by ${e} from the per-node adjoint`);
      }
      // Up to the solves' own float32 rounding (2⁻²⁴·√K, K steps): RK4's error in t, estimated from each solve's
      // nodes (engine/timeQuadrature.ts), sees the per-node solve's float32 rounding where the batched one sums in float64.
      const rounding = 2 ** -24 * Math.sqrt(r.gridTimes.length - 1);
      assert.ok(
        Math.abs(r.referenceError - perNode.referenceError) <= 0.01 * perNode.referenceError + rounding,
        `the same estimate: ${r.referenceError} vs ${perNode.referenceError}`,
      );
      const fine = continuousReference(tf, compiled, finer(inp, 8));
      const actual = Math.max(...r.g.map((g, i) => relError(g, fine.g[i])));
      assert.ok(
        actual <= r.referenceError + fine.referenceError,
        `${kind}: measured ${actual}, reported ${r.referenceError} (+ ${fine.referenceError})`,
      );
    } finally {
      compiled.dispose();
    }
  });
}

test('batched adjoint, independent copies: ∫ g dt of a shared parameter matches finite differences of the continuous loss', async () => {
  const { tf, compiled, inp } = await setup('independent');
  try {
    const fine = finer(inp, 4); // the loss and g of the same continuous problem, solved 4× finer
    const r = continuousReference(tf, compiled, fine);
    const bi = inp.params.findIndex((p) => !p.perStep);
    const b = inp.params[bi];
    const delta = 1e-2;
    const fd = new Float32Array(b.size);
    for (let k = 0; k < b.size; k++) {
      const at = (s: number) => {
        const v = Float32Array.from(b.values);
        v[k] += s * delta;
        return accurateLoss(tf, compiled, {
          ...fine,
          params: fine.params.map((p, i) => (i === bi ? { ...p, values: v } : p)),
        });
      };
      fd[k] = (at(1) - at(-1)) / (2 * delta);
    }
    // Central differences: O(δ²) truncation, float32 loss rounding / δ.
    const e = relError(r.g[bi], fd);
    assert.ok(e < 2e-3, `∫ g dt apart by ${e} from finite differences (${Array.from(fd).slice(0, 3)} …)`);
  } finally {
    compiled.dispose();
  }
});
