// The whole-solve kernel's copy groups (scalarKernel/solve.ts's collectCopies): with every parameter shared, the
// answer taken from paramsFor's record without visiting each copy is the one the copy-by-copy loop finds; with a
// per-step parameter the copies keep their own groups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../solver/engine/backend';
import { paramsFor } from '../../solver/engine/discrete';
import { collectCopies } from '../../solver/engine/scalarKernel/solve';
import type { Model } from '../../solver/model';

const groupsOf = (c: ReturnType<typeof collectCopies>) => ({
  inputs: c.inputs.length,
  groups: c.groups,
  groupOf: Array.from(c.groupOf),
});

for (const perStep of [
  [false, false],
  [false, true],
]) {
  test(`copy groups from paramsFor's record equal the copy-by-copy loop's (per step: ${perStep})`, async () => {
    const { tf } = await initBackend('cpu');
    const count = 7;
    const copies = perStep.map((per, i) =>
      Array.from({ length: per ? count : 1 }, (_x, n) => tf.tensor([i + n / 10], [1])),
    );
    const model = { params: perStep.map((per) => ({ perStep: per })) } as unknown as Model;
    const params = paramsFor(model, copies);
    const recorded = groupsOf(collectCopies(params, count));
    // The same copies behind a function paramsFor did not make: the loop visits every copy.
    const visited = groupsOf(collectCopies((copy) => params(copy), count));
    assert.deepEqual(recorded, visited);
    assert.equal(recorded.groups.length, perStep.some((p) => p) ? count : 1);
    assert.equal(recorded.groupOf.length, count);
  });
}
