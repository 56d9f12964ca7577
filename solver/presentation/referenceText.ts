// What every surface says about the continuous reference of a report: its estimated error, or why there is none.
import type { ReportSummary } from '../report';
import { formatNumber } from './format';

/** Why a map has no continuous reference (the map-model diagnostic, the report and the verdicts say it alike). */
export const MAP_NO_REFERENCE =
  'a map has AD and finite-difference gradients but no continuous flow, so no continuous reference: its gradients are checked against finite differences only';

/** The CLI's line about the reference. */
export function referenceLine(report: ReportSummary): string {
  const missing = report.referenceUnavailable;
  if (missing)
    return `continuous reference: n/a, ${missing.reason} (see the ${missing.cause === 'map' ? 'map-model' : 'reference-unavailable'} note)`;
  return `continuous reference: adjoint by RK4, estimated relative error ${formatNumber(report.referenceError)} (embedded RK3 estimate, float32 rounding including that of ∂ℓ/∂x(T), quadrature of shared parameters; at least a third of the difference to a solve on half the step when one was needed)`;
}

/** The hover header's clause about the reference. */
export function referenceClause(report: ReportSummary): string {
  return report.referenceUnavailable
    ? `continuous reference n/a: ${report.referenceUnavailable.reason}`
    : `reference error ${formatNumber(report.referenceError)}`;
}
