// Protocol tests of the editor features (issue 3) through a real LSP
// connection to `node dist/server.js --stdio`: completion, hover, signature
// help, definition, references, rename (and its refusals), document symbols,
// semantic tokens, folding, formatting — on a clean file and on one with
// syntax errors. Gradient checks are off: these features do not need them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { applyEdits, type TextEdit as SimpleTextEdit } from '../support/textEdits';
import { describeScheme } from '../../solver/schemes/analysis';
import { SCHEME_NAMES } from '../../solver/model';
import { type LspClient, startServer } from '../support/lspClient';

interface Pos {
  line: number;
  character: number;
}
interface Rng {
  start: Pos;
  end: Pos;
}
interface Item {
  label: string;
  detail?: string;
  documentation?: { value: string } | string;
  textEdit?: { newText: string };
}
interface HoverReply {
  contents: { kind: string; value: string };
  range: Rng;
}

const MODEL = [
  '# Feature test model', //                                  0
  '# (a two-line comment block)', //                          1
  'state x[2]', //                                            2
  'init x = [1, 0]', //                                       3
  'par sigma=10, rho=28', //                                  4
  'number beta = 2.5', //                                     5
  'param W[2,2] per-step ~ normal(0, 0.1)', //                6
  'param b[2] = 0', //                                        7
  'f(a, c) = tanh(a) * c + rho', //                           8
  "x' = W @ f(x, Sigma) + b \\", //                           9
  '  - beta * x', //                                          10
  'loss = 0.5 * sum((x(T) - [1, 1])^2)', //                   11
  '@ total=1, steps=16, meth=rk4, seed=1', //                 12
  '@ gradfix=none', //                                        13
  'done', //                                                  14
].join('\n');
const lines = MODEL.split('\n');
/** Position of the `nth` occurrence of `word` on `line` (+ `offset` characters). */
function at(line: number, word: string, offset = 0, nth = 0): Pos {
  let i = -1;
  for (let k = 0; k <= nth; k++) i = lines[line].indexOf(word, i + 1);
  assert.ok(i >= 0, `'${word}' on line ${line}`);
  return { line, character: i + offset };
}
const rng = (line: number, start: number, end: number): Rng => ({
  start: { line, character: start },
  end: { line, character: end },
});

// Five independent mistakes; the features must still work around them.
const BROKEN = [
  'state x', //                 0
  'init x = 1', //              1
  "x' = (1 + ", //              2
  'par k = ', //                3
  "y' = k*x - ", //             4
  'loss = x(T)^2 + y(T', //     5
  'done', //                    6
].join('\n');

const uri = 'file:///features/model.ode';
const brokenUri = 'file:///features/broken.ode';

const docText = (d: Item['documentation']) => (typeof d === 'string' ? d : (d?.value ?? ''));

describe('editor features over a real LSP connection', { timeout: 120_000 }, () => {
  let client: LspClient;
  let caps: Record<string, unknown>;

  before(async () => {
    ({ client, capabilities: caps } = await startServer({ check: { enabled: false } }));
    await client.open(uri, MODEL);
    await client.open(brokenUri, BROKEN);
  });
  after(async () => {
    await client?.stop();
  });

  const req = <R>(method: string, params: Record<string, unknown>, u = uri) =>
    client.request<R>(method, { textDocument: { uri: u }, ...params });
  const labels = (items: Item[]) => items.map((i) => i.label);
  const complete = async (p: Pos, u = uri): Promise<Item[]> => {
    const r = await req<{ items: Item[] } | Item[]>('textDocument/completion', { position: p }, u);
    return Array.isArray(r) ? r : r.items;
  };

  it('announces every feature', () => {
    for (const k of [
      'hoverProvider',
      'completionProvider',
      'signatureHelpProvider',
      'definitionProvider',
      'referencesProvider',
      'renameProvider',
      'documentSymbolProvider',
      'semanticTokensProvider',
      'foldingRangeProvider',
      'documentFormattingProvider',
      'documentRangeFormattingProvider',
    ]) {
      assert.ok(caps[k], k);
    }
  });

  it('completes names in scope and built-in functions (with signature and docs) in an expression', async () => {
    const items = await complete(at(9, 'W'));
    const ls = labels(items);
    for (const n of ['x', 'W', 'b', 'sigma', 'rho', 'beta', 'f', 'tanh', 'sum', 't'])
      assert.ok(ls.includes(n), `${n} in ${ls.join(' ')}`);
    for (const n of ['state', 'param', 'total']) assert.ok(!ls.includes(n), `${n} is not offered in an expression`);
    const tanh = items.find((i) => i.label === 'tanh')!;
    assert.equal(tanh.detail, 'tanh(x)');
    assert.match(docText(tanh.documentation), /hyperbolic tangent/);
    assert.match(items.find((i) => i.label === 'W')!.detail!, /param \[2, 2\] per-step/);
    assert.match(items.find((i) => i.label === 'f')!.detail!, /f\(a, c\)/);
  });

  it('completes the arguments of a user function inside its body', async () => {
    const ls = labels(await complete(at(8, 'tanh')));
    assert.ok(ls.includes('a') && ls.includes('c'), ls.join(' '));
    const outside = labels(await complete(at(11, 'sum')));
    assert.ok(!outside.includes('a'), 'arguments are local to their function');
  });

  it('completes keywords at the start of a line', async () => {
    const ls = labels(await complete({ line: 14, character: 0 }));
    for (const k of ['state', 'param', 'init', 'number', 'data', 'scheme', 'loss', 'done', "x'"])
      assert.ok(ls.includes(k), `${k} in ${ls.join(' ')}`);
  });

  it('completes option keys after @', async () => {
    const items = await complete({ line: 12, character: 2 });
    const ls = labels(items);
    for (const k of ['total', 'steps', 'dt', 't0', 'meth', 'start', 'seed', 'gradfix', 'grad', 'tie'])
      assert.ok(ls.includes(k), `${k} in ${ls.join(' ')}`);
    assert.match(docText(items.find((i) => i.label === 'steps')!.documentation), /Number of steps/);
  });

  it('completes every scheme after meth= with its order and stability (from the scheme analysis)', async () => {
    const items = await complete(at(12, 'rk4'));
    for (const s of SCHEME_NAMES) assert.ok(labels(items).includes(s), s);
    const rk4 = items.find((i) => i.label === 'rk4')!;
    const d = describeScheme('rk4');
    if (d) {
      // Once the scheme analysis describes rk4, the detail carries its figures.
      assert.match(rk4.detail!, /order 4/);
      assert.match(rk4.detail!, /strongly stable/);
      const leapfrog = describeScheme('leapfrog');
      if (leapfrog) assert.match(items.find((i) => i.label === 'leapfrog')!.detail!, /order 2 · weakly stable/);
    } else {
      assert.equal(rk4.detail, 'built-in scheme', 'graceful fallback while describeScheme knows nothing');
    }
  });

  it('completes gradfix values', async () => {
    const ls = labels(await complete(at(13, 'none')));
    assert.deepEqual(ls.sort(), ['adjoint121', 'average', 'filter121', 'none', 'stagesum']);
  });

  it('hovers a parameter: kind, shape, per-step copy count, initialiser', async () => {
    const h = await req<HoverReply>('textDocument/hover', { position: at(9, 'W') });
    assert.equal(h.contents.kind, 'markdown');
    assert.match(h.contents.value, /param `W`/);
    assert.match(h.contents.value, /\[2, 2\]/);
    assert.match(h.contents.value, /per-step: 16 copies/);
    assert.match(h.contents.value, /normal\(0, 0\.1\)/);
    assert.deepEqual(h.range, rng(9, 5, 6));
  });

  it('hovers a state, a number and a name written in another case', async () => {
    const state = await req<HoverReply>('textDocument/hover', { position: at(2, 'x') });
    assert.match(state.contents.value, /state `x`/);
    assert.match(state.contents.value, /\[2\]/);
    assert.match(state.contents.value, /init `\[1, 0\]`/);
    const beta = await req<HoverReply>('textDocument/hover', { position: at(10, 'beta', 1) });
    assert.match(beta.contents.value, /number `beta`.*2\.5/);
    const sigma = await req<HoverReply>('textDocument/hover', { position: at(9, 'Sigma', 2) });
    assert.match(sigma.contents.value, /param `sigma`/);
    assert.match(sigma.contents.value, /shared across time/);
    assert.match(sigma.contents.value, /Declared on line 5/);
  });

  it('hovers built-in functions, options and schemes with their documentation', async () => {
    const tanh = await req<HoverReply>('textDocument/hover', { position: at(8, 'tanh', 1) });
    assert.match(tanh.contents.value, /tanh\(x\)/);
    assert.match(tanh.contents.value, /hyperbolic tangent/);
    const steps = await req<HoverReply>('textDocument/hover', { position: at(12, 'steps', 1) });
    assert.match(steps.contents.value, /@ steps/);
    assert.match(steps.contents.value, /Number of steps/);
    const meth = await req<HoverReply>('textDocument/hover', { position: at(12, 'meth', 1) });
    assert.match(meth.contents.value, /@ meth/);
    assert.match(meth.contents.value, /ODE Lens gradient check/, 'the round-1 report section stays on meth');
    const rk4 = await req<HoverReply>('textDocument/hover', { position: at(12, 'rk4', 1) });
    assert.match(rk4.contents.value, /scheme `rk4`/);
    if (describeScheme('rk4')) assert.match(rk4.contents.value, /order 4/);
    assert.deepEqual(rk4.range, rng(12, at(12, 'rk4').character, at(12, 'rk4').character + 3));
  });

  it('gives signature help for user and built-in functions with the active argument', async () => {
    const user = await req<{ signatures: { label: string }[]; activeParameter: number }>('textDocument/signatureHelp', {
      position: at(9, 'Sigma'),
    });
    assert.equal(user.signatures[0].label, 'f(a, c)');
    assert.equal(user.activeParameter, 1);
    const builtin = await req<{ signatures: { label: string }[]; activeParameter: number }>(
      'textDocument/signatureHelp',
      { position: at(8, 'tanh(', 5) },
    );
    assert.equal(builtin.signatures[0].label, 'tanh(x)');
    assert.equal(builtin.activeParameter, 0);
  });

  it('goes to the definition, case-insensitively, and to a local argument', async () => {
    const d = await req<{ uri: string; range: Rng }[]>('textDocument/definition', { position: at(9, 'Sigma') });
    assert.deepEqual(d, [{ uri, range: rng(4, 4, 9) }]);
    const arg = await req<{ uri: string; range: Rng }[]>('textDocument/definition', { position: at(8, '(a)', 1) });
    assert.deepEqual(arg, [{ uri, range: rng(8, 2, 3) }]);
  });

  it('finds every reference (across a continued line and in another case)', async () => {
    const refs = await req<{ range: Rng }[]>('textDocument/references', {
      position: at(2, 'x'),
      context: { includeDeclaration: true },
    });
    const got = refs.map((r) => r.range);
    const want = [rng(2, 6, 7), rng(3, 5, 6), rng(9, 0, 1), rng(9, 11, 12), rng(10, 11, 12), rng(11, 18, 19)];
    assert.deepEqual(got, want);
    const noDecl = await req<{ range: Rng }[]>('textDocument/references', {
      position: at(9, 'Sigma'),
      context: { includeDeclaration: false },
    });
    assert.deepEqual(
      noDecl.map((r) => r.range),
      [rng(9, 14, 19)],
    );
  });

  it('renames every reference of a name', async () => {
    const edit = await req<{ changes: Record<string, SimpleTextEdit[]> }>('textDocument/rename', {
      position: at(4, 'sigma'),
      newName: 'gain',
    });
    const edits = edit.changes[uri];
    assert.equal(edits.length, 2);
    const out = applyEdits(MODEL, edits);
    assert.match(out, /par gain=10, rho=28/);
    assert.match(out, /f\(x, gain\)/);
    assert.doesNotMatch(out, /sigma/i);
  });

  it('prepares a rename on a declared name and refuses one on a built-in', async () => {
    const ok = await req<{ range: Rng; placeholder: string }>('textDocument/prepareRename', { position: at(6, 'W') });
    assert.deepEqual(ok, { range: rng(6, 6, 7), placeholder: 'W' });
    await assert.rejects(
      req('textDocument/prepareRename', { position: at(8, 'tanh', 1) }),
      /cannot be renamed: it is a built-in/,
    );
  });

  it('refuses to rename into a clash, a keyword or a built-in, with a clear error', async () => {
    await assert.rejects(
      req('textDocument/rename', { position: at(4, 'sigma'), newName: 'beta' }),
      /clash with the number 'beta' \(line 6\)/,
    );
    await assert.rejects(
      req('textDocument/rename', { position: at(4, 'sigma'), newName: 'BETA' }),
      /clash.*case-insensitive/,
    );
    await assert.rejects(
      req('textDocument/rename', { position: at(4, 'sigma'), newName: 'tanh' }),
      /'tanh' is a built-in function/,
    );
    await assert.rejects(
      req('textDocument/rename', { position: at(4, 'sigma'), newName: 'state' }),
      /'state' is a keyword/,
    );
    await assert.rejects(req('textDocument/rename', { position: at(4, 'sigma'), newName: '2x' }), /not a valid name/);
    // Renaming a name to an argument of a function whose body uses it would capture it.
    await assert.rejects(
      req('textDocument/rename', { position: at(4, 'rho'), newName: 'a' }),
      /clash with an argument of function 'f'/,
    );
  });

  it('lists document symbols: states, params, functions, equations, loss, options', async () => {
    const syms = await req<
      { name: string; kind: number; detail?: string; selectionRange: Rng; range: Rng; children?: { name: string }[] }[]
    >('textDocument/documentSymbol', {});
    const names = syms.map((s) => s.name);
    assert.deepEqual(names, ['x', 'sigma', 'rho', 'beta', 'W', 'b', 'f', "x'", 'loss', '@ options', '@ options']);
    const w = syms.find((s) => s.name === 'W')!;
    assert.deepEqual(w.selectionRange, rng(6, 6, 7));
    assert.match(w.detail!, /param \[2, 2\] per-step/);
    const eq = syms.find((s) => s.name === "x'")!;
    assert.equal(eq.range.start.line, 9);
    assert.equal(eq.range.end.line, 10, 'the equation spans its continued line');
    assert.deepEqual(
      syms.find((s) => s.name === '@ options')!.children!.map((c) => c.name),
      ['total', 'steps', 'meth', 'seed'],
    );
  });

  it('returns semantic tokens with the declared legend', async () => {
    const legend = (caps.semanticTokensProvider as { legend: { tokenTypes: string[]; tokenModifiers: string[] } })
      .legend;
    const { data } = await req<{ data: number[] }>('textDocument/semanticTokens/full', {});
    assert.equal(data.length % 5, 0);
    const toks: { line: number; char: number; len: number; type: string; mods: string[] }[] = [];
    let line = 0,
      char = 0;
    for (let i = 0; i < data.length; i += 5) {
      line += data[i];
      char = data[i] === 0 ? char + data[i + 1] : data[i + 1];
      toks.push({
        line,
        char,
        len: data[i + 2],
        type: legend.tokenTypes[data[i + 3]],
        mods: legend.tokenModifiers.filter((_, b) => data[i + 4] & (1 << b)),
      });
    }
    const tokAt = (p: Pos) => toks.find((t) => t.line === p.line && t.char === p.character);
    assert.equal(tokAt(at(2, 'state'))?.type, 'keyword');
    assert.deepEqual(tokAt(at(2, 'x')), { line: 2, char: 6, len: 1, type: 'variable', mods: ['declaration'] });
    assert.equal(tokAt(at(6, 'W'))?.type, 'parameter');
    assert.equal(tokAt(at(9, 'W'))?.type, 'parameter');
    assert.equal(tokAt(at(9, 'Sigma'))?.type, 'parameter');
    assert.equal(tokAt(at(4, '10'))?.type, 'number');
    assert.equal(tokAt(at(9, '@'))?.type, 'operator');
    assert.equal(tokAt(at(8, 'f'))?.type, 'function');
    assert.deepEqual(tokAt(at(8, 'tanh'))?.mods, ['defaultLibrary']);
    assert.equal(tokAt(at(12, 'total'))?.type, 'property');
    assert.equal(tokAt(at(12, 'rk4'))?.type, 'enumMember');
    assert.equal(tokAt(at(6, 'per'))?.type, 'keyword');
  });

  it('folds comment blocks, continued lines and the model up to done', async () => {
    const folds = await req<{ startLine: number; endLine: number; kind?: string }[]>('textDocument/foldingRange', {});
    assert.deepEqual(folds, [
      { startLine: 0, endLine: 1, kind: 'comment' },
      { startLine: 9, endLine: 10 },
      { startLine: 0, endLine: 14, kind: 'region' },
    ]);
  });

  it('formats the document and a range', async () => {
    const messyUri = 'file:///features/messy.ode';
    const messy = "state x\ninit x=1\npar a=2\nx'=-a*x\nloss=x(T)^2\n@ total=1\ndone\n";
    await client.open(messyUri, messy);
    const all = await req<SimpleTextEdit[]>(
      'textDocument/formatting',
      { options: { tabSize: 2, insertSpaces: true } },
      messyUri,
    );
    assert.ok(all.length > 0, 'messy spacing is formatted');
    const formatted = applyEdits(messy, all);
    assert.match(formatted, /^x' = -a \* x$/m);
    const again = await (async () => {
      await client.change(messyUri, formatted, 2);
      return req<SimpleTextEdit[]>(
        'textDocument/formatting',
        { options: { tabSize: 2, insertSpaces: true } },
        messyUri,
      );
    })();
    assert.deepEqual(again, [], 'formatting is idempotent');
    await client.change(messyUri, messy, 3);
    const part = await req<SimpleTextEdit[]>(
      'textDocument/rangeFormatting',
      { range: rng(3, 0, 7), options: { tabSize: 2, insertSpaces: true } },
      messyUri,
    );
    assert.ok(part.length > 0);
    for (const e of part) assert.equal(e.range.start.line, 3, 'only the selected line changes');
  });

  describe('on a file with syntax errors', () => {
    it('still hovers, completes and navigates', async () => {
      const diags = client.lastDiagnostics(brokenUri, 1)!;
      assert.ok(diags.filter((d) => d.severity === 1).length >= 3, JSON.stringify(diags));
      const h = await req<HoverReply>('textDocument/hover', { position: { line: 2, character: 0 } }, brokenUri);
      assert.match(h.contents.value, /state `x`/);
      const def = await req<{ range: Rng }[]>(
        'textDocument/definition',
        { position: { line: 4, character: 5 } },
        brokenUri,
      );
      assert.deepEqual(
        def.map((d) => d.range),
        [rng(3, 4, 5)],
        'k is declared by the broken par line',
      );
      const ls = labels(await complete({ line: 4, character: 5 }, brokenUri));
      for (const n of ['x', 'k', 'y', 'tanh']) assert.ok(ls.includes(n), `${n} in ${ls.join(' ')}`);
      const refs = await req<{ range: Rng }[]>(
        'textDocument/references',
        { position: { line: 0, character: 6 }, context: { includeDeclaration: true } },
        brokenUri,
      );
      assert.deepEqual(
        refs.map((r) => r.range),
        [rng(0, 6, 7), rng(1, 5, 6), rng(2, 0, 1), rng(4, 7, 8), rng(5, 7, 8)],
      );
    });

    it('still renames, lists symbols, folds and colours', async () => {
      const edit = await req<{ changes: Record<string, SimpleTextEdit[]> }>(
        'textDocument/rename',
        { position: { line: 3, character: 4 }, newName: 'kappa' },
        brokenUri,
      );
      assert.equal(applyEdits(BROKEN, edit.changes[brokenUri]).split('\n')[4], "y' = kappa*x - ");
      const syms = await req<{ name: string }[]>('textDocument/documentSymbol', {}, brokenUri);
      for (const n of ['x', 'k'])
        assert.ok(
          syms.some((s) => s.name === n),
          n,
        );
      const { data } = await req<{ data: number[] }>('textDocument/semanticTokens/full', {}, brokenUri);
      assert.ok(data.length > 0);
      const folds = await req<{ startLine: number; endLine: number; kind?: string }[]>(
        'textDocument/foldingRange',
        {},
        brokenUri,
      );
      assert.deepEqual(folds, [{ startLine: 0, endLine: 6, kind: 'region' }]);
      const sig = await req<{ signatures: { label: string }[] }>(
        'textDocument/signatureHelp',
        { position: { line: 5, character: 18 } },
        brokenUri,
      );
      assert.equal(sig.signatures[0].label, 'y(T)');
    });
  });
});
