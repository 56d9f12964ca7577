// Tidy check: every reference to a repository file — in code, comments, user-facing strings and docs —
// resolves, anchors included (GitHub's heading slugs). A reader who follows "see docs/design.md#leapfrog"
// must land on that section; outside documents the repository does not hold are never cited. In markdown
// pages, files in code spans exist and tests named by file and title exist (the fast-path page's pins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import GithubSlugger from 'github-slugger';
import { repoRoot } from '../support/repo';

const root = repoRoot();
const SCANNED = [
  'solver',
  'server',
  'client',
  'webview',
  'test',
  'bench',
  'scripts',
  'docs',
  'README.md',
  'package.json',
];
const TEXT = /\.(ts|mjs|js|md|json|sh|css)$/;
const SELF = 'test/unit/docsReferences.test.ts';

/** A path from the repository root to a file, written in prose or code: starts at a top-level folder. */
const REPO_PATH =
  /(?<![\w./-])((?:docs|solver|server|client|webview|test|bench|scripts|examples|syntaxes)\/[\w./-]*\w\.(?:md|ts|mjs|json|ode|sh|csv|css))(#[\w-]+)?/g;
/** Documents that live outside the repository: never cited. */
const FOREIGN = [/\bDESIGN\b/, /shared\/notes/, /(?<![\w/])notes\/\w+\.md\b/];
/** A file named in code spans of a markdown page, from the root, the page's folder or solver/ (`engine/compile.ts`). */
const MD_CODE_PATH = /`([A-Za-z][\w./-]*\.(?:md|ts|mjs|json|ode|sh|csv))`/g;
/** A test file followed by the names of tests in it: `test/unit/x.test.ts`: "name" and "name: …". */
const TEST_NAMES = /`(test\/[\w/.-]+\.test\.ts)`:((?:[^`]|`[^`]*`(?!:))*)/g;
/** Markdown links and images with a relative target: `](path)`, `](path#anchor)`, `](#anchor)`. */
const MD_LINK = /\]\((?!https?:|mailto:)([^)\s]*?)(#[^)\s]+)?\)/g;

function files(path: string): string[] {
  const abs = join(root, path);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return TEXT.test(path) ? [path] : [];
  return readdirSync(abs).flatMap((f) => (f === 'node_modules' || f === 'results' ? [] : files(join(path, f))));
}

/** Outputs (build folders, generated files) that git ignores: named in docs, never in the repository. */
const IGNORED = readFileSync(join(root, '.gitignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const isOutput = (path: string) => IGNORED.some((g) => path === g || (g.endsWith('/') && path.startsWith(g)));

const anchorCache = new Map<string, Set<string>>();
/** GitHub's anchors of a markdown file: one slug per heading outside code fences, repeats numbered -1, -2, …. */
export function anchorsOf(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) out.add(slugger.slug(m[1].replace(/`/g, '')));
  }
  return out;
}

/** Why `target` (a path from the root) with `anchor` ('#slug' or '') does not resolve, or undefined. */
function unresolved(target: string, anchor: string): string | undefined {
  const abs = join(root, target);
  if (!existsSync(abs)) return isOutput(target) ? undefined : `${target} does not exist`;
  if (!anchor || !target.endsWith('.md')) return undefined;
  let anchors = anchorCache.get(target);
  if (!anchors) anchorCache.set(target, (anchors = anchorsOf(readFileSync(abs, 'utf8'))));
  return anchors.has(anchor.slice(1).toLowerCase()) ? undefined : `${target} has no heading with anchor ${anchor}`;
}

/** Every broken reference of one file's text, as "file:line: why". */
export function brokenReferences(file: string, text: string): string[] {
  const problems: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    for (const p of FOREIGN)
      if (p.test(line))
        problems.push(`${where}: cites a document outside the repository (${p.source}): ${line.trim()}`);
    for (const m of line.matchAll(REPO_PATH)) {
      const why = unresolved(m[1], m[2] ?? '');
      if (why) problems.push(`${where}: ${why}`);
    }
    if (!file.endsWith('.md')) return;
    for (const m of line.matchAll(MD_CODE_PATH)) {
      const candidates = [m[1], join(dirname(file), m[1]), join('solver', m[1])];
      if (!candidates.some((c) => existsSync(join(root, c)) || isOutput(c)))
        problems.push(`${where}: \`${m[1]}\` is not a file`);
    }
    for (const m of line.matchAll(TEST_NAMES)) {
      const path = join(root, m[1]);
      if (!existsSync(path)) continue; // reported above
      const source = readFileSync(path, 'utf8');
      for (const [, name] of m[2].matchAll(/"([^"]+)"/g)) {
        const fixed = name.replace(/:? …$/, ''); // "name: …" stands for names built from a template
        if (!source.includes(fixed)) problems.push(`${where}: ${m[1]} has no test named "${name}"`);
      }
    }
    for (const m of line.matchAll(MD_LINK)) {
      const [, path, anchor = ''] = m;
      const target = path ? relative(root, resolve(join(root, dirname(file)), path)) : file;
      const why = unresolved(target, anchor);
      if (why) problems.push(`${where}: link ${m[0]}: ${why}`);
    }
  });
  return problems;
}

test('every reference to a repository file resolves, anchors included, and no outside document is cited', () => {
  const scanned = SCANNED.flatMap(files).filter((f) => f !== SELF);
  assert.ok(scanned.length > 100, `scanned only ${scanned.length} files from ${root}`);
  const problems = scanned.flatMap((f) => brokenReferences(f, readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(problems, []);
});

test('the checker catches a missing file, a missing anchor and an outside document', () => {
  assert.ok(
    anchorsOf(
      '# Design\n## Adding a scheme\n```\n# not a heading\n```\n## `gradfix` values\n## Layers\n## Layers\n',
    ).has('layers-1'),
  );
  const planted = [
    '// see docs/design.md#no-such-section',
    '// see docs/nowhere.md',
    '// DESIGN 1.3 says so',
    '// measured in notes/tfjs.md',
  ].join('\n');
  const found = brokenReferences('solver/planted.ts', planted);
  assert.equal(found.length, 4, found.join('\n'));
  assert.deepEqual(
    brokenReferences('docs/planted.md', 'See [the layers](design.md#no-such-anchor) and [missing](nowhere.md).').length,
    2,
  );
  assert.deepEqual(
    brokenReferences(
      'docs/design.md',
      'See [the engine](engine.md), [layers](#layers) and [a recipe](design.md#adding-a-scheme).',
    ),
    [],
  );
  assert.deepEqual(
    brokenReferences(
      'solver/engine/README.md',
      '`compile.ts`, `engine/detect.ts`, `test/unit/layerPass.test.ts`: "layerPass equals densities, filter121, detectOscillation and relErrorPair"',
    ),
    [],
  );
  assert.equal(
    brokenReferences('solver/engine/README.md', '`fused.ts`; `test/unit/layerPass.test.ts`: "layerPass is fast"')
      .length,
    2,
  );
});
