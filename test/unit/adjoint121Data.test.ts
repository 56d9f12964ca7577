// adjoint121 on a data loss (x(obs)): the step-adjoint probe must pass the
// observations to the loss like the main solve, so that the filtered adjoint
// agrees with filter121 of the AD density to O(h²) away from the ends and
// from the observation jump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck } from '../../solver/check';
import type { Expr, Model } from '../../solver/model';
import { spiral, bin, call, num, R } from './engineFixtures';

const matrix = (rows: number[][]): Expr => ({
  kind: 'vector',
  range: R,
  elements: rows.map((r) => ({ kind: 'vector', range: R, elements: r.map(num) })),
});

function dataModel(steps: number, gradfix: 'filter121' | 'adjoint121'): Model {
  const m = spiral({ steps, meth: 'leapfrog', width: 8 });
  const times = [0.5, 1];
  const targets = times.map((t) => [Math.cos(3 * t), Math.sin(2 * t) - 0.5]);
  m.data = [
    { name: 'obs', path: 'obs.csv', times, columns: ['a', 'b'], values: targets, range: R, nameRange: R, pathRange: R },
  ];
  m.loss = {
    expr: bin(
      '*',
      num(0.5),
      call(
        'sum',
        bin('^', bin('-', { kind: 'stateAtData', state: 'x', data: 'obs', range: R }, matrix(targets)), num(2)),
      ),
    ),
    range: R,
  };
  m.options = { ...m.options, gradfix };
  return m;
}

test('adjoint121 on a data-loss leapfrog model agrees with filter121 to O(h²) on the interior', async () => {
  const N = 64,
    h = 1 / N;
  const [a, f] = await Promise.all([
    runCheck(dataModel(N, 'adjoint121'), { backend: 'cpu' }),
    runCheck(dataModel(N, 'filter121'), { backend: 'cpu' }),
  ]);
  assert.equal(a.correction, 'adjoint121');
  for (let i = 0; i < a.parameters.length; i++) {
    const pa = a.parameters[i],
      pf = f.parameters[i];
    const keep = (n: number) => n >= 4 && n <= N - 5 && Math.abs(pa.layerTimes[n] - 0.5) > 4 * h;
    let num2 = 0,
      den = 0;
    pa.corrected.forEach((row, n) => {
      if (!keep(n)) return;
      row.forEach((v, k) => {
        num2 += (v - pf.corrected[n][k]) ** 2;
        den += pf.corrected[n][k] ** 2;
      });
    });
    const rel = Math.sqrt(num2 / den);
    assert.ok(den > 0 && rel < h * h, `${pa.name}: adjoint121 vs filter121 ${rel} (h² = ${h * h})`);
  }
});
