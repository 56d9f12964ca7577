// The files of `odelens check FILE|GLOB...`: plain paths as given, globs (`models/**/*.ode`, quoted so
// the shell leaves them) expanded by fast-glob, in the order given, each file once.
import { existsSync } from 'node:fs';
import fg from 'fast-glob';

export interface Files {
  files: string[];
  /** Globs that match nothing (a plain path that does not exist is kept: reading it says why). */
  unmatched: string[];
  /** One plain path: `--format json` writes one object rather than a list. */
  single: boolean;
}

export function expandFiles(patterns: string[]): Files {
  const files: string[] = [];
  const unmatched: string[] = [];
  const seen = new Set<string>();
  const add = (f: string) => {
    if (!seen.has(f)) {
      seen.add(f);
      files.push(f);
    }
  };
  for (const p of patterns) {
    if (!fg.isDynamicPattern(p) || existsSync(p)) {
      add(p);
      continue;
    }
    const matches = fg.sync(p, { onlyFiles: true }).sort();
    if (matches.length === 0) unmatched.push(p);
    matches.forEach(add);
  }
  return { files, unmatched, single: patterns.length === 1 && !fg.isDynamicPattern(patterns[0]) };
}
