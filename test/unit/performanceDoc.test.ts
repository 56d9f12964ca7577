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

test('the generated section shows the PyTorch rows (or why they were skipped) and the editor timings', () => {
  const base = JSON.parse(
    JSON.stringify({
      date: '2026-12-05T03:00:00.000Z',
      commit: 'abc1234',
      dirty: false,
      full: true,
      args: [],
      node: 'v20',
      cpus: 2,
      runs: 11,
      frontEnd: { lines: 10, analyseMs: 1, lexMs: 1, ratio: 1, targetMs: 20 },
      languageService: { error: 'not measured' },
      targets: [],
      schemes: [],
      sizes: [],
      small: [],
    }),
  );
  const row = {
    case: 'spiral.ode',
    copies: 'independent',
    d: 2,
    width: 16,
    steps: 64,
    backend: 'cpu',
    pairs: 7,
    odeLens: { checkMs: 60, adMs: 12, referenceMs: 40, finiteDifferencesMs: 2 },
    pytorch: { checkMs: 100, adMs: 3, referenceMs: 97 },
    ratio: 0.6,
    targetRatio: 0.5,
    loss: { odeLens: 1.9, pytorch: 1.9 },
    relError: { W1: { odeLens: 1.0092, pytorch: 1.0093 } },
  };
  const editor = {
    file: '/r/examples/spiral.ode',
    debounceMs: 400,
    firstCheckMs: 800,
    saveToDiagnosticsMs: [450, 480, 470],
    saveMedianMs: 470,
    saveMaxMs: 480,
  };
  const shown = latestRunSection('example-run.json', {
    ...base,
    pytorch: { rows: [row], torch: '1.13.0', python: '/usr/bin/python3' },
    editor,
  });
  assert.match(
    shown,
    /\| spiral\.ode d2 w16 N64 \| independent \| 60\.0 \| 12\.0 \/ 40\.0 \/ 2\.0 \| 100\.0 \| 3\.0 \/ 97\.0 \| 0\.60 ✗ \| W1 1\.009 \/ 1\.009 \|/,
  );
  assert.match(shown, /PyTorch 1\.13\.0 \(\/usr\/bin\/python3\)/);
  assert.match(
    shown,
    /first check after opening 800 ms \(target ≤ 1000\); save → check diagnostics median 470 \/ max 480 ms over 3 saves/,
  );
  const skipped = latestRunSection('example-run.json', {
    ...base,
    pytorch: { skipped: 'no Python that imports torch' },
  });
  assert.match(skipped, /Against PyTorch: skipped \(no Python that imports torch\)\./);
});
