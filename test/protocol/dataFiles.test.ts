// Files a model names, over a real LSP connection: the server reads them without
// blocking (a FIFO named obs.csv, a file over the size limit), reads nothing for an
// untitled document, watches them (workspace/didChangeWatchedFiles, registered for
// exactly the files the open models read) and checks the model again when one changes
// on disk; when a changed file breaks the model, the status names the error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startServer, type LspClient } from '../support/lspClient';

const CHECK_TIMEOUT = 120_000;
const SEVERITY_ERROR = 1;

const model = (file: string) => `data obs = "${file}"
state x[1]
init x = [1]
par a = 0.5
x' = -a*x
loss = sum((x(obs) - obs)^2)
@ total=1, steps=16, meth=rk4
done
`;

/** Observations of x' = -0.5 x from x(0) = 1. */
const CSV = `t,x\n${[0.25, 0.5, 0.75, 1].map((t) => `${t},${Math.exp(-0.5 * t).toFixed(6)}`).join('\n')}\n`;

describe('data files over LSP', { timeout: 300_000 }, () => {
  let client: LspClient;
  let dir: string;
  const uriOf = (name: string) => pathToFileURL(join(dir, name)).toString();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'odelens-data-'));
    ({ client } = await startServer(
      {
        check: { enabled: true, debounceMs: 50, timeBudgetMs: 100_000 },
        backend: 'cpu',
        data: { maxFileSizeMB: 0.01 },
      },
      {
        root: dir,
        capabilities: { didChangeWatchedFiles: { dynamicRegistration: true, relativePatternSupport: true } },
      },
    ));
  });
  after(async () => {
    await client?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const errorsOf = (uri: string) => (client.lastDiagnostics(uri) ?? []).filter((d) => d.severity === SEVERITY_ERROR);

  it('refuses a FIFO named obs.csv at once, and keeps answering', async () => {
    execFileSync('mkfifo', [join(dir, 'pipe.csv')]);
    const uri = uriOf('fifo.ode');
    await client.open(uri, model('pipe.csv'));
    const [e] = errorsOf(uri);
    assert.equal(e?.code, 'data-file');
    assert.match(e.message, /"pipe\.csv" is a named pipe \(FIFO\); only regular files are read/);
    const hover = await client.request('textDocument/hover', {
      textDocument: { uri },
      position: { line: 3, character: 4 },
    });
    assert.ok(hover, 'the server still answers after meeting the FIFO');
  });

  it('refuses a file over the size limit (setting odeLens.data.maxFileSizeMB) without reading it', async () => {
    writeFileSync(join(dir, 'big.csv'), `t,x\n${'0.5,1\n'.repeat(4000)}`);
    const uri = uriOf('big.ode');
    await client.open(uri, model('big.csv'));
    const [e] = errorsOf(uri);
    assert.equal(e?.code, 'data-file');
    assert.match(
      e.message,
      /"big\.csv" is 24004 bytes, more than the 10486 bytes limit \(setting odeLens\.data\.maxFileSizeMB\)/,
    );
  });

  it('reads no file for an untitled document', async () => {
    const uri = 'untitled:Untitled-1';
    await client.open(uri, model('obs.csv'));
    const [e] = errorsOf(uri);
    assert.equal(e?.code, 'data-file');
    assert.match(e.message, /an unsaved \(untitled\) document reads no files/);
  });

  it('watches the data file and re-checks the model when it changes on disk', {
    timeout: CHECK_TIMEOUT * 2,
  }, async () => {
    const csv = join(dir, 'obs.csv');
    writeFileSync(csv, CSV);
    const uri = uriOf('watched.ode');
    await client.open(uri, model('obs.csv'));
    await client.until(
      'a done check',
      () => client.statuses.find((s) => s.uri === uri && s.state === 'done'),
      CHECK_TIMEOUT,
    );
    assert.deepEqual(errorsOf(uri), []);
    const registration = await client.until('a file watcher registration', () =>
      [...client.registrations].reverse().find((r) => r.method === 'workspace/didChangeWatchedFiles'),
    );
    const watchers = (
      registration.registerOptions as { watchers: { globPattern: { baseUri: string; pattern: string } }[] }
    ).watchers;
    assert.ok(
      watchers.some(
        (w) => w.globPattern.pattern === 'obs.csv' && w.globPattern.baseUri === pathToFileURL(dir).toString(),
      ),
      JSON.stringify(watchers),
    );

    // A malformed CSV written after the model was opened: the model is analysed again, unedited.
    const published = client.published.length;
    const statuses = client.statuses.length;
    writeFileSync(csv, 't,x\n0.25,0.9\n0.5,oops\n');
    await client.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: pathToFileURL(csv).toString(), type: 2 }],
    });
    const diags = await client.until('diagnostics after the data file changed', () => {
      const later = client.published
        .slice(published)
        .reverse()
        .find((p) => p.uri === uri);
      return later?.diagnostics.some((d) => d.code === 'data-malformed') && later.diagnostics;
    });
    const malformed = diags.find((d) => d.code === 'data-malformed')!;
    assert.match(malformed.message, /row 3, column 'x': 'oops' is not a finite number/);
    const status = await client.until('the status of the broken model', () =>
      client.statuses.slice(statuses).find((s) => s.uri === uri && s.state === 'cancelled'),
    );
    assert.equal(
      status.message,
      `the model has errors: line 1: Data 'obs': ${malformed.message.replace(/^Data 'obs': /, '')}`,
    );

    // Fixed on disk: checked again, clean.
    const before = client.statuses.length;
    writeFileSync(csv, CSV);
    await client.conn.sendNotification('workspace/didChangeWatchedFiles', {
      changes: [{ uri: pathToFileURL(csv).toString(), type: 2 }],
    });
    await client.until(
      'a done check after the fix',
      () => client.statuses.slice(before).find((s) => s.uri === uri && s.state === 'done'),
      CHECK_TIMEOUT,
    );
    assert.deepEqual(errorsOf(uri), []);
  });
});
