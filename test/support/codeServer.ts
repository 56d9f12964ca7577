// code-server for the editor suites: quiet user settings, a .vsix installed into a private
// extensions folder, the server started on a free port, and the browser that drives it, with
// everything under one scratch root.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser';
import { freePort, spawnLogged, waitFor } from './e2e';

/** Settings that keep the workbench free of tips, welcome pages, update checks and telemetry. */
export const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'workbench.colorTheme': 'Default Dark Modern',
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'extensions.ignoreRecommendations': true,
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'chat.disableAIFeatures': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'window.restoreWindows': 'none',
};

export interface CodeServerDirs {
  /** The code-server binary. */
  bin: string;
  userData: string;
  extensions: string;
  /** Environment with XDG_* and TMPDIR inside the scratch root (makeScratch). */
  env: NodeJS.ProcessEnv;
}

/** Writes userData/User/settings.json: QUIET_SETTINGS plus `extra`. */
export function writeUserSettings(dirs: CodeServerDirs, extra: Record<string, unknown> = {}): void {
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...extra }, null, 2));
}

/** `code-server --install-extension vsix`; throws with its output when it fails. */
export function installVsix(dirs: CodeServerDirs, vsix: string, id = 'odelens.ode-lens'): void {
  mkdirSync(dirs.extensions, { recursive: true });
  const r = spawnSync(
    dirs.bin,
    ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--install-extension', vsix],
    {
      env: dirs.env,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  if (r.status !== 0) throw new Error(`code-server --install-extension failed:\n${r.stdout}\n${r.stderr}`);
  const list = join(dirs.extensions, 'extensions.json');
  if (!existsSync(list) || !readFileSync(list, 'utf8').includes(id)) throw new Error(`${id} not in ${dirs.extensions}`);
}

/** Starts code-server on a free port, serving `folder`; resolves when /healthz answers. */
export async function startCodeServer(
  dirs: CodeServerDirs,
  folder: string,
  logFile: string,
  /** Keep Workspace Trust on (Restricted Mode suites); otherwise it is disabled. */
  options: { workspaceTrust?: boolean } = {},
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnLogged(
    dirs.bin,
    [
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--user-data-dir',
      dirs.userData,
      '--extensions-dir',
      dirs.extensions,
      folder,
    ],
    logFile,
    { env: dirs.env, cwd: dirname(dirs.userData) }, // the scratch root, not the workspace
  );
  await waitFor(
    'code-server /healthz',
    async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok,
    60_000,
    250,
  );
  return { child, url };
}

/** Chromium with its profile under the scratch root, one page, and `shot(name)` saving shotsDir/name.png. */
export async function workbenchBrowser(
  scratchRoot: string,
  env: NodeJS.ProcessEnv,
  shotsDir: string,
  options: { viewport?: { width: number; height: number }; args?: string[] } = {},
): Promise<{ browser: BrowserContext; page: Page; shot: (name: string) => Promise<string> }> {
  const browser = await launchChromium(join(scratchRoot, 'chromium-profile'), {
    env,
    viewport: options.viewport ?? { width: 1400, height: 900 },
    args: options.args,
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(30_000);
  const shot = async (name: string) => {
    const p = join(shotsDir, `${name}.png`);
    await page.screenshot({ path: p }).catch((e) => console.log(`# screenshot ${name} failed: ${e}`));
    return p;
  };
  return { browser, page, shot };
}

/** dist/ode-lens.vsix (or $ODELENS_VSIX), re-made with `npm run package` when older than the files it ships. */
export function extensionVsix(root: string, log: (msg: string) => void): string {
  if (process.env.ODELENS_VSIX) return process.env.ODELENS_VSIX; // e.g. a released build
  const vsix = join(root, 'dist', 'ode-lens.vsix');
  const shipped = [
    ...['extension.js', 'server.js', 'checkWorker.js', 'webview.js'].map((f) => join(root, 'dist', f)),
    join(root, 'docs', 'diagnostics.md'),
    join(root, 'package.json'),
  ];
  const newest = Math.max(...shipped.filter(existsSync).map((f) => statSync(f).mtimeMs));
  if (existsSync(vsix) && statSync(vsix).mtimeMs >= newest) return vsix;
  log('dist/ode-lens.vsix missing or older than what it ships: npm run package');
  const r = spawnSync('npm', ['run', '--silent', 'package'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
  if (r.status !== 0 || !existsSync(vsix)) throw new Error(`npm run package failed:\n${r.stdout}\n${r.stderr}`);
  return vsix;
}
