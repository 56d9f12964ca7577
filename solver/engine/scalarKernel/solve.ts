// The whole-solve kernel of a fused scalar program, wrapped for the engine: a discrete solve of an
// explicit Runge–Kutta scheme (scalarKernel/rungeKutta.ts) or of backward Euler (Newton's method per step,
// engine/implicitStep.ts) as one differentiable TF.js op (forward and discrete adjoint in plain JS)
// whose output is the trajectory [N+1, S], so the loss, AD of the copies,
// finite differences and everything downstream stay as they are. Small models spend nearly all of a
// check on per-kernel overhead (a few µs per kernel, about ten kernels per stage); here a solve is one.
import type { RhsPath } from '../../report';
import type { Tensor, TF } from '../tf';
import { copySources } from '../copySources';
import type { ScalarProgram } from '../scalarRhs';
import type { Scheme } from '../../schemes/schemes';
import { adjointSolve, copyOf, forwardSolve, rungeKuttaPlan, StepWorkspace, type RungeKuttaPlan } from './rungeKutta';
import type { EventProgram, Firings } from './events';
import type { PastProgram } from './delays';
import { lazySteps, rowStates, withFinalRows } from '../lazySteps';
import { backwardEulerAdjoint, backwardEulerForward, type NewtonFailure } from '../newtonStep';

/** Parameters of one copy (engine/integrate.ts's ParamsFor). */
type ParamsFor = (copy: number) => Tensor[];

/** Largest batched trajectory kept whole (floats) when a data loss reads every step; past it the per-kernel path runs. */
const MAX_BATCHED_TRAJECTORY = 32 * 1024 * 1024;

export interface WholeSolve {
  /** The right-hand side the kernel stands for: a view replacing `rhs` (the step-adjoint probe) is solved per kernel. */
  readonly owner: unknown;
  /** Why the kernel does not run this scheme, or undefined when it does. */
  unsupported(scheme: Scheme): string | undefined;
  /** The model has events: its solves record where they fired (Firings). */
  readonly events: boolean;
  /**
   * The firings of the latest `solve` since the last call (then forgotten), or undefined: no events, or no solve
   * of this kernel since (a solve per operation records none).
   */
  takeFirings(): Firings | undefined;
  /** The program f runs, for the continuous reference's forward solve in JS (scalarKernel/referenceRk4.ts); undefined with events or delays (the reference solves f alone on TF.js). */
  readonly program?: ScalarProgram;
  /**
   * x_0..x_N per state (internal shapes), differentiable in the parameter tensors and in `x0` (the flat initial
   * states) when given. Backward Euler tells `failed` where Newton's method first could not solve a step.
   */
  solve(
    scheme: Scheme,
    N: number,
    h: number,
    t0: number,
    params: ParamsFor,
    x0?: Tensor,
    failed?: (failure: NewtonFailure) => void,
  ): Tensor[][];
  /**
   * B solves at once (parameters [b, ...shape], b = B or 1), forward only: each state [B, ...shape]
   * (scalars [B,1,1]). Without `everyStep` only x_N can be read. Undefined when too large to keep.
   * With events, `firings[b]` is set to solve b's firings.
   */
  solveBatched(
    scheme: Scheme,
    N: number,
    h: number,
    t0: number,
    params: ParamsFor,
    B: number,
    everyStep: boolean,
    firings?: Firings[],
  ): Tensor[][] | undefined;
}

/** Why a scheme has no kernel (explicit Runge–Kutta, and backward Euler without events or delays). */
export function kernelUnsupported(scheme: Scheme, timeStepping = false): string | undefined {
  if (scheme.kind !== 'rk') return 'multistep schemes run per kernel';
  if (scheme.implicit && timeStepping) return 'implicit steps with events or delays run per kernel';
  return undefined;
}

/** Backward Euler (XPPAUT's backeul): one implicit stage, solved by Newton's method. */
const isImplicit = (scheme: Scheme) => scheme.kind === 'rk' && !!scheme.implicit;

/** The copies' distinct parameter tensors and, per copy, the group of copies that read the same ones. */
export function collectCopies(params: ParamsFor, count: number) {
  const inputs: Tensor[] = [];
  const index = new Map<Tensor, number>();
  const groups: number[][] = [];
  const keys = new Map<string, number>();
  const groupOf = new Int32Array(Math.max(count, 1));
  // Parameters that are all shared (discrete.ts's paramsFor says so) hand every copy copy 0's tensors: one group,
  // what the loop below finds copy by copy (ml1.ode: 100,000 copies, about 50 ms a check).
  if (copySources.get(params)?.perStep.every((per) => !per) === true) count = Math.min(count, 1);
  let last: Tensor[] | undefined;
  for (let copy = 0; copy < Math.max(count, 1); copy++) {
    const ts = params(copy);
    // Shared parameters hand every copy the same tensors: the previous copy's group, without a key.
    if (last && ts.length === last.length && ts.every((t, i) => t === (last as Tensor[])[i])) {
      groupOf[copy] = groupOf[copy - 1];
      continue;
    }
    last = ts;
    const ids = ts.map((t) => {
      let k = index.get(t);
      if (k === undefined) {
        k = inputs.length;
        index.set(t, k);
        inputs.push(t);
      }
      return k;
    });
    const key = ids.join();
    let g = keys.get(key);
    if (g === undefined) {
      g = groups.length;
      keys.set(key, g);
      groups.push(ids);
    }
    groupOf[copy] = g;
  }
  return { inputs, groups, groupOf };
}

/** Copies a solve reads: N, or N·s per stage. */
const copyCount = (plan: RungeKuttaPlan, N: number) => (N === 0 ? 0 : copyOf(plan, N - 1, plan.stages - 1) + 1);

/** How one forward solve and its adjoint run: a Runge–Kutta plan's stages, or backward Euler's Newton steps. */
interface Stepper {
  copies: number;
  /** The last forward's firings (undefined without events). */
  firings(): Firings | undefined;
  forward(x0: ArrayLike<number>, at: (copy: number) => Float32Array, into?: Float32Array<ArrayBuffer>): Float32Array;
  adjoint(
    traj: Float32Array,
    dy: ArrayLike<number>,
    at: (copy: number) => Float32Array,
    grads: (copy: number) => Float64Array,
  ): Float64Array;
}

export function wholeSolveKernel(
  tf: TF,
  prog: ScalarProgram,
  owner: unknown,
  stateShapes: number[][],
  x0: Tensor,
  events?: EventProgram,
  past?: PastProgram,
): WholeSolve {
  const S = prog.states,
    Q = prog.params,
    sizes = prog.paramSizes;
  const stateAt: number[] = [];
  for (let i = 0, at = 0; i < prog.stateSizes.length; at += prog.stateSizes[i++]) stateAt.push(at);
  let x0Values: Float32Array | undefined;
  const initial = () => (x0Values ??= Float32Array.from(x0.dataSync()));
  const stepperOf = (
    scheme: Scheme,
    N: number,
    h: number,
    t0: number,
    failed: (failure: NewtonFailure) => void = () => {},
  ): Stepper => {
    if (scheme.kind !== 'rk') throw new Error('no kernel for this scheme');
    if (isImplicit(scheme))
      return {
        copies: N,
        firings: () => undefined,
        forward: (x0, at, into) => backwardEulerForward(prog, N, h, t0, x0, at, failed, into),
        adjoint: (traj, dy, at, grads) => backwardEulerAdjoint(prog, N, h, t0, traj, dy, at, grads),
      };
    const plan = rungeKuttaPlan(scheme.tableau, h, t0, scheme.tie === 'stage');
    const ws = new StepWorkspace(prog, plan, events, past);
    return {
      copies: copyCount(plan, N),
      firings: () => ws.events && { ...ws.events.firings },
      forward: (x0, at, into) => forwardSolve(ws, N, x0, at, into),
      adjoint: (traj, dy, at, grads) => adjointSolve(ws, N, traj, dy, at, grads),
    };
  };

  /** Each group's flat parameters for batch element b (inputs of b = 1 broadcast). */
  const flatParams = (groups: number[][], data: ArrayLike<number>[], b: number): Float32Array[] =>
    groups.map((ids) => {
      const flat = new Float32Array(Q);
      let at = 0;
      ids.forEach((inp, j) => {
        const d = data[inp],
          n = sizes[j],
          from = d.length === n ? 0 : b * n;
        for (let k = 0; k < n; k++) flat[at + k] = d[from + k];
        at += n;
      });
      return flat;
    });

  let lastFirings: Firings | undefined;
  return {
    owner,
    events: !!events,
    takeFirings() {
      const f = lastFirings;
      lastFirings = undefined;
      return f;
    },
    unsupported: (scheme) => kernelUnsupported(scheme, !!events || !!past),
    program: events || prog.delays ? undefined : prog,
    solve(scheme, N, h, t0, params, start, failed) {
      const stepper = stepperOf(scheme, N, h, t0, failed);
      const { inputs, groups, groupOf } = collectCopies(params, stepper.copies);
      const trajectory = tf.customGrad((...args) => {
        const ins = args.slice(0, 1 + inputs.length) as Tensor[]; // customGrad appends its save function
        const flats = flatParams(
          groups,
          ins.slice(1).map((t) => t.dataSync()),
          0,
        );
        const at = (copy: number) => flats[groupOf[copy]];
        const traj = stepper.forward(start ? ins[0].dataSync() : initial(), at);
        lastFirings = stepper.firings();
        return {
          value: tf.tensor2d(traj, [N + 1, S]),
          gradFunc: (dy: Tensor) => {
            const grads = groups.map(() => new Float64Array(Q));
            const lam = stepper.adjoint(traj, dy.dataSync(), at, (copy) => grads[groupOf[copy]]);
            const perInput = inputs.map((t) => new Float64Array(t.size));
            groups.forEach((ids, g) => {
              let off = 0;
              ids.forEach((inp, j) => {
                const into = perInput[inp];
                for (let k = 0; k < sizes[j]; k++) into[k] += grads[g][off + k];
                off += sizes[j];
              });
            });
            return [
              tf.tensor(Float32Array.from(lam), ins[0].shape),
              ...perInput.map((g, i) => tf.tensor(Float32Array.from(g), inputs[i].shape)),
            ];
          },
        };
      })(start ?? x0, ...inputs) as Tensor;
      return lazySteps(N, (n) => rowStates(tf, trajectory, n, stateAt, prog.stateSizes, stateShapes), trajectory);
    },
    solveBatched(scheme, N, h, t0, params, B, everyStep, firings) {
      const rows = everyStep ? N + 1 : 1;
      if (rows * B * S > MAX_BATCHED_TRAJECTORY) return undefined;
      const stepper = stepperOf(scheme, N, h, t0);
      const { inputs, groups, groupOf } = collectCopies(params, stepper.copies);
      const data = inputs.map((t) => t.dataSync());
      const traj = new Float32Array((N + 1) * S);
      // Row-major [rows, B, S]: row r is step r (every step) or step N.
      const kept = new Float32Array(rows * B * S);
      for (let b = 0; b < B; b++) {
        const flats = flatParams(groups, data, b);
        stepper.forward(initial(), (copy) => flats[groupOf[copy]], traj);
        const fired = firings && stepper.firings();
        if (fired) firings[b] = fired;
        for (let r = 0; r < rows; r++) {
          const n = everyStep ? r : N;
          kept.set(traj.subarray(n * S, (n + 1) * S), (r * B + b) * S);
        }
      }
      const steps = lazySteps(N, (n) => {
        if (!everyStep && n !== N) throw new Error(`step ${n} of a batched kernel solve was not kept`);
        const r = everyStep ? n : 0;
        return stateShapes.map((shape, i) => {
          const size = prog.stateSizes[i],
            out = new Float32Array(B * size);
          for (let b = 0; b < B; b++)
            out.set(kept.subarray((r * B + b) * S + stateAt[i], (r * B + b) * S + stateAt[i] + size), b * size);
          return tf.tensor(out, [B, ...(shape.length === 0 ? [1, 1] : shape)]);
        });
      });
      return withFinalRows(steps, kept.subarray((rows - 1) * B * S));
    },
  };
}

/**
 * How a check's discrete solves run (Report.rhsPath, with a note when the whole-solve kernel does not cover
 * them): the kernel for fused models under an explicit Runge–Kutta scheme, else one op per evaluation.
 */
export function rhsPathOf(
  cm: { wholeSolve?: WholeSolve; rhs: unknown; timeStepping?: unknown; rhsPath: RhsPath },
  scheme: Scheme,
  probed: boolean,
): { rhsPath: RhsPath; rhsPathNote?: string } {
  if (!cm.wholeSolve || cm.wholeSolve.owner !== cm.rhs)
    return cm.timeStepping && cm.rhsPath === 'per-operation'
      ? {
          rhsPath: cm.rhsPath,
          rhsPathNote: 'events or delays outside the fused subset run per operation',
        }
      : { rhsPath: cm.rhsPath };
  const why = cm.wholeSolve.unsupported(scheme);
  // Events and delays have no fused rhs outside the kernel: their fallback is per operation.
  if (why) return { rhsPath: cm.timeStepping ? cm.rhsPath : 'scalar-program', rhsPathNote: why };
  return probed
    ? {
        rhsPath: 'scalar-solve',
        rhsPathNote: 'finite differences only; AD runs one kernel per evaluation for adjoint121’s step-adjoint probe',
      }
    : { rhsPath: 'scalar-solve' };
}
