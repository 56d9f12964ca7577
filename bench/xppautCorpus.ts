// npm run bench:corpus -- [DIR] [--cli dist/cli.js] [--timeout 30] [--tsv out.tsv]
// Checks every `.ode` file under DIR (default: a folder of XPPAUT sample models kept
// beside the repository, when one is there) with the CLI, one process per file
// (a crash or a runaway file cannot take the bench down), and prints what a
// user with a folder of real model files would see:
//   - files, and the share with no error other than an honest refusal
//     (`unsupported…` codes name the construct ODE Lens does not check);
//   - the share with a complete gradient check (every parameter has its AD,
//     continuous-reference and finite-difference gradients), of all files and of
//     those with a gradient to check (a file with no parameter and no initial
//     value, such as an integral equation, reports `nothing-to-check`), and the
//     stricter share where finite differences also judged AD for every parameter
//     (a `gradcheck-unresolved` parameter has FD gradients that do not settle);
//   - crashes (an internal error, output that is not a report, or a signal);
//   - the files without errors that still get a warning, with their codes ("classic models stay quiet": a
//     file that simulates fine gets no warning from ODE Lens's own expectations; a warning there is a finding
//     about its gradients, to be read);
//   - checks over 10 s (a file stopped at the timeout counts there), and over 1 s (the classic-model target);
//   - the median time of one check (the process, as a user waits for it);
//   - the editor's analysis of each file (what the language server runs on every edit, before any check), timed in
//     this process once warm: its median and the slowest files.
// Each file's line and TSV row also give the check's own phases (the report's timings: AD, continuous
// reference, finite differences, and the whole check inside the process), so that what is left of a
// slow file's time is start-up or one phase.
// No file is treated specially: each gets the same command.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { analyseDocument } from '../solver/language/index';

/** What one file's check gave. */
export interface CorpusRow {
  file: string;
  seconds: number;
  outcome: 'clean' | 'refused' | 'error' | 'crash' | 'timeout';
  /** Every parameter has AD, reference and finite-difference gradients. */
  complete: boolean;
  /** Parameters of a complete check whose finite differences could not judge AD (`gradcheckUnresolved`). */
  unresolved?: number;
  /** The model has no parameter and no initial value: no gradient exists to check (`nothing-to-check`). */
  nothingToCheck?: boolean;
  /** The first error's code and message, for the table. */
  firstError: string;
  /** The codes of its warnings (diagnostics and findings), once each. */
  warnings?: string[];
  /** The report's timings (ms), when the check produced one report. */
  phases?: Phases;
  /** The editor's analysis of the file (ms): the least of a few in this process. */
  analysisMs?: number;
}

/** A report's phase timings (Report.timings). */
export interface Phases {
  totalMs: number;
  adMs: number;
  referenceMs: number;
  finiteDifferenceMs: number;
}

/** The phases of a single report's JSON output, if any. */
export function phasesOf(stdout: string): Phases | undefined {
  try {
    const out = JSON.parse(stdout) as { timings?: Phases };
    return out && !Array.isArray(out) && out.timings ? out.timings : undefined;
  } catch {
    return undefined;
  }
}

/** `check ms (AD / reference / FD ms)` of a row, or '' without a report. */
export const phasesText = (p: Phases | undefined) =>
  p
    ? `check ${p.totalMs.toFixed(0)} ms (AD ${p.adMs.toFixed(0)} / ref ${p.referenceMs.toFixed(0)} / FD ${p.finiteDifferenceMs.toFixed(0)})`
    : '';

interface Diagnostic {
  code?: string;
  severity: string;
  message: string;
}
interface Output {
  diagnostics?: Diagnostic[];
  findings?: Diagnostic[];
  // The summary (check --json): a parameter's error against the reference is null (n/a) without one.
  parameters?: {
    metrics: { relError: number | null; gradcheckRelError: number | null; gradcheckUnresolved?: boolean };
  }[];
}

/** An honest refusal: a diagnostic that names a construct ODE Lens does not check. */
const isRefusal = (d: Diagnostic) => d.code === 'unsupported' || (d.code ?? '').startsWith('unsupported-');

/** The CLI's text diagnostics, `file:line:col: severity: message [code]`. */
function textDiagnostics(stderr: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const line of stderr.split('\n')) {
    const m = /:\d+:\d+: (error|warning|information|hint): (.*?)(?: \[([\w-]+)\])?$/.exec(line);
    if (m) out.push({ severity: m[1], message: m[2], code: m[3] });
  }
  return out;
}

/** The `.ode` files under dir, sorted, at any depth. */
function odeFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile() && name.endsWith('.ode')) out.push(p);
    }
  };
  visit(dir);
  return out;
}

/** Classifies the CLI's exit and JSON output (exit 0: clean, 1: findings, 2: front-end errors). */
export function classify(
  status: number | null,
  stdout: string,
  stderr: string,
  timedOut: boolean,
): Omit<CorpusRow, 'file' | 'seconds'> {
  if (timedOut) return { outcome: 'timeout', complete: false, firstError: 'timed out' };
  let out: Output;
  try {
    // A file with errors in the model language gets its diagnostics as text on stderr (exit 2), no report.
    out =
      status === 2 && stdout.trim() === '' ? { diagnostics: textDiagnostics(stderr) } : (JSON.parse(stdout) as Output);
  } catch {
    return { outcome: 'crash', complete: false, firstError: `no report (exit ${status})` };
  }
  if (status === null || status > 2) return { outcome: 'crash', complete: false, firstError: `exit ${status}` };
  const errors = [...(out.diagnostics ?? []), ...(out.findings ?? [])].filter((d) => d.severity === 'error');
  const first = errors[0] ? `${errors[0].code ?? ''}: ${errors[0].message.slice(0, 80)}` : '';
  const params = out.parameters ?? [];
  const complete =
    params.length > 0 &&
    params.every((p) => Number.isFinite(p.metrics.relError) && Number.isFinite(p.metrics.gradcheckRelError));
  if (errors.some((d) => d.code === 'internal-error')) return { outcome: 'crash', complete, firstError: first };
  const outcome = errors.length === 0 ? 'clean' : errors.every(isRefusal) ? 'refused' : 'error';
  const nothingToCheck = (out.findings ?? []).some((d) => d.code === 'nothing-to-check');
  const unresolved = complete ? params.filter((p) => p.metrics.gradcheckUnresolved).length : 0;
  const warned = [...(out.diagnostics ?? []), ...(out.findings ?? [])].filter((d) => d.severity === 'warning');
  const warnings = [...new Set(warned.map((d) => d.code ?? 'uncoded'))];
  return {
    outcome,
    complete,
    ...(unresolved ? { unresolved } : {}),
    firstError: first,
    ...(nothingToCheck ? { nothingToCheck } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
}

function checkFile(cli: string, file: string, timeoutS: number): Omit<CorpusRow, 'file'> {
  const started = performance.now();
  const r = spawnSync(process.execPath, [cli, 'check', file, '--backend', 'cpu', '--json'], {
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    maxBuffer: 1 << 30,
    killSignal: 'SIGKILL',
  });
  const seconds = (performance.now() - started) / 1000;
  const timedOut = r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
  return {
    seconds,
    ...classify(r.status, r.stdout ?? '', r.stderr ?? '', timedOut),
    phases: timedOut ? undefined : phasesOf(r.stdout ?? ''),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percent = (k: number, n: number) => `${n === 0 ? 0 : ((100 * k) / n).toFixed(1)}% (${k})`;

/** How many rows have a warning, and each code's count: `3 (gradcheck-mismatch 2, stiff 1)`. */
function warnedText(rows: CorpusRow[]): string {
  const codes = new Map<string, number>();
  for (const r of rows) for (const c of r.warnings ?? []) codes.set(c, (codes.get(c) ?? 0) + 1);
  const warned = rows.filter((r) => r.warnings?.length).length;
  const list = [...codes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([c, k]) => `${c} ${k}`);
  return warned === 0 ? '0' : `${warned} (${list.join(', ')})`;
}

/** The summary lines of a corpus run. */
export function summary(rows: CorpusRow[]): string[] {
  const n = rows.length;
  const count = (f: (r: CorpusRow) => boolean) => rows.filter(f).length;
  return [
    `files: ${n}`,
    `no error other than an honest unsupported-… one: ${percent(
      count((r) => r.outcome === 'clean' || r.outcome === 'refused'),
      n,
    )}`,
    `complete gradient check: ${percent(
      count((r) => r.complete),
      n,
    )}`,
    `complete among the files with a gradient to check (no parameter and no initial value: ${count((r) => !!r.nothingToCheck)} left out): ${percent(
      count((r) => r.complete),
      count((r) => !r.nothingToCheck),
    )}`,
    `complete, and finite differences judged AD for every parameter (none unresolved): ${percent(
      count((r) => r.complete && !r.unresolved),
      n,
    )}`,
    `files without errors that get a warning: ${warnedText(rows.filter((r) => r.outcome === 'clean'))}`,
    `crashes: ${count((r) => r.outcome === 'crash')}`,
    `checks over 10 s: ${count((r) => r.seconds > 10 || r.outcome === 'timeout')}`,
    `checks over 1 s: ${count((r) => r.seconds > 1 || r.outcome === 'timeout')}`,
    `median check time: ${median(rows.map((r) => r.seconds)).toFixed(2)} s`,
    ...analysisLines(rows),
  ];
}

/** How long the editor's analysis takes, when the rows have it: the median and the slowest files. */
function analysisLines(rows: CorpusRow[]): string[] {
  const timed = rows.filter((r) => r.analysisMs !== undefined) as (CorpusRow & { analysisMs: number })[];
  if (timed.length === 0) return [];
  const slowest = [...timed].sort((a, b) => b.analysisMs - a.analysisMs).slice(0, 3);
  return [
    `editor analysis (on every edit; warm, the least of ${ANALYSIS_RUNS}): median ${median(timed.map((r) => r.analysisMs)).toFixed(1)} ms, slowest ${slowest.map((r) => `${r.file} ${r.analysisMs.toFixed(0)} ms`).join(', ')}`,
  ];
}

/** Analyses a file is timed over (the first warms the code). */
const ANALYSIS_RUNS = 3;

/** The language server's analysis of a file (no separable-sum rewrite, as documentStore.ts runs it): the least time. */
function analysisMs(file: string, workspaceRoot: string): number {
  const text = readFileSync(file, 'utf8');
  let least = Infinity;
  for (let k = 0; k < ANALYSIS_RUNS; k++) {
    const started = performance.now();
    analyseDocument(text, { documentPath: file, workspaceRoot, separateSums: false });
    least = Math.min(least, performance.now() - started);
  }
  return least;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      cli: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      tsv: { type: 'string' },
    },
  });
  const root = resolve(__dirname, '../..');
  const dir = resolve(positionals[0] ?? join(root, '../shared/xppaut-samples'));
  const cli = resolve(values.cli ?? join(root, 'dist/cli.js'));
  if (!existsSync(cli)) throw new Error(`${cli} not found: run npm run build first`);
  const timeoutS = Number(values.timeout);
  const rows: CorpusRow[] = [];
  const load = loadavg()[0];
  for (const file of odeFiles(dir)) {
    const row = { file: relative(dir, file), ...checkFile(cli, file, timeoutS), analysisMs: analysisMs(file, dir) };
    rows.push(row);
    const flag = row.complete ? (row.unresolved ? `complete, ${row.unresolved} FD unresolved` : 'complete') : '';
    console.log(
      `${row.seconds.toFixed(2).padStart(6)} s  ${row.outcome.padEnd(8)} ${flag.padEnd(8)} ${row.file}  ${phasesText(row.phases)}  analysis ${row.analysisMs.toFixed(1)} ms  ${row.firstError}${row.warnings ? `  warnings: ${row.warnings.join(', ')}` : ''}`,
    );
  }
  if (values.tsv)
    writeFileSync(
      values.tsv,
      rows
        .map((r) =>
          [
            r.file,
            r.outcome,
            r.complete,
            r.seconds.toFixed(2),
            r.firstError,
            ...(r.phases
              ? [r.phases.totalMs, r.phases.adMs, r.phases.referenceMs, r.phases.finiteDifferenceMs].map((x) =>
                  x.toFixed(0),
                )
              : ['', '', '', '']),
            (r.warnings ?? []).join(','),
            r.analysisMs?.toFixed(1) ?? '',
          ].join('\t'),
        )
        .join('\n') + '\n',
    );
  console.log('');
  console.log(
    `corpus: ${dir} (cli ${relative(process.cwd(), cli) || cli}, timeout ${timeoutS} s per file, load average ${load.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end)`,
  );
  for (const line of summary(rows)) console.log(line);
}

// Run as the bench script only (a test bundles this module to test `classify` and `summary`).
if (/xppautCorpus\.js$/.test(process.argv[1] ?? '')) main();
