// The package a user installs, seen where a user sees it: the extension's page in a real VS Code.
//   `npm run package` (scripts/package.mjs) with ODELENS_BASE_URL → the .vsix holds the intended
//   files only (minified bundles without source maps, no CLI) → installed into code-server → the
//   Extensions view → ODE Lens: the README renders, its screenshot loaded (naturalWidth = the
//   PNG's width), every link kept, and the icon shows.
// VS Code's extension view shows https images and links only (it drops relative and data: ones),
// so the README must point at a published copy of the repository. No public host is reachable
// here: the test serves the repository's tracked files over https on 127.0.0.1 (self-signed
// certificate from openssl, accepted by Chromium with --ignore-certificate-errors) and packages
// with ODELENS_BASE_URL pointing there, as a release would point at its real host.
// Prerequisites: openssl and unzip (the package test); code-server (scripts/setup-e2e.sh), Chromium
// and openssl (the page test). Missing ones skip a test, or fail it with ODELENS_REQUIRE_E2E=1.
// Files, screenshots included, stay under .scratch/e2e-extension-page-<pid>/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { BrowserContext, Frame, Page } from 'playwright-core';
import { findChromium, hasPlaywright, prerequisiteOrSkip } from '../support/browser';
import { installVsix, startCodeServer, workbenchBrowser, writeUserSettings } from '../support/codeServer';
import { codeServerBin, freePort, killTree, makeScratch, onPath, repoRoot, toolsDir, waitFor } from '../support/e2e';
import { runCommand } from '../support/workbench';

const ROOT = repoRoot();
const SCREENSHOT_ALT = 'ODE Lens in VS Code';
/** What the .vsix must hold, and nothing else. */
const INTENDED = [
  '[Content_Types].xml',
  'extension.vsixmanifest',
  'extension/LICENSE.txt',
  'extension/changelog.md',
  'extension/readme.md',
  'extension/package.json',
  'extension/language-configuration.json',
  'extension/syntaxes/ode.tmLanguage.json',
  'extension/images/icon.png',
  // The explanation of every diagnostic code, each diagnostic's code link opens its section.
  'extension/docs/diagnostics.md',
  'extension/dist/extension.js',
  'extension/dist/server.js',
  'extension/dist/checkWorker.js',
  'extension/dist/checkThread.js',
  'extension/dist/webview.js',
  'extension/dist/webview.css',
  'extension/dist/tfjs-backend-wasm.wasm',
  'extension/dist/tfjs-backend-wasm-simd.wasm',
].sort();

let codeServer: ChildProcess | undefined;
let browser: BrowserContext | undefined;
let host: Server | undefined;

after(async () => {
  await Promise.race([browser?.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
  await killTree(codeServer);
  host?.close();
});

function step(msg: string): void {
  console.log(`# [extension page ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** The files a published copy of the repository holds: git's tracked files. */
function trackedFiles(): Set<string> {
  const r = spawnSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ls-files failed: ${r.stderr}`);
  return new Set(r.stdout.split('\0').filter(Boolean));
}

/** An https server on 127.0.0.1 serving `files` (repository paths) under `prefix`; logs every request. */
async function startHost(dir: string, files: Set<string>, prefix: string, requests: string[]): Promise<string> {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `openssl failed: ${r.stderr}`);
  const port = await freePort();
  host = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]);
    requests.push(path);
    const rel = path.startsWith(prefix) ? path.slice(prefix.length) : '';
    if (req.method !== 'GET' || !files.has(rel)) {
      res.writeHead(404).end();
      return;
    }
    const type = rel.endsWith('.png') ? 'image/png' : rel.endsWith('.md') ? 'text/markdown' : 'text/plain';
    res.writeHead(200, { 'content-type': type, 'access-control-allow-origin': '*' }).end(readFileSync(join(ROOT, rel)));
  });
  await new Promise<void>((resolve) => host!.listen(port, '127.0.0.1', resolve));
  return `https://127.0.0.1:${port}${prefix.replace(/\/$/, '')}`;
}

/** Width of a PNG file, from its IHDR chunk. */
function pngWidth(file: string): number {
  return readFileSync(file).readUInt32BE(16);
}

/** The readme webview's frame: the one that holds the screenshot's <img>. */
async function readmeFrame(page: Page): Promise<Frame> {
  return waitFor(
    'the README webview',
    async () => {
      for (const f of page.frames()) {
        if (
          await f.evaluate((alt) => !!document.querySelector(`img[alt^="${alt}"]`), SCREENSHOT_ALT).catch(() => false)
        )
          return f;
      }
      return undefined;
    },
    30_000,
    250,
  );
}

interface Packaged {
  S: string;
  env: NodeJS.ProcessEnv;
  /** The stand-in host's URL for the repository's files (ODELENS_BASE_URL of the package). */
  base: string;
  vsix: string;
  tracked: Set<string>;
  /** Paths the host was asked for. */
  requests: string[];
}
let packaged: Promise<Packaged> | undefined;

/** Starts the stand-in host and runs scripts/package.mjs against it, once for both tests. */
function packageOnce(): Promise<Packaged> {
  packaged ??= (async () => {
    const { root: S, env } = makeScratch('e2e-extension-page');
    const requests: string[] = [];
    const tracked = trackedFiles();
    const base = await startHost(S, tracked, '/ode-lens/v0.1.0/', requests);
    const vsix = join(S, 'ode-lens.vsix');
    step(`npm run package with ODELENS_BASE_URL=${base}`);
    const pack = spawnSync(process.execPath, [join(ROOT, 'scripts/package.mjs'), '--out', vsix], {
      cwd: ROOT,
      env: { ...process.env, ODELENS_BASE_URL: base },
      encoding: 'utf8',
      timeout: 240_000,
    });
    const packLog = `${pack.stdout}\n${pack.stderr}`;
    assert.equal(pack.status, 0, `scripts/package.mjs failed:\n${packLog}`);
    assert.doesNotMatch(packLog, /WARNING/, 'vsce printed a warning');
    return { S, env, base, vsix, tracked, requests };
  })();
  return packaged;
}

test('package: the .vsix holds the intended files, minified bundles without source maps, no CLI', {
  timeout: 300_000,
}, async (t) => {
  if (!prerequisiteOrSkip(t, !!onPath('openssl'), 'openssl not found (apt-get install -y openssl)')) return;
  if (!prerequisiteOrSkip(t, !!onPath('unzip'), 'unzip not found (apt-get install -y unzip)')) return;
  const { base, vsix } = await packageOnce();
  const unzip = (...args: string[]) => spawnSync('unzip', args, { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
  assert.deepEqual(
    unzip('-Z1', vsix).split('\n').filter(Boolean).sort(),
    INTENDED,
    'the .vsix holds other files than intended',
  );
  for (const bundle of INTENDED.filter((f) => f.endsWith('.js'))) {
    const js = unzip('-p', vsix, bundle);
    assert.doesNotMatch(js, /sourceMappingURL/, `${bundle} points at a source map the .vsix does not ship`);
    assert.ok(js.length / js.split('\n').length > 1000, `${bundle} is not minified (${js.split('\n').length} lines)`);
  }
  const manifest = JSON.parse(unzip('-p', vsix, 'extension/package.json'));
  assert.equal(manifest.bin, undefined, 'package.json in the .vsix names the CLI, which it does not ship');
  assert.equal(manifest.icon, 'images/icon.png');
  const readme = unzip('-p', vsix, 'extension/readme.md');
  assert.ok(
    readme.includes(`(${base}/docs/screenshot.png)`),
    'the packaged README does not point its screenshot at the host',
  );
  assert.doesNotMatch(readme + unzip('-p', vsix, 'extension/changelog.md'), /example\.invalid/);
});

test('extension page: the packaged README renders with its screenshot, links and icon', {
  timeout: 300_000,
}, async (t) => {
  const cs = codeServerBin();
  if (!prerequisiteOrSkip(t, !!cs, `code-server not installed in ${toolsDir()} (run scripts/setup-e2e.sh)`)) return;
  if (!prerequisiteOrSkip(t, !!findChromium(), 'Chromium not found (apt-get install -y chromium)')) return;
  if (!prerequisiteOrSkip(t, hasPlaywright(), 'playwright-core not installed (npm install)')) return;
  if (!prerequisiteOrSkip(t, !!onPath('openssl'), 'openssl not found (apt-get install -y openssl)')) return;
  const T0 = Date.now();
  const { S, env, base, vsix, tracked, requests } = await packageOnce();
  const shots = join(S, 'screenshots');
  const ws = join(S, 'workspace');
  for (const d of [shots, ws]) mkdirSync(d, { recursive: true });

  // ---- install, start, open the extension's page
  const dirs = { bin: cs!, userData: join(S, 'user-data'), extensions: join(S, 'extensions'), env };
  writeUserSettings(dirs);
  installVsix(dirs, vsix);
  const server = await startCodeServer(dirs, ws, join(S, 'code-server.log'));
  codeServer = server.child;
  step(`code-server up on ${server.url} after ${Date.now() - T0} ms`);
  const opened = await workbenchBrowser(S, env, shots, {
    viewport: { width: 1400, height: 1000 },
    args: ['--ignore-certificate-errors'],
  });
  browser = opened.browser;
  const { page, shot } = opened;
  try {
    await page.goto(`${server.url}/?folder=${encodeURIComponent(ws)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    await page.waitForTimeout(1000);
    await runCommand(page, 'Extensions: Show Installed Extensions');
    const row = page.locator('.extensions-viewlet .monaco-list-row', { hasText: 'ODE Lens' }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.click();
    await page.waitForSelector('.extension-editor .header .name', { timeout: 30_000 });
    assert.equal((await page.locator('.extension-editor .header .name').first().innerText()).trim(), 'ODE Lens');

    // The icon comes from the installed extension's folder.
    const icon = await waitFor(
      'the extension icon',
      () =>
        page.evaluate(() => {
          const img = document.querySelector<HTMLImageElement>('.extension-editor .header img.icon');
          return img && img.complete && img.naturalWidth > 0 ? { src: img.src, width: img.naturalWidth } : undefined;
        }),
      30_000,
    );
    assert.match(icon.src, /icon\.png/);

    // The README: the screenshot loaded from the host, at the PNG's own width.
    const frame = await readmeFrame(page);
    type ImageState = { src: string | null; complete: boolean; width: number; height: number };
    let last: ImageState | undefined;
    const image = await waitFor(
      'the README screenshot to load',
      async () => {
        last = await frame.evaluate((alt) => {
          const img = document.querySelector<HTMLImageElement>(`img[alt^="${alt}"]`);
          return img
            ? {
                src: img.getAttribute('src'),
                complete: img.complete,
                width: img.naturalWidth,
                height: img.naturalHeight,
              }
            : undefined;
        }, SCREENSHOT_ALT);
        return last && last.width > 0 ? last : undefined;
      },
      30_000,
      250,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}; last state of the <img>: ${JSON.stringify(last)}`);
    });
    await shot('extension-page');
    assert.equal(image.src, `${base}/docs/screenshot.png`);
    assert.equal(
      image.width,
      pngWidth(join(ROOT, 'docs/screenshot.png')),
      'the loaded image is not docs/screenshot.png',
    );
    assert.ok(
      requests.includes('/ode-lens/v0.1.0/docs/screenshot.png'),
      `the host served no screenshot: ${requests.join(', ')}`,
    );

    // Links: none dropped by the view (relative ones would be), and each one on the host is a file it serves.
    const links = await frame.evaluate(() =>
      Array.from(document.querySelectorAll('a')).map((a) => ({
        text: a.textContent ?? '',
        href: a.getAttribute('href'),
      })),
    );
    const dropped = links.filter((l) => !l.href);
    assert.deepEqual(dropped, [], 'links the extension view dropped (relative links are not shown)');
    const onHost = links.map((l) => l.href!).filter((h) => h.startsWith(`${base}/`));
    for (const doc of ['docs/language.md', 'docs/engine.md', 'LICENSE'])
      assert.ok(onHost.includes(`${base}/${doc}`), `no link to ${doc}: ${onHost.join(', ')}`);
    const dead = onHost.filter((h) => !tracked.has(h.slice(base.length + 1).split('#')[0]));
    assert.deepEqual(dead, [], 'README links to files the repository does not hold');
    const imgs = await frame.evaluate(() =>
      Array.from(document.querySelectorAll('img')).map((i) => i.getAttribute('src')),
    );
    assert.ok(imgs.every(Boolean), `an image lost its source: ${JSON.stringify(imgs)}`);

    // The page a user sees, scrolled to the screenshot, for a person to look at.
    await frame.evaluate(
      (alt) => document.querySelector(`img[alt^="${alt}"]`)?.scrollIntoView({ block: 'center' }),
      SCREENSHOT_ALT,
    );
    await page.waitForTimeout(300);
    step(
      `README screenshot ${image.width}×${image.height} from ${image.src}; ${onHost.length} links on the host; done in ${Date.now() - T0} ms; screenshots ${await shot('extension-page-screenshot')}`,
    );
  } catch (e) {
    await shot('failure');
    console.log(`# screenshots in ${shots}; code-server log ${join(S, 'code-server.log')}`);
    throw e;
  }
});
