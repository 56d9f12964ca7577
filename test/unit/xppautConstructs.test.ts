// Every construct of XPPAUT's ODE file format (its documentation's list of directives,
// functions and options), in a synthetic file written for this test: none is an
// "unrecognised line" or a syntax error; the constructs that have no meaning for a
// gradient check (`export`, `special … = gill`/`import`, `#include`)
// get one diagnostic of their own code on their own line, naming the construct and
// why, also when XPPAUT's abbreviation spells them; the other lines keep their
// diagnostics; hover, outline and completion keep working on the file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyse } from '../../solver/language/index';
import { completion, documentSymbols, hover, ServiceDocument } from '../../solver/service/index';

/** A classic model the constructs are added to (lines 0–3). */
const BASE = ['par a=1, b=2', "x'=-a*x+y", 'dy/dt=-b*y', 'init x=1, y=0.5'];

/** Each construct as a file would write it, and the code of its refusal when it has one of its own. */
const CONSTRUCTS: { name: string; lines: string[]; refusal?: { code: string; names: RegExp } }[] = [
  { name: 'comment', lines: ['# a comment'] },
  { name: 'quoted comment', lines: ['" a comment for the XPPAUT window'] },
  { name: 'action comment', lines: ['" {a=2} a comment with an action'] },
  { name: 'derived parameter', lines: ['!d2 = a*2'] },
  { name: 'options file', lines: ['options extra.opt'] },
  { name: 'difference equation', lines: ['z(t+1) = z*(4-z)', 'init z=0.1'] },
  { name: 'prime equation', lines: ["w'=-w"] },
  // Volterra integral equations are checked (test/unit/volterra.test.ts).
  { name: 'Volterra (name(t)=int)', lines: ['u(t) = int{exp(-t)#x}'] },
  { name: 'volterra keyword', lines: ['volterra u2 = int{exp(-t)#x}'] },
  { name: 'volterra abbreviated (volt)', lines: ['volt u3 = int[.5]{1#x}'] },
  { name: 'int{} in an equation', lines: ["v' = -v + a*int{exp(-(t-t'))*max(v-1,0)}"] },
  // Markov variables are checked on one seeded realisation (test/unit/markov.test.ts).
  { name: 'markov', lines: ['markov m 2', '{0} {a*x}', '{b} {0}', "mx' = m - mx"] },
  { name: 'markov abbreviated (ma)', lines: ['ma m2 2', '{0} {a}', '{b} {0}', "my' = m2 - my"] },
  { name: 'aux', lines: ['aux q = x + y'] },
  { name: 'aux abbreviated (a)', lines: ['a q2=x'] },
  { name: 'fixed quantity', lines: ['f1 = x + y'] },
  { name: 'number', lines: ['number f0=96485, r0=8.3'] },
  { name: 'function', lines: ['g(u,w) = 2*u^2*(1-w) - w/10'] },
  { name: 'table (computed)', lines: ['table h % 101 0 6.283 sin(t)+.6'] },
  { name: 'table (file)', lines: ['table h2 values.tab'] },
  { name: 'wiener', lines: ['wiener n1, n2'] },
  { name: 'global', lines: ['global 1 x-1 {x=0;y=y+a}'] },
  { name: 'init', lines: ['init w=1'] },
  { name: 'name(0)=', lines: ['v(0)=1'] },
  { name: 'bdry', lines: ["bdry x'-y-1"] },
  { name: 'bndry', lines: ['bndry y'] },
  // DAEs are checked (test/unit/dae.test.ts): an algebraic equation with its variable, in XPPAUT's spellings.
  { name: 'algebraic equation (0=) with solv', lines: ['0= s+exp(s)-x', 'solv s=-.56715'] },
  { name: 'solve', lines: ['0 = s2 + y', 'solve s2=-.5'] },
  { name: 'solve abbreviated (so)', lines: ['0 = s3 - x*y', 'so s3=0'] },
  { name: 'special', lines: ['special k=conv(even,101,21,h,x)'] },
  { name: 'special delayed', lines: ['special k2=delmmult(1,1,h,h,x)', 'special mx=findext(1,1,1,x)'] },
  {
    name: 'special gill',
    lines: ['special z=gill(0,r{1-4})'],
    refusal: { code: 'unsupported-gillespie', names: /Gillespie's stochastic simulation of reactions/ },
  },
  {
    name: 'special import',
    lines: ['special vp=import(ML.SO,ML,2,x,h)'],
    refusal: { code: 'unsupported-import', names: /`import` computes right-hand sides in a C library/ },
  },
  { name: 'only', lines: ['only x,y'] },
  { name: 'set', lines: ['set hopf {a=.3,x=1.2}'] },
  { name: '@ options', lines: ['@ maxstor=100000, xp=x, yp=y, xlo=-2, bound=1000, nmesh=40, xp2=y'] },
  { name: 'array line', lines: ["c[1..4]' = -c[j] + [j]"] },
  { name: 'array block', lines: ['%[1..2]', "e[j]' = -e[j]", '%'] },
  {
    name: 'export',
    lines: ['export {x,y} {a,b}'],
    refusal: { code: 'unsupported-export', names: /`export` exchanges variables with a C library/ },
  },
  {
    name: '#include',
    lines: ['#include common.ode'],
    refusal: { code: 'unsupported-include', names: /`#include` is not followed/ },
  },
  { name: 'built-in functions', lines: ['f2 = flr(x)+ceil(x)+sign(x)+heav(x)+abs(x)+max(x,y)+min(x,y)+atan2(x,y)'] },
  { name: 'more functions', lines: ['f3 = log10(x+2)+ln(x+2)+log(x+2)+exp(x)+sinh(x)+cosh(x)+tanh(x)+asin(0.5)'] },
  { name: 'if/then/else', lines: ['f4 = if(x>1)then(1)else(0)'] },
  { name: 'XPPAUT functions', lines: ['f5 = shift(x, 1) + delay(x, 0.5) + ran(1) + normal(0, 1) + besselj(0, x)'] },
  { name: 'indexed sum', lines: ["f6 = sum(1,3)of(i')"] },
];

const withConstruct = (lines: string[]) => [...BASE, ...lines, '@ total=1, dt=0.05', 'done', ''].join('\n');

describe('every XPPAUT construct', () => {
  for (const c of CONSTRUCTS) {
    it(`${c.name}: no unrecognised line, no syntax error${c.refusal ? `; one ${c.refusal.code}` : ''}`, () => {
      const a = analyse(withConstruct(c.lines));
      const own = a.diagnostics.filter((d) => d.range.start.line >= BASE.length);
      const bad = own.filter((d) => d.code === 'syntax-error' || /Unrecognised line/.test(d.message));
      assert.deepEqual(bad, [], c.name);
      if (!c.refusal) return;
      const refusals = a.diagnostics.filter((d) => d.code === c.refusal!.code);
      assert.equal(refusals.length, 1, JSON.stringify(a.diagnostics));
      assert.equal(refusals[0].range.start.line, BASE.length, 'on the construct’s own (first) line');
      assert.match(refusals[0].message, c.refusal.names);
      assert.match(refusals[0].message, /: |; /, 'says why');
    });
  }

  it('all in one file: each refusal once on its own line, the other lines keep their diagnostics', () => {
    const lines: string[] = [...BASE];
    const firstLine = new Map<string, number>();
    for (const c of CONSTRUCTS) {
      firstLine.set(c.name, lines.length);
      lines.push(...c.lines);
    }
    const typo = lines.length;
    lines.push('f9 = x + nope');
    const text = [...lines, '@ total=1, dt=0.05', 'done', ''].join('\n');
    const a = analyse(text);
    for (const c of CONSTRUCTS) {
      if (!c.refusal) continue;
      const at = a.diagnostics.filter(
        (d) => d.code === c.refusal!.code && d.range.start.line === firstLine.get(c.name),
      );
      assert.equal(
        at.length,
        1,
        `${c.name}: ${JSON.stringify(a.diagnostics.filter((d) => d.range.start.line === firstLine.get(c.name)))}`,
      );
    }
    assert.ok(
      a.diagnostics.some((d) => d.range.start.line === typo && d.code === 'undefined-name'),
      'a genuine error elsewhere is still reported',
    );
    assert.ok(!a.diagnostics.some((d) => /Unrecognised line/.test(d.message)));

    // The editor features work on the file that does not check.
    const doc = new ServiceDocument(text);
    const names = documentSymbols(doc).map((s) => s.name);
    for (const n of ['a', 'b', "x'", "y'", 'g', 'f0'])
      assert.ok(names.includes(n), `outline has ${n}: ${names.join(', ')}`);
    const h = hover(doc, { line: 0, character: 4 });
    assert.ok(h, 'hover on the parameter a');
    const items = completion(doc, { line: typo, character: 5 }).items.map((i) => i.label);
    assert.ok(items.includes('a') && items.includes('x'), items.slice(0, 20).join(', '));
  });
});
