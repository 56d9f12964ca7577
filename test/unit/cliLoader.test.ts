// The `odelens` command (dist/cli.js, scripts/cliLoader.cjs) runs the CLI bundle with V8's code cache: the
// first run writes the cache, later runs read it, a cache that does not fit (here: garbage) is rejected and
// rewritten, and the output is the same every time; a rebuilt bundle never runs the old one's compiled code.
// A location keeps one cache: a rebuilt bundle's replaces the old one. The build writes the bundles in ASCII,
// which the loader reads as one-byte strings; any other bundle as UTF-8.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isAscii } from 'node:buffer';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../support/repo';

const cli = join(repoRoot(), 'dist/cli.js');

test('dist/cli.js runs the CLI with a code cache it writes, reads and replaces when rejected', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const cache = mkdtempSync(join(tmpdir(), 'odelens-cli-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'odelens-cli-model-'));
  const model = join(dir, 'decay.ode');
  writeFileSync(model, "par k=0.5\nx' = -k*x\ninit x=1\n@ total=1, dt=0.05, meth=rk4\ndone\n");
  const run = () => {
    const r = spawnSync(process.execPath, [cli, 'check', model, '--backend', 'cpu', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, ODELENS_CACHE_DIR: cache },
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { timings?: unknown; parameters: unknown };
    delete out.timings;
    return out;
  };
  const first = run();
  const files = readdirSync(cache).filter((f) => f.endsWith('.v8cache'));
  assert.equal(files.length, 1, 'the first run writes one cache');
  const written = readFileSync(join(cache, files[0]));
  assert.ok(written.length > 1000);
  assert.deepEqual(run(), first, 'a run from the cache gives the same report');
  writeFileSync(join(cache, files[0]), 'not a code cache');
  assert.deepEqual(run(), first, 'a rejected cache only costs the compile');
  assert.ok(readFileSync(join(cache, files[0])).length > 1000, 'and is written afresh');
});

test("a rebuilt bundle of the same length does not run the old bundle's cached code", {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  // V8 checks a code cache against the source's length only: the loader's key must change with the content.
  const cache = mkdtempSync(join(tmpdir(), 'odelens-cli-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'odelens-cli-copy-'));
  copyFileSync(cli, join(dir, 'cli.js'));
  const bundle = join(dir, 'cliMain.js');
  const original = readFileSync(join(repoRoot(), 'dist/cliMain.js'), 'utf8');
  const version = (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  assert.ok(original.includes(`"${version}"`), 'the bundle holds the package version');
  writeFileSync(bundle, original);
  const run = () =>
    spawnSync(process.execPath, [join(dir, 'cli.js'), '--version'], {
      encoding: 'utf8',
      env: { ...process.env, ODELENS_CACHE_DIR: cache },
    }).stdout.trim();
  assert.equal(run(), `odelens ${version}`);
  assert.equal(run(), `odelens ${version}`, 'from the cache');
  const other = version.replace(/^\d/, (d) => String((Number(d) + 1) % 10));
  writeFileSync(bundle, original.replace(`"${version}"`, `"${other}"`));
  assert.equal(readFileSync(bundle, 'utf8').length, original.length);
  assert.equal(run(), `odelens ${other}`, 'the edited bundle runs, not the cached one');
  const caches = readdirSync(cache).filter((f) => f.endsWith('.v8cache'));
  assert.equal(caches.length, 1, `the edited bundle's cache replaced the old one: ${caches.join(', ')}`);
});

test("the check's second thread starts through the loader with a code cache of its own, and checks as without it", {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const cache = mkdtempSync(join(tmpdir(), 'odelens-thread-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'odelens-thread-model-'));
  const model = join(dir, 'lattice.ode');
  // Long enough that the reference runs on the second thread (the report says so: referenceConcurrent).
  writeFileSync(
    model,
    "par a=1.05, d=0.5\nu0' = -u0 + d*(u1 - u0)\nu[1..98]' = -u[j] + a*tanh(u[j-1]) + d*(u[j+1] - 2*u[j] + u[j-1])\nu99' = -u99 + d*(u98 - u99)\ninit u[0..99]=0.5\n@ total=100, dt=0.05\ndone\n",
  );
  const run = (threads: number) => {
    const r = spawnSync(
      process.execPath,
      [cli, 'check', model, '--backend', 'cpu', '--json', '--threads', String(threads)],
      { encoding: 'utf8', env: { ...process.env, ODELENS_CACHE_DIR: cache } },
    );
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    const out = JSON.parse(r.stdout) as { timings: { referenceConcurrent?: boolean } };
    const concurrent = !!out.timings.referenceConcurrent;
    delete (out as { timings?: unknown }).timings;
    return { out, concurrent };
  };
  const first = run(2);
  assert.ok(first.concurrent, 'the reference ran on the second thread');
  const threadCaches = () => readdirSync(cache).filter((f) => f.startsWith('thread-') && f.endsWith('.v8cache'));
  assert.equal(threadCaches().length, 1, "the thread wrote its bundle's cache");
  assert.ok(readFileSync(join(cache, threadCaches()[0])).length > 1000);
  const second = run(2);
  assert.ok(second.concurrent);
  assert.deepEqual(second.out, first.out, 'a thread from the cache gives the same report');
  assert.deepEqual(run(1).out, first.out, 'as one thread does');
});

test('the built bundles are ASCII, and the loader reads a bundle that is not as UTF-8', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  // The sources' comments hold θ, → and the like, which esbuild keeps; the build replaces them.
  for (const bundle of ['cliMain.js', 'checkThread.js', 'server.js', 'checkWorker.js'])
    assert.ok(isAscii(readFileSync(join(repoRoot(), 'dist', bundle))), `dist/${bundle} is ASCII`);
  const cache = mkdtempSync(join(tmpdir(), 'odelens-cli-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'odelens-cli-utf8-'));
  copyFileSync(cli, join(dir, 'cli.js'));
  writeFileSync(join(dir, 'cliMain.js'), "// θ\nprocess.stdout.write('ε → θ ≤ 1');\n");
  const r = spawnSync(process.execPath, [join(dir, 'cli.js')], {
    encoding: 'utf8',
    env: { ...process.env, ODELENS_CACHE_DIR: cache },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ε → θ ≤ 1');
});
