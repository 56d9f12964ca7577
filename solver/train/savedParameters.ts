// The learned-parameters file (`odelens train --out`, and the editor's "write parameters"): what a training
// run learned, with the run's settings and final figures; and reading one back against a model (`check
// --params`, `export --params`, the editor's "check at these parameters"), laid out as the engine takes
// them (copy n at offset n·P).
import type { Model } from '../model';
import { elementCount, sameShape } from '../ops/shapes';
import { copiesPerParameter } from '../engine/discrete';
import type { LearnedParameter, TrainResult } from './train';

/** The JSON of a learned-parameters file. */
export interface SavedParameters {
  /** The model file, as named where it was trained. */
  file: string;
  scheme: string;
  steps: number;
  gradient: string;
  optimizer: string;
  learningRate: number;
  iterations: number;
  stopped: TrainResult['stopped'];
  final: TrainResult['final'];
  parameters: LearnedParameter[];
}

export function savedParameters(file: string, model: Model, result: TrainResult): SavedParameters {
  return {
    file,
    scheme: model.options.meth,
    steps: model.options.steps,
    gradient: result.gradient,
    optimizer: result.optimizer,
    learningRate: result.learningRate,
    iterations: result.iterations,
    stopped: result.stopped,
    final: result.final,
    parameters: result.parameters,
  };
}

export interface LoadedParameters {
  values: Float32Array[];
  /** The names, in model order, for the report. */
  names: string[];
}

interface SavedParameter {
  name?: unknown;
  shape?: unknown;
  perStep?: unknown;
  values?: unknown;
}

/** The values of every model parameter from a file's text (`source` names it), or a message saying what does not fit. */
export function parseParameters(text: string, source: string, model: Model): LoadedParameters | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return `cannot read parameters from ${source}: ${(e as Error).message}`;
  }
  const saved = (json as { parameters?: unknown })?.parameters;
  if (!Array.isArray(saved)) return `${source} has no "parameters" list (the format of odelens train --out)`;
  const byName = new Map<string, SavedParameter>();
  for (const p of saved as SavedParameter[]) if (typeof p?.name === 'string') byName.set(p.name.toLowerCase(), p);
  const copies = copiesPerParameter(model);
  const values: Float32Array[] = [];
  for (const p of model.params) {
    const s = byName.get(p.name.toLowerCase());
    if (!s) return `${source} has no values for the parameter ${p.name}`;
    if (!Array.isArray(s.shape) || !sameShape(s.shape as number[], p.shape))
      return `${source}: ${p.name} has shape [${String(s.shape)}], the model declares [${p.shape}]`;
    const rows = s.values;
    const want = p.perStep ? copies : 1;
    const P = elementCount(p.shape);
    if (!Array.isArray(rows) || rows.length !== want)
      return `${source}: ${p.name} needs ${want} row${want === 1 ? '' : 's'} of values (${p.perStep ? 'one per copy' : 'shared'}), not ${Array.isArray(rows) ? rows.length : 'none'}`;
    const out = new Float32Array(want * P);
    for (let n = 0; n < want; n++) {
      const row = rows[n] as unknown;
      if (!Array.isArray(row) || row.length !== P || !row.every((v) => typeof v === 'number' && Number.isFinite(v)))
        return `${source}: row ${n} of ${p.name} must hold ${P} finite numbers`;
      out.set(row as number[], n * P);
    }
    values.push(out);
  }
  return { values, names: model.params.map((p) => p.name) };
}

/** The file's text, as `odelens train --out` writes it. */
export function savedParametersText(saved: SavedParameters): string {
  return `${JSON.stringify(saved, null, 2)}\n`;
}
