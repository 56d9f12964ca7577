// How the front end's static diagnostics and the engine's measured findings
// combine, for every presenter (server, CLI): a finding that restates a
// static diagnostic with measured figures replaces it, so a line never
// carries the same warning twice.
import type { Diagnostic, Range } from './model';

/** Measured finding code → the static diagnostic code it replaces on the same range. */
const SUPERSEDES: ReadonlyMap<string, string> = new Map([['weakly-stable-scheme', 'weakly-stable']]);

const sameRange = (a: Range, b: Range) =>
  a.start.line === b.start.line &&
  a.start.character === b.start.character &&
  a.end.line === b.end.line &&
  a.end.character === b.end.character;

/** The front-end diagnostics that no finding of the current check supersedes. */
export function withoutSuperseded<D extends Diagnostic>(frontEnd: readonly D[], findings: readonly Diagnostic[]): D[] {
  const replaced = findings.flatMap((f) => {
    const code = SUPERSEDES.get(f.code);
    return code ? [{ code, range: f.range }] : [];
  });
  if (replaced.length === 0) return [...frontEnd];
  return frontEnd.filter((d) => !replaced.some((r) => r.code === d.code && sameRange(r.range, d.range)));
}

/** True when any diagnostic is a warning or an error (the CLI's exit status 1). */
export const hasWarnings = (ds: readonly Diagnostic[]) =>
  ds.some((d) => d.severity === 'warning' || d.severity === 'error');
