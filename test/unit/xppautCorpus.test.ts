// The corpus bench's classification, on what the real CLI prints: a complete check (a flow, and a map against its
// own adjoint, and events located at their firing times), a model without a continuous reference (simultaneous
// firings: checked, but not complete), a refusal and a language error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { classify, phasesOf, summary } from '../../bench/xppautCorpus';
import { repoRoot } from '../support/repo';

const cli = join(repoRoot(), 'dist/cli.js');

function classified(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-corpus-'));
  const file = join(dir, 'm.ode');
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [cli, 'check', file, '--backend', 'cpu', '--json'], { encoding: 'utf8' });
  return classify(r.status, r.stdout, r.stderr, false);
}

test('the corpus bench classifies what check --json reports', {
  skip: !existsSync(cli) && 'dist/cli.js not built',
}, () => {
  const decay = classified("par k=0.5\nx' = -k*x\ninit x=1\n@ total=1, dt=0.05, meth=rk4\ndone\n");
  assert.deepEqual(decay, { outcome: 'clean', complete: true, firstError: '' });
  const map = classified('par r=2.5\nx(t+1) = r*x*(1-x)\ninit x=0.1\n@ total=20\ndone\n');
  assert.deepEqual(map, { outcome: 'clean', complete: true, firstError: '' }, "a map's reference is its own adjoint");
  const events = classified("par a=1\nx' = a - x\nglobal 1 x-0.8 {x=0}\ninit x=0\n@ total=3, dt=0.05\ndone\n");
  assert.deepEqual(
    events,
    { outcome: 'clean', complete: true, firstError: '' },
    'events located at their firing times',
  );
  // Two events firing at one time cannot be differentiated: no continuous reference, so not complete.
  const twin = classified(
    "par a=1\nx' = a\ny' = a\nglobal 1 x-0.83 {x=0}\nglobal 1 y-0.83 {y=0}\n@ total=2, dt=0.05\ndone\n",
  );
  assert.equal(twin.outcome, 'clean');
  assert.equal(twin.complete, false, 'simultaneous firings have no continuous reference: the check is not complete');
  const refused = classified("export {x} {x}\nx' = -x\ninit x=1\ndone\n");
  assert.equal(refused.outcome, 'refused');
  assert.match(refused.firstError, /^unsupported-export: /);
  const broken = classified("x' = -x +\ndone\n");
  assert.equal(broken.outcome, 'error');
  assert.deepEqual(classify(null, '', '', true), { outcome: 'timeout', complete: false, firstError: 'timed out' });
  const integral = classified('u(t) = 1 + int{1#u}\n@ total=1, dt=0.05\ndone\n');
  assert.deepEqual(integral, { outcome: 'clean', complete: false, firstError: '', nothingToCheck: true });
  assert.equal(decay.nothingToCheck, undefined);
  // A leapfrog network with one copy per step: its AD gradient oscillates, a warning about the gradient.
  const leapfrog = classified(
    "state x\ninit x = 1\nparam a per-step = 0.5\nx' = -a*x\nloss = 0.5*x(T)^2\n@ total=1, steps=64, meth=leapfrog\ndone\n",
  );
  assert.equal(leapfrog.outcome, 'clean');
  assert.ok(leapfrog.warnings?.includes('oscillating-gradient'), `warnings: ${leapfrog.warnings}`);
  assert.equal(new Set(leapfrog.warnings).size, leapfrog.warnings?.length, 'each code once');
  // Lorenz over 20 time units: every gradient is computed, but finite differences do not settle (chaos).
  const lorenz = classified(
    "par s=10, r=28, b=2.667\nx' = s*(y-x)\ny' = x*(r-z)-y\nz' = x*y-b*z\ninit x=1, y=1, z=1\n@ total=20, dt=0.01, meth=rk4\ndone\n",
  );
  assert.equal(lorenz.complete, true);
  assert.equal(lorenz.unresolved, 3, 'finite differences judge none of s, r, b');
  assert.equal(decay.unresolved, undefined);
  const lines = summary([
    { file: 'a', seconds: 0.2, ...decay },
    { file: 'b', seconds: 12, ...twin },
    { file: 'c', seconds: 0.4, ...refused },
    { file: 'd', seconds: 0.1, ...broken },
    { file: 'e', seconds: 0.3, ...integral },
    { file: 'f', seconds: 0.2, ...leapfrog, warnings: ['weakly-stable-scheme', 'oscillating-gradient'] },
    { file: 'g', seconds: 0.2, ...decay, warnings: ['oscillating-gradient'] },
    { file: 'h', seconds: 0.2, ...broken, warnings: ['stiff'] },
    { file: 'i', seconds: 0.5, ...lorenz },
  ]);
  assert.deepEqual(lines, [
    'files: 9',
    'no error other than an honest unsupported-… one: 77.8% (7)',
    `complete gradient check: ${leapfrog.complete ? '44.4% (4)' : '33.3% (3)'}`,
    `complete among the files with a gradient to check (no parameter and no initial value: 1 left out): ${leapfrog.complete ? '50.0% (4)' : '37.5% (3)'}`,
    `complete, and finite differences judged AD for every parameter (none unresolved): ${leapfrog.complete ? '33.3% (3)' : '22.2% (2)'}`,
    'files without errors that get a warning: 2 (oscillating-gradient 2, weakly-stable-scheme 1)',
    'crashes: 0',
    'checks over 10 s: 1',
    'checks over 1 s: 1',
    'median check time: 0.20 s',
  ]);
});

test('the corpus bench reads a check’s phases from its report, and none from a language error', {
  skip: !existsSync(cli) && 'dist/cli.js not built',
}, () => {
  const run = (text: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'odelens-corpus-'));
    const file = join(dir, 'm.ode');
    writeFileSync(file, text);
    return spawnSync(process.execPath, [cli, 'check', file, '--backend', 'cpu', '--json'], { encoding: 'utf8' }).stdout;
  };
  const p = phasesOf(run("par k=0.5\nx' = -k*x\ninit x=1\n@ total=1, dt=0.05, meth=rk4\ndone\n"));
  assert.ok(p, 'a report has timings');
  for (const v of [p.totalMs, p.adMs, p.referenceMs, p.finiteDifferenceMs]) assert.ok(Number.isFinite(v) && v >= 0);
  assert.ok(p.totalMs >= p.adMs && p.totalMs >= p.referenceMs, 'the phases lie inside the check');
  assert.equal(phasesOf(run("x' = -x +\ndone\n")), undefined);
});

test('the corpus bench summarises the editor’s analysis times when its rows have them: the median and the slowest', () => {
  const row = (file: string, analysisMs?: number) => ({
    file,
    seconds: 0.2,
    outcome: 'clean' as const,
    complete: true,
    firstError: '',
    ...(analysisMs === undefined ? {} : { analysisMs }),
  });
  const timed = summary([row('a', 4), row('b', 120.4), row('c', 9), row('d', 31.6), row('e', 2)]);
  assert.equal(
    timed.at(-1),
    'editor analysis (on every edit; warm, the least of 3): median 9.0 ms, slowest b 120 ms, d 32 ms, c 9 ms',
  );
  // Rows without the time (a summary of older runs) get no such line.
  assert.ok(summary([row('a'), row('b')]).every((l) => !l.startsWith('editor analysis')));
});
