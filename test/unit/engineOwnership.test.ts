// Right-hand sides that hand back a tensor they do not own — a state passed
// through (`x' = y`), a compiled constant (`i' = 0`) — must survive every
// phase of the check: the reference used to free the model's own x0 and
// constants, and the finite differences after it then crashed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';

const models: Record<string, string> = {
  'state passed through': "x' = y\ny' = -x + w\npar w = 1\nx(0) = 1\nloss = x(T)^2\n@ total=1, steps=16",
  'constant right-hand side': "v' = -v + i + a\ni' = 0\npar a = 0.5\nv(0) = 1\nloss = v(T)^2\n@ total=1, steps=16",
  'time-dependent forcing':
    "x' = y\ny' = -sin(x) - f*y + a*cos(w*t)\npar f=.1, w=1, a=1\nx(0) = 0.5\nloss = x(T)^2\n@ total=2, steps=32",
};

for (const [name, text] of Object.entries(models)) {
  test(`the whole check runs on a model with a ${name}`, async () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    const r = await runCheck(a.model, { backend: 'cpu' });
    assert.ok(Number.isFinite(r.loss));
    assert.deepEqual(
      r.findings.filter((f) => f.severity === 'error').map((f) => f.message),
      [],
    );
    for (const p of r.parameters) {
      assert.ok(p.metrics.gradcheckRelError < 0.05, `${p.name}: gradcheck ${p.metrics.gradcheckRelError}`);
      assert.ok(p.metrics.relError < 0.05, `${p.name}: error against the reference ${p.metrics.relError}`);
    }
    // A second check in the same process: nothing the first one freed is needed again.
    assert.equal((await runCheck(a.model, { backend: 'cpu' })).loss, r.loss);
  });
}
