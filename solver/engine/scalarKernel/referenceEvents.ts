// The continuous reference of a fused scalar model with XPPAUT events (`global sign g {x=R(x)}`), in plain JS
// (docs/engine.md#events-and-delays-engineeventsts-enginedelaysts). The discrete network applies a reset at the grid point after the
// condition crosses; the flow applies it at the crossing time t* itself, which moves with the parameters.
//
// Forward: classic RK4 on step H; when an event's condition crosses inside a step (XPPAUT's sign tests on the
// step's ends), t* is the root of the condition on the step's cubic Hermite interpolant (engine/hermite.ts,
// Illinois false position), the solve steps exactly to t*, applies the reset and restarts there.
// Backward: RK4 on p' = −(∂x f)ᵀp and μ' = −(∂θ f)ᵀp (μ(t0) = ∫ pᵀ∂θ f dt) over the same sub-steps, x inside
// a sub-step by Hermite, and at each t* the jump condition of a reset x⁺ = R(x⁻, θ, t) where g(x, θ, t) = 0
// is crossed with ġ⁻ = ∂x g·f⁻ + ∂t g ≠ 0. Perturbing x⁻ and θ moves the firing by
// dt* = −(∂x g·δx⁻ + ∂θ g·δθ)/ġ⁻, and just after it
//   δx⁺ = ∂x R (δx⁻ + f⁻ dt*) + ∂θ R δθ + ∂t R dt* − f⁺ dt*
//       = [∂x R + w ∂x g/ġ⁻] δx⁻ + [∂θ R + w ∂θ g/ġ⁻] δθ,   w = f⁺ − ∂x R·f⁻ − ∂t R
// (the saltation matrix S = ∂x R + w ∂x gᵀ/ġ⁻; a state no reset sets has R = x),
// hence p⁻ = Sᵀp⁺ = (∂x R)ᵀp⁺ + ∂x g (wᵀp⁺)/ġ⁻ and dL/dθ gains (∂θ R)ᵀp⁺ + ∂θ g (wᵀp⁺)/ġ⁻.
// The same sweep also carries the gradient with every firing time held fixed (S₀ = ∂x R, no ∂θ g term):
// the limit the discrete network's AD tends to as dt → 0, since its reset sits at a grid point that does
// not move with θ. Their difference is what snapping the events to the grid costs AD.
//
// Not handled (the caller reports the reference as unavailable with the reason): a grazing crossing
// (|ġ⁻| tiny against |∂x g|·|f⁻| + |∂t g|), two events firing at the same time (the
// order of their resets changes with the parameters), more than MAX_EVENTS_PER_STEP in one step (Zeno
// behaviour) or MAX_EVENTS in all.
import { hermiteBasis } from '../hermite';
import { interpreterOf, outputValue } from '../programInterpreter';
import type { ScalarProgram } from '../scalarProgram';
import type { EventProgram } from './events';

/** Most events in one reference step before the solve is called Zeno. */
export const MAX_EVENTS_PER_STEP = 8;
/** Most events in a solve. */
export const MAX_EVENTS = 100_000;
/** |ġ⁻| below this share of |∂x g|·|f⁻| + |∂t g| is a grazing crossing: the firing time's sensitivity blows up. */
const GRAZING = 1e-4;

export interface EventSolveInput {
  rhs: ScalarProgram;
  events: EventProgram;
  /** Initial states and parameters, flat in program order. */
  x0: ArrayLike<number>;
  theta: ArrayLike<number>;
  t0: number;
  T: number;
  /** Reference steps. */
  K: number;
}

/** One firing of the continuous solve. */
export interface Firing {
  /** Index in model.events. */
  event: number;
  t: number;
  before: Float64Array;
  after: Float64Array;
  /** Sub-step that ends at t. */
  subStep: number;
}

export interface EventSolve {
  /** Sub-steps: start and end times, and x at both ends (flat, row i at i·S; `subSteps` rows are filled). */
  subSteps: number;
  ta: Float64Array;
  tb: Float64Array;
  xa: Float64Array;
  xb: Float64Array;
  firings: Firing[];
  xT: Float64Array;
  /** x at the reference nodes t0 + kH (after any event there), [(K + 1)·S]. */
  nodes: Float32Array;
}

/** Why a solve cannot be differentiated; `nonFinite`: its states stopped being finite (a finer step may help). */
export type Refusal = { reason: string; event: number; nonFinite?: boolean };

/** Evaluations of a program into fresh scratch. */
function evaluator(prog: ScalarProgram) {
  const run = interpreterOf(prog);
  const vals = new Float64Array(prog.code.length),
    adj = new Float64Array(prog.code.length),
    vs = new Float64Array(prog.states),
    vp = new Float64Array(prog.params),
    cot = new Float64Array(prog.outputs.length);
  const reversed = () => {
    vs.fill(0);
    vp.fill(0);
    run.reverse(vals, cot, vs, vp, adj);
    return { vs, vp };
  };
  return {
    run,
    vals,
    /** Output o at (x, θ, t) after `forward`. */
    out: (o: number) => outputValue(vals, prog.outputs[o]),
    /** At x[xAt…] (a sub-step's row), θ and t. */
    forward: (x: ArrayLike<number>, theta: ArrayLike<number>, t: number, xAt = 0) =>
      run.forward(x, xAt, theta, t, vals),
    /** (∂ outputs/∂x)ᵀc and (∂/∂θ)ᵀc at the last forward point, into vs and vp. */
    reverse: (c: (o: number) => number) => {
      for (let o = 0; o < cot.length; o++) cot[o] = c(o);
      return reversed();
    },
    /** The same with the cotangents y[at…] (no closure: the adjoint's sweep calls it eight times a step). */
    reverseFrom: (y: Float64Array, at: number) => {
      for (let o = 0; o < cot.length; o++) cot[o] = y[at + o];
      return reversed();
    },
  };
}

/** Whether an event of this sign fires between c0 and c1 (XPPAUT's tests, as the grid solve applies them). */
function fires(sign: -1 | 0 | 1, c0: number, c1: number): boolean {
  if (sign === 1) return c0 < 0 && c1 > 0;
  if (sign === -1) return c0 > 0 && c1 <= 0;
  return c0 !== 0 && c0 * c1 <= 0;
}

/** The forward solve with events located inside the steps, or why it cannot be. */
export function eventSolve(inp: EventSolveInput): EventSolve | Refusal {
  const { rhs, events, theta, t0, T, K } = inp;
  const S = rhs.states,
    E = events.events.length;
  const H = (T - t0) / K;
  const f = evaluator(rhs);
  const ev = evaluator(events.prog);
  const rhsAt = (x: ArrayLike<number>, t: number, out: Float64Array) => {
    f.forward(x, theta, t);
    for (let e = 0; e < S; e++) out[e] = f.out(e);
    return out;
  };
  const conditions = (x: ArrayLike<number>, t: number, out: Float64Array) => {
    ev.forward(x, theta, t);
    for (let i = 0; i < E; i++) out[i] = ev.out(events.events[i].condition);
    return out;
  };
  const k1 = new Float64Array(S),
    k2 = new Float64Array(S),
    k3 = new Float64Array(S),
    k4 = new Float64Array(S),
    stage = new Float64Array(S);
  /** One RK4 step from (x, t) into `out`. */
  const rk4 = (x: Float64Array, t: number, dt: number, out: Float64Array): Float64Array => {
    rhsAt(x, t, k1);
    for (let e = 0; e < S; e++) stage[e] = x[e] + (dt / 2) * k1[e];
    rhsAt(stage, t + dt / 2, k2);
    for (let e = 0; e < S; e++) stage[e] = x[e] + (dt / 2) * k2[e];
    rhsAt(stage, t + dt / 2, k3);
    for (let e = 0; e < S; e++) stage[e] = x[e] + dt * k3[e];
    rhsAt(stage, t + dt, k4);
    for (let e = 0; e < S; e++) out[e] = x[e] + (dt / 6) * (k1[e] + 2 * k2[e] + 2 * k3[e] + k4[e]);
    return out;
  };
  const fa = new Float64Array(S),
    fb = new Float64Array(S),
    xs = new Float64Array(S);
  // The sub-steps in flat rows (K of them, and one more per firing): per-step arrays were most of the solve's garbage.
  // Room for a firing every 64 steps before the rows are copied into longer ones.
  let capacity = K + 16 + (K >> 6);
  const out: EventSolve = {
    subSteps: 0,
    ta: new Float64Array(capacity),
    tb: new Float64Array(capacity),
    xa: new Float64Array(capacity * S),
    xb: new Float64Array(capacity * S),
    firings: [],
    xT: new Float64Array(S),
    nodes: new Float32Array((K + 1) * S),
  };
  const grow = (a: Float64Array, n: number) => {
    const b = new Float64Array(n);
    b.set(a);
    return b;
  };
  const record = (ta: number, tb: number, xa: Float64Array, xb: Float64Array) => {
    if (out.subSteps === capacity) {
      // Firings add a sub-step each, usually a few against K.
      capacity += Math.max(64, capacity >> 3);
      out.ta = grow(out.ta, capacity);
      out.tb = grow(out.tb, capacity);
      out.xa = grow(out.xa, capacity * S);
      out.xb = grow(out.xb, capacity * S);
    }
    const i = out.subSteps++;
    out.ta[i] = ta;
    out.tb[i] = tb;
    // Loops: TypedArray.set costs more than S copies for a few states.
    for (let e = 0; e < S; e++) {
      out.xa[i * S + e] = xa[e];
      out.xb[i * S + e] = xb[e];
    }
  };
  let x = Float64Array.from(inp.x0);
  let xb = new Float64Array(S);
  let t = t0;
  out.nodes.set(x, 0);
  /** An event that just fired, with its condition still at about zero: it cannot fire again at once. */
  let justFired = -1;
  let inStep = 0;
  // The conditions at the step's ends; c0 is the last step's c1 when it ended without a firing (not evaluated again).
  let c0 = new Float64Array(E),
    c1 = new Float64Array(E);
  let atStart = false;
  for (let k = 0; k < K; ) {
    const tb = k + 1 === K ? T : t0 + (k + 1) * H;
    const dt = tb - t;
    if (dt > 0) rk4(x, t, dt, xb);
    else xb.set(x);
    for (let e = 0; e < S; e++)
      if (!Number.isFinite(xb[e]))
        return {
          event: 0,
          nonFinite: true,
          reason: `the reference solve is not finite from t = ${t.toPrecision(4)} on (step ${dt.toPrecision(3)})`,
        };
    if (!atStart) conditions(x, t, c0);
    conditions(xb, tb, c1);
    atStart = false;
    let anyFiring = false;
    for (let i = 0; i < E; i++) if (i !== justFired && fires(events.events[i].sign, c0[i], c1[i])) anyFiring = true;
    const fired = justFired;
    justFired = -1;
    if (!anyFiring || dt <= 0) {
      record(t, tb, x, xb);
      [x, xb] = [xb, x];
      t = tb;
      k++;
      inStep = 0;
      for (let e = 0; e < S; e++) out.nodes[k * S + e] = x[e];
      [c0, c1] = [c1, c0];
      atStart = true;
      continue;
    }
    // The earliest crossing on the Hermite interpolant of the step.
    rhsAt(x, t, fa);
    rhsAt(xb, tb, fb);
    const at = (tau: number) => {
      const b = hermiteBasis((tau - t) / dt, dt);
      for (let e = 0; e < S; e++) xs[e] = b.v0 * x[e] + b.v1 * xb[e] + b.d0 * fa[e] + b.d1 * fb[e];
      return xs;
    };
    const condition = (tau: number, i: number) => {
      ev.forward(at(tau), theta, tau);
      return ev.out(events.events[i].condition);
    };
    let first = -1,
      tStar = Infinity,
      second = Infinity;
    for (let i = 0; i < E; i++) {
      if (i === fired || !fires(events.events[i].sign, c0[i], c1[i])) continue;
      const root = crossing((tau) => condition(tau, i), t, tb, c0[i], c1[i]);
      if (root < tStar) {
        second = tStar;
        tStar = root;
        first = i;
      } else second = Math.min(second, root);
    }
    // Two firings at one time: which reset acts first (or whether both do) changes with the parameters.
    const tie = 1e-6 * Math.max(1, Math.abs(tStar));
    const last = out.firings.at(-1);
    if (second - tStar < tie || (last && last.event !== first && tStar - last.t < tie))
      return {
        event: first,
        reason: `two events fire at the same time (t = ${tStar.toPrecision(4)}), so the order of their resets changes with the parameters`,
      };
    if (++inStep > MAX_EVENTS_PER_STEP || out.firings.length >= MAX_EVENTS)
      return {
        event: first,
        reason:
          inStep > MAX_EVENTS_PER_STEP
            ? `more than ${MAX_EVENTS_PER_STEP} events in one step near t = ${tStar.toPrecision(4)} (Zeno behaviour)`
            : `more than ${MAX_EVENTS} events`,
      };
    const before = tStar > t ? rk4(x, t, tStar - t, new Float64Array(S)) : Float64Array.from(x);
    record(t, tStar, x, before);
    ev.forward(before, theta, tStar);
    const after = Float64Array.from(before);
    for (const r of events.events[first].resets) after[r.state] = ev.out(r.value);
    out.firings.push({ event: first, t: tStar, before, after, subStep: out.subSteps - 1 });
    x = Float64Array.from(after);
    t = tStar;
    justFired = first;
  }
  out.xT.set(x);
  return out;
}

/** The root of c on (a, b) with c(a) = ca and c(b) = cb of opposite signs (or cb = 0): Illinois false position. */
function crossing(c: (t: number) => number, a: number, b: number, ca: number, cb: number): number {
  if (cb === 0) return b;
  let side = 0;
  for (let i = 0; i < 80 && b - a > 1e-14 * Math.max(1, Math.abs(b)); i++) {
    let m = (a * cb - b * ca) / (cb - ca);
    if (!(m > a && m < b)) m = (a + b) / 2;
    const cm = c(m);
    if (cm === 0) return m;
    if (Math.sign(cm) === Math.sign(cb)) {
      b = m;
      cb = cm;
      if (side === -1) ca /= 2;
      side = -1;
    } else {
      a = m;
      ca = cm;
      if (side === 1) cb /= 2;
      side = 1;
    }
  }
  return (a + b) / 2;
}

type Evaluator = ReturnType<typeof evaluator>;

/**
 * The condition's rate of change at a firing, ġ⁻ = ∂x g·f⁻ + ∂t g, with ∂x g, ∂θ g and f⁻; or the grazing refusal
 * when |ġ⁻| is tiny against |∂x g|·|f⁻| + |∂t g|. `around(o)`: ∂t of event output o at the firing (x⁻, t*).
 */
function firingRate(
  inp: EventSolveInput,
  f: Evaluator,
  ev: Evaluator,
  fi: Firing,
):
  | { fMinus: Float64Array; gx: Float64Array; gth: Float64Array; gdot: number; around: (o: number) => number }
  | Refusal {
  const { rhs, events, theta } = inp;
  const S = rhs.states;
  const t = fi.t;
  f.forward(fi.before, theta, t);
  const fMinus = Float64Array.from({ length: S }, (_v, e) => f.out(e));
  ev.forward(fi.before, theta, t);
  const cond = events.events[fi.event].condition;
  // One reverse pass gives both (its buffers are the evaluator's: copied before the next pass).
  const seeded = ev.reverse((o) => (o === cond ? 1 : 0));
  const gx = Float64Array.from(seeded.vs),
    gth = Float64Array.from(seeded.vp);
  // ∂t by central differences of the float32 program (exact for conditions and resets linear in t).
  const dtau = 2 ** -10 * Math.max(1, Math.abs(t));
  const around = (o: number) => {
    ev.forward(fi.before, theta, t + dtau);
    const up = ev.out(o);
    ev.forward(fi.before, theta, t - dtau);
    return (up - ev.out(o)) / (2 * dtau);
  };
  const gt = around(cond);
  let gdot = gt,
    scale = Math.abs(gt),
    gxNorm = 0,
    fNorm = 0;
  for (let e = 0; e < S; e++) {
    gdot += gx[e] * fMinus[e];
    gxNorm += gx[e] * gx[e];
    fNorm += fMinus[e] * fMinus[e];
  }
  scale += Math.sqrt(gxNorm * fNorm);
  if (!(Math.abs(gdot) > GRAZING * scale))
    return {
      event: fi.event,
      reason: `the trajectory grazes the event's condition at t = ${t.toPrecision(4)} (its rate of change there is about zero), so the firing time has no finite sensitivity`,
    };
  return { fMinus, gx, gth, gdot, around };
}

/**
 * Why eventAdjoint would refuse this forward solve, without its backward sweep: the grazing firing it meets
 * first (from the last firing back), or undefined. The only refusal of the sweep, which depends on the forward
 * solve alone: the caller compares the firing counts of two steps before it pays for any adjoint.
 */
export function adjointRefusal(inp: EventSolveInput, fw: EventSolve): Refusal | undefined {
  const f = evaluator(inp.rhs),
    ev = evaluator(inp.events.prog);
  for (let i = fw.firings.length - 1; i >= 0; i--) {
    const rate = firingRate(inp, f, ev, fw.firings[i]);
    if ('reason' in rate) return rate;
  }
  return undefined;
}

export interface EventAdjoint {
  /** dL/dθ of the flow with events, flat in program parameter order. */
  g: Float64Array;
  /** The same with every firing time held fixed (what the grid's AD tends to). */
  gFixed: Float64Array;
  /** p(t0), both ways. */
  p0: Float64Array;
  p0Fixed: Float64Array;
}

/** The backward sweep over a forward event solve from p(T) = ∂ℓ/∂x(T), or why a firing cannot be differentiated. */
export function eventAdjoint(inp: EventSolveInput, fw: EventSolve, pT: ArrayLike<number>): EventAdjoint | Refusal {
  const { rhs, events, theta } = inp;
  const S = rhs.states,
    Q = rhs.params;
  // fAt evaluates f at a sub-step's start, fEnd at its end and midpoint; the jumps have their own evaluator. A DAE's
  // evaluations start Newton's method from the last one's z (engine/algebraic.ts), so its points are evaluated in the
  // order they always were (start, end, midpoint, start again), none reused: its z are the same, and so are the
  // finite differences that follow on the same interpreter.
  const warmStarted = !!rhs.algebraic;
  let fAt = evaluator(rhs),
    fEnd = evaluator(rhs);
  const f = evaluator(rhs);
  const ev = evaluator(events.prog);
  const rhsAt = (x: ArrayLike<number>, t: number) => {
    f.forward(x, theta, t);
    return Float64Array.from({ length: S }, (_v, e) => f.out(e));
  };
  // Two adjoints side by side: with the firing-time terms (p, g) and without (q, gq).
  const p = Float64Array.from(pT),
    q = Float64Array.from(pT);
  const g = new Float64Array(Q),
    gq = new Float64Array(Q);
  /**
   * dy = (−(∂x f)ᵀy, −(∂θ f)ᵀy) for y = p and y = q, stacked, into d, at the point `at` was last evaluated at.
   * Scratch reused per step: the allocations and repeated evaluations were a third of the sweep (a CPU profile).
   */
  const F = (at: Evaluator, y: Float64Array, d: Float64Array): Float64Array => {
    for (let side = 0; side < 2; side++) {
      const { vs, vp } = at.reverseFrom(y, side * S);
      const row = side * (S + Q);
      for (let e = 0; e < S; e++) d[row + e] = -vs[e];
      for (let r = 0; r < Q; r++) d[row + S + r] = -vp[r];
    }
    return d;
  };
  const evaluate = (at: Evaluator, x: ArrayLike<number>, xAt: number, t: number, out?: Float64Array) => {
    at.forward(x, theta, t, xAt);
    if (out) for (let e = 0; e < S; e++) out[e] = at.out(e);
  };
  const xm = new Float64Array(S);
  const y = new Float64Array(2 * S),
    yStage = new Float64Array(2 * S);
  let fa = new Float64Array(S),
    fb = new Float64Array(S);
  const [s1, s2, s3, s4] = [0, 1, 2, 3].map(() => new Float64Array(2 * (S + Q)));
  const stageOf = (s: Float64Array, c: number) => {
    for (let side = 0; side < 2; side++)
      for (let e = 0; e < S; e++) yStage[side * S + e] = y[side * S + e] - c * s[side * (S + Q) + e];
    return yStage;
  };
  const { xa: XA, xb: XB } = fw;
  /** The sub-step after i (swept just before it) started where i ends: f there is fAt's, from that sub-step. */
  let nextStartsAt = -1;
  const endsWhereNextStarts = (i: number) => {
    const j = nextStartsAt;
    if (j < 0 || fw.ta[j] !== fw.tb[i]) return false;
    for (let e = 0; e < S; e++) if (XA[j * S + e] !== XB[i * S + e]) return false;
    return true;
  };
  let firing = fw.firings.length - 1;
  for (let i = fw.subSteps - 1; i >= 0; i--) {
    while (firing >= 0 && fw.firings[firing].subStep === i) {
      const r = jump(fw.firings[firing]);
      if (r) return r;
      firing--;
    }
    const ta = fw.ta[i],
      tb = fw.tb[i],
      dt = tb - ta;
    if (!(dt > 0)) continue;
    const row = i * S;
    if (warmStarted) {
      evaluate(fAt, XA, row, ta, fa);
      evaluate(fEnd, XB, row, tb, fb);
    } else {
      if (endsWhereNextStarts(i)) {
        // The same point, evaluated alike: its values and f serve as this sub-step's end.
        [fEnd, fAt] = [fAt, fEnd];
        [fb, fa] = [fa, fb];
      } else evaluate(fEnd, XB, row, tb, fb);
      evaluate(fAt, XA, row, ta, fa);
      nextStartsAt = i;
    }
    const b = hermiteBasis(0.5, dt);
    for (let e = 0; e < S; e++) xm[e] = b.v0 * XA[row + e] + b.v1 * XB[row + e] + b.d0 * fa[e] + b.d1 * fb[e];
    // RK4 backward from tb to ta on (p, q) with the parameter integrals alongside.
    for (let e = 0; e < S; e++) {
      y[e] = p[e];
      y[S + e] = q[e];
    }
    F(fEnd, y, s1);
    evaluate(fEnd, xm, 0, ta + dt / 2);
    F(fEnd, stageOf(s1, dt / 2), s2);
    F(fEnd, stageOf(s2, dt / 2), s3);
    if (warmStarted) evaluate(fAt, XA, row, ta);
    F(fAt, stageOf(s3, dt), s4);
    const step = (j: number) => (dt / 6) * (s1[j] + 2 * s2[j] + 2 * s3[j] + s4[j]);
    for (let e = 0; e < S; e++) {
      p[e] -= step(e);
      q[e] -= step(S + Q + e);
    }
    for (let r = 0; r < Q; r++) {
      g[r] -= step(S + r);
      gq[r] -= step(S + Q + S + r);
    }
  }

  /** The jump at one firing: p⁻ = Sᵀp⁺ and the parameter terms; q with the firing time held fixed. */
  function jump(fi: Firing): Refusal | undefined {
    const spec = events.events[fi.event];
    const t = fi.t;
    const fPlus = rhsAt(fi.after, t);
    const rate = firingRate(inp, f, ev, fi);
    if ('reason' in rate) return rate;
    const { fMinus, gx, gth, gdot, around } = rate;
    // w = f⁺ − ∂x R·f⁻ − ∂t R, row by row (a state no reset sets has R = x: w = f⁺ − f⁻).
    const w = new Float64Array(S);
    for (let e = 0; e < S; e++) w[e] = fPlus[e] - fMinus[e];
    const reset = new Map<number, { rx: Float64Array; rth: Float64Array; rt: number }>();
    for (const r of spec.resets) {
      const rt = around(r.value);
      ev.forward(fi.before, theta, t);
      const { vs, vp } = ev.reverse((o) => (o === r.value ? 1 : 0));
      reset.set(r.state, { rx: Float64Array.from(vs), rth: Float64Array.from(vp), rt });
    }
    for (const [s, r] of reset) {
      let rf = 0;
      for (let e = 0; e < S; e++) rf += r.rx[e] * fMinus[e];
      w[s] = fPlus[s] - rf - r.rt;
    }
    const applyReset = (y: Float64Array, gAcc: Float64Array) => {
      // (∂x R)ᵀy and (∂θ R)ᵀy: identity rows for the states no reset sets.
      const out = Float64Array.from(y);
      for (const s of reset.keys()) out[s] = 0;
      for (const [s, r] of reset) {
        for (let e = 0; e < S; e++) out[e] += r.rx[e] * y[s];
        for (let k = 0; k < Q; k++) gAcc[k] += r.rth[k] * y[s];
      }
      return out;
    };
    let wp = 0;
    for (let e = 0; e < S; e++) wp += w[e] * p[e];
    const pMinus = applyReset(p, g);
    for (let e = 0; e < S; e++) pMinus[e] += (gx[e] * wp) / gdot;
    for (let k = 0; k < Q; k++) g[k] += (gth[k] * wp) / gdot;
    p.set(pMinus);
    q.set(applyReset(q, gq));
    return undefined;
  }
  return { g, gFixed: gq, p0: p, p0Fixed: q };
}
