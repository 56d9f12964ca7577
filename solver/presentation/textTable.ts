// Plain-text tables for the terminal (the CLI): the report's metric columns, padded.
import type { ReportSummary } from '../report';
import { metricColumns } from './columns';

/** Columns padded to a common width; the first `left` columns left-aligned, the rest right-aligned. */
export function textTable(rows: string[][], left: number): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c < left ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One row per parameter: name, shape, kind, then the report's metric columns (columns.ts). */
export function metricsTableText(report: ReportSummary): string {
  const cols = metricColumns(report);
  const head = ['parameter', 'shape', 'kind', ...cols.map((c) => c.label(report)), ''];
  const rows = report.parameters.map((p) => [
    p.name,
    `[${p.shape.join(',')}]`,
    p.perStep ? 'per-step' : p.initialValueOf !== undefined ? 'initial' : 'shared',
    ...cols.map((c) => c.cell(p, report)),
    p.oscillating ? 'OSCILLATES' : '',
  ]);
  return textTable([head, ...rows], 3);
}
