// Finite differences of a parameter that nothing checked reads (engine/finiteDifferences.ts): one read only by a
// table's formula (sampled once at its value) or only by an aux line moves no value of any solve, so its + and −
// solves would be the unperturbed solve bit for bit. Its probes take the loss without solving; its results must be
// those the solves give, which the same model with the language's marks removed (so that every probe solves) shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { discreteGradients } from '../../solver/engine/discrete';
import { initialParameters } from '../../solver/engine/parameters';
import { finiteDifferenceWork, localMeter } from '../../solver/engine/finiteDifferences';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';

const TEXT = `table w % 11 -5 5 exp(-abs(t)/s)
par s=3, a=0.5, q=2
x' = -a*x + 0.1*w(1) + sin(t)
aux z = q*x
init x=1
@ total=2, dt=0.05, meth=rk4
done
`;

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

test("a parameter nothing checked reads is not solved for, and its finite differences are the solves' own", async () => {
  const model = parse(TEXT);
  const byName = (n: string) => model.params.find((p) => p.name === n)!;
  assert.equal(byName('s').sampledBy, 'w');
  assert.equal(byName('q').readOnlyBy, 'aux');
  assert.ok(!byName('a').sampledBy && !byName('a').readOnlyBy);
  // The same model, every parameter taken as read: each probe solves.
  const marked = ({ sampledBy: _s, readOnlyBy: _r, ...p }: Model['params'][number]) => p;
  const solvedModel: Model = { ...model, params: model.params.map(marked) };
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, model);
  try {
    const scheme = schemeOf(model);
    const values = initialParameters(tf, model);
    const ad = discreteGradients(tf, compiled, scheme, model, values);
    const run = (m: Model) => {
      const work = finiteDifferenceWork(tf, compiled, scheme, m, values, ad.G, ad.loss, 'loop');
      const meter = localMeter();
      const results = work.settle(
        work.units.map((_u, k) => k),
        Infinity,
        meter,
      );
      return { results, solves: meter.solves() };
    };
    const skipped = run(model),
      solved = run(solvedModel);
    assert.deepEqual(skipped.results, solved.results);
    // a's first step agrees with AD: its two solves; s and q: none (the solved model: two each).
    assert.equal(skipped.solves, 2);
    assert.equal(solved.solves, 6);
    const s = model.params.findIndex((p) => p.name === 's');
    assert.equal(skipped.results[s]?.relError, 0);
    assert.equal(skipped.results[s]?.converged, true);
  } finally {
    compiled.dispose();
  }
});
