// npm run bench → dist/bench.js. Times the full gradient check (runCheck) on
// examples/spiral.ode (N = 64, width 16) and on a generated N = 1024, width 128
// model, and in the same process a plain hand-written TF.js forward+backward
// of the same network (leapfrog, per-step copies, tf.grads) as the baseline.
// Prints a table with the ratio check/baseline and writes
// bench/results/latest.json.
//   node dist/bench.js [--backend cpu|wasm|tensorflow|auto] [--runs 7] [--quick]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyse, tokenize } from '../solver/language/index';
import { largeModelText } from './largeModel';
import { runCheck } from '../solver/check';
import { initBackend, type BackendPreference, type TF, type Tensor } from '../solver/engine/backend';
import type { Model } from '../solver/model';

function repoRoot(): string {
  for (const d of [resolve(__dirname, '..'), resolve(__dirname, '../..'), process.cwd()]) if (existsSync(join(d, 'examples/spiral.ode'))) return d;
  return process.cwd();
}

function generated(width: number, steps: number): string {
  return [
    `# generated benchmark model: per-step MLP, width ${width}, ${steps} leapfrog steps`,
    'state x[2]',
    'init x = [2, 0]',
    `param W1[${width},2] per-step ~ normal(0, 0.3)`,
    `param b1[${width}]   per-step = 0`,
    `param W2[2,${width}] per-step ~ normal(0, ${(0.3 * Math.sqrt(16 / width)).toFixed(4)})`,
    "x' = W2 @ tanh(W1 @ x + b1)",
    'loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)',
    `@ total=1, steps=${steps}, meth=leapfrog, seed=1`,
    'done',
  ].join('\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The same network written directly in TF.js: leapfrog forward + tf.grads backward. */
function baseline(tf: TF, width: number, steps: number): () => void {
  const h = 1 / steps;
  const mk = (shape: number[], std: number) => tf.randomNormal(shape, 0, std, 'float32', 1);
  const W1 = Array.from({ length: steps }, () => mk([width, 2], 0.3));
  const b1 = Array.from({ length: steps }, () => tf.zeros([width, 1]));
  const W2 = Array.from({ length: steps }, () => mk([2, width], 0.3));
  const x0: Tensor = tf.tensor2d([[2], [0]]);
  const target = tf.tensor2d([[0.5], [-1]]);
  const hs = tf.scalar(h), h2 = tf.scalar(2 * h), half = tf.scalar(0.5);
  const all = [...W1, ...b1, ...W2];
  return () => {
    tf.tidy(() => {
      const g = tf.grads((...ps: Tensor[]) => {
        const f = (x: Tensor, n: number) => tf.matMul(ps[2 * steps + n], tf.tanh(tf.add(tf.matMul(ps[n], x), ps[steps + n])));
        let prev = x0;
        let x = tf.add(x0, tf.mul(f(x0, 0), hs));
        for (let n = 1; n < steps; n++) {
          const next = tf.add(prev, tf.mul(f(x, n), h2));
          prev = x;
          x = next;
        }
        return tf.mul(half, tf.sum(tf.square(tf.sub(x, target))));
      })(all);
      for (const t of g) t.dataSync();
    });
  };
}

async function time(fn: () => unknown | Promise<unknown>, runs: number, warm = 2): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

/** Parse + check of the generated 2,000-line model, against the lexer alone on the same text (baseline). */
function benchFrontEnd(runs: number) {
  const text = largeModelText();
  const lines = text.split('\n').length;
  const sample = (fn: () => unknown) => {
    for (let i = 0; i < 3; i++) fn();
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) { const t = performance.now(); fn(); ms.push(performance.now() - t); }
    return median(ms);
  };
  const analyseMs = sample(() => analyse(text));
  const lexMs = sample(() => tokenize(text));
  const row = { lines, analyseMs, lexMs, ratio: analyseMs / lexMs, targetMs: 20 };
  console.log(`front end, ${lines}-line model: parse+check ${analyseMs.toFixed(1)} ms median (target ≤ 20), lexer alone ${lexMs.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}`);
  return row;
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (k: string) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : undefined; };
  const backends = (arg('--backend') ?? 'auto').split(',') as BackendPreference[];
  const runs = Number(arg('--runs') ?? 7);
  const quick = args.includes('--quick');
  const root = repoRoot();
  const cases: { name: string; text: string; width: number; steps: number; target: number; runs: number }[] = [
    { name: 'spiral.ode (N=64, width 16)', text: readFileSync(join(root, 'examples/spiral.ode'), 'utf8'), width: 16, steps: 64, target: 300, runs },
    ...(quick ? [] : [{ name: 'generated (N=1024, width 128)', text: generated(128, 1024), width: 128, steps: 1024, target: 3000, runs: Math.max(3, Math.ceil(runs / 2)) }]),
  ];
  const frontEnd = benchFrontEnd(quick ? 5 : 30);
  const results: Record<string, unknown>[] = [];
  for (const pref of backends) {
    const { tf, backend } = await initBackend(pref);
    for (const c of cases) {
      const a = analyse(c.text);
      if (!a.model) throw new Error(`${c.name}: ${a.diagnostics.map((d) => d.message).join('; ')}`);
      const model: Model = a.model;
      let last: Awaited<ReturnType<typeof runCheck>> | undefined;
      const check = await time(async () => { last = await runCheck(model, { backend: pref }); }, c.runs);
      const base = baseline(tf, c.width, c.steps);
      const plain = await time(base, c.runs);
      const r = last!;
      const row = {
        case: c.name, backend, steps: c.steps, width: c.width,
        checkMs: median(check), baselineMs: median(plain), ratio: median(check) / median(plain), targetMs: c.target,
        phasesMs: { ad: r.timings.adMs, reference: r.timings.referenceMs, finiteDifferences: r.timings.finiteDifferenceMs },
        liveTensorsAfter: tf.memory().numTensors, // includes the baselines' own parameters
        findings: r.findings.map((f) => f.code),
        metrics: Object.fromEntries(r.parameters.map((p) => [p.name, p.metrics])),
        referenceError: r.referenceError,
      };
      results.push(row);
      console.log(`${c.name} [${backend}]: check ${row.checkMs.toFixed(1)} ms (target ≤ ${c.target}), baseline fwd+bwd ${row.baselineMs.toFixed(1)} ms, ratio ${row.ratio.toFixed(2)}; phases AD ${r.timings.adMs.toFixed(0)} / reference ${r.timings.referenceMs.toFixed(0)} / FD ${r.timings.finiteDifferenceMs.toFixed(0)} ms`);
    }
  }
  console.log('\n| case | backend | check ms (median) | baseline ms | ratio | target ms |\n|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.case} | ${r.backend} | ${(r.checkMs as number).toFixed(1)} | ${(r.baselineMs as number).toFixed(1)} | ${(r.ratio as number).toFixed(2)} | ${r.targetMs} |`);
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const out = { date: new Date().toISOString(), node: process.version, runs, frontEnd, results };
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${join(dir, 'latest.json')}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
