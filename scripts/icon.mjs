// Draws the extension icon (images/icon.png, 256×256) from the SVG below with Chromium
// (playwright-core, the browser the e2e tests use): a decaying spiral trajectory of an ODE,
// and a lens over it that shows the layer gradient's period-2 zig-zag.
// Run after changing the drawing: node scripts/icon.mjs
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const SIZE = 256;
const f = (x) => x.toFixed(2);

// Spiral x(t) = r0·e^(−kθ)·(cos θ, sin θ) around (58, 58), in a 128-unit view box.
const spiral = [];
for (let i = 0; i <= 240; i++) {
  const th = (i / 240) * 4.2 * Math.PI;
  const r = 44 * Math.exp(-0.16 * th);
  spiral.push(`${i ? 'L' : 'M'}${f(58 + r * Math.cos(th))} ${f(58 - r * Math.sin(th))}`);
}
// Inside the lens: a smooth curve with a period-2 oscillation on top, one point per layer.
const zig = [];
for (let k = 0; k <= 12; k++) {
  const x = 54 + k * 4;
  const y = 76 - 10 * Math.sin((k / 12) * Math.PI) + (k % 2 ? 7 : -7);
  zig.push(`${k ? 'L' : 'M'}${f(x)} ${f(y)}`);
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 128 128">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#10223a"/><stop offset="1" stop-color="#1f4f86"/>
    </linearGradient>
    <clipPath id="lens"><circle cx="78" cy="74" r="25"/></clipPath>
  </defs>
  <rect x="2" y="2" width="124" height="124" rx="26" fill="url(#bg)"/>
  <path d="${spiral.join('')}" fill="none" stroke="#5ad1ff" stroke-width="5" stroke-linecap="round" stroke-linejoin="round"/>
  <circle cx="78" cy="74" r="25" fill="#0b1a2c" fill-opacity="0.78"/>
  <path d="${zig.join('')}" clip-path="url(#lens)" fill="none" stroke="#ffb547" stroke-width="4" stroke-linejoin="round"/>
  <circle cx="78" cy="74" r="25" fill="none" stroke="#f4f7fb" stroke-width="6"/>
  <path d="M96 92 L114 110" stroke="#f4f7fb" stroke-width="11" stroke-linecap="round"/>
</svg>`;

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const executablePath = [process.env.ODELENS_CHROMIUM, '/usr/bin/chromium', '/usr/bin/google-chrome'].find(
  (p) => p && existsSync(p),
);
if (!executablePath) throw new Error('Chromium not found (apt-get install -y chromium)');
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: SIZE, height: SIZE }, deviceScaleFactor: 1 });
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg}</body></html>`);
  const png = await page.locator('svg').screenshot({ omitBackground: true });
  mkdirSync(join(root, 'images'), { recursive: true });
  writeFileSync(join(root, 'images/icon.png'), png);
  console.log(`images/icon.png: ${png.length} bytes`);
} finally {
  await browser.close();
}
