// The engine on real model files (front end + engine) and the odelens CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import { finiteDifferenceCheck } from '../../solver/engine/finiteDifferences';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { schemeByName } from '../../solver/schemes/schemes';
import { spiral } from './engineFixtures';

function root(): string {
  for (let d = __dirname, i = 0; i < 6; i++, d = resolve(d, '..'))
    if (existsSync(join(d, 'examples/spiral.ode'))) return d;
  return process.cwd();
}
const ROOT = root();
const read = (f: string) => readFileSync(join(ROOT, f), 'utf8');

test('examples/spiral.ode: warnings on the parameters and on meth=leapfrog; quick fix silences them', async () => {
  const text = read('examples/spiral.ode');
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  const r = await runCheck(a.model, { backend: 'cpu' });
  const lines = text.split('\n');
  const ws = r.findings.find((f) => f.code === 'weakly-stable-scheme');
  assert.ok(ws);
  const l = lines[ws.range.start.line];
  assert.equal(l.slice(ws.range.start.character, ws.range.end.character), 'leapfrog');
  assert.deepEqual(
    r.findings.filter((f) => f.code === 'oscillating-gradient').map((f) => f.parameter),
    ['W1', 'b1', 'W2'],
  );
  // The fix: gradfix=filter121 on the options line.
  const fixed = text.replace(/(@ [^\n]*meth=leapfrog[^\n]*)/, '$1, gradfix=filter121');
  const b = analyse(fixed);
  assert.ok(b.model, JSON.stringify(b.diagnostics));
  assert.equal(b.model.options.gradfix, 'filter121');
  const r2 = await runCheck(b.model, { backend: 'cpu' });
  assert.deepEqual(r2.findings, []);
  for (const p of r2.parameters) assert.ok(p.metrics.correctedRelError < 0.05);
});

test('examples/spiral-rk4.ode: clean', async () => {
  const a = analyse(read('examples/spiral-rk4.ode'));
  assert.ok(a.model);
  const r = await runCheck(a.model, { backend: 'cpu' });
  assert.deepEqual(r.findings, []);
});

test('gradcheck catches a wrong gradient', async () => {
  const { tf } = await initBackend('cpu');
  const m = spiral({ steps: 32, meth: 'heun' });
  const r = await runCheck(m, { backend: 'cpu' });
  const G = r.parameters.map((p) => Float32Array.from(p.raw.flat().map((d) => d * m.options.dt)));
  const { compiled } = compileModel(tf, m);
  try {
    const values = initialParameters(tf, m);
    const ok = finiteDifferenceCheck(tf, compiled, schemeByName('heun'), m, values, G, r.loss);
    assert.ok(
      ok.every((e) => e.relError < 0.01 && e.converged),
      JSON.stringify(ok),
    );
    const wrong = G.map((g) => g.map((x, k) => (k % 7 === 0 ? -x : x)));
    const bad = finiteDifferenceCheck(tf, compiled, schemeByName('heun'), m, values, wrong, r.loss);
    // A wrong gradient on a smooth loss: a mismatch, not an unresolvable step.
    assert.ok(
      bad.every((e) => e.relError > 0.05 && e.converged),
      JSON.stringify(bad),
    );
  } finally {
    compiled.dispose();
  }
});

const cli = join(ROOT, 'dist/cli.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8' });

test('odelens CLI', { skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)' }, () => {
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /odelens check FILE/);

  const lf = run('check', 'examples/spiral.ode');
  assert.equal(lf.status, 1, lf.stderr);
  assert.match(lf.stdout, /W1 .*OSCILLATES/);
  assert.match(lf.stdout, /examples\/spiral.ode:12:\d+: warning: leapfrog is weakly stable/);
  assert.match(lf.stdout, /ms total .* on (cpu|wasm|tensorflow)/);

  const rk = run('check', 'examples/spiral-rk4.ode', '--json', '--backend', 'cpu');
  assert.equal(rk.status, 0, rk.stderr);
  const j = JSON.parse(rk.stdout);
  assert.equal(j.file, 'examples/spiral-rk4.ode');
  assert.deepEqual(j.diagnostics, []);
  assert.equal(j.scheme, 'rk4');
  assert.equal(j.backend, 'cpu');
  assert.equal(j.parameters.length, 3);

  const missing = run('check', join('examples', 'nope.ode'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read/);

  const dir = mkdtempSync(join(tmpdir(), 'odelens-'));
  const bad = join(dir, 'bad.ode');
  writeFileSync(bad, "state x[2]\nx' = W @ x\nloss = sum(x(T))\ndone\n");
  const fe = run('check', bad);
  assert.equal(fe.status, 2);
  assert.match(fe.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: error: `));

  assert.equal(run('check', 'examples/spiral.ode', '--backend', 'gpu').status, 2);

  // A classic XPPAUT model has no loss: valid, checked for the default loss, said as information, exit status 0.
  const xpp = join(dir, 'decay.ode');
  writeFileSync(
    xpp,
    '# classic XPPAUT\ndx/dt = -a*x + y\ndy/dt = -y\npar a=1\ninit x=1, y=0.5\n@ total=2, dt=0.05, meth=rungekutta\ndone\n',
  );
  const nl = run('check', xpp, '--backend', 'cpu');
  assert.equal(nl.status, 0, nl.stdout + nl.stderr);
  assert.match(nl.stderr, /decay\.ode:2:\d+: information: No loss declared: gradients are checked for ½‖x\(T\)‖²/);
  assert.doesNotMatch(nl.stdout + nl.stderr, /warning/);
});

test("odelens check --refine: the per-level table from the engine's refinement study", {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  assert.match(run('--help').stdout, /--refine/);
  const r = run('check', 'examples/spiral.ode', '--refine', '--backend', 'cpu');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /refinement study/);
  assert.match(r.stdout, /parameter\s+steps\s+raw error\s+filter121 error\s+α\s+raw order\s+filter121 order/);
  // One row per level (N, 2N, 4N) under W1, then the orders from N to the last level above the float32 floor.
  assert.match(r.stdout, /\nW1\s+64\s.*\n\s+128\s.*\n\s+256\s/);
  const orders = [...r.stdout.matchAll(/^(\w+): 64→256 steps, raw order (\S+), filter121 order (\S+)$/gm)].map((m) => [
    Number(m[2]),
    Number(m[3]),
  ]);
  assert.equal(orders.length, 3, r.stdout);
  for (const [raw, corrected] of orders) {
    // Leapfrog's raw AD density does not converge (order ≈ 0); filter121 restores about second order.
    assert.ok(Math.abs(raw) < 0.2, `raw order ${raw}`);
    assert.ok(corrected >= 1.5, `filter121 order ${corrected}`);
  }
  // rk4's raw errors are at float32 resolution at every level: no order is printed, and no correction column offers
  // itself as a remedy for a gradient that is already right.
  const rk4 = run('check', 'examples/spiral-rk4.ode', '--refine', '--backend', 'cpu');
  assert.equal(rk4.status, 0, rk4.stderr);
  assert.doesNotMatch(rk4.stdout, /filter121/, rk4.stdout);
  assert.match(rk4.stdout, /raw order not observed \(errors at float32 resolution, ≤ 3e-6\)/);
  assert.match(rk4.stdout, /verdict: .*at float32 resolution \(≤ 3e-6\) at every step count, so no order is observed/);
  assert.doesNotMatch(rk4.stdout, /\(order -?[\d.]+\)|raw order -?\d/);
  // Without --refine there is no study table.
  assert.doesNotMatch(run('check', 'examples/spiral-rk4.ode', '--backend', 'cpu').stdout, /refinement study/);
});

test('odelens check --no-gradcheck: no finite differences, the same AD and reference figures', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  assert.match(run('--help').stdout, /--no-gradcheck/);
  type Json = {
    finiteDifferencesOff?: boolean;
    parameters: { name: string; metrics: { relError: number; gradcheckRelError: number | null } }[];
  };
  const json = (...flags: string[]) => {
    const r = run('check', 'examples/spiral-rk4.ode', '--json', '--backend', 'cpu', '--threads', '1', ...flags);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Json & { timings: { finiteDifferenceMs: number } };
  };
  const full = json();
  const off = json('--no-gradcheck');
  assert.ok(full.timings.finiteDifferenceMs > 0);
  assert.equal(off.timings.finiteDifferenceMs, 0);
  assert.equal(off.finiteDifferencesOff, true);
  assert.equal(full.finiteDifferencesOff, undefined);
  assert.deepEqual(
    off.parameters.map((p) => p.name),
    full.parameters.map((p) => p.name),
  );
  full.parameters.forEach((p, i) => {
    assert.equal(typeof p.metrics.gradcheckRelError, 'number', `${p.name} is checked by finite differences`);
    assert.equal(off.parameters[i].metrics.gradcheckRelError, null, `${p.name}: no finite differences`);
    assert.equal(off.parameters[i].metrics.relError, p.metrics.relError, `${p.name}: AD against the reference`);
  });
  const text = run('check', 'examples/spiral-rk4.ode', '--backend', 'cpu', '--no-gradcheck');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /ms total \(AD \d+, reference \d+, finite differences off \(--no-gradcheck\)\)/);
  assert.match(text.stdout, /\nparameter .*raw error\n/, 'the table without its gradcheck column');
  assert.match(
    run('check', 'examples/spiral-rk4.ode', '--backend', 'cpu').stdout,
    /\nparameter .*raw error +gradcheck\n/,
  );
  assert.equal(run('check', 'examples/spiral-rk4.ode', '--no-gradcheck=1').status, 2);
});

test('odelens check refuses bad flags by name, with exit 2', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const unknown = run('check', 'examples/spiral.ode', '--bogus');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^odelens: unknown option '--bogus'\n\nUsage: odelens check FILE/);
  assert.match(run('check', 'examples/spiral.ode', '--json=yes').stderr, /^odelens: unknown option '--json=yes'\n/);
  assert.equal(
    run('check', 'examples/spiral.ode', '--backend').stderr,
    'odelens: --backend must be one of auto, cpu, wasm, tensorflow\n',
  );
  assert.match(run('check', '--json').stderr, /^odelens: missing FILE\n/);
});
