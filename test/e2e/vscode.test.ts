// End to end in a real VS Code: code-server (VS Code in the browser) with the packaged
// extension installed, driven by Playwright through Debian's Chromium.
//   open examples/spiral.ode → warnings (oscillating-gradient, weakly-stable-scheme) on the
//   `meth=leapfrog` value and the `param` lines → quick fix "Correct AD gradients with
//   filter121" → save → the file gains `, gradfix=filter121` and nothing else → the warnings
//   go → "ODE Lens: Show Gradient Plots" draws a chart (canvas pixels) → spiral-rk4.ode: no warning.
// Prerequisites (scripts/setup-e2e.sh): code-server in $ODELENS_TOOLS, /usr/bin/chromium.
// Missing ones skip the suite, or fail it with ODELENS_REQUIRE_E2E=1.
// Everything it writes stays under .scratch/e2e-vscode-<pid>/ (screenshots included);
// ODELENS_UPDATE_SCREENSHOT=1 also refreshes docs/screenshot.png; ODELENS_VSIX=path tests that
// package instead of dist/ode-lens.vsix (re-packaged with `npm run package` when older than dist/).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Frame } from 'playwright-core';
import { findChromium, hasPlaywright, prerequisiteOrSkip } from '../support/browser';
import {
  extensionVsix,
  installVsix,
  startCodeServer,
  workbenchBrowser,
  writeUserSettings,
} from '../support/codeServer';
import { codeServerBin, killTree, makeScratch, repoRoot, toolsDir, waitFor } from '../support/e2e';
import { goToLine, problemsText, quickOpen, runCommand, showHover, statusText } from '../support/workbench';

const ROOT = repoRoot();
const FIX_TITLE = 'Correct AD gradients with filter121';
const DIAG_TIMEOUT = 60_000;

let codeServer: ChildProcess | undefined;
let browser: BrowserContext | undefined;

after(async () => {
  await Promise.race([browser?.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
  await killTree(codeServer);
});

function step(msg: string): void {
  console.log(`# [vscode e2e ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

/** For each canvas in the frame: size and how many pixels are drawn (non-transparent and not background). */
async function canvasInk(frame: Frame): Promise<{ w: number; h: number; ink: number }[]> {
  return frame.evaluate(() =>
    Array.from(document.querySelectorAll('canvas')).map((c) => {
      const ctx = (c as HTMLCanvasElement).getContext('2d');
      if (!ctx || c.width === 0 || c.height === 0) return { w: c.width, h: c.height, ink: 0 };
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      const [r0, g0, b0, a0] = [d[0], d[1], d[2], d[3]];
      let ink = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 0 && (d[i] !== r0 || d[i + 1] !== g0 || d[i + 2] !== b0 || d[i + 3] !== a0)) ink++;
      }
      return { w: c.width, h: c.height, ink };
    }),
  );
}

test('VS Code (code-server): warnings, quick fix, save, gradient plot, rk4 clean', { timeout: 300_000 }, async (t) => {
  const cs = codeServerBin();
  if (!prerequisiteOrSkip(t, !!cs, `code-server not installed in ${toolsDir()} (run scripts/setup-e2e.sh)`)) return;
  if (!prerequisiteOrSkip(t, !!findChromium(), 'Chromium not found (apt-get install -y chromium)')) return;
  if (!prerequisiteOrSkip(t, hasPlaywright(), 'playwright-core not installed (npm install)')) return;
  const built =
    !!process.env.ODELENS_VSIX || ['extension.js', 'server.js'].every((f) => existsSync(join(ROOT, 'dist', f)));
  if (!prerequisiteOrSkip(t, built, 'dist/extension.js or dist/server.js missing (npm run build)')) return;
  const T0 = Date.now();

  // ---- scratch root: workspace copy, user data, extensions, XDG dirs, TMPDIR, browser profile
  const { root: S, env } = makeScratch('e2e-vscode');
  const shots = join(S, 'screenshots');
  const ws = join(S, 'workspace');
  mkdirSync(shots, { recursive: true });
  cpSync(join(ROOT, 'examples'), ws, { recursive: true });
  const dirs = { bin: cs!, userData: join(S, 'user-data'), extensions: join(S, 'extensions'), env };
  writeUserSettings(dirs, { 'files.autoSave': 'off', 'editor.minimap.enabled': false, 'editor.hover.delay': 200 });
  const original = readFileSync(join(ws, 'spiral.ode'), 'utf8');
  const originalRk4 = readFileSync(join(ws, 'spiral-rk4.ode'), 'utf8');

  // ---- install the packaged extension
  const vsix = extensionVsix(ROOT, step);
  step(`installing ${vsix}`);
  installVsix(dirs, vsix);

  // ---- start code-server
  const server = await startCodeServer(dirs, ws, join(S, 'code-server.log'));
  codeServer = server.child;
  const base = server.url;
  step(`code-server up on ${base} after ${Date.now() - T0} ms`);

  const opened = await workbenchBrowser(S, env, shots);
  browser = opened.browser;
  const { page, shot } = opened;
  try {
    await page.goto(`${base}/?folder=${encodeURIComponent(ws)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: 30_000 }).catch(() => {});
    await page.waitForTimeout(1000);
    await shot('01-workbench');

    // ---- spiral.ode → warnings
    const tOpen = Date.now();
    await quickOpen(page, 'spiral.ode');
    await page.waitForSelector('.monaco-editor .view-lines', { state: 'visible' });
    await page.waitForSelector('.monaco-editor .squiggly-warning', { timeout: DIAG_TIMEOUT });
    // The static scheme warning comes at once; the measured ones when the background check is done.
    await waitFor(
      'the gradient check to report findings',
      async () => /\b[1-9]\d* findings?\b/.test((await statusText(page)) ?? ''),
      DIAG_TIMEOUT,
      250,
    );
    const checkMs = Date.now() - tOpen;
    step(`warnings on spiral.ode after ${checkMs} ms`);
    await page.waitForTimeout(500);
    const squiggles = await page.locator('.monaco-editor .squiggly-warning').count();
    step(`status bar: ${await statusText(page)}`);
    await shot('02-spiral-warnings');

    const problems = await problemsText(page);
    writeFileSync(join(S, 'problems-before.txt'), problems);
    await shot('03-problems');
    for (const code of ['oscillating-gradient', 'weakly-stable-scheme']) {
      assert.ok(problems.includes(code), `Problems panel lacks ${code}:\n${problems}`);
    }
    // Warnings sit on the `@ … meth=leapfrog` line (12) and on the `param` lines (7–9).
    assert.match(problems, /Ln 12\b|line 12\b/i, `no problem on line 12 (meth=leapfrog):\n${problems}`);
    assert.match(problems, /(Ln|line) [789]\b/i, `no problem on the param lines 7–9:\n${problems}`);
    assert.ok(squiggles >= 2, `expected squiggles on several ranges, saw ${squiggles}`);
    await page.keyboard.press('Control+Shift+M'); // close the panel again
    await page.keyboard.press('Escape');

    // Hover on the meth=leapfrog squiggle: the picture for the README.
    await page.locator('.monaco-editor .view-lines').first().click();
    await goToLine(page, 12, 30);
    await showHover(page);
    await page
      .waitForSelector('.monaco-hover:not(.hidden) .hover-contents, .monaco-hover .hover-row', { timeout: 10_000 })
      .catch(() => {});
    await page.waitForTimeout(700);
    await shot('04-hover');
    await page.keyboard.press('Escape');

    // ---- the fix is offered on a param line too (W1, line 7)
    await goToLine(page, 7, 8);
    await page.keyboard.press('Control+.');
    await page.waitForSelector('.action-widget', { state: 'visible', timeout: 20_000 });
    await page.locator('.action-widget .monaco-list-row', { hasText: FIX_TITLE }).first().waitFor({ timeout: 20_000 });
    await page.keyboard.press('Escape');
    await page.waitForSelector('.action-widget', { state: 'hidden', timeout: 5_000 }).catch(() => {});

    // ---- quick fix on the meth=leapfrog value
    await goToLine(page, 12, 30);
    await page.keyboard.press('Control+.');
    await page.waitForSelector('.action-widget', { state: 'visible', timeout: 20_000 });
    const fixRow = page.locator('.action-widget .monaco-list-row', { hasText: FIX_TITLE }).first();
    await fixRow.waitFor({ timeout: 20_000 });
    await shot('05-quick-fix-menu');
    await fixRow.click();
    await waitFor(
      'the quick fix edit in the editor',
      async () => (await page.locator('.monaco-editor .view-lines').first().innerText()).includes('gradfix=filter121'),
      10_000,
    );
    await page.keyboard.press('Control+S');
    const fixed = await waitFor(
      'the saved file',
      () => {
        const s = readFileSync(join(ws, 'spiral.ode'), 'utf8');
        return s.includes('gradfix=filter121') ? s : undefined;
      },
      10_000,
    );
    step('quick fix applied and saved');
    // Byte-identical apart from the added `, gradfix=filter121` on the `@` line.
    assert.equal(fixed.replace(/, ?gradfix=filter121/, ''), original, 'the fix changed more than the @ line');
    const atLine = fixed.split('\n').find((l) => l.startsWith('@'))!;
    assert.match(atLine, /meth=leapfrog/);
    assert.match(atLine, /gradfix=filter121/);

    // ---- the warnings go
    await waitFor(
      'the warnings to disappear',
      async () => (await page.locator('.monaco-editor .squiggly-warning').count()) === 0,
      DIAG_TIMEOUT,
      250,
    );
    // Gone for good: the re-check of the fixed file finishes with no finding (status bar), and
    // no squiggle comes back.
    if (await statusText(page)) {
      await waitFor(
        'the status bar to report 0 findings',
        async () => /\b0 findings\b/.test((await statusText(page)) ?? ''),
        DIAG_TIMEOUT,
        250,
      );
    } else {
      await page.waitForTimeout(Math.max(3_000, checkMs));
    }
    assert.equal(
      await page.locator('.monaco-editor .squiggly-warning').count(),
      0,
      'the warnings came back after the re-check',
    );
    step(`warnings gone after the fix; status bar: ${await statusText(page)}`);
    await shot('06-fixed');

    // ---- gradient plots webview
    await runCommand(page, 'ODE Lens: Show Gradient Plots');
    const { frame: plotFrame, ink } = await waitFor(
      'a drawn chart canvas in a webview frame',
      async () => {
        for (const f of page.frames()) {
          if (f === page.mainFrame()) continue;
          const c = await canvasInk(f).catch(() => []);
          if (c.some((x) => x.ink > 200)) return { frame: f, ink: c };
        }
        return undefined;
      },
      60_000,
      500,
    );
    step(`chart canvases: ${JSON.stringify(ink)}`);
    await page.waitForTimeout(800);
    await shot('07-gradient-plots');
    assert.ok(
      ink.some((c) => c.w > 50 && c.h > 50 && c.ink > 200),
      `no non-blank chart canvas: ${JSON.stringify(ink)}`,
    );
    // The dashboard's other views draw too, from the rows the real server answers.
    /** The frame whose dashboard shows `view` drawn (some frame when `frame` is not given, as after a reload). */
    const viewDrawn = (view: string, frame?: Frame) =>
      waitFor(
        `the ${view} view drawn`,
        async () => {
          for (const f of frame ? [frame] : page.frames().filter((x) => x !== page.mainFrame())) {
            const on = await f
              .evaluate(() => {
                const g = (window as unknown as { odeLensPlot?: { view?: string; chart?: unknown } }).odeLensPlot;
                return g && { view: g.view, chart: !!g.chart };
              })
              .catch(() => undefined);
            if (on?.view !== view || !on.chart) continue;
            const c = await canvasInk(f);
            if (c.some((x) => x.ink > 200)) return c;
          }
          return undefined;
        },
        frame ? 20_000 : 60_000,
        250,
      );
    for (const view of ['trajectory', 'layers', 'adjoint']) {
      await plotFrame.click(`#odelens-tab-${view}`);
      step(`dashboard view ${view}: ${JSON.stringify(await viewDrawn(view, plotFrame))}`);
    }
    await shot('07b-dashboard-adjoint');
    // A reload of the window brings the panel back (its serializer) on the view it showed.
    await runCommand(page, 'Developer: Reload Window');
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    step(`after a window reload, the adjoint view again: ${JSON.stringify(await viewDrawn('adjoint'))}`);
    await shot('07c-dashboard-reloaded');

    // ---- spiral-rk4.ode: no warning once its check settles
    const tRk4 = Date.now();
    await quickOpen(page, 'spiral-rk4.ode');
    await page.waitForSelector('.monaco-editor .view-lines', { state: 'visible' });
    // Settled when the status bar item reports the finished check ("… · 0 findings");
    // without that item, give it twice as long as spiral.ode's check took (at least 8 s).
    const settle = Math.max(8_000, 2 * checkMs);
    let status: string | undefined;
    for (;;) {
      const n = await page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-error').count();
      assert.equal(n, 0, 'spiral-rk4.ode got a warning');
      status = await statusText(page);
      const elapsed = Date.now() - tRk4;
      if (status && /\bfindings?\b/.test(status) && !/checking|queued/.test(status) && elapsed > 1500) break;
      if (!status && elapsed > settle) break;
      assert.ok(elapsed < DIAG_TIMEOUT, `spiral-rk4.ode check did not finish (status bar: ${status})`);
      await page.waitForTimeout(250);
    }
    step(`spiral-rk4.ode settled after ${Date.now() - tRk4} ms; status bar: ${status ?? '(no ODE Lens item)'}`);
    if (status) assert.match(status, /\b0 findings\b/, `status bar for spiral-rk4.ode: ${status}`);
    assert.equal(await page.locator('.monaco-editor .squiggly-warning').count(), 0, 'spiral-rk4.ode got a warning');
    await shot('08-rk4-clean');
    const problemsAfter = await problemsText(page, false);
    writeFileSync(join(S, 'problems-after.txt'), problemsAfter);
    assert.ok(
      !/spiral-rk4/.test(problemsAfter) || !/warning/i.test(problemsAfter),
      `problems for spiral-rk4.ode:\n${problemsAfter}`,
    );
    assert.equal(readFileSync(join(ws, 'spiral-rk4.ode'), 'utf8'), originalRk4);

    if (process.env.ODELENS_UPDATE_SCREENSHOT === '1') {
      // The README picture: the original model with its warnings, the hover and the plots side by side.
      writeFileSync(join(ws, 'spiral.ode'), original);
      await page.keyboard.press('Escape');
      if (
        await page
          .locator('.part.panel')
          .isVisible()
          .catch(() => false)
      )
        await page.keyboard.press('Control+J'); // hide the panel
      await page.locator('.tabs-container .tab[aria-label^="spiral.ode"]').first().click();
      await page.waitForSelector('.monaco-editor .squiggly-warning', { timeout: DIAG_TIMEOUT });
      await page.keyboard.press('Control+B'); // hide the side bar
      await runCommand(page, 'ODE Lens: Show Gradient Plots');
      await page.waitForTimeout(2500);
      await page.locator('.editor-group-container').first().locator('.view-lines').click();
      await goToLine(page, 12, 30);
      await showHover(page);
      await page.waitForTimeout(1200);
      copyFileSync(await shot('09-readme'), join(ROOT, 'docs', 'screenshot.png'));
      step('docs/screenshot.png updated');
    }
    step(`done in ${Date.now() - T0} ms; screenshots in ${shots}`);
  } catch (e) {
    await shot('zz-failure');
    throw e;
  }
});
