// Where the repository is, for tests bundled into out/ or run from anywhere.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository root: the nearest folder above this file with the ode-lens package.json. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'ode-lens') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/**
 * Real XPPAUT model files, when the machine has them: the corpus lives beside the repository
 * (never copied into it). ODELENS_XPPAUT_SAMPLES names another folder.
 */
export function xppautSamplesDir(): string | undefined {
  const candidates = [
    process.env.ODELENS_XPPAUT_SAMPLES,
    join(repoRoot(), '..', 'shared', 'xppaut-samples'),
    '/work/shared/xppaut-samples',
  ];
  return candidates.find((d): d is string => !!d && existsSync(d));
}
