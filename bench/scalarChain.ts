// Large scalar models: an XPPAUT array of n coupled oscillators (a chain with
// fixed ends, written with `x[1..n-2]'` and `[j±1]`), checked with the file's
// own options, n from 10 to 400. Each size runs in its own process so that its
// peak memory (the process's high-water resident set) is its own. Time and
// memory should grow linearly in n: the fused program packs every scalar into
// one instruction list (engine/scalarRhs.ts).
import { execFileSync } from 'node:child_process';
import { analyse } from '../solver/language/index';
import { runCheck } from '../solver/check';
import { peakRssMiB } from './peakMemory';

export const CHAIN_SIZES = [10, 25, 50, 100, 200, 400];

/** The chain model of n states (n ≥ 3). */
export function scalarChainText(n: number): string {
  const last = n - 1;
  return [
    `# chain of ${n} coupled damped oscillators (XPPAUT array syntax)`,
    'par k=1, g=0.1',
    "x0' = k*(x1 - x0) - g*x0",
    `x[1..${n - 2}]' = k*(x[j+1] - 2*x[j] + x[j-1]) - g*x[j]`,
    `x${last}' = k*(x${last - 1} - x${last}) - g*x${last}`,
    'init x0=1',
    '@ total=10, dt=0.05, meth=rk4',
    'done',
  ].join('\n');
}

export interface ChainRow {
  states: number;
  checkMs: number;
  /** The check's process: resident-set high-water mark. */
  peakRssMiB: number;
}

/** In the child process: one check of the n-state chain (after a warm-up check of the 10-state one). */
export async function scalarChainChild(n: number): Promise<void> {
  const warm = analyse(scalarChainText(10)).model;
  if (warm) await runCheck(warm, { backend: 'cpu' });
  const model = analyse(scalarChainText(n)).model;
  if (!model) throw new Error(`the ${n}-state chain does not check`);
  const t = performance.now();
  await runCheck(model, { backend: 'cpu' });
  const checkMs = performance.now() - t;
  const row: ChainRow = { states: n, checkMs, peakRssMiB: peakRssMiB() };
  console.log(JSON.stringify(row));
}

/** Every size, each in a child process running this bench bundle with --scalar-chain n. */
export function benchScalarChains(bundle: string, sizes = CHAIN_SIZES): ChainRow[] {
  return sizes.map((n) => {
    // Node's default heap settings, as the CLI and the server run.
    const out = execFileSync(process.execPath, [bundle, '--scalar-chain', String(n)], {
      encoding: 'utf8',
    });
    return JSON.parse(out.trim().split('\n').pop() as string) as ChainRow;
  });
}

/** Markdown table of the chain rows, with time and memory per state relative to the smallest. */
export function chainTable(rows: readonly ChainRow[]): string {
  const out = ['| states | check ms | ms per state | peak RSS MiB |', '|---|---|---|---|'];
  for (const r of rows)
    out.push(
      `| ${r.states} | ${r.checkMs.toFixed(0)} | ${(r.checkMs / r.states).toFixed(2)} | ${r.peakRssMiB.toFixed(0)} |`,
    );
  return out.join('\n');
}
