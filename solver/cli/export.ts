// `odelens export FILE --to pytorch [-o model.py] [--params FILE]`: the model's discrete network as a
// self-contained PyTorch module (solver/export/pytorch.ts), to stdout or a file.
import { writeFileSync } from 'node:fs';
import { initBackend } from '../engine/backend';
import { initialParameters } from '../engine/parameters';
import { exportPyTorch, ExportError } from '../export/pytorch';
import { loadParameters } from './params';
import { loc, readModel, tokens, type Output } from './common';
import { VERSION } from './version';

export const EXPORT_USAGE = 'odelens export FILE --to pytorch [-o model.py] [--params params.json] [--workspace DIR]';
export const EXPORT_TARGETS = ['pytorch'] as const;

const OPTIONS = {
  to: { type: 'string' },
  out: { type: 'string', short: 'o' },
  params: { type: 'string' },
  workspace: { type: 'string' },
} as const;

interface ExportArguments {
  file: string;
  outFile?: string;
  paramsFile?: string;
  workspace?: string;
}

function exportArguments(args: string[]): ExportArguments | string {
  let file: string | undefined, outFile: string | undefined, paramsFile: string | undefined, to: string | undefined;
  let workspace: string | undefined;
  for (const t of tokens(args, OPTIONS)) {
    if (t.kind === 'positional') {
      if (file !== undefined) return 'odelens: export takes one FILE';
      file = t.value;
      continue;
    }
    if (t.kind !== 'option' || !Object.hasOwn(OPTIONS, t.name)) return `odelens: unknown option '${args[t.index]}'`;
    if (t.value === undefined) return `odelens: ${t.rawName} needs a value`;
    if (t.name === 'to') to = t.value;
    else if (t.name === 'out') outFile = t.value;
    else if (t.name === 'workspace') workspace = t.value;
    else paramsFile = t.value;
  }
  if (!file) return `odelens: missing FILE\n\nUsage: ${EXPORT_USAGE}`;
  if (to === undefined) return `odelens: export needs --to (one of ${EXPORT_TARGETS.join(', ')})`;
  if (!(EXPORT_TARGETS as readonly string[]).includes(to))
    return `odelens: --to must be one of ${EXPORT_TARGETS.join(', ')}, not '${to}'`;
  return { file, outFile, paramsFile, workspace };
}

export async function exportCommand(args: string[], { out, err }: Output): Promise<number> {
  const parsed = exportArguments(args);
  if (typeof parsed === 'string') {
    err(parsed);
    return 2;
  }
  const analysis = readModel(parsed.file, err, parsed.workspace);
  if (!analysis) return 2;
  const model = analysis.model;
  let values: Float32Array[];
  let valuesFrom = `the seeded initialisation (seed=${model.options.seed})`;
  if (parsed.paramsFile) {
    const loaded = loadParameters(parsed.paramsFile, model);
    if (typeof loaded === 'string') {
      err(loaded);
      return 2;
    }
    values = loaded.values;
    valuesFrom = parsed.paramsFile;
  } else {
    const { tf } = await initBackend('cpu');
    values = initialParameters(tf, model);
  }
  let text: string;
  try {
    text = exportPyTorch(model, { source: parsed.file, values, valuesFrom, version: VERSION });
  } catch (e) {
    if (e instanceof ExportError) {
      err(
        loc(parsed.file, {
          code: 'unsupported-expression',
          severity: 'error',
          message: `cannot export to PyTorch: ${e.message}`,
          range: e.range,
        }),
      );
      return 2;
    }
    throw e;
  }
  if (parsed.outFile) {
    writeFileSync(parsed.outFile, text);
    err(`${parsed.file}: PyTorch module written to ${parsed.outFile}`);
  } else out(text);
  return 0;
}
