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

  /** The last read's time and tau, and where t − tau fell (a network reads one tau for many elements in a row). */
  private memoNow = Number.NaN;
  private memoTau = Number.NaN;
  private memoConstant = false;
  private memoS = 0;
  private memoW = 0;

  read(index: number, now: number, tau: number, constant: boolean): number {
    if (now !== this.memoNow || tau !== this.memoTau || constant !== this.memoConstant) {
      this.memoNow = now;
      this.memoTau = tau;
      this.memoConstant = constant;
      this.memoS = this.position(now, tau);
      const n = Math.floor(this.memoS);
      this.memoW = this.memoS > 0 ? this.weight(this.memoS, n, now, tau, constant) : 0;
    }
    const s = this.memoS,
      S = this.S,
      traj = this.traj;
    if (s <= 0) {
      const out = s < 0 ? this.pastOutput(index) : -1;
      if (out < 0) return traj[index];
      const past = this.past!;
      past.run.forward(NOTHING, 0, NOTHING, KernelHistory.pastTime(now, tau, constant), past.vals);
      return past.vals[past.outputs[out]];
    }
    const n = Math.floor(s),
      last = this.last;
    if (n >= last) return traj[last * S + index];
    const a = traj[n * S + index];
    if (s === n && constant) return a;
    const b = traj[(n + 1) * S + index];
    return f32(a + f32(this.memoW * f32(b - a)));
  }

  readBack(index: number, now: number, tau: number, constant: boolean, g: number): number {
    const s = this.position(now, tau),
      S = this.S,
      cot = this.cot;
    if (s <= 0) {
      const out = s < 0 ? this.pastOutput(index) : -1;
      if (out < 0) {
        cot[index] += g;
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
    const n = Math.floor(s),
      last = this.last;
    if (n >= last) {
      cot[last * S + index] += g;
      return 0;
    }
    if (s === n && constant) {
      cot[n * S + index] += g;
      return 0;
    }
    const w = this.weight(s, n, now, tau, constant);
    cot[n * S + index] += g * (1 - w);
    cot[(n + 1) * S + index] += g * w;
    if (constant) return 0;
    const traj = this.traj;
    return (-g * (traj[(n + 1) * S + index] - traj[n * S + index])) / this.hf;
  }
}
