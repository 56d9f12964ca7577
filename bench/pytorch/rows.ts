// What the bench records of ODE Lens's check against the same check in PyTorch (bench/pytorch/comparison.ts),
// and its table, printed by the bench and in docs/performance.md.

export type Copies = 'seeded' | 'independent';

/** One model, its two checks' medians, and the ratio (median over alternating pairs). */
export interface PyTorchRow {
  case: string;
  copies: Copies;
  d: number;
  width: number;
  steps: number;
  backend: string;
  pairs: number;
  odeLens: { checkMs: number; adMs: number; referenceMs: number; finiteDifferencesMs: number };
  pytorch: { checkMs: number; adMs: number; referenceMs: number };
  /** Median over the pairs of ODE Lens check / PyTorch check (target ≤ 0.5). */
  ratio: number;
  targetRatio: number;
  /** Both sides' loss and per-parameter relError (AD densities against the reference): the same check. */
  loss: { odeLens: number; pytorch: number };
  relError: Record<string, { odeLens: number; pytorch: number | null }>;
}

/** What a bench run records of the comparison. */
export type PyTorchResults = { rows: PyTorchRow[]; torch?: string; python?: string } | { skipped: string };

/** Markdown table of the rows. */
export function pytorchTable(rows: readonly PyTorchRow[]): string {
  const f = (x: number) => x.toFixed(1);
  return [
    '| model | copies | ODE Lens check ms | ODE Lens AD / reference / FD ms | PyTorch check ms | PyTorch fwd+bwd / reference ms | ODE Lens / PyTorch check | relError ODE Lens / PyTorch |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const err = Object.entries(r.relError)
        .map(([k, e]) => `${k} ${e.odeLens.toPrecision(4)} / ${e.pytorch === null ? '–' : e.pytorch.toPrecision(4)}`)
        .join(', ');
      return `| ${r.case} d${r.d} w${r.width} N${r.steps} | ${r.copies} | ${f(r.odeLens.checkMs)} | ${f(r.odeLens.adMs)} / ${f(r.odeLens.referenceMs)} / ${f(r.odeLens.finiteDifferencesMs)} | ${f(r.pytorch.checkMs)} | ${f(r.pytorch.adMs)} / ${f(r.pytorch.referenceMs)} | ${r.ratio.toFixed(2)}${r.ratio <= r.targetRatio ? '' : ' ✗'} | ${err} |`;
    }),
  ].join('\n');
}
