// The quick fix edit "Correct AD gradients with filter121" on its own: minimal, exact,
// every other byte unchanged; with the analysed model and with the text-only fallback.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyse } from '../../solver/language/index';
import { codeActions, fixAllAction, gradfixEdit } from '../../solver/service/codeActions';
import { applyEdits } from '../support/textEdits';

const BODY =
  "state x[2]\ninit x = [1, 0]\nparam W[2,2] per-step ~ normal(0, 0.3)\nx' = W @ x\nloss = 0.5 * sum(x(T)^2)\n";

function fix(text: string, useModel: boolean): string | undefined {
  const model = useModel ? analyse(text).model : undefined;
  if (useModel) assert.ok(model, `model expected: ${JSON.stringify(analyse(text).diagnostics)}`);
  const edit = gradfixEdit(text, model);
  return edit && applyEdits(text, [edit]);
}

for (const useModel of [true, false]) {
  describe(`gradfix quick fix edit (${useModel ? 'from the model' : 'text-only fallback'})`, () => {
    it('appends to the @ line that holds meth', () => {
      const text = `${BODY}@ total=1, steps=32, meth=leapfrog, seed=1\ndone\n`;
      assert.equal(fix(text, useModel), `${BODY}@ total=1, steps=32, meth=leapfrog, seed=1, gradfix=filter121\ndone\n`);
    });

    it('prefers the @ line with meth over later @ lines', () => {
      const text = `${BODY}@ meth=leapfrog\n@ total=1, steps=32\ndone\n`;
      assert.equal(fix(text, useModel), `${BODY}@ meth=leapfrog, gradfix=filter121\n@ total=1, steps=32\ndone\n`);
    });

    it('uses the last @ line when none holds meth', () => {
      const text = `${BODY}@ total=1\n@ steps=32\ndone\n`;
      assert.equal(fix(text, useModel), `${BODY}@ total=1\n@ steps=32, gradfix=filter121\ndone\n`);
    });

    it('replaces the value of an existing gradfix setting', () => {
      const text = `${BODY}@ meth=leapfrog, gradfix=none, steps=32\ndone\n`;
      assert.equal(fix(text, useModel), `${BODY}@ meth=leapfrog, gradfix=filter121, steps=32\ndone\n`);
    });

    it('offers nothing when gradfix is already filter121', () => {
      assert.equal(fix(`${BODY}@ meth=leapfrog, gradfix=filter121\ndone\n`, useModel), undefined);
    });

    it('inserts an @ line before done when there is none', () => {
      assert.equal(fix(`${BODY}done\n`, useModel), `${BODY}@ gradfix=filter121\ndone\n`);
    });

    it('appends an @ line at the end without done (no final newline)', () => {
      const text = BODY.slice(0, -1);
      assert.equal(fix(text, useModel), `${text}\n@ gradfix=filter121\n`);
    });

    it('keeps CRLF line endings and a trailing comment intact', () => {
      const text = `${BODY}@ total=1, meth=leapfrog  # the scheme\ndone\n`.replace(/\n/g, '\r\n');
      const out = fix(text, useModel)!;
      assert.equal(
        out,
        `${BODY}@ total=1, meth=leapfrog, gradfix=filter121  # the scheme\ndone\n`.replace(/\n/g, '\r\n'),
      );
    });
  });
}

describe('code-action service', () => {
  const text = `${BODY}@ total=1, steps=32, meth=rk4, tie=stage\ndone\n`;
  const model = analyse(text).model;
  const at = { start: { line: 5, character: 2 }, end: { line: 5, character: 5 } };
  const oscillating = { code: 'oscillating-gradient', range: at, message: 'mine' };
  const other = { code: 'undefined-name', range: at };

  it('answers the fixable diagnostics with every remedy, the recommended correction preferred, as plain data', () => {
    const actions = codeActions({ text, model, report: { recommendedCorrection: 'stagesum' } }, [other, oscillating]);
    const preferred = actions.filter((a) => a.isPreferred);
    assert.equal(preferred.length, 1, actions.map((a) => a.title).join('\n'));
    const [a] = preferred;
    assert.equal(a.title, 'Correct AD gradients with filter121', 'stagesum does not answer an oscillation');
    assert.equal(a.kind, 'quickfix');
    assert.deepEqual(a.diagnostics, [oscillating], "the caller's own diagnostic objects, only those it fixes");
    const settings = actions.map((x) => applyEdits(text, x.edits).split('\n')[5]);
    for (const s of ['gradfix=average', 'gradfix=adjoint121', 'meth=heun', 'meth=rk4', 'grad=adjoint'])
      assert.ok(
        settings.some((l) => l.includes(s)),
        `${s}: ${settings.join(' | ')}`,
      );
    assert.ok(
      settings.every((l) => !l.includes('meth=ab2')),
      'no multistep scheme offered (its start copies can get weight 0)',
    );
  });

  it('answers stage findings with stagesum (preferred for 2-stage schemes) and tie=step', () => {
    const midpoint = `${BODY}@ total=1, steps=32, meth=midpoint, tie=stage\ndone\n`;
    const m = analyse(midpoint).model;
    const zero = { code: 'zero-stage-weight', range: at };
    const actions = codeActions({ text: midpoint, model: m }, [zero]);
    const byTitle = Object.fromEntries(actions.map((x) => [x.title, x]));
    assert.ok(byTitle['Correct AD gradients with stagesum']?.isPreferred, Object.keys(byTitle).join(', '));
    const tie = actions.find((x) => x.title.includes('tie=step'));
    assert.ok(tie && !tie.isPreferred);
    assert.equal(applyEdits(midpoint, tie.edits), midpoint.replace('tie=stage', 'tie=step'));
  });

  it('titles carry the measured figures of the finding, formatted like every other number', () => {
    const metrics = { alpha: 0.78, beta: 6.5e4, relError: 1.2437, correctedRelError: 2.19e-5, gradcheckRelError: 1e-6 };
    const finding = { ...oscillating, code: 'oscillating-gradient' as const, severity: 'warning' as const, metrics };
    const report = {
      recommendedCorrection: 'filter121' as const,
      correction: 'filter121' as const,
      findings: [finding],
    };
    const actions = codeActions({ text, model, report }, [oscillating]);
    const titles = actions.map((x) => x.title);
    assert.ok(
      titles.includes('Correct AD gradients with filter121 — error 2.19e-5 instead of 1.24'),
      titles.join('\n'),
    );
    assert.ok(titles.includes('Correct AD gradients with average — raw error 1.24 now'), titles.join('\n'));
    // A correction the check priced from the same gradient quotes its own figure.
    const priced = { ...finding, metrics: { ...metrics, correctionErrors: { filter121: 2.19e-5, average: 3.1e-3 } } };
    const pricedTitles = codeActions({ text, model, report: { ...report, findings: [priced] } }, [oscillating]).map(
      (x) => x.title,
    );
    assert.ok(
      pricedTitles.includes('Correct AD gradients with average — error 0.0031 instead of 1.24'),
      pricedTitles.join('\n'),
    );
    assert.ok(
      pricedTitles.includes('Correct AD gradients with adjoint121 — raw error 1.24 now'),
      pricedTitles.join('\n'),
    );
  });

  it("fix-all sets every finding's recommended fix in one edit", () => {
    const midpoint = `${BODY}@ total=1, steps=32, meth=midpoint, tie=stage\ndone\n`;
    const m = analyse(midpoint).model;
    const all = fixAllAction({ text: midpoint, model: m }, [{ code: 'zero-stage-weight', range: at }, other]);
    assert.ok(all);
    assert.equal(all.kind, 'source.fixAll.odelens');
    assert.equal(all.diagnostics.length, 1);
    assert.equal(applyEdits(midpoint, all.edits), midpoint.replace('tie=stage', 'tie=stage, gradfix=stagesum'));
    const leapfrog = `${BODY}@ total=1, steps=32, meth=leapfrog\ndone\n`;
    const two = fixAllAction({ text: leapfrog, model: analyse(leapfrog).model }, [oscillating, { ...oscillating }]);
    assert.equal(applyEdits(leapfrog, two!.edits), leapfrog.replace('leapfrog', 'leapfrog, gradfix=filter121'));
  });

  it('offers filter121 without a report, and nothing for diagnostics it cannot fix', () => {
    const titles = codeActions({ text, model }, [oscillating])
      .filter((a) => a.isPreferred)
      .map((a) => a.title);
    assert.deepEqual(titles, ['Correct AD gradients with filter121']);
    assert.deepEqual(codeActions({ text, model }, [other]), []);
  });

  it('applying gradfix=stagesum clears the zero-stage-weight warning that recommends it', () => {
    const midpoint = `${BODY}@ total=1, steps=32, meth=midpoint, tie=stage\ndone\n`;
    const codes = (t: string) => analyse(t).diagnostics.map((d) => d.code);
    assert.ok(codes(midpoint).includes('zero-stage-weight'));
    const zero = analyse(midpoint).diagnostics.find((d) => d.code === 'zero-stage-weight')!;
    const fix = codeActions({ text: midpoint, model: analyse(midpoint).model }, [zero]).find((a) => a.isPreferred)!;
    assert.ok(!codes(applyEdits(midpoint, fix.edits)).includes('zero-stage-weight'));
  });
});
