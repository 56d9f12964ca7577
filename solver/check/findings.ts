// Phase 7, findings: what the measurements mean for each parameter (its verdict, engine/verdict.ts) and the
// findings the check reports, in the words of presentation/findingText.ts. To add a measured finding, add it
// here (its code, severity, range and the parameter and metrics it concerns) and its text there.
import { initialValuesNote } from './initialValues';
import { findOption, type Model } from '../model';
import type { Finding, ParameterReport } from '../report';
import type { ReferenceResult } from '../engine/reference';
import { firingsKept, GRADCHECK_TOLERANCE, MIN_RESOLUTION, type GradcheckResult } from '../engine/finiteDifferences';
import { UNCERTAIN_REFERENCE, verdictFor } from '../engine/verdict';
import {
  gradcheckMismatchMessage,
  gradcheckUnresolvedMessage,
  oscillatingGradientMessage,
  REFERENCE_OVERFLOW_MESSAGE,
  stageImbalanceMessage,
  studySentence,
  uncertainReferenceMessage,
  vanishingGradientMessage,
  type ReadOnlyBy,
  weaklyStableSchemeMessage,
  zigzagCopiesMessage,
} from '../presentation/findingText';
import type { LayerAnalysis } from './layers';
import { eventFiringTimeFinding, eventGap, mapEventEdgeFindings } from './eventFindings';
import { finiteDifferencesOff, optionsRange, type CheckRun } from './run';
import { FINITE_DIFFERENCES_OFF } from '../presentation/referenceText';

/** What the findings phase reads: the analysed (and confirmed) parameters, the gradcheck, the reference. */
export interface Measurements {
  analysis: LayerAnalysis;
  gradcheck: GradcheckResult[] | undefined;
  ref: ReferenceResult | undefined;
  /** The model's non-smooth operations (engine/kinks.ts). */
  kinks: string[];
  /** The discrete loss the AD phase solved. */
  loss: number;
}

/** Sets each parameter's verdict. Zero-weight copies are flagged statically by the front end (schemes/analysis.ts); here they shape the verdict. */
export function assignVerdicts(run: CheckRun, { analysis, gradcheck, ref, kinks, loss }: Measurements): void {
  const { gradfix, meth, steps } = run.model.options;
  analysis.parameters.forEach((p, i) => {
    const r = analysis.results[i];
    p.verdict = verdictFor(p, {
      gradfix,
      correction: run.correction,
      recommended: run.recommended,
      scheme: meth,
      zeroWeightCopies: r?.zeroWeightCopies ?? 0,
      stageImbalanced: r?.stageImbalanced ?? false,
      oscillating: r?.oscillating ?? false,
      hasReference: !!ref,
      noReferenceReason: run.referenceUnavailable?.reason,
      referenceError: ref?.referenceError ?? NaN,
      referenceUnrefinable: !!ref?.unrefinable,
      kinks,
      steps,
      events: eventGap(run, ref, p),
      gradcheckTooSmall: fdTooSmall(gradcheck?.[i]),
      gradcheckStopped: !!gradcheck?.[i]?.budget,
      ...(gradcheck?.[i]?.firings ? { gradcheckFirings: gradcheck[i].firings } : {}),
      zeroLoss: loss === 0,
      defaultLoss: !run.model.loss,
      readOnlyElsewhere: !!readOnlyBy(run.model, p.name),
    });
  });
}

/** The findings of a finished check, in the order they are reported. */
export function findingsPhase(run: CheckRun, m: Measurements): Finding[] {
  const findings: Finding[] = [];
  const { model, correctionNote } = run;
  const initialValues = initialValuesNote(model);
  if (initialValues) findings.push(initialValues);
  if (correctionNote && model.options.gradfix !== 'none') {
    findings.push({
      code: 'correction-substituted',
      severity: 'information',
      message: correctionNote,
      range: findOption(model, 'gradfix')?.valueRange ?? optionsRange(model),
    });
  }
  // A map's map-model note already says it on its line.
  if (run.referenceUnavailable && run.referenceUnavailable.cause !== 'map') {
    const { message, range } = run.referenceUnavailable;
    // Its message names finite differences as what checks AD then: not so when they are off.
    const off = finiteDifferencesOff(run) ? ` ${FINITE_DIFFERENCES_OFF}` : '';
    findings.push({ code: 'reference-unavailable', severity: 'information', message: message + off, range });
  }
  findings.push(...oscillationFindings(run, m.analysis));
  findings.push(...zigzagFindings(run, m));
  const weaklyStable = weaklyStableFinding(run, m.analysis);
  if (weaklyStable) findings.push(weaklyStable);
  m.analysis.parameters.forEach((p, i) => {
    const f = gradientFinding(p, m.gradcheck?.[i], m.kinks, readOnlyBy(model, p.name), !model.loss, m.loss === 0);
    if (f) findings.push(f);
  });
  // A reference whose solve stays finite but whose gradient or error estimate overflows float32 (the adjoint of
  // chaotic dynamics grows like e^{λT}) cannot judge AD: that is a property of the model over this interval, said
  // as such, not a blow-up of the solve (a reference solve that blows up is no reference: check/reference.ts).
  const events = eventFiringTimeFinding(run, m.ref, m.analysis.parameters);
  if (events) findings.push(events);
  findings.push(...mapEventEdgeFindings(run));
  if (m.ref?.nonFinite)
    findings.push({
      code: 'reference-unavailable',
      severity: 'information',
      message: REFERENCE_OVERFLOW_MESSAGE,
      range: optionsRange(model),
    });
  else if (m.ref && m.ref.referenceError > UNCERTAIN_REFERENCE)
    findings.push({
      code: 'reference-unavailable',
      severity: 'information',
      message: uncertainReferenceMessage(m.ref.referenceError, !!m.ref.unrefinable),
      range: optionsRange(model),
    });
  return findings;
}

/** α measured at N2 steps is what an O(h) effect gives (α·N/N2), not a constant α. */
function alphaDecays(alpha: number, refined: number, N2: number, N: number): boolean {
  return N2 > N ? refined < 0.65 * alpha : refined > alpha / 0.65;
}

/** The layer analysis of a flagged parameter (by name: the report's entry and the model's declaration agree). */
function resultOf(run: CheckRun, analysis: LayerAnalysis, p: ParameterReport) {
  return analysis.results[run.model.params.findIndex((q) => q.name === p.name)];
}

/** Per flagged parameter: its oscillating-gradient and stage-imbalance findings. */
function oscillationFindings(run: CheckRun, analysis: LayerAnalysis): Finding[] {
  const { correction, recommended } = run;
  const { gradfix, steps: N } = run.model.options;
  const findings: Finding[] = [];
  for (const p of analysis.parameters.filter((q) => q.oscillating)) {
    const m = p.metrics;
    const r = resultOf(run, analysis, p)!;
    const study = studySentence(p, correction);
    if (r.oscillating) {
      const decays = m.refinedAlpha !== undefined && alphaDecays(m.alpha, m.refinedAlpha, m.refinedSteps ?? 2 * N, N);
      // grad=adjoint trains with the continuous adjoint: the AD oscillation is then a note, as the static one is.
      const adjoint = run.model.options.grad === 'adjoint';
      findings.push({
        code: 'oscillating-gradient',
        severity: decays || adjoint ? 'information' : 'warning',
        parameter: p.name,
        metrics: m,
        range: p.range,
        message:
          oscillatingGradientMessage({ name: p.name, metrics: m, gradfix, correction, steps: N, decays, study }) +
          (adjoint ? ' grad=adjoint takes the gradients from the continuous adjoint instead.' : ''),
      });
    }
    if (r.stageImbalanced) {
      findings.push({
        code: 'stage-imbalance',
        severity: 'warning',
        parameter: p.name,
        metrics: m,
        range: p.range,
        message: stageImbalanceMessage({
          name: p.name,
          metrics: m,
          gradfix,
          correction,
          recommended: recommended ?? correction,
          study,
        }),
      });
    }
  }
  return findings;
}

/** Per-step parameters whose copies themselves zig-zag (check/layers.ts): trained on oscillating gradients. */
function zigzagFindings(run: CheckRun, m: Measurements): Finding[] {
  return m.analysis.parameters.flatMap((p): Finding[] =>
    p.metrics.copiesAlpha === undefined
      ? []
      : [
          {
            code: 'zigzag-copies',
            severity: 'warning',
            parameter: p.name,
            metrics: p.metrics,
            range: p.range,
            message: zigzagCopiesMessage({
              name: p.name,
              metrics: p.metrics,
              loss: m.loss,
              flowLoss: m.ref?.lossAccurate ?? NaN,
              correction: run.correction,
            }),
          },
        ],
  );
}

/** A weakly stable scheme with oscillating parameters: one finding, on the options, with the worst parameter's figures. */
function weaklyStableFinding(run: CheckRun, analysis: LayerAnalysis): Finding | undefined {
  const { model, correction, recommended } = run;
  const opt = model.options;
  const oscillating = analysis.parameters.filter((p) => p.oscillating && resultOf(run, analysis, p)?.oscillating);
  if (oscillating.length === 0 || !run.layout.weaklyStable) return undefined;
  const worst = oscillating.reduce((a, b) => (b.metrics.relError > a.metrics.relError ? b : a));
  return {
    code: 'weakly-stable-scheme',
    severity: opt.grad === 'adjoint' ? 'information' : 'warning',
    parameter: worst.name,
    metrics: worst.metrics,
    range: optionsRange(model, worst.range),
    message: weaklyStableSchemeMessage({
      meth: opt.meth,
      flagged: oscillating.map((p) => p.name),
      worst: worst.name,
      metrics: worst.metrics,
      steps: opt.steps,
      gradfix: opt.gradfix,
      grad: opt.grad,
      correction,
      recommended,
    }),
  };
}

/** Finite differences whose change of the loss is too small to resolve against its rounding. */
const fdTooSmall = (g: GradcheckResult | undefined) => !!g && g.resolution < MIN_RESOLUTION;

/** Where a parameter is read when the checked solve does not read it, if so. */
function readOnlyBy(model: Model, name: string): ReadOnlyBy | undefined {
  const decl = model.params.find((q) => q.name === name);
  return decl?.readOnlyBy
    ? { lines: decl.readOnlyBy }
    : decl?.sampledBy
      ? { table: decl.sampledBy }
      : decl?.ratesOf
        ? { markov: decl.ratesOf }
        : undefined;
}

/** A vanishing gradient, or else a gradcheck that cannot judge or disagrees with AD. */
function gradientFinding(
  p: ParameterReport,
  g: GradcheckResult | undefined,
  kinks: string[],
  readOnlyBy: ReadOnlyBy | undefined,
  defaultLoss: boolean,
  zeroLoss: boolean,
): Finding | undefined {
  const { name, metrics, range } = p;
  if (metrics.vanishing) {
    // Finite differences and the reference agree with a zero gradient: what matters is that there is none.
    // A warning only when the model's own loss is at stake and nothing explains it away: a model
    // without a loss (a classic simulation) is checked for ODE Lens's default loss, not for training.
    return {
      code: 'vanishing-gradient',
      severity: kinks.length > 0 && !readOnlyBy && !defaultLoss && !zeroLoss ? 'warning' : 'information',
      parameter: name,
      metrics,
      range,
      message: vanishingGradientMessage(
        name,
        kinks,
        readOnlyBy,
        p.initialValueOf !== undefined,
        zeroLoss && (defaultLoss ? 'default' : 'declared'),
      ),
    };
  }
  if (metrics.gradcheckUnresolved && g) {
    return {
      code: 'gradcheck-unresolved',
      severity: 'information',
      parameter: name,
      metrics,
      range,
      message: gradcheckUnresolvedMessage({
        name,
        relError: metrics.gradcheckRelError,
        step: g.step,
        resolution: g.resolution,
        tooSmall: fdTooSmall(g),
        kinks,
        ...(g.budget ? { budget: g.budget } : {}),
        ...(g.scatter ? { scatter: g.scatter } : {}),
        ...(g.firings ? { firings: g.firings } : {}),
      }),
    };
  }
  if (metrics.gradcheckRelError > GRADCHECK_TOLERANCE) {
    return {
      code: 'gradcheck-mismatch',
      severity: 'warning',
      parameter: name,
      metrics,
      range,
      message: gradcheckMismatchMessage(name, metrics.gradcheckRelError, kinks, firingsKept(g?.firings)),
    };
  }
  return undefined;
}
