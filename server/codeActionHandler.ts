// LSP glue for code actions: picks the diagnostics a request is about, asks the
// code-action service (solver/service/codeActions.ts) and turns its plain data into
// LSP CodeActions. Every quick fix itself lives in the service.
// - on a diagnostic's range: the remedies of the diagnostics there;
// - on an `@` line: the remedies of every finding in the file;
// - `source.fixAll.odelens` (or `source.fixAll`): every finding's recommended fix at once.
import {
  CodeAction,
  CodeActionKind,
  type CodeActionParams,
  DiagnosticSeverity,
  type Diagnostic as LspDiagnostic,
  type Range,
} from 'vscode-languageserver/node';
import { codeActions, fixAllAction, FIX_ALL_KIND, type CodeActionData } from '../solver/service/index';
import { DIAGNOSTIC_SOURCE } from '../protocol/customMessages';
import { diagnosticKey, diagnosticsOf } from './diagnostics';
import type { OpenDocument } from './documentStore';

/** The kinds the server offers (the initialize result's codeActionKinds). */
export const CODE_ACTION_KINDS = [CodeActionKind.QuickFix, CodeActionKind.SourceFixAll, FIX_ALL_KIND];

const overlaps = (a: Range, b: Range) => !(a.end.line < b.start.line || a.start.line > b.end.line);

export function onCodeAction(st: OpenDocument | undefined, params: CodeActionParams): CodeAction[] {
  if (!st) return [];
  // A client's diagnostics come back as it stored them: ours, and with a range (Neovim 0.7 can send neither).
  const ours = (d: LspDiagnostic) =>
    !!d?.range?.start && !!d.range.end && (!d.source || d.source === DIAGNOSTIC_SOURCE);
  const published = diagnosticsOf(st);
  const doc = { text: st.text, model: st.analysis.model, report: st.last?.report };
  const only = params.context.only;
  const out: CodeActionData<LspDiagnostic>[] = [];
  if (kindRequested(only, 'quickfix')) {
    let diagnostics = params.context.diagnostics.filter(ours);
    const r = params.range;
    // Clients that send no diagnostics in the context: use what we published for the range.
    if (params.context.diagnostics.length === 0) diagnostics = published.filter((d) => overlaps(d.range, r));
    // On an `@` line: every finding of the file (its remedies are settings of that line).
    const onOptionLine = st.analysis.model?.optionLines.some((l) => overlaps(l.range, r)) ?? false;
    if (onOptionLine) {
      const seen = new Set(diagnostics.map(diagnosticKey));
      diagnostics = [...diagnostics, ...published.filter((d) => !seen.has(diagnosticKey(d)))];
    }
    out.push(...codeActions(doc, diagnostics));
  }
  // Fix-all only when asked for by kind (on save, or the Source Action menu): never in the light bulb.
  if (only && kindRequested(only, FIX_ALL_KIND)) {
    // Warnings and errors only: a note (e.g. a corrected scheme's) asks for nothing.
    const all = fixAllAction(
      doc,
      published.filter((d) => (d.severity ?? DiagnosticSeverity.Error) <= DiagnosticSeverity.Warning),
    );
    if (all) out.push(all);
  }
  return out.map((a) => toLspCodeAction(st.uri, a));
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
