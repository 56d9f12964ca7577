// XPPAUT's `meth=` values (solver/schemes/xppautMethods.ts, the registry's `xppaut` names): every documented method,
// the spellings XPPAUT reads by their first character, the note on adaptive and stiff methods checked as a
// fixed-step scheme, the option keys XPPAUT reads by their beginning, and completion and hover of the names.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { completion, hover, ServiceDocument } from '../../solver/service/index';
import { XPPAUT_METHODS } from '../../solver/schemes/xppautMethods';

const base = "x' = -a*x\npar a=1\ninit x=1\n";
const methLine = 3;

function only(text: string, code: string) {
  const a = analyse(text);
  const ds = a.diagnostics.filter((d) => d.code === code);
  assert.equal(ds.length, 1, JSON.stringify(a.diagnostics));
  return ds[0];
}

describe('XPPAUT meth= values', () => {
  // What XPPAUT's documentation lists (xpp_doc.tex, METH=) and the scheme each is checked as.
  const runs: Record<string, [string, 'exact' | 'note']> = {
    discrete: ['discrete', 'exact'],
    euler: ['euler', 'exact'],
    modeuler: ['heun', 'exact'],
    rungekutta: ['rk4', 'exact'],
    adams: ['ab3', 'note'],
    gear: ['backeul', 'note'],
    volterra: ['heun', 'note'],
    backeul: ['backeul', 'exact'],
    qualrk: ['rk4', 'note'],
    stiff: ['backeul', 'note'],
    cvode: ['backeul', 'note'],
    '5dp': ['rk4', 'note'],
    '83dp': ['rk4', 'note'],
    '2rb': ['backeul', 'note'],
    ymp: ['rk4', 'note'],
  };

  test('the documented list is XPPAUT’s 15 methods, one per first character', () => {
    assert.equal(XPPAUT_METHODS.length, 15);
    assert.equal(new Set(XPPAUT_METHODS.map((m) => m[0])).size, 15);
    assert.deepEqual(
      XPPAUT_METHODS.filter((m) => !(m in runs)),
      [],
    );
  });

  for (const [name, [scheme, how]] of Object.entries(runs)) {
    test(`meth=${name} runs as ${scheme}${how === 'note' ? ', with a note on the value' : ''}`, () => {
      for (const spelling of [name, name.toUpperCase()]) {
        const text = `${base}@ meth=${spelling}, total=4`;
        const a = analyse(text);
        assert.ok(a.model, JSON.stringify(a.diagnostics));
        assert.equal(a.model.options.meth, scheme);
        const notes = a.diagnostics.filter((d) => d.code === 'scheme-alias');
        if (how === 'exact') assert.deepEqual(notes, []);
        else {
          assert.equal(notes.length, 1);
          assert.equal(notes[0].severity, 'information');
          assert.deepEqual(notes[0].range, {
            start: { line: methLine, character: 7 },
            end: { line: methLine, character: 7 + spelling.length },
          });
          assert.match(notes[0].message, new RegExp(`^meth=${spelling}: XPPAUT's ${name}`));
          assert.match(
            notes[0].message,
            scheme === 'ab3' ? /ab3/ : new RegExp(`checks.*${scheme === 'rk4' ? 'RK4' : scheme}`),
          );
        }
      }
    });
  }

  test('the adaptive and stiff notes say that a fixed-step discretisation is checked', () => {
    for (const name of ['qualrk', '5dp', '83dp', 'gear', 'stiff', 'cvode', '2rb'])
      assert.match(only(`${base}@ meth=${name}`, 'scheme-alias').message, /fixed-step/, name);
  });

  test('spellings XPPAUT reads by the first character: a prefix of a name, or a name with more after it', () => {
    const cases: [string, string][] = [
      ['r', 'rk4'],
      ['rung', 'rk4'],
      ['8', 'rk4'],
      ['5', 'rk4'],
      ['2', 'backeul'],
      ['y', 'rk4'],
      ['q', 'rk4'],
      ['qualrk4', 'rk4'],
      ['disc', 'discrete'],
      ['d', 'discrete'],
      ['mod', 'heun'],
      ['e', 'euler'],
      ['c', 'backeul'],
    ];
    for (const [value, scheme] of cases) {
      const a = analyse(`${base}@ meth=${value}, total=4`);
      assert.equal(a.model?.options.meth, scheme, `${value}: ${JSON.stringify(a.diagnostics)}`);
    }
  });

  test('our own names win over XPPAUT’s first character (milne is not modeuler)', () => {
    for (const name of ['milne', 'midpoint', 'ab2', 'ab3', 'ralston', 'rk4', 'heun'])
      assert.equal(analyse(`${base}@ meth=${name}`).model?.options.meth, name);
  });

  test('a word that only shares the first character is an error that says what XPPAUT would read', () => {
    const d = only(`${base}@ meth=rosen`, 'unknown-scheme');
    assert.equal(d.severity, 'error');
    assert.match(
      d.message,
      /^Unknown scheme 'rosen'.*XPPAUT would read only its first character, which selects rungekutta$/,
    );
    const milnee = only(`${base}@ meth=milnee`, 'unknown-scheme');
    assert.match(milnee.message, /did you mean 'milne'\?.*selects modeuler$/);
    // No XPPAUT method starts with l: no such sentence.
    assert.doesNotMatch(only(`${base}@ meth=lepfrog`, 'unknown-scheme').message, /XPPAUT/);
  });

  test('b and backeul select backward Euler; the stiff methods are checked as it', () => {
    assert.equal(analyse(`${base}@ meth=b`).model?.options.meth, 'backeul');
    assert.match(
      only(`${base}@ meth=cvode`, 'scheme-alias').message,
      /checks a fixed-step discretisation, the implicit backward Euler \(backeul\) at dt/,
    );
  });

  test('option keys XPPAUT reads by their beginning: method=, methods=, totaltime=; dtmin is not dt', () => {
    const a = analyse(`${base}@ method=modeuler, totaltime=3, dt=0.5`);
    assert.equal(a.model?.options.meth, 'heun');
    assert.equal(a.model?.options.total, 3);
    assert.equal(a.model?.options.steps, 6);
    const b = analyse(`${base}@ methods=euler, dtmin=0.001`);
    assert.equal(b.model?.options.meth, 'euler');
    assert.equal(b.model?.options.dt, 0.05); // XPPAUT's default dt: dtmin= does not set it
    assert.equal(only(`${base}@ methods=euler, dtmin=0.001`, 'ignored-option').severity, 'hint');
  });
});

describe('XPPAUT method names in the editor', () => {
  test('completion after meth= offers the built-in schemes and XPPAUT’s names, with what they run as', () => {
    const text = `${base}@ meth=`;
    const items = completion(new ServiceDocument(text), { line: methLine, character: 7 }).items;
    const labels = items.map((i) => i.label);
    for (const name of ['rk4', 'discrete', 'qualrk', 'cvode', 'gear', '5dp', '83dp', '2rb', 'ymp', 'rungekutta'])
      assert.ok(labels.includes(name), `${name} in ${labels}`);
    assert.ok(labels.includes('backeul'));
    const qualrk = items.find((i) => i.label === 'qualrk')!;
    assert.match(String(qualrk.detail), /Runge–Kutta · order 4/);
    const discrete = items.find((i) => i.label === 'discrete')!;
    assert.equal(discrete.detail, 'map iteration · no continuous reference');
    // After `method=` too (XPPAUT's long key).
    const long = completion(new ServiceDocument(`${base}@ method=`), { line: methLine, character: 9 }).items;
    assert.ok(long.some((i) => i.label === 'cvode'));
  });

  test('hover on meth=8 and meth=cvode names the scheme they are checked as', () => {
    const h8 = hover(new ServiceDocument(`${base}@ meth=8`), { line: methLine, character: 7 });
    assert.match(h8!.markdown, /scheme `rk4`/);
    assert.match(h8!.markdown, /XPPAUT `8` → rk4/);
    const hc = hover(new ServiceDocument(`${base}@ meth=cvode`), { line: methLine, character: 8 });
    assert.match(hc!.markdown, /XPPAUT `cvode` → backeul/);
    const hd = hover(new ServiceDocument(`${base}@ meth=discrete`), { line: methLine, character: 8 });
    assert.match(hd!.markdown, /map iteration/);
    assert.match(hd!.markdown, /no continuous reference/);
  });
});
