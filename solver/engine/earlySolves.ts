// Perturbed solves taken before AD (docs/engine.md#threads). A check whose reference reads AD (refined grids: delay
// models) and whose AD runs past the refined levels' limit (their budget over their cost per ms of AD) has no reference
// to run after AD: its second thread would be idle until the finite differences. It solves meanwhile each scalar
// parameter's first central difference, at the step its ladder takes when AD's gradient puts ε at its floor
// (stepWithin with nothing to resolve): every ladder takes that step, its finer ones only after a first that disagrees
// with AD. The ladder finds them by their perturbed values: a probe whose θ₊ and θ₋ are a slot's takes the slot's
// losses instead of solving, so its results are its own solves' bit for bit, and a guess that missed costs the idle
// thread's time. Solves that record firings (events on the whole-solve kernel) are not taken: the ladder compares
// them with the unperturbed solve's, which AD's forward solve gives.
import type { Model } from '../model';
import { stepWithin, unreadParameter } from './finiteDifferenceSteps';
import { workClock } from './work';

/** One early central difference: scalar parameter `param` moved by ±step, to the float32 values `plus` and `minus`. */
export interface EarlySlot {
  param: number;
  step: number;
  plus: number;
  minus: number;
}

/** A slot's state: not started, being solved by the second thread, solved, or left to the ladder that needs it. */
const FREE = 0,
  RUNNING = 1,
  DONE = 2,
  LADDER = 3;

/** The slots and their results, on SharedArrayBuffers that both threads of a check hold. */
export interface EarlySolves {
  slots: EarlySlot[];
  /** Per slot: FREE, RUNNING, DONE or LADDER. */
  states: Int32Array;
  /** Per slot: L(θ + step), L(θ − step) and the two solves' work in ms. */
  results: Float64Array;
  /** One word: the slots the ladders took (on either thread). */
  taken: Int32Array;
}

/**
 * The early solves of a model: those of every scalar parameter a solve reads (engine/finiteDifferenceSteps.ts), in
 * parameter order. Undefined when there are none or the solves record firings.
 */
export function earlySolves(model: Model, values: Float32Array[], recordsFirings: boolean): EarlySolves | undefined {
  if (recordsFirings) return undefined;
  const scalars = model.params
    .map((p, i) => ({ p, i }))
    .filter(({ p, i }) => values[i].length === 1 && !unreadParameter(p))
    .map(({ i }) => i);
  if (scalars.length === 0) return undefined;
  const slots = scalars.map((param): EarlySlot => {
    const theta = values[param][0],
      step = stepWithin(Math.abs(theta), 0);
    // As the ladder writes θ ± ε·v (writeMoved), v = ±1 for a scalar.
    return { param, step, plus: Math.fround(theta + step), minus: Math.fround(theta - step) };
  });
  return {
    slots,
    states: new Int32Array(new SharedArrayBuffer(4 * slots.length)),
    results: new Float64Array(new SharedArrayBuffer(8 * 3 * slots.length)),
    taken: new Int32Array(new SharedArrayBuffer(4)),
  };
}

/**
 * The second thread's side: solves the slots in order (each `solve(param, step)` giving [L(θ + step), L(θ − step)])
 * until `stop` says other work waits for this thread, letting its messages in between solves.
 */
export async function solveEarly(
  early: EarlySolves,
  solve: (param: number, step: number) => [number, number],
  stop: () => boolean,
): Promise<void> {
  const { slots, states, results } = early;
  for (let s = 0; s < slots.length; s++) {
    if (stop()) return;
    if (Atomics.compareExchange(states, s, FREE, RUNNING) !== FREE) continue;
    const clock = workClock();
    let state = LADDER;
    try {
      const [plus, minus] = solve(slots[s].param, slots[s].step);
      results[3 * s] = plus;
      results[3 * s + 1] = minus;
      results[3 * s + 2] = clock.workMs();
      state = DONE;
    } finally {
      // A solve that failed here fails on the ladder's thread too, which then reports it as one thread does.
      Atomics.store(states, s, state);
      Atomics.notify(states, s);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The ladder's side: the losses [L(θ₊), L(θ₋)] of scalar parameter `param` moved to `plus` and `minus` when a slot
 * holds them (waiting at most `waitMs` for one the second thread is solving), with their work; else undefined, and
 * the ladder solves them (a matching slot not started is then the ladder's); 'stalled' when the slot was still being
 * solved after `waitMs` (the ladder solves them too).
 */
export function takeEarly(
  early: EarlySolves,
  param: number,
  plus: number,
  minus: number,
  waitMs: number,
): { losses: [number, number]; ms: number } | 'stalled' | undefined {
  const { slots, states, results } = early;
  for (let s = 0; s < slots.length; s++) {
    const slot = slots[s];
    if (slot.param !== param) continue;
    const same = slot.plus === plus && slot.minus === minus;
    if (!same && !(slot.plus === minus && slot.minus === plus)) continue;
    let state = Atomics.compareExchange(states, s, FREE, LADDER);
    if (state === RUNNING) {
      Atomics.wait(states, s, RUNNING, waitMs);
      state = Atomics.load(states, s);
      if (state === RUNNING) return 'stalled';
    }
    if (state !== DONE) return undefined;
    Atomics.add(early.taken, 0, 1);
    const l0 = results[3 * s],
      l1 = results[3 * s + 1];
    return { losses: same ? [l0, l1] : [l1, l0], ms: results[3 * s + 2] };
  }
  return undefined;
}

/** The perturbed solves the ladders took from `early` so far (two a slot). */
export const earlySolvesTaken = (early: EarlySolves): number => 2 * Atomics.load(early.taken, 0);
