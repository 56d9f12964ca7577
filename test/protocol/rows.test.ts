// A report sized for its reader, over a real LSP connection (node dist/server.js --stdio): a finished
// check sends its summary only, a few kB whatever the model's size; odeLens/rows answers the rows a plot
// shows — exactly the engine's while they fit the asked resolution, min and max per bucket beyond it —
// and refuses rows of a report that a newer check replaced.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ReportNotification, RowsRequest, type ReportParams, type RowsResult } from '../../protocol/customMessages';
import { runCheck } from '../../solver/check';
import { analyse } from '../../solver/language/index';
import type { RowsAnswer } from '../../solver/report';
import { type LspClient, startServer } from '../support/lspClient';

const root = join(__dirname, '..', '..', '..');

/** A per-step MLP of width 128 with `steps` leapfrog steps (the size the editor stalled on). */
function wide(steps: number): string {
  return [
    'state x[2]',
    'init x = [2, 0]',
    'param W1[128,2] per-step ~ normal(0, 0.3)',
    'param b1[128] per-step = 0',
    'param W2[2,128] per-step ~ normal(0, 0.106)',
    "x' = W2 @ tanh(W1 @ x + b1)",
    'loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)',
    `@ total=1, steps=${steps}, meth=leapfrog, seed=1`,
    'done',
    '',
  ].join('\n');
}

const rowsOf = (r: RowsResult): RowsAnswer => {
  assert.ok('rows' in r, JSON.stringify(r));
  return r.rows;
};

describe('report summary and rows over LSP', { timeout: 300_000 }, () => {
  let client: LspClient;
  const reports: ReportParams[] = [];

  before(async () => {
    ({ client } = await startServer({
      check: { enabled: true, debounceMs: 0, timeBudgetMs: 200_000 },
      backend: 'cpu',
    }));
    client.conn.onNotification(ReportNotification.type, (p) => {
      reports.push(p);
    });
  });
  after(async () => client?.stop());

  const reportFor = (uri: string, version = 1) =>
    client.until(
      `the report of ${uri} v${version}`,
      () => reports.find((r) => r.uri === uri && r.version === version),
      200_000,
    );

  it("sends the spiral's summary; its rows, asked for, are the engine's own", async () => {
    const path = join(root, 'examples', 'spiral.ode');
    const text = readFileSync(path, 'utf8');
    const uri = pathToFileURL(path).toString();
    await client.open(uri, text);
    const params = await reportFor(uri);
    const bytes = JSON.stringify(params).length;
    assert.ok(bytes < 30_000, `the report notification is ${bytes} bytes`);
    assert.ok(params.key, 'the report names its rows');
    const table = params.report.rowTables?.find((t) => t.view === 'layers' && t.target === 'W1');
    assert.ok(table, JSON.stringify(params.report.rowTables));
    assert.equal(table.rows, 64);
    assert.equal((params.report.parameters[0] as { raw?: unknown }).raw, undefined, 'no rows in the summary');

    const rows = rowsOf(
      await client.conn.sendRequest(RowsRequest.type, {
        uri,
        key: params.key,
        query: { view: 'layers', target: 'W1', columns: [0, 5], buckets: 600 },
      }),
    );
    assert.equal(rows.downsampled, false);
    // The same check in this process (cpu, seeded): the server's rows are its rows, value for value.
    const model = analyse(text).model!;
    const expected = (await runCheck(model, { backend: 'cpu' })).parameters.find((p) => p.name === 'W1')!;
    for (const s of rows.series) {
      const source = expected[s.series as 'raw' | 'corrected' | 'reference'];
      assert.deepEqual(
        s.y,
        source.map((row) => (Number.isFinite(row[s.column]) ? row[s.column] : null)),
        `${s.series}[${s.column}]`,
      );
      assert.deepEqual(
        s.x,
        s.series === 'corrected' ? (expected.correctedTimes ?? expected.layerTimes) : expected.layerTimes,
      );
    }

    // The trajectory x(t) and adjoint p(t) of the reference solve: x(0) is the init, p(T) = ∂ℓ/∂x(T) = x(T) − target.
    const ask = (view: 'trajectory' | 'adjoint') =>
      client.conn.sendRequest(RowsRequest.type, {
        uri,
        key: params.key,
        query: { view, target: 'state', columns: [0, 1], buckets: 4000 },
      });
    const labels = params.report.rowTables?.find((t) => t.view === 'trajectory')?.columnLabels;
    assert.deepEqual(labels, ['x[0]', 'x[1]']);
    const x = rowsOf(await ask('trajectory'));
    const p = rowsOf(await ask('adjoint'));
    assert.equal(x.downsampled, false);
    const first = (a: RowsAnswer, j: number) => a.series.find((s) => s.column === j)!.y[0]!;
    const last = (a: RowsAnswer, j: number) => a.series.find((s) => s.column === j)!.y.at(-1)!;
    assert.deepEqual([first(x, 0), first(x, 1)], [2, 0]);
    assert.ok(Math.abs(last(p, 0) - (last(x, 0) - 0.5)) < 1e-5, `p0(T) ${last(p, 0)}, x0(T) ${last(x, 0)}`);
    assert.ok(Math.abs(last(p, 1) - (last(x, 1) + 1)) < 1e-5, `p1(T) ${last(p, 1)}, x1(T) ${last(x, 1)}`);
    assert.equal(x.series[0].x.at(-1), 1, 'the trajectory runs to T');

    const stale = await client.conn.sendRequest(RowsRequest.type, {
      uri,
      key: 'an earlier report',
      query: { view: 'layers', target: 'W1', columns: [0], buckets: 100 },
    });
    assert.ok('stale' in stale && stale.stale, JSON.stringify(stale));
    const unknown = await client.conn.sendRequest(RowsRequest.type, {
      uri,
      query: { view: 'layers', target: 'nothing', columns: [0], buckets: 100 },
    });
    assert.match('message' in unknown ? unknown.message : '', /no layers rows for nothing/);
    const malformed = await client.conn.sendRequest(RowsRequest.type, {
      uri,
      query: { view: 'layers', target: 'W1', columns: 'all' } as never,
    });
    assert.match('message' in malformed ? malformed.message : '', /names a view, a target and its columns/);
    const none = await client.conn.sendRequest(RowsRequest.type, {
      uri: 'file:///not/open.ode',
      query: { view: 'layers', target: 'W1', columns: [0], buckets: 100 },
    });
    assert.match('message' in none ? none.message : '', /no gradient check result/);
  });

  it('a width-128, N = 2048 check sends a few kB, answers requests meanwhile, and its rows come at the asked width', async () => {
    const uri = 'untitled:wide.ode';
    const text = wide(2048);
    await client.open(uri, text);
    // Completions one after another while the check runs and finishes: none waits behind its result.
    const waits: number[] = [];
    const lines = text.split('\n');
    const at = { line: 5, character: lines[5].indexOf('tanh(') + 5 };
    while (!reports.some((r) => r.uri === uri)) {
      const t = performance.now();
      await client.conn.sendRequest('textDocument/completion', { textDocument: { uri }, position: at });
      waits.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
    const params = await reportFor(uri);
    // What the server sends for a check: the report notification, the diagnostics, the statuses.
    const largest = Math.max(
      JSON.stringify(params).length,
      ...client.published.filter((p) => p.uri === uri).map((p) => JSON.stringify(p).length),
      ...client.statuses.filter((p) => p.uri === uri).map((p) => JSON.stringify(p).length),
    );
    console.log(
      `# N = 2048 width 128: report notification ${JSON.stringify(params).length} bytes, largest message ${largest}; ${waits.length} completions, max wait ${Math.max(...waits).toFixed(1)} ms`,
    );
    assert.ok(largest < 300_000, `a message of ${largest} bytes`);
    // The target is 50 ms; the bound here leaves room for a loaded test machine (whole reports took seconds).
    assert.ok(Math.max(...waits) < 500, `a completion waited ${Math.max(...waits).toFixed(0)} ms`);

    const rows = rowsOf(
      await client.conn.sendRequest(RowsRequest.type, {
        uri,
        key: params.key,
        query: { view: 'layers', target: 'W2', columns: [3], buckets: 400 },
      }),
    );
    assert.equal(rows.rows, 2048);
    assert.equal(rows.downsampled, true);
    for (const s of rows.series)
      assert.ok(s.x.length <= 3 * 400 && s.x.length > 400, `${s.series}: ${s.x.length} points`);
    console.log(`# rows of W2[3] at 400 buckets: ${JSON.stringify(rows).length} bytes`);
    assert.ok(JSON.stringify(rows).length < 400_000);
  });
});
