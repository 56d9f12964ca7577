// Reading the dashboard webview (webview/main.ts) from an editor suite: which frame shows which view, and
// whether its chart canvas has pixels drawn on it (not just DOM). The page exposes `window.odeLensPlot`.
import type { Frame, Page } from 'playwright-core';
import { CHART_CANVAS_ID, type OdeLensPlotGlobal } from '../../protocol/webviewMessages';
import { waitFor } from './e2e';

export interface CanvasInk {
  w: number;
  h: number;
  /** Pixels that are drawn: not transparent and not the colour of the canvas's first pixel. */
  ink: number;
  /** A digest of the pixels: changes when the chart is drawn in other colours. */
  digest: number;
}

/** For each canvas in the frame: its size, how many pixels are drawn, and a digest of them. */
export function canvasInk(frame: Frame, selector = 'canvas'): Promise<CanvasInk[]> {
  return frame.evaluate(
    (sel) =>
      Array.from(document.querySelectorAll<HTMLCanvasElement>(sel)).map((c) => {
        const ctx = c.getContext('2d');
        if (!ctx || c.width === 0 || c.height === 0) return { w: c.width, h: c.height, ink: 0, digest: 0 };
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        const [r0, g0, b0, a0] = [d[0], d[1], d[2], d[3]];
        let ink = 0;
        let digest = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0 && (d[i] !== r0 || d[i + 1] !== g0 || d[i + 2] !== b0 || d[i + 3] !== a0)) ink++;
          digest = (digest * 31 + d[i] * 7 + d[i + 1] * 11 + d[i + 2] * 13 + d[i + 3]) >>> 0;
        }
        return { w: c.width, h: c.height, ink, digest };
      }),
    selector,
  );
}

/** What the page says it shows (window.odeLensPlot), without the chart instance. */
export function plotState(
  frame: Frame,
): Promise<(Omit<OdeLensPlotGlobal, 'chart' | 'csv' | 'training'> & { chart: boolean }) | undefined> {
  return frame
    .evaluate(() => {
      const g = (window as unknown as { odeLensPlot?: OdeLensPlotGlobal }).odeLensPlot;
      if (!g) return undefined;
      const { chart, csv: _csv, training: _training, ...rest } = g;
      return { ...rest, chart: !!chart };
    })
    .catch(() => undefined);
}

/**
 * Waits for a frame whose dashboard shows `view` with its chart drawn (more than 200 inked pixels), and
 * `also` true of its state when given; looks in `frame` only when given, else in every webview frame.
 */
export function viewDrawn(
  page: Page,
  view: string,
  timeout: number,
  frame?: Frame,
  also: (s: NonNullable<Awaited<ReturnType<typeof plotState>>>) => boolean = () => true,
): Promise<{ frame: Frame; ink: CanvasInk }> {
  return waitFor(
    `the ${view} view drawn`,
    async () => {
      for (const f of frame ? [frame] : page.frames().filter((x) => x !== page.mainFrame())) {
        const on = await plotState(f);
        if (on?.view !== view || !on.chart || !also(on)) continue;
        const [ink] = await canvasInk(f, `#${CHART_CANVAS_ID}`).catch(() => []);
        if (ink && ink.ink > 200) return { frame: f, ink };
      }
      return undefined;
    },
    timeout,
    250,
  );
}
