// docs/performance.md's "Latest run" figures are those of the newest full bench run in bench/results:
// a page edited by hand, or a new run not yet written into it (npm run bench:doc), fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BEGIN, END, latestRunSection, newestFullRun, withLatestRun } from '../../bench/performanceDoc';
import { repoRoot } from '../support/repo';

const root = repoRoot();

/** A full run's results with nothing measured but the front end, at `date` (untyped, as a results file reads). */
function emptyRun(date: string) {
  return JSON.parse(
    JSON.stringify({
      date,
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
}

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
  const base = emptyRun('2026-12-05T03:00:00.000Z');
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

test('the generated section shows the repeated-checks row of a run that has it, and marks a ratio above its target', () => {
  const base = emptyRun('2026-12-06T21:00:00.000Z');
  assert.doesNotMatch(latestRunSection('example-run.json', base), /Repeated checks/);
  const row = (checksMs: number[], ownCopy: boolean) => {
    const later = checksMs.slice(1).sort((a, b) => a - b);
    const laterMs = (later[1] + later[2]) / 2; // four later checks
    return {
      model: 'Brusselator ring, 128 cells',
      states: 256,
      steps: 1200,
      instructions: 2960,
      ownCopy,
      between: 'an array chain of 200 states',
      checksMs,
      checksCpuMs: checksMs.map((x) => x - 10),
      betweenMs: [300, 200, 210, 190],
      firstMs: checksMs[0],
      laterMs,
      ratio: laterMs / checksMs[0],
      cpuRatio: (laterMs - 10) / (checksMs[0] - 10),
      targetRatio: 1.1,
      load: { start: 1.2, end: 1.5 },
    };
  };
  const shared = latestRunSection('example-run.json', {
    ...base,
    repeatedChecks: row([1600, 2200, 2100, 2190, 2000], false),
  });
  assert.match(
    shared,
    /Repeated checks in one process: Brusselator ring, 128 cells \(256 states, 2960 instructions, the shared interpreter; rk4, 1200 steps\) checked 5 times in one process on one thread, an array chain of 200 states checked between: first 1600 ms, later median 2145 ms, later \/ first 1\.34 ✗ \(target ≤ 1\.1; CPU time 1\.34\); each check 1600, 2200, 2100, 2190, 2000 ms \(CPU 1590, 2190, 2090, 2180, 1990\), between 300, 200, 210, 190 ms; load average 1\.2 at the start, 1\.5 at the end\.\n<!-- latest-run:end -->$/,
  );
  const own = latestRunSection('example-run.json', {
    ...base,
    repeatedChecks: row([1600, 1400, 1440, 1340, 1430], true),
  });
  assert.match(own, /an interpreter copy of its own; .* later median 1415 ms, later \/ first 0\.88 \(target ≤ 1\.1;/);
  const compiled = latestRunSection('example-run.json', {
    ...base,
    repeatedChecks: { ...row([900, 700, 720, 690, 710], true), compiled: true },
  });
  assert.match(compiled, /2960 instructions, its passes as WebAssembly; rk4, 1200 steps\) .* later \/ first 0\.78 \(/);
  const failed = latestRunSection('example-run.json', { ...base, repeatedChecks: { error: 'child exited 1' } });
  assert.match(failed, /Repeated checks in one process: failed \(child exited 1\)\./);
});
