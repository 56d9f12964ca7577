// `npm run package [-- --out PATH]`: the .vsix a user installs (default dist/ode-lens.vsix).
// It is packed from a staging folder, so the development build in dist/ (source maps, CLI, bench)
// stays as the tests use it:
//   - dist/ there is `build.mjs --production`: the run-time bundles, minified, no source maps;
//   - every other file is what .vscodeignore (the allow-list) selects in the repository;
//   - package.json loses `bin`: the CLI is for npm users, the installed extension never runs it.
// README and CHANGELOG links: VS Code's extension view shows only https images and links (it drops
// relative ones), as the Marketplace does. ODELENS_BASE_URL=https://… (where the repository's files
// are published, e.g. a raw-file URL of a tagged release) makes vsce point relative links there;
// a GitHub/GitLab `repository` in package.json does the same by itself. Without either, links stay
// relative: a git host renders them, the extension view shows the README without the screenshot.
// Any vsce warning fails the script.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);
const outIndex = process.argv.indexOf('--out');
const out = outIndex > 0 ? resolve(process.argv[outIndex + 1]) : join(root, 'dist', 'ode-lens.vsix');
const stage = join(root, '.scratch', `package-${process.pid}`);

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r.stdout + r.stderr;
}

function vsceArgs(manifest) {
  const args = ['package', '--no-dependencies', '--out', out];
  const base = process.env.ODELENS_BASE_URL;
  if (base) {
    if (!/^https:\/\//.test(base))
      throw new Error(`ODELENS_BASE_URL must be an https URL (VS Code shows no other images): ${base}`);
    args.push('--baseContentUrl', base, '--baseImagesUrl', base);
  } else if (!manifest.repository) {
    args.push('--no-rewrite-relative-links');
  }
  if (!manifest.repository) args.push('--allow-missing-repository');
  return args;
}

rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
try {
  run(process.execPath, [join(root, 'scripts/build.mjs'), '--production', `--outdir=${join(stage, 'dist')}`], root);

  const { listFiles } = require('@vscode/vsce');
  const files = (await listFiles({ cwd: root, packageManager: 'none' })).filter((f) => !f.startsWith('dist/'));
  for (const f of [...files, '.vscodeignore']) {
    mkdirSync(dirname(join(stage, f)), { recursive: true });
    copyFileSync(join(root, f), join(stage, f));
  }
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  delete manifest.bin;
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  mkdirSync(dirname(out), { recursive: true });
  const log = run(process.execPath, [require.resolve('@vscode/vsce/vsce'), ...vsceArgs(manifest)], stage);
  if (/WARNING/.test(log)) throw new Error('vsce printed a warning (above): fix it rather than ship it');
  console.log(`${out}: ${statSync(out).size} bytes`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
