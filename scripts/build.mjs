// Bundles every entry point with esbuild into dist/ and the tests into out/, with source maps.
// `--production --outdir=DIR` (scripts/package.mjs) builds only what the extension runs, minified
// and without source maps, into DIR: the .vsix ships no maps, so its bundles point at none.
import * as esbuild from 'esbuild';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const outdirArg = process.argv.find((a) => a.startsWith('--outdir='));
const distDir = outdirArg ? resolve(outdirArg.slice('--outdir='.length)) : join(root, 'dist');

// tfjs-node is optional (its install downloads libtensorflow); it is required at run time when present.
const nodeExternals = ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'playwright-core', 'electron'];

// esbuild writes code in ASCII (its default charset escapes strings and identifiers) but keeps comments as they are: a
// source comment with θ or → makes a whole bundle a two-byte string in V8. In each bundle written to dist/, a line that
// is a comment (`//`, `/*`, or a block comment's ` * ` line) has such characters replaced with '?', one per UTF-16 unit
// so that the source maps' columns hold; a regular expression can hold them too, so other lines are left as they are.
// The loader (dist/cli.js) reads a bundle that is then all ASCII as latin1, any other as UTF-8. The tests' bundles
// are not loaded so, and are hundreds of megabytes to read again: they keep their comments.
const COMMENT_LINE = /^[ \t]*(?:\/\/|\/\*(?:(?!\*\/).)*(?:\*\/[ \t]*)?$|\*(?:[ \t]|\/|$))/;
const asciiComments = {
  name: 'ascii-comments',
  setup(build) {
    build.onEnd((result) => {
      for (const file of Object.keys(result.metafile?.outputs ?? {}).filter((f) => f.endsWith('.js'))) {
        const path = join(root, file),
          text = readFileSync(path, 'utf8');
        if (!/[\u0080-\uffff]/.test(text)) continue;
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++)
          if (/[\u0080-\uffff]/.test(lines[i]) && COMMENT_LINE.test(lines[i]))
            lines[i] = lines[i].replace(/[\u0080-\uffff]/g, '?');
        writeFileSync(path, lines.join('\n'));
      }
    });
  },
};

/** What a bundle of dist/ adds to its options: its outputs listed, then rewritten in ASCII. */
const inAscii = { metafile: true, plugins: [asciiComments] };

const nodeCommon = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: nodeExternals,
  logLevel: 'warning',
  absWorkingDir: root,
};

const entries = [
  { in: 'client/extension.ts', out: 'extension' },
  { in: 'server/server.ts', out: 'server' },
  { in: 'server/checkWorker.ts', out: 'checkWorker' },
  // A check's second thread (solver/check/thread.ts), started by the CLI and by the check worker alike.
  { in: 'solver/check/threadMain.ts', out: 'checkThread' },
  // The CLI (package.json `bin`) and the benchmark are not run by the installed extension.
  // dist/cli.js is scripts/cliLoader.cjs, which runs this bundle with V8's code cache.
  { in: 'solver/cli.ts', out: 'cliMain', banner: '#!/usr/bin/env node', dev: true },
  { in: 'bench/bench.ts', out: 'bench', dev: true },
].filter((e) => existsSync(join(root, e.in)) && !(production && e.dev));

function listTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? listTests(p) : /\.test\.ts$/.test(f) ? [p] : [];
  });
}

const builds = [
  ...entries.map((e) => ({
    ...nodeCommon,
    ...inAscii,
    entryPoints: { [e.out]: e.in },
    outdir: distDir,
    banner: e.banner ? { js: e.banner } : undefined,
  })),
  existsSync(join(root, 'webview/main.ts')) && {
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: { webview: 'webview/main.ts' },
    outdir: distDir,
    absWorkingDir: root,
    ...inAscii,
    logLevel: 'warning',
  },
  !production && {
    ...nodeCommon,
    entryPoints: listTests(join(root, 'test')).map((p) => p.slice(root.length)),
    outdir: 'out',
    outbase: '.',
    // Each test bundle carries TF.js: maps that name files and lines without a copy of every
    // source are 2.4 MB a test, not 7 (out/test 770 → about 330 MB).
    sourcesContent: false,
  },
].filter(Boolean);

mkdirSync(distDir, { recursive: true });
// The wasm backend loads these at run time; setWasmPaths points at the bundles' folder.
const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) cpSync(join(wasmDir, f), join(distDir, f));
if (existsSync(join(root, 'webview/style.css'))) cpSync(join(root, 'webview/style.css'), join(distDir, 'webview.css'));
// The `odelens` command: a loader that runs dist/cliMain.js with V8's code cache (scripts/cliLoader.cjs).
if (!production && existsSync(join(root, 'solver/cli.ts'))) {
  cpSync(join(root, 'scripts/cliLoader.cjs'), join(distDir, 'cli.js'));
  chmodSync(join(distDir, 'cli.js'), 0o755);
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('esbuild: watching');
} else {
  const t0 = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`esbuild: built ${builds.length} bundles in ${Date.now() - t0} ms`);
}
