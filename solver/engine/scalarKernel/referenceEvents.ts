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
  /** Sub-steps: start and end times, x and f at both ends (S each, row per sub-step). */
  ta: number[];
  tb: number[];
  xa: Float64Array[];
  xb: Float64Array[];
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
  return {
    run,
    vals,
    /** Output o at (x, θ, t) after `forward`. */
    out: (o: number) => outputValue(vals, prog.outputs[o]),
    forward: (x: ArrayLike<number>, theta: ArrayLike<number>, t: number) => run.forward(x, 0, theta, t, vals),
    /** (∂ outputs/∂x)ᵀc and (∂/∂θ)ᵀc at the last forward point, into vs and vp. */
    reverse: (c: (o: number) => number) => {
      for (let o = 0; o < cot.length; o++) cot[o] = c(o);
      vs.fill(0);
      vp.fill(0);
      run.reverse(vals, cot, vs, vp, adj);
      return { vs, vp };
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
  const S = rhs.states;
  const H = (T - t0) / K;
  const f = evaluator(rhs);
  const ev = evaluator(events.prog);
  const rhsAt = (x: ArrayLike<number>, t: number, out: Float64Array) => {
    f.forward(x, theta, t);
    for (let e = 0; e < S; e++) out[e] = f.out(e);
    return out;
  };
  const conditions = (x: ArrayLike<number>, t: number) => {
    ev.forward(x, theta, t);
    return events.events.map((e) => ev.out(e.condition));
  };
  const k1 = new Float64Array(S),
    k2 = new Float64Array(S),
    k3 = new Float64Array(S),
    k4 = new Float64Array(S),
    stage = new Float64Array(S);
  const rk4 = (x: Float64Array, t: number, dt: number): Float64Array => {
    rhsAt(x, t, k1);
    for (let e = 0; e < S; e++) stage[e] = x[e] + (dt / 2) * k1[e];
    rhsAt(stage, t + dt / 2, k2);
    for (let e = 0; e < S; e++) stage[e] = x[e] + (dt / 2) * k2[e];
    rhsAt(stage, t + dt / 2, k3);
    for (let e = 0; e < S; e++) stage[e] = x[e] + dt * k3[e];
    rhsAt(stage, t + dt, k4);
    const out = new Float64Array(S);
    for (let e = 0; e < S; e++) out[e] = x[e] + (dt / 6) * (k1[e] + 2 * k2[e] + 2 * k3[e] + k4[e]);
    return out;
  };
  const fa = new Float64Array(S),
    fb = new Float64Array(S),
    xs = new Float64Array(S);
  const out: EventSolve = {
    ta: [],
    tb: [],
    xa: [],
    xb: [],
    firings: [],
    xT: new Float64Array(S),
    nodes: new Float32Array((K + 1) * S),
  };
  let x: Float64Array = Float64Array.from(inp.x0);
  let t = t0;
  out.nodes.set(x, 0);
  /** An event that just fired, with its condition still at about zero: it cannot fire again at once. */
  let justFired = -1;
  let inStep = 0;
  /** The conditions at (x, t) when the last step ended there without a firing (its c1): not evaluated again. */
  let atStart: number[] | undefined;
  for (let k = 0; k < K; ) {
    const tb = k + 1 === K ? T : t0 + (k + 1) * H;
    const dt = tb - t;
    const xb = dt > 0 ? rk4(x, t, dt) : Float64Array.from(x);
    if (!xb.every(Number.isFinite))
      return {
        event: 0,
        nonFinite: true,
        reason: `the reference solve is not finite from t = ${t.toPrecision(4)} on (step ${dt.toPrecision(3)})`,
      };
    const c0 = atStart ?? conditions(x, t),
      c1 = conditions(xb, tb);
    atStart = undefined;
    const firing = events.events.map((e, i) => i !== justFired && fires(e.sign, c0[i], c1[i]));
    justFired = -1;
    if (!firing.some(Boolean) || dt <= 0) {
      out.ta.push(t);
      out.tb.push(tb);
      out.xa.push(x);
      out.xb.push(xb);
      x = xb;
      t = tb;
      k++;
      inStep = 0;
      out.nodes.set(x, k * S);
      atStart = c1;
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
    let first = -1,
      tStar = Infinity,
      second = Infinity;
    firing.forEach((on, i) => {
      if (!on) return;
      const root = crossing((tau) => conditions(at(tau), tau)[i], t, tb, c0[i], c1[i]);
      if (root < tStar) {
        second = tStar;
        tStar = root;
        first = i;
      } else second = Math.min(second, root);
    });
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
    const before = tStar > t ? rk4(x, t, tStar - t) : Float64Array.from(x);
    out.ta.push(t);
    out.tb.push(tStar);
    out.xa.push(x);
    out.xb.push(before);
    ev.forward(before, theta, tStar);
    const after = Float64Array.from(before);
    for (const r of events.events[first].resets) after[r.state] = ev.out(r.value);
    out.firings.push({ event: first, t: tStar, before, after, subStep: out.ta.length - 1 });
    x = after;
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
  const gx = Float64Array.from(ev.reverse((o) => (o === cond ? 1 : 0)).vs);
  const gth = Float64Array.from(ev.reverse((o) => (o === cond ? 1 : 0)).vp);
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
   * dy = (−(∂x f)ᵀy, −(∂θ f)ᵀy) at x, t for y = p and y = q, stacked, into d. `x` null: at the point f was last
   * evaluated at (its values are still the evaluator's). Scratch reused per step: the allocations and repeated
   * evaluations were a third of the sweep (a CPU profile).
   */
  const F = (x: ArrayLike<number> | null, t: number, y: Float64Array, d: Float64Array): Float64Array => {
    if (x) f.forward(x, theta, t);
    for (let side = 0; side < 2; side++) {
      const { vs, vp } = f.reverse((o) => y[side * S + o]);
      const at = side * (S + Q);
      for (let e = 0; e < S; e++) d[at + e] = -vs[e];
      for (let r = 0; r < Q; r++) d[at + S + r] = -vp[r];
    }
    return d;
  };
  const fAt = (x: ArrayLike<number>, t: number, out: Float64Array) => {
    f.forward(x, theta, t);
    for (let e = 0; e < S; e++) out[e] = f.out(e);
    return out;
  };
  const xm = new Float64Array(S);
  const y = new Float64Array(2 * S),
    yStage = new Float64Array(2 * S);
  const fa = new Float64Array(S),
    fb = new Float64Array(S);
  const [s1, s2, s3, s4] = [0, 1, 2, 3].map(() => new Float64Array(2 * (S + Q)));
  const stageOf = (s: Float64Array, c: number) => {
    for (let side = 0; side < 2; side++)
      for (let e = 0; e < S; e++) yStage[side * S + e] = y[side * S + e] - c * s[side * (S + Q) + e];
    return yStage;
  };
  let firing = fw.firings.length - 1;
  for (let i = fw.ta.length - 1; i >= 0; i--) {
    while (firing >= 0 && fw.firings[firing].subStep === i) {
      const r = jump(fw.firings[firing]);
      if (r) return r;
      firing--;
    }
    const ta = fw.ta[i],
      tb = fw.tb[i],
      dt = tb - ta;
    if (!(dt > 0)) continue;
    const xa = fw.xa[i],
      xb = fw.xb[i];
    fAt(xa, ta, fa);
    fAt(xb, tb, fb); // f's values are now xb's: the first stage's
    const b = hermiteBasis(0.5, dt);
    for (let e = 0; e < S; e++) xm[e] = b.v0 * xa[e] + b.v1 * xb[e] + b.d0 * fa[e] + b.d1 * fb[e];
    // RK4 backward from tb to ta on (p, q) with the parameter integrals alongside.
    y.set(p, 0);
    y.set(q, S);
    F(null, tb, y, s1);
    F(xm, ta + dt / 2, stageOf(s1, dt / 2), s2);
    F(null, ta + dt / 2, stageOf(s2, dt / 2), s3);
    F(xa, ta, stageOf(s3, dt), s4);
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
