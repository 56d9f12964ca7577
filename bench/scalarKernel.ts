// The whole-solve kernel (engine/scalarKernel/) against the per-kernel TF.js solve it replaces, in one
// process, runs interleaved: classic XPPAUT-style models (the repository's examples and a double
// pendulum over 200 time units, each also at XPPAUT's default total=20, dt=0.05), and the array chain of
// bench/scalarChain.ts from 10 to 400 states (one process per size and path, for its peak memory).
// Wall time moves with the machine's load; the CPU time of the process (user + system, all threads)
// moves less, so both are recorded, with the load average.
import { execFileSync } from 'node:child_process';
import { peakRssMiB } from './peakMemory';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { analyse } from '../solver/language/index';
import { runCheck } from '../solver/check';
import { CHAIN_SIZES, scalarChainText } from './scalarChain';

/** A double pendulum (point masses on massless rods), XPPAUT style, over 200 time units with rk4 at dt=0.05. */
export const DOUBLE_PENDULUM = `# double pendulum: angles a1, a2 and their rates w1, w2
par l1=4, l2=1, m1=2, m2=1, g=9.8, mu=.01
a1' = w1
a2' = w2
w1' = -mu*w1 + (-g*(2*m1+m2)*sin(a1) - m2*g*sin(a1-2*a2) - 2*sin(a1-a2)*m2*(w2^2*l2 + w1^2*l1*cos(a1-a2)))/(l1*(2*m1+m2-m2*cos(2*a1-2*a2)))
w2' = -mu*w2 + (2*sin(a1-a2)*(w1^2*l1*(m1+m2) + g*(m1+m2)*cos(a1) + w2^2*l2*m2*cos(a1-a2)))/(l2*(2*m1+m2-m2*cos(2*a1-2*a2)))
init a1=1.5, a2=0
@ total=200
done
`;

/** The same file with XPPAUT's default horizon (total=20, dt=0.05: 400 steps) in place of its own. */
export function atXppautDefaults(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => (/^\s*@/.test(l) ? l.replace(/\b(total|dt|steps)\s*=\s*[^,\s]+,?\s*/g, '') : l));
  const at = lines.findIndex((l) => /^\s*done\b/.test(l));
  lines.splice(at < 0 ? lines.length : at, 0, '@ total=20, dt=0.05');
  return lines.filter((l) => !/^\s*@\s*$/.test(l)).join('\n');
}

export interface KernelRow {
  model: string;
  /** Path of the kernel run (Report.rhsPath). */
  rhsPath: string;
  steps: number;
  kernelMs: number;
  kernelCpuMs: number;
  perKernelMs: number;
  perKernelCpuMs: number;
  /** perKernel / kernel, wall time. */
  speedup: number;
  /** The kernel run's phases (wall ms, median run): where the time still goes. */
  phasesMs: { ad: number; reference: number; finiteDifferences: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The classic models: the repository's examples that fuse, and the double pendulum; each as written and at XPPAUT's defaults. */
export function classicModels(root: string): { name: string; text: string }[] {
  const dir = join(root, 'examples/models');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.ode'))
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
  const all = [...files, { name: 'double pendulum (total=200)', text: DOUBLE_PENDULUM }];
  return all.flatMap((m) => [m, { name: `${m.name} @ total=20, dt=0.05`, text: atXppautDefaults(m.text) }]);
}

/** One model: `runs` checks of each path, interleaved (a warm-up of each first). */
export async function benchKernelModel(name: string, text: string, runs: number): Promise<KernelRow | undefined> {
  const a = analyse(text);
  const model = a.model;
  if (!model || a.diagnostics.some((d) => d.severity === 'error')) return undefined; // a data file needs its workspace
  const time = async (wholeSolve: boolean) => {
    const cpu = process.cpuUsage(),
      t = performance.now();
    const report = await runCheck(model, { backend: 'cpu', wholeSolve });
    const c = process.cpuUsage(cpu);
    return { ms: performance.now() - t, cpuMs: (c.user + c.system) / 1000, report };
  };
  const first = await time(true);
  await time(false);
  const phases: KernelRow['phasesMs'][] = [];
  const k: number[] = [],
    kc: number[] = [],
    p: number[] = [],
    pc: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = await time(true),
      b = await time(false);
    k.push(a.ms);
    const t = a.report.timings;
    phases.push({ ad: t.adMs, reference: t.referenceMs, finiteDifferences: t.finiteDifferenceMs });
    kc.push(a.cpuMs);
    p.push(b.ms);
    pc.push(b.cpuMs);
  }
  return {
    model: name,
    rhsPath: first.report.rhsPath ?? '',
    steps: first.report.steps,
    kernelMs: median(k),
    kernelCpuMs: median(kc),
    perKernelMs: median(p),
    perKernelCpuMs: median(pc),
    speedup: median(p) / median(k),
    phasesMs: phases[k.indexOf(median(k))],
  };
}

export interface KernelChainRow {
  states: number;
  kernelMs: number;
  kernelCpuMs: number;
  kernelPeakRssMiB: number;
  perKernelMs: number;
  perKernelCpuMs: number;
  perKernelPeakRssMiB: number;
}

/** In the child process: one check of the n-state chain on one path (after a warm-up check of the 10-state one). */
export async function kernelChainChild(n: number, wholeSolve: boolean): Promise<void> {
  const warm = analyse(scalarChainText(10)).model;
  if (warm) await runCheck(warm, { backend: 'cpu', wholeSolve });
  const model = analyse(scalarChainText(n)).model;
  if (!model) throw new Error(`the ${n}-state chain does not check`);
  const cpu = process.cpuUsage(),
    t = performance.now();
  await runCheck(model, { backend: 'cpu', wholeSolve });
  const c = process.cpuUsage(cpu);
  const row = {
    ms: performance.now() - t,
    cpuMs: (c.user + c.system) / 1000,
    peakRssMiB: peakRssMiB(),
  };
  console.log(JSON.stringify(row));
}

/** Every chain size on both paths, each in a child process running this bench bundle with --kernel-chain n,path. */
export function benchKernelChains(bundle: string, sizes = CHAIN_SIZES): KernelChainRow[] {
  const child = (n: number, path: 'kernel' | 'per-kernel') => {
    const out = execFileSync(process.execPath, ['--max-semi-space-size=64', bundle, '--kernel-chain', `${n},${path}`], {
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').pop() as string) as { ms: number; cpuMs: number; peakRssMiB: number };
  };
  return sizes.map((n) => {
    const k = child(n, 'kernel'),
      p = child(n, 'per-kernel');
    return {
      states: n,
      kernelMs: k.ms,
      kernelCpuMs: k.cpuMs,
      kernelPeakRssMiB: k.peakRssMiB,
      perKernelMs: p.ms,
      perKernelCpuMs: p.cpuMs,
      perKernelPeakRssMiB: p.peakRssMiB,
    };
  });
}

export function kernelTable(rows: readonly KernelRow[]): string {
  const out = [
    '| model | steps | solve | kernel ms (cpu ms) | AD / reference / FD ms | per-kernel ms (cpu ms) | speed-up |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const ph = r.phasesMs;
    out.push(
      `| ${r.model} | ${r.steps} | ${r.rhsPath === 'scalar-solve' ? 'kernel' : 'TF.js'} | ${r.kernelMs.toFixed(0)} (${r.kernelCpuMs.toFixed(0)}) | ${ph.ad.toFixed(0)} / ${ph.reference.toFixed(0)} / ${ph.finiteDifferences.toFixed(0)} | ${r.perKernelMs.toFixed(0)} (${r.perKernelCpuMs.toFixed(0)}) | ${r.speedup.toFixed(1)}× |`,
    );
  }
  return out.join('\n');
}

export function kernelChainTable(rows: readonly KernelChainRow[]): string {
  const out = [
    '| states | kernel ms (cpu ms) | ms per state | peak RSS MiB | per-kernel ms (cpu ms) | peak RSS MiB |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows)
    out.push(
      `| ${r.states} | ${r.kernelMs.toFixed(0)} (${r.kernelCpuMs.toFixed(0)}) | ${(r.kernelMs / r.states).toFixed(2)} | ${r.kernelPeakRssMiB.toFixed(0)} | ${r.perKernelMs.toFixed(0)} (${r.perKernelCpuMs.toFixed(0)}) | ${r.perKernelPeakRssMiB.toFixed(0)} |`,
    );
  return out.join('\n');
}

/** The whole kernel bench: classic models and chains, with the load average at start and end. */
export async function benchScalarKernel(root: string, bundle: string, quick: boolean) {
  const load = { start: loadavg()[0], end: NaN };
  const models: KernelRow[] = [];
  for (const { name, text } of classicModels(root)) {
    const row = await benchKernelModel(name, text, quick ? 1 : 3);
    if (row) models.push(row);
  }
  const chains = benchKernelChains(bundle, quick ? [10, 100, 400] : undefined);
  load.end = loadavg()[0];
  return { load, models, chains };
}
