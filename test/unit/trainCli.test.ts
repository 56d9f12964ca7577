// `odelens train`: the per-iteration table, --out JSON with the learned
// parameters, --json, and bad usage (exit 2 with a message).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function root(): string {
  for (let d = __dirname, i = 0; i < 6; i++, d = resolve(d, '..'))
    if (existsSync(join(d, 'examples/spiral.ode'))) return d;
  return process.cwd();
}
// The built CLI (npm test builds it first); ODELENS_CLI overrides for a single-file run.
const cli = process.env.ODELENS_CLI ?? join(root(), 'dist/cli.js');
const skip = !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)';

const MODEL = `state x[2]
init x = [2, 0]
param W1[8,2] per-step ~ normal(0, 0.3)
param W2[2,8] per-step ~ normal(0, 0.3)
x' = W2 @ tanh(W1 @ x)
loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)
@ total=1, steps=16, meth=leapfrog, seed=1
done
`;

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('odelens train prints every k-th iteration and writes the learned parameters', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-train-'));
  const file = join(dir, 'm.ode'),
    out = join(dir, 'params.json');
  writeFileSync(file, MODEL);
  const r = await run([
    'train',
    file,
    '--iterations',
    '10',
    '--every',
    '5',
    '--lr',
    '0.05',
    '--optimizer',
    'sgd',
    '--gradient',
    'filter121',
    '--out',
    out,
    '--backend',
    'cpu',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /training 10 iterations of sgd .* with filter121 gradients/);
  const rows = r.stdout
    .split('\n')
    .filter((l) => /^\s*(\d+|final)\s/.test(l))
    .map((l) => l.trim().split(/\s+/)[0]);
  assert.deepEqual(rows, ['0', '5', '9', 'final']);
  const saved = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(saved.iterations, 10);
  assert.equal(saved.gradient, 'filter121');
  assert.deepEqual(
    saved.parameters.map((p: { name: string }) => p.name),
    ['W1', 'W2'],
  );
  assert.equal(saved.parameters[0].values.length, 16);
  assert.equal(saved.parameters[0].values[0].length, 16);
  assert.ok(saved.final.loss < 10);

  const j = await run(['train', file, '--iterations=3', '--json', '--gradient=adjoint', '--backend=cpu']);
  assert.equal(j.code, 0, j.stderr);
  const parsed = JSON.parse(j.stdout);
  assert.equal(parsed.history.length, 3);
  assert.ok(parsed.history.every((h: { referenceError: number }) => h.referenceError < 1e-3));
});

test('odelens train refuses bad usage with exit 2', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'odelens-train-'));
  const file = join(dir, 'm.ode');
  writeFileSync(file, MODEL);
  for (const argv of [
    ['train'],
    ['train', file, '--lr', '-1'],
    ['train', file, '--gradient', 'magic'],
    ['train', file, '--optimizer', 'lbfgs'],
    ['train', join(dir, 'missing.ode')],
  ]) {
    const r = await run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.ok(r.stderr.length > 0);
  }
  const messages: [string[], RegExp][] = [
    [['train', file, '--bogus', '1'], /^odelens: unknown option '--bogus'\n\nUsage: /],
    [['train', file, '--lr', '-1'], /^odelens: --lr must be a positive number, not '-1'\n$/],
    [['train', file, '--iterations=2.5'], /^odelens: --iterations must be a positive whole number, not '2.5'\n$/],
    [['train', file, '--every'], /^odelens: --every needs a value\n$/],
    [['train', file, file], /^odelens: only one FILE can be trained at a time\n$/],
  ];
  for (const [argv, message] of messages) assert.match((await run(argv)).stderr, message, argv.join(' '));
  writeFileSync(file, MODEL.replace('steps=16', 'steps=200000'));
  const big = await run(['train', file, '--backend', 'cpu']);
  assert.equal(big.code, 2);
  assert.match(big.stderr, /Too large to train/);
});
