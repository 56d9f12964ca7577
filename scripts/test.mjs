// The test command: type-check, build, then run every test with node's test runner.
// Browser and editor tests skip with a printed reason when their prerequisites
// are missing, unless ODELENS_REQUIRE_E2E=1 (CI), where a missing prerequisite fails.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (cmd, args, env = {}) => {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

// A fresh clone: install first, so `npm test` is one of the README's two setup commands.
if (!existsSync(join(root, 'node_modules/.package-lock.json'))) run('npm', ['install', '--no-audit', '--no-fund']);

const only = process.argv.slice(2); // optional folders or files under test/, e.g. `npm test -- unit`
rmSync(join(root, 'out'), { recursive: true, force: true });
run('npm', ['run', '--silent', 'typecheck']); // each layer's tsconfig, then the whole tree's
run('npx', ['depcruise', '--config', '.dependency-cruiser.cjs', '.']); // the layer rules and no import circles
run('npx', ['biome', 'lint', '.']); // once the tree is formatted (npx biome format --write .): 'lint' → 'ci', lint + format check
run('node', ['scripts/build.mjs']);

function list(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? list(p) : f.endsWith('.test.js') ? [p] : [];
  });
}
let files = list(join(root, 'out/test')).map((p) => p.slice(root.length)).sort();
if (only.length) files = files.filter((f) => only.some((o) => f.includes(o)));
// End-to-end suites start servers and browsers: run files one at a time.
run('node', ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files]);
