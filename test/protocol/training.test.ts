// Training over the protocol, with a real server over stdio: odeLens/train streams one odeLens/trainProgress
// per finished iteration (raw AD, then the correction) before it answers; odeLens/cancelTraining stops it and
// the answer still carries what the run learned; the learned-parameters JSON it carries is the CLI's
// (`odelens check --params` reads it), and a check at that file says so in the report, the status, the
// diagnostics and the hover.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  CancelTrainingRequest,
  RunCheckRequest,
  TrainProgressNotification,
  TrainRequest,
  type RunCheckResult,
  type TrainProgressParams,
  type TrainSummary,
} from '../../protocol/customMessages';
import { repoRoot, startServer, type LspClient } from '../support/lspClient';

const CHECK_TIMEOUT = 120_000;
/** The spiral model with fewer steps: the same leapfrog zig-zag, quicker iterations. */
const SPIRAL = readFileSync(join(repoRoot, 'examples', 'spiral.ode'), 'utf8').replace('steps=64', 'steps=32');

describe('training over the protocol', { timeout: 600_000 }, () => {
  let client: LspClient;
  let dir: string;
  let uri: string;
  const progress: TrainProgressParams[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'odelens-train-'));
    writeFileSync(join(dir, 'spiral.ode'), SPIRAL);
    uri = pathToFileURL(join(dir, 'spiral.ode')).toString();
    ({ client } = await startServer(
      { check: { enabled: true, debounceMs: 50, timeBudgetMs: 100_000 }, backend: 'cpu' },
      { root: dir },
    ));
    client.conn.onNotification(TrainProgressNotification.method, (p: TrainProgressParams) => {
      progress.push(p);
    });
    await client.open(uri, SPIRAL);
    await client.until(
      'the first check',
      () => client.statuses.find((s) => s.uri === uri && s.state === 'done'),
      CHECK_TIMEOUT,
    );
  });
  after(async () => {
    await client?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let trained: TrainSummary;

  it('streams each iteration of raw AD, then of the recommended correction, before it answers', async () => {
    progress.length = 0;
    const iterations = 6;
    trained = await client.request<TrainSummary>(TrainRequest.method, { uri, iterations });
    assert.equal(trained.error, undefined, trained.error);
    assert.ok(!trained.cancelled);
    // The report recommends filter121 for leapfrog with per-step copies: the second run uses it.
    assert.deepEqual(
      trained.runs?.map((r) => [r.gradient, r.stopped, r.iterations]),
      [
        ['ad', 'completed', iterations],
        ['filter121', 'completed', iterations],
      ],
    );
    // One message per iteration, in order, each with its own figures (not the history).
    assert.deepEqual(
      progress.map((p) => `${p.gradient}:${p.iteration}`),
      ['ad', 'filter121'].flatMap((g) => Array.from({ length: iterations }, (_, i) => `${g}:${i}`)),
    );
    for (const p of progress) {
      assert.deepEqual(p.gradients, ['ad', 'filter121']);
      assert.equal(p.iterations, iterations);
      assert.ok(Number.isFinite(p.loss) && p.loss > 0, JSON.stringify(p));
      assert.ok(Number.isFinite(p.totalVariation) && p.totalVariation >= 0, JSON.stringify(p));
      assert.ok(p.flowLoss === null || p.flowLoss > 0, JSON.stringify(p));
    }
    // The seeded copies are equal across layers (total variation 0); training moves them apart, raw AD (which
    // follows the period-2 oscillation across layers) by more than the corrected gradients.
    const last = (g: string) => progress.filter((p) => p.gradient === g).at(-1)!;
    console.log(
      `# total variation after ${iterations} iterations: ad ${last('ad').totalVariation}, filter121 ${last('filter121').totalVariation}`,
    );
    assert.ok(last('filter121').totalVariation > 0);
    assert.ok(last('ad').totalVariation > 2 * last('filter121').totalVariation);
    // Both runs start from the same seeded parameters: the first iteration's figures agree.
    const first = progress.filter((p) => p.iteration === 0);
    assert.equal(first[0].loss, first[1].loss);
    assert.equal(first[0].totalVariation, first[1].totalVariation);
    assert.ok(
      progress.some((p) => p.flowLoss !== null),
      'the flow loss is computed on some iterations',
    );
    // The loss went down under Adam (the lines give first → last).
    for (const line of trained.lines)
      assert.match(line, /^(ad|filter121): loss \S+ → \S+, flow loss \S+, total variation \S+ \(6 iterations\)$/);
  });

  it('cancelling stops the run in progress; the answer keeps what it learned', async () => {
    progress.length = 0;
    const answer = client.request<TrainSummary>(TrainRequest.method, { uri, iterations: 5000 });
    await client.until('three iterations', () => progress.length >= 3, 60_000);
    const cancel = await client.request<{ cancelled: boolean }>(CancelTrainingRequest.method, { uri });
    assert.deepEqual(cancel, { cancelled: true });
    const summary = await answer;
    assert.equal(summary.cancelled, true);
    assert.equal(summary.runs?.length, 1, 'the corrected run does not start after a cancel');
    const run = summary.runs![0];
    assert.equal(run.gradient, 'ad');
    assert.equal(run.stopped, 'cancelled');
    assert.ok(run.iterations >= 3 && run.iterations < 5000, `${run.iterations} iterations`);
    assert.equal(run.iterations, progress.length, 'every iteration it reports was streamed');
    const saved = JSON.parse(run.parametersJson);
    assert.equal(saved.stopped, 'cancelled');
    assert.equal(saved.iterations, run.iterations);
    // Nothing more arrives, and the document is free to train again.
    const seen = progress.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(progress.length, seen);
    assert.deepEqual(await client.request(CancelTrainingRequest.method, { uri }), { cancelled: false });
  });

  it('the learned parameters are the CLI file: a check at them says so in report, status, diagnostics and hover', async () => {
    const corrected = trained.runs!.find((r) => r.gradient === 'filter121')!;
    const file = join(dir, 'spiral.filter121.params.json');
    writeFileSync(file, corrected.parametersJson);
    const saved = JSON.parse(corrected.parametersJson);
    assert.equal(saved.file, 'spiral.ode');
    assert.equal(saved.gradient, 'filter121');
    assert.deepEqual(
      saved.parameters.map((p: { name: string; values: number[][] }) => [p.name, p.values.length]),
      [
        ['W1', 32],
        ['b1', 32],
        ['W2', 32],
      ],
    );

    const before = client.statuses.length;
    const result = await client.request<RunCheckResult>(RunCheckRequest.method, {
      uri,
      parameters: pathToFileURL(file).toString(),
    });
    assert.equal(result.state, 'done', result.message);
    assert.deepEqual(result.report?.checkedParameters, {
      kind: 'given',
      source: 'spiral.filter121.params.json',
      names: ['W1', 'b1', 'W2'],
    });
    const status = await client.until('the done status', () =>
      client.statuses.slice(before).find((s) => s.uri === uri && s.state === 'done'),
    );
    assert.equal(status.parameters, 'spiral.filter121.params.json');
    const findings = (client.lastDiagnostics(uri) ?? []).filter((d) => String(d.code) === 'oscillating-gradient');
    assert.ok(findings.length > 0, 'raw AD still oscillates at the trained parameters');
    for (const d of findings)
      assert.match(d.message, /\[checked at the parameters in spiral\.filter121\.params\.json\]$/);
    const hover = await client.request<{ contents: { value: string } }>('textDocument/hover', {
      textDocument: { uri },
      position: { line: SPIRAL.split('\n').findIndex((l) => l.startsWith('@')), character: 25 },
    });
    assert.match(hover.contents.value, /Checked at the parameters in `spiral\.filter121\.params\.json`/);

    // The CLI reads the same file, and checks the same values.
    const cli = spawnSync(
      process.execPath,
      [
        join(repoRoot, 'dist', 'cli.js'),
        'check',
        join(dir, 'spiral.ode'),
        '--params',
        file,
        '--backend',
        'cpu',
        '--json',
      ],
      { encoding: 'utf8', timeout: CHECK_TIMEOUT },
    );
    const json = JSON.parse(cli.stdout);
    assert.equal(json.checkedParameters.kind, 'given');
    assert.equal(json.checkedParameters.source, file);
    assert.equal(json.loss, result.report?.loss, 'the CLI and the editor check the same values');
  });

  it('a parameter file that does not fit the model fails the check and says why', async () => {
    const file = join(dir, 'wrong.params.json');
    writeFileSync(file, JSON.stringify({ parameters: [{ name: 'W1', shape: [2, 2], values: [[0, 0, 0, 0]] }] }));
    const result = await client.request<RunCheckResult>(RunCheckRequest.method, {
      uri,
      parameters: pathToFileURL(file).toString(),
    });
    assert.equal(result.state, 'failed');
    assert.match(result.message ?? '', /wrong\.params\.json: W1 has shape \[2,2\], the model declares \[16,2\]/);
    const missing = await client.request<RunCheckResult>(RunCheckRequest.method, {
      uri,
      parameters: pathToFileURL(join(dir, 'none.json')).toString(),
    });
    assert.equal(missing.state, 'failed');
    assert.match(missing.message ?? '', /cannot read parameters from none\.json/);
  });
});
