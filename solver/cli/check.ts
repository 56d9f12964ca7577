// `odelens check FILE|GLOB... [--format text|json|sarif] [--json [--rows all]] [--refine] [--params FILE] [--backend NAME]`:
// checks each model and reports in the chosen format; a summary line per file and a total (text);
// the exit status is the worst file's.
import { runCheck } from '../check';
import { hasWarnings, withoutSuperseded } from '../findings';
import { RHS_PATH_TEXT, type Report } from '../report';
import type { Diagnostic } from '../model';
import { checkTimeMs, formatNumber } from '../presentation/format';
import { summarise } from '../summary';
import { writeJson } from '../jsonStream';
import { refinementColumns, refinementSummary } from '../presentation/columns';
import { metricsTableText, textTable } from '../presentation/textTable';
import { referenceLine } from '../presentation/referenceText';
import { BACKEND_NAMES, isBackendName, type BackendName } from '../registry/backends';
import { analyseFile, loc, printRefusal, tokens, type Output } from './common';
import { expandFiles } from './files';
import { FORMATS, isFormat, type Format } from './formats';
import { loadParameters } from './params';
import { sarifLog, type CheckedFile } from './sarif';
import { summaryLine, totalLine } from './summary';
import { USAGE } from './usage';
import { DEFAULT_CHECK_THREADS } from '../check/thread';

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

const CHECK_OPTIONS = {
  json: { type: 'boolean' },
  refine: { type: 'boolean' },
  backend: { type: 'string' },
  format: { type: 'string' },
  params: { type: 'string' },
  rows: { type: 'string' },
  workspace: { type: 'string' },
  threads: { type: 'string' },
  'no-gradcheck': { type: 'boolean' },
} as const;

interface CheckArguments {
  patterns: string[];
  format: Format;
  /** --rows all: the JSON carries the per-layer rows, not only the summary. */
  rows: boolean;
  refine: boolean;
  backend: BackendName;
  paramsFile?: string;
  /** The folder data files must lie in (the editor's workspace folder). */
  workspace?: string;
  /** --threads: 1 runs every phase on one thread (solver/check/thread.ts). */
  threads: number;
  /** --no-gradcheck: no finite differences (AD is judged against the continuous reference alone). */
  gradcheck: boolean;
}

/** The arguments of `odelens check`, or the message that refuses them. */
function checkArguments(args: string[]): CheckArguments | string {
  let format: Format = 'text';
  let rows = false;
  let refine = false;
  let backend: BackendName = 'auto';
  let paramsFile: string | undefined;
  let workspace: string | undefined;
  let threads = DEFAULT_CHECK_THREADS;
  let gradcheck = true;
  const patterns: string[] = [];
  for (const t of tokens(args, CHECK_OPTIONS)) {
    if (t.kind === 'positional') patterns.push(t.value);
    else if (t.kind === 'option' && t.name === 'backend') {
      if (!isBackendName(t.value)) return `odelens: --backend must be one of ${BACKEND_NAMES.join(', ')}`;
      backend = t.value;
    } else if (t.kind === 'option' && t.name === 'format') {
      if (t.value === undefined || !isFormat(t.value)) return `odelens: --format must be one of ${FORMATS.join(', ')}`;
      format = t.value;
    } else if (t.kind === 'option' && t.name === 'params') {
      if (t.value === undefined) return 'odelens: --params needs a file (the format of odelens train --out)';
      paramsFile = t.value;
    } else if (t.kind === 'option' && t.name === 'workspace') {
      if (!t.value) return 'odelens: --workspace needs a folder';
      workspace = t.value;
    } else if (t.kind === 'option' && t.name === 'threads') {
      if (t.value !== '1' && t.value !== '2') return 'odelens: --threads must be 1 or 2';
      threads = Number(t.value);
    } else if (t.kind === 'option' && t.name === 'rows') {
      if (t.value !== 'all' && t.value !== 'none') return `odelens: --rows must be 'all' or 'none'`;
      rows = t.value === 'all';
    } else if (t.kind === 'option' && t.name === 'json' && t.value === undefined) format = 'json';
    else if (t.kind === 'option' && t.name === 'refine' && t.value === undefined) refine = true;
    else if (t.kind === 'option' && t.name === 'no-gradcheck' && t.value === undefined) gradcheck = false;
    else return `odelens: unknown option '${args[t.index]}'\n\n${USAGE}`;
  }
  if (patterns.length === 0) return `odelens: missing FILE\n\n${USAGE}`;
  if (rows && format !== 'json') return 'odelens: --rows all needs --json (or --format json)';
  return { patterns, format, rows, refine, backend, paramsFile, workspace, threads, gradcheck };
}

/** The findings and tables of one checked file, as `odelens check` has always printed them. */
function printText(file: string, report: Report, frontWarnings: Diagnostic[], refine: boolean, { out, err }: Output) {
  for (const d of frontWarnings) err(loc(file, d));
  out(
    `${file}: ${report.scheme}, ${report.steps} steps of dt=${formatNumber(report.dt)}, gradfix=${report.gradfix}, loss ${formatNumber(report.loss, 5)}`,
  );
  if (report.checkedParameters.kind === 'given')
    out(`parameters from ${report.checkedParameters.source}: ${report.checkedParameters.names.join(', ')}`);
  if (report.parameters.length) out('\n' + metricsTableText(report) + '\n');
  const study = refine ? refinementTable(report) : undefined;
  if (study)
    out(
      `refinement study (the same θ(t) with more steps; order = log2 of the error ratio per doubling, not observed where errors are at float32 resolution):\n${study}\n`,
    );
  else if (refine)
    out(
      `refinement study: ${report.scheme === 'discrete' ? 'none — a map has no step to refine' : 'no level fits the size limit'}\n`,
    );
  // A report without parameters (a refusal, a blow-up, nothing to differentiate) has no reference to describe.
  if (report.parameters.length) out(referenceLine(report));
  if (report.verdict) out(`verdict: ${report.verdict.explanation}`);
  for (const f of report.findings) out(loc(file, f));
  if (report.findings.length === 0) out('no findings');
  const t = report.timings;
  const ms = (x: number) => String(Math.round(x));
  const shared = t.finiteDifferencesOnSecondThread;
  const early = t.finiteDifferencesEarly;
  const where = [
    ...(shared ? [`${shared} of ${report.parameters.length} parameters on a second thread`] : []),
    ...(early ? [`${early} perturbed solves done ${shared ? 'by it' : 'on a second thread'} during AD`] : []),
  ];
  const fd = report.finiteDifferencesOff
    ? 'finite differences off (--no-gradcheck)'
    : `finite differences ${ms(t.finiteDifferenceMs)}${where.length ? ` (${where.join('; ')})` : ''}`;
  out(
    `\n${checkTimeMs(t)} ms total (${t.referenceConcurrent ? `AD ${ms(t.adMs)}, ${fd}; reference ${ms(t.referenceMs)} on a second thread, overlapping them` : `AD ${ms(t.adMs)}, reference ${ms(t.referenceMs)}, ${fd}`}) on ${report.backend}${report.backendReason ? ` (${report.backendReason})` : ''}${report.rhsPath ? `; f: ${RHS_PATH_TEXT[report.rhsPath]}${report.rhsPathNote ? ` (${report.rhsPathNote})` : ''}` : ''}`,
  );
}

/** Checks one file; prints text as it goes (format text) and returns what the other formats need. */
async function checkFile(file: string, a: CheckArguments, io: Output): Promise<CheckedFile> {
  const read = analyseFile(file, a.workspace);
  if (!read.ok) {
    if (a.format !== 'sarif') printRefusal(file, read, io.err);
    return { file, status: 2, refusal: read };
  }
  const analysis = read.analysis;
  let parameterValues: Float32Array[] | undefined;
  if (a.paramsFile) {
    const loaded = loadParameters(a.paramsFile, analysis.model);
    if (typeof loaded === 'string') {
      io.err(loaded);
      return { file, status: 2, refusal: { ok: false, message: loaded, errors: [] } };
    }
    parameterValues = loaded.values;
  }
  const report = await runCheck(analysis.model, {
    backend: a.backend,
    threads: a.threads,
    gradcheck: a.gradcheck,
    ...(a.refine ? { refinement: true } : {}),
    ...(parameterValues ? { parameterValues, parameterSource: a.paramsFile } : {}),
  });
  const frontWarnings = withoutSuperseded(analysis.diagnostics, report.findings);
  const failing = hasWarnings(report.findings) || hasWarnings(frontWarnings);
  if (a.format === 'text') printText(file, report, frontWarnings, a.refine, io);
  return { file, status: failing ? 1 : 0, report, diagnostics: frontWarnings, text: read.text };
}

export async function checkCommand(args: string[], io: Output): Promise<number> {
  const { out, err } = io;
  const parsed = checkArguments(args);
  if (typeof parsed === 'string') {
    err(parsed);
    return 2;
  }
  const { files, unmatched, single } = expandFiles(parsed.patterns);
  for (const p of unmatched) err(`odelens: no file matches ${p}`);
  const checked: CheckedFile[] = [];
  for (const file of files) {
    if (parsed.format === 'text' && checked.length > 0) out('');
    checked.push(await checkFile(file, parsed, io));
  }
  const worst = Math.max(unmatched.length > 0 ? 2 : 0, ...checked.map((c) => c.status));
  if (parsed.format === 'json') {
    const objects = checked.map((c) =>
      c.report
        ? { file: c.file, diagnostics: c.diagnostics, ...(parsed.rows ? c.report : summarise(c.report)) }
        : { file: c.file, error: c.refusal?.message ?? 'the model has errors', diagnostics: c.refusal?.errors ?? [] },
    );
    await writeJson(process.stdout, single ? objects[0] : objects);
  } else if (parsed.format === 'sarif') out(JSON.stringify(sarifLog(checked), null, 2));
  else if (checked.length + unmatched.length > 1) {
    out('');
    for (const c of checked) out(summaryLine(c));
    out(totalLine(checked, unmatched.length, worst));
  }
  return worst;
}
