// The check's second thread (solver/check/thread.ts): the continuous reference run on a worker thread gives the report
// one thread gives (a fused scalar model, a TF.js network, events, a delay's refined reference, a map's event edge, a
// Markov variable's realised path), a cancelled check stops the helper too, and a helper that fails or dies gives the
// same diagnostic or report as no helper. The finite differences shared between the threads give the one-thread report
// too, whatever the helper does with its share, and so do those of a check whose model the helper compiled while AD
// ran (its reference follows AD), whose perturbed solves the helper takes while AD runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, type CheckOptions } from '../../solver/check';
import { secondThreadCounts } from '../../solver/check/thread';
import { FINITE_DIFFERENCES_OFF } from '../../solver/presentation/referenceText';
import type { Model } from '../../solver/model';
import type { Report } from '../../solver/report';
import { repoRoot } from '../support/repo';
import { modelOf } from '../support/timeStepping';
import { lorenzText } from '../support/chaotic';
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

// An integral equation and a differential one (XPPAUT's volterra scheme, solved on its plain-JS kernel): its reference
// is the limit of refined grids, which reads AD.
const VOLTERRA = `u(t)=sin(t)+a*cos(t)-.5*t*exp(-t)-.5*exp(-t)+int{(t-t')*exp(t'-t)*u}
v'=-b*v+u
par a=0.5, b=1
init v=0.2
loss = u(T)^2 + v(T)^2
@ total=10, dt=0.05
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

// Lorenz over many Lyapunov times (test/support/chaotic.ts): each unit of its finite differences takes some tens of ms.
const LORENZ = lorenzText(30, 0.001);

// Delayed and chaotic (Mackey–Glass over many cycles): a refined reference, handed over after AD, so the model is posted
// to compile before AD; finite differences that do not settle, three units of tens of ms each. Checked with no time
// for its refined solves (as a long delay model whose refined grids would take too long): the helper's reference is
// then quick, and it goes on to the finite differences.
const MACKEY = `x'=b*delay(x,tau)/(1+delay(x,tau)^10)-g*x
par b=0.2, g=0.1, tau=17
init x=0.5
loss = x(T)^2
@ total=400, dt=0.05, delay=20
done
`;

// Two vectors settled together by the combined probe (one unit) and two scalars (a unit each).
const NET = `state x[2]
init x = [1, -0.5]
param a[2] ~ normal(0, 0.5)
param b[2] ~ normal(0, 0.5)
par k=0.8, c=0.3
x' = k*tanh(a*[x[1], x[0]] + b) - c*x
loss = sum(x(T)^2)
@ total=20, dt=0.0005, meth=rk4, seed=1
done
`;

// The same with a matrix: TF.js's kernels per operation, whose finite differences batch their solves.
const NET_TFJS = `state x[3]
init x = [1, -0.5, 0.2]
param W[3,3] ~ normal(0, 0.5)
param b[3] ~ normal(0, 0.5)
par k=0.8, c=0.3
x' = k*tanh(W @ x + b) - c*x
loss = sum(x(T)^2)
@ total=2, dt=0.01, meth=rk4, seed=1
done
`;

// A map with events: the check's thread solves the unperturbed firings and the helper takes them from its job. Every
// step of t0 (the last unit: the helper's first) moves the firing at t = t0, which only those firings show.
const MAP_EVENTS = `x(t+1) = a*x*(1-x) + b + c*y
y(t+1) = 0.5*y + d*x + 0.5*t0
par a=2.8, b=0.01, c=0.05, d=0.1, t0=0
init x=0.3, y=0
global 1 x-0.7 {x=0.2}
global 0 t-t0 {y=0.5}
loss = x(T)^2 + y(T)^2
@ total=100000
done
`;

const until = async (ok: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), 'timed out');
};

/** The report without its timings (the only part two runs may differ in). */
const untimed = ({ timings: _t, ...r }: Report) => r;
/** Nor the refined solves' time its messages estimate when they were not taken (measured on the run's own solve). */
const unestimated = (r: Report) =>
  JSON.parse(JSON.stringify(untimed(r)).replace(/would take about [0-9.]+ s/g, 'would take about … s'));

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
  [
    'a Volterra integral equation on its plain-JS kernel (refined reference from AD at N)',
    () => modelOf(VOLTERRA),
    { refinedReferenceBudgetMs: Infinity },
  ],
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

test('a Volterra model on its plain-JS kernel uses the second thread by default: it is no TF.js tensor model', async () => {
  await warmHelper();
  const { threadTensorModels: _t, ...defaults } = THREADED;
  const options: CheckOptions = { ...defaults, refinedReferenceBudgetMs: Infinity };
  // The helper runs the reference unless the check's thread took it back first (a busy machine): a few tries.
  let concurrent = false;
  for (let i = 0; i < 5 && !concurrent; i++)
    concurrent = (await runCheck(modelOf(VOLTERRA), options)).timings.referenceConcurrent === true;
  assert.ok(concurrent, 'the Volterra check never ran its reference on the second thread');
  // A TF.js tensor model, the same options: its reference stays on the check's thread.
  const tensor = await runCheck(spiral({ steps: 128, width: 16 }), options);
  assert.equal(tensor.timings.referenceConcurrent, undefined);
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

/** A stand-in helper: says it is ready, then claims each reference job and does `onJob` (JS source, `job` in scope). */
function fakeHelper(onJob: string, atLoad = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-'));
  const file = join(dir, 'checkThread.js');
  writeFileSync(
    file,
    `const { parentPort } = require('node:worker_threads');
${atLoad}
parentPort.on('message', (job) => {
  if (job.type !== 'reference') return;
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

test('a job that cannot be posted to the second thread (a value structured clone refuses) stays on the check thread: the same report', async () => {
  const one = untimed(await runCheck(modelOf(FHN), { backend: 'cpu', threads: 1 }));
  await warmHelper();
  const jobs = secondThreadCounts().jobs;
  // A function among the model's fields: every job that carries the model fails to post.
  const unpostable = Object.assign(modelOf(FHN), { note: () => 'not cloneable' });
  assert.deepStrictEqual(untimed(await runCheck(unpostable, THREADED)), one);
  assert.equal(secondThreadCounts().jobs, jobs, 'no job reached the helper');
  // The helper still serves the next check.
  assert.deepStrictEqual(untimed(await runCheck(modelOf(FHN), THREADED)), one);
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

for (const [what, text] of [
  ['a chaotic model whose finite differences take a finer step', LORENZ],
  ['a model with a combined probe and scalar parameters', NET],
  ['a TF.js model (threadTensorModels) with a combined probe and scalar parameters', NET_TFJS],
  ['a map with events', MAP_EVENTS],
  ['a delay model compiled on the second thread while AD runs', MACKEY],
] as const)
  test(`${what}: finite differences shared with the second thread give the one-thread report`, async () => {
    await warmHelper();
    const extra: CheckOptions = text === MACKEY ? { refinedReferenceBudgetMs: 0 } : {};
    const one = await runCheck(modelOf(text), { backend: 'cpu', threads: 1, ...extra });
    assert.equal(one.timings.finiteDifferencesOnSecondThread, undefined);
    // The helper takes units only when it has finished the reference before the check's thread has claimed them all
    // (a busy machine): a few tries until it ran some.
    let two: Report | undefined;
    for (let i = 0; i < 5 && !two; i++) {
      const before = secondThreadCounts();
      const r = await runCheck(modelOf(text), { ...THREADED, ...extra });
      const after = secondThreadCounts();
      if (after.finiteDifferenceUnits > before.finiteDifferenceUnits) two = r;
      // A refined reference follows AD: the model went to the helper before AD, and its finite differences carry none.
      if (text === MACKEY) {
        assert.equal(after.compileJobs, before.compileJobs + 1, 'the model posted to compile before AD');
        assert.equal(after.finiteDifferenceJobsOnKeptModel, before.finiteDifferenceJobsOnKeptModel + 1);
      } else assert.equal(after.compileJobs, before.compileJobs);
    }
    assert.ok(two, 'the helper never ran a unit of the finite differences');
    assert.ok((two.timings.finiteDifferencesOnSecondThread ?? 0) > 0);
    assert.ok(one.parameters.every((p) => Number.isFinite(p.metrics.gradcheckRelError)));
    if (text === LORENZ) assert.ok(one.parameters.every((p) => p.metrics.gradcheckUnresolved));
    assert.deepStrictEqual(unestimated(two), unestimated(one));
  });

// Mackey–Glass over more cycles: AD takes long enough for the helper, done compiling, to solve perturbed solves
// meanwhile (engine/earlySolves.ts).
const MACKEY_LONG = MACKEY.replace('total=400', 'total=1500');

test('a delay model: the second thread takes perturbed solves while AD runs, and the report is the one-thread report', async () => {
  await warmHelper();
  const extra: CheckOptions = { refinedReferenceBudgetMs: 0 };
  const one = await runCheck(modelOf(MACKEY_LONG), { backend: 'cpu', threads: 1, ...extra });
  assert.equal(one.timings.finiteDifferencesEarly, undefined);
  // The helper solves some only when it has compiled before AD ends (a busy machine): a few tries until it did.
  let two: Report | undefined;
  for (let i = 0; i < 5 && !two; i++) {
    const r = await runCheck(modelOf(MACKEY_LONG), { ...THREADED, ...extra });
    if ((r.timings.finiteDifferencesEarly ?? 0) > 0) two = r;
  }
  assert.ok(two, 'the helper never took a perturbed solve while AD ran');
  // Two per slot: its + and − solves.
  assert.equal(two.timings.finiteDifferencesEarly! % 2, 0);
  assert.deepStrictEqual(unestimated(two), unestimated(one));
  // With time for its refined reference, the helper is to run that reference after AD: it takes no perturbed solve
  // meanwhile (only an AD slow enough to leave the reference out would let it start).
  const refined = await runCheck(modelOf(MACKEY_LONG), THREADED);
  if (refined.refinedReference) assert.equal(refined.timings.finiteDifferencesEarly, undefined);
  else assert.fail(`the refined reference was not taken: ${JSON.stringify(refined.referenceUnavailable)}`);
});

test('a delay model whose refined reference has no time limit: the second thread waits for it, taking no perturbed solve while AD runs', async () => {
  await warmHelper();
  // No limit for AD (an infinite budget) is a wait no timer can hold: it ends with the reference's job, not after 1 ms.
  for (let i = 0; i < 3; i++) {
    const r = await runCheck(modelOf(MACKEY_LONG), { ...THREADED, refinedReferenceBudgetMs: Infinity });
    assert.equal(r.timings.finiteDifferencesEarly, undefined, `run ${i + 1}`);
    assert.ok(r.refinedReference, 'the refined reference was taken');
  }
});

test('a second thread that dies in a perturbed solve taken while AD ran: the check thread waits once, then solves it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-'));
  const script = join(dir, 'checkThread.js');
  writeFileSync(
    script,
    `const { parentPort } = require('node:worker_threads');
parentPort.on('message', (job) => {
  if (job.type !== 'compile' || !job.early) return;
  Atomics.store(job.early.solves.states, 0, 1); // its first slot, started and never finished
  process.exit(3);
});
parentPort.postMessage({ type: 'ready' });
`,
  );
  const extra: CheckOptions = { refinedReferenceBudgetMs: 0 };
  const one = await runCheck(modelOf(MACKEY), { backend: 'cpu', threads: 1, ...extra });
  await warmHelper({ ...THREADED, threadScript: script, gradcheck: false });
  const before = secondThreadCounts();
  const two = await runCheck(modelOf(MACKEY), { ...THREADED, threadScript: script, ...extra });
  assert.equal(secondThreadCounts().compileJobs, before.compileJobs + 1, 'the model and its slots went to the helper');
  assert.equal(two.timings.finiteDifferencesEarly, undefined);
  assert.deepStrictEqual(unestimated(two), unestimated(one));
});

test('a check without finite differences posts no perturbed solves to the second thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-'));
  const script = join(dir, 'checkThread.js');
  const marks = join(dir, 'early');
  // Notes each compile job's early solves and declines every job (the check's thread runs them all).
  writeFileSync(
    script,
    `const { parentPort } = require('node:worker_threads');
const { appendFileSync } = require('node:fs');
parentPort.on('message', (job) => {
  if (job.type === 'compile') appendFileSync(${JSON.stringify(marks)}, job.early ? 'early\\n' : 'none\\n');
});
parentPort.postMessage({ type: 'ready' });
`,
  );
  const extra: CheckOptions = { refinedReferenceBudgetMs: 0, threadScript: script };
  await warmHelper({ ...THREADED, ...extra, gradcheck: false });
  const posted = () => (existsSync(marks) ? readFileSync(marks, 'utf8').trim().split('\n') : []);
  const off = await runCheck(modelOf(MACKEY), { ...THREADED, ...extra, gradcheck: false });
  assert.ok(off.parameters.every((p) => !Number.isFinite(p.metrics.gradcheckRelError)));
  assert.deepEqual(posted(), ['none'], 'the model went to compile, without perturbed solves');
  // Without the refined reference (no budget for it), the note on the missing reference says nothing judges AD.
  const note = (r: Report) => r.findings.find((f) => f.code === 'reference-unavailable')?.message ?? '';
  assert.ok(note(off).endsWith(FINITE_DIFFERENCES_OFF), note(off));
  const on = await runCheck(modelOf(MACKEY), { ...THREADED, ...extra });
  assert.deepEqual(posted(), ['none', 'early'], 'with finite differences, their early solves went along');
  assert.ok(note(on).length > 0 && !note(on).includes(FINITE_DIFFERENCES_OFF), note(on));
});

/** A stand-in helper that leaves references alone (the check's thread runs them) and does `onJob` with a finite-difference job. */
function finiteDifferenceHelper(onJob: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-'));
  const file = join(dir, 'checkThread.js');
  writeFileSync(
    file,
    `const { parentPort } = require('node:worker_threads');
const claimAll = (job) => { for (let k = 0; k < job.units.length; k++) Atomics.compareExchange(job.claims, k, 0, 1); };
parentPort.on('message', (job) => {
  if (job.type !== 'finite differences') return;
  ${onJob}
});
parentPort.postMessage({ type: 'ready' });
`,
  );
  return file;
}

test('a second thread that never takes its share of the finite differences, dies in it or fails leaves it to the check thread: the same report', async () => {
  const one = untimed(await runCheck(modelOf(LORENZ), { backend: 'cpu', threads: 1 }));
  for (const onJob of [
    '',
    'claimAll(job); process.exit(5);',
    "claimAll(job); parentPort.postMessage({ type: 'failed', id: job.id, name: 'Error', message: 'lost' });",
  ]) {
    const script = finiteDifferenceHelper(onJob);
    // Warmed by a check without finite differences (the helper's reaction to them is under test).
    await warmHelper({ ...THREADED, threadScript: script, gradcheck: false });
    const jobs = secondThreadCounts().finiteDifferenceJobs;
    const two = await runCheck(modelOf(LORENZ), { ...THREADED, threadScript: script });
    assert.equal(secondThreadCounts().finiteDifferenceJobs, jobs + 1, `${onJob}: the job went to the helper`);
    assert.equal(two.timings.finiteDifferencesOnSecondThread, undefined);
    assert.deepStrictEqual(untimed(two), one, onJob);
  }
});

test('cancelling a check in the middle of shared finite differences stops the second thread', async () => {
  // The helper claims every unit it can and never answers: the check's thread waits for it until the abort.
  const script = finiteDifferenceHelper('claimAll(job);');
  await warmHelper({ ...THREADED, threadScript: script, gradcheck: false });
  const before = secondThreadCounts();
  const controller = new AbortController();
  const started = Date.now();
  await assert.rejects(
    runCheck(modelOf(LORENZ), {
      ...THREADED,
      threadScript: script,
      signal: controller.signal,
      onPhase: (phase) => {
        if (phase === 'finite differences') setTimeout(() => controller.abort(), 100);
      },
    }),
    (e: Error) => e.name === 'CheckCancelled',
  );
  const after = secondThreadCounts();
  assert.equal(after.finiteDifferenceJobs, before.finiteDifferenceJobs + 1);
  assert.equal(after.terminated, before.terminated + 1, 'the helper was stopped');
  assert.equal(after.alive, false);
  assert.ok(Date.now() - started < 60_000);
  // The next check starts another helper, and its report is the one-thread report.
  const report = await runCheck(modelOf(NET), THREADED);
  assert.equal(secondThreadCounts().started, after.started + 1);
  assert.deepStrictEqual(untimed(report), untimed(await runCheck(modelOf(NET), { backend: 'cpu', threads: 1 })));
});
