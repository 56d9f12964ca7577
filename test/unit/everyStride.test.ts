// A solve's path at every stride-th step (engine/statePath.ts's everyStride, the refined reference's trajectory view)
// read from the whole-solve kernel's one trajectory tensor: the same values as reading each node's states (readNodes),
// with the columns cut at MAX_PATH_COMPONENTS (a trajectory made here); a packed solve's whole trajectory is its packed
// states stacked; a solve without one (TF.js's kernels per operation) is read per node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import type { Model } from '../../solver/model';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { copyTensors, paramsFor } from '../../solver/engine/discrete';
import { solveDiscrete } from '../../solver/engine/integrate';
import { lazySteps, wholeTrajectory } from '../../solver/engine/lazySteps';
import { initialParameters } from '../../solver/engine/parameters';
import { everyStride, MAX_PATH_COMPONENTS, readNodes } from '../../solver/engine/statePath';
import { schemeOf } from '../../solver/schemes/schemes';
import { sameBits } from '../support/programInputs';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const LATTICE = `par k=0.3
u[0..9]' = -k*u[j] + sin(y)
y' = -y + u0
init u[0..9]=0.5
init y=0.2
@ total=2, dt=0.1, meth=rk4
`;

test("every stride-th step's states from the whole trajectory are readNodes' values, per node without it", async () => {
  const { tf } = await initBackend('cpu');
  const m = model(LATTICE);
  for (const stride of [1, 3, 4]) {
    // The whole-solve kernel's trajectory; a packed solve's (its scalar states as one tensor a step: the rows are
    // those tensors stacked); one kernel per operation, read per node.
    for (const [how, options, whole] of [
      ['the fused solve keeps its trajectory', {}, true],
      ['the packed solve stacks its steps', { wholeSolve: false }, true],
      ['per operation', { wholeSolve: false, fuseScalars: false }, false],
    ] as const) {
      const { compiled } = compileModel(tf, m, options);
      try {
        tf.tidy(() => {
          const { steps: N, dt: h, t0 } = m.options;
          const traj = solveDiscrete(
            tf,
            compiled,
            schemeOf(m),
            N,
            h,
            t0,
            paramsFor(m, copyTensors(tf, m, initialParameters(tf, m))),
          );
          assert.equal(!!wholeTrajectory(traj), whole, how);
          const fast = everyStride(tf, traj, stride);
          const nodes = Array.from({ length: Math.floor(N / stride) + 1 }, (_, n) => traj[n * stride]);
          const slow = readNodes(tf, nodes);
          assert.equal(fast.columns, 11);
          assert.equal(fast.values.length, nodes.length * 11);
          assert.equal(slow.columns, fast.columns);
          sameBits(fast.values, slow.values, `stride ${stride}`);
          // The path moves: the comparison is of numbers that differ from node to node.
          assert.notEqual(fast.values[0], fast.values[fast.columns * (nodes.length - 1)]);
        });
      } finally {
        compiled.dispose();
      }
    }
  }
});

test('a whole trajectory wider than a path keeps: its first MAX_PATH_COMPONENTS columns, as readNodes', async () => {
  const { tf } = await initBackend('cpu');
  const N = 12;
  tf.tidy(() => {
    const whole = tf.randomNormal([N + 1, 300], 0, 1, 'float32', 3);
    const rows = (n: number) => [
      tf.reshape(tf.slice(whole, [n, 0], [1, 100]), [100]),
      tf.reshape(tf.slice(whole, [n, 100], [1, 200]), [200]),
    ];
    for (const stride of [1, 5]) {
      const fast = everyStride(tf, lazySteps(N, rows, whole), stride);
      const slow = readNodes(
        tf,
        Array.from({ length: Math.floor(N / stride) + 1 }, (_, n) => rows(n * stride)),
      );
      assert.equal(fast.columns, MAX_PATH_COMPONENTS);
      assert.equal(slow.columns, MAX_PATH_COMPONENTS);
      sameBits(fast.values, slow.values, `stride ${stride}`);
    }
  });
});
