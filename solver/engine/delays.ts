// XPPAUT `delay(x, tau)`: the state x at time t − tau, read from the solve's own history on the fixed
// grid. Between two grid points the value is interpolated linearly (XPPAUT interpolates its stored
// steps too); before t0 it is the initial value (XPPAUT's history for a constant initial value); a
// time after the newest grid point (a delay shorter than the step, read by a later stage) gives the
// newest grid point. A state with XPPAUT's history `x(0) = formula of t` reads the formula before t0.
// The value is differentiable in the grid states it mixes and, through the
// interpolation weight, in tau: AD and finite differences see the same piecewise-linear history.
import type { Tensor, TF } from './tf';

/** A state's value at a time before t0 (`at`: that time as a tensor, to differentiate through it). */
type Fn1 = (time: number, at?: Tensor) => Tensor;

/** The grid states of the solve in progress (the solver records each step, engine/integrate.ts). */
export class DelayHistory {
  private t0 = 0;
  private h = 1;
  private grid: Tensor[][] = [];
  /** XPPAUT's history x(t) for t < t0 of the states that have one (`x(0) = formula of t`), else the initial value. */
  past: (Fn1 | undefined)[] = [];

  /** A new solve: the grid starts at t0 with states x0, step h. */
  begin(x0: Tensor[], t0: number, h: number): void {
    this.grid = [x0];
    this.t0 = t0;
    this.h = h;
  }

  /** The states of the next grid point (after its events). */
  record(x: Tensor[]): void {
    this.grid.push(x);
  }

  private lastTau?: Tensor;
  private lastValue = 0;

  /** tau's value; a shared parameter is the same tensor at every evaluation of a solve, so it is read once. */
  private valueOf(tau: Tensor): number {
    if (tau !== this.lastTau || tau.isDisposed) {
      this.lastTau = tau;
      this.lastValue = tau.dataSync()[0];
    }
    return this.lastValue;
  }

  /** State si at time now − tau; `current` is the state being evaluated (used when no solve is in progress). */
  read(tf: TF, si: number, now: number, tau: Tensor | number, current: Tensor): Tensor {
    const grid = this.grid;
    // No solve in progress (none yet, or the last one's tensors are gone): the current state.
    if (grid.length === 0 || grid[grid.length - 1][si].isDisposed) return current;
    const tauValue = typeof tau === 'number' ? tau : this.valueOf(tau);
    let s = (now - tauValue - this.t0) / this.h;
    const nearest = Math.round(s);
    if (Math.abs(s - nearest) < 1e-9) s = nearest; // on a grid point up to rounding of t
    if (s <= 0) {
      const past = s < 0 ? this.past[si] : undefined;
      if (!past) return grid[0][si];
      // The formula at t = now − tau, a tensor of tau when tau is one (its time derivative is tau's gradient).
      return past(now - tauValue, typeof tau === 'number' ? undefined : tf.sub(tf.scalar(now), tau));
    }
    const last = grid.length - 1;
    const n = Math.floor(s);
    if (n >= last) return grid[last][si];
    const a = grid[n][si];
    if (s === n && typeof tau === 'number') return a; // with a tensor tau, w = 0 still carries its gradient
    const b = grid[n + 1][si];
    // w = s − n, as a tensor when tau is one (its gradient is −(b − a)/h).
    const w =
      typeof tau === 'number' ? tf.scalar(s - n) : tf.sub(tf.scalar((now - this.t0) / this.h - n), tf.div(tau, this.h));
    return tf.add(a, tf.mul(w, tf.sub(b, a)));
  }
}
