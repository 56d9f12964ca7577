// The dashboard in a real VS Code (code-server + Playwright + Debian Chromium), every view of it: on the leapfrog
// spiral (examples/spiral.ode, after "Run Refinement Study") the per-layer gradients, the trajectory x(t), the
// adjoint p(t) and the refinement study, and on the same model with shared parameters the sensitivities dL/dθ —
// each drawn (pixels on the chart canvas, from the rows the real server answers), exported through the page's
// buttons and VS Code's save dialog as a PNG (the canvas's size, read from its IHDR) and a CSV (one data row per
// point the chart drew); then a colour theme change redraws every view in the light theme's colours, and a
// window reload brings the dashboard back on the view it showed.
// Prerequisites as test/e2e/vscode.test.ts (scripts/setup-e2e.sh); missing ones skip the suite with the reason
// (they fail it under ODELENS_REQUIRE_E2E=1).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it, type TestContext } from 'node:test';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Frame, Page } from 'playwright-core';
import type { DashboardView, ExportFormat } from '../../protocol/webviewMessages';
import { canvasInk, plotState, viewDrawn } from '../support/dashboard';
import {
  closeEditorSession,
  type EditorSession,
  missingEditorPrerequisite,
  openEditorSession,
} from '../support/editorSession';
import { repoRoot, waitFor } from '../support/e2e';
import { quickOpen, runCommand, statusText } from '../support/workbench';

const ROOT = repoRoot();
/** Checks, refinement studies and redraws on a loaded CI machine: generous. */
const CHECK_TIMEOUT = 120_000;
const DRAW_TIMEOUT = 60_000;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const skipped = missingEditorPrerequisite();
if (skipped && process.env.ODELENS_REQUIRE_E2E === '1') throw new Error(skipped);
if (skipped) console.log(`# dashboard e2e skipped: ${skipped}`);

function step(msg: string): void {
  console.log(`# [dashboard e2e ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

const spiral = readFileSync(join(ROOT, 'examples', 'spiral.ode'), 'utf8');
/** The same model with its parameters shared by every step: what the sensitivities view draws. */
const spiralShared = spiral.replace(/ per-step/g, '');

const toast = (page: Page, text: string | RegExp) =>
  page.locator('.notifications-toasts .notification-toast', { hasText: text }).last();

/** PNG width and height from its IHDR chunk (right after the 8-byte signature). */
function pngSize(bytes: Buffer): { w: number; h: number } {
  assert.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE, 'not a PNG (signature)');
  assert.equal(bytes.subarray(12, 16).toString('latin1'), 'IHDR', 'the PNG does not start with IHDR');
  return { w: bytes.readUInt32BE(16), h: bytes.readUInt32BE(20) };
}

/** Points the chart on show draws per dataset (the Chart.js instance's data). */
function chartPoints(frame: Frame): Promise<number[]> {
  return frame.evaluate(() => {
    const chart = (window as unknown as { odeLensPlot: { chart: { data: { datasets: { data: unknown[] }[] } } } })
      .odeLensPlot.chart;
    return chart.data.datasets.map((d) => d.data.length);
  });
}

/** The chart's text colour (axis ticks), as the page's theme gave it. */
function chartTextColour(frame: Frame): Promise<string> {
  return frame.evaluate(() => {
    const chart = (
      window as unknown as { odeLensPlot: { chart: { options: { scales: { x: { ticks: { color: string } } } } } } }
    ).odeLensPlot.chart;
    return String(chart.options.scales.x.ticks.color);
  });
}

/**
 * Clicks the page's export button for `format`, accepts VS Code's save dialog (the simple file dialog in
 * code-server: its input holds the default path next to the model) with Enter, and returns the saved file.
 */
async function exportThroughDialog(page: Page, frame: Frame, ws: string, format: ExportFormat): Promise<string> {
  await frame.click(`#odelens-export-${format}`);
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  const typed = await waitFor(
    `the save dialog's default .${format} path`,
    async () => {
      const v = await input.inputValue();
      return v.endsWith(`.${format}`) ? v : undefined;
    },
    30_000,
    200,
  );
  const name = typed.split('/').pop()!;
  await page.keyboard.press('Enter');
  const file = join(ws, name);
  await waitFor(`${name} on disk`, () => existsSync(file), 30_000, 200);
  await toast(page, `ODE Lens: saved ${name}`).waitFor({ timeout: 30_000 });
  return file;
}

/** The view's tab enabled in the page (the report holds its data). */
function tabEnabled(page: Page, view: DashboardView): Promise<Frame> {
  return waitFor(
    `the ${view} tab enabled`,
    async () => {
      for (const f of page.frames()) {
        if (f === page.mainFrame()) continue;
        const on = await f
          .evaluate((id) => {
            const b = document.getElementById(id) as HTMLButtonElement | null;
            return !!b && !b.disabled;
          }, `odelens-tab-${view}`)
          .catch(() => false);
        if (on) return f;
      }
      return undefined;
    },
    CHECK_TIMEOUT,
    500,
  );
}

describe('the dashboard in VS Code (code-server)', { skip: skipped, timeout: 900_000 }, () => {
  let ed: EditorSession | undefined;

  before(async () => {
    ed = await openEditorSession(
      'e2e-dashboard',
      { 'spiral.ode': spiral, 'spiral-shared.ode': spiralShared },
      { 'workbench.colorTheme': 'Default Dark Modern' },
      step,
    );
  });
  after(() => closeEditorSession(ed));

  const fail = async (t: TestContext, e: unknown) => {
    await ed?.shot(`zz-${t.name.replace(/\W+/g, '-')}`);
    throw e;
  };

  /** Draws `view` in `frame`, exports its PNG and CSV, and checks both files against the chart on show. */
  async function drawAndExport(frame: Frame, view: DashboardView): Promise<void> {
    const { page, ws, shot } = ed!;
    await frame.click(`#odelens-tab-${view}`);
    const { ink } = await viewDrawn(page, view, DRAW_TIMEOUT, frame);
    const state = (await plotState(frame))!;
    const points = await chartPoints(frame);
    step(`${view}: ${ink.ink} pixels drawn on ${ink.w}×${ink.h}; points per dataset ${JSON.stringify(points)}`);
    assert.ok(
      points.some((n) => n > 0),
      `${view}: the chart has no data points`,
    );
    await shot(`view-${view}`);

    const png = readFileSync(await exportThroughDialog(page, frame, ws, 'png'));
    assert.deepEqual(pngSize(png), { w: ink.w, h: ink.h }, `${view}: the PNG is not the canvas's size`);

    const csvFile = await exportThroughDialog(page, frame, ws, 'csv');
    const text = readFileSync(csvFile, 'utf8');
    assert.equal(text, await frame.evaluate(() => window.odeLensPlot?.csv?.() ?? ''), `${view}: not the page's CSV`);
    const [header, ...data] = parseCsv(text) as string[][];
    assert.equal(new Set(header).size, header.length, `${view}: CSV header names repeat: ${header}`);
    assert.deepEqual(
      header.slice(0, 2),
      view === 'refinement' ? ['parameter', 'steps'] : ['series', 'column'],
      `${view}: CSV header ${header}`,
    );
    // One data row per point the chart drew: each row-table point (all datasets), or each refinement level
    // (its raw and corrected series draw one point per level; the error floor line is no data).
    const expected = view === 'refinement' ? points[0] : points.reduce((a, b) => a + b, 0);
    assert.equal(data.length, expected, `${view}: ${data.length} CSV rows for ${expected} drawn points`);
    // The numbers: x and value of a row table (after series, column, component), every level column.
    const numeric = header.map((_, k) => k).slice(view === 'refinement' ? 1 : 3);
    for (const row of data)
      for (const k of numeric)
        assert.ok(
          row[k] === '' || Number.isFinite(Number(row[k])),
          `${view}: ${header[k]} = ${row[k]} is not a number in ${row.join(',')}`,
        );
    if (state.rows) assert.ok(state.rows.rows > 0, `${view}: no rows behind the chart`);
    step(`${view}: exported ${png.length} bytes of PNG, CSV header ${header.join(',')} and ${data.length} rows`);
  }

  it('every view draws its data and exports a PNG and a CSV', async (t) => {
    const { page } = ed!;
    try {
      await quickOpen(page, 'spiral.ode');
      await waitFor(
        'the first check',
        async () => /\b[1-9]\d* findings?\b/.test((await statusText(page)) ?? ''),
        CHECK_TIMEOUT,
        250,
      );
      // The refinement study: the command runs it and opens the dashboard on its report.
      await runCommand(page, 'ODE Lens: Run Refinement Study');
      let frame = await tabEnabled(page, 'refinement');
      step('refinement study done: its tab is enabled');
      for (const view of ['layers', 'trajectory', 'adjoint', 'refinement'] as const) await drawAndExport(frame, view);
      // spiral.ode shares no parameter: its sensitivities tab says so.
      assert.match(
        await frame.getAttribute('#odelens-tab-sensitivities', 'title').then((s) => s ?? ''),
        /no shared parameters/,
      );

      // The shared-parameter model: the dashboard follows the editor to it.
      await runCommand(page, 'View: Focus First Editor Group');
      await quickOpen(page, 'spiral-shared.ode');
      frame = await tabEnabled(page, 'sensitivities');
      await drawAndExport(frame, 'sensitivities');
    } catch (e) {
      await fail(t, e);
    }
  });

  it('a colour theme change redraws every view in the new colours', async (t) => {
    const { page, shot } = ed!;
    try {
      const { frame } = await viewDrawn(page, 'sensitivities', DRAW_TIMEOUT);
      const before = {
        body: await frame.evaluate(() => document.body.className),
        state: (await plotState(frame))!,
        text: await chartTextColour(frame),
        ink: (await canvasInk(frame, '#odelens-gradient-chart'))[0],
      };
      assert.match(before.body, /\bvscode-dark\b/);
      assert.equal(before.state.theme, 'dark');

      // The light theme from the palette's "Preferences: Color Theme" (clicked by its row: typing the title also
      // lists "Browse Color Themes in Marketplace", which Enter may pick), then "Light Modern" in its picker.
      await runCommand(page, 'View: Focus First Editor Group');
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible', timeout: 30_000 });
      await page.keyboard.type('Preferences: Color Theme');
      await page
        .locator('.quick-input-list .monaco-list-row[aria-label^="Preferences: Color Theme"]')
        .first()
        .click({ timeout: 30_000 });
      await page.waitForSelector('.quick-input-list .monaco-list-row[aria-label*="Dark Modern"]', { timeout: 30_000 });
      await page.keyboard.type('Light Modern');
      await page
        .locator('.quick-input-list .monaco-list-row[aria-label*="Light Modern"]')
        .first()
        .click({ timeout: 30_000 });
      const after = await viewDrawn(
        page,
        'sensitivities',
        DRAW_TIMEOUT,
        frame,
        (s) => s.theme === 'light' && (s.draws ?? 0) > (before.state.draws ?? 0),
      );
      const body = await frame.evaluate(() => document.body.className);
      const text = await chartTextColour(frame);
      step(`theme: ${before.body} → ${body}; chart text ${before.text} → ${text}`);
      assert.match(body, /\bvscode-light\b/);
      assert.notEqual(text, before.text, 'the chart kept the dark theme text colour');
      assert.notEqual(after.ink.digest, before.ink.digest, 'the canvas pixels did not change with the theme');
      await shot('theme-light');

      // Every other view draws in the light theme too (back on spiral.ode, with its refinement study).
      // Its editor tab (Quick Open's first match for "spiral.ode" can be spiral-shared.ode, the recent one).
      await page.locator('.tabs-container .tab[aria-label^="spiral.ode"]').first().click();
      const spiralFrame = await tabEnabled(page, 'layers');
      for (const view of ['layers', 'trajectory', 'adjoint', 'refinement'] as const) {
        if (view === 'refinement') await tabEnabled(page, 'refinement');
        await spiralFrame.click(`#odelens-tab-${view}`);
        const drawn = await viewDrawn(page, view, DRAW_TIMEOUT, spiralFrame, (s) => s.theme === 'light');
        assert.equal(await chartTextColour(spiralFrame), text, `${view}: not in the light theme's text colour`);
        step(`${view} in the light theme: ${drawn.ink.ink} pixels drawn`);
      }
    } catch (e) {
      await fail(t, e);
    }
  });

  it('a window reload brings the dashboard back on its view, in the theme', async (t) => {
    const { page, shot } = ed!;
    try {
      // The view it shows (trajectory: from the plain check the reloaded window's server runs again).
      const frame = (await viewDrawn(page, 'refinement', DRAW_TIMEOUT)).frame;
      await frame.click('#odelens-tab-trajectory');
      await viewDrawn(page, 'trajectory', DRAW_TIMEOUT, frame);
      await runCommand(page, 'Developer: Reload Window');
      // The old page's frames go first: what is drawn after that is the restored panel's.
      await waitFor('the window to reload', () => frame.isDetached(), 60_000, 200);
      await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
      const back = await viewDrawn(page, 'trajectory', CHECK_TIMEOUT, undefined, (s) => s.theme === 'light');
      step(`after the reload: trajectory, ${back.ink.ink} pixels drawn`);
      assert.match(await back.frame.evaluate(() => document.body.className), /\bvscode-light\b/);
      await shot('reloaded');
    } catch (e) {
      await fail(t, e);
    }
  });
});
