// The rows a plot asks for (solver/rows.ts): exact while they fit the asker's resolution, else each
// bucket's min and max, so the envelope — a period-2 oscillation's band — is never lost; bounded in size.
// The streamed JSON (solver/jsonStream.ts) is JSON.stringify's, piece by piece. And `odelens check
// --json` writes the summary unless asked for `--rows all`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import type { ParameterReport, Report } from '../../solver/report';
import { answerRows, MAX_ANSWER_POINTS, packRows, STATE_TARGET, type RowsAnswer } from '../../solver/rows';
import { jsonPieces, writeJson } from '../../solver/jsonStream';
import { summarise } from '../../solver/summary';
import { analyse } from '../../solver/language/index';
import { statePathRows } from '../../solver/check/statePaths';

const ROOT = join(__dirname, '..', '..', '..');

function reportWith(parameters: Partial<ParameterReport>[]): Report {
  return {
    parameters: parameters.map((p, k) => ({
      name: `P${k}`,
      shape: [p.raw?.[0]?.length ?? 1],
      perStep: true,
      range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
      metrics: { alpha: 0, beta: 0, relError: 0, correctedRelError: 0, gradcheckRelError: 0 },
      oscillating: false,
      layerTimes: [],
      raw: [],
      corrected: [],
      reference: [],
      ...p,
    })),
  } as unknown as Report;
}

/** A per-step parameter of N layers and `width` components: a smooth part and a period-2 part, NaN where asked. */
function layered(values: number[][]): Partial<ParameterReport> {
  const N = values.length;
  return {
    layerTimes: Array.from({ length: N }, (_, n) => n / N),
    raw: values,
    corrected: values.map((r) => r.map((v) => v / 2)),
    reference: values.map((r) => r.map(() => 1)),
  };
}

const answer = (r: RowsAnswer | string): RowsAnswer => {
  assert.notEqual(typeof r, 'string', String(r));
  return r as RowsAnswer;
};

test('rows that fit the resolution come back exactly; NaN as null', () => {
  const values = [
    [1, 2],
    [3, Number.NaN],
    [5, 6],
  ];
  const tables = packRows(reportWith([layered(values)]));
  const a = answer(answerRows(tables, { view: 'layers', target: 'P0', columns: [1], series: ['raw'], buckets: 100 }));
  assert.equal(a.downsampled, false);
  assert.deepEqual(a.series, [{ series: 'raw', column: 1, x: [0, 1 / 3, 2 / 3], y: [2, null, 6] }]);
  assert.match(
    String(answerRows(tables, { view: 'layers', target: 'nope', columns: [0], buckets: 10 })),
    /no layers rows for nope/,
  );
  assert.match(String(answerRows(tables, { view: 'layers', target: 'P0', columns: [7], buckets: 10 })), /no column/);
  assert.match(
    String(answerRows(tables, { view: 'trajectory', target: 'x', columns: [0], buckets: 10 })),
    /no trajectory rows/,
  );
});

test("downsampled rows keep every bucket's min and max in x order, and stay within the point budget", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.integer({ min: 1, max: 300 }),
      fc.double({ min: -5, max: 5, noNaN: true }),
      fc.array(fc.integer({ min: 0, max: 2999 }), { maxLength: 5 }),
      fc.option(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))),
      (N, buckets, amplitude, gaps, range) => {
        const values = Array.from({ length: N }, (_, n) => [Math.sin(n / 50) + (n % 2 ? amplitude : -amplitude)]);
        for (const g of gaps) if (g < N) values[g][0] = Number.NaN;
        const tables = packRows(reportWith([layered(values)]));
        const [from, to] = range ? [Math.min(...range), Math.max(...range)] : [undefined, undefined];
        const a = answer(answerRows(tables, { view: 'layers', target: 'P0', columns: [0], buckets, from, to }));
        const x = tables[0].series[0].x;
        const inRange = [...x.keys()].filter(
          (n) => (from === undefined || x[n] >= from) && (to === undefined || x[n] <= to),
        );
        const raw = a.series.find((s) => s.series === 'raw')!;
        assert.ok(a.buckets <= buckets);
        assert.ok(raw.x.length <= Math.max(inRange.length, 3 * a.buckets), `${raw.x.length} points`);
        for (let i = 1; i < raw.x.length; i++) assert.ok(raw.x[i] > raw.x[i - 1], 'strictly increasing x');
        const finite = inRange.map((n) => values[n][0]).filter(Number.isFinite);
        const drawn = raw.y.filter((v): v is number => v !== null);
        if (finite.length) {
          assert.equal(Math.min(...drawn), Math.min(...finite));
          assert.equal(Math.max(...drawn), Math.max(...finite));
        }
        // Every gap in range shows as at least one null when some point of it is kept.
        if (inRange.some((n) => !Number.isFinite(values[n][0]))) assert.ok(raw.y.includes(null), 'a gap is kept');
        if (!a.downsampled) assert.equal(raw.x.length, inRange.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('an answer stays within MAX_ANSWER_POINTS however many buckets are asked for', () => {
  const values = Array.from({ length: 50_000 }, (_, n) => Array.from({ length: 8 }, (_, j) => Math.sin(n + j)));
  const tables = packRows(reportWith([layered(values)]));
  const a = answer(
    answerRows(tables, { view: 'layers', target: 'P0', columns: [0, 1, 2, 3, 4, 5, 6, 7], buckets: 1e9 }),
  );
  const points = a.series.reduce((s, c) => s + c.x.length, 0);
  assert.ok(points <= MAX_ANSWER_POINTS, `${points} points`);
  assert.ok(JSON.stringify(a).length < 600_000, `${JSON.stringify(a).length} bytes`);
});

test('a shared parameter is a sensitivities table over its components', () => {
  const tables = packRows(
    reportWith([{ perStep: false, raw: [[1, -2, 3]], corrected: [[1, -2, 3]], reference: [[1.1, -2, 2.9]] }]),
  );
  assert.equal(tables[0].info.view, 'sensitivities');
  const a = answer(answerRows(tables, { view: 'sensitivities', target: 'P0', columns: [0], buckets: 10 }));
  assert.deepEqual(
    a.series.map((s) => [s.series, s.x, s.y]),
    [
      ['raw', [0, 1, 2], [1, -2, 3]],
      ['corrected', [0, 1, 2], [1, -2, 3]],
      ['reference', [0, 1, 2], [1.1, -2, 2.9]],
    ],
  );
});

test('the state paths are a trajectory and an adjoint table over t, a column per state component', () => {
  const report = reportWith([]);
  report.statePaths = {
    times: [0, 0.5, 1],
    labels: ['x', 'y'],
    x: [
      [1, 0],
      [0.5, 0.5],
      [0, 1],
    ],
    p: [
      [3, 4],
      [2, 2],
      [1, 0],
    ],
  };
  const tables = packRows(report);
  assert.deepEqual(
    tables.map((t) => [t.info.view, t.info.target, t.info.rows, t.info.columns, t.info.columnLabels, t.info.x]),
    [
      ['trajectory', STATE_TARGET, 3, 2, ['x', 'y'], 't'],
      ['adjoint', STATE_TARGET, 3, 2, ['x', 'y'], 't'],
    ],
  );
  assert.deepEqual(tables[1].info.columnNorms, [Math.sqrt(14), Math.sqrt(20)]);
  const a = answer(answerRows(tables, { view: 'trajectory', target: STATE_TARGET, columns: [1, 0], buckets: 10 }));
  assert.deepEqual(
    a.series.map((s) => [s.series, s.column, s.x, s.y]),
    [
      ['x', 1, [0, 0.5, 1], [0, 0.5, 1]],
      ['x', 0, [0, 0.5, 1], [1, 0.5, 0]],
    ],
  );
  // The summary names the tables and carries none of the paths.
  const summary = summarise(report);
  assert.equal((summary as { statePaths?: unknown }).statePaths, undefined);
  assert.deepEqual(
    summary.rowTables?.map((t) => t.view),
    ['trajectory', 'adjoint'],
  );
  // No adjoint recorded: no adjoint table.
  delete report.statePaths.p;
  assert.deepEqual(
    packRows(report).map((t) => t.info.view),
    ['trajectory'],
  );
});

test('streamed JSON is JSON.stringify, piece by piece', async () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      assert.deepEqual(JSON.parse([...jsonPieces(v)].join('')), JSON.parse(JSON.stringify(v)));
    }),
    { numRuns: 300 },
  );
  const odd = { a: undefined, b: [1, Number.NaN, Number.POSITIVE_INFINITY, undefined], c: { d: [[1, 2], [3]] }, e: [] };
  const text = [...jsonPieces(odd)].join('');
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(odd)));
  assert.match(text, /"d": \[\n {6}\[1,2\],\n {6}\[3\]\n {4}\]/, 'a row of numbers stays on one line');
  // Written in chunks through a stream that asks to wait.
  const out = new PassThrough({ highWaterMark: 1024 });
  const chunks: string[] = [];
  out.on('data', (c) => chunks.push(String(c)));
  const big = { rows: Array.from({ length: 2000 }, (_, n) => [n, n / 3, -n]) };
  await writeJson(out, big);
  assert.deepEqual(JSON.parse(chunks.join('')), JSON.parse(JSON.stringify(big)));
});

const cli = join(ROOT, 'dist/cli.js');

test('odelens check --json writes the summary; --rows all adds the rows', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, 'check', 'examples/spiral.ode', '--backend', 'cpu', '--json', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
  const s = run();
  const f = run('--rows', 'all');
  assert.equal(s.status, 1, s.stderr);
  assert.equal(f.status, 1, f.stderr);
  const summary = JSON.parse(s.stdout);
  const full = JSON.parse(f.stdout);
  assert.ok(f.stdout.length > 10 * s.stdout.length, `${s.stdout.length} against ${f.stdout.length} bytes`);
  assert.equal(full.parameters[0].raw.length, 64);
  assert.equal(summary.parameters[0].raw, undefined);
  // The summary is the full report's: equal but for the times of the two runs.
  const untimed = (j: { timings?: unknown }) => ({ ...j, timings: undefined });
  assert.deepEqual(
    untimed(summary),
    untimed(JSON.parse(JSON.stringify({ ...summarise(full), file: full.file, diagnostics: full.diagnostics }))),
  );
  assert.equal(run('--rows', 'some').status, 2);
  const noJson = spawnSync(process.execPath, [cli, 'check', 'examples/spiral.ode', '--rows', 'all'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(noJson.status, 2);
  assert.match(noJson.stderr, /--rows all needs --json/);
});

test("the engine's state paths pack from the reference's node arrays, as their rows would, without building the rows", () => {
  const model = analyse(`state x[3]
param a ~ normal(0, 1)
init x = 0.1
x' = -a*x
loss = sum(x(T)^2)
@ total=1, steps=4`).model!;
  // Four columns for three components (a label each, the fourth dropped) and values ending inside the last node.
  const node = (n: number, c: number) => (n % 2 === 0 ? 0.5 : -1) * (n + c / 10);
  const x = { columns: 4, values: Float32Array.from({ length: 4 * 4 + 2 }, (_v, i) => node(i >> 2, i & 3)) };
  const p = { columns: 4, values: Float32Array.from({ length: 5 * 4 }, (_v, i) => Math.fround(1 / (i + 0.3))) };
  const times = [0, 0.25, 0.5, 0.75, 1];
  for (const withP of [true, false]) {
    const report = reportWith([]);
    report.statePaths = statePathRows(model, { times, x, ...(withP ? { p } : {}) });
    const packed = packRows(report);
    const xs = Object.getOwnPropertyDescriptor(report.statePaths, 'x');
    assert.ok(xs?.get, 'packing left the rows unbuilt');
    // The same report with its rows read (as JSON would): the rows' own packing.
    const plain = reportWith([]);
    plain.statePaths = JSON.parse(JSON.stringify(report.statePaths));
    assert.ok(Array.isArray(plain.statePaths?.x) && plain.statePaths.x.length === 5);
    assert.equal(plain.statePaths?.p !== undefined, withP);
    const fromRows = packRows(plain);
    assert.equal(packed.length, fromRows.length);
    packed.forEach((t, i) => {
      assert.deepEqual(t.info, fromRows[i].info);
      assert.deepEqual(t.series, fromRows[i].series);
    });
    assert.ok(Number.isNaN(packed[0].series[0].values[4 * 3 + 2]), 'the last node, cut short, ends in NaN');
  }
});
