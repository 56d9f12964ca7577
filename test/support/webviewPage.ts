// The plot page (dist/webview.js) served under its real CSP (webview/html.ts) in Chromium, with the VS Code
// webview API stubbed: what the page posts is recorded in `window.__posted`, and `send` plays the host.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { renderWebviewHtml } from '../../webview/html';
import { launchChromium } from './browser';

const ORIGIN = 'https://odelens-webview.test';

export interface WebviewPage {
  page: Page;
  /** Errors the page threw. */
  errors: string[];
  /** Posts a host → webview message. */
  send(message: unknown): Promise<void>;
  close(): Promise<void>;
}

export async function openWebviewPage(root: string): Promise<WebviewPage> {
  const profile = mkdtempSync(join(tmpdir(), 'odelens-webview-'));
  const context: BrowserContext = await launchChromium(profile, { viewport: { width: 1200, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = join(root, path);
    if (path === '/index.html')
      return route.fulfill({
        contentType: 'text/html',
        body: renderWebviewHtml({
          cspSource: ORIGIN,
          nonce: 'trainingnonce0123456789abcdefABC',
          scriptUri: `${ORIGIN}/dist/webview.js`,
          styleUri: `${ORIGIN}/dist/webview.css`,
        }),
      });
    if (!path.startsWith('/dist/') || !existsSync(file)) return route.fulfill({ status: 404, body: '' });
    return route.fulfill({
      contentType: path.endsWith('.css') ? 'text/css' : 'text/javascript',
      body: readFileSync(file),
    });
  });
  await page.addInitScript(`
    window.__posted = [];
    window.acquireVsCodeApi = () => ({
      postMessage: (m) => window.__posted.push(m),
      getState: () => undefined,
      setState: () => {},
    });
  `);
  await page.goto(`${ORIGIN}/index.html`);
  return {
    page,
    errors,
    send: (message) => page.evaluate((m) => window.postMessage(m, '*'), message),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Pixels with ink on a canvas, and those near a colour (each of r, g, b within 60). */
export function canvasInk(
  page: Page,
  id: string,
  rgb: [number, number, number],
): Promise<{ drawn: number; colour: number }> {
  return page.evaluate(
    ({ id, rgb }) => {
      const c = document.getElementById(id) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let drawn = 0;
      let colour = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 0) drawn++;
        if (
          d[i + 3] > 200 &&
          Math.abs(d[i] - rgb[0]) < 60 &&
          Math.abs(d[i + 1] - rgb[1]) < 60 &&
          Math.abs(d[i + 2] - rgb[2]) < 60
        )
          colour++;
      }
      return { drawn, colour };
    },
    { id, rgb },
  );
}
