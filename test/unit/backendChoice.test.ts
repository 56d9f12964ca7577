// auto's decisions remembered per machine (solver/engine/backendChoice.ts): identical runs take the same
// backend, a later process reuses the decision without measuring, and another version decides again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decisionFile, decisionKey, rememberDecision, rememberedDecision } from '../../solver/engine/backendChoice';

const ROOT = join(__dirname, '..', '..', '..');
const cli = join(ROOT, 'dist/cli.js');

test('a decision is remembered under its key, and another key (another version) discards it', () => {
  process.env.ODELENS_CACHE_DIR = mkdtempSync(join(tmpdir(), 'odelens-choice-'));
  const key = decisionKey('4.22.0');
  assert.match(key, /^odelens \d+\.\d+\.\d+ · tfjs 4\.22\.0 · .+ ×\d+$/);
  assert.equal(rememberedDecision(key, 85), undefined);
  const d = { backend: 'wasm' as const, cpuMs: 3, wasmMs: 1, date: '2026-12-04T00:00:00.000Z' };
  rememberDecision(key, 85, d);
  rememberDecision(key, 86, { ...d, backend: 'cpu' });
  assert.deepEqual(rememberedDecision(key, 85), d);
  assert.equal(rememberedDecision(key, 86)?.backend, 'cpu');
  const other = decisionKey('4.23.0');
  assert.equal(rememberedDecision(other, 85), undefined, 'another TF.js version decides again');
  rememberDecision(other, 90, d);
  assert.equal(rememberedDecision(key, 85), undefined, "the old version's decisions are gone");
  // A damaged file is read as empty, never as an error.
  writeFileSync(decisionFile(), '{ not json');
  assert.equal(rememberedDecision(other, 90), undefined);
  delete process.env.ODELENS_CACHE_DIR;
});

/** A model whose size class auto measures: 1,024 parameter values per step. */
const NETWORK = `state x[2]
init x = [1, 0]
param W[256,2] per-step ~ normal(0, 0.3)
param V[2,256] per-step ~ normal(0, 0.1)
x' = V @ tanh(W @ x)
loss = 0.5 * sum(x(T)^2)
@ total=1, steps=16, meth=rk4, seed=3
done
`;

test('identical CLI runs take the same backend: the first measures, later ones remember', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-choice-cli-'));
  const file = join(dir, 'net.ode');
  writeFileSync(file, NETWORK);
  const check = () => {
    const r = spawnSync(process.execPath, [cli, 'check', file, '--json'], {
      encoding: 'utf8',
      env: { ...process.env, ODELENS_CACHE_DIR: join(dir, 'cache') },
    });
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    return JSON.parse(r.stdout) as { backend: string; backendReason?: string };
  };
  const first = check();
  if (first.backend === 'tensorflow') return; // tfjs-node is installed: auto takes it, nothing to decide
  assert.match(first.backendReason ?? '', /measured now/);
  const runs = [check(), check()];
  for (const r of runs) {
    assert.equal(r.backend, first.backend, 'the same backend as the first run');
    assert.match(r.backendReason ?? '', /remembered in .*backend-choices\.json/);
  }
  const stored = JSON.parse(readFileSync(join(dir, 'cache', 'backend-choices.json'), 'utf8'));
  assert.match(stored.key, /^odelens /);
  // Another version's file: decided again.
  writeFileSync(join(dir, 'cache', 'backend-choices.json'), JSON.stringify({ ...stored, key: 'odelens 0.0.0' }));
  assert.match(check().backendReason ?? '', /measured now/);
});

test('the CLI on a small model takes cpu by rule: no measurement at all', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-choice-rule-'));
  const r = spawnSync(process.execPath, [cli, 'check', join(ROOT, 'examples/models/harmonic.ode'), '--json'], {
    encoding: 'utf8',
    env: { ...process.env, ODELENS_CACHE_DIR: dir },
  });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  if (j.backend === 'tensorflow') return;
  assert.equal(j.backend, 'cpu');
  assert.match(j.backendReason, /by rule/);
  assert.equal(existsSync(join(dir, 'backend-choices.json')), false, 'nothing measured, nothing written');
});
