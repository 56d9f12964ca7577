// Plain-language verdicts per parameter tensor and for the whole check, from
// the figures the check measured (docs/design.md#what-goes-wrong).
import type { GradFix } from '../model';
import type { ParameterReport, Verdict } from '../report';
import { referenceErrorSource, studyClause, studySpan } from '../presentation/findingText';
import { formatNumber, namedRatio } from '../presentation/format';
import { firingsKept, firingsMoved, GRADCHECK_TOLERANCE, type GradcheckFirings } from './finiteDifferences';
import { EVENT_JUMPS } from './kinks';

export interface VerdictContext {
  /** The discrete loss is exactly 0: every gradient vanishes because the network reaches its target. */
  zeroLoss?: boolean;
  /** The model declares no loss: the check's is ODE Lens's default ½‖x(T)‖². */
  defaultLoss?: boolean;
  /**
   * The parameter is read only where the checked solve does not read it (ignored lines, a sampled table, a Markov
   * chain's rates): its gradient is zero whatever the loss.
   */
  readOnlyElsewhere?: boolean;
  gradfix: GradFix;
  correction: Exclude<GradFix, 'none'>;
  recommended?: Exclude<GradFix, 'none'>;
  scheme: string;
  zeroWeightCopies: number;
  stageImbalanced: boolean;
  oscillating: boolean;
  hasReference: boolean;
  /** Why there is no reference, when the model has none (report.ts: ReferenceUnavailable.reason). */
  noReferenceReason?: string;
  /** The continuous reference's estimated relative error (NaN without one). */
  referenceError: number;
  /** That error is its one solve's estimate, too large for a finer step to help (engine/reference.ts: unrefinable). */
  referenceUnrefinable?: boolean;
  /** The model's non-smooth operations (engine/kinks.ts). */
  kinks: readonly string[];
  /** Steps of the checked solve. */
  steps: number;
  /** A model with events whose reference located firings (check/eventFindings.ts): this parameter's figures. */
  events?: { firings: number; error: number; fixedError: number; share: number };
  /** Finite differences could not judge because the loss hardly moves along their probe (below its rounding). */
  gradcheckTooSmall?: boolean;
  /** Finite differences disagreed with AD at their first step(s) and their time budget stopped the finer ones. */
  gradcheckStopped?: boolean;
  /** Where the solves record firings: the steps finite differences took and how many moved a firing (GradcheckResult.firings). */
  gradcheckFirings?: GradcheckFirings;
}

/** The clause for a check without a reference: the model's reason, when it has one. */
const noReference = (ctx: VerdictContext) =>
  ctx.noReferenceReason ? `no continuous reference: ${ctx.noReferenceReason}` : 'no continuous reference was computed';

/** Estimated relative error of the continuous reference above which errors measured against it judge nothing. */
export const UNCERTAIN_REFERENCE = 0.05;

/** Relative error against the reference above which a convergent gradient is still far from the flow's at this dt. */
export const FAR_FROM_FLOW = 0.1;

function farClause(error: number): string {
  return error > FAR_FROM_FLOW
    ? `; at this dt it is still far from the flow's gradient, a smaller dt brings it closer`
    : '';
}

function uncertainReference(ctx: VerdictContext): Verdict {
  return {
    kind: 'inconclusive',
    explanation: `the continuous reference is uncertain itself (estimated relative error ${f2(ctx.referenceError)}: ${referenceErrorSource(!!ctx.referenceUnrefinable)}: dynamics too fast for dt, or too sensitive over this horizon), so errors measured against it judge nothing; a smaller dt or a shorter total makes it checkable.`,
  };
}

const f2 = (x: number | undefined) => formatNumber(x);

/** "filter121 converges at order 2" from a refinement study, else the corrected error. */
function correctedClause(p: ParameterReport, correction: string): string {
  const r = p.refinement;
  if (!r || r.levels.length < 2) return `${correction} gives error ${f2(p.metrics.correctedRelError)}`;
  const s = studySpan(r, (l) => l.correctedRelError, r.correctedOrder);
  if (!Number.isFinite(s.order) || s.last === s.first)
    return `${correction} gives error ${f2(s.first.correctedRelError)} at ${s.first.steps} steps${s.words}`;
  return `${correction} converges at order ${formatNumber(s.order, 2)} (error ${f2(s.first.correctedRelError)} at ${s.first.steps} steps, ${f2(s.last.correctedRelError)} at ${s.last.steps}${s.words})`;
}

function rawClause(p: ParameterReport): string {
  const r = p.refinement;
  return r && r.levels.length > 1
    ? studyClause(r, 'raw error', (l) => l.relError, r.rawOrder)
    : `raw error ${f2(p.metrics.relError)}`;
}

/** Why no continuous reference judges the gradient, with the finite-difference check that was made. */
function noReferenceClause(noReference: string, m: ParameterReport['metrics']): string {
  const fd = Number.isFinite(m.gradcheckRelError)
    ? `; AD agrees with finite differences (relative error ${f2(m.gradcheckRelError)})`
    : '';
  return `${noReference}${fd}.`;
}

/** A shared parameter of a model whose events fired: AD misses the firing-time term, which does not shrink with dt. */
function eventVerdict(e: NonNullable<VerdictContext['events']>): Verdict {
  const figures = `error ${f2(e.error)} against the flow's gradient, ${f2(e.fixedError)} against it with the firing times held fixed`;
  return e.error > FAR_FROM_FLOW
    ? {
        kind: 'inconclusive',
        explanation: `events snap to the grid: AD has no gradient of the firing time (${figures}); the firing-time term is ${f2(e.share)} of the flow's gradient and does not shrink with dt.`,
      }
    : {
        kind: 'converges',
        explanation: `shared parameter: the AD gradient is close to the flow's gradient with its ${e.firings} firing${e.firings === 1 ? '' : 's'} (${figures}).`,
      };
}

export function verdictFor(p: ParameterReport, ctx: VerdictContext): Verdict {
  const m = p.metrics;
  if (m.vanishing && ctx.zeroLoss && !ctx.readOnlyElsewhere && p.initialValueOf === undefined)
    return {
      kind: 'vanishing',
      explanation: ctx.defaultLoss
        ? 'the AD gradient is exactly zero in every component because the default loss ½‖x(T)‖² is exactly 0 here (every state ends at 0), so no gradient is left to check; a loss of your own would be.'
        : 'the AD gradient is exactly zero in every component because the loss is exactly 0 here: the network reaches its target, so no gradient is left to check.',
    };
  if (m.vanishing) {
    return {
      kind: 'vanishing',
      explanation: `the AD gradient is exactly zero in every component: ${p.initialValueOf !== undefined ? 'the loss does not depend on this initial value' : 'this parameter gets no gradient and does not train'}${ctx.kinks.includes('relu') ? ' (every relu unit it feeds may be inactive)' : ''}.`,
    };
  }
  if (m.gradcheckUnresolved && ctx.gradcheckTooSmall)
    return {
      kind: 'inconclusive',
      explanation:
        "finite differences cannot judge the AD gradient here: the loss hardly depends on this parameter (along their probe it changes by less than its float32 rounding can resolve); AD's gradient is tiny, not wrong.",
    };
  const firings = ctx.gradcheckFirings;
  if (m.gradcheckUnresolved && firingsMoved(firings))
    return {
      kind: 'inconclusive',
      explanation:
        "finite differences cannot judge the AD gradient here: every step they took moved a firing across a grid point, so they see the network's jumps, not the slope AD takes with the firing steps held fixed.",
    };
  if (m.gradcheckUnresolved && ctx.gradcheckStopped)
    return {
      kind: 'inconclusive',
      explanation:
        'finite differences cannot judge the AD gradient here: they disagree with AD at the steps taken, and their time budget stopped the finer steps that would show whether they settle.',
    };
  // Steps that kept every firing were judged: the events' jumps are not what they cross.
  const kinks = firingsKept(firings) ? ctx.kinks.filter((k) => k !== EVENT_JUMPS) : ctx.kinks;
  if (m.gradcheckUnresolved && firings && firings.moved > 0 && firings.stop === 'resolution')
    return {
      kind: 'inconclusive',
      explanation:
        'finite differences cannot judge the AD gradient here: their larger steps moved a firing across a grid point, and too few of the finer steps resolve the loss to show whether they settle.',
    };
  if (m.gradcheckUnresolved) {
    const cause =
      kinks.length > 0
        ? `the finite-difference steps cross the kinks of ${kinks.join(', ')}`
        : 'extreme sensitivity, e.g. chaotic dynamics over this horizon';
    return {
      kind: 'inconclusive',
      explanation: `finite differences cannot judge the AD gradient here: finite differences at different steps disagree with each other (${cause}).`,
    };
  }
  if (m.gradcheckRelError > GRADCHECK_TOLERANCE) {
    // As the warning hedges: on a non-smooth model, steps that agree with each other can all cross the same kink.
    return {
      kind: 'gradcheck-mismatch',
      explanation:
        kinks.length > 0
          ? `AD disagrees with finite differences of the discrete loss (${f2(m.gradcheckRelError)}) at three steps that agree with each other; the model is not smooth (${kinks.join(', ')}), so either the discrete gradient is wrong or the steps cross a kink, where finite differences differ from AD's one-sided derivative.`
          : `AD disagrees with finite differences of the discrete loss (${f2(m.gradcheckRelError)}): the discrete gradient itself is wrong, before any question of convergence.`,
    };
  }
  if (ctx.noReferenceReason) return { kind: 'inconclusive', explanation: noReferenceClause(noReference(ctx), m) };
  if (!p.perStep) {
    if (ctx.hasReference && ctx.referenceError > UNCERTAIN_REFERENCE) return uncertainReference(ctx);
    if (ctx.hasReference && ctx.events && ctx.events.firings > 0) return eventVerdict(ctx.events);
    // An initial value acts once, at t0: its gradient is the adjoint there, not a sum over the steps.
    const what = p.initialValueOf !== undefined ? 'initial value' : 'shared parameter';
    const gradient = p.initialValueOf !== undefined ? 'AD gradient' : 'summed AD gradient';
    return ctx.hasReference
      ? {
          kind: 'converges',
          explanation:
            ctx.scheme === 'discrete'
              ? m.relError > FAR_FROM_FLOW
                ? `${what}: the AD gradient differs from the map's own adjoint by ${f2(m.relError)} (the rounding of a sensitive map grows with its iterations).`
                : `${what}: the AD gradient agrees with the map's own adjoint (error ${f2(m.relError)}).`
              : `${what}: the ${gradient} converges at the scheme's order (error ${f2(m.relError)})${farClause(m.relError)}.`,
        }
      : { kind: 'inconclusive', explanation: `${what}; ${noReference(ctx)}.` };
  }
  const applied = ctx.gradfix !== 'none';
  if (ctx.oscillating) {
    const alpha =
      m.refinedAlpha !== undefined
        ? ` α=${f2(m.alpha)} at ${ctx.steps} steps, ${f2(m.refinedAlpha)} at ${m.refinedSteps ?? 2 * ctx.steps}`
        : ` ${namedRatio('α', m.alpha)}, ${namedRatio('β', m.beta)}`;
    return {
      kind: 'oscillating',
      explanation: `oscillating: the AD density alternates from layer to layer (${alpha.trim()}) and does not converge as h → 0 (${rawClause(p)}); ${applied ? `${ctx.correction} is on and does not remove it` : correctedClause(p, ctx.recommended ?? ctx.correction)}.`,
    };
  }
  if (ctx.stageImbalanced) {
    return {
      kind: 'stage-imbalance',
      explanation: `per-stage copies split the gradient unevenly (κ=${f2(m.kappa ?? NaN)}${ctx.zeroWeightCopies > 0 ? `; ${ctx.zeroWeightCopies} copies have weight 0 and get almost no gradient` : ''}): the per-stage densities do not converge (${rawClause(p)}); ${correctedClause(p, ctx.recommended ?? 'stagesum')}.`,
    };
  }
  if (ctx.zeroWeightCopies > 0 && !applied) {
    return {
      kind: 'zero-weight',
      explanation: `${ctx.zeroWeightCopies} copies have weight 0 under ${ctx.scheme} and get (almost) no gradient; ${correctedClause(p, ctx.recommended ?? ctx.correction)}.`,
    };
  }
  if (!ctx.hasReference) return { kind: 'inconclusive', explanation: `${noReference(ctx)}.` };
  if (ctx.referenceError > UNCERTAIN_REFERENCE) return uncertainReference(ctx);
  if (applied) return { kind: 'corrected', explanation: `${correctedClause(p, ctx.correction)}; ${rawClause(p)}.` };
  return {
    kind: 'converges',
    explanation:
      m.relError > FAR_FROM_FLOW
        ? `the AD density converges to g(t) as dt → 0: ${rawClause(p)}${farClause(m.relError)}.`
        : `the AD density follows g(t): ${rawClause(p)}.`,
  };
}

const RANK: Record<Verdict['kind'], number> = {
  'gradcheck-mismatch': 7,
  vanishing: 6,
  oscillating: 5,
  'stage-imbalance': 4,
  'zero-weight': 3,
  inconclusive: 2,
  corrected: 1,
  converges: 0,
};

export function overallVerdict(parameters: ParameterReport[]): Verdict | undefined {
  const judged = parameters.filter((p) => p.verdict);
  if (judged.length === 0) return undefined;
  const worst = judged.reduce((a, b) => (RANK[b.verdict!.kind] > RANK[a.verdict!.kind] ? b : a));
  const kind = judged.filter((p) => p.verdict!.kind === worst.verdict!.kind);
  // The figures in an explanation are its parameter's own: the names it is given for are those it reads alike for,
  // then those it reads alike for but for their figures; a parameter of the kind for another reason has its own.
  const reasons = new Map<string, ParameterReport[]>();
  for (const p of [worst, ...kind.filter((q) => q !== worst)]) {
    const reason = p.verdict!.explanation.replace(FIGURE, '#');
    reasons.set(reason, [...(reasons.get(reason) ?? []), p]);
  }
  const parts = [...reasons.values()].map((group) => {
    const first = group[0].verdict!.explanation;
    const alike = group.filter((p) => p.verdict!.explanation === first).map((p) => p.name);
    const others = group.filter((p) => p.verdict!.explanation !== first).map((p) => p.name);
    const likewise = others.length > 0 ? ` Likewise ${others.join(', ')}, each with its own figures.` : '';
    return `${alike.join(', ')}: ${first}${likewise}`;
  });
  return { kind: worst.verdict!.kind, explanation: parts.join(' ') };
}

/** A number in an explanation (a figure of its parameter's own). */
const FIGURE = /[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g;
