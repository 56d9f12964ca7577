// Every diagnostic and finding code ODE Lens reports, with its default severity, a one-line summary and where it
// comes from. The model's Diagnostic, the report's Finding, the checker, the scheme analysis, the engine and the
// server type their codes against DiagnosticCode, so a misspelt code does not compile. Each code has its section in
// docs/diagnostics.md, generated from this table (test/unit/diagnosticsDoc.test.ts; UPDATE_DOCS=1 rewrites it).
// This file imports nothing: the model types (solver/model.ts) import it.

/** How serious a diagnostic is (LSP's four levels). */
export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** Who reports a code: the front end, the scheme analysis, a gradient check, training, or the language server. */
export type DiagnosticSource = 'language' | 'schemes' | 'check' | 'train' | 'server';

/** A way to make a diagnostic go away, and what it costs. */
export interface Remedy {
  /** The `@` setting or the change, e.g. "`gradfix=filter121`". */
  fix: string;
  tradeOff: string;
}

/** The longer explanation of a code, for its page: what it means, the figure behind it, its remedies. */
export interface Explanation {
  meaning: string;
  /** The measured or computed figure the message quotes, and how to read it. */
  figure?: string;
  remedies?: readonly Remedy[];
}

export interface DiagnosticCodeInfo {
  /** The usual severity; where a code is reported at another one, the summary says when. */
  severity: Severity;
  /** One line: when the code is reported. */
  summary: string;
  source: DiagnosticSource;
  explanation?: Explanation;
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

/** The remedies of a period-2 oscillation of AD gradients (weakly stable scheme with per-step copies). */
const OSCILLATION_REMEDIES: readonly Remedy[] = [
  {
    fix: '`gradfix=filter121`',
    tradeOff:
      'Recommended: second order, corrects the gradients after AD at the cost of one pass over the layers; the discrete model and its loss are unchanged, so the gradient is no longer the exact gradient of the discrete loss.',
  },
  {
    fix: '`gradfix=average`',
    tradeOff: 'The simplest two-point correction; first order only, and its rows sit at the half steps t_{n+½}.',
  },
  {
    fix: '`gradfix=adjoint121`',
    tradeOff:
      'Filters the discrete adjoint instead of the gradients (second order); needs the per-step adjoint, one more backward sweep per check and step of training.',
  },
  {
    fix: '`meth=heun` or `meth=rk4` (steps unchanged)',
    tradeOff:
      'A strongly stable scheme has no parasitic root: raw AD converges. It changes the model (two or four evaluations of the right-hand side per step) and its trained parameters.',
  },
  {
    fix: '`grad=adjoint`',
    tradeOff:
      'Gradients from the continuous adjoint solved accurately backwards: they describe the flow, but not the discrete loss exactly, and cost an extra accurate solve.',
  },
];

const STAGE_REMEDIES: readonly Remedy[] = [
  {
    fix: '`gradfix=stagesum` (2-stage schemes)',
    tradeOff:
      'Sums the stage contributions of each step and interpolates them to the stage times: second order for midpoint, Heun and Ralston; keeps the per-stage parameters.',
  },
  {
    fix: '`tie=step`',
    tradeOff:
      'One parameter copy per step shared by its stages: gradients converge, but the model has fewer parameters.',
  },
];

const explain = (info: DiagnosticCodeInfo, explanation: Explanation): DiagnosticCodeInfo => ({ ...info, explanation });

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
  'no-states': language(
    'error',
    'The file declares no differential equation or map: there is nothing to solve or check.',
  ),
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
  'too-large': language(
    'error',
    'An operation result or the expanded model is too large to check (more than 400,000 expression nodes after expanding functions and fixed quantities).',
  ),
  'invalid-initialiser': language('error', 'A `~ normal(mean, std)` initialiser with a negative standard deviation.'),
  'not-constant': language(
    'error',
    'An initial value, `normal(…)` argument or scheme coefficient reads a state, a parameter or `t`.',
  ),
  'state-in-loss': language('error', 'A state read in the loss without `(T)` or `(obs)`.'),
  'state-at-end-outside-loss': language('error', '`x(T)` or `x(obs)` outside the loss.'),
  'data-outside-loss': language('error', 'A data set read outside the loss.'),
  'data-file': language(
    'error',
    'A data file is missing, unreadable, not a regular file, over the size limit (`odeLens.data.maxFileSizeMB`), or named by an unsaved document (range: the path).',
  ),
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
  'xppaut-done': language(
    'information',
    "A lone word starting with d read as `done`, as XPPAUT reads it (the file's remaining lines are not read).",
  ),
  'scheme-alias': language(
    'information',
    'An XPPAUT method checked as a close but different built-in scheme (adaptive and stiff methods as a fixed-step one).',
  ),
  'map-model': language(
    'information',
    "The model is a map (`x(t+1) = …` or `meth=discrete`): iterated `total` times with t advancing by 1; it has no continuous flow, so its gradients are checked against the map's own adjoint, iterated backward and through the resets of its events at the iterations where they fire (its exact gradient with those iterations held fixed; n/a for a map with a data loss, or with events outside the fused scalar subset or whose condition sits exactly on 0 on the edge of its test while moving with the states), and finite differences.",
  ),
  'unknown-option': language('warning', 'An unknown `@` option key; it is ignored.'),
  'ignored-option': language(
    'hint',
    'The XPPAUT options of an `@` line that ODE Lens ignores (one hint per line), or `dt` overridden by `steps` (warning).',
  ),
  'default-loss': language('information', 'No `loss` line: gradients are checked for ½‖x(T)‖².'),
  'unused-name': language(
    'warning',
    'A declared name, function argument or scheme that is never used (a hint in a model without loss, data, schemes or tensors: XPPAUT files keep names for animations and other runs).',
  ),
  'shadowed-name': language('hint', 'A function argument hides a declared name or `t`.'),
  'name-case': language('hint', 'A name used with another case than declared.'),
  unsupported: language(
    'warning',
    'A construct (an XPPAUT one, a function) this release does not support (error, warning or information by how much it matters).',
  ),
  'invalid-markov': language(
    'error',
    'A `markov NAME NSTATES` line without a whole number of states from 1 to 50, or whose transition table (NSTATES rows of NSTATES `{formula}` entries on the lines after it) has the wrong number of entries, a transition rate that is not a scalar formula, or an initial value (`init NAME=…`) that is not one of its states.',
  ),
  'unsupported-markov': language(
    'error',
    'An array of Markov variables (`markov z[1..n] …`), or a Markov variable in a model whose solve its realisation cannot follow: with events (`global`), delays, Volterra integrals, a DAE or a map, or right-hand sides the fused solve cannot write out element by element (tensors of rank 3 or more).',
  ),
  'dae-equations': language(
    'error',
    'A differential-algebraic system whose `0 = …` equations do not match its algebraic variables (`solv name=guess`): their counts differ, or a variable appears in no equation.',
  ),
  'unsupported-volterra': language(
    'error',
    'A Volterra integral (`int{…}`) where the solve cannot evaluate it: in the loss or an initial value, with a non-scalar integrand, an integral inside an integral, or a kernel that reads the state.',
  ),
  'volterra-kernel': language('error', 'The exponent mu of `int[mu]{…}` is outside [0, 1) (XPPAUT refuses it too).'),
  'volterra-model': language(
    'information',
    "The model has Volterra integrals or integral equations: solved by XPPAUT's volterra scheme (implicit trapezoid with product integration over the stored history), whatever `meth` says; AD and finite differences check it, and its continuous reference is the limit of the same scheme on refined grids (2N and 4N steps).",
  ),
  'unsupported-export': language(
    'error',
    '`export`: variables exchanged with a C library XPPAUT loads, which ODE Lens cannot run.',
  ),
  'unsupported-gillespie': language(
    'error',
    "`special … = gill(…)`: XPPAUT's Gillespie simulation of reactions, a random jump process with no gradient to check.",
  ),
  'unsupported-import': language(
    'error',
    '`special … = import(…)` (or `import`): right-hand sides computed by a C library XPPAUT loads, which ODE Lens cannot run.',
  ),
  'unsupported-include': language(
    'warning',
    '`#include`: XPPAUT reads another file in; ODE Lens checks the file alone.',
  ),
  'invalid-event': language(
    'error',
    'A `global` line with a sign other than 1, -1 or 0, a condition that is not a scalar, or an event that sets something other than a state.',
  ),
  'ignored-event': language(
    'information',
    'An XPPAUT event with no meaning for a fixed-step check (`out_put`, `arret`, `no_interp`); it is ignored.',
  ),
  'delay-bound': language(
    'warning',
    "`delay(x, tau)` without `@ delay=` (XPPAUT's maximal delay, default 0), or with a constant delay beyond it.",
  ),
  'internal-error': language(
    'error',
    'The file could not be analysed because of a bug in ODE Lens (the message has the details).',
  ),

  'weakly-stable': explain(
    schemes(
      'warning',
      'The selected scheme is weakly stable and the model has per-step parameters: AD gradients oscillate (information when a correction is set).',
    ),
    {
      meaning:
        "A weakly stable multistep scheme (leapfrog, Milne) has a second root of its characteristic polynomial ρ on the unit circle. Run backwards by automatic differentiation, that root excites a period-2 mode in the adjoint: each layer's gradient alternates around the gradient of the ODE flow, by as much as the gradient itself, and this does not shrink as the step shrinks. Reported from the scheme's coefficients alone, before any check runs.",
      figure:
        'The parasitic root (e.g. −1 for leapfrog); a check then measures the oscillation (`weakly-stable-scheme`).',
      remedies: OSCILLATION_REMEDIES,
    },
  ),
  'zero-copy-weight': schemes('warning', 'A per-step parameter copy has quadrature weight 0: it gets no gradient.'),
  'zero-stage-weight': explain(
    schemes('warning', 'With `tie=stage`, a stage of weight b = 0 gets almost no gradient.'),
    {
      meaning:
        'With one parameter copy per Runge–Kutta stage (`tie=stage`), a stage whose weight b_i is 0 (the first stage of the explicit midpoint method) only feeds the later stages: its copy gets an O(h²) gradient and the other stage gets everything, so the per-stage gradients are off by 100 % at every step size.',
      figure: 'The stages with b = 0, from the tableau (no run needed).',
      remedies: STAGE_REMEDIES,
    },
  ),
  'repeated-stage-time': explain(
    schemes('warning', 'With `tie=stage`, two stages share a time: only the sum of their copies is fixed by the flow.'),
    {
      meaning:
        'Two stages evaluated at the same instant (RK4 has two at t_n + h/2) have one copy each with `tie=stage`; the flow fixes only their weighted sum, so training can pull the two copies apart without changing the loss.',
      remedies: [STAGE_REMEDIES[1]],
    },
  ),
  'tie-ignored': explain(schemes('information', '`tie=stage` has no effect with a multistep scheme.'), {
    meaning:
      'A multistep scheme evaluates the right-hand side once per step, so there is one copy per step whatever `tie` says.',
    remedies: [{ fix: 'remove `tie=stage`', tradeOff: 'None: the setting has no effect (the editor shows it faded).' }],
  }),
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

  'oscillating-gradient': explain(
    check('warning', 'The AD gradient of a per-step parameter oscillates from layer to layer (on its declaration).'),
    {
      meaning:
        "The gradient automatic differentiation gives each layer's copy of this parameter alternates in sign around the gradient of the ODE flow. An optimiser that follows it trains the zig-zag, not the flow: the learned parameters describe no ODE. The related location is the scheme option that causes it.",
      figure:
        'α = ‖alternating part‖ / ‖gradient‖ (flagged above 0.1) and β = alternating part against smooth curvature (above 10), then the relative error of the raw gradient against the continuous reference and the error the correction would leave. Where the corrected gradient is under a quarter of the flow gradient (as where training with the correction has come to rest), the message says so: a large corrected error there is how far the network is from the flow, not the oscillation, and a refinement study shows it fall with more steps if the correction converges. The quick fixes carry these figures in their titles.',
      remedies: OSCILLATION_REMEDIES,
    },
  ),
  'zigzag-copies': explain(
    check(
      'warning',
      "A per-step parameter's copies themselves zig-zag from layer to layer (on its declaration): trained on oscillating AD gradients.",
    ),
    {
      meaning:
        'The values checked, not their gradient, alternate from layer to layer: the pattern that gradient descent with raw AD under a weakly stable scheme trains into per-step copies. Such parameters fit the discrete network but describe no ODE flow: the oscillation is in the parameters, not only in their gradient, and a correction of the gradient need not bring them back (the message says so when the check measured the corrected error at these values).',
      figure:
        "α and β of the copies (the detector's figures, on the values), the discrete loss, and the flow loss: the loss of the same copies, interpolated in t, solved accurately (the continuous reference's solve). A flow loss far above the discrete one says the copies serve the scheme's parasitic mode.",
      remedies: [
        {
          fix: 'retrain with `gradfix=filter121` from smooth copies',
          tradeOff:
            'Train with Raw and Corrected Gradients (or `odelens train --gradient filter121`) from the seeded copies: corrected gradients keep the copies smooth, so the discrete and the flow loss fall together. The zig-zag values are not worth keeping.',
        },
        {
          fix: '`meth=heun` or `meth=rk4` (steps unchanged)',
          tradeOff: 'A strongly stable scheme has no parasitic mode to train; its parameters are trained again.',
        },
      ],
    },
  ),
  'weakly-stable-scheme': explain(
    check(
      'warning',
      "The selected scheme is weakly stable, measured (on the `meth` value; replaces the static 'weakly-stable').",
    ),
    {
      meaning:
        'The static `weakly-stable` warning, confirmed by a run: the parameters it names oscillate, and re-solved with another step count they oscillate as much (the effect does not vanish as h → 0).',
      figure: 'α and β of the worst parameter, its relative error, and α again at the second step count.',
      remedies: OSCILLATION_REMEDIES,
    },
  ),
  'stage-imbalance': explain(check('warning', 'Per-stage parameter copies are out of balance (κ > 0.3).'), {
    meaning:
      "The per-stage copies of a parameter (`tie=stage`) do not each follow the flow's gradient at their stage time: the gradient is split unevenly between stages.",
    figure:
      'κ = distance of the per-stage gradients from their step sum, relative (flagged above 0.3), and the relative error.',
    remedies: STAGE_REMEDIES,
  }),
  'correction-substituted': check(
    'information',
    'The selected correction does not apply to this model; another one is shown instead.',
  ),
  'vanishing-gradient': check(
    'information',
    'The AD gradient of a parameter is exactly zero (warning when kinks such as relu explain it; information, saying so, when the loss itself is exactly 0: the network reaches its target, or the default loss ½‖x(T)‖² of a model without a loss line is 0 because every state ends at 0; or when only ignored lines (`aux`, `bdry`) or the formula of a table, sampled once, read it).',
  ),
  'gradcheck-mismatch': check(
    'warning',
    "AD disagrees with finite differences of the discrete model, at three steps that agree with each other. On a non-smooth model the warning and the verdict say the steps may cross a kink; with events on the whole-solve kernel only steps whose perturbed solves fire at the unperturbed one's steps count, so the events' jumps are not named as a cause.",
  ),
  'gradcheck-unresolved': check(
    'information',
    "Finite differences cannot judge AD for a parameter (extreme sensitivity or float32 rounding): the note gives the steps compared and AD's difference there, and when the ladder ended at its second step because the two quotients scatter (they differ by more than the coarser one, and AD's slope is more than 100 times either, a sensitivity the perturbed solves do not show at these steps, so that a step 4 times finer could not come within 5 %), it says so with their difference. Or their time budget (1.5× the AD solve's cost, at least 4 s) stopped the finer steps that would show whether they settle: the note then gives the steps taken, AD's difference there, the time spent, the next pass's predicted time and the budget. With events (on the whole-solve kernel), a step whose perturbed solve fires at other steps than the unperturbed one moved a firing across a grid point, where the network's loss jumps, and is not compared with AD (the derivative with the firing steps held fixed); when every step down to the finest the loss resolves did so, the note says that finite differences see the network's jumps, not its slope, with the steps taken. On extreme sensitivity the note also names the setting `odeLens.check.finiteDifferences` (and `odelens check --no-gradcheck`), which skips the finite differences: AD is then judged against the continuous reference alone, and where the model has none, the `reference-unavailable` note says that nothing in the check judges AD.",
  ),
  'nothing-to-check': check(
    'information',
    "The model has neither a parameter nor a state whose initial value it sets (an integral equation's u(t) is given by its equation): there is nothing to differentiate, so no gradient is checked; the solve runs and its loss is reported (on the first equation).",
  ),
  'initial-values-checked': check(
    'information',
    'The model declares no parameter: the check differentiates the loss with respect to the initial values x(0) of its states (on the first initial value).',
  ),
  'event-firing-time': explain(
    check(
      'information',
      "Events snap to the grid: AD has no gradient of the firing time, so it differs from the continuous reference by the firing-time term (on the first `global` line; a warning when AD points uphill for the flow's loss).",
    ),
    {
      meaning:
        "The network applies each reset at the grid point after its condition crosses, a point that does not move with the parameters; the continuous reference locates each firing inside its step and differentiates its time too (the adjoint's jump condition with the saltation matrix). AD and finite differences of the network, which agree, miss the firing-time term: as dt → 0 AD tends to the flow's gradient with the firing times held fixed, and the gap does not shrink. Reported when AD is more than 10% from the flow's gradient for some parameter; information, since the network is differentiated exactly, unless AD's dot product with the flow's gradient is negative (a gradient step on the network makes the continuous model worse): then a warning.",
      figure:
        "The number of firings and, per parameter, AD's relative error against the flow's gradient, against the gradient with the firing times held fixed (small: the firing time is the whole difference), and the firing-time term's share of the flow's gradient.",
    },
  ),
  'map-event-edge': explain(
    check(
      'information',
      "A map's event condition sits exactly on 0 at an iteration, on the edge of its firing test, and moves with parameters it reads (not with the states): the loss jumps in those parameters on one side, and AD and the map's reference give its slope on the side the map took (on the `global` line).",
    ),
    {
      meaning:
        "A map fires a reset at the iteration where its condition crosses; the map's reference, like AD, holds those iterations fixed, which is the loss's derivative wherever they do not move with the parameters. A condition exactly 0 where its test would change outcome if it moved off 0 (XPPAUT's `global 0 t-t0 {…}` at t = t0: sign 0 needs a nonzero value before the step) moves the firing with the parameters it reads: a change of one of them on one side fires (or stops) the reset there and the loss jumps. The gradients in those parameters are one-sided; the others are the loss's own. Finite differences whose probes cross the jump are set aside. A condition on the edge that moves with the states (hence with every parameter) leaves the map with no reference instead (`reference-unavailable`).",
      figure: 'The time of the iteration and the parameters the condition moves with.',
    },
  ),
  'reference-unavailable': check(
    'information',
    'The continuous reference gradient is not computed for this model (events it cannot differentiate; Volterra integrals or delays whose refined solves would take more than about 4 s, not fit in memory, or not stay finite; per-step parameters with integrals or delays; an accurate solve, by explicit RK4, that blows up on a stiff model whose own solve stays finite, when the stable step it needs — estimated from the spectral radius of ∂f/∂x, given in the note with the steps, their predicted time and the budget of 4 s — does not fit its time or memory budget, or still blows up), or cannot judge AD (it overflows float32, or its own estimated error is above 5%): the cause is named on its line.',
  ),
  'blow-up': check(
    'error',
    "The solve or its gradient is not finite (names the step and time, on the equation), or a backward Euler step's implicit equation is one Newton's method does not solve (names the residual it reached, on the equation that kept it).",
  ),
  'volterra-not-converged': check(
    'warning',
    "A step of XPPAUT's volterra scheme whose fixed-point corrections did not settle in 10 (names the first such step and its time, on the first integral): the step is taken as it stands, and AD differentiates the corrections taken. Information instead when the last correction moved the states by less than 1e-4 (a near miss of the 1e-6 tolerance).",
  ),
  'markov-realisation': check(
    'information',
    'The model has Markov variables (`markov`): the check draws one seeded realisation of each chain along a solve at the checked parameter values and holds it fixed, so the gradients are those of that sample path with its jump times held where they are; how the rates move the jumps is not part of them (on each `markov` line, with its jump count).',
  ),
  'step-halved': check(
    'information',
    'An XPPAUT method that chooses its own steps (adaptive or stiff) blew up as a fixed step at dt and was checked at dt/2, dt/4 or dt/8 (on the meth value).',
  ),
  'invalid-options': check('error', 'The options give no solvable step count or step size.'),
  'model-too-large': check(
    'error',
    "The model has too many steps or parameter values to check, AD through its solve outgrows the memory, or its fused program's solves would run more than `MAX_SOLVE_WORK` operations each (the message gives the operations per evaluation of f, the evaluations per solve and their product).",
  ),
  'unsupported-expression': check('error', 'The engine cannot compile an expression (e.g. a tensor of rank above 2).'),
  'unsupported-dae': check(
    'error',
    'A differential-algebraic system the engine cannot solve: its algebraic variables are read where the fused program (the only home of their Newton solve) does not run.',
  ),
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
