// Driving the VS Code workbench (code-server in Chromium) the way a user does: Quick Open, the command
// palette, Go to Line, the Problems panel and the extension's status bar item. Selectors measured on
// code-server 4.139 (see the e2e suites).
import type { Page } from 'playwright-core';

/**
 * Opens the quick-input picker with a key, as a user does. After a window reload the focus can sit in a
 * webview (the plots panel), which keeps the key: the title bar's search box opens the same picker, and
 * `prefix` (`>` for commands) turns it into the one the key would have opened.
 */
async function openPicker(page: Page, key: string, prefix: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await page.keyboard.press(key);
  try {
    await input.waitFor({ state: 'visible', timeout: 5_000 });
  } catch {
    await page.locator('.command-center').first().click();
    await input.waitFor({ state: 'visible', timeout: 30_000 });
    if (prefix) await page.keyboard.type(prefix);
  }
}

export async function quickOpen(page: Page, name: string): Promise<void> {
  await openPicker(page, 'Control+P', '');
  await page.keyboard.type(name);
  // Enter before the list fills does nothing: wait for the row.
  await page.waitForSelector(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`, { timeout: 20_000 });
  await page.keyboard.press('Enter');
  await page
    .waitForSelector(`.tab.active[aria-label*="${name}"], .tab.active [aria-label*="${name}"]`, { timeout: 20_000 })
    .catch(() => {});
  await page.waitForTimeout(300);
}

/**
 * Runs a command from the palette. Commands contributed by extensions appear in the palette only once the
 * workbench has registered them (a fresh window can list "similar commands" for a while): when the row does
 * not come, the palette is closed and opened again, until `timeoutMs`.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 40_000): Promise<void> {
  const short = title.split(': ').pop()!;
  const row = `.quick-input-list .monaco-list-row[aria-label*="${short}"]`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await openPicker(page, 'F1', '>');
    await page.keyboard.type(title);
    const wait = Math.max(1_000, Math.min(8_000, deadline - Date.now()));
    const found = await page
      .waitForSelector(row, { timeout: wait })
      .then(() => true)
      .catch(() => false);
    if (found) break;
    if (Date.now() >= deadline) throw new Error(`the command palette has no "${title}" after ${timeoutMs} ms`);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(500);
  }
  await page.keyboard.press('Enter');
}

export async function goToLine(page: Page, line: number, col: number): Promise<void> {
  await page.keyboard.press('Control+G');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(`${line}:${col}`);
  await page.waitForTimeout(200);
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
}

/** Text of the Problems panel (opens it). */
export async function problemsText(page: Page, expectRows = true): Promise<string> {
  await page.keyboard.press('Control+Shift+M');
  await page.waitForSelector('.markers-panel', { timeout: 10_000 }).catch(() => {});
  const rows = page.locator('.markers-panel .monaco-list-row');
  if (expectRows)
    await rows
      .first()
      .waitFor({ timeout: 10_000 })
      .catch(() => {});
  await page.waitForTimeout(300);
  const labels = await rows.evaluateAll((els) =>
    els.map((e) => `${e.getAttribute('aria-label') ?? ''} | ${(e as HTMLElement).innerText}`),
  );
  return labels.join('\n');
}

/** Text of the extension's status bar item ("ODE Lens: cpu · 120 ms · 2 findings"), or undefined. */
export async function statusText(page: Page): Promise<string | undefined> {
  const item = page.locator('.statusbar-item', { hasText: 'ODE Lens' }).first();
  if ((await item.count()) === 0) return undefined;
  return (await item.innerText().catch(() => undefined))?.trim();
}

/**
 * Shows the hover at the cursor (Ctrl+K Ctrl+I). When no hover appears (a chord's second key can go astray
 * on a busy machine), runs the same command from the palette.
 */
export async function showHover(page: Page): Promise<void> {
  await page.keyboard.press('Control+K');
  await page.keyboard.press('Control+I');
  const hover = page.locator('.monaco-hover:not(.hidden) .hover-contents, .monaco-hover .hover-row').first();
  try {
    await hover.waitFor({ timeout: 5_000 });
  } catch {
    await runCommand(page, 'Show or Focus Hover');
    await hover.waitFor({ timeout: 10_000 }).catch(() => {});
  }
}
