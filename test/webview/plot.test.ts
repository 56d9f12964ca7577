// The plot webview (dist/webview.js) in a real Chromium page, under the same strict CSP
// the panel uses (webview/html.ts). NOTE: this test STUBS `acquireVsCodeApi` (an init
// script records posted messages) and plays the host: it posts a report's summary and
// answers the page's rows requests as the server does (solver/rows.ts on the packed
// rows); the real VS Code webview host is exercised by the end-to-end suite (test/e2e/vscode.test.ts). Skips with a printed reason when Chromium
// or playwright-core is missing, unless ODELENS_REQUIRE_E2E=1 (then it fails).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import type { Report } from '../../solver/report';
import type { RowQuery, RowTable } from '../../solver/rows';
import { answerRows } from '../../solver/rows';
import { splitReport } from '../../solver/summary';
import { renderWebviewHtml } from '../../webview/html';
import { CHART_CANVAS_ID, DATASET_LABELS } from '../../protocol/webviewMessages';
import { findChromium, hasPlaywright, launchChromium, prerequisiteOrSkip } from '../support/browser';
import { spiralReport } from './report';
import { metricColumns } from '../../solver/presentation/columns';

const root = join(__dirname, '..', '..', '..');
const ORIGIN = 'https://odelens-webview.test';
const URI = 'file:///work/examples/spiral.ode';

const STUB = `
  window.__posted = [];
  window.__cspViolations = [];
  // Stub of the VS Code webview API (the real host is covered by the e2e suite); its state survives a reload, as VS Code's does.
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => { window.__posted.push(m); window.__odeLensHost?.(m); },
    getState: () => JSON.parse(sessionStorage.getItem('odelens-state') ?? 'null') ?? undefined,
    setState: (s) => sessionStorage.setItem('odelens-state', JSON.stringify(s)),
  });
  document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
`;

interface RowsMessage {
  type: 'rows';
  uri: string;
  requestId: number;
  key?: string;
  query: RowQuery;
}

describe('gradient plots webview in Chromium', { timeout: 180_000 }, () => {
  let context: BrowserContext | undefined;
  let page: Page;
  let report: Report;
  /** The rows of the report on show, as the server holds them, and the rows requests the page made. */
  let shown: { key: string; tables: RowTable[] } | undefined;
  const rowRequests: RowsMessage[] = [];
  let nextKey = 1;
  /** Posts a report as the panel does: its summary, under a fresh key; the host answers rows from its tables. */
  const postReport = async (r: Report, fileName?: string) => {
    const { summary, tables } = splitReport(r);
    shown = { key: `k${nextKey++}`, tables };
    await page.evaluate((m) => window.postMessage(m, '*'), {
      type: 'report',
      uri: URI,
      ...(fileName ? { fileName } : {}),
      key: shown.key,
      report: summary,
    });
  };
  let skipReason: string | undefined;
  const pageErrors: string[] = [];
  let userDataDir = '';

  before(async () => {
    const webviewJs = join(root, 'dist', 'webview.js');
    if (!existsSync(webviewJs)) throw new Error(`${webviewJs} missing: run node scripts/build.mjs`);
    if (!findChromium()) skipReason = 'Chromium is not installed (apt-get install -y chromium)';
    else if (!hasPlaywright()) skipReason = 'playwright-core is not installed';
    if (skipReason) return;
    const r = await spiralReport(root);
    report = r.report;
    console.log(
      `# webview test uses ${r.real ? 'a real Report (runCheck on examples/spiral.ode)' : 'a constructed Report'}`,
    );
    userDataDir = mkdtempSync(join(tmpdir(), 'odelens-webview-'));
    context = await launchChromium(userDataDir, { viewport: { width: 1000, height: 800 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.route(`${ORIGIN}/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/index.html')
        return route.fulfill({
          contentType: 'text/html',
          body: renderWebviewHtml({
            cspSource: ORIGIN,
            nonce: 'testnonce1234567890abcdefABCDEF0',
            scriptUri: `${ORIGIN}/dist/webview.js`,
            styleUri: `${ORIGIN}/dist/webview.css`,
          }),
        });
      const file = join(root, path);
      if (path.startsWith('/dist/') && existsSync(file))
        return route.fulfill({
          contentType: path.endsWith('.css') ? 'text/css' : 'text/javascript',
          body: readFileSync(file),
        });
      return route.fulfill({ status: 404, body: '' });
    });
    // The host: answers rows requests from the packed rows of the report on show, as server/rows.ts does.
    await page.exposeFunction('__odeLensHost', async (m: { type: string }) => {
      if (m.type !== 'rows' || !shown) return;
      const q = m as RowsMessage;
      rowRequests.push(q);
      const answer = answerRows(shown.tables, q.query);
      const result =
        q.key !== shown.key
          ? { key: shown.key, stale: true, message: 'stale' }
          : typeof answer === 'string'
            ? { key: shown.key, message: answer }
            : { key: shown.key, rows: answer };
      await page.evaluate((a) => window.postMessage(a, '*'), {
        type: 'rows',
        uri: q.uri,
        requestId: q.requestId,
        result,
      });
    });
    await page.addInitScript(STUB);
    await page.goto(`${ORIGIN}/index.html`);
  });

  after(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('posts ready at load and shows the empty state before any report', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.waitForFunction(() =>
      (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'),
    );
    assert.equal(await page.isVisible('#odelens-empty'), true);
    assert.match((await page.textContent('#odelens-empty-text')) ?? '', /No gradient check result yet/);
  });

  it('draws raw AD, corrected and reference series for a real report', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await postReport(report, 'spiral.ode');
    await page.waitForFunction(() => !!(window as unknown as { odeLensPlot?: { chart?: unknown } }).odeLensPlot?.chart);
    const info = await page.evaluate(() => {
      const g = (
        window as unknown as {
          odeLensPlot: {
            chart: { data: { datasets: { label: string; data: unknown[] }[] } };
            parameter: string;
            component: number;
          };
        }
      ).odeLensPlot;
      return {
        labels: g.chart.data.datasets.map((d) => d.label),
        lengths: g.chart.data.datasets.map((d) => d.data.length),
        parameter: g.parameter,
        component: g.component,
      };
    });
    assert.deepEqual(info.labels, [DATASET_LABELS.raw, DATASET_LABELS.corrected, DATASET_LABELS.reference]);
    const perStep = report.parameters.filter((p) => p.perStep);
    const p = perStep.find((q) => q.oscillating) ?? perStep[0];
    assert.equal(info.parameter, p.name);
    assert.deepEqual(info.lengths, [p.layerTimes.length, p.layerTimes.length, p.layerTimes.length]);
    // Default component: the one with the largest reference norm.
    const norms = p.reference[0].map((_, j) => Math.hypot(...p.reference.map((row) => row[j])));
    assert.equal(info.component, norms.indexOf(Math.max(...norms)));
    // The canvas has ink, including the raw series' colour.
    const ink = await page.evaluate((id) => {
      const c = document.getElementById(id) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let drawn = 0;
      let red = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 0) drawn++;
        if (d[i + 3] > 200 && d[i] > 200 && d[i + 1] < 120 && d[i + 2] < 120) red++;
      }
      return { w: c.width, h: c.height, drawn, red };
    }, CHART_CANVAS_ID);
    assert.ok(ink.w > 100 && ink.h > 100, JSON.stringify(ink));
    assert.ok(ink.drawn > 1000, `blank canvas: ${JSON.stringify(ink)}`);
    assert.ok(ink.red > 20, `raw series not drawn: ${JSON.stringify(ink)}`);
    // Metrics table: one row per parameter.
    assert.equal(await page.locator('#odelens-metrics tbody tr').count(), report.parameters.length);
    assert.match((await page.textContent('#odelens-metrics')) ?? '', /gradcheck/);
    // The header's check time: the report's in whole ms, the number the status bar shows (test/protocol/status.test.ts).
    const header = (await page.textContent('#odelens-summary')) ?? '';
    assert.ok(header.includes(` · check ${Math.round(report.timings.totalMs)} ms · `), header);
    if (process.env.ODELENS_SCREENSHOT) await page.screenshot({ path: process.env.ODELENS_SCREENSHOT, fullPage: true });
  });

  it("renders the report's metric columns, the same the CLI and the hovers show", async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const cols = metricColumns(report);
    const head = await page.$$eval('#odelens-metrics thead th', (ths) => ths.map((th) => th.textContent ?? ''));
    assert.deepEqual(head, ['parameter', ...cols.map((c) => c.label(report))]);
    for (const p of report.parameters) {
      const cells = await page.$$eval(
        `#odelens-metrics tbody tr`,
        (trs, name) => {
          const tr = trs.find((r) => (r.querySelector('th')?.textContent ?? '').startsWith(`${name} `));
          return tr ? [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '') : [];
        },
        p.name,
      );
      assert.deepEqual(
        cells,
        cols.map((c) => c.cell(p, report)),
        p.name,
      );
    }
  });

  it('keeps every metrics column reachable in a split editor (420 px wide)', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.setViewportSize({ width: 420, height: 800 });
    try {
      await page.waitForFunction(() => window.innerWidth === 420);
      // chart.js resizes its canvas from a ResizeObserver, a frame or more after the viewport changes: give the
      // page time to settle; if it never fits, the measurement below fails with the figures.
      await page
        .waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth + 0.5, undefined, {
          timeout: 5000,
        })
        .catch(() => undefined);
      const fit = await page.evaluate(() => {
        const table = document.getElementById('odelens-metrics')!;
        const last = table.querySelector('thead th:last-child')!;
        // The table's own scrolling box, if it has one (not the page: a webview's body does not scroll sideways).
        let box: HTMLElement | null = table.parentElement;
        while (box && box !== document.body && !/(auto|scroll)/.test(getComputedStyle(box).overflowX))
          box = box.parentElement;
        if (box === document.body) box = null;
        const viewport = document.documentElement.clientWidth;
        const before = last.getBoundingClientRect().right;
        if (box) box.scrollLeft = box.scrollWidth; // as far right as it goes
        const right = box ? box.getBoundingClientRect().right : viewport;
        return {
          viewport,
          before,
          box: box?.id ?? null,
          boxRight: right,
          after: last.getBoundingClientRect().right,
          pageScrollWidth: document.documentElement.scrollWidth,
        };
      });
      console.log(`# metrics table at 420 px: ${JSON.stringify(fit)}`);
      // Either the table fits the panel, or it scrolls inside its own box and its last column can be brought into view.
      assert.ok(fit.boxRight <= fit.viewport + 0.5, JSON.stringify(fit));
      assert.ok(fit.after <= fit.boxRight + 0.5, `last column cut off: ${JSON.stringify(fit)}`);
      assert.ok(fit.pageScrollWidth <= fit.viewport + 0.5, `the page itself overflows: ${JSON.stringify(fit)}`);
    } finally {
      await page.setViewportSize({ width: 1000, height: 800 });
    }
  });

  it('switches parameter and component from the selects', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const perStep = report.parameters.filter((p) => p.perStep);
    const other = perStep[perStep.length - 1];
    await page.selectOption('#odelens-parameter', other.name);
    await page.waitForFunction(
      (n) => (window as unknown as { odeLensPlot: { parameter: string } }).odeLensPlot.parameter === n,
      other.name,
    );
    await page.selectOption('#odelens-component', '0');
    // The chart follows when the component's rows arrive.
    await page.waitForFunction((n) => {
      const g = (window as unknown as { odeLensPlot: { parameter: string; component: number } }).odeLensPlot;
      return g.parameter === n && g.component === 0;
    }, other.name);
    const sel = await page.evaluate(() => {
      const g = (
        window as unknown as {
          odeLensPlot: {
            parameter: string;
            component: number;
            chart: { data: { datasets: { data: { y: number | null }[] }[] } };
          };
        }
      ).odeLensPlot;
      return { parameter: g.parameter, component: g.component, firstRaw: g.chart.data.datasets[0].data[0].y };
    });
    assert.equal(sel.parameter, other.name);
    assert.equal(sel.component, 0);
    const expected = other.raw[0][0];
    assert.ok(
      sel.firstRaw === null
        ? !Number.isFinite(expected)
        : Math.abs(sel.firstRaw - expected) <= 1e-9 * Math.max(1, Math.abs(expected)),
    );
  });

  it('labels components by their index in the tensor when the report carries only some of them', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const p = report.parameters.find((q) => q.perStep && q.shape.length === 2)!;
    const cols = [1, p.raw[0].length - 1]; // flat indices kept, as the engine's `components`
    const cut = (rows: number[][]) => rows.map((row) => cols.map((k) => row[k]));
    const partial: Report = {
      ...report,
      parameters: [
        { ...p, raw: cut(p.raw), corrected: cut(p.corrected), reference: cut(p.reference), components: cols },
      ],
    };
    await postReport(partial);
    await page.waitForFunction(() => document.querySelectorAll('#odelens-component option').length === 2);
    const labels = await page.$$eval('#odelens-component option', (os) => os.map((o) => o.textContent ?? ''));
    const label = (flat: number) => `${p.name}[${Math.floor(flat / p.shape[1])},${flat % p.shape[1]}]`;
    assert.ok(labels[0].startsWith(label(cols[0])) && labels[1].startsWith(label(cols[1])), JSON.stringify(labels));
    assert.match(
      (await page.getAttribute('#odelens-component', 'title')) ?? '',
      new RegExp(`The 2 of ${p.shape[0] * p.shape[1]} components`),
    );
  });

  it('asks for one component at the width it draws: a long run arrives as min and max per pixel, the oscillation intact', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const p = report.parameters.find((q) => q.perStep)!;
    const N = 8192,
      width = 16;
    const layerTimes = Array.from({ length: N }, (_, n) => n / N);
    // A smooth density with a period-2 oscillation on top, as leapfrog's raw AD has.
    const reference = layerTimes.map((tn) => Array.from({ length: width }, (_, j) => Math.sin(3 * tn + j)));
    const raw = reference.map((row, n) => row.map((v) => v + (n % 2 ? 0.5 : -0.5)));
    const long: Report = {
      ...report,
      steps: N,
      parameters: [{ ...p, layerTimes, raw, corrected: reference, reference, components: undefined }],
    };
    const before = rowRequests.length;
    await postReport(long);
    await page.waitForFunction((n) => {
      const g = (window as unknown as { odeLensPlot: { parameter: string; rows?: { rows: number } } }).odeLensPlot;
      return g.parameter === n && g.rows?.rows === 8192;
    }, p.name);
    const asked = rowRequests.slice(before);
    assert.ok(asked.length >= 1, 'the page asked for rows');
    const q = asked.at(-1)!.query;
    assert.deepEqual([q.view, q.target, q.columns.length], ['layers', p.name, 1]);
    const drawn = await page.evaluate(() => {
      const g = (
        window as unknown as {
          odeLensPlot: {
            component: number;
            rows: { downsampled: boolean; buckets: number };
            chart: { data: { datasets: { data: { y: number | null }[] }[] } };
          };
        }
      ).odeLensPlot;
      const ys = g.chart.data.datasets[0].data.map((d) => d.y ?? Number.NaN);
      return {
        component: g.component,
        rows: g.rows,
        lengths: g.chart.data.datasets.map((d) => d.data.length),
        min: Math.min(...ys),
        max: Math.max(...ys),
        pixels: document.getElementById('odelens-gradient-chart')!.getBoundingClientRect().width * devicePixelRatio,
      };
    });
    console.log(`# 8192 layers drawn as ${JSON.stringify(drawn)}`);
    assert.equal(drawn.rows.downsampled, true);
    assert.ok(drawn.rows.buckets <= q.buckets && q.buckets <= drawn.pixels + 64, JSON.stringify({ q, drawn }));
    for (const n of drawn.lengths) assert.ok(n <= 3 * drawn.rows.buckets && n < N, `${n} points drawn`);
    // The envelope of the raw series is the column's own: nothing of the oscillation is lost.
    const column = raw.map((row) => row[drawn.component]);
    assert.equal(drawn.min, Math.min(...column));
    assert.equal(drawn.max, Math.max(...column));
  });

  it('shows what it can when no parameter is per-step: the layers tab says why it is off', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const shared: Report = {
      ...report,
      parameters: report.parameters.map((p) => ({
        ...p,
        perStep: false,
        layerTimes: [],
        raw: [p.raw[0]],
        corrected: [p.corrected[0]],
        reference: [p.reference[0]],
        oscillating: false,
      })),
      findings: [],
    };
    await postReport(shared);
    await page.waitForFunction(
      () => (window as unknown as { odeLensPlot: { view?: string } }).odeLensPlot.view !== 'layers',
    );
    assert.equal(await page.isDisabled('#odelens-tab-layers'), true);
    assert.match((await page.getAttribute('#odelens-tab-layers', 'title')) ?? '', /no per-step parameters/);
    // The shared parameters' sensitivities: AD, corrected and reference per component, drawn.
    await page.click('#odelens-tab-sensitivities');
    await waitForView('sensitivities');
    assert.equal(rowRequests.at(-1)?.query.view, 'sensitivities');
    assert.ok((await ink()).drawn > 1000, JSON.stringify(await ink()));
    assert.match(
      (await page.getAttribute(`#${CHART_CANVAS_ID}`, 'aria-label')) ?? '',
      /finite differences: relative error/,
    );
  });

  it('says the check stopped, with its error, when a blow-up leaves nothing to plot', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const message = 'The right-hand side of x is not finite at the initial state (t = 0, x = 0).';
    const stopped: Report = {
      ...report,
      parameters: [],
      statePaths: undefined,
      findings: [{ code: 'blow-up', severity: 'error', message, range: report.findings[0].range }],
    };
    await postReport(stopped);
    await page.waitForFunction(() => !(document.getElementById('odelens-view-note') as HTMLElement).hidden);
    const note = await page.innerText('#odelens-view-note');
    assert.equal(note, `Nothing to plot: the check stopped at an error. ${message}`);
    // Every tab's tooltip names the error too, not a view's own reason ("no shared parameters").
    for (const tab of ['sensitivities', 'layers'])
      assert.equal(
        await page.getAttribute(`#odelens-tab-${tab}`, 'title'),
        `The check stopped at an error: ${message}`,
      );
    // A report with something to draw keeps the view's own note (none here).
    await postReport(report);
    await page.waitForFunction(() => (document.getElementById('odelens-view-note') as HTMLElement).hidden);
  });

  const waitForView = (view: string) =>
    page.waitForFunction((v) => {
      const g = (window as unknown as { odeLensPlot: { view?: string; chart?: unknown } }).odeLensPlot;
      return g.view === v && !!g.chart;
    }, view);
  /** Canvas pixels with ink, and those of a colour (r, g, b within 40). */
  const ink = (rgb: [number, number, number] = [255, 0, 255]) =>
    page.evaluate(
      ({ id, rgb }) => {
        const c = document.getElementById(id) as HTMLCanvasElement;
        const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let drawn = 0,
          colour = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0) drawn++;
          if (d[i + 3] > 200 && rgb.every((v, k) => Math.abs(d[i + k] - v) < 40)) colour++;
        }
        return { drawn, colour };
      },
      { id: CHART_CANVAS_ID, rgb },
    );
  const draws = () => page.evaluate(() => (window as unknown as { odeLensPlot: { draws: number } }).odeLensPlot.draws);

  it('draws each view of the dashboard, asking for only the rows it shows', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    assert.ok(report.statePaths, 'the engine recorded the trajectory');
    await postReport(report, 'spiral.ode');
    await waitForView('layers');
    for (const view of ['trajectory', 'adjoint', 'refinement', 'layers'] as const) {
      const asked = rowRequests.length;
      const disabled = await page.isDisabled(`#odelens-tab-${view}`);
      if (view === 'refinement' && disabled) {
        t.diagnostic(
          `no refinement study in the spiral's report: ${await page.getAttribute('#odelens-tab-refinement', 'title')}`,
        );
        continue;
      }
      assert.equal(disabled, false, view);
      await page.click(`#odelens-tab-${view}`);
      await waitForView(view);
      const pixels = await ink();
      assert.ok(pixels.drawn > 1000, `${view}: blank canvas ${JSON.stringify(pixels)}`);
      const queries = rowRequests.slice(asked).map((q) => q.query);
      if (view === 'refinement') assert.deepEqual(queries, [], 'the refinement study is drawn from the summary');
      else {
        assert.ok(queries.length >= 1 && queries.every((q) => q.view === view), JSON.stringify(queries));
        assert.ok(queries.every((q) => q.columns.length <= 8));
      }
      if (view === 'trajectory') {
        // Both states of the spiral, by name; x(0) = init.
        const labels = await page.evaluate(() =>
          (
            window as unknown as {
              odeLensPlot: { chart: { data: { datasets: { label: string; data: { y: number }[] }[] } } };
            }
          ).odeLensPlot.chart.data.datasets.map((d) => [d.label, d.data[0]?.y]),
        );
        assert.deepEqual(labels, [
          ['x[0]', 2],
          ['x[1]', 0],
        ]);
      }
      const selected = await page.getAttribute(`#odelens-tab-${view}`, 'aria-selected');
      assert.equal(selected, 'true');
    }
  });

  it('exports the chart as PNG and its data as CSV: the CSV is the rows it drew', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.click('#odelens-tab-trajectory');
    await waitForView('trajectory');
    const exported = async (button: string) => {
      const before = await page.evaluate(() => (window as unknown as { __posted: unknown[] }).__posted.length);
      await page.click(button);
      return page.evaluate(
        (n) =>
          (
            window as unknown as { __posted: { type: string; format: string; fileName: string; data: string }[] }
          ).__posted
            .slice(n)
            .find((m) => m.type === 'export')!,
        before,
      );
    };
    const csv = await exported('#odelens-export-csv');
    assert.equal(csv.format, 'csv');
    assert.match(csv.fileName, /^spiral-trajectory\.csv$/);
    const q = rowRequests.filter((r) => r.query.view === 'trajectory').at(-1)!;
    const answer = answerRows(shown!.tables, q.query);
    assert.notEqual(typeof answer, 'string');
    const expected = ['series,column,component,t,value'];
    for (const s of (answer as Exclude<typeof answer, string>).series)
      s.x.forEach((x, n) => expected.push(`${s.series},${s.column},x[${s.column}],${x},${s.y[n] ?? ''}`));
    assert.deepEqual(csv.data.trimEnd().split('\n'), expected);
    const png = await exported('#odelens-export-png');
    assert.equal(png.format, 'png');
    const bytes = Buffer.from(png.data.replace(/^data:image\/png;base64,/, ''), 'base64');
    assert.deepEqual([...bytes.subarray(1, 4)].map((b) => String.fromCharCode(b)).join(''), 'PNG');
    assert.ok(bytes.length > 2000, `${bytes.length} bytes`);
  });

  it('follows the theme: a new body class and colours redraw the chart in them', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.click('#odelens-tab-layers');
    await waitForView('layers');
    const before = await draws();
    assert.equal((await ink()).colour, 0, 'no magenta before the theme change');
    await page.evaluate(() => {
      document.documentElement.style.setProperty('--vscode-charts-red', '#ff00ff');
      document.body.className = 'vscode-dark';
    });
    await page.waitForFunction(
      (n) => (window as unknown as { odeLensPlot: { draws: number; theme: string } }).odeLensPlot.draws > n,
      before,
    );
    assert.equal(
      await page.evaluate(() => (window as unknown as { odeLensPlot: { theme: string } }).odeLensPlot.theme),
      'dark',
    );
    const after = await ink();
    assert.ok(after.colour > 20, `the raw series is not in the theme's red: ${JSON.stringify(after)}`);
    // Back to light (high contrast draws wider lines: more ink of the same colour).
    await page.evaluate(() => {
      document.body.className = 'vscode-high-contrast';
    });
    await page.waitForFunction(
      () => (window as unknown as { odeLensPlot: { theme: string } }).odeLensPlot.theme === 'high-contrast',
    );
    const hc = await ink();
    assert.ok(hc.colour > after.colour, `high contrast: ${JSON.stringify({ after, hc })}`);
    await page.evaluate(() => {
      document.documentElement.style.removeProperty('--vscode-charts-red');
      document.body.className = '';
    });
  });

  it('draws the refinement study on log-log axes with its fitted orders; its CSV is the levels', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const refined = (await spiralReport(root, { refinement: true })).report;
    const p = refined.parameters.find((q) => (q.refinement?.levels.length ?? 0) >= 2);
    assert.ok(p?.refinement, 'runCheck with refinement ran a study');
    await postReport(refined, 'spiral.ode');
    await page.click('#odelens-tab-refinement');
    await waitForView('refinement');
    await page.selectOption('#odelens-parameter', p.name);
    await page.waitForFunction(
      (name) => (window as unknown as { odeLensPlot: { parameter?: string } }).odeLensPlot.parameter === name,
      p.name,
    );
    assert.ok((await ink()).drawn > 1000, JSON.stringify(await ink()));
    const chart = await page.evaluate(() => {
      const c = (
        window as unknown as {
          odeLensPlot: {
            chart: {
              options: { scales: { x: { type: string }; y: { type: string } } };
              data: { datasets: { label: string }[] };
            };
          };
        }
      ).odeLensPlot.chart;
      return { x: c.options.scales.x.type, y: c.options.scales.y.type, labels: c.data.datasets.map((d) => d.label) };
    });
    assert.deepEqual([chart.x, chart.y], ['logarithmic', 'logarithmic']);
    assert.match(chart.labels[0], /^raw AD \(order /);
    const csv = await page.evaluate(() =>
      (window as unknown as { odeLensPlot: { csv: () => string } }).odeLensPlot.csv(),
    );
    assert.deepEqual(csv.trimEnd().split('\n'), [
      'parameter,steps,relError,correctedRelError,alpha',
      ...p.refinement.levels.map((l) => `${p.name},${l.steps},${l.relError},${l.correctedRelError},${l.alpha}`),
    ]);
  });

  it('keeps its view and component across a reload of the page', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.click('#odelens-tab-adjoint');
    await waitForView('adjoint');
    await page.selectOption('#odelens-component', '1');
    await page.waitForFunction(
      () => (window as unknown as { odeLensPlot: { component?: number } }).odeLensPlot.component === 1,
    );
    await page.reload();
    await page.waitForFunction(() =>
      (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'),
    );
    await postReport(report, 'spiral.ode');
    await waitForView('adjoint');
    assert.equal(
      await page.evaluate(() => (window as unknown as { odeLensPlot: { component?: number } }).odeLensPlot.component),
      1,
    );
    assert.equal(await page.inputValue('#odelens-component'), '1');
    assert.ok((await ink()).drawn > 1000);
  });

  it('runs under the strict CSP without violations or page errors, and ignores untyped messages', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    await page.evaluate(() => window.postMessage({ type: 'bogus', html: '<img src=x>' }, '*'));
    await page.evaluate(() => window.postMessage('report', '*'));
    await page.waitForTimeout(100);
    const csp = await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
    assert.deepEqual(csp, []);
    assert.deepEqual(pageErrors, []);
    // Only typed messages were posted to the host.
    const posted = await page.evaluate(() =>
      (window as unknown as { __posted: { type: string }[] }).__posted.map((m) => m.type),
    );
    assert.ok(
      posted.every((m) => m === 'ready' || m === 'runCheck' || m === 'rows'),
      JSON.stringify(posted),
    );
  });
});
