// The reference gradient of a map (engine/mapReference.ts: fusedMapReference), in plain JS over the fused programs of
// f and of its events, when it has any. The discrete network (engine/events.ts, scalarKernel/events.ts) takes
// the step x̃_{n+1} = x_n + h·f(x_n, θ_n, t_n), then tests each event's condition at (x_n, t_n) and (x̃_{n+1}, t_{n+1})
// and, where it fires, sets each reset state to R(x̃_{n+1}, θ_n, t_{n+1}) (every value taken before any is set, a
// later line winning for the same state). A firing is a discrete choice: with the firing iterations held fixed
// (they do not move with the parameters unless a condition sits exactly on the edge of its test, below), the
// derivative of the iterated map is the product of the step Jacobians and, at each firing, the resets':
//   p ← (∂x̃ R)ᵀ p on the reset states (a state no reset sets has R = x̃: its p passes through; a reset that does
//       not read the state zeroes its p), g_n += (∂θ R)ᵀ p;
//   p_n = p̃ + h (∂x f)ᵀ p̃,  g_n += (∂θ f)ᵀ p̃.
// The forward repeats the network's float32 arithmetic (f as the program rounds it, x + h·f rounded as the
// kernel's combination), so it fires at the network's iterations; the firing test and the adjoint are written
// here from that rule, not taken from the kernel's discrete adjoint (scalarKernel/rungeKutta.ts), which it checks.
//
// An edge: a condition exactly 0 where the test's outcome would change if it moved off 0 (sign 1 at c(t_n) = 0
// with c(t_{n+1}) > 0, …). If the condition's value moves with the states (∂c/∂x ≠ 0, the states moving with the
// parameters), whether it fires changes with them and the loss has no derivative there: the solve is refused.
// If it moves only with parameters it reads itself (kohonen.ode's `t-t0` at t = t0), the loss jumps in those
// parameters on one side: the map's adjoint, like AD, is the derivative on the side the network took, and the
// edge is returned for the check to say so.
import { interpreterOf, outputValue, WANT_BOTH } from '../programInterpreter';
import type { ScalarProgram } from '../scalarProgram';
import type { EventProgram } from './events';

const f32 = Math.fround;

/** One parameter of the reference (engine/reference.ts's ReferenceInput.params). */
export interface MapParameter {
  perStep: boolean;
  values: Float32Array;
  size: number;
  /** Every per-step copy equal (θ_n the same at every n). */
  equalCopies?: boolean;
}

export interface MapSolveInput {
  rhs: ScalarProgram;
  /** The map's events (none: the iterates are x̃ alone). */
  events?: EventProgram;
  /** Initial states, flat in program order. */
  x0: ArrayLike<number>;
  /** In the program's parameter order (model.params). */
  params: MapParameter[];
  N: number;
  h: number;
  t0: number;
  /** States that move with the parameters at t0 (initial values checked as parameters). */
  initialStatesMove: boolean;
  /** Called every SIGNAL_EVERY iterations (throws when the check was cancelled). */
  signalCheck?: () => void;
}

/** Iterations between calls of signalCheck. */
const SIGNAL_EVERY = 1024;

/** A condition exactly on the edge of its test that moves with parameters it reads (not with the states). */
export interface MapEdge {
  event: number;
  t: number;
  /** Indices of the parameters the condition's value moves with. */
  params: number[];
}

export interface MapSolve {
  /** x_0 … x_N, row n at n·S. */
  traj: Float32Array;
  /** Per firing, in forward order: its iteration n (the step from t_n) and event. */
  firingSteps: number[];
  firingEvents: number[];
  edges: MapEdge[];
}

export type MapRefusal = { reason: string; event: number };

/** Whether an event of this sign fires between condition values of signs s0 and s1 (−1, 0, 1; NaN never fires). */
function firesOnSigns(sign: -1 | 0 | 1, s0: number, s1: number): boolean {
  if (sign === 1) return s0 < 0 && s1 > 0;
  if (sign === -1) return s0 > 0 && s1 <= 0;
  return s0 !== 0 && !Number.isNaN(s0) && s0 * s1 <= 0;
}

/** XPPAUT's test on the values (sign 0 on their float32 product, as the network rounds it). */
function fires(sign: -1 | 0 | 1, c0: number, c1: number): boolean {
  if (sign === 0) return Math.abs(c0) > 0 && f32(c0 * c1) <= 0;
  return firesOnSigns(sign, c0, c1);
}

/** The test's outcome changes when a condition value that is exactly 0 moves off it: which of c0, c1 (bits 1, 2). */
function edgeOf(sign: -1 | 0 | 1, c0: number, c1: number): number {
  const s0 = Math.sign(c0),
    s1 = Math.sign(c1),
    now = firesOnSigns(sign, s0, s1);
  let out = 0;
  if (s0 === 0 && (firesOnSigns(sign, 1, s1) !== now || firesOnSigns(sign, -1, s1) !== now)) out |= 1;
  if (s1 === 0 && (firesOnSigns(sign, s0, 1) !== now || firesOnSigns(sign, s0, -1) !== now)) out |= 2;
  return out;
}

/** θ_n flat in program order: the per-step copies' n-th, the shared values (one array, rewritten); `varies`: θ_n changes with n. */
function parametersAt(params: MapParameter[], Q: number): ((n: number) => Float32Array) & { varies: boolean } {
  const out = new Float32Array(Q);
  const varying: { at: number; q: MapParameter }[] = [];
  let at = 0;
  for (const q of params) {
    out.set(q.values.subarray(0, q.size), at);
    if (q.perStep && !q.equalCopies) varying.push({ at, q });
    at += q.size;
  }
  const atIteration = (n: number) => {
    // Element by element: a subarray view per parameter and iteration would be allocated.
    for (const { at, q } of varying)
      for (let k = 0, from = n * q.size; k < q.size; k++) out[at + k] = q.values[from + k];
    return out;
  };
  return Object.assign(atIteration, { varies: varying.length > 0 });
}

/** The events' programs and scratch. */
class MapEventWorkspace {
  readonly runE;
  readonly runC;
  readonly eVals: Float64Array;
  cBefore: Float64Array;
  cAfter: Float64Array;
  constructor(readonly events: EventProgram) {
    this.runE = interpreterOf(events.prog);
    this.runC = interpreterOf(events.conditions);
    this.eVals = new Float64Array(events.prog.code.length);
    this.cBefore = new Float64Array(events.conditions.code.length);
    this.cAfter = new Float64Array(events.conditions.code.length);
  }
}

/** Scratch for evaluating the programs. */
class MapWorkspace {
  readonly runF;
  readonly vals: Float64Array;
  readonly step: Float32Array;
  readonly theta: ReturnType<typeof parametersAt>;
  readonly ev?: MapEventWorkspace;
  constructor(readonly inp: MapSolveInput) {
    const { rhs, events } = inp;
    this.runF = interpreterOf(rhs);
    this.vals = new Float64Array(rhs.code.length);
    this.step = new Float32Array(rhs.states);
    this.theta = parametersAt(inp.params, rhs.params);
    if (events) this.ev = new MapEventWorkspace(events);
  }

  /** x̃ = x + h·f(x, θ_n, t_n) into `step` (x at traj[n·S…]); f's values stay in `vals`. */
  mapStep(traj: Float32Array, n: number, theta: Float32Array): void {
    const { rhs, h, t0 } = this.inp;
    const S = rhs.states,
      outputs = rhs.outputs,
      c = f32(h),
      at = n * S;
    this.runF.forward(traj, at, theta, t0 + n * h, this.vals);
    for (let e = 0; e < S; e++) this.step[e] = f32(traj[at + e] + f32(c * outputValue(this.vals, outputs[e])));
  }
}

/** The map's iterates with the network's firings, or why its derivative cannot be taken there. */
export function mapSolve(inp: MapSolveInput): MapSolve | MapRefusal {
  const ws = new MapWorkspace(inp);
  const { rhs, N } = inp;
  const S = rhs.states;
  const traj = new Float32Array((N + 1) * S);
  for (let e = 0; e < S; e++) traj[e] = inp.x0[e];
  const fired: Omit<MapSolve, 'traj'> = { firingSteps: [], firingEvents: [], edges: [] };
  const events = ws.ev && eventStepper(ws, ws.ev, traj, fired);
  for (let n = 0; n < N; n++) {
    if (n % SIGNAL_EVERY === 0) inp.signalCheck?.();
    const theta = ws.theta(n);
    ws.mapStep(traj, n, theta);
    if (!events) {
      traj.set(ws.step, (n + 1) * S);
      continue;
    }
    const refused = events(n, theta);
    if (refused) return refused;
  }
  return { traj, ...fired };
}

/**
 * The events' part of an iteration of mapSolve: tests the conditions at (x_n, t_n) and (x̃_{n+1}, t_{n+1}), records
 * the firings and edges, and writes x_{n+1} (the resets on x̃); or why the derivative cannot be taken there.
 */
function eventStepper(ws: MapWorkspace, ev: MapEventWorkspace, traj: Float32Array, fired: Omit<MapSolve, 'traj'>) {
  const { rhs, h, t0 } = ws.inp;
  const { events } = ev;
  const S = rhs.states,
    evs = events.events,
    cOut = events.conditions.outputs,
    eOut = events.prog.outputs;
  const { firingSteps, firingEvents, edges } = fired;
  const winner = new Int32Array(S);
  // The conditions at x_n, t_n are the previous iteration's at x̃_n, t_n when nothing fired there and θ does not vary.
  let reuse = false;
  return (n: number, theta: Float32Array): MapRefusal | undefined => {
    const tn = t0 + n * h,
      tNext = t0 + (n + 1) * h;
    if (reuse) {
      const last = ev.cAfter;
      ev.cAfter = ev.cBefore;
      ev.cBefore = last;
    } else ev.runC.forward(traj, n * S, theta, tn, ev.cBefore);
    const { cBefore, cAfter } = ev;
    ev.runC.forward(ws.step, 0, theta, tNext, cAfter);
    let any = false;
    // Events of one trigger (sign and condition) test alike: when no trigger is on an edge or fires, no event is.
    let quiet = true;
    for (const { sign, output } of events.triggers)
      if (edgeOf(sign, cBefore[output], cAfter[output]) || fires(sign, cBefore[output], cAfter[output])) {
        quiet = false;
        break;
      }
    for (let e = 0; e < (quiet ? 0 : evs.length); e++) {
      const c0 = cBefore[cOut[e]],
        c1 = cAfter[cOut[e]];
      const edge = edgeOf(evs[e].sign, c0, c1);
      if (edge) {
        const moved = edgeMoves(ws, ev, traj, n, e, edge, n === 0 && !ws.inp.initialStatesMove);
        if (moved === 'states')
          return {
            event: e,
            reason: `event ${e + 1}'s condition is exactly 0 at t = ${edge & 1 ? tn : tNext}, on the edge of its firing test, and moves with the states: whether it fires there changes with the parameters, so the loss jumps and has no derivative there (the map's adjoint holds the firings fixed)`,
          };
        // The first edge of each event is enough to say so.
        if (moved.length > 0 && !edges.some((x) => x.event === e))
          edges.push({ event: e, t: edge & 1 ? tn : tNext, params: moved });
      }
      if (!fires(evs[e].sign, c0, c1)) continue;
      // `winner` is read only at an iteration where one fired: cleared at its first firing.
      if (!any) winner.fill(-1);
      any = true;
      firingSteps.push(n);
      firingEvents.push(e);
      for (const r of evs[e].resets) winner[r.state] = r.value;
    }
    const out = (n + 1) * S;
    if (any) {
      // Every reset's value on x̃ at t_{n+1}, before any is set.
      ev.runE.forward(ws.step, 0, theta, tNext, ev.eVals);
      for (let s = 0; s < S; s++) traj[out + s] = winner[s] >= 0 ? ev.eVals[eOut[winner[s]]] : ws.step[s];
    } else traj.set(ws.step, out);
    reuse = !any && !ws.theta.varies;
    return undefined;
  };
}

/** What an edge's condition value moves with: 'states', else the parameters it reads (maybe none: it reads only t). */
function edgeMoves(
  ws: MapWorkspace,
  ev: MapEventWorkspace,
  traj: Float32Array,
  n: number,
  e: number,
  edge: number,
  statesFixed: boolean,
): 'states' | number[] {
  const { rhs, h, t0, params } = ws.inp;
  const S = rhs.states,
    prog = ev.events.conditions;
  const vals = new Float64Array(prog.code.length),
    adj = new Float64Array(prog.code.length),
    vs = new Float64Array(S),
    vp = new Float64Array(rhs.params),
    cot = new Float64Array(prog.outputs.length);
  cot[e] = 1;
  const theta = ws.theta(n);
  const moved = new Set<number>();
  for (const end of [1, 2]) {
    if (!(edge & end)) continue;
    if (end === 1) ev.runC.forward(traj, n * S, theta, t0 + n * h, vals);
    else ev.runC.forward(ws.step, 0, theta, t0 + (n + 1) * h, vals);
    vs.fill(0);
    vp.fill(0);
    ev.runC.reverse(vals, cot, vs, vp, adj, WANT_BOTH);
    // x_0 stays put unless initial values are checked; every later state moves with the parameters.
    if (!(end === 1 && statesFixed) && vs.some((v) => v !== 0)) return 'states';
    let at = 0;
    params.forEach((q, i) => {
      for (let k = 0; k < q.size; k++) if (vp[at + k] !== 0) moved.add(i);
      at += q.size;
    });
  }
  return [...moved].sort((a, b) => a - b);
}

/**
 * The adjoint of mapSolve from pN = ∂ℓ/∂x_N: per parameter its gradient (per-step: copy n's density g_n, the
 * change of the loss per unit of θ_n over h; shared: dℓ/dθ), and p_0 = ∂ℓ/∂x_0.
 */
export function mapAdjoint(
  inp: MapSolveInput,
  fw: MapSolve,
  pN: ArrayLike<number>,
): { g: Float64Array[]; p0: Float64Array } {
  const ws = new MapWorkspace(inp);
  const { rhs, params, N, h, t0 } = inp;
  const ev = ws.ev;
  const S = rhs.states,
    Q = rhs.params,
    evs = ev?.events.events ?? [],
    eOut = ev?.events.prog.outputs ?? [];
  const g = params.map((q) => new Float64Array(q.perStep ? N * q.size : q.size));
  const p = Float64Array.from(pN);
  const adjF = new Float64Array(rhs.code.length),
    adjE = new Float64Array(ev?.events.prog.code.length ?? 0),
    vs = new Float64Array(S),
    vp = new Float64Array(Q),
    cotE = new Float64Array(eOut.length);
  const winner = new Int32Array(S);
  /** Adds a step's parameter cotangent vp (dℓ/dθ_n) to the gradients. */
  const addParams = (n: number) => {
    let at = 0;
    params.forEach((q, i) => {
      const gi = g[i];
      if (q.perStep) for (let k = 0; k < q.size; k++) gi[n * q.size + k] += vp[at + k] / h;
      else for (let k = 0; k < q.size; k++) gi[k] += vp[at + k];
      at += q.size;
    });
  };
  let f = fw.firingSteps.length - 1;
  for (let n = N - 1; n >= 0; n--) {
    if (n % SIGNAL_EVERY === 0) inp.signalCheck?.();
    const theta = ws.theta(n);
    ws.mapStep(fw.traj, n, theta);
    if (ev && f >= 0 && fw.firingSteps[f] === n) {
      winner.fill(-1);
      // The firings of step n in forward order: a later one wins a state.
      let first = f;
      while (first > 0 && fw.firingSteps[first - 1] === n) first--;
      for (let k = first; k <= f; k++) for (const r of evs[fw.firingEvents[k]].resets) winner[r.state] = r.value;
      f = first - 1;
      ev.runE.forward(ws.step, 0, theta, t0 + (n + 1) * h, ev.eVals);
      cotE.fill(0);
      for (let s = 0; s < S; s++)
        if (winner[s] >= 0) {
          cotE[winner[s]] += p[s];
          p[s] = 0;
        }
      vs.fill(0);
      vp.fill(0);
      ev.runE.reverse(ev.eVals, cotE, vs, vp, adjE, WANT_BOTH);
      for (let s = 0; s < S; s++) p[s] += vs[s];
      addParams(n);
    }
    // p̃ (the cotangent of x̃_{n+1}) through x̃ = x + h·f: p_n = p̃ + h (∂x f)ᵀp̃, dℓ/dθ_n += h (∂θ f)ᵀp̃.
    vs.fill(0);
    vp.fill(0);
    ws.runF.reverse(ws.vals, p, vs, vp, adjF, WANT_BOTH);
    for (let s = 0; s < S; s++) p[s] += h * vs[s];
    for (let q = 0; q < Q; q++) vp[q] *= h;
    addParams(n);
  }
  return { g, p0: p };
}
