// Chart colours from the VS Code theme: the `--vscode-*` CSS variables the webview host sets on the page,
// and the body's theme class (vscode-light, vscode-dark, vscode-high-contrast, vscode-high-contrast-light)
// for what the variables do not say (fallbacks, and wider lines in high contrast).

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export function themeKind(): ThemeKind {
  const c = document.body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  return c.contains('vscode-dark') ? 'dark' : 'light';
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export interface ChartColours {
  kind: ThemeKind;
  raw: string;
  corrected: string;
  reference: string;
  /** Colours of further series (the state components), in order. */
  palette: string[];
  text: string;
  grid: string;
  background: string;
  /** Line width factor: high contrast draws wider. */
  widen: number;
}

export function chartColours(): ChartColours {
  const kind = themeKind();
  const dark = kind === 'dark' || kind === 'high-contrast';
  const hc = kind.startsWith('high-contrast');
  const pick = (name: string, light: string, darkFallback: string) => cssVar(name, dark ? darkFallback : light);
  const red = pick('--vscode-charts-red', '#e5534b', '#f14c4c');
  const blue = pick('--vscode-charts-blue', '#3794ff', '#3794ff');
  const green = pick('--vscode-charts-green', '#3fb950', '#89d185');
  const yellow = pick('--vscode-charts-yellow', '#bf8803', '#cca700');
  const orange = pick('--vscode-charts-orange', '#d18616', '#d18616');
  const purple = pick('--vscode-charts-purple', '#652d90', '#b180d7');
  const text = pick('--vscode-foreground', '#616161', '#cccccc');
  return {
    kind,
    raw: red,
    corrected: blue,
    reference: green,
    palette: [blue, red, green, yellow, orange, purple, text],
    text,
    grid: hc
      ? cssVar('--vscode-contrastBorder', dark ? '#6fc3df' : '#0f4a85')
      : pick('--vscode-editorWidget-border', 'rgba(0,0,0,0.15)', 'rgba(255,255,255,0.15)'),
    background: pick('--vscode-editor-background', '#ffffff', '#1e1e1e'),
    widen: hc ? 1.5 : 1,
  };
}

/** `#rgb`/`#rrggbb` → rgba with alpha; other colour syntaxes are returned unchanged. */
export function withAlpha(colour: string, alpha: number): string {
  let hex = /^#([0-9a-f]{6})$/i.exec(colour)?.[1];
  const short = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(colour);
  if (!hex && short) hex = short[1] + short[1] + short[2] + short[2] + short[3] + short[3];
  if (!hex) return colour;
  const n = parseInt(hex, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
