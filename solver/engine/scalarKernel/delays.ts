// XPPAUT's `delay(x, tau)` inside the whole-solve kernel: the rule of engine/delays.ts on the kernel's own
// trajectory array. The state at t − tau is the recorded grid states interpolated linearly (rows of the
// trajectory after each step, after its events), the initial value before t0 (or XPPAUT's history
// formula of t when the state has one), and the newest grid point for a time inside the step in
// progress. The float32 operations are the per-operation path's (w = s − n rounded, or with a tau that
// is a tensor w = ((t − t0)/h − n) − tau/h; then a + w·(b − a), each rounded). The adjoint of a read goes
// to the grid states it mixed (weights 1 − w and w, gathered per grid point for the discrete adjoint's
// sweep) and to tau through the weight (−(b − a)/h) or through the history formula (−its time derivative).
import type { Model } from '../../model';
import { elementCount } from '../../ops/shapes';
import { compileScalarExpressions, type ScalarProgram } from '../scalarRhs';
import { interpreterOf, WANT_ALL, type DelayReader, type Interpreter } from '../programInterpreter';
import type { CopyRows } from '../programWasm';

const f32 = Math.fround;
/** The history formulas read neither states nor parameters (the language checks it). */
const NOTHING = new Float64Array(0);

/** XPPAUT's histories `x(0) = formula of t` as one program; per state element its output, or −1. */
export interface PastProgram {
  prog: ScalarProgram;
  outputOf: Int32Array;
}

/**
 * The model's history formulas: `{}` when no state has one, `{ past }` when they compile, undefined when
 * one is outside the fused subset (the kernel then does not run the model).
 */
export function pastProgram(model: Model): { past?: PastProgram } | undefined {
  const withHistory = model.states.filter((s) => s.history);
  if (withHistory.length === 0) return {};
  const prog = compileScalarExpressions(
    model,
    withHistory.map((s) => s.history!),
  );
  if (!prog) return undefined;
  const outputOf: number[] = [];
  let k = 0;
  for (const s of model.states) {
    const out = s.history ? k++ : -1;
    // A state's formula is a scalar; every element of the state reads it (the per-operation compile broadcasts it).
    for (let e = 0; e < elementCount(s.shape); e++) outputOf.push(out);
  }
  return { past: { prog, outputOf: Int32Array.from(outputOf) } };
}

/** The history of one kernel solve: its trajectory so far, and during an adjoint sweep the grid states' cotangents. */
export class KernelHistory implements DelayReader {
  private traj: ArrayLike<number> = new Float32Array(0);
  private cot: Float64Array = new Float64Array(0);
  /** The newest recorded grid point: the step in progress starts from it. */
  last = 0;
  /** h as TF.js's scalar of it (tau/h is a float32 division). */
  private readonly hf: number;
  private readonly past?: {
    run: Interpreter;
    outputOf: Int32Array;
    outputs: number[];
    vals: Float64Array;
    seed: Float64Array;
    adj: Float64Array;
    vs: Float64Array;
    vp: Float64Array;
    vt: Float64Array;
  };

  constructor(
    private readonly S: number,
    private readonly t0: number,
    private readonly h: number,
    past?: PastProgram,
  ) {
    this.hf = f32(h);
    if (past) {
      const L = past.prog.code.length;
      this.past = {
        run: interpreterOf(past.prog),
        outputOf: past.outputOf,
        outputs: past.prog.outputs,
        vals: new Float64Array(L),
        seed: new Float64Array(past.prog.outputs.length),
        adj: new Float64Array(L),
        vs: new Float64Array(past.prog.states),
        vp: new Float64Array(past.prog.params),
        vt: new Float64Array(1),
      };
    }
  }

  /** The grid of a solve: row n of `traj` (n·S) is x_n once step n−1 is done; `cot`, for an adjoint sweep, gets the reads' cotangents. */
  attach(traj: ArrayLike<number>, cot?: Float64Array): void {
    this.traj = traj;
    this.last = 0;
    if (cot) this.cot = cot;
    this.grid = { trajectory: this.traj, cotangents: this.cot, h32: this.hf };
  }

  /** Grid position of now − tau, snapped to a grid point up to rounding of t (engine/delays.ts). */
  private position(now: number, tau: number): number {
    const s = (now - tau - this.t0) / this.h;
    const nearest = Math.round(s);
    return Math.abs(s - nearest) < 1e-9 ? nearest : s;
  }

  /** The interpolation weight inside cell n, rounded as the per-operation path rounds it. */
  private weight(s: number, n: number, now: number, tau: number, constant: boolean): number {
    return constant ? f32(s - n) : f32(f32((now - this.t0) / this.h - n) - f32(tau / this.hf));
  }

  /** The time the history formula is read at: t − tau (a number), or float32 t − tau (a tensor tau). */
  private static pastTime(now: number, tau: number, constant: boolean): number {
    return constant ? now - tau : f32(f32(now) - tau);
  }

  private pastOutput(index: number): number {
    return this.past ? this.past.outputOf[index] : -1;
  }

  /**
   * Where now − tau fell, per tau's slot in the program (`key`): the time, tau and kind it was located for, the grid
   * position s, its cell n and the weight w. A network's reads of one tau share it (forward, in runs of one tau), and so
   * do their adjoints (the sweep, in program order, meets the taus interleaved), and the adjoint of a step finds the
   * places its forward recomputation located. Only t0 and h, fixed for the history, enter the position.
   */
  private atNow = new Float64Array(0);
  private atTau = new Float64Array(0);
  private atKind = new Uint8Array(0);
  private atS = new Float64Array(0);
  private atN = new Float64Array(0);
  private atW = new Float64Array(0);
  /** Locates now − tau (for the program slot `key` of tau; −1: none) and returns the slot of the arrays holding it. */
  private locate(now: number, tau: number, constant: boolean, key: number): number {
    // Slot 0 is the key-less one; keyed positions from 1 on.
    const i = key + 1;
    if (i >= this.atNow.length) this.grow(i + 1);
    const kind = constant ? 2 : 1;
    if (this.atNow[i] === now && this.atTau[i] === tau && this.atKind[i] === kind) return i;
    const s = this.position(now, tau),
      n = Math.floor(s);
    this.atNow[i] = now;
    this.atTau[i] = tau;
    this.atKind[i] = kind;
    this.atS[i] = s;
    this.atN[i] = n;
    this.atW[i] = s > 0 ? this.weight(s, n, now, tau, constant) : 0;
    return i;
  }

  private grow(size: number): void {
    const more = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(Math.max(size, 2 * a.length));
      b.set(a);
      return b;
    };
    const f64 = (n: number) => new Float64Array(n);
    this.atNow = more(this.atNow, f64);
    this.atTau = more(this.atTau, f64);
    this.atKind = more(this.atKind, (n) => new Uint8Array(n));
    this.atS = more(this.atS, f64);
    this.atN = more(this.atN, f64);
    this.atW = more(this.atW, f64);
  }

  /**
   * After t0 (atS[i] > 0): the grid row a read of located slot i takes as it is (the newest row for a time inside the
   * step in progress, or a grid point of a constant tau), or −1 when it interpolates rows atN[i] and atN[i] + 1.
   */
  private rowAlone(i: number, constant: boolean): number {
    const n = this.atN[i];
    if (n >= this.last) return this.last;
    return this.atS[i] === n && constant ? n : -1;
  }

  readRun(
    index: Int32Array,
    into: Int32Array,
    from: number,
    to: number,
    v: Float64Array,
    now: number,
    tau: number,
    constant: boolean,
    key: number,
  ): void {
    const i = this.locate(now, tau, constant, key);
    // Before t0 (the history formula, the initial value) as each read does.
    if (this.atS[i] <= 0) {
      for (let r = from; r < to; r++) v[into[r]] = this.read(index[r], now, tau, constant, key);
      return;
    }
    const S = this.S,
      traj = this.traj,
      row = this.rowAlone(i, constant);
    if (row >= 0) {
      const at = row * S;
      for (let r = from; r < to; r++) v[into[r]] = traj[at + index[r]];
      return;
    }
    const at = this.atN[i] * S;
    const w = this.atW[i];
    for (let r = from; r < to; r++) {
      const a = traj[at + index[r]];
      v[into[r]] = f32(a + f32(w * f32(traj[at + S + index[r]] - a)));
    }
  }

  /**
   * For a WebAssembly pass (programWasm.ts): where now − tau falls, as `read` locates it, with what its reads need
   * copied into `into` from `at`: one row's states (mode 0: the newest row, or a grid point of a constant tau), or
   * row n's and row n + 1's followed by the weight (mode 1: each read interpolates); mode 2: at or before t0 (each
   * read asks `read`). `only`: copies just these state elements of the rows (those the tau's reads take).
   */
  rows: CopyRows = (now, tau, constant, key, into, at, only) => {
    const i = this.locate(now, tau, constant, key);
    if (this.atS[i] <= 0) return 2;
    const S = this.S,
      row = this.rowAlone(i, constant),
      one = row >= 0;
    const from = (one ? row : this.atN[i]) * S,
      count = one ? S : 2 * S;
    const traj = this.traj;
    if (only)
      for (let r = 0; r < only.length; r++) {
        const e = only[r];
        into[at + e] = traj[from + e];
        if (!one) into[at + S + e] = traj[from + S + e];
      }
    else if (traj instanceof Float32Array) into.set(traj.subarray(from, from + count), at);
    else for (let e = 0; e < count; e++) into[at + e] = traj[from + e];
    if (one) return 0;
    into[at + 2 * S] = this.atW[i];
    return 1;
  };

  /** A read at or before t0: the initial value, or the history formula. */
  private readBeforeStart(index: number, now: number, tau: number, constant: boolean, s: number): number {
    const out = s < 0 ? this.pastOutput(index) : -1;
    if (out < 0) return this.traj[index];
    const past = this.past!;
    past.run.forward(NOTHING, 0, NOTHING, KernelHistory.pastTime(now, tau, constant), past.vals);
    return past.vals[past.outputs[out]];
  }

  read(index: number, now: number, tau: number, constant: boolean, key = -1): number {
    const i = this.locate(now, tau, constant, key);
    const s = this.atS[i],
      S = this.S,
      traj = this.traj;
    // The rare case in a method of its own: this one stays small enough to be inlined where it is called.
    if (s <= 0) return this.readBeforeStart(index, now, tau, constant, s);
    const row = this.rowAlone(i, constant);
    if (row >= 0) return traj[row * S + index];
    const n = this.atN[i];
    const a = traj[n * S + index];
    const b = traj[(n + 1) * S + index];
    return f32(a + f32(this.atW[i] * f32(b - a)));
  }

  /**
   * For a WebAssembly reverse pass (reverseWasm.ts): the rows readBack adds the cotangents of tau's reads to (out[0],
   * and out[1] with the weight out[2] when they interpolate, else −1); false before t0 with a history formula, whose
   * adjoint the pass leaves to readBack.
   */
  backRows(now: number, tau: number, constant: boolean, key: number, out: Float64Array): boolean {
    const i = this.locate(now, tau, constant, key);
    const s = this.atS[i];
    if (s <= 0) {
      if (s < 0 && this.past) return false;
      out[0] = 0;
      out[1] = -1;
      return true;
    }
    const row = this.rowAlone(i, constant);
    out[0] = row >= 0 ? row : this.atN[i];
    out[1] = row >= 0 ? -1 : this.atN[i] + 1;
    out[2] = this.atW[i];
    return true;
  }

  /** The attached grid, its cotangents and h as float32, as a WebAssembly reverse pass reads them (reverseWasm.ts). */
  grid: { trajectory: ArrayLike<number>; cotangents: Float64Array; h32: number } = {
    trajectory: this.traj,
    cotangents: this.cot,
    h32: 0,
  };

  /** readBack at or before t0: the initial value's cotangent, or tau's through the history formula. */
  private backBeforeStart(index: number, now: number, tau: number, constant: boolean, g: number, s: number): number {
    const out = s < 0 ? this.pastOutput(index) : -1;
    if (out < 0) {
      this.cot[index] += g;
      return 0;
    }
    if (constant) return 0;
    // d/dtau of the formula at t − tau: minus its time derivative.
    const past = this.past!;
    const at = KernelHistory.pastTime(now, tau, constant);
    past.run.forward(NOTHING, 0, NOTHING, at, past.vals);
    past.seed.fill(0);
    past.seed[out] = g;
    past.vt[0] = 0;
    past.run.reverse(past.vals, past.seed, past.vs, past.vp, past.adj, WANT_ALL, undefined, at, past.vt);
    return -past.vt[0];
  }

  readBack(index: number, now: number, tau: number, constant: boolean, g: number, key = -1): number {
    const i = this.locate(now, tau, constant, key);
    const s = this.atS[i],
      S = this.S,
      cot = this.cot;
    if (s <= 0) return this.backBeforeStart(index, now, tau, constant, g, s);
    const row = this.rowAlone(i, constant);
    if (row >= 0) {
      cot[row * S + index] += g;
      return 0;
    }
    const n = this.atN[i],
      w = this.atW[i];
    cot[n * S + index] += g * (1 - w);
    cot[(n + 1) * S + index] += g * w;
    if (constant) return 0;
    const traj = this.traj;
    return (-g * (traj[(n + 1) * S + index] - traj[n * S + index])) / this.hf;
  }
}
