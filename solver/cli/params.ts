// `--params FILE`: parameter values in the format `odelens train --out` writes
// ({ parameters: [{ name, shape, perStep, values: one row per copy }] }), checked against the model
// and laid out as the engine takes them (copy n at offset n·P).
import { readFileSync } from 'node:fs';
import type { Model } from '../model';
import { elementCount, sameShape } from '../ops/shapes';
import { copiesPerParameter } from '../engine/discrete';

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

/** The values of every model parameter from a `train --out` file, or a message saying what does not fit. */
export function loadParameters(file: string, model: Model): LoadedParameters | string {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    return `odelens: cannot read parameters from ${file}: ${(e as Error).message}`;
  }
  const saved = (json as { parameters?: unknown })?.parameters;
  if (!Array.isArray(saved)) return `odelens: ${file} has no "parameters" list (the format of odelens train --out)`;
  const byName = new Map<string, SavedParameter>();
  for (const p of saved as SavedParameter[]) if (typeof p?.name === 'string') byName.set(p.name.toLowerCase(), p);
  const copies = copiesPerParameter(model);
  const values: Float32Array[] = [];
  for (const p of model.params) {
    const s = byName.get(p.name.toLowerCase());
    if (!s) return `odelens: ${file} has no values for the parameter ${p.name}`;
    if (!Array.isArray(s.shape) || !sameShape(s.shape as number[], p.shape))
      return `odelens: ${file}: ${p.name} has shape [${String(s.shape)}], the model declares [${p.shape}]`;
    const rows = s.values;
    const want = p.perStep ? copies : 1;
    const P = elementCount(p.shape);
    if (!Array.isArray(rows) || rows.length !== want)
      return `odelens: ${file}: ${p.name} needs ${want} row${want === 1 ? '' : 's'} of values (${p.perStep ? 'one per copy' : 'shared'}), not ${Array.isArray(rows) ? rows.length : 'none'}`;
    const out = new Float32Array(want * P);
    for (let n = 0; n < want; n++) {
      const row = rows[n] as unknown;
      if (!Array.isArray(row) || row.length !== P || !row.every((v) => typeof v === 'number'))
        return `odelens: ${file}: row ${n} of ${p.name} must hold ${P} numbers`;
      out.set(row as number[], n * P);
    }
    values.push(out);
  }
  return { values, names: model.params.map((p) => p.name) };
}
