// LSP glue for code actions: picks the diagnostics a request is about, asks the
// code-action service (solver/service/codeActions.ts) and turns its plain data into
// LSP CodeActions. Every quick fix itself lives in the service.
import {
  CodeAction,
  CodeActionKind,
  type CodeActionParams,
  type Diagnostic as LspDiagnostic,
} from 'vscode-languageserver/node';
import { codeActions, type CodeActionData } from '../solver/service/index';
import { DIAGNOSTIC_SOURCE } from '../protocol/customMessages';
import { toLspDiagnostic } from './diagnostics';
import type { OpenDocument } from './documentStore';

export function onCodeAction(st: OpenDocument | undefined, params: CodeActionParams): CodeAction[] {
  if (!st) return [];
  const ours = (d: LspDiagnostic) => !d.source || d.source === DIAGNOSTIC_SOURCE;
  let diagnostics = params.context.diagnostics.filter(ours);
  if (params.context.diagnostics.length === 0 && st.last?.hash === st.hash) {
    // Clients that send no diagnostics in the context: use what we published for the range.
    const r = params.range;
    diagnostics = st.last.report.findings
      .map((f) => toLspDiagnostic(f, true))
      .filter((d) => !(d.range.end.line < r.start.line || d.range.start.line > r.end.line));
  }
  return codeActions({ text: st.text, model: st.analysis.model, report: st.last?.report }, diagnostics)
    .filter((a) => kindRequested(params.context.only, a.kind))
    .map((a) => toLspCodeAction(st.uri, a));
}

/** Whether a client that asked `only` these kinds wants an action of `kind` (a kind includes its sub-kinds). */
function kindRequested(only: string[] | undefined, kind: string): boolean {
  return !only || only.some((k) => k === kind || kind.startsWith(`${k}.`) || k === CodeActionKind.Empty);
}

function toLspCodeAction(uri: string, a: CodeActionData<LspDiagnostic>): CodeAction {
  const action = CodeAction.create(a.title, { changes: { [uri]: a.edits } }, a.kind);
  action.diagnostics = a.diagnostics;
  action.isPreferred = a.isPreferred;
  return action;
}
