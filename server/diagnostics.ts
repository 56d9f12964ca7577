// Maps the front end's and the engine's diagnostics to LSP diagnostics: each with a link to the explanation
// of its code (codeDescription), a gradient finding joined to the scheme option that causes it
// (relatedInformation), and ignored settings and unused names marked Unnecessary (shown faded).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  DiagnosticSeverity,
  DiagnosticTag,
  type DiagnosticRelatedInformation,
  type Diagnostic as LspDiagnostic,
} from 'vscode-languageserver/node';
import {
  findOption,
  type Diagnostic,
  type DiagnosticCode,
  type Model,
  type Range,
  type Severity,
} from '../solver/model';
import type { Finding } from '../solver/report';
import { withoutSuperseded } from '../solver/findings';
import { DIAGNOSTIC_CODES, diagnosticDocs } from '../solver/registry/diagnosticCodes';
import { DIAGNOSTIC_SOURCE } from '../protocol/customMessages';
import type { OpenDocument } from './documentStore';

const SEVERITY: Record<Severity, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** Codes whose range is text that has no effect (an ignored option, an unused name): the editor fades it. */
const UNNECESSARY: ReadonlySet<DiagnosticCode> = new Set<DiagnosticCode>([
  'ignored-option',
  'unknown-option',
  'unused-name',
  'tie-ignored',
]);

/** Findings about a parameter's gradient, and the `@` options whose scheme causes them (the first one set). */
const CAUSED_BY: Partial<Record<DiagnosticCode, readonly string[]>> = {
  'oscillating-gradient': ['meth'],
  'stage-imbalance': ['tie', 'meth'],
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
  /** Set on a finding of an earlier version of the text, shown because the check of this version was cancelled. */
  previous?: boolean;
}

/** The shipped page that explains every code (next to dist/: the extension's and the repository's docs/). */
const DOCS_URL = pathToFileURL(join(__dirname, '..', diagnosticDocs('syntax-error').split('#')[0])).href;

/** The explanation of a code: docs/diagnostics.md at the code's heading. */
export function codeDescriptionHref(code: DiagnosticCode): string {
  return `${DOCS_URL}#${diagnosticDocs(code).split('#')[1]}`;
}

/** What the diagnostics of one document can point at: its URI and analysed model (for related options). */
export interface DiagnosticContext {
  uri: string;
  model?: Pick<Model, 'optionLines'>;
}

function related(d: Diagnostic | Finding, at: DiagnosticContext | undefined): DiagnosticRelatedInformation[] {
  const keys = CAUSED_BY[d.code];
  if (!keys || !at?.model) return [];
  for (const key of keys) {
    const s = findOption(at.model, key);
    if (s)
      return [
        {
          location: { uri: at.uri, range: s.range },
          message: `caused by the scheme option ${s.key}=${s.value.trim()}`,
        },
      ];
  }
  return [];
}

export function toLspDiagnostic(d: Diagnostic | Finding, fromCheck: boolean, at?: DiagnosticContext): LspDiagnostic {
  const data: DiagnosticData = { fromCheck };
  if ('parameter' in d && d.parameter) data.parameter = d.parameter;
  const out: LspDiagnostic = {
    range: safeRange(d.range),
    severity: SEVERITY[d.severity] ?? DiagnosticSeverity.Warning,
    code: d.code,
    source: DIAGNOSTIC_SOURCE,
    message: d.message,
    data,
  };
  if (d.code in DIAGNOSTIC_CODES) out.codeDescription = { href: codeDescriptionHref(d.code) };
  if (UNNECESSARY.has(d.code)) out.tags = [DiagnosticTag.Unnecessary];
  const info = related(d, at);
  if (info.length > 0) out.relatedInformation = info;
  return out;
}

/** Two diagnostics with the same key say the same thing at the same place. */
export const diagnosticKey = (d: LspDiagnostic) =>
  `${d.code}|${d.range.start.line}:${d.range.start.character}-${d.range.end.line}:${d.range.end.character}|${d.message}`;

/** Drops exact duplicates (the front end and the engine may both report a static finding). */
export function dedupe(ds: LspDiagnostic[]): LspDiagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = diagnosticKey(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** A mangled file can produce thousands of errors; the first ones are the useful ones. */
export const MAX_DIAGNOSTICS = 1000;

/** Appended to a finding of an earlier version of the text (its check was cancelled before this version's finished). */
export const PREVIOUS_VERSION_NOTE = ' [from the check of an earlier version: the check of this version was cancelled]';

/** Appended to a finding of a check at a learned-parameters file's values (not the seeded ones). */
export const givenParametersNote = (source: string) => ` [checked at the parameters in ${source}]`;

/**
 * The diagnostics of a document as published: the front end's (less those a finding supersedes), the check's
 * findings, and a failed check's own diagnostic. `previous`: findings of an earlier version, shown (marked) in
 * place of findings when the check of this version was cancelled. The status bar's count is taken from this list.
 */
export function documentDiagnostics(
  frontEnd: readonly Diagnostic[],
  findings: readonly Finding[],
  failure?: LspDiagnostic,
  at?: DiagnosticContext,
  previous: readonly Finding[] = [],
): LspDiagnostic[] {
  const ds = withoutSuperseded(frontEnd, findings).map((d) => toLspDiagnostic(d, false, at));
  ds.push(...findings.map((f) => toLspDiagnostic(f, true, at)));
  for (const f of previous) {
    const d = toLspDiagnostic({ ...f, message: `${f.message}${PREVIOUS_VERSION_NOTE}` }, true, at);
    d.data = { ...(d.data as DiagnosticData), previous: true };
    ds.push(d);
  }
  if (failure) ds.push(failure);
  return dedupe(ds).slice(0, MAX_DIAGNOSTICS);
}

/** What the status bar counts as findings: the published errors and warnings (information and hints are notes). */
export function warningCount(ds: readonly LspDiagnostic[]): number {
  return ds.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning).length;
}

/** The diagnostics the server publishes for an open document's current text (the code actions read the same list). */
export function diagnosticsOf(st: OpenDocument): LspDiagnostic[] {
  const checked = !st.checksDisabled && !st.restricted;
  const current = checked && st.last && st.last.hash === st.hash;
  const checkedAt = current ? st.last!.report.checkedParameters : undefined;
  const findings = !current
    ? []
    : checkedAt?.kind === 'given'
      ? st.last!.report.findings.map((f) => ({ ...f, message: `${f.message}${givenParametersNote(checkedAt.source)}` }))
      : st.last!.report.findings;
  const previous = checked && !current && st.last && st.cancelledHash === st.hash ? st.last.report.findings : [];
  const failure =
    checked && st.failure && st.failure.hash === st.hash ? toLspDiagnostic(st.failure.diagnostic, true) : undefined;
  return documentDiagnostics(
    st.analysis.diagnostics,
    findings,
    failure,
    { uri: st.uri, model: st.analysis.model },
    previous,
  );
}
