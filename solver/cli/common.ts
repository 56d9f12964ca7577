// What every command of the CLI shares: the output streams, reading and analysing a model file,
// the `file:line:col: severity: message [code]` form of a diagnostic, and the argument tokens.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { analyse } from '../language/index';
import type { Analysis, Diagnostic, Model } from '../model';

/** Where a command writes: stdout and stderr, a line at a time. */
export interface Output {
  out: (s: string) => void;
  err: (s: string) => void;
}

export function loc(file: string, d: Diagnostic): string {
  return `${file}:${d.range.start.line + 1}:${d.range.start.character + 1}: ${d.severity}: ${d.message}${d.code ? ` [${d.code}]` : ''}`;
}

// The flags are read by node:util parseArgs (`--flag value`, `--flag=value`), not strict:
// the checks of values, and their messages, are the CLI's own, in command-line order.
export type ArgToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

export function tokens(args: string[], options: ParseArgsConfig['options']): ArgToken[] {
  return parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true }).tokens;
}

/** A model file read and analysed, or the diagnostics that stop it (errors, or why it cannot be read). */
export type ReadResult =
  | { ok: true; text: string; analysis: Analysis & { model: Model } }
  | { ok: false; message?: string; errors: Diagnostic[] };

/** Reads and analyses FILE without printing. */
/** Reads and analyses FILE; `workspace` is the folder its data files must lie in (default: the model's folder). */
export function analyseFile(file: string, workspace?: string): ReadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, ''); // columns as editors count them
  } catch (e) {
    return { ok: false, message: `odelens: cannot read ${file}: ${(e as Error).message}`, errors: [] };
  }
  const analysis = analyse(text, { documentPath: resolve(file), workspaceRoot: workspace && resolve(workspace) });
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !analysis.model) return { ok: false, errors };
  return { ok: true, text, analysis: analysis as Analysis & { model: Model } };
}

/** Reads and analyses FILE; on failure prints why (stderr) and returns undefined (exit status 2). */
export function readModel(
  file: string,
  err: (s: string) => void,
  workspace?: string,
): (Analysis & { model: Model }) | undefined {
  const r = analyseFile(file, workspace);
  if (r.ok) return r.analysis;
  printRefusal(file, r, err);
  return undefined;
}

export function printRefusal(file: string, r: Extract<ReadResult, { ok: false }>, err: (s: string) => void): void {
  if (r.message) err(r.message);
  for (const d of r.errors) err(loc(file, d));
  if (!r.message && r.errors.length === 0) err(`${file}:1:1: error: the model could not be analysed`);
}
