// A computed table's samples (`table f % npts xlo xhi formula`): where the formula's check only substitutes t, it is
// checked once and evaluated per sample (language/checker/tables.ts). The samples must be the ones a check per
// sample gives, which the same formula written through a user function still takes (a function's check is not a
// substitution): bit for bit, noise included (its draws, in the same order from the same stream), and the diagnostics
// the same.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyse } from '../../solver/language/index';

const BASE = ['par sig=3, amp=2', "x'=-x+w(t)+v(t)", 'init x=1', '@ total=1, seed=7', 'table h2 % 11 -5 5 t^2'];

/** The samples of tables w and v, and the diagnostics (code and message). */
function tables(lines: string[]) {
  const a = analyse([...BASE, ...lines].join('\n'));
  const byName = new Map((a.model?.tables ?? []).map((t) => [t.name, t]));
  return {
    w: byName.get('w'),
    v: byName.get('v'),
    diagnostics: a.diagnostics.map((d) => `${d.code}: ${d.message}`).sort(),
  };
}

// Each formula once as written (a substitution) and once through a function of t (checked per sample).
const FORMULAS: [string, string][] = [
  ['exp(-abs(t)/sig)', 'exp(-abs(u)/sig)'],
  ['amp*t/100 + if(t>3)then(t^2)else(-t)', 'amp*u/100 + if(u>3)then(u^2)else(-u)'],
  ['mod(t, 3) + heav(t - 2) + cosh(t/10) + max(t, 1)', 'mod(u, 3) + heav(u - 2) + cosh(u/10) + max(u, 1)'],
  ['ran(1)/256', 'ran(1)/256 + 0*u'],
  ['normal(t, 0.5) + ran(2)*t', 'normal(u, 0.5) + ran(2)*u'],
  // Another table's check folds its sample at a constant argument: checked per sample on both sides.
  ['h2(t)*2', 'h2(u)*2'],
];

describe('computed table samples', () => {
  for (const [direct, viaFunction] of FORMULAS)
    it(`${direct}: the same samples as a check per sample`, () => {
      // w: the formula; v: a second table after it, so that the stream's position after w is compared too.
      const fast = tables([`table w % 301 -5 10 ${direct}`, 'table v % 7 0 6 ran(1) + t']);
      const slow = tables([`g(u)=${viaFunction}`, 'table w % 301 -5 10 g(t)', 'table v % 7 0 6 ran(1) + t']);
      assert.ok(fast.w && slow.w, 'both tables are made');
      assert.equal(fast.w.values.length, 301);
      assert.deepEqual(Array.from(fast.w.values), Array.from(slow.w.values));
      assert.deepEqual(Array.from(fast.v?.values ?? []), Array.from(slow.v?.values ?? []));
      assert.deepEqual(
        fast.diagnostics,
        slow.diagnostics.filter((d) => !d.includes("'g'")),
      );
      // Not one value repeated throughout: t reaches every sample.
      assert.ok(new Set(fast.w.values).size > 100, 'the samples vary with t or with the draws');
    });

  it('a formula that is not finite at one sample names that t, as a check per sample does', () => {
    const fast = tables(['table w % 11 -5 5 1/t', 'table v % 2 0 1 t']);
    const slow = tables(['g(u)=1/u', 'table w % 11 -5 5 g(t)', 'table v % 2 0 1 t']);
    const message = fast.diagnostics.find((d) => d.startsWith('invalid-table'));
    assert.equal(message, "invalid-table: The formula of table 'w' is not a finite number at t = 0");
    assert.ok(slow.diagnostics.includes(message));
  });
});
