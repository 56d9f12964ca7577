// One code-server session for an editor suite: the packaged extension installed into a private extensions
// folder, a fresh workspace with the given files, quiet user settings plus the suite's own, and Chromium on the
// workbench; everything under one scratch root. `missingEditorPrerequisite` says why such a suite cannot run.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { findChromium, hasPlaywright } from './browser';
import { extensionVsix, installVsix, startCodeServer, workbenchBrowser, writeUserSettings } from './codeServer';
import { codeServerBin, killTree, makeScratch, repoRoot, toolsDir } from './e2e';

export interface EditorSession {
  child: ChildProcess;
  browser: BrowserContext;
  page: Page;
  /** The workspace folder (the files given, on disk). */
  ws: string;
  /** Saves a screenshot under the scratch root's screenshots/ and returns its path. */
  shot: (name: string) => Promise<string>;
}

/** Why an editor suite cannot run here, or undefined when it can. */
export function missingEditorPrerequisite(): string | undefined {
  if (!codeServerBin()) return `code-server not installed in ${toolsDir()} (run scripts/setup-e2e.sh)`;
  if (!findChromium()) return 'Chromium not found (apt-get install -y chromium)';
  if (!hasPlaywright()) return 'playwright-core not installed (npm install)';
  if (!existsSync(join(repoRoot(), 'dist', 'extension.js')) && !process.env.ODELENS_VSIX)
    return 'dist/extension.js missing (npm run build)';
  return undefined;
}

export async function openEditorSession(
  name: string,
  files: Record<string, string>,
  settings: Record<string, unknown>,
  log: (msg: string) => void,
  options: { workspaceTrust?: boolean } = {},
): Promise<EditorSession> {
  const { root: S, env } = makeScratch(name);
  const ws = join(S, 'workspace');
  mkdirSync(ws, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(ws, f), text);
  const dirs = { bin: codeServerBin()!, userData: join(S, 'user-data'), extensions: join(S, 'extensions'), env };
  writeUserSettings(dirs, { 'files.autoSave': 'off', 'editor.minimap.enabled': false, ...settings });
  installVsix(dirs, extensionVsix(repoRoot(), log));
  const server = await startCodeServer(dirs, ws, join(S, 'code-server.log'), options);
  const shots = join(S, 'screenshots');
  mkdirSync(shots, { recursive: true });
  const { browser, page, shot } = await workbenchBrowser(S, env, shots);
  await page.goto(`${server.url}/?folder=${encodeURIComponent(ws)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  await page.waitForTimeout(1500);
  log(`${name}: workbench up; screenshots in ${shots}`);
  return { child: server.child, browser, page, ws, shot };
}

export async function closeEditorSession(e: EditorSession | undefined): Promise<void> {
  if (!e) return;
  await Promise.race([e.browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
  await killTree(e.child);
}
