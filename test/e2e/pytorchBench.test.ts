// The bench's PyTorch side (bench/pytorch/) computes the same check as ODE Lens: on the spiral, with the
// seeded copies and with independent random ones, the PyTorch check's loss and each parameter's relError
// (AD densities against its RK4 continuous adjoint on 4N steps) agree with ODE Lens's report, and the row
// has its ratio. Skips with the reason when no Python imports torch (scripts/setup-e2e.sh installs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchPyTorch } from '../../bench/pytorch/comparison';
import { prerequisiteOrSkip } from '../support/browser';
import { repoRoot } from '../support/e2e';
import { torchPython } from '../support/python';

const ROOT = repoRoot();

test('the bench’s PyTorch check agrees with ODE Lens’s on the spiral, seeded and independent copies', async (t) => {
  const { python, tried } = torchPython();
  if (
    !prerequisiteOrSkip(
      t,
      !!python,
      `no Python that imports torch (tried ${tried.join(', ')}; apt-get install -y python3-torch)`,
    )
  )
    return;
  const spiral = readFileSync(join(ROOT, 'examples/spiral.ode'), 'utf8');
  const result = await benchPyTorch(ROOT, 'cpu', spiral, { quick: true, pairs: 1 });
  assert.ok('rows' in result, `skipped: ${'skipped' in result ? result.skipped : ''}`);
  assert.deepEqual(
    result.rows.map((r) => r.copies),
    ['seeded', 'independent'],
  );
  const [seeded, independent] = result.rows;
  assert.notEqual(seeded.loss.odeLens, independent.loss.odeLens, 'independent copies are other values');
  for (const row of result.rows) {
    assert.ok(
      Math.abs(row.loss.pytorch - row.loss.odeLens) <= 1e-5 * Math.abs(row.loss.odeLens),
      JSON.stringify(row.loss),
    );
    assert.deepEqual(Object.keys(row.relError).sort(), ['W1', 'W2', 'b1']);
    for (const [name, e] of Object.entries(row.relError)) {
      assert.ok(e.pytorch !== null && Number.isFinite(e.odeLens), `${row.copies} ${name}: ${JSON.stringify(e)}`);
      // Both references approximate the same continuous gradient far below the AD error they judge.
      assert.ok(Math.abs(e.pytorch - e.odeLens) <= 1e-3 * e.odeLens, `${row.copies} ${name}: ${JSON.stringify(e)}`);
    }
    assert.ok(row.ratio > 0 && Number.isFinite(row.ratio) && row.pytorch.checkMs > 0, JSON.stringify(row));
  }
});
