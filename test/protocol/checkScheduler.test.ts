// The check scheduler and the report cache on their own: a stand-in runner (no worker)
// whose checks finish when the test says, real documents and a real cache. What the
// scheduler tells the listener is what the server sends the client.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckStatusParams, RunCheckResult } from '../../protocol/customMessages';
import { DEFAULT_SETTINGS, type OdeLensSettings } from '../../protocol/settings';
import type { ReportSummary } from '../../solver/report';
import type { CheckOutcome, CheckRequest, CheckRunnerOptions } from '../../server/checkRunner';
import { CheckScheduler, type Runner } from '../../server/checkScheduler';
import { DocumentStore, type OpenDocument } from '../../server/documentStore';
import { hashOf, ReportCache, reportVariant, type CheckResult } from '../../server/reportCache';

const MODEL = (meth: string) =>
  `state x[2]\ninit x = [1, 0]\nparam W[2,2] per-step ~ normal(0, 0.3)\nx' = W @ x\nloss = 0.5 * sum(x(T)^2)\n@ total=1, steps=8, meth=${meth}\ndone\n`;
const URI = 'untitled:model.ode';
const DEBOUNCE_MS = 30;

const fakeResult = (backend: string, findings = 0, totalMs = 7.3): CheckResult => ({
  summary: {
    backend,
    parameters: [],
    timings: { totalMs, adMs: 1, referenceMs: 1, finiteDifferenceMs: 1 },
    findings: Array.from({ length: findings }, () => ({ code: 'oscillating-gradient' })),
  } as unknown as ReportSummary,
  tables: [],
});

interface Job {
  request: CheckRequest;
  resolve: (o: CheckOutcome) => void;
  done: boolean;
}

/** A runner whose checks finish when the test calls `finish`. */
class FakeRunner implements Runner {
  readonly jobs: Job[] = [];
  started = 0;
  constructor(private readonly hooks: Pick<CheckRunnerOptions, 'onStart' | 'onLateReport'>) {}
  start(): void {
    this.started++;
  }
  run(request: CheckRequest): Promise<CheckOutcome> {
    return new Promise((resolve) => {
      this.jobs.push({ request, resolve, done: false });
      this.hooks.onStart?.(request);
    });
  }
  cancel(key?: string): void {
    for (const j of this.jobs)
      if (!j.done && (key === undefined || j.request.key === key)) this.settle(j, { kind: 'cancelled' });
  }
  isActive(key: string): boolean {
    return this.jobs.some((j) => !j.done && j.request.key === key);
  }
  async dispose(): Promise<void> {}
  finish(job: Job, outcome: CheckOutcome): void {
    if (job.done && outcome.kind === 'done') this.hooks.onLateReport?.(job.request, outcome.result);
    this.settle(job, outcome);
  }
  private settle(job: Job, outcome: CheckOutcome): void {
    if (job.done) return;
    job.done = true;
    job.resolve(outcome);
  }
}

function setup(settings: Partial<OdeLensSettings['check']> = {}) {
  const events: string[] = [];
  const statuses: Omit<CheckStatusParams, 'uri' | 'version'>[] = [];
  const store = new DocumentStore(() => {});
  const cache = new ReportCache();
  let runner: FakeRunner | undefined;
  const scheduler = new CheckScheduler({
    store,
    cache,
    settings: async () => ({
      ...DEFAULT_SETTINGS,
      check: { ...DEFAULT_SETTINGS.check, debounceMs: DEBOUNCE_MS, ...settings },
    }),
    createRunner: (hooks) => (runner = new FakeRunner(hooks)),
    listener: {
      publish: () => {
        events.push('publish');
        return [];
      },
      status: (_, p) => {
        statuses.push(p);
        events.push(`status ${p.state}${p.cached ? ' cached' : ''}${p.message && !p.cached ? `: ${p.message}` : ''}`);
      },
      report: (st, r) => events.push(`report v${st.version} ${r.summary.backend}`),
    },
    log: () => {},
  });
  /** What the server does on an edit. */
  const edit = (version: number, text: string): OpenDocument => {
    const known = store.get(URI);
    if (known) scheduler.cancel(known);
    const st = store.setContent(URI, version, text);
    scheduler.changed(st);
    return st;
  };
  return {
    events,
    statuses,
    store,
    cache,
    scheduler,
    edit,
    runner: () => runner!,
    runnerMade: () => runner !== undefined,
  };
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('check scheduler', () => {
  it('debounces edits: one check, of the latest content, after the last edit', async () => {
    const s = setup();
    s.edit(1, MODEL('euler'));
    await wait(DEBOUNCE_MS / 3);
    const st = s.edit(2, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 3);
    const jobs = s.runner().jobs;
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].request.text, MODEL('leapfrog'));
    s.runner().finish(jobs[0], { kind: 'done', result: fakeResult('cpu', 2) });
    await wait(0);
    assert.deepEqual(s.events, [
      'status queued',
      'status cancelled',
      'status queued',
      'status running',
      'publish',
      'status done',
      'report v2 cpu',
    ]);
    assert.equal(st.state, 'done');
    assert.equal(st.last?.hash, hashOf(MODEL('leapfrog')));
  });

  it('answers content seen before from the cache, without a check', async () => {
    const s = setup();
    const first = s.edit(1, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 2);
    s.runner().finish(s.runner().jobs[0], { kind: 'done', result: fakeResult('cpu') });
    await wait(0);
    s.edit(2, MODEL('rk4'));
    s.edit(3, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 2);
    assert.equal(s.runner().jobs.length, 1, 'no second check of the same content');
    assert.equal(s.events.at(-2), 'status done cached');
    assert.equal(first.version, 3);
    // A forced check ignores the cache.
    const forced = s.scheduler.schedule(first, true);
    await wait(5);
    assert.equal(s.runner().jobs.length, 2);
    s.runner().finish(s.runner().jobs[1], { kind: 'done', result: fakeResult('wasm') });
    assert.equal(((await forced) as RunCheckResult).report?.backend, 'wasm');
  });

  it("gives the report's check time, fresh and cached (not the worker's own timer)", async () => {
    const s = setup();
    const totalMs = 41.6;
    s.edit(1, MODEL('rk4'));
    await wait(DEBOUNCE_MS * 2);
    s.runner().finish(s.runner().jobs[0], { kind: 'done', result: fakeResult('cpu', 0, totalMs) });
    await wait(0);
    s.edit(2, MODEL('heun'));
    s.edit(3, MODEL('rk4'));
    await wait(DEBOUNCE_MS * 2);
    const done = s.statuses.filter((p) => p.state === 'done');
    assert.deepEqual(
      done.map((p) => [p.ms, !!p.cached]),
      [
        [Math.round(totalMs), false],
        [Math.round(totalMs), true],
      ],
    );
  });

  it('cancels the check of content that changed; its late report is cached, not shown', async () => {
    const s = setup();
    const st = s.edit(1, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 2);
    const old = s.runner().jobs[0];
    s.edit(2, MODEL('heun'));
    assert.ok(old.done, 'the running check was cancelled');
    assert.ok(s.events.includes('status cancelled'));
    s.runner().finish(old, { kind: 'done', result: fakeResult('late') });
    assert.equal(st.last, undefined, 'a report of old content does not become the current one');
    assert.equal(s.cache.get('auto', hashOf(MODEL('leapfrog')))?.summary.backend, 'late');
  });

  it('a failed check leaves one diagnostic on the scheme, for that content only', async () => {
    const s = setup();
    const st = s.edit(1, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 2);
    s.runner().finish(s.runner().jobs[0], { kind: 'failed', reason: 'timeout', message: 'too slow', ms: 99 });
    await wait(0);
    assert.equal(st.state, 'failed');
    assert.equal(st.failure?.diagnostic.code, 'check-timeout');
    assert.equal(
      st.failure?.diagnostic.message,
      'Gradient check stopped: too slow (setting odeLens.check.timeBudgetMs).',
    );
    const line = MODEL('leapfrog').split('\n')[st.failure!.diagnostic.range.start.line];
    const r = st.failure!.diagnostic.range;
    assert.equal(line.slice(r.start.character, r.end.character), 'meth=leapfrog');
  });

  it('with odeLens.check.finiteDifferences off: the worker is told, and a report with them is not taken for one without', async () => {
    const s = setup({ finiteDifferences: false });
    const hash = hashOf(MODEL('leapfrog'));
    s.cache.set(reportVariant('auto', true), hash, fakeResult('with finite differences'));
    const st = s.edit(1, MODEL('leapfrog'));
    await wait(DEBOUNCE_MS * 2);
    const [job] = s.runner().jobs;
    assert.ok(job, 'checked, not answered from the report with finite differences');
    assert.equal(job.request.finiteDifferences, false);
    s.runner().finish(job, { kind: 'done', result: fakeResult('without') });
    await wait(0);
    assert.equal(st.last?.report.backend, 'without');
    assert.equal(s.cache.get(reportVariant('auto', false), hash)?.summary.backend, 'without');
    assert.equal(s.cache.get(reportVariant('auto', true), hash)?.summary.backend, 'with finite differences');
    // The default asks for them (the request leaves the field out).
    const on = setup();
    on.edit(1, MODEL('heun'));
    await wait(DEBOUNCE_MS * 2);
    assert.equal(on.runner().jobs[0].request.finiteDifferences, undefined);
    on.runner().finish(on.runner().jobs[0], { kind: 'cancelled' });
  });

  it('does not check a model with errors, or when checks are off (unless forced)', async () => {
    const s = setup({ enabled: false });
    const broken = MODEL('rk4').replace("x' = W @ x", "x' = W @ nope");
    const st = s.edit(1, broken);
    assert.deepEqual(await s.scheduler.schedule(st, true), {
      state: 'cancelled',
      report: null,
      message: "the model has errors: line 4: Undefined name 'nope'",
    });
    s.edit(2, MODEL('rk4'));
    await wait(DEBOUNCE_MS * 2);
    assert.equal(s.runnerMade(), false, 'no worker while checks are off');
    assert.ok(st.checksDisabled);
    assert.ok(s.events.includes('publish'));
    const forced = s.scheduler.schedule(st, true);
    await wait(5);
    assert.equal(s.runner().jobs.length, 1, 'a forced check runs although checks are off');
    s.runner().finish(s.runner().jobs[0], { kind: 'skipped', message: 'nothing to do' });
    assert.deepEqual(await forced, { state: 'cancelled', report: null, message: 'nothing to do' });
  });
});

describe('report cache', () => {
  const withValues = (n: number): CheckResult => ({
    summary: { backend: 'cpu', findings: [], parameters: [] } as unknown as ReportSummary,
    tables: [{ info: {} as never, series: [{ name: 'raw', x: new Float64Array(n), values: new Float64Array(n) }] }],
  });

  it('forgets the least recently used report beyond its count', () => {
    const cache = new ReportCache({ maxEntries: 2, maxValues: 1000 });
    cache.set('cpu', 'a', { ...withValues(1) });
    cache.set('cpu', 'b', { ...withValues(1) });
    assert.ok(cache.get('cpu', 'a')); // a is now the most recent
    cache.set('cpu', 'c', { ...withValues(1) });
    assert.ok(cache.get('cpu', 'a'));
    assert.equal(cache.get('cpu', 'b'), undefined);
    assert.equal(cache.get('wasm', 'a'), undefined, 'keyed by backend too');
  });

  it('is bounded by the floats the reports hold; a report larger than the bound is not kept', () => {
    const cache = new ReportCache({ maxEntries: 10, maxValues: 100 });
    cache.set('cpu', 'a', { ...withValues(60) });
    cache.set('cpu', 'b', { ...withValues(60) });
    assert.equal(cache.get('cpu', 'a'), undefined);
    assert.ok(cache.get('cpu', 'b'));
    cache.set('cpu', 'b', { ...withValues(101) });
    assert.equal(cache.get('cpu', 'b'), undefined, 'the larger report replaced nothing and the old one is gone');
    assert.equal(cache.size, 0);
  });
});
