// Maps the front end's and the engine's diagnostics to LSP diagnostics.
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver/node';
import type { Diagnostic, Range, Severity } from '../solver/model';
import type { Finding } from '../solver/report';
import { withoutSuperseded } from '../solver/findings';
import { DIAGNOSTIC_SOURCE } from '../protocol/customMessages';

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

function safeRange(r: Range | undefined): Range {
  const ok = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (!r || !ok(r.start?.line) || !ok(r.start?.character) || !ok(r.end?.line) || !ok(r.end?.character))
    return { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return r;
}

/** Extra data carried on published diagnostics (LSP `data`). */
export interface DiagnosticData {
  parameter?: string;
  fromCheck?: boolean;
}

export function toLspDiagnostic(d: Diagnostic | Finding, fromCheck: boolean): LspDiagnostic {
  const data: DiagnosticData = { fromCheck };
  if ('parameter' in d && d.parameter) data.parameter = d.parameter;
  return {
    range: safeRange(d.range),
    severity: SEVERITY[d.severity] ?? DiagnosticSeverity.Warning,
    code: d.code,
    source: DIAGNOSTIC_SOURCE,
    message: d.message,
    data,
  };
}

/** Drops exact duplicates (the front end and the engine may both report a static finding). */
export function dedupe(ds: LspDiagnostic[]): LspDiagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}|${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A mangled file can produce thousands of errors; the first ones are the useful ones. */
export const MAX_DIAGNOSTICS = 1000;

/**
 * The diagnostics of a document as published: the front end's (less those a finding supersedes), the check's
 * findings, and a failed check's own diagnostic. The status bar's count is taken from this same list.
 */
export function documentDiagnostics(
  frontEnd: readonly Diagnostic[],
  findings: readonly Finding[],
  failure?: LspDiagnostic,
): LspDiagnostic[] {
  const ds = withoutSuperseded(frontEnd, findings).map((d) => toLspDiagnostic(d, false));
  ds.push(...findings.map((f) => toLspDiagnostic(f, true)));
  if (failure) ds.push(failure);
  return dedupe(ds).slice(0, MAX_DIAGNOSTICS);
}

/** What the status bar counts as findings: the published errors and warnings (information and hints are notes). */
export function warningCount(ds: readonly LspDiagnostic[]): number {
  return ds.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning).length;
}
