// What a bench run writes (bench/results/*.json) and its tables: printed by the bench, and rendered into
// docs/performance.md from the newest full run (bench/performanceDoc.ts).
import type { LanguageServiceTimings } from './languageService';
import type { LspLatencyRow } from './lspLatency';
import type { EditorTimings } from './editorTimings';
import type { TrainingLatencyRow } from './trainingLatency';
import type { PyTorchResults } from './pytorch/rows';

/** One timed case: the full check against a plain TF.js forward+backward of the same network, interleaved. */
export interface Row {
  case: string;
  backend: string;
  scheme: string;
  d: number;
  width: number;
  steps: number;
  checkMs: number;
  baselineMs: number;
  ratio: number;
  targetMs?: number;
  baseline: 'hand-written' | 'engine AD' | 'per-operation AD';
  phasesMs: { ad: number; reference: number; finiteDifferences: number };
  /** NaN in the bench (null once written as JSON) when tf.profile could not measure it. */
  peakTensorBytes: number | null;
  rssHighWaterMiB: number;
  referenceError: number | null;
  findings: string[];
}

export interface FrontEndTimings {
  lines: number;
  analyseMs: number;
  lexMs: number;
  ratio: number;
  targetMs: number;
}

/**
 * One model checked again and again in one process, another long model checked between (bench/repeatedChecks.ts):
 * whether the later checks cost what the first does.
 */
export interface RepeatedChecksRow {
  /**
   * The repeated model, its fused program's instruction count, whether its interpreter is a copy of its own and
   * whether its passes run as WebAssembly (absent in rows measured before they could).
   */
  model: string;
  states: number;
  steps: number;
  instructions: number;
  ownCopy: boolean;
  compiled?: boolean;
  /** The model checked between repetitions. */
  between: string;
  /** Each check of the repeated model, in order: its report's timings.totalMs, and the process's CPU ms. */
  checksMs: number[];
  checksCpuMs: number[];
  /** The checks of the model between, in order. */
  betweenMs: number[];
  firstMs: number;
  /** Median of the checks after the first. */
  laterMs: number;
  /** laterMs / firstMs (target ≤ 1.0). */
  ratio: number;
  /** The same from CPU time. */
  cpuRatio: number;
  targetRatio: number;
  /** One-minute load average of the machine at the start and end (read by the parent around the child). */
  load: { start: number; end: number };
}

/** A results file. `full`: the whole bench (not --quick, --no-grid or --size). */
export interface BenchResults {
  date: string;
  commit: string;
  dirty: boolean;
  full: boolean;
  args: string[];
  node: string;
  cpus: number;
  runs: number;
  /** One-minute load average of the machine when the run started and ended (absent in runs before 2026-12-04 21:00). */
  load?: { start: number; end: number };
  /** How long the bench ran (after its build), minutes (absent in runs before 2026-12-05 03:00). */
  minutes?: number;
  frontEnd: FrontEndTimings;
  languageService: LanguageServiceTimings | { error: string };
  /** Completion and hover over LSP while checks finish (absent in runs before 2026-12-05). */
  lspLatency?: LspLatencyRow[] | { error: string };
  /** The spiral's first check after opening and save → diagnostics at default settings (absent before 2026-12-05 03:00). */
  editor?: EditorTimings | { error: string };
  /** Completion and hover while a training runs (bench/trainingLatency.ts). */
  training?: TrainingLatencyRow | { error: string };
  /** One model's checks repeated in one process (absent in runs before 2026-12-06 21:00). */
  repeatedChecks?: RepeatedChecksRow | { error: string };
  /** ODE Lens's check against the same check in PyTorch, alternating (absent in runs before 2026-12-05). */
  pytorch?: PyTorchResults;
  targets: Row[];
  schemes: Row[];
  sizes: Row[];
  small: Row[];
}

const fixed = (x: number | null | undefined, digits: number) =>
  typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–';
const exp = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toExponential(1) : '–');

/** Markdown table of rows; * marks the engine's own AD pass as the baseline, † the per-operation compile's. */
export function table(rows: readonly Row[]): string {
  const out = [
    '| case | backend | scheme | d | width | N | check ms | AD ms | reference ms | FD ms | fwd+bwd ms | ratio | peak MiB | ref. error |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const mark = r.baseline === 'engine AD' ? '*' : r.baseline === 'per-operation AD' ? '†' : '';
    const peak = typeof r.peakTensorBytes === 'number' ? r.peakTensorBytes / 2 ** 20 : null;
    out.push(
      `| ${r.case} | ${r.backend} | ${r.scheme} | ${r.d} | ${r.width || '–'} | ${r.steps} | ${fixed(r.checkMs, 1)}${r.targetMs ? ` (≤ ${r.targetMs})` : ''} | ${fixed(r.phasesMs.ad, 1)} | ${fixed(r.phasesMs.reference, 1)} | ${fixed(r.phasesMs.finiteDifferences, 1)} | ${fixed(r.baselineMs, 1)}${mark} | ${fixed(r.ratio, 2)} | ${fixed(peak, 1)} | ${exp(r.referenceError)} |`,
    );
  }
  return out.join('\n');
}

/** The titles of the bench's four tables, as printed and as in docs/performance.md. */
export const TABLE_TITLES = {
  targets:
    'Targets (full check; ratio = median over interleaved pairs of full check / one plain TF.js forward+backward of the same network)',
  schemes: "Schemes (spiral network, N = 64, width 16; * = baseline is the engine's own AD pass)",
  sizes: 'Model sizes (leapfrog)',
  pytorch:
    'Against PyTorch (the same check: AD through the unrolled solve + RK4 continuous adjoint on 4N steps; the two checks alternate, ratio = median over the pairs; target ≤ 0.5)',
  small:
    'Small models (fused right-hand side; † = baseline is the same model compiled one TF.js kernel per operation, its AD pass)',
} as const;

/** One line: the first check, the later ones' median and their ratio (✗ above the target), each check, the load. */
export function repeatedChecksLine(r: RepeatedChecksRow): string {
  const ms = (xs: readonly number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  const interpreter = r.compiled
    ? 'its passes as WebAssembly'
    : r.ownCopy
      ? 'an interpreter copy of its own'
      : 'the shared interpreter';
  return (
    `${r.model} (${r.states} states, ${r.instructions} instructions, ${interpreter}; rk4, ${r.steps} steps) checked ` +
    `${r.checksMs.length} times in one process on one thread, ${r.between} checked between: first ` +
    `${r.firstMs.toFixed(0)} ms, later median ${r.laterMs.toFixed(0)} ms, later / first ${r.ratio.toFixed(2)}` +
    `${r.ratio <= r.targetRatio ? '' : ' ✗'} (target ≤ ${r.targetRatio}; CPU time ${r.cpuRatio.toFixed(2)}); each check ` +
    `${ms(r.checksMs)} ms (CPU ${ms(r.checksCpuMs)}), between ${ms(r.betweenMs)} ms; load average ` +
    `${r.load.start.toFixed(1)} at the start, ${r.load.end.toFixed(1)} at the end`
  );
}
