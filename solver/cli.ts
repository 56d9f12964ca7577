// odelens — command-line gradient checks for ODE model files.
//   odelens check FILE [--json] [--backend auto|cpu|wasm|tensorflow]
// Exit codes: 0 clean, 1 a warning or error finding, 2 unreadable file,
// front-end errors or bad usage.
import { readFileSync } from 'node:fs';
import { analyse } from './language/index';
import { runCheck } from './check';
import type { Report } from './report';
import type { Diagnostic } from './model';

const USAGE = `Usage: odelens check FILE [--json] [--backend auto|cpu|wasm|tensorflow]

Checks the model in FILE: solves it, takes AD gradients through the unrolled
solve, compares them with the continuous adjoint gradient and with finite
differences, and flags gradients that oscillate from layer to layer.

Options:
  --json              print the full report as JSON on stdout
  --backend NAME      TensorFlow.js backend: auto (default), cpu, wasm, tensorflow
  -h, --help          show this help

Exit status: 0 no findings, 1 warnings or errors found, 2 the file cannot be
read or has errors in the model language.`;

const BACKENDS = ['auto', 'cpu', 'wasm', 'tensorflow'] as const;
type BackendName = (typeof BACKENDS)[number];

function loc(file: string, d: Diagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}${d.code ? ` [${d.code}]` : ''}`;
}

function num(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : x.toPrecision(digits);
}

function table(report: Report): string {
  const head = ['parameter', 'shape', 'kind', 'alpha', 'beta', 'relError', report.correction, 'gradcheck', ''];
  const rowsOut = report.parameters.map((p) => [
    p.name, `[${p.shape.join(',')}]`, p.perStep ? 'per-step' : 'shared',
    p.perStep ? num(p.metrics.alpha) : '-', p.perStep ? num(p.metrics.beta) : '-',
    num(p.metrics.relError), p.perStep ? num(p.metrics.correctedRelError) : '-', num(p.metrics.gradcheckRelError),
    p.oscillating ? 'OSCILLATES' : '',
  ]);
  const all = [head, ...rowsOut];
  const widths = head.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  return all.map((r) => r.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd()).join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const err = (s: string) => process.stderr.write(s + '\n');
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    (argv.length === 0 ? err : out)(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const [command, ...rest] = argv;
  if (command !== 'check') {
    err(`odelens: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  let json = false;
  let backend: BackendName = 'auto';
  let file: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--json') json = true;
    else if (a === '--backend' || a.startsWith('--backend=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : rest[++i];
      if (!BACKENDS.includes(v as BackendName)) {
        err(`odelens: --backend must be one of ${BACKENDS.join(', ')}`);
        return 2;
      }
      backend = v as BackendName;
    } else if (a.startsWith('-')) {
      err(`odelens: unknown option '${a}'\n\n${USAGE}`);
      return 2;
    } else if (file === undefined) file = a;
    else {
      err(`odelens: only one FILE can be checked at a time`);
      return 2;
    }
  }
  if (!file) {
    err(`odelens: missing FILE\n\n${USAGE}`);
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`odelens: cannot read ${file}: ${(e as Error).message}`);
    return 2;
  }
  const analysis = analyse(text);
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !analysis.model) {
    for (const d of errors) err(loc(file, d));
    if (errors.length === 0) err(`${file}:1:1: error: the model could not be analysed`);
    return 2;
  }
  const frontWarnings = analysis.diagnostics;
  const report = await runCheck(analysis.model, { backend });
  const failing = report.findings.some((f) => f.severity === 'warning' || f.severity === 'error');
  if (json) {
    out(JSON.stringify({ file, diagnostics: frontWarnings, ...report }, null, 2));
    return failing ? 1 : 0;
  }
  for (const d of frontWarnings) err(loc(file, d));
  out(`${file}: ${report.scheme}, ${report.steps} steps of dt=${num(report.dt)}, gradfix=${report.gradfix}, loss ${num(report.loss, 5)}`);
  if (report.parameters.length) out('\n' + table(report) + '\n');
  out(`continuous reference: adjoint by RK4, estimated relative error ${num(report.referenceError)} (from a 2x coarser solve)`);
  for (const f of report.findings) out(loc(file, f));
  if (report.findings.length === 0) out('no findings');
  const t = report.timings;
  out(`\n${num(t.totalMs, 4)} ms total (AD ${num(t.adMs, 3)}, reference ${num(t.referenceMs, 3)}, finite differences ${num(t.finiteDifferenceMs, 3)}) on ${report.backend}`);
  return failing ? 1 : 0;
}

if (require.main === module) {
  // `odelens check f --json | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw e; });
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`odelens: ${(e as Error)?.stack ?? e}\n`); process.exitCode = 2; },
  );
}
