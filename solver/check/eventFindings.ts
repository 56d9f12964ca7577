// What snapping events to the grid does to AD, measured against the continuous reference of a model with events
// (engine/eventReference.ts; docs/diagnostics.md, `event-firing-time`). The discrete network applies each reset at
// the grid point after its condition crosses, a point that does not move with the parameters: AD (and finite
// differences of the same network, which agree with it) has no gradient of the firing time. As dt → 0 it tends
// to the flow's gradient with the firing times held fixed, not to the flow's own: the gap is the firing-time
// term, O(1) whenever a firing time depends on the parameters, and it does not shrink with dt.
//
// Rule (classic models stay quiet): no finding when AD is within FAR_FROM_FLOW of the flow's gradient for every
// parameter; information otherwise, with the sizes; a warning only when AD points uphill for the flow's loss
// (its dot product with the flow's gradient is negative), i.e. a gradient step on the network makes the
// continuous model worse. A reference too uncertain to judge (its own error above UNCERTAIN_REFERENCE) says nothing.
import type { Finding, ParameterReport } from '../report';
import type { ReferenceResult } from '../engine/reference';
import { relError } from '../engine/detect';
import { FAR_FROM_FLOW, UNCERTAIN_REFERENCE } from '../engine/verdict';
import { eventFiringTimeMessage, mapEventEdgeMessage } from '../presentation/findingText';
import type { CheckRun } from './run';

/** One parameter's figures: AD against the flow's gradient, against it with fixed firing times, and that term's share. */
export interface EventGap {
  firings: number;
  /** ‖AD − g‖/‖g‖, g the flow's gradient. */
  error: number;
  /** ‖AD − g_fixed‖/‖g_fixed‖, g_fixed the flow's gradient with the firing times held fixed. */
  fixedError: number;
  /** ‖g − g_fixed‖/‖g‖: the firing-time term's share of the flow's gradient. */
  share: number;
}

/** The event figures of a shared parameter, when the reference located events. */
export function eventGap(run: CheckRun, ref: ReferenceResult | undefined, p: ParameterReport): EventGap | undefined {
  const ev = ref?.events;
  const i = run.model.params.findIndex((q) => q.name === p.name);
  if (!ev || i < 0 || p.perStep || !p.raw[0] || !p.reference[0]) return undefined;
  const ad = p.raw[0],
    g = p.reference[0],
    fixed = ev.fixed[i];
  const scale = Math.hypot(...g);
  const diff = Math.hypot(...g.map((v, k) => v - fixed[k]));
  return {
    firings: ev.firings,
    error: relError(ad, g),
    fixedError: relError(ad, fixed),
    share: scale > 0 ? diff / scale : 0,
  };
}

/** The `event-firing-time` finding on the first `global` line, or undefined (no firings, AD close to the flow, or no reference to judge). */
export function eventFiringTimeFinding(
  run: CheckRun,
  ref: ReferenceResult | undefined,
  parameters: ParameterReport[],
): Finding | undefined {
  const event = run.model.events?.[0];
  if (!event || !ref?.events || ref.events.firings === 0 || ref.nonFinite || ref.referenceError > UNCERTAIN_REFERENCE)
    return undefined;
  const gaps = parameters
    .map((p) => ({ p, gap: eventGap(run, ref, p) }))
    .filter((x): x is { p: ParameterReport; gap: EventGap } => !!x.gap && Number.isFinite(x.gap.error));
  const far = gaps.filter((x) => x.gap.error > FAR_FROM_FLOW);
  if (far.length === 0) return undefined;
  // AD · g over every shared parameter: negative when a step along AD goes uphill for the flow's loss.
  let dot = 0;
  for (const { p } of gaps) p.raw[0].forEach((v, k) => (dot += v * p.reference[0][k]));
  const worst = far.reduce((a, b) => (b.gap.error > a.gap.error ? b : a));
  return {
    code: 'event-firing-time',
    severity: dot < 0 ? 'warning' : 'information',
    parameter: worst.p.name,
    metrics: worst.p.metrics,
    range: event.range,
    message: eventFiringTimeMessage({
      firings: ref.events.firings,
      parameters: far.map(({ p, gap }) => ({ name: p.name, ...gap })),
      uphill: dot < 0,
    }),
  };
}

/**
 * A map's event conditions exactly on the edge of their firing test, moving with parameters they read (the map's
 * reference found them, engine/mapReference.ts): the loss jumps in those on one side. One `map-event-edge` per
 * `global` line (its first such iteration), on that line.
 */
export function mapEventEdgeFindings(run: CheckRun): Finding[] {
  const out: Finding[] = [];
  // One per `global` line: XPPAUT's `w[0..99]` line is one event per element, all with its condition.
  const lines = new Set<string>();
  for (const edge of run.mapEventEdges ?? []) {
    const event = run.model.events?.[edge.event];
    const line = event && JSON.stringify(event.range);
    if (!event || !line || lines.has(line)) continue;
    lines.add(line);
    out.push({
      code: 'map-event-edge',
      severity: 'information',
      parameter: run.model.params[edge.params[0]]?.name,
      range: event.range,
      message: mapEventEdgeMessage({ t: edge.t, parameters: edge.params.map((i) => run.model.params[i].name) }),
    });
  }
  return out;
}
