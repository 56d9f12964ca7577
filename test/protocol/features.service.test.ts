// The language service called directly (no connection): it never throws, on
// random and mutated inputs, at any position; and the symbol index agrees with
// itself (every reference of a declaration resolves back to it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  completion,
  definition,
  documentHighlight,
  documentSymbols,
  foldingRanges,
  hover,
  prepareRename,
  references,
  rename,
  semanticTokens,
  ServiceDocument,
  signatureHelp,
} from '../../solver/service/index';
import { largeModelText } from '../../bench/largeModel';
import { analyse, analyseDocument } from '../../solver/language/index';
import { describeScheme } from '../../solver/schemes/analysis';
import { repoRoot } from '../support/lspClient';

const spiral = readFileSync(join(repoRoot, 'examples', 'spiral.ode'), 'utf8');
const PIECES = [
  'state x[2]',
  'init x = [1, 0]',
  'par a=1, b=2',
  "x' = -a*x + b",
  'dy/dt = x',
  'f(u, v) = u*v',
  'loss = sum(x(T)^2)',
  '@ total=1, steps=8, meth=rk4',
  '@ meth=',
  'param W[2,2] per-step ~ normal(0, 0.1)',
  'data obs = "o.csv"',
  'scheme s rk a=[[0]] b=[1] c=[0]',
  'done',
  '# comment',
  '\\',
  '(',
  ')',
  '[',
  '=',
  "'",
  '@',
  ',',
  'x(',
  'tanh(',
  '"',
];

function everyFeature(doc: ServiceDocument, line: number, character: number): void {
  const p = { line, character };
  // Edit ranges inside the text, even for a position past the end of its line or of the file.
  for (const item of completion(doc, p).items) {
    const edit = item.textEdit as
      | { range: { start: { line: number; character: number }; end: { line: number; character: number } } }
      | undefined;
    if (!edit) continue;
    for (const q of [edit.range.start, edit.range.end]) {
      assert.ok(
        q.line >= 0 && q.line < doc.lines.length && q.character >= 0 && q.character <= doc.lineText(q.line).length,
        `completion range ${JSON.stringify(edit.range)} outside the text at ${JSON.stringify(p)}`,
      );
    }
  }
  hover(doc, p);
  signatureHelp(doc, p);
  definition(doc, 'u', p);
  references(doc, 'u', p, true);
  documentHighlight(doc, p);
  prepareRename(doc, p);
  rename(doc, 'u', p, 'zz');
}

describe('language service, called directly', () => {
  it('never throws on random lines, at any position', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 12 })), { maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        (parts, l, c) => {
          const text = parts.join('\n');
          const doc = new ServiceDocument(text);
          const lines = text.split('\n');
          const line = l % (lines.length + 1);
          everyFeature(doc, line, c % ((lines[line]?.length ?? 0) + 2));
          documentSymbols(doc);
          semanticTokens(doc);
          foldingRanges(doc);
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });

  it('never throws on mutations of a real model', () => {
    fc.assert(
      fc.property(fc.nat(spiral.length), fc.nat(spiral.length), fc.string({ maxLength: 4 }), (at, len, insert) => {
        const text = spiral.slice(0, at) + insert + spiral.slice(Math.min(spiral.length, at + (len % 6)));
        const doc = new ServiceDocument(text);
        const lines = text.split('\n');
        for (let line = 0; line < lines.length; line += 3)
          everyFeature(doc, line, (at + line) % (lines[line].length + 1));
        semanticTokens(doc);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('every reference of a declaration resolves back to that declaration (2,000-line model)', () => {
    const doc = new ServiceDocument(largeModelText());
    const idx = doc.symbols;
    assert.ok(idx.declarations.length > 1000);
    for (const d of idx.declarations.slice(0, 50)) {
      const refs = idx.refsOf(d);
      assert.ok(
        refs.some((r) => r.isDeclaration),
        `${d.name} has its declaration among its references`,
      );
      for (const r of refs) {
        const back = idx.at(r.range.start.line, r.range.start.character);
        assert.equal(back?.decl?.key, d.key, `${d.name} at ${r.range.start.line}:${r.range.start.character}`);
      }
    }
    // W0 is used twice in the long continued equation, and declared once.
    const w0 = idx.byKey.get('w0')![0];
    assert.equal(idx.refsOf(w0).length, 3);
  });

  it('offers a declared scheme after meth=, with its order from its coefficients even when the file has errors', () => {
    const text = "state x\nx' = -x +\nscheme myrk rk a=[[0,0],[2/3,0]] b=[1/4,3/4] c=[0,2/3]\n@ total=1, meth=myrk\n";
    const doc = new ServiceDocument(text);
    const item = completion(doc, { line: 3, character: 16 }).items.find((i) => i.label === 'myrk');
    assert.ok(item, 'the declared scheme is offered');
    assert.match(item.detail!, /^declared/);
    const R = { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } };
    const d = describeScheme('myrk', {
      kind: 'rk',
      name: 'myrk',
      a: [
        [0, 0],
        [2 / 3, 0],
      ],
      b: [1 / 4, 3 / 4],
      c: [0, 2 / 3],
      range: R,
      nameRange: R,
    });
    if (d) assert.match(item.detail!, new RegExp(`order ${d.order}`));
    const h = hover(doc, { line: 3, character: 18 });
    assert.match(h!.markdown, /scheme `myrk`/);
    const def = definition(doc, 'u', { line: 3, character: 18 });
    assert.deepEqual(
      def.map((l) => l.range.start),
      [{ line: 2, character: 7 }],
    );
  });

  it('semantic tokens are sorted and do not overlap', () => {
    for (const text of [spiral, largeModelText(40)]) {
      const { data } = semanticTokens(new ServiceDocument(text));
      let line = 0,
        char = 0,
        prevEnd = -1,
        prevLine = -1;
      for (let i = 0; i < data.length; i += 5) {
        assert.ok(data[i] >= 0 && (data[i] > 0 || data[i + 1] >= 0), 'relative positions never go back');
        line += data[i];
        char = data[i] === 0 ? char + data[i + 1] : data[i + 1];
        if (line === prevLine) assert.ok(char >= prevEnd, `overlap at ${line}:${char}`);
        prevLine = line;
        prevEnd = char + data[i + 2];
      }
    }
  });

  it('reuses the syntax tree of analyseDocument (one parse per version) and answers as if it had parsed itself', () => {
    const fnText = `${spiral}\nf(u, v) = u*v + \\\n  tanh(u)\n`;
    for (const text of [spiral, fnText, largeModelText(40), "state x[2\nx' = y +\n@ meth="]) {
      const analysed = analyseDocument(text);
      assert.ok(analysed.syntax, 'analyseDocument returns the syntax tree');
      const reused = new ServiceDocument(text, 1, analysed.syntax);
      const own = new ServiceDocument(text, 1);
      assert.equal(reused.program, analysed.syntax.program, 'no second parse');
      assert.deepEqual(reused.parseDiagnostics, own.parseDiagnostics);
      assert.deepEqual(semanticTokens(reused), semanticTokens(own));
      assert.deepEqual(documentSymbols(reused), documentSymbols(own));
      const lines = text.split('\n');
      for (let line = 0; line < lines.length; line += Math.max(1, lines.length >> 4)) {
        for (const character of [0, 1, 4, 9]) {
          const p = { line, character };
          assert.deepEqual(completion(reused, p), completion(own, p));
          assert.deepEqual(hover(reused, p), hover(own, p));
          assert.deepEqual(references(reused, 'u', p, true), references(own, 'u', p, true));
        }
      }
    }
    // analyse itself still returns a plain Analysis (no syntax tree kept by other callers).
    assert.equal('syntax' in analyse('state x'), false);
  });

  it('a hover on a long continued equation agrees with the whole-line classification used by references', () => {
    const text = largeModelText(60); // one logical line of 60 physical lines, well over the per-line threshold
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('tanh(W30 '));
    const doc = new ServiceDocument(text);
    const col = lines[line].indexOf('W30') + 1;
    const h = hover(doc, { line, character: col });
    assert.match(h?.markdown ?? '', /W30/);
    // The same position through the whole-line path (references builds every line's references first).
    const whole = new ServiceDocument(text);
    const refs = references(whole, 'u', { line, character: col }, true);
    assert.ok(refs && refs.some((r) => r.range.start.line === line), 'references find the use on the continued line');
    assert.deepEqual(hover(whole, { line, character: col }), h);
    // A name on the first physical line of the equation, and the function-argument scope of completion.
    const first = lines.findIndex((l) => l.startsWith("x' ="));
    assert.equal(hover(doc, { line: first, character: 0 })?.range.start.line, first);
  });
});
