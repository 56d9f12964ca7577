// The check status the server sends (the editor's status bar item) agrees with the
// diagnostics it publishes: its finding count is the number of ODE Lens errors and
// warnings in the Problems panel, a model without a loss is checked (and noted as
// information, not warned about), and when no check runs the status says why. Its time is
// its report's: the number the plots' header, the hovers, the lens and `odelens check` show.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetReportRequest } from '../../protocol/customMessages';
import { startServer, type LspClient } from '../support/lspClient';

const CHECK_TIMEOUT = 120_000;
/** LSP severities. */
const DiagnosticSeverity = { Error: 1, Warning: 2, Information: 3 } as const;

/** Per-stage midpoint (zero-weight first stage): a static warning and one measured warning per parameter. */
const MIDPOINT_PER_STAGE = `state x[2]
init x = [1, 0]
param W1[4,2] per-step ~ normal(0, 0.5)
param W2[2,4] per-step ~ normal(0, 0.5)
x' = W2 @ tanh(W1 @ x)
@ total=1, steps=32, meth=midpoint, tie=stage, seed=3
done
`;

const XPPAUT_NO_LOSS = `# classic XPPAUT: no loss
dx/dt = -a*x + y
dy/dt = -y
par a=1
init x=1, y=0.5
@ total=2, dt=0.05, meth=rungekutta
done
`;

describe('check status vs published diagnostics', { timeout: 300_000 }, () => {
  let client: LspClient;

  before(async () => {
    ({ client } = await startServer({
      check: { enabled: true, debounceMs: 50, timeBudgetMs: 100_000 },
      backend: 'cpu',
    }));
  });
  after(async () => client?.stop());

  const done = (uri: string, version: number) =>
    client.until(
      `done status for ${uri} v${version}`,
      () => client.statuses.find((s) => s.uri === uri && s.version === version && s.state === 'done'),
      CHECK_TIMEOUT,
    );

  it('counts the errors and warnings it published (per-stage midpoint: static and measured warnings)', {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    const uri = 'untitled:midpoint-per-stage.ode';
    await client.open(uri, MIDPOINT_PER_STAGE);
    const status = await done(uri, 1);
    // The diagnostics of the checked text: published with the report, before the done status.
    const diags = client.lastDiagnostics(uri, 1)!;
    const warnings = diags.filter(
      (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
    );
    const codes = warnings.map((d) => String(d.code)).sort();
    assert.ok(
      codes.includes('zero-stage-weight') && codes.filter((c) => c === 'stage-imbalance').length === 2,
      JSON.stringify(codes),
    );
    assert.equal(status.findings, warnings.length, `status ${status.findings} vs Problems ${JSON.stringify(codes)}`);
  });

  it('checks a model without a loss, with the default loss as information and no warning', {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    const uri = 'untitled:xppaut-no-loss.ode';
    await client.open(uri, XPPAUT_NO_LOSS);
    const status = await done(uri, 1);
    const diags = client.lastDiagnostics(uri, 1)!;
    const note = diags.find((d) => d.code === 'default-loss');
    assert.ok(note, JSON.stringify(diags));
    assert.equal(note.severity, DiagnosticSeverity.Information);
    assert.match(note.message, /^No loss declared: gradients are checked for ½‖x\(T\)‖²/);
    assert.ok(
      !diags.some((d) => d.severity === DiagnosticSeverity.Warning || d.severity === DiagnosticSeverity.Error),
      JSON.stringify(diags),
    );
    assert.equal(status.findings, 0);
  });

  it("shows its report's check time, as the lens and the hover on meth do, fresh and from the cache", {
    timeout: CHECK_TIMEOUT + 10_000,
  }, async () => {
    const uri = 'untitled:timed.ode';
    // Text of its own: the cache answers a text seen before.
    const text = XPPAUT_NO_LOSS.replace('a=1', 'a=0.5');
    await client.open(uri, text);
    const status = await done(uri, 1);
    const report = await client.conn.sendRequest(GetReportRequest.type, { uri });
    assert.ok(report && !status.cached);
    // The report's total in whole ms (not the worker's own timer, which also counts reading the model).
    const ms = Math.round(report.timings.totalMs);
    assert.equal(status.ms, ms, `status ${status.ms} ms vs report ${report.timings.totalMs} ms`);
    const lenses = await client.request<{ command: { title: string } }[]>('textDocument/codeLens', {
      textDocument: { uri },
    });
    const verdict = lenses.find((l) => l.command.title.startsWith('Last check'));
    assert.ok(verdict?.command.title.endsWith(`, ${ms} ms`), verdict?.command.title);
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.startsWith('@'));
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', {
      textDocument: { uri },
      position: { line, character: lines[line].indexOf('meth') + 1 },
    });
    assert.match(hover.contents.value, new RegExp(` · check time ${ms} ms\\b`));
    // The same text in a second document: answered from the cache, with the same time.
    const copy = 'untitled:timed-copy.ode';
    await client.open(copy, text);
    const cached = await done(copy, 1);
    assert.ok(cached.cached);
    assert.equal(cached.ms, ms);
  });

  it('says why no check runs for a model with errors, from the first version on', async () => {
    const uri = 'untitled:broken.ode';
    await client.open(uri, "state x\nx' = (1 +\ndone\n");
    const status = await client.until(
      'a status for the broken model',
      () => client.statuses.find((s) => s.uri === uri && s.version === 1),
      10_000,
    );
    assert.equal(status.state, 'cancelled');
    // The reason names the first error and its line.
    assert.equal(
      status.message,
      "the model has errors: line 2: Expected a number, a name, '(' or '[', found end of line",
    );
  });
});
