// Shared helpers for the browser and editor tests: find and launch Debian's Chromium
// through playwright-core (no browser download), and skip-or-fail when a prerequisite
// is missing. With ODELENS_REQUIRE_E2E=1 (CI) a missing prerequisite fails the test.
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import chromiumSetup from '../../scripts/chromium.json';

/** Where Chromium can be and its flags: one list for the tests and the CI's npm start check. */
const { args: CHROMIUM_ARGS, candidates: CANDIDATES } = chromiumSetup;

/** Path of a Chromium binary (ODELENS_CHROMIUM overrides), or undefined when none is installed. */
export function findChromium(): string | undefined {
  const env = process.env.ODELENS_CHROMIUM;
  if (env) return existsSync(env) ? env : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** True when playwright-core can be loaded (it is a devDependency, external to the bundle). */
export function hasPlaywright(): boolean {
  try {
    require.resolve('playwright-core');
    return true;
  } catch {
    return false;
  }
}

/**
 * Launch headless Chromium with a persistent profile in userDataDir.
 * Throws when Chromium or playwright-core is missing; test with findChromium()/hasPlaywright() first.
 */
export async function launchChromium(
  userDataDir: string,
  options: { viewport?: { width: number; height: number }; env?: NodeJS.ProcessEnv; args?: string[] } = {},
): Promise<BrowserContext> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('Chromium not found (apt-get install -y chromium, or set ODELENS_CHROMIUM)');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  return chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    viewport: options.viewport ?? { width: 1400, height: 900 },
    env: options.env,
  });
}

/**
 * Call at the start of a test whose prerequisite may be missing. Returns `ok`.
 * When !ok: with ODELENS_REQUIRE_E2E=1 the test fails with `reason`; otherwise the
 * reason is printed and the test is skipped (the caller should `return` when false).
 */
export function prerequisiteOrSkip(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (process.env.ODELENS_REQUIRE_E2E === '1') {
    throw new Error(`missing prerequisite (ODELENS_REQUIRE_E2E=1): ${reason}`);
  }
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
  return false;
}
