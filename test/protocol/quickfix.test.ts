// The quick fix edit "Correct AD gradients with filter121" on its own: minimal, exact,
// every other byte unchanged; with the analysed model and with the text-only fallback.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyse } from '../../solver/language/index';
import { codeActions, gradfixEdit } from '../../solver/service/codeActions';
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

  it('answers the fixable diagnostics with the recommended correction, as plain data', () => {
    const actions = codeActions({ text, model, report: { recommendedCorrection: 'stagesum' } }, [other, oscillating]);
    assert.equal(actions.length, 1);
    const [a] = actions;
    assert.equal(a.title, 'Correct AD gradients with stagesum');
    assert.equal(a.kind, 'quickfix');
    assert.equal(a.isPreferred, true);
    assert.deepEqual(a.diagnostics, [oscillating], "the caller's own diagnostic objects, only those it fixes");
    assert.equal(applyEdits(text, a.edits), text.replace('tie=stage', 'tie=stage, gradfix=stagesum'));
  });

  it('offers filter121 without a report, and nothing for diagnostics it cannot fix', () => {
    assert.equal(codeActions({ text, model }, [oscillating])[0].title, 'Correct AD gradients with filter121');
    assert.deepEqual(codeActions({ text, model }, [other]), []);
  });
});
