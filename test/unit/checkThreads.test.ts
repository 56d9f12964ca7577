// The check's second thread (solver/check/thread.ts): the continuous reference run on a worker thread gives the report
// one thread gives (a fused scalar model, a TF.js network, events, a delay's refined reference, a map's event edge, a
// Markov variable's realised path), a cancelled check
// stops the helper too, and a helper that fails or dies gives the same diagnostic or report as no helper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, type CheckOptions } from '../../solver/check';
import { secondThreadCounts } from '../../solver/check/thread';
import type { Model } from '../../solver/model';
import type { Report } from '../../solver/report';
import { repoRoot } from '../support/repo';
import { modelOf } from '../support/timeStepping';
import { spiral } from './engineFixtures';

const BUNDLE = join(repoRoot(), 'dist', 'checkThread.js');
// Every check starts the helper and hands its reference over, however small.
const THREADED: CheckOptions = {
  backend: 'cpu',
  threads: 2,
  threadScript: BUNDLE,
  threadMinAdMs: 0,
  threadMinSolveWork: 0,
  threadTensorModels: true,
};

const FHN = `# FitzHugh-Nagumo
v'=v-v^3/3-w+i
w'=eps*(v+a-b*w)
par i=0.5, a=0.7, b=0.8, eps=0.08
init v=-1, w=1
loss = v(T)^2 + w(T)^2
@ total=40, dt=0.02, meth=rk4
done
`;
const IAF = `v'=-v+i
par i=1.5, vr=0.2
global 1 v-1 {v=vr}
loss = v(T)^2
@ total=5, dt=0.01, meth=rk4
done
`;
const DELAY = `x'=-a*delay(x,tau)
par a=0.8, tau=0.973
init x=1
loss = x(T)^2
@ total=3, dt=0.01, delay=2
done
`;

// A map whose event sits on the edge of its test at t = t0 and moves with t0: the reference phase sets the check's
// map-event-edge finding, which must come back from the helper too.
const MAP_EDGE = `x(t+1) = a*x*(1-x) + b
par a=2.8, b=0.01, t0=0
init x=0.3
global 0 t-t0 {x=0.5}
loss = x(T)^2
@ total=200
done
`;

// A Markov variable: the helper must get the realised path, not the declared one (which holds the initial state).
const MARKOV = `par k=1.5, g=0.8, a=2, b=1
markov z 2
{0} {a*exp(x)}
{b} {0}
x' = -k*x + g*z
init x=0.2
loss = (x(T) - 0.3)^2
@ total=4, dt=0.01, seed=3
done
`;

const until = async (ok: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), 'timed out');
};

/** The report without its timings (the only part two runs may differ in). */
const untimed = ({ timings: _t, ...r }: Report) => r;

/** Starts the helper and waits until it has loaded (a check's helper is otherwise still loading at its reference). */
async function warmHelper(options: CheckOptions = THREADED): Promise<void> {
  await runCheck(modelOf(FHN), options);
  await until(() => secondThreadCounts().ready);
}

test('the checkThread bundle is built (npm test builds dist/ first)', () => {
  assert.ok(existsSync(BUNDLE), BUNDLE);
});

const MODELS: [string, () => Model, CheckOptions?][] = [
  ['a fused scalar model', () => modelOf(FHN)],
  ['a TF.js network (per-step parameters)', () => spiral({ steps: 128, width: 16 })],
  ['a model with events', () => modelOf(IAF)],
  ['a delay equation (refined reference from AD at N)', () => modelOf(DELAY), { refinedReferenceBudgetMs: Infinity }],
  ['a map with an event on the edge of its test (map-event-edge)', () => modelOf(MAP_EDGE)],
  ['a model with a Markov variable (its realised path)', () => modelOf(MARKOV)],
];

for (const [what, model, extra] of MODELS)
  test(`${what}: the report with the reference on the second thread equals the one-thread report`, async () => {
    await warmHelper();
    const one = await runCheck(model(), { backend: 'cpu', threads: 1, ...extra });
    // The check's thread runs the reference itself when the helper has not started it by the end of the finite
    // differences (a busy machine): a few tries until the helper ran it.
    let two: Report | undefined;
    for (let i = 0; i < 5 && !two; i++) {
      const answered = secondThreadCounts().answered;
      const r = await runCheck(model(), { ...THREADED, ...extra });
      if (secondThreadCounts().answered > answered) two = r;
    }
    assert.ok(two, 'the helper never ran the reference');
    assert.ok(one.parameters.length > 0 && Number.isFinite(one.referenceError));
    assert.deepStrictEqual(untimed(two), untimed(one));
    if (what.includes('map-event-edge')) assert.ok(two.findings.some((f) => f.code === 'map-event-edge'));
    assert.ok(two.timings.referenceMs > 0);
    // The timings say the reference overlapped the other phases (their sum may exceed the total), and only then.
    assert.equal(two.timings.referenceConcurrent, true);
    assert.equal(one.timings.referenceConcurrent, undefined);
  });

test('cancelling a check stops its second thread too, and the next check starts another', async () => {
  await warmHelper();
  const before = secondThreadCounts();
  const controller = new AbortController();
  // A long reference and no finite differences: the abort comes while the helper is in the reference. Euler's AD
  // evaluates f once a step, the RK4 reference at least eight times (its step and the halved one), so AD ends
  // well before the reference does, however loaded the machine.
  const long = FHN.replace('total=40, dt=0.02, meth=rk4', 'total=400, dt=0.005, meth=euler');
  const started = Date.now();
  await assert.rejects(
    runCheck(modelOf(long), {
      ...THREADED,
      gradcheck: false,
      signal: controller.signal,
      onPhase: (phase) => {
        if (phase === 'reference') controller.abort();
      },
    }),
    (e: Error) => e.name === 'CheckCancelled',
  );
  const after = secondThreadCounts();
  assert.equal(after.terminated, before.terminated + 1, 'the helper was stopped');
  assert.equal(after.alive, false);
  assert.equal(after.answered, before.answered, 'no reference came back');
  assert.ok(Date.now() - started < 60_000);
  const report = await runCheck(modelOf(FHN), THREADED);
  assert.equal(secondThreadCounts().started, after.started + 1);
  assert.deepStrictEqual(untimed(report), untimed(await runCheck(modelOf(FHN), { backend: 'cpu', threads: 1 })));
});

/** A stand-in helper: says it is ready, then claims each job and does `onJob` (JS source, `job` in scope). */
function fakeHelper(onJob: string, atLoad = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-'));
  const file = join(dir, 'checkThread.js');
  writeFileSync(
    file,
    `const { parentPort } = require('node:worker_threads');
${atLoad}
parentPort.on('message', (job) => {
  if (Atomics.compareExchange(job.claim, 0, 0, 1) !== 0) return parentPort.postMessage({ type: 'skipped', id: job.id });
  ${onJob}
});
parentPort.postMessage({ type: 'ready' });
`,
  );
  return file;
}

test("an error in the second thread's reference is the check's error (the editor's diagnostic), not a crash or a hang", async () => {
  const script = fakeHelper(
    "parentPort.postMessage({ type: 'failed', id: job.id, name: 'Error', message: 'the reference failed here' });",
  );
  await warmHelper({ ...THREADED, threadScript: script, threadMinAdMs: Infinity });
  await assert.rejects(runCheck(modelOf(FHN), { ...THREADED, threadScript: script }), /the reference failed here/);
});

test('a second thread that dies in the reference, or never starts, leaves the check to its own thread: the same report', async () => {
  const one = untimed(await runCheck(modelOf(FHN), { backend: 'cpu', threads: 1 }));
  const dies = fakeHelper('process.exit(3);');
  await warmHelper({ ...THREADED, threadScript: dies, threadMinAdMs: Infinity });
  const jobs = secondThreadCounts().jobs;
  assert.deepStrictEqual(untimed(await runCheck(modelOf(FHN), { ...THREADED, threadScript: dies })), one);
  assert.equal(secondThreadCounts().jobs, jobs + 1, 'the job went to the helper');
  const broken = fakeHelper('', "throw new Error('no bundle');");
  for (let i = 0; i < 3; i++)
    assert.deepStrictEqual(untimed(await runCheck(modelOf(FHN), { ...THREADED, threadScript: broken })), one);
});

test('a small fused model does not start the second thread', async () => {
  const script = fakeHelper("parentPort.postMessage({ type: 'skipped', id: job.id });");
  const small = { backend: 'cpu', threads: 2, threadScript: script } as const;
  const started = secondThreadCounts().started;
  // 40 evaluations of a few operations, far below THREAD_MIN_SOLVE_WORK.
  await runCheck(modelOf(FHN.replace('total=40, dt=0.02', 'total=1, dt=0.1')), small);
  assert.equal(secondThreadCounts().started, started);
  await runCheck(modelOf(FHN.replace('total=40, dt=0.02', 'total=1, dt=0.1')), { ...small, threadMinSolveWork: 0 });
  assert.equal(secondThreadCounts().started, started + 1);
});

test('a TF.js tensor model keeps its reference on the check thread unless threadTensorModels is set', async () => {
  await warmHelper();
  const tensor = { backend: 'cpu', threads: 2, threadScript: BUNDLE, threadMinAdMs: 0 } as const;
  // The helper is loaded (warmHelper's fused model started it): the default still posts no job for a TF.js model.
  const jobs = secondThreadCounts().jobs;
  const r = await runCheck(spiral({ steps: 128, width: 16 }), tensor);
  assert.equal(secondThreadCounts().jobs, jobs);
  assert.equal(r.timings.referenceConcurrent, undefined);
  await runCheck(spiral({ steps: 128, width: 16 }), { ...tensor, threadTensorModels: true });
  assert.equal(secondThreadCounts().jobs, jobs + 1);
});
