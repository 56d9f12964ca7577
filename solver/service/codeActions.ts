// Code actions as plain data: for the diagnostics a client asks about, the actions
// that fix them (title, kind, edits as ranges and text, the diagnostics each fixes).
// No protocol here: the server turns each into an LSP CodeAction. Every quick fix
// lives in QUICK_FIXES: one entry per fix, with the diagnostic codes it answers.
import type { TextEdit } from 'vscode-languageserver-types';
import type { Model, Range } from '../model';
import type { Report } from '../report';
import { gradfixEdit, quickFixTitle } from './gradfixEdit';

export { gradfixEdit, quickFixTitle };

/** What a quick fix reads of a diagnostic; the caller's own objects come back in `CodeActionData.diagnostics`. */
export interface FixableDiagnostic {
  code?: string | number;
  range: Range;
}

/** The document the actions edit. */
export interface CodeActionDocument {
  text: string;
  /** The analysed model of `text`, when it analyses (the edits fall back to reading the text). */
  model?: Pick<Model, 'optionLines'>;
  /** The latest check report, maybe of an earlier content: its recommended correction for the scheme. */
  report?: Pick<Report, 'recommendedCorrection'>;
}

export interface CodeActionData<D extends FixableDiagnostic> {
  title: string;
  /** An LSP code action kind ('quickfix', 'source.fixAll', …). */
  kind: string;
  isPreferred: boolean;
  /** Edits of the document, non-overlapping. */
  edits: TextEdit[];
  /** The diagnostics the action fixes. */
  diagnostics: D[];
}

interface QuickFix {
  /** Diagnostic codes the fix answers. */
  codes: readonly string[];
  /** The actions for `diagnostics` (all of them carry one of `codes`). */
  actions<D extends FixableDiagnostic>(doc: CodeActionDocument, diagnostics: D[]): CodeActionData<D>[];
}

/** Set `gradfix=` to the report's recommended correction for the scheme (stagesum for per-stage RK), else filter121. */
const correctGradients: QuickFix = {
  codes: ['oscillating-gradient', 'weakly-stable-scheme', 'stage-imbalance'],
  actions(doc, diagnostics) {
    const correction = doc.report?.recommendedCorrection ?? 'filter121';
    const edit = gradfixEdit(doc.text, doc.model, correction);
    if (!edit) return [];
    return [{ title: quickFixTitle(correction), kind: 'quickfix', isPreferred: true, edits: [edit], diagnostics }];
  },
};

const QUICK_FIXES: readonly QuickFix[] = [correctGradients];

/** Finding codes the quick fix "Correct AD gradients with filter121" applies to. */
export const GRADFIX_FIXABLE_CODES: readonly string[] = correctGradients.codes;

export const QUICK_FIX_TITLE = quickFixTitle('filter121');

/** The actions that fix `diagnostics` (each fix gets the diagnostics with its codes). */
export function codeActions<D extends FixableDiagnostic>(
  doc: CodeActionDocument,
  diagnostics: D[],
): CodeActionData<D>[] {
  return QUICK_FIXES.flatMap((fix) => {
    const fixed = diagnostics.filter((d) => fix.codes.includes(String(d.code)));
    return fixed.length > 0 ? fix.actions(doc, fixed) : [];
  });
}
