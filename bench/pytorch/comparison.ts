// ODE Lens's check against the same check in PyTorch (bench/pytorch/check.py), in one run: for each
// model of the size grid, with the seeded parameters (every per-step copy equal, as before training) and
// with independent random copies (what trained weights look like), the two checks alternate (ODE Lens,
// then PyTorch, repeated) and the ratio is the median over the pairs of ODE Lens check / PyTorch check.
// One model definition: the PyTorch model is the module `odelens export --to pytorch` writes for the
// same model, loaded with the same parameter values.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { BackendPreference } from '../../solver/engine/backend';
import { initBackend } from '../../solver/engine/backend';
import { initialParameters } from '../../solver/engine/parameters';
import { Rng } from '../../solver/engine/random';
import { exportPyTorch } from '../../solver/export/pytorch';
import { VERSION } from '../../solver/cli/version';
import type { Model } from '../../solver/model';
import { generated } from '../generatedModel';
import { PyTorchSide, type PyTorchCheck } from './side';
import type { Copies, PyTorchResults, PyTorchRow } from './rows';

export { pytorchTable, type PyTorchResults } from './rows';

/** The grid: [case, d, width, N]; pairs per row fall with the cost. */
export const PYTORCH_GRID: [string, number, number, number][] = [
  ['spiral.ode', 2, 16, 64],
  ['generated', 2, 128, 1024],
  ['generated', 64, 256, 256],
  ['generated', 2, 128, 4096],
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The parameter values of the row: the seeded ones, or every per-step copy of a random parameter drawn on its own. */
export function parameterValues(model: Model, values: Float32Array[], copies: Copies): Float32Array[] {
  if (copies === 'seeded') return values;
  const rng = new Rng(model.options.seed + 1);
  return model.params.map((p, i) =>
    p.perStep && p.init.kind === 'normal' ? rng.normals(values[i].length, p.init.mean, p.init.std) : values[i],
  );
}

async function measureRow(
  side: PyTorchSide,
  pref: BackendPreference,
  dir: string,
  name: string,
  text: string,
  copies: Copies,
  pairs: number,
  versions: { torch?: string },
): Promise<PyTorchRow> {
  (globalThis as { gc?: () => void }).gc?.();
  const model = analyse(text).model;
  if (!model) throw new Error(`${name}: the model does not parse`);
  const { tf } = await initBackend(pref);
  const seeded = initialParameters(tf, model);
  const values = parameterValues(model, seeded, copies);
  const module = join(dir, `model-${copies}.py`);
  writeFileSync(
    module,
    exportPyTorch(model, { source: name, values: seeded, valuesFrom: `seed=${model.options.seed}`, version: VERSION }),
  );
  const files: Record<string, string> = {};
  if (copies === 'independent')
    model.params.forEach((p, i) => {
      files[p.name] = join(dir, `${p.name}.f32`);
      writeFileSync(files[p.name], values[i]);
    });
  const loaded = await side.load(module, files);
  versions.torch = `${loaded.torch}, ${loaded.threads} thread(s)`;
  const options = { backend: pref, ...(copies === 'independent' ? { parameterValues: values } : {}) };
  const lens = () => runCheck(model, options);
  // Both warm (the editor keeps a warm worker), then alternating so that the machine's drift falls on both.
  let report = await lens();
  let torch: PyTorchCheck = await side.check();
  for (let i = 1; i < (model.options.steps >= 1024 ? 1 : 3); i++) {
    report = await lens();
    torch = await side.check();
  }
  const ours: { ms: number; ad: number; ref: number; fd: number }[] = [],
    theirs: PyTorchCheck[] = [];
  for (let i = 0; i < pairs; i++) {
    const t = performance.now();
    report = await lens();
    ours.push({
      ms: performance.now() - t,
      ad: report.timings.adMs,
      ref: report.timings.referenceMs,
      fd: report.timings.finiteDifferenceMs,
    });
    torch = await side.check();
    theirs.push(torch);
  }
  const row: PyTorchRow = {
    case: name,
    copies,
    d: model.states.reduce((a, s) => a + s.shape.reduce((u, v) => u * v, 1), 0),
    width: model.params[0]?.shape[0] ?? 0,
    steps: model.options.steps,
    backend: report.backend,
    pairs,
    odeLens: {
      checkMs: median(ours.map((o) => o.ms)),
      adMs: median(ours.map((o) => o.ad)),
      referenceMs: median(ours.map((o) => o.ref)),
      finiteDifferencesMs: median(ours.map((o) => o.fd)),
    },
    pytorch: {
      checkMs: median(theirs.map((o) => o.checkMs)),
      adMs: median(theirs.map((o) => o.adMs)),
      referenceMs: median(theirs.map((o) => o.referenceMs)),
    },
    ratio: median(ours.map((o, i) => o.ms / theirs[i].checkMs)),
    targetRatio: 0.5,
    loss: { odeLens: report.loss, pytorch: torch.loss },
    relError: Object.fromEntries(
      report.parameters
        .filter((p) => p.perStep)
        .map((p) => [p.name, { odeLens: p.metrics.relError, pytorch: torch.errors[p.name] ?? null }]),
    ),
  };
  console.log(
    `${name} d${row.d} w${row.width} N${row.steps}, ${copies} copies [${row.backend}]: ODE Lens check ${row.odeLens.checkMs.toFixed(1)} ms (AD ${row.odeLens.adMs.toFixed(1)}, reference ${row.odeLens.referenceMs.toFixed(1)}), PyTorch check ${row.pytorch.checkMs.toFixed(1)} ms (fwd+bwd ${row.pytorch.adMs.toFixed(1)}, reference ${row.pytorch.referenceMs.toFixed(1)}); ratio ${row.ratio.toFixed(2)} (target ≤ 0.5) over ${pairs} pairs; loss ${row.loss.odeLens.toPrecision(6)} / ${row.loss.pytorch.toPrecision(6)}`,
  );
  return row;
}

/** Every row of the grid, seeded and independent; `skipped` (printed) when no Python imports torch. */
export async function benchPyTorch(
  root: string,
  pref: BackendPreference,
  spiralText: string,
  o: { quick?: boolean; pairs?: number; only?: [number, number, number][]; copies?: Copies[] } = {},
): Promise<PyTorchResults> {
  const side = PyTorchSide.start(root);
  if ('skipped' in side) {
    console.log(`PyTorch comparison skipped: ${side.skipped}`);
    return side;
  }
  const dir = mkdtempSync(join(tmpdir(), 'odelens-bench-torch-'));
  const rows: PyTorchRow[] = [];
  const versions: { torch?: string } = {};
  try {
    const grid = o.quick ? PYTORCH_GRID.slice(0, 1) : PYTORCH_GRID;
    const wanted = ([, d, width, steps]: (typeof PYTORCH_GRID)[number]) =>
      !o.only || o.only.some(([d2, w2, n2]) => d === d2 && width === w2 && steps === n2);
    for (const [name, d, width, steps] of grid.filter(wanted)) {
      const text = name === 'spiral.ode' ? spiralText : generated(width, steps, 'leapfrog', d);
      const pairs = o.pairs ?? (steps >= 4096 ? 2 : steps >= 1024 ? 3 : d >= 64 ? 3 : 7);
      for (const copies of o.copies ?? (['seeded', 'independent'] as const))
        try {
          rows.push(await measureRow(side, pref, dir, name, text, copies, pairs, versions));
        } catch (e) {
          console.log(`${name} d${d} w${width} N${steps}, ${copies}: skipped (${(e as Error).message})`);
        }
    }
  } finally {
    side.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, torch: versions.torch, python: side.python };
}
