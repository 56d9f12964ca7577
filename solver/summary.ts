// A report split for its readers: the summary (metrics, verdicts, findings: what diagnostics, hovers, the
// status and the CLI's table present) and the rows (solver/rows.ts: what the plots draw, asked for as
// needed). The summary of a width-128 model with 8192 steps is a few kB; its rows are millions of values.
import type { ParameterReport, ParameterSummary, Report, ReportSummary } from './report';
import { packRows, type RowTable } from './rows';

function parameterSummary(p: ParameterReport): ParameterSummary {
  const { layerTimes, raw, corrected, reference, components, correctedTimes, stages, ...rest } = p;
  return p.perStep && layerTimes.length > 0 ? { ...rest, copies: raw.length } : rest;
}

/** The report's summary and its rows as tables (one pass over the rows). */
export function splitReport(report: Report): { summary: ReportSummary; tables: RowTable[] } {
  const tables = packRows(report);
  const { parameters, statePaths: _paths, ...rest } = report;
  return {
    summary: { ...rest, parameters: parameters.map(parameterSummary), rowTables: tables.map((t) => t.info) },
    tables,
  };
}

/** The report without its rows. */
export const summarise = (report: Report): ReportSummary => splitReport(report).summary;

/** A parameter's per-step copies: the summary's count, or the rows of a full report. */
export function copyCount(p: ParameterSummary): number | undefined {
  return p.copies ?? (p as Partial<ParameterReport>).raw?.length;
}
