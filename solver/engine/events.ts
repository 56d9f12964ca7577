// What a solve does between steps beyond the scheme: XPPAUT `global` events (resets) and the history
// `delay(x, tau)` reads. The steppers (engine/integrate.ts) call `begin` once and `afterStep` after each
// step; everything here runs on the fixed grid.
//
// Events: after the step from t_n to t_{n+1}, each condition C is evaluated at both grid points; sign 1
// fires when C(t_n) < 0 < C(t_{n+1}), sign −1 when C(t_n) > 0 ≥ C(t_{n+1}), sign 0 when C(t_n) ≠ 0 and
// C(t_n)·C(t_{n+1}) ≤ 0 (XPPAUT's tests). Every formula of every firing event is evaluated on the
// states of t_{n+1}, then the states are set (a later line wins for the same state), as XPPAUT does.
// XPPAUT also moves the event to the interpolated crossing time inside the step; here it stays at the
// grid point, so the discrete network is x_{n+1} ← where(fired, reset(x_{n+1}), x_{n+1}): AD goes through
// the reset map, the firing itself is a discrete choice (no gradient of the event time).
import type { Model } from '../model';
import type { Tensor, TF } from './tf';
import type { Env, Fn, NodeCompiler } from './compileNode';
import type { DelayHistory } from './delays';

/** Hooks of a solve with events or delays (CompiledModel.timeStepping). */
export interface TimeStepping {
  begin(x0: Tensor[], t0: number, h: number): void;
  /** The states at t_{n+1} = tNext after the events of the step from `prev` at tPrev; recorded for delays. */
  afterStep(prev: Tensor[], next: Tensor[], tPrev: number, tNext: number, p: Tensor[]): Tensor[];
}

interface CompiledEvent {
  sign: -1 | 0 | 1;
  condition: Fn;
  resets: { state: number; value: Fn }[];
}

/** The model's time stepping, or undefined when it has neither events nor delays (compile after the right-hand sides). */
export function compileTimeStepping(nodes: NodeCompiler, model: Model): TimeStepping | undefined {
  const states = new Map(model.states.map((s, i) => [s.name, i]));
  const events = (model.events ?? []).map((ev): CompiledEvent => {
    return {
      sign: ev.sign,
      condition: nodes.compile(ev.condition, false, false).fn,
      resets: ev.resets.map((r) => {
        const state = states.get(r.state)!;
        const n = nodes.compile(r.value, false, false);
        return {
          state,
          value: nodes.conform(n, model.states[state].shape, r.range, `the event's value of ${r.state}`),
        };
      }),
    };
  });
  const history = nodes.history;
  if (events.length === 0 && !history) return undefined;
  if (history)
    history.past = model.states.map((s) => {
      if (!s.history) return undefined;
      const f = nodes.conform(
        nodes.compile(s.history, false, false),
        s.shape,
        s.history.range,
        `the history of ${s.name}`,
      );
      return (time: number, at?: Tensor) => f({ s: [], p: [], t: at ?? nodes.tf.scalar(time), now: time });
    });
  return timeStepping(nodes.tf, events, history);
}

function timeStepping(tf: TF, events: CompiledEvent[], history: DelayHistory | undefined): TimeStepping {
  const env = (s: Tensor[], p: Tensor[], t: number): Env => ({ s, p, t: tf.scalar(t), now: t });
  return {
    begin(x0, t0, h) {
      history?.begin(x0, t0, h);
    },
    afterStep(prev, next, tPrev, tNext, p) {
      let out = next;
      if (events.length > 0) {
        const before = env(prev, p, tPrev),
          after = env(next, p, tNext);
        const fired = events.map((ev) => firing(tf, ev.sign, ev.condition(before), ev.condition(after)));
        const values = events.map((ev) => ev.resets.map((r) => r.value(after)));
        out = next.slice();
        events.forEach((ev, k) =>
          ev.resets.forEach((r, j) => {
            out[r.state] = tf.where(fired[k], values[k][j], out[r.state]);
          }),
        );
      }
      history?.record(out);
      return out;
    },
  };
}

/** Whether the event fires between the condition's values c0 and c1 (a bool tensor; built from step, whose gradient is zero). */
function firing(tf: TF, sign: -1 | 0 | 1, c0: Tensor, c1: Tensor): Tensor {
  const positive = (x: Tensor) => tf.step(x, 0);
  const m =
    sign === 1
      ? tf.mul(positive(tf.neg(c0)), positive(c1))
      : sign === -1
        ? tf.mul(positive(c0), tf.sub(1, positive(c1)))
        : tf.mul(positive(tf.abs(c0)), tf.sub(1, positive(tf.mul(c0, c1))));
  return tf.greaterEqual(m, 0.5);
}
