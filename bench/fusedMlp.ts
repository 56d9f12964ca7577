// One forward+backward (the check's AD pass: the unrolled solve and tf.engine().gradients) of
// per-step MLP models, with the fused MLP path (solver/engine/fusedMlp/) and without it (one TF.js
// kernel per operation), interleaved in one process, and PyTorch's forward+backward of the same
// network (bench/torchForwardBackward.py) when a Python with torch is found.
//   npm run bench:mlp -- [--backend cpu|wasm] [--runs 11] [--case d,width,N[,meth]]... [--no-torch] [--json FILE]
// Default cases: the spiral (d 2, width 16, N 64) and d 2, width 128, N 1024, leapfrog. Other harnesses
// call benchFusedMlp(options) and get the rows (times are medians over the runs; PyTorch's in its own
// process, after the interleaved TF.js runs).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { analyse } from '../solver/language/index';
import { generated } from './generatedModel';
import { initBackend, type BackendPreference } from '../solver/engine/backend';
import { compileModel } from '../solver/engine/compile';
import { initialParameters } from '../solver/engine/parameters';
import { schemeOf } from '../solver/schemes/schemes';
import { discreteGradients } from '../solver/engine/discrete';
import type { TF } from '../solver/engine/tf';

interface Case {
  d: number;
  width: number;
  N: number;
  meth: string;
}

interface MlpRow extends Case {
  backend: string;
  plainMs: number;
  /** One op per evaluation of f (mlp-stage). */
  stageMs: number;
  /** The default: the whole solve as one op (mlp-solve, or what the model compiled to). */
  fusedMs: number;
  fusedPath: string;
  torchMs?: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** A closure running one AD pass of the model, and the path its right-hand side took. */
function adPass(tf: TF, text: string, fuseMlp: false | 'stage' | 'solve'): { run: () => number; path: string } {
  const model = analyse(text).model;
  if (!model) throw new Error('generated model does not analyse');
  const { compiled } = compileModel(tf, model, { fuseMlp });
  const scheme = schemeOf(model);
  const values = initialParameters(tf, model);
  return {
    run: () => discreteGradients(tf, compiled, scheme, model, values).loss,
    path: compiled.rhsPath,
  };
}

/** A Python that imports torch: ODELENS_PYTHON, Debian's /usr/bin/python3, or python3 on PATH. */
function torchPython(): string | undefined {
  for (const p of [process.env.ODELENS_PYTHON, '/usr/bin/python3', 'python3'])
    if (p && spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 }).status === 0) return p;
  return undefined;
}

function torchTimes(python: string, cases: Case[], runs: number): Map<string, number> {
  // Bundled to out/bench/ (npm run bench:mlp) or dist/ (another harness), or run from the repository.
  const script = [resolve(__dirname, '..'), resolve(__dirname, '../..'), process.cwd()]
    .map((d) => join(d, 'bench/torchForwardBackward.py'))
    .find((f) => existsSync(f));
  if (!script) throw new Error('bench/torchForwardBackward.py not found');
  const r = spawnSync(
    python,
    [script, '--runs', String(runs), ...cases.map((c) => `${c.d},${c.width},${c.N},${c.meth}`)],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) throw new Error(`PyTorch bench failed: ${r.stderr}`);
  const out = new Map<string, number>();
  for (const line of r.stdout.trim().split('\n')) {
    const j = JSON.parse(line) as Case & { median_ms: number };
    out.set(`${j.d},${j.width},${j.N},${j.meth}`, j.median_ms);
  }
  return out;
}

export async function benchFusedMlp(opts: {
  backend: BackendPreference;
  runs: number;
  cases: Case[];
  torch: boolean;
}): Promise<MlpRow[]> {
  const { tf, backend } = await initBackend(opts.backend);
  const python = opts.torch ? torchPython() : undefined;
  if (!opts.torch) console.log('PyTorch: skipped (--no-torch)');
  else if (!python)
    console.log('PyTorch: skipped (no python imports torch: install python3-torch or set ODELENS_PYTHON)');
  const rows: MlpRow[] = [];
  for (const c of opts.cases) {
    const text = generated(c.width, c.N, c.meth, c.d);
    const passes = [adPass(tf, text, false), adPass(tf, text, 'stage'), adPass(tf, text, 'solve')];
    const fused = passes[2];
    for (let i = 0; i < 3; i++) for (const pass of passes) pass.run();
    const ms: number[][] = passes.map(() => []);
    for (let i = 0; i < opts.runs; i++)
      passes.forEach((pass, k) => {
        const t = performance.now();
        pass.run();
        ms[k].push(performance.now() - t);
      });
    const [p, st, f] = ms;
    const torchMs = python ? torchTimes(python, [c], opts.runs).get(`${c.d},${c.width},${c.N},${c.meth}`) : undefined;
    const row: MlpRow = {
      ...c,
      backend,
      plainMs: median(p),
      stageMs: median(st),
      fusedMs: median(f),
      fusedPath: fused.path,
      torchMs,
    };
    rows.push(row);
    console.log(
      `d ${c.d} width ${c.width} N ${c.N} ${c.meth} [${backend}]: fwd+bwd plain ${row.plainMs.toFixed(1)} ms, one op per stage ${row.stageMs.toFixed(1)} ms, default (${row.fusedPath}) ${row.fusedMs.toFixed(1)} ms` +
        (torchMs === undefined
          ? ''
          : `, PyTorch ${torchMs.toFixed(1)} ms; fused / PyTorch ${(row.fusedMs / torchMs).toFixed(2)}, plain / PyTorch ${(row.plainMs / torchMs).toFixed(2)}`),
    );
  }
  return rows;
}

function parseArgs(argv: string[]) {
  const cases: Case[] = [];
  let backend: BackendPreference = 'cpu',
    runs = 11,
    torch = true,
    json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--backend') backend = argv[++i] as BackendPreference;
    else if (a === '--runs') runs = Number(argv[++i]);
    else if (a === '--no-torch') torch = false;
    else if (a === '--json') json = argv[++i];
    else if (a === '--case') {
      const [d, width, N, meth = 'leapfrog'] = argv[++i].split(',');
      cases.push({ d: Number(d), width: Number(width), N: Number(N), meth });
    } else throw new Error(`unknown argument ${a}`);
  }
  if (cases.length === 0)
    cases.push({ d: 2, width: 16, N: 64, meth: 'leapfrog' }, { d: 2, width: 128, N: 1024, meth: 'leapfrog' });
  return { backend, runs, cases, torch, json };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const loadBefore = loadavg()[0];
  const rows = await benchFusedMlp(opts);
  const load = [loadBefore, loadavg()[0]];
  console.log(`load average ${load.map((l) => l.toFixed(1)).join(' → ')} on this machine's cores`);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify({ load, rows }, null, 2)}\n`);
}

if (require.main === module)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
