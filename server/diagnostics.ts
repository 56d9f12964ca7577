// Maps the front end's and the engine's diagnostics to LSP diagnostics.
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver/node';
import type { Diagnostic, Range, Severity } from '../solver/model';
import type { Finding } from '../solver/report';
import { DIAGNOSTIC_SOURCE } from '../shared/customMessages';

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
export interface DiagnosticData { parameter?: string; fromCheck?: boolean }

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
