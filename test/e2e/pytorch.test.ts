// `odelens export --to pytorch` against the engine: the exported module, run by Debian's PyTorch, must give
// the loss, the raw per-copy AD gradients and the corrected gradients of `odelens check` within float32
// tolerance, on every example model and on generated ones (every scheme, tie, correction and function);
// `python3 model.py --gradients` prints them; under torch.distributed (gloo, two processes on
// 127.0.0.1 splitting a batch of initial conditions) the corrected gradients equal one process's.
// Skips with the reason when no Python imports torch (scripts/setup-e2e.sh installs python3-torch),
// or fails with ODELENS_REQUIRE_E2E=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { initialParameters } from '../../solver/engine/parameters';
import { exportPyTorch } from '../../solver/export/pytorch';
import type { Model } from '../../solver/model';
import type { Report } from '../../solver/report';
import { prerequisiteOrSkip } from '../support/browser';
import { freePort, makeScratch, repoRoot } from '../support/e2e';
import { expressionModel, modelText, smallTensorModel } from '../support/modelGenerators';
import { GRADIENTS_DRIVER, torchPython } from '../support/python';

const ROOT = repoRoot();
const CLI = join(ROOT, 'dist/cli.js');

interface Exported {
  loss: number;
  correction: string;
  parameters: Record<string, { raw: number[][]; corrected: number[][] }>;
}

function needTorch(t: Parameters<typeof prerequisiteOrSkip>[0]): string | undefined {
  const { python, tried } = torchPython();
  const ok = prerequisiteOrSkip(
    t,
    !!python,
    `no Python that imports torch (tried ${tried.join(', ')}; apt-get install -y python3-torch, or bash scripts/setup-e2e.sh)`,
  );
  return ok ? python : undefined;
}

/** ‖a − b‖ / ‖b‖ over the report's rows (its components only, when it keeps a subset). */
function relativeError(a: number[][], b: number[][], components?: number[]): number {
  let num = 0,
    den = 0;
  b.forEach((row, n) =>
    row.forEach((y, k) => {
      const x = a[n][components ? components[k] : k] ?? NaN;
      num += (x - y) ** 2;
      den += y * y;
    }),
  );
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

function modelFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modelFiles(join(dir, e.name)) : e.name.endsWith('.ode') ? [join(dir, e.name)] : [],
  );
}

interface Case {
  name: string;
  model: Model;
  module: string;
}

/** Exports each model into the scratch folder (seeded initial values, as the check uses). */
async function exportAll(dir: string, models: { name: string; model: Model }[]): Promise<Case[]> {
  const { tf } = await initBackend('cpu');
  return models.map(({ name, model }, i) => {
    const text = exportPyTorch(model, {
      source: name.split('\n')[0],
      values: initialParameters(tf, model),
      valuesFrom: 'the seeded initialisation',
      version: 'test',
    });
    const module = join(dir, `model_${i}.py`);
    writeFileSync(module, text);
    return { name, model, module };
  });
}

function runModules(python: string, modules: string[]): Map<string, Exported | string> {
  const r = spawnSync(python, ['-c', GRADIENTS_DRIVER, ...modules], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 900_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, Exported | string>();
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const j = JSON.parse(line);
    out.set(j.path, j.error ?? j.result);
  }
  return out;
}

/** The exported module's figures against the report's; returns the largest relative error. */
function compare(name: string, got: Exported, report: Report, tolerance: number): number {
  assert.equal(got.correction, report.correction, `${name}: the correction shown`);
  const lossError = Math.abs(got.loss - report.loss) / Math.max(Math.abs(report.loss), 1e-6);
  assert.ok(lossError <= tolerance, `${name}: loss ${got.loss} against ${report.loss}`);
  let worst = lossError;
  for (const p of report.parameters) {
    const g = got.parameters[p.name];
    assert.ok(g, `${name}: no gradients for ${p.name}`);
    assert.equal(g.raw.length, p.raw.length, `${name}: ${p.name} copies`);
    const raw = relativeError(g.raw, p.raw, p.components);
    const corrected = relativeError(g.corrected, p.corrected, p.components);
    assert.ok(raw <= tolerance, `${name}: ${p.name} raw gradients differ by ${raw}`);
    assert.ok(corrected <= tolerance, `${name}: ${p.name} ${report.correction} gradients differ by ${corrected}`);
    worst = Math.max(worst, raw, corrected);
  }
  return worst;
}

/** Whether a report's figures are all finite (a blown-up solve has nothing to compare). */
function finiteReport(r: Report): boolean {
  return (
    Number.isFinite(r.loss) &&
    r.parameters.length > 0 &&
    r.parameters.every((p) => [...p.raw, ...p.corrected].every((row) => row.every(Number.isFinite)))
  );
}

async function checkAgainstExports(
  python: string,
  label: string,
  models: { name: string; model: Model }[],
  tolerance: number,
): Promise<Set<string>> {
  const { root } = makeScratch(`pytorch-${label}`);
  const cases = await exportAll(root, models);
  const results = runModules(
    python,
    cases.map((c) => c.module),
  );
  let compared = 0,
    worst = 0;
  const covered = new Set<string>();
  for (const c of cases) {
    const got = results.get(c.module);
    assert.ok(
      got && typeof got !== 'string',
      `${c.name}: the exported module failed:\n${got}\n${readFileSync(c.module, 'utf8').slice(0, 3000)}`,
    );
    const report = await runCheck(c.model, { backend: 'cpu', reference: false, gradcheck: false });
    if (!finiteReport(report)) continue;
    worst = Math.max(worst, compare(c.name, got, report, tolerance));
    compared++;
    covered.add(report.scheme).add(report.correction).add(`tie=${c.model.options.tie}`);
  }
  console.log(
    `# ${label}: ${compared} of ${cases.length} models compared, largest relative difference ${worst.toExponential(2)}; covers ${[...covered].sort().join(' ')}`,
  );
  assert.ok(
    compared >= Math.ceil(cases.length / 2),
    `${label}: only ${compared} of ${cases.length} models had finite figures`,
  );
  return covered;
}

test('exported PyTorch modules give the loss, raw and corrected gradients of the check: every example model', async (t) => {
  const python = needTorch(t);
  if (!python) return;
  const models = modelFiles(join(ROOT, 'examples')).map((f) => {
    const a = analyse(readFileSync(f, 'utf8'), { documentPath: f });
    assert.ok(a.model, `${f}: ${JSON.stringify(a.diagnostics)}`);
    return { name: relative(ROOT, f), model: a.model };
  });
  assert.ok(models.length >= 10);
  await checkAgainstExports(python, 'examples', models, 1e-4);
});

test('exported PyTorch modules match the check on generated models: every scheme, tie, correction and function', async (t) => {
  const python = needTorch(t);
  if (!python) return;
  const texts = [
    ...fc.sample(modelText, { seed: 18, numRuns: 24 }),
    ...fc.sample(expressionModel, { seed: 18, numRuns: 12 }),
    ...fc.sample(smallTensorModel, { seed: 18, numRuns: 12 }),
  ];
  const models = texts.flatMap((text, i) => {
    const a = analyse(text);
    return a.model && !a.diagnostics.some((d) => d.severity === 'error')
      ? [{ name: `generated ${i}:\n${text}`, model: a.model }]
      : [];
  });
  assert.ok(models.length >= 30, `${models.length} generated models are valid`);
  const covered = await checkAgainstExports(python, 'generated', models, 1e-4);
  for (const c of ['leapfrog', 'ab3', 'milne', 'rk4', 'average', 'filter121', 'adjoint121', 'stagesum', 'tie=stage'])
    assert.ok(covered.has(c), `no generated model covers ${c}: ${[...covered].join(' ')}`);
});

const hasCli = existsSync(CLI);

/** `odelens train examples/spiral.ode` with SGD at learning rate 0.2 for `iterations` steps, and more flags. */
function odelensTrain(iterations: number, flags: string[]) {
  return spawnSync(
    process.execPath,
    [
      CLI,
      'train',
      'examples/spiral.ode',
      '--optimizer',
      'sgd',
      '--lr',
      '0.2',
      '--iterations',
      String(iterations),
      ...flags,
    ],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
}

/** `odelens export MODEL --to pytorch -o <scratch>/spiral.py`; returns the module's path. */
function exportWithCli(scratch: string, model = 'examples/spiral.ode'): string {
  const module = join(makeScratch(scratch).root, 'spiral.py');
  const ex = spawnSync(process.execPath, [CLI, 'export', model, '--to', 'pytorch', '-o', module], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(ex.status, 0, ex.stderr);
  return module;
}

test('odelens export writes the module; python3 model.py --gradients prints what odelens check --json reports', async (t) => {
  const python = needTorch(t);
  if (!python || !prerequisiteOrSkip(t, hasCli, 'dist/cli.js missing (npm run build)')) return;
  const module = exportWithCli('pytorch-cli');
  const text = readFileSync(module, 'utf8');
  // Self-contained: it imports the standard library and PyTorch only.
  const imports = [...text.matchAll(/^\s*(?:import|from)\s+([\w.]+)/gm)].map((m) => m[1].split('.')[0]);
  assert.deepEqual([...new Set(imports)].sort(), ['argparse', 'json', 'math', 'sys', 'torch']);
  const g = spawnSync(python, [module, '--gradients'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(g.status, 0, g.stderr);
  const got = JSON.parse(g.stdout) as Exported;
  const check = spawnSync(
    process.execPath,
    [CLI, 'check', 'examples/spiral.ode', '--json', '--rows', 'all', '--backend', 'cpu'],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    },
  );
  assert.equal(check.status, 1, check.stderr);
  const report = JSON.parse(check.stdout) as Report;
  compare('examples/spiral.ode', got, report, 1e-4);
  // At trained values: export --params and check --params agree too.
  const params = join(dirname(module), 'params.json');
  const tr = odelensTrain(10, ['--out', params, '--backend', 'cpu']);
  assert.equal(tr.status, 0, tr.stderr);
  const trainedModule = join(dirname(module), 'trained.py');
  const ex = spawnSync(
    process.execPath,
    [CLI, 'export', 'examples/spiral.ode', '--to', 'pytorch', '--params', params, '-o', trainedModule],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  assert.equal(ex.status, 0, ex.stderr);
  const trained = spawnSync(python, [trainedModule, '--gradients'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(trained.status, 0, trained.stderr);
  const checkTrained = spawnSync(
    process.execPath,
    [CLI, 'check', 'examples/spiral.ode', '--json', '--rows', 'all', '--params', params, '--backend', 'cpu'],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  const trainedReport = JSON.parse(checkTrained.stdout) as Report;
  assert.equal(trainedReport.checkedParameters.kind, 'given');
  assert.ok(trainedReport.loss < report.loss);
  compare('examples/spiral.ode at trained values', JSON.parse(trained.stdout) as Exported, trainedReport, 1e-4);
  // Bad targets and unknown options are refused by name.
  const bad = spawnSync(process.execPath, [CLI, 'export', 'examples/spiral.ode', '--to', 'jax'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--to must be one of pytorch, not 'jax'/);
});

/** The final figures of a run of train() in the exported module (loss, flow loss, total variation). */
function torchTraining(python: string, module: string, args: string[]): Record<string, number> {
  const r = spawnSync(python, [module, '--train', '200', '--lr', '0.2', ...args], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.trim().split('\n').pop() as string;
  return JSON.parse(last).final;
}

test('200 SGD steps in PyTorch with the exported correction give the figures of odelens train; raw AD the zig-zag', async (t) => {
  const python = needTorch(t);
  if (!python || !prerequisiteOrSkip(t, hasCli, 'dist/cli.js missing (npm run build)')) return;
  const module = exportWithCli('pytorch-train');
  for (const [gradient, args] of [
    ['filter121', ['--correction', 'filter121']],
    ['ad', ['--raw']],
  ] as const) {
    const ode = odelensTrain(200, ['--gradient', gradient, '--backend', 'cpu', '--json']);
    assert.equal(ode.status, 0, ode.stderr);
    const want = JSON.parse(ode.stdout).final as {
      loss: number;
      flowLoss: number;
      totalVariation: Record<string, number>;
    };
    const wantTv = Object.values(want.totalVariation).reduce((a, b) => a + b, 0);
    const got = torchTraining(python, module, [...args]);
    console.log(
      `# ${gradient}: odelens train loss ${want.loss}, flow loss ${want.flowLoss}, total variation ${wantTv}; PyTorch ${got.loss}, ${got.flowLoss}, ${got.totalVariation}`,
    );
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) <= 1e-3 * Math.abs(b) + 1e-7, `${gradient} ${what}: PyTorch ${a}, odelens ${b}`);
    close(got.loss, want.loss, 'loss');
    close(got.flowLoss, want.flowLoss, 'flow loss');
    close(got.totalVariation, wantTv, 'total variation');
  }
});

/** Two processes (gloo on 127.0.0.1) each take half of a batch of initial conditions. */
const DISTRIBUTED = `
import importlib.util, json, os, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

path, port, out = sys.argv[1], sys.argv[2], sys.argv[3]
spec = importlib.util.spec_from_file_location("exported", path)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
BATCH = [[torch.tensor([2.0, 0.0])], [torch.tensor([1.5, 0.5])], [torch.tensor([-1.0, 1.0])], [torch.tensor([0.5, -2.0])]]


def gradients(model):
    return {name: model.theta[name].grad.reshape(-1).tolist() for name, _s, _p in m.PARAMS}


def worker(rank, world):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = port
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = m.ODEModel()
    ddp = DDP(model)
    ddp(BATCH[rank * 2:(rank + 1) * 2]).backward()  # DDP averages the two processes' gradients
    m.correct_gradients(model)
    if rank == 0:
        with open(out + ".rank0", "w") as f:
            json.dump(gradients(model), f)
    dist.destroy_process_group()


if __name__ == "__main__":
    single = m.ODEModel()
    single(BATCH).backward()
    m.correct_gradients(single)
    mp.spawn(worker, args=(2,), nprocs=2, join=True)
    with open(out + ".rank0") as f:
        distributed = json.load(f)
    with open(out, "w") as f:
        json.dump({"single": gradients(single), "distributed": distributed}, f)
`;

test('torch.distributed (gloo, two processes on 127.0.0.1 splitting a batch): the corrected gradients equal one process’s', async (t) => {
  const python = needTorch(t);
  if (!python || !prerequisiteOrSkip(t, hasCli, 'dist/cli.js missing (npm run build)')) return;
  const { root } = makeScratch('pytorch-distributed');
  const model = join(root, 'spiral.ode');
  writeFileSync(
    model,
    readFileSync(join(ROOT, 'examples/spiral.ode'), 'utf8').replace(
      /(@ [^\n]*meth=leapfrog[^\n]*)/,
      '$1, gradfix=filter121',
    ),
  );
  const module = join(root, 'spiral.py');
  const ex = spawnSync(process.execPath, [CLI, 'export', model, '--to', 'pytorch', '-o', module], { encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stderr);
  const script = join(root, 'distributed.py');
  writeFileSync(script, DISTRIBUTED);
  const out = join(root, 'distributed.json');
  const r = spawnSync(python, [script, module, String(await freePort()), out], {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const { single, distributed } = JSON.parse(readFileSync(out, 'utf8')) as Record<string, Record<string, number[]>>;
  for (const name of ['W1', 'b1', 'W2']) {
    const d = relativeError([distributed[name]], [single[name]]);
    assert.ok(d <= 1e-5, `${name}: distributed and single-process corrected gradients differ by ${d}`);
    assert.ok(
      single[name].some((v) => v !== 0),
      `${name}: a zero gradient proves nothing`,
    );
  }
});
