// XPPAUT `global` lines: the sign, a scalar condition, and resets of states (engine/events.ts runs them).
// XPPAUT's special event names are accepted and ignored with a note: `out_put` (store the current
// point), `arret` (stop the integration) and `no_interp` (no interpolation of the event time) have no
// meaning for a fixed-step solve that runs to `total`.
import type { EventReset, ModelEvent } from '../../model';
import type { GlobalStmt, Statement } from '../ast';
import { diag } from '../ranges';
import { broadcastsTo } from '../../ops/shapes';
import { KIND_WORD, type CheckContext } from './context';
import type { ExpressionChecker } from './expressions';
import { describeShape } from './shapes';

const SPECIAL_EVENTS: ReadonlyMap<string, string> = new Map([
  ['out_put', 'stores the current point for output'],
  ['arret', 'stops the integration'],
  ['no_interp', 'turns off the interpolation of the event time'],
]);

export function checkEvents(ctx: CheckContext, exprs: ExpressionChecker, st: Statement[]): ModelEvent[] {
  return st.filter((s): s is GlobalStmt => s.kind === 'global').flatMap((g) => checkEvent(ctx, exprs, g) ?? []);
}

function checkEvent(ctx: CheckContext, exprs: ExpressionChecker, g: GlobalStmt): ModelEvent | undefined {
  const before = ctx.diagnostics.filter((d) => d.severity === 'error').length;
  if (g.sign !== 1 && g.sign !== -1 && g.sign !== 0)
    ctx.error(
      'invalid-event',
      `The sign of a global line is 1 (the condition crosses zero upwards), -1 (downwards) or 0 (either way), not ${g.sign}`,
      g.signRange,
    );
  const condition = exprs.expr(g.condition, { ctx: 'rhs', dynamic: { value: false } });
  if (condition.shape && condition.shape.length !== 0)
    ctx.error(
      'invalid-event',
      `The condition of a global line must be a scalar, not ${describeShape(condition.shape)}`,
      g.condition.range,
    );
  const resets: EventReset[] = [];
  for (const r of g.resets) {
    const special = SPECIAL_EVENTS.get(r.name.toLowerCase());
    if (special) {
      ctx.markNamesUsed(r.value);
      ctx.report(
        diag(
          'ignored-event',
          'information',
          `The XPPAUT event '${r.name}' ${special}; a fixed-step check solves to the end of the interval and ignores it`,
          r.range,
        ),
      );
      continue;
    }
    const sym = ctx.lookup(r.name, r.nameRange);
    if (sym?.kind === 'opaque') continue;
    if (sym?.kind !== 'state') {
      ctx.error(
        'invalid-event',
        sym
          ? `An event sets a state; '${sym.name}' is a ${KIND_WORD[sym.kind]}${sym.kind === 'param' ? ' (XPPAUT can reset parameters; ODE Lens keeps parameters constant during a solve so that their gradients are defined)' : ''}`
          : `An event sets a state; '${r.name}' is not declared${ctx.suggest(r.name, 'state')}`,
        r.nameRange,
      );
      continue;
    }
    const value = exprs.expr(r.value, { ctx: 'rhs', dynamic: { value: false } });
    if (value.shape && !broadcastsTo(value.shape, sym.shape))
      ctx.error(
        'shape-mismatch',
        `The event sets '${sym.name}' (${describeShape(sym.shape)}) to ${describeShape(value.shape)}`,
        r.value.range,
      );
    resets.push({ state: sym.name, value, range: r.range });
  }
  if (ctx.diagnostics.filter((d) => d.severity === 'error').length > before) return undefined;
  return { sign: g.sign as ModelEvent['sign'], condition, resets, range: g.range };
}
