// The one number formatter of everything a user reads: diagnostics, hovers,
// the CLI tables, the plots page. The same value reads the same everywhere.
import { RATIO_CAP } from '../report';

/**
 * `digits` significant digits, trailing zeros dropped ("0.5", "1.24", "65400" → "6.54e4");
 * exponent form below 1e-3 and from 1e4 on ("2.6e-6"); "n/a" for a missing value.
 */
export function formatNumber(x: number | undefined | null, digits = 3): string {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e4) {
    const [mantissa, exponent] = x.toExponential(Math.max(0, digits - 1)).split('e');
    return `${trimZeros(mantissa)}e${exponent.replace('+', '')}`;
  }
  // toPrecision writes 8000 as "8.00e+3" when it has fewer digits than the integer part: read it back as a number.
  return String(Number(x.toPrecision(digits)));
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** A ratio the engine caps at RATIO_CAP (α, β): "> 1e6" at the cap, where the true value is larger or infinite. */
export function formatRatio(x: number | undefined): string {
  return x !== undefined && x >= RATIO_CAP ? `> ${formatNumber(RATIO_CAP)}` : formatNumber(x);
}

/** "β=6.54e4", or "β > 1e6" at the cap: a capped ratio never reads as a measured value. */
export function namedRatio(symbol: string, x: number | undefined): string {
  return x !== undefined && x >= RATIO_CAP ? `${symbol} ${formatRatio(x)}` : `${symbol}=${formatNumber(x)}`;
}

/** "1 warning", "2 warnings". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * The check's time as every view shows it (the status bar, the plots' header, the hovers, the lens, `odelens check`):
 * the report's total — the check from the parsed model to its report, step halvings included; parsing the model
 * is not — in whole milliseconds.
 */
export function checkTimeMs(timings: { totalMs: number }): number {
  return Math.round(timings.totalMs);
}
