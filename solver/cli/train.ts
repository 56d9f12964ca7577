// `odelens train FILE [--iterations K] [--lr X] [--optimizer adam|sgd] [--gradient NAME] [--every K]
// [--out params.json] [--json] [--backend NAME]`: gradient descent on the discrete loss (solver/train/).
import { writeFileSync } from 'node:fs';
import { formatNumber } from '../presentation/format';
import { textTable } from '../presentation/textTable';
import { train, TrainError, defaultGradient, type TrainResult } from '../train/train';
import { CHECK_ONLY_CORRECTIONS, TRAIN_GRADIENTS, type TrainGradient } from '../train/gradients';
import { BACKEND_NAMES, isBackendName, type BackendName } from '../registry/backends';
import { OPTIMIZER_NAMES, type OptimizerName } from '../train/optimizers';
import { savedParameters, savedParametersText } from '../train/savedParameters';
import { readModel, tokens, type Output } from './common';
import { USAGE } from './usage';

const TRAIN_OPTIONS = {
  json: { type: 'boolean' },
  iterations: { type: 'string' },
  lr: { type: 'string' },
  every: { type: 'string' },
  optimizer: { type: 'string' },
  gradient: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
  workspace: { type: 'string' },
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
  workspace?: string;
}

/** The arguments of `odelens train`, or the message that refuses them. */
function trainArguments(args: string[]): TrainArguments | string {
  let file: string | undefined,
    outFile: string | undefined,
    workspace: string | undefined,
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
    else if (key === '--workspace') workspace = value;
    else if (key === '--backend') {
      if (!isBackendName(value)) return `odelens: --backend must be one of ${BACKEND_NAMES.join(', ')}`;
      backend = value;
    }
  }
  if (!file) return `odelens: missing FILE\n\n${USAGE}`;
  return { file, outFile, json, iterations, lr, every, optimizer, gradient, backend, workspace };
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

export async function trainCommand(rest: string[], { out, err }: Output): Promise<number> {
  const parsed = trainArguments(rest);
  if (typeof parsed === 'string') {
    err(parsed);
    return 2;
  }
  const { file, outFile, json, iterations, lr, every, optimizer, gradient, backend, workspace } = parsed;
  const analysis = readModel(file, err, workspace);
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
  const saved = savedParameters(file, model, result);
  if (outFile) writeFileSync(outFile, savedParametersText(saved));
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
