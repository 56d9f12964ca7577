// The summary a finished check sends (solver/summary.ts) holds everything diagnostics, hovers, code
// actions, the status and the CLI's table present: each, built from the summary as it arrives over
// JSON, equals the same built from the full report. And it stays small whatever the rows weigh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCheck } from '../../solver/check';
import { analyse } from '../../solver/language/index';
import type { Report } from '../../solver/report';
import { copyCount, splitReport, summarise } from '../../solver/summary';
import { hover } from '../../solver/service/hover';
import { ServiceDocument } from '../../solver/service/document';
import { codeActions } from '../../solver/service/codeActions';
import { metricsTableText } from '../../solver/presentation/textTable';
import { documentDiagnostics, warningCount } from '../../server/diagnostics';

const ROOT = join(__dirname, '..', '..', '..');

const MODELS: { name: string; text: string; refinement?: boolean }[] = [
  { name: 'spiral (leapfrog, per-step)', text: readFileSync(join(ROOT, 'examples/spiral.ode'), 'utf8') },
  {
    name: 'spiral with filter121, refinement study',
    text: readFileSync(join(ROOT, 'examples/spiral.ode'), 'utf8').replace('seed=1', 'seed=1, gradfix=filter121'),
    refinement: true,
  },
  {
    name: 'per-stage midpoint',
    text: "state x[2]\ninit x = [1, 0]\nparam W[2,2] per-step ~ normal(0, 0.5)\nx' = tanh(W @ x)\nloss = 0.5 * sum(x(T)^2)\n@ total=1, steps=32, meth=midpoint, tie=stage, seed=2\ndone\n",
  },
  { name: 'harmonic (shared)', text: readFileSync(join(ROOT, 'examples/models/harmonic.ode'), 'utf8') },
];

for (const m of MODELS)
  test(`the summary presents like the full report: ${m.name}`, async () => {
    const analysis = analyse(m.text);
    assert.ok(analysis.model, m.name);
    const full: Report = await runCheck(analysis.model, {
      backend: 'cpu',
      ...(m.refinement ? { refinement: true } : {}),
    });
    // As it arrives at the client: through JSON.
    const summary = JSON.parse(JSON.stringify(summarise(full)));
    const text = JSON.stringify(summary);
    for (const rowsField of ['"raw"', '"corrected"', '"reference"', '"layerTimes"', '"correctedTimes"'])
      assert.ok(!text.includes(`${rowsField}:[`), `the summary carries no ${rowsField} rows`);

    const diagnosticsOf = (r: typeof full | typeof summary) => documentDiagnostics(analysis.diagnostics, r.findings);
    assert.deepEqual(diagnosticsOf(summary), diagnosticsOf(full), 'diagnostics');
    assert.equal(warningCount(diagnosticsOf(summary)), warningCount(diagnosticsOf(full)), 'the status count');
    assert.ok(full.findings.length === 0 || diagnosticsOf(full).some((d) => d.data?.fromCheck), 'findings published');

    assert.equal(metricsTableText(summary), metricsTableText(full), "the CLI's table");
    const diagnostics = diagnosticsOf(full);
    assert.deepEqual(
      codeActions({ text: m.text, model: analysis.model, report: summary }, diagnostics),
      codeActions({ text: m.text, model: analysis.model, report: full }, diagnostics),
      'code actions',
    );

    // Every hover in the file, character by character.
    const doc = new ServiceDocument(m.text);
    let hovers = 0;
    m.text.split('\n').forEach((line, l) => {
      for (let c = 0; c <= line.length; c++) {
        const at = { line: l, character: c };
        const fromFull = hover(doc, at, { model: analysis.model, report: full, reportIsCurrent: true });
        assert.deepEqual(
          hover(doc, at, { model: analysis.model, report: summary, reportIsCurrent: true }),
          fromFull,
          `hover at ${l}:${c}`,
        );
        if (fromFull) hovers++;
      }
    });
    assert.ok(hovers > 0, 'some hovers to compare');
    for (const p of full.parameters)
      if (p.perStep && p.layerTimes.length > 0)
        assert.equal(copyCount(summary.parameters.find((q: { name: string }) => q.name === p.name)), p.raw.length);
  });

test('the summary stays a few kB while the rows are millions of values; the tables say what the rows hold', () => {
  const N = 8192,
    width = 256;
  const row = () => Array.from({ length: width }, (_, j) => Math.sin(j));
  const layerTimes = Array.from({ length: N }, (_, n) => n / N);
  const rows = () => layerTimes.map(row);
  const parameter = (name: string) => ({
    name,
    shape: [128, 2],
    perStep: true,
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } },
    metrics: { alpha: 0.5, beta: 40, relError: 1.2, correctedRelError: 1e-3, gradcheckRelError: 1e-4 },
    oscillating: true,
    layerTimes,
    raw: rows(),
    corrected: rows(),
    reference: rows(),
    components: Array.from({ length: width }, (_, j) => j),
  });
  const report = {
    version: 1,
    scheme: 'leapfrog',
    steps: N,
    dt: 1 / N,
    t0: 0,
    total: 1,
    gradfix: 'none',
    correction: 'filter121',
    backend: 'cpu',
    loss: 1,
    referenceError: 1e-6,
    findings: [],
    parameters: [parameter('W1'), parameter('W2')],
    timings: { totalMs: 1, adMs: 1, referenceMs: 1, finiteDifferenceMs: 1 },
  } as unknown as Report;
  const { summary, tables } = splitReport(report);
  const bytes = JSON.stringify(summary).length;
  assert.ok(bytes < 50_000, `summary ${bytes} bytes`);
  assert.deepEqual(
    summary.rowTables?.map((t) => [t.view, t.target, t.rows, t.columns, t.series.join()]),
    [
      ['layers', 'W1', N, width, 'raw,corrected,reference'],
      ['layers', 'W2', N, width, 'raw,corrected,reference'],
    ],
  );
  assert.equal(tables[0].series[0].values.length, N * width);
  assert.equal(tables[0].series[0].values[5 * width + 3], Math.sin(3));
});
