// XPPAUT `global` events inside the whole-solve kernel: the same rule as engine/events.ts (after the step
// from t_n to t_{n+1}, each condition at both grid points; every firing event's values taken on the
// states of t_{n+1}, then set, a later event winning for the same state), on the conditions and reset
// values compiled as one scalar program. The firing is a discrete choice (no gradient); the adjoint goes
// through the reset values, as TF.js's where() does.
import type { Expr, Model } from '../../model';
import { elementCount } from '../../ops/shapes';
import { compileScalarExpressions, type ScalarProgram } from '../scalarRhs';
import { interpreterOf, type Interpreter } from '../programInterpreter';

interface KernelEvent {
  sign: -1 | 0 | 1;
  /** Output of the condition. */
  condition: number;
  /** State element each reset sets and the output of its value. */
  resets: { state: number; value: number }[];
}

export interface EventProgram {
  prog: ScalarProgram;
  events: KernelEvent[];
  /** The conditions alone, output e of event e: each step evaluates them; the reset values only when one fires. */
  conditions: ScalarProgram;
  /**
   * The distinct (sign, condition output) pairs, and per event its pair's index: events that share a condition
   * (an array's resets, `global 0 t-t0 {w[0..99]=…}`: 100 events of one condition) are tested once a step.
   */
  triggers: { sign: -1 | 0 | 1; output: number }[];
  triggerOf: Int32Array;
}

/** The model's events as one program, or undefined (none, a reset of a non-scalar state, or outside the fused subset). */
export function eventProgram(model: Model): EventProgram | undefined {
  // Asked for by the reference's availability, the compile and the event reference: built once while the model
  // lives (a model is not changed once analysed), as compileScalarProgram's, so its interpreters are shared too.
  const known = eventPrograms.get(model);
  if (known !== undefined) return known ?? undefined;
  const program = buildEventProgram(model);
  eventPrograms.set(model, program ?? null);
  return program;
}

const eventPrograms = new WeakMap<Model, EventProgram | null>();

function buildEventProgram(model: Model): EventProgram | undefined {
  const modelEvents = model.events;
  if (!modelEvents?.length) return undefined;
  const at = new Map<string, number>();
  let offset = 0;
  for (const s of model.states) {
    if (s.shape.length === 0) at.set(s.name, offset);
    offset += elementCount(s.shape);
  }
  const exprs: Expr[] = [];
  const events: KernelEvent[] = [];
  for (const ev of modelEvents) {
    const condition = exprs.push(ev.condition) - 1;
    const resets: KernelEvent['resets'] = [];
    for (const r of ev.resets) {
      const state = at.get(r.state);
      if (state === undefined) return undefined;
      resets.push({ state, value: exprs.push(r.value) - 1 });
    }
    events.push({ sign: ev.sign, condition, resets });
  }
  const prog = compileScalarExpressions(model, exprs);
  const conditions =
    prog &&
    compileScalarExpressions(
      model,
      events.map((ev) => exprs[ev.condition]),
    );
  if (!prog || !conditions) return undefined;
  const triggers: EventProgram['triggers'] = [];
  const byKey = new Map<string, number>();
  const triggerOf = Int32Array.from(events, (ev, e) => {
    const output = conditions.outputs[e],
      key = `${ev.sign} ${output}`;
    let k = byKey.get(key);
    if (k === undefined) byKey.set(key, (k = triggers.push({ sign: ev.sign, output }) - 1));
    return k;
  });
  return { prog, events, conditions, triggers, triggerOf };
}

/** Whether an event of this sign fires between the condition's values c0 and c1 (NaN never fires, as TF.js's step()). */
function fires(sign: -1 | 0 | 1, c0: number, c1: number): boolean {
  if (sign === 1) return c0 < 0 && c1 > 0;
  if (sign === -1) return c0 > 0 && c1 <= 0;
  return Math.abs(c0) > 0 && Math.fround(c0 * c1) <= 0;
}

/**
 * Which events fired at which steps of one solve: how many firings, and an order-dependent hash of their
 * (step, event) pairs. Two solves with equal signatures fired alike (up to a 2⁻³² collision); finite
 * differences compare them (engine/finiteDifferences.ts), since AD holds the firing steps fixed.
 */
export interface Firings {
  count: number;
  hash: number;
  /** The first and the latest firing's (step, event) key, step·events + event; −1 without firings. */
  first: number;
  last: number;
}

/** No firings yet. */
export const noFirings = (): Firings => ({ count: 0, hash: 0, first: -1, last: -1 });

export const sameFirings = (a: Firings, b: Firings) => a.count === b.count && a.hash === b.hash;

/** Scratch of the events of one solve. */
export class EventWorkspace {
  /** The firings of the forward solve in progress (applyEvents given its step; reset by forwardSolve). */
  readonly firings: Firings = noFirings();
  readonly run: Interpreter;
  readonly runConditions: Interpreter;
  /** The conditions' values at t_n and t_{n+1} (the two arrays trade places when the next step reuses them). */
  before: Float64Array<ArrayBuffer>;
  conditionsAfter: Float64Array<ArrayBuffer>;
  /**
   * The forward solve's step whose `conditionsAfter` are the conditions at the states it ended with (none fired) on
   * the parameter copy `afterParams`, or −1: step n + 1 reads them as its conditions at t_{n+1}.
   */
  afterStep = -1;
  afterParams: ArrayLike<number> | undefined;
  /** The whole program's values at t_{n+1} (a step where an event fires: the reverse sweep reads them). */
  readonly after: Float64Array<ArrayBuffer>;
  readonly adj: Float64Array<ArrayBuffer>;
  /** Per state element: the output of the value that sets it in this step, or −1. */
  readonly winner: Int32Array;
  readonly cot: Float64Array;
  readonly vs: Float64Array;
  readonly vp: Float64Array;
  /** Per trigger, whether it fired in this step. */
  readonly fired: Uint8Array;
  constructor(readonly program: EventProgram) {
    const { prog } = program;
    this.run = interpreterOf(prog);
    this.runConditions = interpreterOf(program.conditions);
    this.before = new Float64Array(program.conditions.code.length);
    this.conditionsAfter = new Float64Array(program.conditions.code.length);
    this.after = new Float64Array(prog.code.length);
    this.adj = new Float64Array(prog.code.length);
    this.winner = new Int32Array(prog.states);
    this.cot = new Float64Array(prog.outputs.length);
    this.vs = new Float64Array(prog.states);
    this.vp = new Float64Array(prog.params);
    this.fired = new Uint8Array(program.triggers.length);
  }
}

/**
 * The events of the step from x (states at x[xAt…], time tPrev) to out (out[outAt…], tNext): out is set
 * where they fire. Returns whether any fired; `winner` and `after` keep what the reverse sweep needs.
 * `step` (the forward solve's n) adds the firings to ew.firings; the reverse sweep's recomputation omits it.
 */
export function applyEvents(
  ew: EventWorkspace,
  x: ArrayLike<number>,
  xAt: number,
  out: Float32Array,
  outAt: number,
  p: ArrayLike<number>,
  tPrev: number,
  tNext: number,
  step?: number,
): boolean {
  const { run, runConditions, after, winner, fired } = ew;
  const { events, triggers, triggerOf } = ew.program;
  const outputs = ew.program.prog.outputs;
  // In a forward solve, x is the previous step's out: when nothing fired there and both steps read the same parameter
  // copy (one array of the solve: the same values), its conditions at t_n are that step's at t_{n+1}, as computed.
  if (step !== undefined && step > 0 && ew.afterStep === step - 1 && ew.afterParams === p) {
    const last = ew.conditionsAfter;
    ew.conditionsAfter = ew.before;
    ew.before = last;
  } else runConditions.forward(x, xAt, p, tPrev, ew.before);
  const { before, conditionsAfter } = ew;
  runConditions.forward(out, outAt, p, tNext, conditionsAfter);
  let any = false;
  for (let k = 0; k < triggers.length; k++) {
    const c = triggers[k].output,
      f = fires(triggers[k].sign, before[c], conditionsAfter[c]);
    fired[k] = f ? 1 : 0;
    any ||= f;
  }
  ew.afterStep = step !== undefined && !any ? step : -1;
  ew.afterParams = p;
  if (!any) return false;
  // The firing events in their order (a later one wins a state); `winner` is read only after a step where one fired.
  winner.fill(-1);
  for (let e = 0; e < events.length; e++) {
    if (fired[triggerOf[e]] === 0) continue;
    if (step !== undefined) record(ew.firings, step * events.length + e);
    for (const r of events[e].resets) winner[r.state] = r.value;
  }
  // The values on the states of t_{n+1}, before any is set.
  run.forward(out, outAt, p, tNext, after);
  for (let s = 0; s < winner.length; s++) if (winner[s] >= 0) out[outAt + s] = after[outputs[winner[s]]];
  return true;
}

/** Adds firing `key` (step·events + event) to a signature: a multiply–xorshift mix, in firing order. */
function record(f: Firings, key: number): void {
  let h = Math.imul(f.hash ^ key, 0x9e3779b1);
  h ^= h >>> 15;
  f.hash = Math.imul(h, 0x85ebca6b) >>> 0;
  if (f.count++ === 0) f.first = key;
  f.last = key;
}

/**
 * The adjoint of applyEvents: `lam`, the cotangent of the states after the events, becomes that of the
 * states before them (pre, at preAt: overwritten); the reset values' parameter cotangents are added to g.
 */
export function reverseEvents(
  ew: EventWorkspace,
  x: ArrayLike<number>,
  xAt: number,
  pre: Float32Array,
  preAt: number,
  p: ArrayLike<number>,
  tPrev: number,
  tNext: number,
  lam: Float64Array,
  g: Float64Array,
): void {
  if (!applyEvents(ew, x, xAt, pre, preAt, p, tPrev, tNext)) return;
  const { winner, cot, vs, vp } = ew;
  cot.fill(0);
  for (let s = 0; s < winner.length; s++)
    if (winner[s] >= 0) {
      cot[winner[s]] += lam[s];
      lam[s] = 0;
    }
  vs.fill(0);
  vp.fill(0);
  ew.run.reverse(ew.after, cot, vs, vp, ew.adj);
  for (let s = 0; s < vs.length; s++) lam[s] += vs[s];
  for (let q = 0; q < vp.length; q++) g[q] += vp[q];
}
