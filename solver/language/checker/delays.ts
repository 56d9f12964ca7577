// XPPAUT needs the maximal delay (`@ delay=`, default 0) to store the history `delay(x, tau)` reads; a
// model that uses delays without it would stop in XPPAUT. ODE Lens keeps the whole history on the
// grid, so it only warns, on the call.
import { delayCalls, type CallsByCallee, type ModelOptions } from '../../model';
import { diag } from '../ranges';
import type { CheckContext } from './context';

/** `calls`: those of the right-hand sides, events and algebraic equations (callsByCallee). */
export function checkDelayBounds(ctx: CheckContext, calls: CallsByCallee, options: ModelOptions): void {
  for (const call of delayCalls(calls)) {
    const lag = call.args[1];
    const bound = options.maxDelay;
    if (bound === undefined)
      ctx.report(
        diag(
          'delay-bound',
          'warning',
          "delay(…) needs XPPAUT's maximal delay: add @ delay=… (at least the largest tau). XPPAUT's default is 0, with which it stops the integration; ODE Lens keeps the whole history on the grid",
          call.calleeRange,
        ),
      );
    else if (lag.kind === 'number' && lag.value > bound)
      ctx.report(
        diag(
          'delay-bound',
          'warning',
          `The delay ${lag.value} is beyond the maximal delay @ delay=${bound}: XPPAUT stops the integration there`,
          lag.range,
        ),
      );
  }
}
