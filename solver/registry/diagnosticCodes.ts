// Every diagnostic and finding code ODE Lens reports, with its default severity, a one-line summary and where it
// comes from. The model's Diagnostic, the report's Finding, the checker, the scheme analysis, the engine and the
// server type their codes against DiagnosticCode, so a misspelt code does not compile. Each code has its section in
// docs/diagnostics.md, generated from this table (test/unit/diagnosticsDoc.test.ts; UPDATE_DOCS=1 rewrites it).
// This file imports nothing: the model types (solver/model.ts) import it.

/** How serious a diagnostic is (LSP's four levels). */
export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** Who reports a code: the front end, the scheme analysis, a gradient check, training, or the language server. */
export type DiagnosticSource = 'language' | 'schemes' | 'check' | 'train' | 'server';

export interface DiagnosticCodeInfo {
  /** The usual severity; where a code is reported at another one, the summary says when. */
  severity: Severity;
  /** One line: when the code is reported. */
  summary: string;
  source: DiagnosticSource;
}

const language = (severity: Severity, summary: string): DiagnosticCodeInfo => ({
  severity,
  summary,
  source: 'language',
});
const schemes = (severity: Severity, summary: string): DiagnosticCodeInfo => ({ severity, summary, source: 'schemes' });
const check = (severity: Severity, summary: string): DiagnosticCodeInfo => ({ severity, summary, source: 'check' });
const train = (severity: Severity, summary: string): DiagnosticCodeInfo => ({ severity, summary, source: 'train' });
const server = (severity: Severity, summary: string): DiagnosticCodeInfo => ({ severity, summary, source: 'server' });

/** The codes, grouped by who reports them (docs/diagnostics.md keeps this order). */
export const DIAGNOSTIC_CODES = {
  'syntax-error': language('error', 'A line does not parse (one per line; parsing resumes on the next line).'),
  'undefined-name': language('error', 'A name is not declared (range: the name).'),
  'unknown-function': language('error', 'An unknown function is called.'),
  'bad-arity': language('error', 'A function is called with the wrong number of arguments.'),
  'duplicate-declaration': language(
    'error',
    'A name, initial value, loss, scheme or function argument is declared twice.',
  ),
  'duplicate-equation': language('error', 'A state has two equations.'),
  'missing-equation': language('error', "A state has no equation (range: the state's name)."),
  'unknown-state': language('error', 'An equation or initial value names something that is not a state.'),
  'reserved-name': language('error', 'A declaration uses a keyword or the time `t` as its name.'),
  'recursive-definition': language('error', 'A named value or function is defined in terms of itself.'),
  'shape-mismatch': language(
    'error',
    'Shapes do not broadcast (range: the operator), a right-hand side does not fit its state, or the loss is not a scalar.',
  ),
  'matmul-shape': language('error', "'@' with incompatible shapes (range: the '@')."),
  'broadcast-outer': language(
    'warning',
    'Two non-scalar operands broadcast to a shape larger than either (e.g. [K] against [K, 1]).',
  ),
  'index-out-of-range': language('error', 'An index past the end of its dimension, or too many indices.'),
  'init-shape': language('error', 'An initial value does not fit its state or parameter.'),
  'invalid-shape': language('error', 'A declared shape is not 1–2 dimensions of whole numbers ≥ 1, or is too large.'),
  'too-large': language('error', 'An operation result or the expanded model is too large to check.'),
  'invalid-initialiser': language('error', 'A `~ normal(mean, std)` initialiser with a negative standard deviation.'),
  'not-constant': language(
    'error',
    'An initial value, `normal(…)` argument or scheme coefficient reads a state, a parameter or `t`.',
  ),
  'state-in-loss': language('error', 'A state read in the loss without `(T)` or `(obs)`.'),
  'state-at-end-outside-loss': language('error', '`x(T)` or `x(obs)` outside the loss.'),
  'data-outside-loss': language('error', 'A data set read outside the loss.'),
  'data-file': language('error', 'A data file is missing or unreadable (range: the path).'),
  'data-malformed': language('error', 'A data file is not a CSV of numbers with ascending times.'),
  'data-outside-workspace': language('error', 'A data file lies outside the workspace.'),
  'table-file': language(
    'error',
    "A `table` file is missing, unreadable, outside the workspace or not in XPPAUT's table format (range: the path).",
  ),
  'invalid-table': language(
    'error',
    'A `table NAME % npts xlo xhi formula` line with fewer than 2 points, xlo ≥ xhi, or a formula that is not a number at every point.',
  ),
  'table-parameter': language(
    'information',
    "A table's formula reads a parameter: its samples are computed at the parameter's initial value, and gradients do not flow through the table's samples.",
  ),
  'noise-realisation': language(
    'information',
    'The model has noise (`wiener`, `ran`, `normal`): the check runs one seeded realisation, and its gradients are those of that sample path.',
  ),
  'invalid-scheme': language(
    'error',
    'A `scheme` line with wrong shapes, unknown or missing coefficients, or an implicit scheme.',
  ),
  'invalid-option': language('error', 'A bad `@` option value (range: the value).'),
  'unknown-scheme': language(
    'error',
    '`meth=` names no built-in or declared scheme, or an XPPAUT integrator ODE Lens cannot run.',
  ),
  'scheme-alias': language('information', 'An XPPAUT method mapped to a close but different built-in scheme.'),
  'unknown-option': language('warning', 'An unknown `@` option key; it is ignored.'),
  'ignored-option': language(
    'hint',
    'An XPPAUT option ODE Lens ignores (hint), or `dt` overridden by `steps` (warning).',
  ),
  'default-loss': language('information', 'No `loss` line: gradients are checked for ½‖x(T)‖².'),
  'unused-name': language('warning', 'A declared name, function argument or scheme that is never used.'),
  'shadowed-name': language('hint', 'A function argument hides a declared name or `t`.'),
  'name-case': language('hint', 'A name used with another case than declared.'),
  unsupported: language(
    'warning',
    'A construct (an XPPAUT one, a function) this release does not support (error, warning or information by how much it matters).',
  ),
  'internal-error': language(
    'error',
    'The file could not be analysed because of a bug in ODE Lens (the message has the details).',
  ),

  'weakly-stable': schemes(
    'warning',
    'The selected scheme is weakly stable and the model has per-step parameters: AD gradients oscillate (information when a correction is set).',
  ),
  'zero-copy-weight': schemes('warning', 'A per-step parameter copy has quadrature weight 0: it gets no gradient.'),
  'zero-stage-weight': schemes('warning', 'With `tie=stage`, a stage of weight b = 0 gets almost no gradient.'),
  'repeated-stage-time': schemes(
    'warning',
    'With `tie=stage`, two stages share a time: only the sum of their copies is fixed by the flow.',
  ),
  'tie-ignored': schemes('information', '`tie=stage` has no effect with a multistep scheme.'),
  'scheme-invalid': schemes(
    'error',
    'A declared scheme cannot be used: its coefficients are not well formed (warning when it is not selected).',
  ),
  'scheme-unsupported': schemes(
    'error',
    'A declared scheme is implicit or otherwise not runnable (warning when it is not selected).',
  ),
  'scheme-stage-times': schemes('warning', 'A declared tableau whose stage times c are not the row sums of a.'),
  'scheme-inconsistent': schemes(
    'error',
    'A declared scheme is inconsistent: it does not converge to the ODE (warning when it is not selected).',
  ),
  'scheme-unstable': schemes(
    'error',
    'A declared multistep scheme is not zero-stable (warning when it is not selected).',
  ),

  'oscillating-gradient': check(
    'warning',
    'The AD gradient of a per-step parameter oscillates from layer to layer (on its declaration).',
  ),
  'weakly-stable-scheme': check(
    'warning',
    "The selected scheme is weakly stable, measured (on the `meth` value; replaces the static 'weakly-stable').",
  ),
  'stage-imbalance': check('warning', 'Per-stage parameter copies are out of balance (κ > 0.3).'),
  'correction-substituted': check(
    'information',
    'The selected correction does not apply to this model; another one is shown instead.',
  ),
  'vanishing-gradient': check(
    'information',
    'The AD gradient of a parameter is exactly zero (warning when kinks such as relu explain it).',
  ),
  'gradcheck-mismatch': check('warning', 'AD disagrees with finite differences of the discrete model.'),
  'gradcheck-unresolved': check(
    'information',
    'Finite differences cannot judge AD for a parameter (extreme sensitivity or float32 rounding).',
  ),
  'blow-up': check('error', 'The solve or its gradient is not finite (names the step and time, on the equation).'),
  'invalid-options': check('error', 'The options give no solvable step count or step size.'),
  'model-too-large': check('error', 'The model has too many steps or parameter values to check.'),
  'unsupported-expression': check('error', 'The engine cannot compile an expression (e.g. a tensor of rank above 2).'),
  'unsupported-function': check('error', 'The engine has no implementation of a function.'),
  'wrong-arity': check('error', 'The engine got a function call with the wrong number of arguments.'),
  'data-out-of-range': check('error', 'A data set has no observations, or one outside the solved interval.'),

  'no-parameters': train('error', 'Training a model without parameters.'),
  'unsupported-scheme': train('error', 'Training cannot run the selected scheme.'),

  'check-timeout': server(
    'warning',
    'A gradient check ran out of its time budget (setting odeLens.check.timeBudgetMs).',
  ),
  'check-crashed': server('warning', 'The check worker crashed during a gradient check; it was restarted.'),
  'check-failed': server('warning', 'A gradient check failed (the message says why).'),
} satisfies Record<string, DiagnosticCodeInfo>;

/** A code of a diagnostic or finding. */
export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;
export const DIAGNOSTIC_CODE_NAMES = Object.keys(DIAGNOSTIC_CODES) as readonly DiagnosticCode[];

/** The page that documents every code. */
export const DIAGNOSTICS_PAGE = 'docs/diagnostics.md';

/** Where a code is documented: its heading in docs/diagnostics.md (GitHub's slug of a heading that is the code itself). */
export function diagnosticDocs(code: DiagnosticCode): string {
  return `${DIAGNOSTICS_PAGE}#${code}`;
}
