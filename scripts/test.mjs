// The test command: type-check, build, then run every test with node's test runner.
// The browser and editor suites need Chromium, Neovim and code-server: as root (with apt-get)
// this installs what the selected suites need with scripts/setup-e2e.sh first (idempotent; set
// ODELENS_NO_SETUP=1 not to). Otherwise those suites skip with a printed reason, and the last
// lines list every skipped test and the command that enables them. With ODELENS_REQUIRE_E2E=1
// (CI) a missing prerequisite fails instead of skipping.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const SETUP = 'bash scripts/setup-e2e.sh';
const run = (cmd, args, env = {}) => {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  // auto's backend decisions (solver/engine/backendChoice.ts) go to the work tree's scratch folder, not the user's cache.
  const cache = { ODELENS_CACHE_DIR: process.env.ODELENS_CACHE_DIR ?? join(root, '.scratch/odelens-cache') };
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...cache, ...env } }).status ?? 1;
};
const runOrExit = (cmd, args) => {
  const status = run(cmd, args);
  if (status !== 0) process.exit(status);
};

// A fresh clone: install first, so `npm test` is one of the README's two setup commands.
if (!existsSync(join(root, 'node_modules/.package-lock.json')))
  runOrExit('npm', ['install', '--no-audit', '--no-fund']);

const only = process.argv.slice(2); // optional folders or files under test/, e.g. `npm test -- unit`
rmSync(join(root, 'out'), { recursive: true, force: true });
runOrExit('npm', ['run', '--silent', 'typecheck']); // each layer's tsconfig, then the whole tree's
runOrExit('npx', ['depcruise', '--config', '.dependency-cruiser.cjs', '.']); // the layer rules and no import circles
runOrExit('npx', ['biome', 'ci', '.']); // lint and format check (npx biome format --write . formats)
runOrExit('node', ['scripts/build.mjs']);

function list(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? list(p) : f.endsWith('.test.js') ? [p] : [];
  });
}
let files = list(join(root, 'out/test'))
  .map((p) => p.slice(root.length))
  .sort();
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));

// The suites whose prerequisites scripts/setup-e2e.sh installs (code-server: without --no-code-server).
const E2E = [
  { suite: 'out/test/webview/', codeServer: false },
  { suite: 'out/test/e2e/neovim', codeServer: false },
  { suite: 'out/test/e2e/pytorch', codeServer: false },
  { suite: 'out/test/e2e/precommit', codeServer: false },
  { suite: 'out/test/e2e/vscode', codeServer: true },
  { suite: 'out/test/e2e/training', codeServer: true },
  { suite: 'out/test/e2e/dashboard', codeServer: true },
];
const e2eSelected = E2E.filter((e) => files.some((f) => f.startsWith(e.suite)));
const canInstall =
  process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (e2eSelected.length && canInstall && process.env.ODELENS_NO_SETUP !== '1') {
  const args = ['scripts/setup-e2e.sh', ...(e2eSelected.some((e) => e.codeServer) ? [] : ['--no-code-server'])];
  if (run('bash', args) !== 0) {
    console.log(
      `\n# ${SETUP} failed: the suites whose prerequisites are missing will ${process.env.ODELENS_REQUIRE_E2E === '1' ? 'fail' : 'skip'}`,
    );
  }
}

// End-to-end suites start servers and browsers: run files one at a time. A second reporter
// writes the skipped tests to a file for the summary below.
mkdirSync(join(root, '.scratch'), { recursive: true });
const skipsFile = join(root, '.scratch', `test-skips-${process.pid}.jsonl`);
const status = run('node', [
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts/skip-reporter.mjs')}`,
  `--test-reporter-destination=${skipsFile}`,
  ...files,
]);
const skipped = existsSync(skipsFile)
  ? readFileSync(skipsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
rmSync(skipsFile, { force: true });

// The last lines: what did not run, and how to make it run.
if (skipped.length) {
  const byFile = new Map();
  for (const s of skipped) {
    const file = s.file ? s.file.slice(s.file.indexOf('out/test/')) : '(unknown file)';
    const reasons = byFile.get(file) ?? new Map();
    reasons.set(s.reason || '(no reason given)', (reasons.get(s.reason || '(no reason given)') ?? 0) + 1);
    byFile.set(file, reasons);
  }
  console.log(`\n# ${skipped.length} test${skipped.length > 1 ? 's' : ''} skipped:`);
  for (const [file, reasons] of byFile) {
    for (const [reason, n] of reasons) console.log(`#   ${file}: ${n} skipped: ${reason}`);
  }
  if ([...byFile.keys()].some((f) => E2E.some((e) => f.startsWith(e.suite)))) {
    console.log(
      `# to run the browser and editor suites: ${SETUP}   (installs Chromium, Neovim, code-server; root or sudo for apt), then npm test`,
    );
  }
} else {
  console.log('\n# no test skipped');
}
process.exit(status);
