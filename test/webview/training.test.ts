// The dashboard's training view in Chromium (dist/webview.js under its CSP; the VS Code API stubbed, this test
// plays the host): real iterations of raw-AD and filter121 training (solver/train on a leapfrog model, in this
// process) arrive one message at a time, as the server streams them; the three charts draw them (pixels, in the
// runs' colours), grow with each message, and the end shows each run's summary. Skips with a printed reason when
// Chromium or playwright-core is missing (fails with ODELENS_REQUIRE_E2E=1).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TrainIteration } from '../../protocol/customMessages';
import { TRAINING_CHARTS, type TrainingViewState } from '../../protocol/webviewMessages';
import { analyse } from '../../solver/language/index';
import { trainSummaryLine } from '../../solver/presentation/trainSummary';
import { train } from '../../solver/train/train';
import { findChromium, hasPlaywright, prerequisiteOrSkip } from '../support/browser';
import { canvasInk, openWebviewPage, type WebviewPage } from '../support/webviewPage';

const root = join(__dirname, '..', '..', '..');
const URI = 'file:///work/spiral.ode';
const ITERATIONS = 12;
const GRADIENTS = ['ad', 'filter121'] as const;
/** The page's fallback colours of the runs in the light theme (webview/theme.ts): raw red, corrected blue. */
const RAW_RED: [number, number, number] = [229, 83, 75];
const CORRECTED_BLUE: [number, number, number] = [55, 148, 255];

const skipReason = !findChromium()
  ? 'Chromium is not installed (apt-get install -y chromium)'
  : !hasPlaywright()
    ? 'playwright-core is not installed'
    : undefined;

describe('training view in Chromium', { timeout: 180_000 }, () => {
  let web: WebviewPage | undefined;
  const runs = new Map<string, { iterations: TrainIteration[]; line: string }>();

  before(async () => {
    if (skipReason) return;
    if (!existsSync(join(root, 'dist', 'webview.js')))
      throw new Error('dist/webview.js missing: run node scripts/build.mjs');
    const text = readFileSync(join(root, 'examples', 'spiral.ode'), 'utf8').replace('steps=64', 'steps=32');
    const model = analyse(text).model!;
    for (const gradient of GRADIENTS) {
      const iterations: TrainIteration[] = [];
      const result = await train(model, {
        backend: 'cpu',
        iterations: ITERATIONS,
        gradient,
        flowEvery: 3,
        onIteration: (r) =>
          iterations.push({
            gradient,
            iteration: r.iteration,
            loss: r.loss,
            flowLoss: Number.isFinite(r.flowLoss) ? r.flowLoss : null,
            totalVariation: Object.values(r.totalVariation).reduce((a, b) => a + b, 0),
          }),
      });
      runs.set(gradient, { iterations, line: trainSummaryLine(result) });
    }
    web = await openWebviewPage(root);
    await web.page.waitForFunction(() =>
      (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'),
    );
  });
  after(async () => web?.close());

  const viewState = () =>
    web!.page.evaluate(
      () => (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training,
    );

  it('is hidden until a training starts, then grows by one point per message', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const { page } = web!;
    assert.equal(await page.isVisible('#odelens-training'), false);
    await web!.send({ type: 'trainStart', uri: URI, gradients: [...GRADIENTS], iterations: ITERATIONS });
    await page.waitForSelector('#odelens-training', { state: 'visible' });
    const sent: Record<string, number> = { ad: 0, filter121: 0 };
    for (const gradient of GRADIENTS)
      for (const it of runs.get(gradient)!.iterations) {
        await web!.send({ type: 'trainIterations', uri: URI, iterations: [it] });
        sent[gradient]++;
        if (it.iteration === 3 && gradient === 'ad') {
          // Part way: the charts hold what arrived so far, not more.
          await page.waitForFunction((n) => {
            const s = (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training;
            return s?.points.ad === n;
          }, sent.ad);
          const partial = await viewState();
          assert.deepEqual(partial?.points, { ad: 4, filter121: 0 });
          assert.match(
            (await page.textContent('#odelens-training-status')) ?? '',
            /training… raw AD: 4 of 12 iterations/,
          );
        }
      }
    await page.waitForFunction((n) => {
      const s = (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training;
      return s?.points.ad === n && s.points.filter121 === n;
    }, ITERATIONS);
    // A message sent twice (a page reload replays the history) adds nothing.
    await web!.send({ type: 'trainIterations', uri: URI, iterations: runs.get('ad')!.iterations });
    await page.waitForTimeout(100);
    assert.deepEqual((await viewState())?.points, { ad: ITERATIONS, filter121: ITERATIONS });
  });

  it('draws the discrete loss, the flow loss and the total variation of both runs (pixels in their colours)', async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const { page } = web!;
    for (const c of TRAINING_CHARTS) {
      const id = `odelens-train-${c.id}`;
      const red = await canvasInk(page, id, RAW_RED);
      const blue = await canvasInk(page, id, CORRECTED_BLUE);
      assert.ok(red.drawn > 2000, `${c.id}: blank canvas ${JSON.stringify(red)}`);
      assert.ok(red.colour > 20, `${c.id}: raw AD not drawn ${JSON.stringify(red)}`);
      assert.ok(blue.colour > 20, `${c.id}: filter121 not drawn ${JSON.stringify(blue)}`);
    }
    if (process.env.ODELENS_SCREENSHOT) await page.screenshot({ path: process.env.ODELENS_SCREENSHOT, fullPage: true });
  });

  it("ends with each run's summary line, and starts afresh on the next training", async (t) => {
    if (!prerequisiteOrSkip(t, !skipReason, skipReason ?? '')) return;
    const { page } = web!;
    const lines = GRADIENTS.map((g) => runs.get(g)!.line);
    await web!.send({ type: 'trainEnd', uri: URI, outcome: 'completed', lines });
    await page.waitForFunction(
      () =>
        (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training?.outcome ===
        'completed',
    );
    const status = (await page.textContent('#odelens-training-status')) ?? '';
    assert.equal(status, `trained: ${lines.join(' | ')}`);
    await web!.send({ type: 'trainStart', uri: URI, gradients: [...GRADIENTS], iterations: ITERATIONS });
    await page.waitForFunction(() => {
      const s = (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training;
      return s && s.outcome === undefined && s.points.ad === 0;
    });
    await web!.send({ type: 'trainEnd', uri: URI, outcome: 'cancelled', lines: [] });
    await page.waitForFunction(
      () =>
        (window as unknown as { odeLensPlot?: { training?: TrainingViewState } }).odeLensPlot?.training?.outcome ===
        'cancelled',
    );
    assert.match((await page.textContent('#odelens-training-status')) ?? '', /^training cancelled: raw AD: 0 of 12/);
    assert.deepEqual(web!.errors, []);
  });
});
