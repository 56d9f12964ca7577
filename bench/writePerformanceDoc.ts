// npm run bench:doc: writes the newest full bench run (bench/results) into docs/performance.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { latestRunSection, newestFullRun, withLatestRun } from './performanceDoc';

const root = resolve(process.argv[2] ?? '.');
const run = newestFullRun(root);
if (!run) {
  console.error('no full bench run in bench/results: run `npm run bench` (without --quick, --no-grid or --size) first');
  process.exit(1);
}
const page = join(root, 'docs/performance.md');
writeFileSync(page, withLatestRun(readFileSync(page, 'utf8'), latestRunSection(run.file, run.results)));
console.log(`docs/performance.md: latest run from ${run.file}`);
