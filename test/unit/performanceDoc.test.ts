// docs/performance.md's "Latest run" figures are those of the newest full bench run in bench/results:
// a page edited by hand, or a new run not yet written into it (npm run bench:doc), fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BEGIN, END, latestRunSection, newestFullRun, withLatestRun } from '../../bench/performanceDoc';
import { repoRoot } from '../support/repo';

const root = repoRoot();

test('docs/performance.md shows the newest full bench run', (t) => {
  const run = newestFullRun(root);
  if (!run) {
    t.skip('no full bench run in bench/results (npm run bench writes one)');
    return;
  }
  const page = readFileSync(join(root, 'docs/performance.md'), 'utf8');
  const expected = latestRunSection(run.file, run.results);
  const shown = page.slice(page.indexOf(BEGIN), page.indexOf(END) + END.length);
  assert.equal(shown, expected, `docs/performance.md is not generated from ${run.file}: run npm run bench:doc`);
});

test('the generated section replaces only what lies between its markers', () => {
  const page = `# Performance\n\nintro\n\n${BEGIN}\nold figures\n${END}\n\n## History\n`;
  assert.equal(
    withLatestRun(page, `${BEGIN}\nnew\n${END}`),
    `# Performance\n\nintro\n\n${BEGIN}\nnew\n${END}\n\n## History\n`,
  );
  assert.throws(() => withLatestRun('# no markers', 'x'), /markers/);
});
