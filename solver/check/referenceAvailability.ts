// Models whose continuous reference gradient ODE Lens does not compute, and why. The reference
// (engine/reference.ts) solves the adjoint of a smooth ODE; some models are not one:
// - maps (`x(t+1)=`, `meth=discrete`): there is no flow at all, only the iterated map. The check's reference is
//   then the map's own adjoint (engine/mapReference.ts; `mapAdjoint`), except for a map with a data loss (its
//   adjoint jumps at the observations are not implemented); a map with events steps back through the resets at the
//   network's firing iterations (engine/mapReference.ts: mapEventsReference) when the fused programs run it, and a
//   condition exactly on the edge of its test that moves with the states refuses it when solved; training's
//   continuous adjoint has none;
// - events (`global`): a reset makes the flow jump; the check's reference (engine/eventReference.ts) locates
//   each firing inside its step and applies the adjoint's jump condition there, for x(T) losses, shared
//   parameters and scalar resets in the fused subset (`eventReference`); otherwise, and for training's
//   continuous adjoint, there is none. A firing it cannot differentiate (grazing, near t0 or T, Zeno) is
//   reported when the reference is solved (check/reference.ts), with that reason;
// - delays (`delay(x, tau)`): the adjoint of a delay equation runs backward with advanced arguments
//   p(t + tau), which the reference's ODE adjoint does not have;
// - Volterra integrals and integral equations (`int{…}`, `u(t) = …`, `volt`): the state at t depends on
//   its whole past, so the adjoint is itself an integral equation running backward, which the
//   reference's ODE adjoint does not solve.
// The check then skips the reference, says so on the construct's line, and the report, hovers and the
// CLI show n/a with this reason instead of an error figure.
import { delayCalls, findOption, solveCalls, type Model, type Range } from '../model';
import { MAP_EVENTS_NO_REFERENCE, MAP_NO_REFERENCE } from '../presentation/referenceText';
import { isMapScheme } from '../schemes/registry';
import type { ReferenceUnavailable } from '../report';
import { integralCalls } from '../language/volterraSyntax';
import { eventReferenceUnsupported } from '../engine/eventReference';
import { mapEventsUnsupported } from '../engine/mapReference';

/** The first integral, else the first integral equation's line. */
function volterraLine(model: Model) {
  return integralCalls(solveCalls(model))[0]?.range ?? model.equations.find((q) => q.volterra)?.range;
}

/**
 * Why the model has no reference, or undefined. With `mapAdjoint` (the gradient check), a map's reference is its
 * own adjoint unless something below rules it out; without (training's continuous adjoint), a map has none.
 */
export function referenceUnavailable(
  model: Model,
  {
    mapAdjoint = false,
    refined = false,
    eventReference = false,
  }: { mapAdjoint?: boolean; refined?: boolean; eventReference?: boolean } = {},
): ReferenceUnavailable | undefined {
  const map = isMapScheme(model.options.meth);
  if (map && (!mapAdjoint || model.data.length > 0))
    return {
      cause: 'map',
      reason: mapAdjoint ? 'a map with a data loss' : 'a map has no continuous flow',
      message: mapAdjoint
        ? `No reference: ${MAP_NO_REFERENCE}.`
        : 'No continuous reference: a map has AD and finite-difference gradients but no continuous flow, so no continuous adjoint.',
      range: findOption(model, 'meth')?.valueRange ?? model.equations[0].range,
    };
  const event = model.events?.[0];
  if (event && map) {
    const why = mapEventsUnsupported(model);
    return why ? mapEventsUnavailable(why, event.range) : undefined;
  }
  if (event) {
    const why = eventReference ? eventReferenceUnsupported(model) : undefined;
    if (eventReference && !why) return undefined;
    return eventsUnavailable(why ?? 'the model has events (global)', event.range);
  }
  // The gradient check takes the reference of Volterra and delay models from refined grids instead (refinedCause).
  if (refined && refinedCause(model)) return undefined;
  const volterra = volterraLine(model);
  if (volterra)
    return {
      cause: 'volterra',
      reason: 'the model has Volterra integrals (int{…})',
      message:
        "No continuous reference gradient for a Volterra model: the state at t depends on its whole past through the integrals, so the adjoint is an integral equation running backward, which the reference solver does not implement. AD and finite differences check the discrete network, XPPAUT's volterra scheme on the grid (product integration over the stored history); errors against the reference are n/a.",
      range: volterra,
    };
  const delay = delayCalls(solveCalls(model))[0];
  if (delay)
    return {
      cause: 'delays',
      reason: 'the model has delays (delay(x, tau))',
      message:
        'No continuous reference gradient for a delay equation: its adjoint runs backward with advanced arguments p(t + tau), which the reference solver does not implement. AD and finite differences check the discrete network, whose history is interpolated linearly on the grid; errors against the reference are n/a.',
      range: delay.range,
    };
  return undefined;
}

/**
 * Whether the check's reference of this model is the limit of refined grids (check/refinedReference.ts) and for which
 * construct: Volterra integrals or delays, with shared parameters only (a per-step copy has no limit without
 * re-sampling θ(t)), and no events or map (those keep their own rule above).
 */
export function refinedCause(model: Model): { cause: 'volterra' | 'delays'; range: Range } | undefined {
  if (isMapScheme(model.options.meth) || model.events?.length || model.params.some((p) => p.perStep)) return undefined;
  const volterra = volterraLine(model);
  if (volterra) return { cause: 'volterra', range: volterra };
  const delay = delayCalls(solveCalls(model))[0];
  return delay ? { cause: 'delays', range: delay.range } : undefined;
}

/** The reference-unavailable record of a refinable model whose refined solves could not be run, with why. */
export function unrefinedReference(model: Model, why: string): ReferenceUnavailable | undefined {
  const base = referenceUnavailable(model, { mapAdjoint: true });
  return (
    base && {
      ...base,
      reason: `${base.reason}; ${why}`,
      message: `${base.message} The reference from refined grids that stands in for it was not taken: ${why}.`,
    }
  );
}

/** No reference for a model with events, for `reason` (a clause: why its firings cannot be differentiated). */
export function eventsUnavailable(reason: string, range: ReferenceUnavailable['range']): ReferenceUnavailable {
  return {
    cause: 'events',
    reason,
    message: `No continuous reference gradient for this model with events: ${reason}. Across a reset the flow's gradient needs the adjoint's jump condition at the firing time, with that time's sensitivity. AD and finite differences check the discrete network, which applies the reset at the grid point where the condition crosses; errors against the reference are n/a.`,
    range,
  };
}

/** No reference for a map with events, for `reason` (a clause: why its adjoint cannot step back through the resets). */
export function mapEventsUnavailable(reason: string, range: ReferenceUnavailable['range']): ReferenceUnavailable {
  return {
    cause: 'events',
    reason,
    message: `No reference for this map: ${reason}. ${MAP_EVENTS_NO_REFERENCE}; errors against the reference are n/a.`,
    range,
  };
}
