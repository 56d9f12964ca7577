// The check scheduler on its own, with stand-in worker scripts (plain JS written to a
// temp folder) that answer, hang, crash or ignore cancellation: the server's main thread
// must never wait on them, and a broken worker must be replaced.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { CheckRunner } from '../../server/checkRunner';
import type { ReportSummary } from '../../solver/report';

const dir = mkdtempSync(join(tmpdir(), 'odelens-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in worker: the text of the check request decides what it does. */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const timers = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'warmup') return parentPort.postMessage({ type: 'warm', backend: 'fake', ms: 1 });
  if (m.type === 'cancel') {
    const t = timers.get(m.id);
    if (t) { clearTimeout(t); timers.delete(m.id); parentPort.postMessage({ type: 'cancelled', id: m.id, ms: 0 }); }
    return;
  }
  const [kind, arg] = m.text.split(':');
  if (kind === 'ok') {
    timers.set(m.id, setTimeout(() => {
      timers.delete(m.id);
      parentPort.postMessage({ type: 'result', id: m.id, summary: { version: 1, text: m.text, backend: m.backend }, tables: [] });
    }, Number(arg)));
  } else if (kind === 'spin') {
    const end = Date.now() + Number(arg);
    while (Date.now() < end) {} // ignores cancel and the budget
    parentPort.postMessage({ type: 'result', id: m.id, summary: { version: 1, text: m.text }, tables: [] });
  } else if (kind === 'crash') {
    throw new Error('boom');
  } else if (kind === 'exit') {
    process.exit(3);
  } else if (kind === 'print') {
    console.log('noise on stdout');
    parentPort.postMessage({ type: 'error', id: m.id, message: 'engine said no', ms: 1 });
  }
});
parentPort.postMessage({ type: 'ready' });
`;
const workerPath = join(dir, 'worker.js');
writeFileSync(workerPath, WORKER);

/** Disposes the runner after the test, also when an assertion fails (a live worker would hang the process). */
function track(t: TestContext, runner: CheckRunner): CheckRunner {
  t.after(() => runner.dispose());
  return runner;
}

const req = (key: string, text: string, timeBudgetMs = 10_000) => ({
  key,
  text,
  backend: 'cpu' as const,
  timeBudgetMs,
});
const textOf = (r: ReportSummary) => (r as unknown as { text: string }).text;

describe('CheckRunner', { timeout: 60_000 }, () => {
  it('runs checks in a warm worker and reuses it', async (t) => {
    const runner = track(t, new CheckRunner(workerPath, { warmupBackend: 'cpu' }));
    runner.start();
    const a = await runner.run(req('a', 'ok:10'));
    const b = await runner.run(req('b', 'ok:10'));
    assert.equal(a.kind, 'done');
    assert.equal(b.kind, 'done');
    assert.equal(runner.stats.workersStarted, 1);
  });

  it('a newer check for the same document cancels the older one', async (t) => {
    const runner = track(t, new CheckRunner(workerPath));
    const first = runner.run(req('doc', 'ok:300'));
    await new Promise((r) => setTimeout(r, 50));
    const second = runner.run(req('doc', 'ok:10'));
    assert.deepEqual(await first, { kind: 'cancelled' });
    const out = await second;
    assert.equal(out.kind, 'done');
    if (out.kind === 'done') assert.equal(textOf(out.result.summary), 'ok:10');
    assert.equal(runner.stats.workersStarted, 1, 'a cooperative cancel keeps the warm worker');
  });

  it('terminates a worker that ignores cancellation when other work waits', async (t) => {
    const lines: string[] = [];
    const runner = track(t, new CheckRunner(workerPath, { cancelGraceMs: 100, log: (m) => lines.push(m) }));
    const stuck = runner.run(req('doc', 'spin:20000'));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const next = runner.run(req('doc', 'ok:10'));
    assert.deepEqual(await stuck, { kind: 'cancelled' });
    const out = await next;
    assert.equal(out.kind, 'done');
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    assert.equal(runner.stats.workersStarted, 2);
    assert.ok(
      lines.some((l) => /did not stop in time/.test(l)),
      lines.join('\n'),
    );
  });

  it('stops a check that exceeds its time budget', async (t) => {
    const runner = track(t, new CheckRunner(workerPath, { budgetGraceMs: 50 }));
    const out = await runner.run(req('doc', 'spin:20000', 200));
    assert.equal(out.kind, 'failed');
    if (out.kind === 'failed') assert.equal(out.reason, 'timeout');
    const again = await runner.run(req('doc', 'ok:5'));
    assert.equal(again.kind, 'done', 'a fresh worker serves the next check');
  });

  it('restarts a crashed worker (uncaught error or exit)', async (t) => {
    const runner = track(t, new CheckRunner(workerPath));
    const crash = await runner.run(req('doc', 'crash'));
    assert.equal(crash.kind, 'failed');
    if (crash.kind === 'failed') assert.equal(crash.reason, 'crash');
    const exit = await runner.run(req('doc', 'exit'));
    assert.equal(exit.kind, 'failed');
    const ok = await runner.run(req('doc', 'ok:5'));
    assert.equal(ok.kind, 'done');
    assert.equal(runner.stats.crashes, 2);
  });

  it('keeps worker output off stdout (the LSP channel) and reports engine errors', async (t) => {
    const lines: string[] = [];
    const runner = track(t, new CheckRunner(workerPath, { log: (m) => lines.push(m) }));
    const out = await runner.run(req('doc', 'print'));
    assert.deepEqual(out, { kind: 'failed', reason: 'error', message: 'engine said no', ms: 1 });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      lines.some((l) => l.includes('noise on stdout')),
      lines.join('\n'),
    );
  });

  it('hands a late result of a cancelled check to onLateReport (for the cache)', async (t) => {
    const late: string[] = [];
    const runner = track(t, new CheckRunner(workerPath, { onLateReport: (r) => late.push(r.text) }));
    const p = runner.run(req('doc', 'spin:200'));
    await new Promise((r) => setTimeout(r, 50));
    runner.cancel('doc');
    assert.deepEqual(await p, { kind: 'cancelled' });
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(late, ['spin:200']);
  });
});
