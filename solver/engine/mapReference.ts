// The reference gradient of a map (XPPAUT's `x(t+1) = F`, `meth=discrete`; docs/language.md#maps). A map has no
// flow to approximate: the iterates are the model, and the exact gradient of the loss is the map's own adjoint
//   p_N = ∂ℓ/∂x_N,  p_n = (∂x F(x_n, θ_n, t_n))ᵀ p_{n+1},  g_n = (∂θ F(x_n, θ_n, t_n))ᵀ p_{n+1},
// iterated backward. The solve runs a map as forward Euler with h = 1 on f = F − x (language/maps.ts), so with f
// this is p_n = p_{n+1} + h (∂x f)ᵀ p_{n+1} and g_n = (∂θ f)ᵀ p_{n+1}: g_n is the per-step copy's gradient
// density (copy n acts on step n), Σ h g_n the shared parameter's gradient. It is computed step by step from
// vector–Jacobian products of f alone (the model's hand-written reverse mode, else AD of f), never from AD
// through the solve, so it checks the AD of the whole iteration independently. No truncation error: its error
// is float32 rounding, modelled as u·√N (u = 2⁻²⁴) as for the continuous reference.
// Where f is a fused program (fusedMapReference) the iterates and the adjoint are a JS loop over it
// (scalarKernel/referenceMap.ts), the adjoint in float64: a TF.js scope per iteration cost 80 µs (nochaos.ode's 30,000
// iterations: 2.4 s against AD's 60 ms); TF.js's per-step path (mapReference) stays for the others. A map with events
// (`global`) steps back through each reset at the iteration where the map fired it (mapEventsReference:
// p ← (∂x R)ᵀp on the states it sets, g_n += (∂θ R)ᵀp), on the fused programs only.
import type { TF, Tensor } from './tf';
import type { CompiledModel } from './compile';
import type { ReferenceInput, ReferenceResult } from './reference';
import { concatElements } from './statePath';
import type { Model } from '../model';
import { compileScalarProgram } from './scalarRhs';
import { eventProgram, type EventProgram } from './scalarKernel/events';
import type { ScalarProgram } from './scalarProgram';
import { lossGradient } from './eventReference';
import { mapAdjoint, mapSolve, type MapRefusal, type MapSolveInput } from './scalarKernel/referenceMap';

const ROUNDING = 2 ** -24;

/** (∂x f)ᵀp and, with `withParams`, (∂θ f)ᵀp at (x, θ, t). */
function vjp(tf: TF, cm: CompiledModel, xs: Tensor[], th: Tensor[], t: number, ps: Tensor[], withParams: boolean) {
  if (cm.rhsVjp) return cm.rhsVjp(xs, th, t, ps, withParams);
  const wrt = withParams ? [...xs, ...th] : xs;
  const { value, grads } = tf
    .engine()
    .gradients(() => tf.addN(cm.rhs(xs, th, t).map((fk, k) => tf.sum(tf.mul(fk, ps[k])))), wrt, undefined, true);
  value.dispose();
  const g = grads.map((gr, i) => gr ?? tf.zerosLike(wrt[i]));
  return { vx: g.slice(0, xs.length), vp: g.slice(xs.length) };
}

/**
 * The map's exact gradient by its adjoint: on its fused program when it has one (fusedMapReference), else by TF.js
 * per step. Per-step parameters need one copy per iteration (Euler's layout, copy n at t_n); data losses (`x(obs)`)
 * are not covered: the caller keeps the reference n/a for them.
 */
export function mapReference(
  tf: TF,
  model: Model,
  cm: CompiledModel,
  inp: ReferenceInput,
  signalCheck?: () => void,
): ReferenceResult {
  const rhs = fusedRhs(model);
  if (rhs) {
    const fused = fusedMapReference(tf, cm, inp, { rhs }, signalCheck);
    // Without events nothing fires, so nothing is refused.
    if ('result' in fused) return fused.result;
  }
  return stepwiseMapReference(tf, cm, inp, signalCheck);
}

/** The map's adjoint by TF.js, one scope per iteration (f's hand-written reverse mode, else TF.js's AD of f). */
export function stepwiseMapReference(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  signalCheck?: () => void,
): ReferenceResult {
  const { N, h, t0 } = inp;
  const times = Array.from({ length: N + 1 }, (_, n) => t0 + n * h);
  for (const p of inp.params)
    if (p.perStep && p.values.length !== N * p.size)
      throw new Error('mapReference: a per-step parameter needs one copy per iteration');
  const theta = (n: number) =>
    inp.params.map((p) =>
      tf.tensor(p.perStep ? p.values.subarray(n * p.size, (n + 1) * p.size) : p.values, p.shape, 'float32'),
    );
  const shared = inp.params.every((p) => !p.perStep) ? tf.tidy(() => theta(0)) : undefined;
  const thetaAt = (n: number) => shared ?? theta(n);
  const X: Tensor[][] = [cm.x0.map((x) => tf.keep(tf.clone(x)))];
  // Initial values checked as parameters: no F reads them, so (∂θ F)ᵀp is 0 and is not read back every step.
  const withParams = inp.params.some((q) => q.initialValueAt === undefined);
  const g = inp.params.map((p) => new Float64Array(p.perStep ? N * p.size : p.size));
  let lossAccurate = NaN;
  try {
    for (let n = 0; n < N; n++) {
      if (n % 256 === 0) signalCheck?.();
      X.push(
        tf.tidy(() => {
          const f = cm.rhs(X[n], thetaAt(n), times[n]);
          return X[n].map((x, i) => tf.add(x, tf.mul(f[i], h)));
        }),
      );
    }
    let p = tf.tidy(() => {
      const { value, grads } = tf.engine().gradients(() => cm.loss(X[N]), X[N], undefined, true);
      lossAccurate = value.dataSync()[0];
      return grads.map((gr, i) => gr ?? tf.zerosLike(X[N][i]));
    });
    for (let n = N - 1; n >= 0; n--) {
      if (n % 256 === 0) signalCheck?.();
      const next = tf.tidy(() => {
        const r = vjp(tf, cm, X[n], thetaAt(n), times[n], p, withParams);
        r.vp.forEach((v, k) => {
          const values = v.dataSync();
          const q = inp.params[k];
          if (q.perStep) for (let j = 0; j < q.size; j++) g[k][n * q.size + j] += values[j];
          else for (let j = 0; j < q.size; j++) g[k][j] += h * values[j];
        });
        return p.map((pi, i) => tf.add(pi, tf.mul(r.vx[i], h)));
      });
      for (const t of p) t.dispose();
      p = next;
    }
    // An initial value checked as a parameter: its gradient is p_0 = ∂ℓ/∂x_0 (no F reads it).
    if (inp.params.some((q) => q.initialValueAt !== undefined)) {
      const p0 = concatElements(p);
      inp.params.forEach((q, k) => {
        if (q.initialValueAt !== undefined) for (let j = 0; j < q.size; j++) g[k][j] += p0[q.initialValueAt + j];
      });
    }
    for (const t of p) t.dispose();
  } finally {
    for (const xs of X) for (const x of xs) x.dispose();
    if (shared) for (const t of shared) t.dispose();
  }
  const out = g.map((a) => Float32Array.from(a));
  const nonFinite = !Number.isFinite(lossAccurate) || out.some((a) => a.some((v) => !Number.isFinite(v)));
  return { g: out, referenceError: ROUNDING * Math.sqrt(N), lossAccurate, gridTimes: times, nonFinite };
}

/** A map's f as the fused program its reference runs (not with algebraic variables or delays), or undefined. */
function fusedRhs(model: Model): ScalarProgram | undefined {
  const rhs = compileScalarProgram(model);
  return rhs && !rhs.algebraic && !rhs.delays ? rhs : undefined;
}

/** The fused programs of a map's f and events, or why its events have no reference (before solving anything). */
function mapEventPrograms(model: Model): { rhs: ScalarProgram; events: EventProgram } | { reason: string } {
  const rhs = fusedRhs(model);
  if (!rhs)
    return {
      reason: compileScalarProgram(model)?.delays
        ? 'a map with events and delays'
        : 'a map with events outside the fused scalar subset',
    };
  const events = eventProgram(model);
  if (!events)
    return { reason: 'a map whose events reset an array state or use a construct outside the fused scalar subset' };
  return { rhs, events };
}

/** Why a map's events have no reference before solving anything (the fused programs run it), or undefined. */
export function mapEventsUnsupported(model: Model): string | undefined {
  const programs = mapEventPrograms(model);
  return 'reason' in programs ? programs.reason : undefined;
}

/** A map's firings seen by its reference: how many, and the conditions that sit on the edge of their test. */
export interface MapFirings {
  firings: number;
  /** Conditions exactly 0 on the edge of their test, moving with the parameters they read (by index): one-sided there. */
  edges: { event: number; t: number; params: number[] }[];
}

/**
 * The reference of a map with events (scalarKernel/referenceMap.ts): the map's adjoint stepped back through the
 * resets at the network's firing iterations, from the programs of f and of the events alone (not AD through the
 * solve), in float64 on the network's float32 iterates; or why not.
 */
export function mapEventsReference(
  tf: TF,
  model: Model,
  cm: CompiledModel,
  inp: ReferenceInput,
  signalCheck?: () => void,
): { result: ReferenceResult; firings: MapFirings } | MapRefusal {
  const programs = mapEventPrograms(model);
  if ('reason' in programs) return { event: 0, ...programs };
  return fusedMapReference(tf, cm, inp, programs, signalCheck);
}

/**
 * The map's adjoint on the fused programs of f and of its events (scalarKernel/referenceMap.ts), from those programs
 * alone (not AD through the solve), in float64 on the network's float32 iterates; or why not (an event's edge).
 */
function fusedMapReference(
  tf: TF,
  cm: CompiledModel,
  inp: ReferenceInput,
  { rhs, events }: { rhs: ScalarProgram; events?: EventProgram },
  signalCheck?: () => void,
): { result: ReferenceResult; firings: MapFirings } | MapRefusal {
  const { N, h, t0 } = inp;
  const solveInput: MapSolveInput = {
    rhs,
    events,
    x0: concatElements(cm.x0),
    params: inp.params,
    N,
    h,
    t0,
    initialStatesMove: inp.params.some((q) => q.initialValueAt !== undefined),
    signalCheck,
  };
  const fw = mapSolve(solveInput);
  if ('reason' in fw) return fw;
  const S = rhs.states;
  const { loss, pT } = lossGradient(tf, cm, Float64Array.from(fw.traj.subarray(N * S, (N + 1) * S)));
  const { g, p0 } = mapAdjoint(solveInput, fw, pT);
  // An initial value checked as a parameter: its gradient is p_0 = ∂ℓ/∂x_0 (no program reads it).
  inp.params.forEach((q, k) => {
    if (q.initialValueAt !== undefined) for (let j = 0; j < q.size; j++) g[k][j] += p0[q.initialValueAt + j];
  });
  const out = g.map((a) => Float32Array.from(a));
  const nonFinite = !Number.isFinite(loss) || out.some((a) => a.some((v) => !Number.isFinite(v)));
  return {
    result: {
      g: out,
      referenceError: ROUNDING * Math.sqrt(N),
      lossAccurate: loss,
      gridTimes: Array.from({ length: N + 1 }, (_, n) => t0 + n * h),
      nonFinite,
    },
    firings: { firings: fw.firingSteps.length, edges: fw.edges },
  };
}
