// What every surface says about the continuous reference of a report: its estimated error, or why there is none.
import type { ReportSummary } from '../report';
import { formatNumber } from './format';

/** What a map's gradients are checked against (the map-model diagnostic says it on its line). */
export const MAP_REFERENCE =
  "a map has no continuous flow: its reference gradient is the map's own adjoint iterated backward (exact for the map), beside AD and finite differences";

/** What the map-model note says of a map with events instead of MAP_REFERENCE. */
export const MAP_EVENTS_REFERENCE =
  "a map has no continuous flow: its reference gradient is the map's own adjoint iterated backward, stepping back through each reset at the iteration where the map fired it (exact for the map with its firing iterations held fixed, as AD holds them), beside AD and finite differences";

/** Why a map with a data loss has no reference (the report and the verdicts say it alike). */
export const MAP_NO_REFERENCE =
  "a map with a data loss has no reference: the map's adjoint does not take the loss's jumps at the observation times; its gradients are checked against finite differences only";

/** What a map with events has instead of a reference when its adjoint is refused (the message after the reason). */
export const MAP_EVENTS_NO_REFERENCE =
  'AD and finite differences check the iterated map, which applies each reset at the iteration where its condition crosses';

/** Said after a missing reference's message when the check ran no finite differences (they would have judged AD). */
export const FINITE_DIFFERENCES_OFF =
  "Finite differences are off for this check (the setting odeLens.check.finiteDifferences, or odelens check --no-gradcheck): nothing in it judges AD's gradient.";

/** True for the scheme that iterates maps; the report's scheme name (no import of the registry here). */
const isMapReport = (report: ReportSummary) => report.scheme === 'discrete';

/** The CLI's line about the reference. */
export function referenceLine(report: ReportSummary): string {
  const missing = report.referenceUnavailable;
  if (missing)
    return `${isMapReport(report) ? 'reference' : 'continuous reference'}: n/a, ${missing.reason} (see the ${missing.cause === 'map' ? 'map-model' : 'reference-unavailable'} note)`;
  if (isMapReport(report)) {
    const fired = report.eventReference;
    const resets = !fired
      ? ''
      : fired.firings === 0
        ? ' (its events never fire here: no reset to step back through)'
        : ` through the resets of its ${fired.firings} firing${fired.firings === 1 ? '' : 's'} (held at their iterations)`;
    return `reference: the map's own adjoint iterated backward${resets}, estimated relative error ${formatNumber(report.referenceError)} (float32 rounding; a map has no flow, so no truncation)`;
  }
  const located = report.eventReference;
  if (located)
    return `continuous reference: the flow with its ${located.firings} firing${located.firings === 1 ? '' : 's'} located inside their steps, adjoint by RK4 on ${located.steps} steps with the jump condition (saltation matrix) at each firing, estimated relative error ${formatNumber(report.referenceError)} (a third of the difference to the solve on twice the step, float32 rounding)`;
  const refined = report.refinedReference;
  if (refined)
    return `continuous reference: the limit of refined grids, AD of the model by ${refined.scheme} on ${refined.steps.join(' and ')} steps, estimated relative error ${formatNumber(report.referenceError)} (the last refinement's change over 2^p − 1, order p = ${formatNumber(refined.order)} ${refined.observed ? 'observed from three levels' : 'assumed (the conservative bound)'}, float32 rounding)`;
  const stiff = report.stiffReference;
  if (stiff)
    return `continuous reference: adjoint by RK4 on a stable step of its own, ${stiff.steps} steps (a stiff model: the usual ${stiff.usualSteps} steps blew up; spectral radius of ∂f/∂x about ${formatNumber(stiff.spectralRadius)} at x(t0)), estimated relative error ${formatNumber(report.referenceError)} (embedded RK3 estimate, float32 rounding, quadrature of shared parameters; at least a third of the difference to a solve on half the step when one was needed)`;
  return `continuous reference: adjoint by RK4, estimated relative error ${formatNumber(report.referenceError)} (embedded RK3 estimate, float32 rounding including that of ∂ℓ/∂x(T), quadrature of shared parameters; when the step was halved, at least a third of the difference to the solve before it, or with per-step copies that differ RK4's error in t from pairs of steps against Simpson's rule on twice their step)`;
}

/** The hover header's clause about the reference. */
export function referenceClause(report: ReportSummary): string {
  return report.referenceUnavailable
    ? `continuous reference n/a: ${report.referenceUnavailable.reason}`
    : `reference error ${formatNumber(report.referenceError)}`;
}
