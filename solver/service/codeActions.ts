// Code actions as plain data: for the diagnostics a client asks about, the actions
// that fix them (title, kind, edits as ranges and text, the diagnostics each fixes).
// No protocol here: the server turns each into an LSP CodeAction. Every remedy lives
// in QUICK_FIXES: one row per `@` setting, with the diagnostic codes it answers and
// when it applies; the titles carry the figures the last check measured.
import type { TextEdit } from 'vscode-languageserver-types';
import type { DiagnosticCode, GradFix, Model, Range } from '../model';
import type { Finding, ParameterMetrics, Report } from '../report';
import { OSCILLATION_CORRECTIONS, RECOMMENDED_CORRECTION } from '../registry/corrections';
import { SCHEMES, STRONGLY_STABLE_REMEDIES } from '../schemes/registry';
import { schemeOf } from '../schemes/schemes';
import { formatNumber as fmt } from '../presentation/format';
import { gradfixEdit, optionEdits, quickFixTitle } from './gradfixEdit';

export { gradfixEdit, optionEdits, quickFixTitle };

/** What a quick fix reads of a diagnostic; the caller's own objects come back in `CodeActionData.diagnostics`. */
export interface FixableDiagnostic {
  code?: string | number;
  range: Range;
}

/** The document the actions edit. */
export interface CodeActionDocument {
  text: string;
  /** The analysed model of `text`, when it analyses (the edits fall back to reading the text). */
  model?: Pick<Model, 'optionLines'> & Partial<Pick<Model, 'options' | 'schemes'>>;
  /** The latest check report, maybe of an earlier content: its recommended correction and its figures. */
  report?: Pick<Report, 'recommendedCorrection'> & Partial<Pick<Report, 'correction' | 'findings'>>;
}

export interface CodeActionData<D extends FixableDiagnostic> {
  title: string;
  /** An LSP code action kind ('quickfix', 'source.fixAll.odelens', …). */
  kind: string;
  isPreferred: boolean;
  /** Edits of the document, non-overlapping. */
  edits: TextEdit[];
  /** The diagnostics the action fixes. */
  diagnostics: D[];
}

/** The kind of the action that applies every finding's recommended fix (`editor.codeActionsOnSave`). */
export const FIX_ALL_KIND = 'source.fixAll.odelens';

type Correction = Exclude<GradFix, 'none'>;
type Setting = readonly [key: string, value: string];

/** What a remedy knows about the document when it decides whether it applies and how it is titled. */
interface FixContext {
  doc: CodeActionDocument;
  code: DiagnosticCode;
  /** The figures of the finding the diagnostic is (or the worst measured one for a static warning). */
  metrics?: ParameterMetrics;
}

/** One remedy: the `@` setting it makes, the codes it answers, when it applies and its title. */
interface QuickFix {
  setting: Setting;
  codes: readonly DiagnosticCode[];
  applies(c: FixContext): boolean;
  title(c: FixContext): string;
}

const OSCILLATION_CODES: readonly DiagnosticCode[] = ['oscillating-gradient', 'weakly-stable-scheme', 'weakly-stable'];
const STAGE_CODES: readonly DiagnosticCode[] = ['stage-imbalance', 'zero-stage-weight'];

const options = (c: FixContext) => c.doc.model?.options;
const current = (c: FixContext, key: 'gradfix' | 'meth' | 'tie' | 'grad') => options(c)?.[key];

/** Stages of the model's Runge–Kutta scheme (undefined for a multistep one or an unknown scheme). */
function rkStages(c: FixContext): number | undefined {
  const m = c.doc.model;
  if (!m?.options) return undefined;
  try {
    const s = schemeOf({ options: m.options, schemes: m.schemes ?? [] });
    return s.kind === 'rk' ? s.tableau.b.length : undefined;
  } catch {
    return undefined;
  }
}

/** " — raw error 1.24 now", from the finding's figures ('' when nothing was measured). */
function rawFigure(c: FixContext): string {
  const raw = c.metrics?.relError;
  return raw !== undefined && Number.isFinite(raw) ? ` — raw error ${fmt(raw)} now` : '';
}

/** The error the finding's parameter would have after `correction`, when the last check priced it. */
function correctedFigure(correction: Correction, c: FixContext): number | undefined {
  const m = c.metrics;
  if (!m) return undefined;
  const e = c.doc.report?.correction === correction ? m.correctedRelError : m.correctionErrors?.[correction];
  return e !== undefined && Number.isFinite(e) ? e : undefined;
}

function correctionTitle(correction: Correction, c: FixContext): string {
  const corrected = correctedFigure(correction, c);
  const raw = c.metrics?.relError;
  if (corrected !== undefined && raw !== undefined && Number.isFinite(raw))
    return `${quickFixTitle(correction)} — error ${fmt(corrected)} instead of ${fmt(raw)}`;
  return `${quickFixTitle(correction)}${rawFigure(c)}`;
}

const correctionFix = (
  correction: Correction,
  codes: readonly DiagnosticCode[],
  applies: (c: FixContext) => boolean,
): QuickFix => ({
  setting: ['gradfix', correction],
  codes,
  applies: (c) => current(c, 'gradfix') !== correction && applies(c),
  title: (c) => correctionTitle(correction, c),
});

/** Every remedy, in the order a menu lists them. */
export const QUICK_FIXES: readonly QuickFix[] = [
  ...OSCILLATION_CORRECTIONS.map((g) => correctionFix(g as Correction, OSCILLATION_CODES, () => true)),
  // Sums the stage contributions: the per-stage remedy of 2-stage Runge–Kutta schemes.
  correctionFix(
    'stagesum',
    STAGE_CODES,
    (c) => c.doc.report?.recommendedCorrection === 'stagesum' || rkStages(c) === 2,
  ),
  // One-step schemes only: a multistep remedy (ab2) has start steps whose copies can get weight 0.
  ...STRONGLY_STABLE_REMEDIES.filter((s) => SCHEMES[s].kind === 'rk').map(
    (s): QuickFix => ({
      setting: ['meth', s],
      codes: OSCILLATION_CODES,
      applies: (c) => current(c, 'meth') !== s,
      title: (c) => `Switch to the strongly stable ${s} (meth=${s}, steps unchanged)${rawFigure(c)}`,
    }),
  ),
  {
    setting: ['tie', 'step'],
    codes: [...STAGE_CODES, 'repeated-stage-time'],
    applies: (c) => current(c, 'tie') !== 'step',
    title: (c) => `Tie the parameter copies to steps (tie=step)${rawFigure(c)}`,
  },
  {
    setting: ['grad', 'adjoint'],
    codes: [...OSCILLATION_CODES, 'stage-imbalance'],
    applies: (c) => current(c, 'grad') !== 'adjoint',
    title: (c) => `Compute gradients with the continuous adjoint (grad=adjoint)${rawFigure(c)}`,
  },
];

/** The setting a diagnostic's remedies recommend: the report's correction, else the registry's, else tie=step. */
function preferredSetting(c: FixContext): Setting | undefined {
  const recommended = c.doc.report?.recommendedCorrection;
  if (OSCILLATION_CODES.includes(c.code)) {
    const g = recommended && OSCILLATION_CORRECTIONS.includes(recommended) ? recommended : RECOMMENDED_CORRECTION;
    return ['gradfix', g];
  }
  if (STAGE_CODES.includes(c.code))
    return recommended === 'stagesum' || rkStages(c) === 2 ? ['gradfix', 'stagesum'] : ['tie', 'step'];
  if (c.code === 'repeated-stage-time') return ['tie', 'step'];
  return undefined;
}

const sameRange = (a: Range, b: Range) =>
  a.start.line === b.start.line &&
  a.start.character === b.start.character &&
  a.end.line === b.end.line &&
  a.end.character === b.end.character;

/** The figures behind a diagnostic: its own finding's, else (a static warning) the largest measured raw error. */
function metricsFor(doc: CodeActionDocument, d: FixableDiagnostic): ParameterMetrics | undefined {
  const findings: readonly Finding[] = doc.report?.findings ?? [];
  const own = findings.find((f) => f.code === d.code && f.metrics && sameRange(f.range, d.range));
  if (own) return own.metrics;
  const measured = findings.flatMap((f) => (f.metrics && Number.isFinite(f.metrics.relError) ? [f.metrics] : []));
  return measured.sort((a, b) => b.relError - a.relError)[0];
}

const contextOf = (doc: CodeActionDocument, d: FixableDiagnostic): FixContext => ({
  doc,
  code: String(d.code) as DiagnosticCode,
  metrics: metricsFor(doc, d),
});

const sameSetting = (a: Setting | undefined, b: Setting) => !!a && a[0] === b[0] && a[1] === b[1];

/** The actions that fix `diagnostics`: one per remedy, answering every diagnostic it applies to. */
export function codeActions<D extends FixableDiagnostic>(
  doc: CodeActionDocument,
  diagnostics: D[],
): CodeActionData<D>[] {
  const out: CodeActionData<D>[] = [];
  for (const fix of QUICK_FIXES) {
    const answered = diagnostics.filter((d) => (fix.codes as readonly unknown[]).includes(String(d.code)));
    const contexts = answered.map((d) => ({ d, c: contextOf(doc, d) })).filter(({ c }) => fix.applies(c));
    if (contexts.length === 0) continue;
    const edits = optionEdits(doc.text, doc.model, [fix.setting]);
    if (edits.length === 0) continue;
    // The title's figures: of the diagnostic with the largest measured raw error.
    const titled = [...contexts].sort((a, b) => (b.c.metrics?.relError ?? -1) - (a.c.metrics?.relError ?? -1))[0];
    out.push({
      title: fix.title(titled.c),
      kind: 'quickfix',
      isPreferred: contexts.some(({ c }) => sameSetting(preferredSetting(c), fix.setting)),
      edits,
      diagnostics: contexts.map(({ d }) => d),
    });
  }
  return out;
}

/** One action that applies each diagnostic's recommended fix (the first setting of a key wins), or none. */
export function fixAllAction<D extends FixableDiagnostic>(
  doc: CodeActionDocument,
  diagnostics: D[],
): CodeActionData<D> | undefined {
  const settings = new Map<string, string>();
  const fixed: D[] = [];
  for (const d of diagnostics) {
    const c = contextOf(doc, d);
    const s = preferredSetting(c);
    const fix = s && QUICK_FIXES.find((f) => sameSetting(s, f.setting));
    if (!s || !fix || !fix.applies(c)) continue;
    if (!settings.has(s[0])) settings.set(s[0], s[1]);
    fixed.push(d);
  }
  if (settings.size === 0) return undefined;
  const edits = optionEdits(doc.text, doc.model, [...settings]);
  if (edits.length === 0) return undefined;
  const what = [...settings].map(([k, v]) => `${k}=${v}`).join(', ');
  return {
    title: `Fix all ODE Lens findings (${what})`,
    kind: FIX_ALL_KIND,
    isPreferred: false,
    edits,
    diagnostics: fixed,
  };
}

/** Finding codes some quick fix answers. */
export const FIXABLE_CODES: readonly string[] = [...new Set(QUICK_FIXES.flatMap((f) => f.codes))];

/** Finding codes the quick fix "Correct AD gradients with filter121" applies to. */
export const GRADFIX_FIXABLE_CODES: readonly string[] = [...OSCILLATION_CODES, 'stage-imbalance'];

export const QUICK_FIX_TITLE = quickFixTitle('filter121');
