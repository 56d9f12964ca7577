// odelens — command-line gradient checks and training for ODE model files.
//   odelens check FILE [--json] [--refine] [--backend NAME]
//   odelens train FILE [--iterations K] [--lr X] [--optimizer adam|sgd]
//                      [--gradient NAME] [--out params.json] [--json]
// The names of backends and training gradients come from their registries (see USAGE).
// Exit codes: 0 clean, 1 a warning or error finding, 2 unreadable file,
// front-end errors or bad usage.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { analyse } from './language/index';
import { runCheck } from './check';
import { hasWarnings, withoutSuperseded } from './findings';
import type { Report } from './report';
import { formatNumber } from './presentation/format';
import { refinementColumns, refinementSummary } from './presentation/columns';
import { metricsTableText, textTable } from './presentation/textTable';
import type { Analysis, Diagnostic, Model } from './model';
import { train, TrainError, defaultGradient, type TrainResult } from './train/train';
import { CHECK_ONLY_CORRECTIONS, TRAIN_GRADIENTS, type TrainGradient } from './train/gradients';
import { BACKEND_NAMES, isBackendName, type BackendName } from './registry/backends';
import { OPTIMIZER_NAMES, type OptimizerName } from './train/optimizers';

const USAGE = `Usage: odelens check FILE [--json] [--refine] [--backend ${BACKEND_NAMES.join('|')}]
       odelens train FILE [--iterations K] [--lr X] [--optimizer adam|sgd]
                          [--gradient ${TRAIN_GRADIENTS.join('|')}] [--every K]
                          [--out params.json] [--json] [--backend NAME]

Checks the model in FILE: solves it, takes AD gradients through the unrolled
solve, compares them with the continuous adjoint gradient and with finite
differences, and flags gradients that oscillate from layer to layer.

Options:
  --json              print the full report as JSON on stdout
  --refine            refinement study: re-solve with 2N and 4N steps and print,
                      per parameter and level, the raw and corrected relative
                      errors, alpha and the observed orders (about 0 when an
                      error does not shrink with h)
  --backend NAME      TensorFlow.js backend: ${BACKEND_NAMES.map((n) => (n === 'auto' ? 'auto (default)' : n)).join(', ')}
  -h, --help          show this help

train: gradient descent on the discrete loss for K iterations (default 100),
Adam (default) or SGD, learning rate X (default 0.01), with raw AD, AD
corrected by filter121/average, or the continuous adjoint (default: the
model's grad= and gradfix= options). Prints the discrete loss, the flow loss
(the same parameters interpolated in t and solved accurately) and the total
variation across layers every K-th iteration; --out writes the learned
parameters as JSON. Ctrl-C stops cleanly and still writes them.

Exit status: 0 no findings (train: completed), 1 warnings or errors found
(train: diverged or stopped early), 2 the file cannot be read or has errors in
the model language.`;

function loc(file: string, d: Diagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}${d.code ? ` [${d.code}]` : ''}`;
}

/** The refinement study of each parameter (computed by the engine): one row per level, then the orders from N to the last level. */
function refinementTable(report: Report): string | undefined {
  const studied = report.parameters.filter((p) => p.refinement && p.refinement.levels.length > 0);
  if (studied.length === 0) return undefined;
  const cols = refinementColumns(report);
  const rows: string[][] = [['parameter', ...cols.map((c) => c.label(report))]];
  const notes: string[] = [];
  for (const p of studied) {
    const r = p.refinement!;
    r.levels.forEach((_, k) => rows.push([k === 0 ? p.name : '', ...cols.map((c) => c.cell(r, k))]));
    if (r.levels.length > 1)
      notes.push(
        `${p.name}: ${r.levels[0].steps}→${r.levels[r.levels.length - 1].steps} steps, ${refinementSummary(r, report)}`,
      );
  }
  return `${textTable(rows, 1)}\n${notes.join('\n')}`;
}

// The flags are read by node:util parseArgs (`--flag value`, `--flag=value`), not strict:
// the checks of values, and their messages, are the CLI's own, in command-line order.
type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

function tokens(args: string[], options: ParseArgsConfig['options']): ArgToken[] {
  return parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true }).tokens;
}

const CHECK_OPTIONS = { json: { type: 'boolean' }, refine: { type: 'boolean' }, backend: { type: 'string' } } as const;

interface CheckArguments {
  file: string;
  json: boolean;
  refine: boolean;
  backend: BackendName;
}

/** The arguments of `odelens check`, or the message that refuses them. */
function checkArguments(args: string[]): CheckArguments | string {
  let json = false;
  let refine = false;
  let backend: BackendName = 'auto';
  let file: string | undefined;
  for (const t of tokens(args, CHECK_OPTIONS)) {
    if (t.kind === 'positional') {
      if (file !== undefined) return `odelens: only one FILE can be checked at a time`;
      file = t.value;
    } else if (t.kind === 'option' && t.name === 'backend') {
      if (!isBackendName(t.value)) return `odelens: --backend must be one of ${BACKEND_NAMES.join(', ')}`;
      backend = t.value;
    } else if (t.kind === 'option' && t.name === 'json' && t.value === undefined) json = true;
    else if (t.kind === 'option' && t.name === 'refine' && t.value === undefined) refine = true;
    else return `odelens: unknown option '${args[t.index]}'\n\n${USAGE}`;
  }
  if (!file) return `odelens: missing FILE\n\n${USAGE}`;
  return { file, json, refine, backend };
}

const TRAIN_OPTIONS = {
  json: { type: 'boolean' },
  iterations: { type: 'string' },
  lr: { type: 'string' },
  every: { type: 'string' },
  optimizer: { type: 'string' },
  gradient: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
} as const;

interface TrainArguments {
  file: string;
  outFile?: string;
  json: boolean;
  iterations: number;
  lr: number;
  every: number;
  optimizer: OptimizerName;
  gradient?: TrainGradient;
  backend: BackendName;
}

/** The arguments of `odelens train`, or the message that refuses them. */
function trainArguments(args: string[]): TrainArguments | string {
  let file: string | undefined,
    outFile: string | undefined,
    json = false;
  let iterations = 100,
    lr = 0.01,
    every = 0;
  let optimizer: OptimizerName = 'adam';
  let gradient: TrainGradient | undefined;
  let backend: BackendName = 'auto';
  for (const t of tokens(args, TRAIN_OPTIONS)) {
    if (t.kind === 'positional') {
      if (file !== undefined) return 'odelens: only one FILE can be trained at a time';
      file = t.value;
      continue;
    }
    if (t.kind === 'option' && t.name === 'json' && t.value === undefined) {
      json = true;
      continue;
    }
    const key =
      t.kind === 'option' && Object.hasOwn(TRAIN_OPTIONS, t.name) && t.name !== 'json' ? t.rawName : undefined;
    if (key === undefined) return `odelens: unknown option '${args[t.index].split('=')[0]}'\n\n${USAGE}`;
    const value = t.kind === 'option' ? t.value : undefined;
    if (value === undefined) return `odelens: ${key} needs a value`;
    const positive = (what: string, integer: boolean): number | string => {
      const v = Number(value);
      if (!(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v)))
        return `odelens: ${what} must be a positive ${integer ? 'whole ' : ''}number, not '${value}'`;
      return v;
    };
    if (key === '--iterations') {
      const v = positive('--iterations', true);
      if (typeof v === 'string') return v;
      iterations = v;
    } else if (key === '--lr') {
      const v = positive('--lr', false);
      if (typeof v === 'string') return v;
      lr = v;
    } else if (key === '--every') {
      const v = positive('--every', true);
      if (typeof v === 'string') return v;
      every = v;
    } else if (key === '--optimizer') {
      if (!OPTIMIZER_NAMES.includes(value as OptimizerName))
        return `odelens: --optimizer must be one of ${OPTIMIZER_NAMES.join(', ')}`;
      optimizer = value as OptimizerName;
    } else if (key === '--gradient') {
      if (!TRAIN_GRADIENTS.includes(value as TrainGradient))
        return `odelens: --gradient must be one of ${TRAIN_GRADIENTS.join(', ')} (${CHECK_ONLY_CORRECTIONS.join(' and ')} are not available for training yet)`;
      gradient = value as TrainGradient;
    } else if (key === '--out') outFile = value;
    else if (key === '--backend') {
      if (!isBackendName(value)) return `odelens: --backend must be one of ${BACKEND_NAMES.join(', ')}`;
      backend = value;
    }
  }
  if (!file) return `odelens: missing FILE\n\n${USAGE}`;
  return { file, outFile, json, iterations, lr, every, optimizer, gradient, backend };
}

export async function main(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const err = (s: string) => process.stderr.write(s + '\n');
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    (argv.length === 0 ? err : out)(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const [command, ...rest] = argv;
  if (command === 'train') return trainCommand(rest, out, err);
  if (command !== 'check') {
    err(`odelens: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  const parsed = checkArguments(rest);
  if (typeof parsed === 'string') {
    err(parsed);
    return 2;
  }
  const { file, json, refine, backend } = parsed;
  const analysis = readModel(file, err);
  if (!analysis) return 2;
  const report = await runCheck(analysis.model, { backend, ...(refine ? { refinement: true } : {}) });
  const frontWarnings = withoutSuperseded(analysis.diagnostics, report.findings);
  const failing = hasWarnings(report.findings) || hasWarnings(frontWarnings);
  if (json) {
    out(JSON.stringify({ file, diagnostics: frontWarnings, ...report }, null, 2));
    return failing ? 1 : 0;
  }
  for (const d of frontWarnings) err(loc(file, d));
  out(
    `${file}: ${report.scheme}, ${report.steps} steps of dt=${formatNumber(report.dt)}, gradfix=${report.gradfix}, loss ${formatNumber(report.loss, 5)}`,
  );
  if (report.parameters.length) out('\n' + metricsTableText(report) + '\n');
  const study = refine ? refinementTable(report) : undefined;
  if (study)
    out(
      `refinement study (the same θ(t) with more steps; order = log2 of the error ratio per doubling, not observed where errors are at float32 resolution):\n${study}\n`,
    );
  else if (refine) out('refinement study: no level fits the size limit\n');
  out(
    report.referenceUnavailable
      ? `continuous reference: n/a, ${report.referenceUnavailable.reason} (see the reference-unavailable finding)`
      : `continuous reference: adjoint by RK4, estimated relative error ${formatNumber(report.referenceError)} (embedded RK3 estimate, float32 rounding including that of ∂ℓ/∂x(T), quadrature of shared parameters; at least a third of the difference to a solve on half the step when one was needed)`,
  );
  if (report.verdict) out(`verdict: ${report.verdict.explanation}`);
  for (const f of report.findings) out(loc(file, f));
  if (report.findings.length === 0) out('no findings');
  const t = report.timings;
  const ms = (x: number) => String(Math.round(x));
  out(
    `\n${ms(t.totalMs)} ms total (AD ${ms(t.adMs)}, reference ${ms(t.referenceMs)}, finite differences ${ms(t.finiteDifferenceMs)}) on ${report.backend}`,
  );
  return failing ? 1 : 0;
}

function trainTable(result: TrainResult, every: number): string {
  const head = ['iter', 'loss', 'flow loss', 'total variation', '|gradient|'];
  const rows = result.history
    .filter((r, i) => r.iteration % every === 0 || i === result.history.length - 1)
    .map((r) => [
      String(r.iteration),
      formatNumber(r.loss, 4),
      Number.isNaN(r.flowLoss) ? '-' : formatNumber(r.flowLoss, 4),
      formatNumber(
        Object.values(r.totalVariation).reduce((a, b) => a + b, 0),
        4,
      ),
      formatNumber(r.gradientNorm),
    ]);
  const f = result.final;
  rows.push([
    'final',
    formatNumber(f.loss, 4),
    formatNumber(f.flowLoss, 4),
    formatNumber(
      Object.values(f.totalVariation).reduce((a, b) => a + b, 0),
      4,
    ),
    '',
  ]);
  return textTable([head, ...rows], 0);
}

/** Reads and analyses FILE; on failure prints why (stderr) and returns undefined (exit status 2). */
function readModel(file: string, err: (s: string) => void): (Analysis & { model: Model }) | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`odelens: cannot read ${file}: ${(e as Error).message}`);
    return undefined;
  }
  const analysis = analyse(text, { documentPath: resolve(file) });
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !analysis.model) {
    for (const d of errors) err(loc(file, d));
    if (errors.length === 0) err(`${file}:1:1: error: the model could not be analysed`);
    return undefined;
  }
  return analysis as Analysis & { model: Model };
}

async function trainCommand(rest: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const parsed = trainArguments(rest);
  if (typeof parsed === 'string') {
    err(parsed);
    return 2;
  }
  const { file, outFile, json, iterations, lr, every, optimizer, gradient, backend } = parsed;
  const analysis = readModel(file, err);
  if (!analysis) return 2;
  const model = analysis.model;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let result: TrainResult;
  try {
    result = await train(model, {
      iterations,
      optimizer,
      learningRate: lr,
      gradient: gradient ?? defaultGradient(model),
      backend,
      signal: controller.signal,
    });
  } catch (e) {
    if (e instanceof TrainError) {
      err(`${file}: error: ${e.message} [${e.code}]`);
      return 2;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const saved = {
    file,
    scheme: model.options.meth,
    steps: model.options.steps,
    gradient: result.gradient,
    optimizer,
    learningRate: lr,
    iterations: result.iterations,
    stopped: result.stopped,
    final: result.final,
    parameters: result.parameters,
  };
  if (outFile) writeFileSync(outFile, JSON.stringify(saved, null, 2) + '\n');
  if (json)
    out(
      JSON.stringify({ ...saved, backend: result.backend, message: result.message, history: result.history }, null, 2),
    );
  else {
    out(
      `${file}: training ${result.iterations} iterations of ${optimizer} (lr ${formatNumber(lr)}) with ${result.gradient} gradients; ${model.options.meth}, ${model.options.steps} steps; ${result.backend}`,
    );
    out('\n' + trainTable(result, every || Math.max(1, Math.ceil(iterations / 20))) + '\n');
    if (outFile) out(`learned parameters written to ${outFile}`);
  }
  if (result.message) err(`${file}: ${result.stopped === 'completed' ? 'note' : 'warning'}: ${result.message}`);
  return result.stopped === 'completed' ? 0 : 1;
}

if (require.main === module) {
  // `odelens check f --json | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    else throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`odelens: ${(e as Error)?.stack ?? e}\n`);
      process.exitCode = 2;
    },
  );
}
