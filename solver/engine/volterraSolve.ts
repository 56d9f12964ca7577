// XPPAUT's volterra method (its volterra2.c) on the fixed grid: each step solves, for t_{n+1},
//   x_{n+1} = x_n + h/2 (f(t_n, x_n) + f(t_{n+1}, x_{n+1}))   for a differential state,
//   u_{n+1} = F(t_{n+1}, x_{n+1})                             for an integral equation u = F,
// where the integrals in f and F are the product-integration sums of engine/volterra.ts, whose newest
// term reads x_{n+1} itself: the step is implicit. XPPAUT solves it by Newton's method to its tolerance;
// here a fixed number of fixed-point corrections from an explicit predictor (Euler for a differential
// state, linear extrapolation for an integral one) solves it, an unrolled computation that AD
// differentiates exactly and finite differences see alike. The corrections contract by about
// h/2·|∂f/∂x| (and w_newest·|∂F/∂u| for an integral equation): they stop when a correction changes no
// state by more than a float32 tolerance (at least MIN_CORRECTIONS, at most MAX_CORRECTIONS, which a
// step too large for the iteration to contract reaches unconverged: the first such step is kept on
// the model for the check's volterra-not-converged finding). With one correction the differential part
// is heun, the scheme the analysis and the report name. At t0, an integral equation's state is F with
// the integrals at 0, as in XPPAUT (an initial value given for it is not used).
// A model the fused programs cover runs the same scheme as one plain-JS op (engine/volterraKernel.ts);
// the per-operation solve below runs the others, and views that replace the model's rhs.
import type { Tensor, TF } from './tf';
import type { CompiledModel } from './compile';
import type { Scheme } from '../schemes/schemes';
import type { Unconverged } from './volterraKernel';
import { guardSolveMemory } from './memoryGuard';
import { CORRECTION_TOLERANCE, MAX_CORRECTIONS, MIN_CORRECTIONS, solveVolterraKernel } from './volterraKernel';

/** The parameters of a copy (engine/integrate.ts's ParamsFor). */
type ParamsFor = (copy: number) => Tensor[];

export { MAX_CORRECTIONS, MIN_CORRECTIONS };

/** The discrete solve x_0..x_N of a Volterra model (call inside a tidy or a gradient scope). */
export function solveVolterra(
  tf: TF,
  cm: CompiledModel,
  scheme: Scheme,
  N: number,
  h: number,
  t0: number,
  params: ParamsFor,
): Tensor[][] {
  const vm = cm.volterra!;
  const { integrals, integralStates } = vm;
  const remember = (u: Unconverged) => {
    vm.unconverged ??= u;
  };
  // The whole solve as one plain-JS op (engine/volterraKernel.ts, delays included) for the model's own rhs.
  if (vm.program && vm.owner === cm.rhs)
    return solveVolterraKernel(tf, vm.program, cm.x0, scheme, N, h, t0, integrals.maxPoints, params, remember);
  // Per-stage copies follow heun's two stages: the first at t_n, the second at t_{n+1}.
  const stages = scheme.kind === 'rk' && scheme.tie === 'stage' ? scheme.tableau.b.length : 0;
  const paramsAt = (n: number, stage: number) =>
    stages > 0 ? params(n * stages + Math.min(stage, stages - 1)) : params(n);
  const half = tf.scalar(h / 2),
    step = tf.scalar(h),
    two = tf.scalar(2);
  const p0 = paramsAt(0, 0);
  integrals.begin(cm.x0, t0, h, N, p0);
  try {
    let x = cm.x0;
    if (integralStates.some(Boolean)) {
      const f0 = cm.rhs(x, p0, t0);
      x = x.map((xi, i) => (integralStates[i] ? f0[i] : xi));
    }
    const events = cm.timeStepping;
    events?.begin(x, t0, h);
    integrals.record(x, p0);
    const traj: Tensor[][] = [x];
    let unconverged: Unconverged | undefined;
    for (let n = 0; n < N; n++) {
      guardSolveMemory(n, N);
      const tn = t0 + n * h,
        tNext = tn + h;
      const pn = paramsAt(n, 0),
        pNext = paramsAt(n, 1);
      integrals.previousPhase();
      const fn = cm.rhs(x, pn, tn);
      integrals.prepare(pNext);
      const before = n > 0 ? traj[n - 1] : undefined;
      let y = x.map((xi, i) =>
        integralStates[i] ? (before ? tf.sub(tf.mul(two, xi), before[i]) : xi) : tf.add(xi, tf.mul(step, fn[i])),
      );
      let last = values(y),
        change = 0;
      for (let c = 1; c <= MAX_CORRECTIONS; c++) {
        const f = cm.rhs(y, pNext, tNext);
        y = x.map((xi, i) => (integralStates[i] ? f[i] : tf.add(xi, tf.mul(half, tf.add(fn[i], f[i])))));
        const now = values(y);
        if (c >= MIN_CORRECTIONS) {
          change = largestChange(last, now);
          if (change <= CORRECTION_TOLERANCE) break;
        }
        last = now;
      }
      if (change > CORRECTION_TOLERANCE) {
        if (unconverged) unconverged.steps++;
        else unconverged = { step: n + 1, time: tNext, change, steps: 1 };
      }
      const next = events ? events.afterStep(x, y, tn, tNext, pn) : y;
      integrals.record(next, pNext);
      traj.push(next);
      x = next;
    }
    if (unconverged) remember(unconverged);
    return traj;
  } finally {
    integrals.end();
  }
}

const values = (y: Tensor[]): Float32Array[] => y.map((v) => Float32Array.from(v.dataSync() as Float32Array));

/** The largest change of an element (relative to its size, absolute below 1); NaN counts as Infinity. */
function largestChange(before: Float32Array[], after: Float32Array[]): number {
  let worst = 0;
  after.forEach((a, i) =>
    a.forEach((v, k) => {
      const r = Math.abs(v - before[i][k]) / Math.max(1, Math.abs(v));
      if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r;
    }),
  );
  return worst;
}
