// The English text of the gradient check's findings and their remedies. The
// engine decides what it found and with which figures; this module says it.
// The static diagnostics of the front end (schemes/analysis.ts) take their
// remedies from here too, so a warning reads the same before and after a check.
import type { GradEngine, GradFix } from '../model';
import type { ParameterMetrics, ParameterSummary, Refinement } from '../report';
import { DETECTOR } from '../engine/detect';
import { EVENT_JUMPS } from '../engine/kinks';
import {
  FD_BUDGET_FACTOR,
  FD_MIN_BUDGET_MS,
  firingsKept,
  firingsMoved,
  GRADCHECK_TOLERANCE,
  MIN_RESOLUTION,
  SCATTER_SENSITIVITY,
  type GradcheckFirings,
} from '../engine/finiteDifferences';
import { OSCILLATION_CORRECTIONS, RECOMMENDED_CORRECTION } from '../registry/corrections';
import { STRONGLY_STABLE_REMEDIES } from '../schemes/registry';
import { formatNumber as fmt, formatRatio, namedRatio } from './format';

type Correction = Exclude<GradFix, 'none'>;

/** Strongly stable schemes offered in place of a weakly stable one (the scheme registry's `remedy` entries). */
export const STRONGLY_STABLE_SCHEMES = STRONGLY_STABLE_REMEDIES;

/**
 * What to do about a weakly stable scheme with per-step parameters, given the model's settings: the one remedy
 * list of both the static `weakly-stable` diagnostic and the measured `weakly-stable-scheme` finding.
 * `correctedError`: the recommended correction's measured error, when a check measured it.
 */
export function weaklyStableRemedy(s: {
  gradfix: GradFix;
  grad: GradEngine;
  recommended?: Correction;
  correctedError?: number;
  /** The measured ‖corrected‖ / ‖reference‖ (ParameterMetrics.correctedNormRatio). */
  correctedNormRatio?: number;
}): string {
  if (OSCILLATION_CORRECTIONS.includes(s.gradfix)) return `gradfix=${s.gradfix} corrects this.`;
  if (s.grad === 'adjoint') return 'grad=adjoint computes gradients from the continuous adjoint instead.';
  const fix = s.recommended ?? RECOMMENDED_CORRECTION;
  const measured =
    s.correctedError !== undefined && Number.isFinite(s.correctedError)
      ? ` (error ${fmt(s.correctedError)}${s.correctedNormRatio !== undefined && s.correctedNormRatio < STATIONARY_NORM ? ', where its gradient nearly vanishes: training with it has come to rest' : ''})`
      : '';
  return `Set gradfix=${fix}${measured}, use grad=adjoint, or switch to a strongly stable scheme (${STRONGLY_STABLE_SCHEMES.join(', ')}).`;
}

/** The front end's note on a model without a loss; the engine checks gradients of exactly this loss (engine/compile.ts). */
export const DEFAULT_LOSS_MESSAGE =
  'No loss declared: gradients are checked for ½‖x(T)‖² (half the sum of squares of every state at the final time). Add a `loss = …` line to check your own.';

type Level = Refinement['levels'][number];

/** What a refinement study shows for one error (raw or corrected): its first level, its last level above the float32 floor, the order between them. */
export interface StudySpan {
  first: Level;
  last: Level;
  order: number;
  words: string;
}

/**
 * The span of a study for one error; `words` says where float32 resolution cuts it ('' when it does not):
 * ", at float32 resolution (≤ 3e-6) at every step count, so no order is observed" or "; at float32 resolution (≤ 3e-6) from 256 steps on".
 */
export function studySpan(r: Refinement, error: (l: Level) => number, order: number): StudySpan {
  const below = r.levels.findIndex((l) => !(error(l) > r.errorFloor));
  const floor = `float32 resolution (≤ ${fmt(r.errorFloor, 2)})`;
  const last = below < 0 ? r.levels[r.levels.length - 1] : r.levels[Math.max(0, below - 1)];
  const words =
    below < 0
      ? ''
      : below === 0
        ? `, at ${floor} at every step count, so no order is observed`
        : `; at ${floor} from ${r.levels[below].steps} steps on`;
  return { first: r.levels[0], last, order, words };
}

/** "raw error 1.24 → 1.24 from 64 to 256 steps (order 0.0017)", or the first level's error and where float32 resolution stops the study. */
export function studyClause(r: Refinement, label: string, error: (l: Level) => number, order: number): string {
  const s = studySpan(r, error, order);
  if (!Number.isFinite(s.order) || s.last === s.first)
    return `${label} ${fmt(error(s.first))} at ${s.first.steps} steps${s.words}`;
  return `${label} ${fmt(error(s.first))} → ${fmt(error(s.last))} from ${s.first.steps} to ${s.last.steps} steps (order ${fmt(s.order, 2)})${s.words}`;
}

/** The refinement study in one sentence, for finding messages ('' without a study of two levels). */
export function studySentence(p: ParameterSummary, correction: string): string {
  const r = p.refinement;
  if (!r || r.levels.length < 2) return '';
  return ` Refinement: ${studyClause(r, 'raw error', (l) => l.relError, r.rawOrder)}; ${studyClause(r, correction, (l) => l.correctedRelError, r.correctedOrder)}.`;
}

export interface OscillationText {
  name: string;
  metrics: ParameterMetrics;
  gradfix: GradFix;
  correction: Correction;
  /** Steps of the base solve (the default second level is 2N). */
  steps: number;
  /** α at the second step count shrinks like h: an O(h) effect. */
  decays: boolean;
  study: string;
}

/** A corrected gradient below this fraction of the reference's nearly vanishes: the values are a stationary point. */
const STATIONARY_NORM = 0.25;

/**
 * What a large corrected error means where the corrected gradient nearly vanishes against the flow's (as at the end
 * of training with the correction): not the oscillation, but the network's own distance from the flow; else ''.
 */
export function stationaryClause(m: ParameterMetrics): string {
  const r = m.correctedNormRatio;
  if (r === undefined || !(r < STATIONARY_NORM)) return '';
  return `, a gradient that nearly vanishes here (${fmt(r)} of the flow's): training with it has come to rest at these values, and what remains is the flow's own gradient there, which measures how far the network is from the flow (its discretisation error), not the oscillation; a refinement study (Refine, or --refine) shows how it changes with more steps`;
}

export function oscillatingGradientMessage(o: OscillationText): string {
  const m = o.metrics;
  const known = Number.isFinite(m.relError);
  const stationary = known ? stationaryClause(m) : '';
  const fix =
    o.gradfix !== 'none'
      ? `even after ${o.correction}${known ? ` (corrected error ${fmt(m.correctedRelError)}${stationary})` : ''}`
      : `${o.correction} would ${known ? `give ${fmt(m.correctedRelError)}${stationary}` : 'remove it'}`;
  const refined =
    m.refinedAlpha !== undefined
      ? ` With ${m.refinedSteps ?? 2 * o.steps} steps ${namedRatio('α', m.refinedAlpha)}${o.decays ? ' (scales with h: an O(h) effect that vanishes)' : ' (does not vanish as h → 0)'}.`
      : '';
  return (
    `AD gradient of ${o.name} oscillates from layer to layer (${namedRatio('α', m.alpha)}, ${namedRatio('β', m.beta)})` +
    `${known ? `: relative error ${formatRatio(m.relError)} against the continuous gradient` : ''}; ${fix}.${refined}${o.study}`
  );
}

/** A corrected error at least this large: the correction leaves the gradient about as far from the flow's as raw AD. */
const ZIGZAG_UNCORRECTED = 0.5;

/**
 * A per-step parameter whose copies themselves zig-zag (metrics.copiesAlpha): "The copies of b1 themselves zig-zag
 * … the same copies solved accurately give loss 0.889 …".
 */
export function zigzagCopiesMessage(z: {
  name: string;
  metrics: ParameterMetrics;
  loss: number;
  /** The reference's accurate solve of the interpolated copies (NaN without a reference). */
  flowLoss: number;
  correction: Correction;
}): string {
  const m = z.metrics;
  const flow = Number.isFinite(z.flowLoss)
    ? ` They fit the discrete network (loss ${fmt(z.loss)}) and not the ODE flow: the same copies solved accurately give loss ${fmt(z.flowLoss)}.`
    : '';
  // Said only when measured: at such values the corrected gradient stays as far from the flow's as the raw one.
  const uncorrectable =
    Number.isFinite(m.correctedRelError) && m.correctedRelError >= ZIGZAG_UNCORRECTED
      ? ` At these values correcting the gradient does not recover the flow's (${z.correction}'s error here: ${fmt(m.correctedRelError)}).`
      : '';
  return (
    `The copies of ${z.name} themselves zig-zag from layer to layer (${namedRatio('α', m.copiesAlpha ?? NaN)}, ${namedRatio('β', m.copiesBeta ?? NaN)} of the values, not of the gradient): ` +
    `the pattern that training on raw AD gradients under a weakly stable scheme leaves.${flow}${uncorrectable} ` +
    `Retrain from smooth copies with gradfix=${z.correction}.`
  );
}

export function stageImbalanceMessage(s: {
  name: string;
  metrics: ParameterMetrics;
  gradfix: GradFix;
  correction: Correction;
  recommended?: Correction;
  study: string;
}): string {
  const m = s.metrics;
  const fix =
    s.gradfix === 'stagesum'
      ? 'stagesum is on.'
      : `${s.recommended === 'stagesum' ? 'stagesum' : s.correction} would give ${fmt(m.correctedRelError)}, or tie the stages (tie=step).`;
  return `Per-stage AD gradients of ${s.name} do not follow the flow stage by stage (κ=${fmt(m.kappa)} > ${DETECTOR.kappa}): relative error ${formatRatio(m.relError)}; ${fix}${s.study}`;
}

export function weaklyStableSchemeMessage(s: {
  meth: string;
  flagged: string[];
  worst: string;
  metrics: ParameterMetrics;
  steps: number;
  gradfix: GradFix;
  grad: GradEngine;
  correction: Correction;
  recommended?: Correction;
}): string {
  const m = s.metrics;
  const root = s.meth === 'leapfrog' ? 'parasitic root −1' : 'a second root of ρ on the unit circle';
  const again =
    m.refinedAlpha !== undefined
      ? `; ${namedRatio('α', m.refinedAlpha)} again with ${m.refinedSteps ?? 2 * s.steps} steps. `
      : '. ';
  const remedy =
    s.gradfix !== 'none'
      ? `${s.correction} is already on and does not remove it.`
      : weaklyStableRemedy({
          gradfix: s.gradfix,
          grad: s.grad,
          recommended: s.recommended,
          correctedError: m.correctedRelError,
          correctedNormRatio: m.correctedNormRatio,
        });
  return (
    `${s.meth} is weakly stable (${root}): AD adjoints oscillate with period 2 and this does not vanish as h → 0. ` +
    `Measured on ${s.flagged.join(', ')}: ${namedRatio('α', m.alpha)}, ${namedRatio('β', m.beta)}, relative error ${formatRatio(m.relError)} (${s.worst})${again}${remedy}`
  );
}

/** Names of the model's non-smooth operations (relu, abs, if/then/else, …): where finite differences cross kinks. */
export type Kinks = readonly string[];

const kinkList = (kinks: Kinks) => kinks.join(', ');

export function gradcheckUnresolvedMessage(s: {
  name: string;
  relError: number;
  step: number;
  resolution: number;
  tooSmall: boolean;
  kinks: Kinks;
  /** The finer steps were not taken for the time budget (GradcheckResult.budget). */
  budget?: { steps: number[]; spentMs: number; nextMs: number; budgetMs: number; solves: number };
  /** The ladder ended at its second compared step: the quotients scatter away from AD (GradcheckResult.scatter). */
  scatter?: { steps: number[]; spread: number };
  /** Where the solves record firings (GradcheckResult.firings). */
  firings?: GradcheckFirings;
}): string {
  const head = `Finite differences cannot check the AD gradient of ${s.name}`;
  const f = s.firings;
  if (f && firingsMoved(f) && !s.tooSmall) return `${head}: ${movedEverywhere(s.name, f, s.budget)}`;
  // Quotients that kept every firing were judged: the events' jumps are not what keeps them from settling.
  const kinks = firingsKept(f) ? s.kinks.filter((k) => k !== EVENT_JUMPS) : s.kinks;
  const moved = !!f && f.moved > 0;
  const before = moved ? `${movedFirst(f)}; ` : '';
  if (s.budget) {
    const compared = { ...s.budget, steps: s.budget.steps.slice(f?.moved ?? 0) };
    return `${head}: ${before}${budgetStopped(compared, s.relError, moved)} ${unresolvedCause(s.name, kinks)}`;
  }
  if (s.tooSmall) {
    return (
      `${head}: along their probe direction the loss changes by only ${fmt(s.resolution)}× its float32 rounding at step ${fmt(s.step)}, too little to resolve. ` +
      `The loss hardly depends on ${s.name} here (AD's gradient is tiny); this is not a sign of a wrong gradient.`
    );
  }
  // The ladder of three compared steps, or fewer where the quotients scatter or a finer step would not resolve the
  // loss (after moved firings).
  const compared = s.scatter?.steps ?? (f ? f.steps.slice(f.moved) : [16 * s.step, s.step]);
  // Too few resolvable steps kept the firings: that, not the model, is why they cannot judge.
  if (f?.stop === 'resolution' && compared.length < 3)
    return `${head}: ${before}at ${stepList(compared, moved)} AD differs from them by ${relative(s.relError)} relative, and a finer step would move the loss by less than ${MIN_RESOLUTION} times its float32 rounding, too little to show whether they settle.`;
  const unsettled = `${moved ? 'at the finer steps that kept every firing, ' : ''}they do not settle as the step shrinks from ${fmt(compared[0])} to ${fmt(s.step)}, and AD differs by ${relative(s.relError)} relative.${s.scatter ? ` ${scattered(s.scatter.spread)}` : ''}`;
  return `${head}: ${before}${unsettled} ${unresolvedCause(s.name, kinks)}`;
}

/** Why the ladder ended at two compared steps (GradcheckResult.scatter; engine/finiteDifferences.ts, scatters). */
function scattered(spread: number): string {
  return `The two quotients differ by ${relative(spread)} relative to the coarser one, and AD's slope is more than ${SCATTER_SENSITIVITY} times either (a sensitivity the perturbed solves do not show at these steps, as on chaotic dynamics): a step 4 times finer could not come within ${GRADCHECK_TOLERANCE * 100} % of it, so none was taken.`;
}

/** "step a" or "steps a, b and c"; `finer`: "the finer step(s) …, which kept every firing,". */
function stepList(steps: number[], finer = false): string {
  const x = steps.map((v) => fmt(v));
  const list = x.length > 1 ? `steps ${x.slice(0, -1).join(', ')} and ${x[x.length - 1]}` : `step ${x[0]}`;
  return finer ? `the finer ${list}, which kept every firing,` : list;
}

/** "step a" or "every step from a down to b". */
function stepRange(steps: number[]): string {
  return steps.length > 1
    ? `every step from ${fmt(steps[0])} down to ${fmt(steps[steps.length - 1])}`
    : `step ${fmt(steps[0])}`;
}

const relative = (e: number) => (e >= 1e6 ? 'more than 10⁶' : fmt(e));

type FdBudget = NonNullable<Parameters<typeof gradcheckUnresolvedMessage>[0]['budget']>;

/** What finite differences measured before their time budget stopped the finer steps, with the figures. */
function budgetStopped(b: FdBudget, relError: number, finer = false): string {
  return `at ${stepList(b.steps, finer)} AD differs from them by ${relative(relError)} relative, and the finer steps that would show whether they settle were not taken: ${budgetSpent(b)}`;
}

/** The time budget's figures when it stopped the finer steps. */
function budgetSpent(b: FdBudget): string {
  return (
    `finite differences had used ${fmt(b.spentMs / 1000)} s of CPU time, and the next ${b.solves} perturbed solves would take about ${fmt(b.nextMs / 1000)} s more, ` +
    `over their time budget of ${fmt(b.budgetMs / 1000)} s (${FD_BUDGET_FACTOR}× the AD solve's CPU time, at least ${FD_MIN_BUDGET_MS / 1000} s).`
  );
}

/** The larger steps that moved a firing across a grid point (GradcheckResult.firings), not compared with AD. */
function movedFirst(f: GradcheckFirings): string {
  return `at ${stepRange(f.steps.slice(0, f.moved))} a perturbed solve fired at other steps than the unperturbed one (a firing moved across a grid point, where the network's loss jumps), so ${f.moved > 1 ? 'those quotients were' : 'that quotient was'} not compared with AD`;
}

/**
 * Every step finite differences took moved a firing of an event across a grid point (GradcheckResult.firings),
 * so none was compared with AD; and why no finer step was taken.
 */
function movedEverywhere(name: string, f: GradcheckFirings, budget: FdBudget | undefined): string {
  const first = f.steps[0],
    last = f.steps[f.steps.length - 1];
  const stop =
    f.stop === 'budget' && budget
      ? `the finer steps were not taken: ${budgetSpent(budget)}`
      : f.stop === 'finest'
        ? `${fmt(last)} is the finest step they take (${Math.round(first / last)} times finer than the first): a firing that moves even there sits almost on its grid point, or the firing times are extremely sensitive to ${name} (chaotic dynamics).`
        : `a finer step would move the loss by less than ${MIN_RESOLUTION} times its float32 rounding, too little to resolve.`;
  return (
    `at ${f.steps.length > 1 ? stepRange(f.steps) : `its step ${fmt(first)}`}, a perturbed solve fired at other steps than the unperturbed one: a firing moved across a grid point, where the network's loss jumps ` +
    `(each reset sits at the grid point after its condition crosses). So finite differences see the network's jumps, not its slope, and none was compared with AD, ` +
    `the derivative with the firing steps held fixed; ${stop} This is not a sign of a wrong gradient.`
  );
}

/** Why finite differences may not settle on this model: its kinks or jumps, else extreme sensitivity. */
function unresolvedCause(name: string, kinks: Kinks): string {
  if (kinks.length > 0) {
    // Events alone: the loss jumps by O(dt) wherever a firing moves across a grid point.
    const events = kinks.every((k) => k === EVENT_JUMPS);
    return (
      `The model is not smooth (${kinkList(kinks)}): the finite-difference steps cross points where the loss has a kink or a jump, ` +
      `so their slopes depend on the step, while AD takes the one-sided derivative at the current values. This is not a sign of a wrong gradient; ${events ? "each reset sits at the grid point after its condition crosses, so the network's loss jumps wherever a firing moves across a grid point, and steps that cross such jumps tend to the flow's gradient, with the firing-time term AD has not." : 'a smooth activation (tanh, sigmoid) makes it checkable.'}`
    );
  }
  return `The loss is extremely sensitive to ${name} over this horizon (chaotic or unstable dynamics); a shorter total makes it checkable, and turning finite differences off (the setting odeLens.check.finiteDifferences, odelens check --no-gradcheck) saves their perturbed solves.`;
}

/**
 * `firingsKept`: the steps compared kept every firing at its grid step (GradcheckResult.firings), so the events'
 * jumps do not explain the disagreement.
 */
export function gradcheckMismatchMessage(name: string, relError: number, kinks: Kinks, firingsKept = false): string {
  const others = firingsKept ? kinks.filter((k) => k !== EVENT_JUMPS) : kinks;
  const kept = firingsKept
    ? ", at steps whose perturbed solves fired at the unperturbed one's steps (the events' jumps do not explain it)"
    : '';
  return (
    `AD gradient of ${name} disagrees with finite differences of the discrete loss (relative difference ${formatRatio(relError)})${kept}` +
    (others.length > 0
      ? `; the model is not smooth (${kinkList(others)}), and finite differences that cross a kink differ from AD's one-sided derivative.`
      : '.')
  );
}

/** Why an ignored line does not enter the checked solve, by its keyword. */
const IGNORED_BECAUSE: Readonly<Record<string, string>> = {
  bdry: 'it checks the initial-value problem',
  bndry: 'it checks the initial-value problem',
  b: 'it checks the initial-value problem',
  aux: 'an auxiliary output is not part of the solve',
  a: 'an auxiliary output is not part of the solve',
  set: 'a named set is applied by XPPAUT on request',
};

/** The vanishing-gradient note of a loss that is exactly 0: the network reaches its target, not a dead parameter. */
export const ZERO_LOSS_CAUSE =
  'The loss is exactly 0 at these values (the network reaches its target exactly in float32), so every gradient of it vanishes: a network at its minimum, not a parameter that cannot train.';

/**
 * The same for ODE Lens's default loss ½‖x(T)‖²: a model without a loss line whose states all end at 0 (it starts
 * at an equilibrium at the origin, say) has nothing to train towards; its own loss would be checked.
 */
export const ZERO_DEFAULT_LOSS_CAUSE =
  'The default loss ½‖x(T)‖² is exactly 0 at these values (every state ends at 0, as when the solution starts at an equilibrium at the origin), so every gradient of it vanishes. A `loss = …` line of your own checks the gradients you care about.';

/** What alone reads a parameter the checked solve does not: ignored lines (their keyword), or a table's formula. */
export type ReadOnlyBy = { lines: string } | { table: string } | { markov: string };

export function vanishingGradientMessage(
  name: string,
  kinks: Kinks,
  readOnlyBy?: ReadOnlyBy,
  initialValue = false,
  zeroLoss: 'default' | 'declared' | false = false,
): string {
  if (zeroLoss && !readOnlyBy)
    return `The AD gradient of ${name} is exactly zero in every component. ${zeroLoss === 'default' ? ZERO_DEFAULT_LOSS_CAUSE : ZERO_LOSS_CAUSE}`;
  const cause = readOnlyBy
    ? 'table' in readOnlyBy
      ? ` It is read only in the formula of table '${readOnlyBy.table}', which is sampled once at its value: the samples carry no gradient, so the solve and the loss do not depend on it.`
      : 'markov' in readOnlyBy
        ? ` It is read only by the transition rates of Markov variable ${readOnlyBy.markov}, whose path the check draws once and holds fixed: along that path the solve and the loss do not depend on it, and how it moves the jumps is not part of AD's gradient.`
        : ` It is read only on \`${readOnlyBy.lines}\` lines, which ODE Lens ignores (${IGNORED_BECAUSE[readOnlyBy.lines] ?? 'they do not enter the checked solve'}), so the solve and the loss do not depend on it.`
    : kinks.includes('relu')
      ? ' Every relu unit it feeds may be inactive (its input below 0 throughout the solve: dead units); start the biases higher or use a smooth activation.'
      : kinks.length > 0
        ? ` The non-smooth operations of the model (${kinkList(kinks)}) have zero slope at these values.`
        : ' The loss does not move with it at these values (it may be at a stationary point, or not reach the loss).';
  // An initial value is an input, not a trained parameter: the loss does not depend on it.
  const effect = initialValue
    ? 'the loss does not depend on this initial value'
    : `${name} gets no gradient and does not train`;
  return `The AD gradient of ${name} is exactly zero in every component: ${effect}.${cause}`;
}

export const invalidOptionsMessage = (steps: number, dt: number) => `cannot solve with steps=${steps} and dt=${dt}`;

export const tooLargeMessage = (steps: number, values: number, maxSteps: number, maxValues: number) =>
  `Too large for a background gradient check: ${steps} steps and ${values} parameter values (limits ${maxSteps} steps, ${maxValues} values).`;

/** A fused model whose solves would run more than MAX_SOLVE_WORK operations each (check/compile.ts). */
export const solveWorkMessage = (perEvaluation: number, evaluations: number, steps: number, limit: number) =>
  `Too costly for a gradient check: one evaluation of the right-hand side runs about ${Math.round(perEvaluation).toLocaleString('en-US')} operations (every term of its sums), and a solve of ${steps} steps evaluates it ${evaluations.toLocaleString('en-US')} times: ${sci(perEvaluation * evaluations)} operations per solve, where a check solves a few dozen times (limit ${sci(limit)} per solve). Fewer steps (a shorter total or a larger dt) or smaller sums make it checkable.`;

const sci = (x: number) => {
  const e = Math.floor(Math.log10(x));
  return `${(x / 10 ** e).toFixed(1)}·10^${e}`;
};

/** A solve stopped before it exhausted the heap (engine/memoryGuard.ts). */
export const solveMemoryMessage = (step: number, steps: number, heapMb: number, limitMb: number) =>
  `Too large for a gradient check in memory: AD through the unrolled solve keeps every step, and at step ${step} of ${steps} it used ${heapMb} MB of the ${limitMb} MB heap. Fewer steps (a shorter total or a larger dt) make it checkable.`;

export const blowUpMessage = (state: string, step: number, time: number, meth: string, dt: number) =>
  `The solution blows up: ${state} is not finite at step ${step} (t = ${fmt(time)}) with ${meth}, dt=${fmt(dt)}${meth === 'backeul' ? " (for backeul: Newton's method found no solution of the implicit step near the previous state)" : ''}. Reduce dt or check the model's scaling.`;

/** f itself is not finite at the initial state, so no step size helps. */
export const initialRhsMessage = (state: string, t0: number, start: string) =>
  `The right-hand side of ${state} is not finite at the initial state (t = ${fmt(t0)}, ${start}): a division by zero or a function outside its domain there (1/x, log, sqrt, a power). No step size helps; start where the model is defined (\`init\` values, or XPPAUT's default 0 for a state without one).`;

/**
 * A backward Euler step whose implicit equation Newton's method did not solve (engine/implicitStep.ts): the solve
 * stops there with states that are not finite, but nothing overflowed. `residual`: the smallest residual met from
 * the previous state, from the explicit Euler predictor and along pseudo-transient continuation, relative to the
 * states (NaN: f is not finite at x_n);
 * `equation`: the state whose equation held its largest entry.
 */
export const newtonFailureMessage = (
  equation: string,
  step: number,
  time: number,
  dt: number,
  residual: number,
  iterations: number,
  tolerance: number,
) =>
  `Newton's method does not converge at step ${step} (t = ${fmt(time)}) with backeul, dt=${fmt(dt)}: ${Number.isFinite(residual) ? `in ${iterations} iterations (from the previous state, from the explicit Euler predictor, then by pseudo-transient continuation), the residual of the implicit equation y = x_n + h f(y) never falls below ${fmt(residual)} relative to the states (the tolerance is ${fmt(tolerance)}; largest in ${equation}'s equation)` : `f is not finite at the previous state (in ${equation}'s equation)`}, so the solve stops there; the states did not blow up. The step's equation has no root within reach of x_n (on a stiff model, typically a fast transient that one step of dt jumps across, or no root at all). Reduce dt or check the model's scaling.`;

/**
 * A DAE's algebraic equations that Newton's method did not solve at an evaluation of f (engine/algebraic.ts): z is
 * not finite from there, so the states are not either.
 */
export const algebraicFailureMessage = (
  names: readonly string[],
  step: number,
  failure: { t: number; reason: 'singular' | 'not-finite' | 'no-convergence'; residual: number; iterations: number },
  meth: string,
  dt: number,
) =>
  `Newton's method does not solve this algebraic equation for ${names.join(', ')} at step ${step} (t = ${fmt(failure.t)}) with ${meth}, dt=${fmt(dt)}: ${
    failure.reason === 'singular'
      ? `∂g/∂(${names.join(', ')}) is singular there after ${failure.iterations} iterations (the residual is ${fmt(failure.residual)}): a fold of the algebraic equations, where their solution branch turns back and the DAE has no continuation in time (XPPAUT stops or jumps to another branch there)`
      : failure.reason === 'not-finite'
        ? 'the equations are not finite at the iterate (a division by zero or a function outside its domain)'
        : `in ${failure.iterations} iterations from the previous solution and from the declared guesses, the residual never falls below ${fmt(failure.residual)}`
  }, so the solve stops there. Check the \`solv\` guesses and the equations near that time.`;

/** Steps of XPPAUT's volterra scheme whose corrections did not settle (engine/volterraKernel.ts), the first named. */
export const volterraUnconvergedMessage = (
  step: number,
  time: number,
  change: number,
  count: number,
  steps: number,
  most: number,
) =>
  `The implicit step of XPPAUT's volterra scheme did not settle in ${most} fixed-point corrections in ${count} of the ${steps} steps, first at step ${step} (t = ${fmt(time)}), where the last correction still moved a state by ${fmt(change)} (relative above 1; the corrections stop below 1e-6). Such steps are taken as they stand (AD differentiates the corrections taken, and finite differences see the same), so the solve there is not XPPAUT's converged one. A smaller dt makes the corrections contract (by about dt/2·|∂f/∂x|).`;

/** The check of an XPPAUT method that chooses its own steps ran on dt/2^k because the fixed step blew up at dt. */
export const stepHalvedMessage = (written: string, meth: string, k: number, dt: number, blowUp: string) =>
  `meth=${written} checked as ${meth} with dt/${2 ** k} = ${fmt(dt / 2 ** k)} (${2 ** k} steps per dt=${fmt(dt)}): at the file's dt the fixed step fails, where XPPAUT's method would shrink its step (${blowUp.replace(/ Reduce dt or check the model's scaling\.$/, '').replace(/\.$/, '')}).`;

/** Appended to a blow-up when halving the step of an XPPAUT method that chooses its own steps did not help. */
export const stepHalvingFailedMessage = (halvings: number) =>
  `The solve fails at dt/2 … dt/${2 ** halvings} too (XPPAUT's method chooses its own steps; the check halves a fixed step at most ${halvings} times).`;

/** A value that is not finite while the states are, e.g. "The loss is not finite (the states stay finite)." */
export const nonFiniteMessage = (what: string) =>
  `The ${what} is not finite${what === 'loss' ? ' (the states stay finite)' : ''}.`;

/** An AD gradient that is not finite under a finite loss: an overflow or a point where f has no derivative. */
export const nonFiniteGradientMessage = (name: string, loss: number, horizon: number) =>
  `The AD gradient of ${name} is not finite while the loss is finite (${fmt(loss)}). Either it overflows float32 — a sensitivity that grows like e^{λT} over a long horizon (chaotic or unstable dynamics; here T = ${fmt(horizon)}), which a shorter total makes checkable — or f has no derivative at a value the solve reaches (sqrt, a power or a division at 0).`;

/** The reference's explicit RK4 blows up where the model's own solve stays finite: a limit of the reference, not the model. */
/**
 * The reference-unavailable note of a reference whose RK4 blows up (check/reference.ts), with the stable step it
 * would need when one was estimated: refused for its predicted time or memory, or still blowing up when solved.
 */
export function referenceBlowUpMessage(
  stable?: {
    spectralRadius: number;
    usualSteps: number;
    stiffAtStart: boolean;
    steps: number;
    seconds: number;
    budgetSeconds: number;
    refused: 'time' | 'memory' | 'unstable';
  },
  /** Why the limit of the model's own implicit scheme on refined grids was not taken either, when it was tried. */
  refined?: string,
): string {
  const head =
    "No continuous reference: its accurate solve (explicit RK4 on a finer step) blows up, while the model's own solve stays finite.";
  const tail = `${refined ? `The limit of the model's implicit scheme on refined grids was not taken either: ${refined}. ` : ''}AD is still compared with finite differences.`;
  if (!stable)
    return `${head} On a stiff model (diffusion on a fine lattice, fast kinetics) an explicit scheme needs a far smaller step than an implicit one like the model's; ${tail}`;
  const rho = !Number.isFinite(stable.spectralRadius)
    ? `the spectral radius of ∂f/∂x could not be estimated (the reference's ${stable.usualSteps} steps were too few)`
    : !stable.stiffAtStart
      ? `the spectral radius of ∂f/∂x at the initial state is about ${fmt(stable.spectralRadius)}, for which the reference's ${stable.usualSteps} steps are stable: the growth comes later along the solution (a faster mode there, or a solution that itself grows without bound)`
      : `the spectral radius of ∂f/∂x at the initial state is about ${fmt(stable.spectralRadius)}, so RK4 is stable only for a step below about 2.8/${fmt(stable.spectralRadius)} (the reference's ${stable.usualSteps} steps were too few)`;
  const grid = stable.stiffAtStart ? 'a stable grid' : 'a finer grid';
  const why =
    stable.refused === 'time'
      ? `${grid} of ${stable.steps} steps would take about ${fmt(stable.seconds)} s, over the reference's budget of ${fmt(stable.budgetSeconds)} s for a stiff model`
      : stable.refused === 'memory'
        ? `${grid} of ${stable.steps} steps (about ${fmt(stable.seconds)} s) would not fit in the reference's memory`
        : `its solve still blows up on ${stable.steps} steps (${fmt(stable.seconds)} s spent)`;
  return `${head} ${stable.stiffAtStart ? 'The model is stiff' : 'Finer steps were tried'}: ${rho}; ${why}. ${tail}`;
}
/**
 * Where a reference's estimated error comes from: its solves on two step sizes, or (`unrefinable`, engine/reference.ts)
 * its one solve's truncation estimate, too large for a solve on half the step to bring under 5 %.
 */
export const referenceErrorSource = (unrefinable: boolean) =>
  unrefinable
    ? 'the truncation estimate of its solve, too large for a solve on half the step to bring under 5 %'
    : 'its solves on two step sizes differ by about that much';

/** A finite reference whose own estimated error is too large to judge AD by (engine/verdict.ts's UNCERTAIN_REFERENCE). */
export const uncertainReferenceMessage = (referenceError: number, unrefinable: boolean) =>
  `The continuous reference cannot judge AD here: its own estimated relative error is ${fmt(referenceError)} (${referenceErrorSource(unrefinable)}: dynamics too fast for dt, or a sensitivity that grows like e^{λT} over a long interval, as on chaotic dynamics), so errors measured against it mean nothing; AD is still compared with finite differences. A smaller dt or a shorter total gives a reference.`;
export const REFERENCE_OVERFLOW_MESSAGE =
  'The continuous reference cannot judge AD here: its solve stays finite, but its adjoint or its error estimate is not finite in float32 (a sensitivity that grows like e^{λT}, as on chaotic dynamics over a long interval); AD is still compared with finite differences. A shorter total gives a reference.';

/** The `event-firing-time` finding (check/eventFindings.ts): what snapping the events to the grid costs AD. */
export function eventFiringTimeMessage(a: {
  firings: number;
  parameters: { name: string; error: number; fixedError: number; share: number }[];
  uphill: boolean;
}): string {
  const each = a.parameters
    .map(
      (p) =>
        `${p.name}: AD differs from the flow's gradient by ${fmt(p.error)} and from the gradient with the firing times held fixed by ${fmt(p.fixedError)}; the firing-time term is ${fmt(p.share)} of the flow's gradient`,
    )
    .join('; ');
  return `Events snap to the grid: AD has no gradient of the firing time. The continuous reference locates ${a.firings} firing${a.firings === 1 ? '' : 's'} inside their steps and differentiates their times too; the network applies each reset at the next grid point, which does not move with the parameters, so AD misses the firing-time term, as do finite differences of the network with steps too small to move a firing across a grid point (larger ones see the network's loss jump there). As dt → 0 AD tends to the gradient with the firing times held fixed, not to the flow's: this gap does not shrink with dt. ${each}.${a.uphill ? " AD points uphill for the flow's loss (its dot product with the flow's gradient is negative): a gradient step on the network makes the continuous model worse." : ''}`;
}

/** The `map-event-edge` finding (check/eventFindings.ts): a map's condition on the edge of its test, moving with parameters it reads. */
export function mapEventEdgeMessage(a: { t: number; parameters: string[] }): string {
  const names = a.parameters.join(', ');
  const one = a.parameters.length === 1;
  return `This event's condition is exactly 0 at t = ${fmt(a.t)}, on the edge of its firing test, and moves with ${names}: a change of ${one ? 'it' : 'them'} on one side makes the map fire there or not, so the loss jumps. The gradient${one ? '' : 's'} of ${names} from AD and from the map's reference (its adjoint with the firing iterations held fixed) ${one ? 'is' : 'are'} the slope on the side the map took; the other parameters' are the loss's own. Finite differences whose probes cross the jump are set aside.`;
}

/** The `markov-realisation` finding (engine/markov.ts): the one path of a Markov variable that the check holds fixed. */
export function markovRealisationMessage(a: {
  name: string;
  states: number;
  jumps: number;
  seed: number;
  steps: number;
}): string {
  return `Markov variable ${a.name} (${a.states} states): the check runs one realisation of its chain, seeded by @ seed=${a.seed} and drawn along a solve at the checked parameter values: ${a.jumps} jump${a.jumps === 1 ? '' : 's'} in ${a.steps} steps. The path is then held fixed as an input of t, so AD, the continuous reference and finite differences are all of this sample path with its jump times held where they are: for fixed coins a jump changes only where a coin equals a cumulative rate, so almost everywhere this is the realised loss's derivative. How the transition rates move the jumps is not part of AD's gradient.`;
}
