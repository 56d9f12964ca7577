// The pre-commit hook of .pre-commit-hooks.yaml, run by Debian's pre-commit on a scratch git repository
// (offline: `language: system` runs the `odelens` on PATH, here a shim for this clone's dist/cli.js, as
// `npm link` would make): a clean model passes, a leapfrog model with oscillating gradients stops the
// commit and the output names the finding. Skips without pre-commit (or fails with ODELENS_REQUIRE_E2E=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisiteOrSkip } from '../support/browser';
import { makeScratch, onPath, repoRoot } from '../support/e2e';

const ROOT = repoRoot();
const CLI = join(ROOT, 'dist/cli.js');

test('the odelens-check pre-commit hook passes a clean model and stops a commit with oscillating gradients', async (t) => {
  const preCommit = onPath('pre-commit') ?? (existsSync('/usr/bin/pre-commit') ? '/usr/bin/pre-commit' : undefined);
  if (!prerequisiteOrSkip(t, !!preCommit, 'pre-commit not found (apt-get install -y pre-commit)')) return;
  if (!prerequisiteOrSkip(t, existsSync(CLI), 'dist/cli.js missing (npm run build)')) return;
  const { root, env } = makeScratch('precommit');
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'odelens'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'odelens'), 0o755);
  const repo = join(root, 'models');
  mkdirSync(repo);
  const runEnv = {
    ...env,
    PATH: `${bin}:${process.env.PATH}`,
    PRE_COMMIT_HOME: join(root, 'pre-commit-cache'),
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
  };
  const sh = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, { cwd: repo, env: runEnv, encoding: 'utf8', timeout: 600_000 });
  assert.equal(sh('git', ['init', '-q']).status, 0);
  copyFileSync(join(ROOT, 'examples/spiral-rk4.ode'), join(repo, 'clean.ode'));
  assert.equal(sh('git', ['add', 'clean.ode']).status, 0);
  // try-repo runs the hook as this repository defines it (its working tree, committed or not).
  const clean = sh(preCommit!, ['try-repo', ROOT, 'odelens-check', '--files', 'clean.ode']);
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /ODE Lens gradient check\.+Passed/);

  copyFileSync(join(ROOT, 'examples/spiral.ode'), join(repo, 'leapfrog.ode'));
  assert.equal(sh('git', ['add', 'leapfrog.ode']).status, 0);
  const bad = sh(preCommit!, ['try-repo', ROOT, 'odelens-check', '--files', 'clean.ode', 'leapfrog.ode']);
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /ODE Lens gradient check\.+Failed/);
  assert.match(bad.stdout, /leapfrog\.ode:\d+:\d+: warning: .*\[oscillating-gradient\]/);
  assert.match(bad.stdout, /2 files: 1 clean, 1 with findings, 0 not checked; exit status 1/);
});
