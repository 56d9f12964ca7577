// npm run bench → dist/bench.js. Times the full gradient check (runCheck) on
// examples/spiral.ode (N = 64, width 16) and on a generated N = 1024, width 128
// model (the issue's targets), then for every scheme on the spiral network and
// over a grid of model sizes (state d, width, N): AD, reference and finite-
// difference phases, the full check, peak tensor memory (tf.profile), and in
// the same process a plain hand-written TF.js forward+backward of the same
// network (tf.grads; leapfrog and explicit RK written out, multistep schemes
// use the engine's own AD pass; small models whose right-hand side is fused, the same
// model compiled one TF.js kernel per operation) as the baseline for the ratio (the median of
// check/baseline over interleaved pairs, robust to the machine's drift). Also the front
// end (bench/largeModel.ts) and the language service (bench/languageService.ts).
// Prints tables and writes the results as JSON: a full run to bench/results/<date>-<commit>.json (kept in
// git: docs/performance.md's figures are generated from the newest, `npm run bench:doc`), a partial one
// (--quick, --no-grid, --size) to bench/results/partial.json (not kept).
// npm run bench runs node with --max-semi-space-size=64: the check worker's young generation
// (server/checkRunner.ts, WORKER_YOUNG_GENERATION_MB), so the checks here run as in the editor.
//   node --expose-gc --max-semi-space-size=64 dist/bench.js [--backend cpu|wasm|tensorflow|auto] [--runs 11] [--quick] [--no-grid] [--size d,width,N]
//   [--lsp [--server PATH]] [--pytorch [--pairs K]] [--no-pytorch] [--repeated]
// (--size: only that row of the size grid, e.g. --size 64,256,64; --lsp: only the editor latency over LSP
// (bench/lspLatency.ts), against dist/server.js or another build's server; --pytorch: only the side-by-side
// rows against the same check in PyTorch (bench/pytorch/), K alternating pairs per row; --repeated: only one model's
// checks repeated in one process (bench/repeatedChecks.ts))
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { analyse, tokenize } from '../solver/language/index';
import { largeModelText } from './largeModel';
import { generated } from './generatedModel';
import { runCheck } from '../solver/check';
import { initBackend, type BackendPreference } from '../solver/engine/backend';
import type { TF, Tensor } from '../solver/engine/tf';
import type { Model } from '../solver/model';
import { TABLEAUX } from '../solver/schemes/schemes';
import { benchLanguageService } from './languageService';
import { benchLspLatency, lspLatencyTable, type LspLatencyRow } from './lspLatency';
import { benchEditorTimings, editorTimingsLine, type EditorTimings } from './editorTimings';
import { benchTrainingLatency, trainingLatencyLine, type TrainingLatencyRow } from './trainingLatency';
import { benchScalarChains, chainTable, scalarChainChild } from './scalarChain';
import { benchScalarKernel, kernelChainChild, kernelChainTable, kernelTable } from './scalarKernel';
import { benchRepeatedChecks, repeatedChecksChild } from './repeatedChecks';
import { repeatedChecksLine, TABLE_TITLES, table, type RepeatedChecksRow, type Row } from './results';
import { benchPyTorch, pytorchTable, type PyTorchResults } from './pytorch/comparison';
import { adGradient, type TrainContext } from '../solver/train/gradients';
import { compileModel } from '../solver/engine/compile';
import { initialParameters } from '../solver/engine/parameters';
import { schemeOf } from '../solver/schemes/schemes';
import { parameterCopies } from '../solver/schemes/copies';

/** The commit the bench ran on, and whether the work tree had changes (then the figures are not that commit's alone). */
function gitState(root: string): { commit: string; dirty: boolean } {
  const git = (...a: string[]) =>
    execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    return {
      commit: git('rev-parse', '--short=7', 'HEAD'),
      dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    };
  } catch {
    return { commit: 'unknown', dirty: true };
  }
}

function repoRoot(): string {
  for (const d of [resolve(__dirname, '..'), resolve(__dirname, '../..'), process.cwd()])
    if (existsSync(join(d, 'examples/spiral.ode'))) return d;
  return process.cwd();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The same network written directly in TF.js: forward (leapfrog, or an
 * explicit RK tableau with per-step copies tied across stages) + tf.grads.
 */
function baseline(tf: TF, width: number, steps: number, meth = 'leapfrog', d = 2): () => void {
  const h = 1 / steps;
  const mk = (shape: number[], std: number) => tf.randomNormal(shape, 0, std, 'float32', 1);
  const W1 = Array.from({ length: steps }, () => mk([width, d], 0.3));
  const b1 = Array.from({ length: steps }, () => tf.zeros([width, 1]));
  const W2 = Array.from({ length: steps }, () => mk([d, width], 0.3));
  const x0: Tensor = d === 2 ? tf.tensor2d([[2], [0]]) : tf.fill([d, 1], 0.5);
  const target = d === 2 ? tf.tensor2d([[0.5], [-1]]) : tf.fill([d, 1], 0.1);
  const hs = tf.scalar(h),
    h2 = tf.scalar(2 * h),
    half = tf.scalar(0.5);
  const all = [...W1, ...b1, ...W2];
  const tableau = meth in TABLEAUX ? TABLEAUX[meth as keyof typeof TABLEAUX] : undefined;
  return () => {
    tf.tidy(() => {
      const g = tf.grads((...ps: Tensor[]) => {
        const f = (x: Tensor, n: number) =>
          tf.matMul(ps[2 * steps + n], tf.tanh(tf.add(tf.matMul(ps[n], x), ps[steps + n])));
        let x: Tensor;
        if (tableau) {
          const a = tableau.a.map((row) => row.map((v) => tf.scalar(h * v))),
            b = tableau.b.map((v) => tf.scalar(h * v));
          x = x0;
          for (let n = 0; n < steps; n++) {
            const ks: Tensor[] = [];
            for (let i = 0; i < tableau.b.length; i++) {
              let xi = x;
              for (let j = 0; j < i; j++) if (tableau.a[i][j]) xi = tf.add(xi, tf.mul(ks[j], a[i][j]));
              ks.push(f(xi, n));
            }
            x = tf.addN([x, ...ks.map((k, i) => tf.mul(k, b[i])).filter((_, i) => tableau.b[i] !== 0)]);
          }
        } else {
          let prev = x0;
          x = tf.add(x0, tf.mul(f(x0, 0), hs));
          for (let n = 1; n < steps; n++) {
            const next = tf.add(prev, tf.mul(f(x, n), h2));
            prev = x;
            x = next;
          }
        }
        return tf.mul(half, tf.sum(tf.square(tf.sub(x, target))));
      })(all);
      for (const t of g) t.dataSync();
    });
  };
}

/**
 * One AD pass of the engine's own unrolled solve (the baseline for multistep schemes); with
 * `perOperation`, compiled one kernel per operation (the baseline for fused small models: the same
 * model as plain TF.js ops).
 */
function engineBaseline(tf: TF, model: Model, perOperation = false): () => void {
  const { compiled: cm } = compileModel(tf, model, { fuseScalars: !perOperation });
  const scheme = schemeOf(model);
  const N = model.options.steps;
  const pc = parameterCopies(scheme, N, model.options.dt, model.options.t0);
  const ctx: TrainContext = {
    tf,
    cm,
    model,
    scheme,
    N,
    h: model.options.dt,
    t0: model.options.t0,
    copies: pc.count,
    taus: pc.times,
    weights: pc.weights,
    sizes: model.params.map((p) => p.shape.reduce((a, b) => a * b, 1)),
  };
  const values = initialParameters(tf, model);
  return () => {
    adGradient(ctx, values);
  };
}

/** Parse + check of the generated 2,000-line model, against the lexer alone on the same text (baseline). */
function benchFrontEnd(runs: number) {
  const text = largeModelText();
  const lines = text.split('\n').length;
  const sample = (fn: () => unknown) => {
    for (let i = 0; i < 3; i++) fn();
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      fn();
      ms.push(performance.now() - t);
    }
    return median(ms);
  };
  const analyseMs = sample(() => analyse(text));
  const lexMs = sample(() => tokenize(text));
  const row = { lines, analyseMs, lexMs, ratio: analyseMs / lexMs, targetMs: 20 };
  console.log(
    `front end, ${lines}-line model: parse+check ${analyseMs.toFixed(1)} ms median (target ≤ 20), lexer alone ${lexMs.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}`,
  );
  return row;
}

async function measure(
  pref: BackendPreference,
  name: string,
  text: string,
  o: { meth: string; d: number; width: number; steps: number; runs: number; target?: number; perOperation?: boolean },
  context?: { documentPath: string },
): Promise<Row> {
  // Each case starts from a collected heap (node --expose-gc, as `npm run bench` runs it): the
  // garbage of earlier cases (a 2,226-line model's syntax trees) is not collected inside this one.
  (globalThis as { gc?: () => void }).gc?.();
  const a = analyse(text, context);
  if (!a.model) throw new Error(`${name}: ${a.diagnostics.map((x) => x.message).join('; ')}`);
  const model: Model = a.model;
  let last: Awaited<ReturnType<typeof runCheck>> | undefined;
  const phases: { ad: number[]; reference: number[]; finiteDifferences: number[] } = {
    ad: [],
    reference: [],
    finiteDifferences: [],
  };
  const runOnce = async () => {
    last = await runCheck(model, { backend: pref });
  };
  await runOnce(); // selects the backend the baseline must use
  const { tf, backend } = await initBackend(last!.backend as BackendPreference); // the backend the check ran on
  const handWritten = !o.perOperation && (o.meth === 'leapfrog' || o.meth in TABLEAUX);
  const base = handWritten ? baseline(tf, o.width, o.steps, o.meth, o.d) : engineBaseline(tf, model, o.perOperation);
  // Both warm (the extension keeps a warm worker; fresh processes are 1.5–2.8× slower), then
  // interleaved, so that the machine's noise falls on the check and the baseline alike.
  const WARM = 4;
  for (let i = 0; i < WARM; i++) {
    await runOnce();
    base();
  }
  const check: number[] = [],
    plain: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    let t = performance.now();
    await runOnce();
    check.push(performance.now() - t);
    phases.ad.push(last!.timings.adMs);
    phases.reference.push(last!.timings.referenceMs);
    phases.finiteDifferences.push(last!.timings.finiteDifferenceMs);
    t = performance.now();
    base();
    plain.push(performance.now() - t);
  }
  // Peak tensor memory of one check; tf.profile overflows the stack on the largest models (kernel log), then NaN.
  let peakBytes = NaN;
  try {
    peakBytes = (
      await tf.profile(async () => {
        await runCheck(model, { backend: pref });
      })
    ).peakBytes;
  } catch {
    /* see above */
  }
  const r = last!;
  const row: Row = {
    case: name,
    backend,
    scheme: o.meth,
    d: o.d,
    width: o.width,
    steps: o.steps,
    checkMs: median(check),
    baselineMs: median(plain),
    ratio: median(check.map((c, i) => c / plain[i])),
    targetMs: o.target,
    baseline: handWritten ? 'hand-written' : o.perOperation ? 'per-operation AD' : 'engine AD',
    phasesMs: {
      ad: median(phases.ad),
      reference: median(phases.reference),
      finiteDifferences: median(phases.finiteDifferences),
    },
    peakTensorBytes: peakBytes,
    rssHighWaterMiB: process.resourceUsage().maxRSS / 1024,
    referenceError: r.referenceError,
    findings: r.findings.map((f) => f.code),
  };
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(
    `${name} [${backend}]: check ${row.checkMs.toFixed(1)} ms${o.target ? ` (target ≤ ${o.target})` : ''}, fwd+bwd ${row.baselineMs.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}; median AD ${row.phasesMs.ad.toFixed(0)} / reference ${row.phasesMs.reference.toFixed(0)} / FD ${row.phasesMs.finiteDifferences.toFixed(0)} ms; peak tensors ${mb(peakBytes)} MiB, process RSS high-water ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; reference error ${r.referenceError.toExponential(1)}`,
  );
  return row;
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (k: string) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const chainChild = arg('--scalar-chain');
  if (chainChild) return scalarChainChild(Number(chainChild)); // one size of the large scalar models, in its own process
  const kernelChild = arg('--kernel-chain');
  if (kernelChild) {
    const [n, path] = kernelChild.split(',');
    return kernelChainChild(Number(n), path === 'kernel'); // one chain size on one solve path, in its own process
  }
  if (args.includes('--repeated-child')) return repeatedChecksChild(); // repeated checks of one model, in a fresh process
  const backends = (arg('--backend') ?? 'auto').split(',') as BackendPreference[];
  const runs = Number(arg('--runs') ?? 11);
  const quick = args.includes('--quick');
  const grid = !args.includes('--no-grid');
  const only = arg('--size')?.split(',').map(Number) as [number, number, number] | undefined;
  const root = repoRoot();
  const { commit, dirty } = gitState(root); // at the start: the code that runs is the code built now
  const loadAtStart = loadavg()[0]; // other work on the machine moves every absolute time
  const startedAt = performance.now(); // the run's own duration, for whoever runs it next
  /** A run of one part only (--lsp, --pytorch, --kernel, --repeated) goes to bench/results/partial.json. */
  const writePartial = (part: Record<string, unknown>) => {
    const file = join(root, 'bench/results/partial.json');
    writeFileSync(
      file,
      `${JSON.stringify({ date: new Date().toISOString(), commit, dirty, args, ...part }, null, 2)}\n`,
    );
    console.log(`\nwrote ${file}`);
  };
  // One model checked again and again in one process, another between (its own child process; --repeated: only this).
  const repeated = () => {
    try {
      const row = benchRepeatedChecks(__filename);
      console.log(`\nRepeated checks in one process: ${repeatedChecksLine(row)}`);
      return row;
    } catch (e) {
      console.log(`repeated checks failed: ${(e as Error)?.message ?? e}`);
      return { error: String((e as Error)?.message ?? e) };
    }
  };
  if (args.includes('--repeated')) return writePartial({ repeatedChecks: repeated() });
  // The editor over LSP (first: it starts its own server processes): requests while checks of the spiral's size and
  // of N = 1024 … 8192, width 128 finish; then, with default settings, the spiral's first check and save → diagnostics.
  let lspLatency: LspLatencyRow[] | { error: string } | undefined;
  let editor: EditorTimings | { error: string } | undefined;
  let training: TrainingLatencyRow | { error: string } | undefined;
  if ((!quick || args.includes('--lsp')) && !args.includes('--pytorch') && !args.includes('--kernel')) {
    const server = arg('--server') ?? join(root, 'dist/server.js');
    try {
      lspLatency = await benchLspLatency(server, quick ? [[128, 1024]] : undefined);
      console.log(
        `\nEditor latency over LSP (completion and hover while a check finishes):\n${lspLatencyTable(lspLatency)}`,
      );
    } catch (e) {
      lspLatency = { error: String((e as Error)?.message ?? e) };
      console.log(`LSP latency benchmark failed: ${(e as Error)?.message ?? e}`);
    }
    try {
      editor = await benchEditorTimings(server, join(root, 'examples/spiral.ode'));
      console.log(editorTimingsLine(editor));
    } catch (e) {
      editor = { error: String((e as Error)?.message ?? e) };
      console.log(`editor timings failed: ${(e as Error)?.message ?? e}`);
    }
    try {
      training = await benchTrainingLatency(server, quick ? { iterations: 3 } : undefined);
      console.log(trainingLatencyLine(training));
    } catch (e) {
      training = { error: String((e as Error)?.message ?? e) };
      console.log(`training latency failed: ${(e as Error)?.message ?? e}`);
    }
  }
  if (args.includes('--lsp')) return writePartial({ lspLatency, editor, training });
  const spiralText = readFileSync(join(root, 'examples/spiral.ode'), 'utf8');
  // ODE Lens's check against the same check in PyTorch, alternating, on the issue's size grid (seeded and independent copies).
  let pytorch: PyTorchResults | undefined;
  if (!only && !args.includes('--no-pytorch') && !args.includes('--kernel')) {
    const pairs = arg('--pairs');
    // --pytorch-case d,width,N (repeatable) and --copies seeded|independent: some rows only.
    const cases = args.flatMap((a, i) =>
      a === '--pytorch-case' ? [args[i + 1].split(',').map(Number) as [number, number, number]] : [],
    );
    const copies = arg('--copies')?.split(',') as ('seeded' | 'independent')[] | undefined;
    pytorch = await benchPyTorch(root, backends[0], spiralText, {
      quick,
      pairs: pairs ? Number(pairs) : undefined,
      ...(cases.length ? { only: cases } : {}),
      ...(copies ? { copies } : {}),
    });
    if ('rows' in pytorch)
      console.log(
        `\n${TABLE_TITLES.pytorch} (PyTorch ${pytorch.torch ?? '?'}, ${pytorch.python}):\n${pytorchTable(pytorch.rows)}`,
      );
  }
  if (args.includes('--pytorch')) return writePartial({ pytorch });
  // The whole-solve kernel against the per-kernel solve, interleaved in this process (--kernel: only this).
  const scalarKernel = await benchScalarKernel(root, __filename, quick);
  console.log(
    `\nWhole-solve kernel vs per-kernel solve (cpu; load ${scalarKernel.load.start.toFixed(1)} → ${scalarKernel.load.end.toFixed(1)}):\n${kernelTable(scalarKernel.models)}\n\nArray chain, rk4, 200 steps, one process per size and path:\n${kernelChainTable(scalarKernel.chains)}`,
  );
  if (args.includes('--kernel')) return writePartial({ scalarKernel });
  const frontEnd = benchFrontEnd(quick ? 5 : 30);
  let languageService: unknown;
  try {
    const ls = benchLanguageService(quick ? 5 : 21);
    languageService = ls;
    console.log(
      `language service, ${ls.lines}-line model (target ≤ 10 ms): after an edit (didChange's analyse ${ls.analyseMs.toFixed(1)} ms excluded) completion ${ls.completionAfterEditMs.toFixed(1)} / hover ${ls.hoverAfterEditMs.toFixed(1)} ms; already parsed completion ${ls.completionWarmMs.toFixed(2)} / hover ${ls.hoverWarmMs.toFixed(2)} ms; standalone service on a new version (its own parse) completion ${ls.completionColdMs.toFixed(1)} / hover ${ls.hoverColdMs.toFixed(1)} ms`,
    );
  } catch (e) {
    languageService = { error: String((e as Error)?.message ?? e) };
    console.log(`language service benchmark failed: ${(e as Error)?.message ?? e}`);
  }
  const targets: Row[] = [],
    schemes: Row[] = [],
    sizes: Row[] = [],
    small: Row[] = [];
  for (const pref of backends) {
    if (only) {
      const [d, width, steps] = only;
      sizes.push(
        await measure(pref, 'size grid', generated(width, steps, 'leapfrog', d), {
          meth: 'leapfrog',
          d,
          width,
          steps,
          runs,
        }),
      );
      continue;
    }
    targets.push(
      await measure(pref, 'spiral.ode', spiralText, {
        meth: 'leapfrog',
        d: 2,
        width: 16,
        steps: 64,
        runs,
        target: 300,
      }),
    );
    if (!quick)
      targets.push(
        await measure(pref, 'generated', generated(128, 1024), {
          meth: 'leapfrog',
          d: 2,
          width: 128,
          steps: 1024,
          runs: Math.max(3, Math.ceil(runs / 2)),
          target: 3000,
        }),
      );
    if (!grid) continue;
    for (const meth of ['euler', 'heun', 'midpoint', 'ralston', 'rk4', 'leapfrog', 'ab2', 'ab3', 'milne']) {
      try {
        schemes.push(
          await measure(pref, 'spiral network', generated(16, 64, meth), { meth, d: 2, width: 16, steps: 64, runs }),
        );
      } catch (e) {
        console.log(`${meth}: skipped (${(e as Error).message})`);
      }
    }
    // Small models, whose right-hand side is fused (engine/scalarRhs.ts): against the same model as plain TF.js ops.
    for (const name of quick ? ['vanderpol'] : ['vanderpol', 'lorenz', 'hodgkin-huxley', 'fitzhugh-nagumo']) {
      const file = join(root, `examples/models/${name}.ode`);
      const m = analyse(readFileSync(file, 'utf8'), { documentPath: file }).model;
      if (!m) continue;
      const d = m.states.reduce((acc, x) => acc + x.shape.reduce((u, v) => u * v, 1), 0);
      small.push(
        await measure(
          pref,
          `${name}.ode`,
          readFileSync(file, 'utf8'),
          {
            meth: m.options.meth,
            d,
            width: 0,
            steps: m.options.steps,
            runs: Math.max(3, Math.ceil(runs / 2)),
            perOperation: true,
          },
          { documentPath: file },
        ),
      );
    }
    const grid3: [number, number, number][] = quick
      ? [
          [2, 16, 64],
          [16, 64, 256],
        ]
      : [
          [2, 16, 64],
          [2, 16, 1024],
          [2, 256, 64],
          [8, 64, 256],
          [16, 128, 256],
          [32, 32, 512],
          [64, 16, 64],
          [64, 256, 64],
          [64, 64, 1024],
        ];
    for (const [d, width, steps] of grid3) {
      sizes.push(
        await measure(pref, 'size grid', generated(width, steps, 'leapfrog', d), {
          meth: 'leapfrog',
          d,
          width,
          steps,
          runs: steps >= 512 ? 3 : steps >= 256 ? Math.max(3, Math.ceil(runs / 2)) : runs,
        }),
      );
    }
  }
  // Large scalar models (XPPAUT arrays), each size in its own process: linear growth in time and memory.
  const scalarChains = only ? [] : benchScalarChains(__filename, quick ? [10, 100, 400] : undefined);
  if (scalarChains.length)
    console.log(
      `\nLarge scalar models (array chain, rk4, 200 steps; cpu; one process each):\n${chainTable(scalarChains)}`,
    );
  const repeatedChecks: RepeatedChecksRow | { error: string } | undefined = only ? undefined : repeated();
  const tables = { targets, schemes, sizes, small };
  for (const key of ['targets', 'schemes', 'sizes', 'small'] as const)
    if (key === 'targets' || tables[key].length) console.log(`\n${TABLE_TITLES[key]}:\n${table(tables[key])}`);
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString();
  const full = !quick && grid && !only;
  const out = {
    date,
    commit,
    dirty,
    full,
    args,
    node: process.version,
    cpus: cpus().length,
    load: { start: loadAtStart, end: loadavg()[0] },
    minutes: (performance.now() - startedAt) / 60_000,
    runs,
    frontEnd,
    languageService,
    lspLatency,
    editor,
    training,
    targets,
    schemes,
    sizes,
    scalarChains,
    scalarKernel,
    repeatedChecks,
    small,
    pytorch,
  };
  const file = join(dir, full ? `${date.slice(0, 10)}-${commit}.json` : 'partial.json');
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
