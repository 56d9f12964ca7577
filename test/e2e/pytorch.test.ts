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
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initBackend } from '../../solver/engine/backend';
import { initialParameters } from '../../solver/engine/parameters';
import { exportPyTorch } from '../../solver/export/pytorch';
import type { Model } from '../../solver/model';
import type { Report } from '../../solver/report';
import { prerequisiteOrSkip } from '../support/browser';
import { makeScratch, repoRoot } from '../support/e2e';
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
