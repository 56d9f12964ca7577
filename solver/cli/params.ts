// `--params FILE`: parameter values in the format `odelens train --out` writes (solver/train/savedParameters.ts),
// read from the file and checked against the model.
import { readFileSync } from 'node:fs';
import type { Model } from '../model';
import { parseParameters, type LoadedParameters } from '../train/savedParameters';

export type { LoadedParameters };

/** The values of every model parameter from a `train --out` file, or a message saying what does not fit. */
export function loadParameters(file: string, model: Model): LoadedParameters | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `odelens: cannot read parameters from ${file}: ${(e as Error).message}`;
  }
  const parsed = parseParameters(text, file, model);
  return typeof parsed === 'string' ? `odelens: ${parsed}` : parsed;
}
