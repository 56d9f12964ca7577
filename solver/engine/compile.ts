// Compiles the model's expression trees once into closures over TF.js ops
// (engine/compileNode.ts, one Node per expression) and assembles them into the
// CompiledModel the solvers run: right-hand sides, their hand-written
// vector–Jacobian products, the loss, the batched forms for finite differences,
// and the fused scalar program of small models (engine/scalarRhs.ts).
import { isVolterraModel, volterraModel, type VolterraModel } from './volterraModel';
import { callsByCallee, delayCalls, solveCalls, type Expr, type Model, type Shape } from '../model';
import type { TF, Tensor } from './tf';
import { compileScalarProgram, fusedRhs } from './scalarRhs';
import { evaluationWork } from './scalarProgram';
import { volterraSolveWork } from './volterraProgram';
import { linearCombination, type Term } from './linearCombination';
import { compileTimeStepping, type TimeStepping } from './events';
import { defaultLoss, type RowLoss } from './defaultLoss';
import {
  CompileError,
  DAE_OUTSIDE_FUSED,
  NodeCompiler,
  internalShape,
  lift,
  type Acc,
  type Env,
  type Fn,
  type Node,
} from './compileNode';
import { sameShape } from '../ops/shapes';
import { fusedMlp, type MlpField, type RhsPath } from './fusedMlp';
import type { ParamsFor } from './copySources';
import { kernelUnsupported, wholeSolveKernel, type WholeSolve } from './scalarKernel/solve';
import { schemeOf } from '../schemes/schemes';
import { eventProgram } from './scalarKernel/events';
import { pastProgram } from './scalarKernel/delays';

export { CompileError, internalShape, type Env } from './compileNode';
/** Number of elements of a tensor of this logical shape. */
export { elementCount as sizeOf } from '../ops/shapes';

export interface CompiledModel {
  readonly tf: TF;
  /** Logical shapes. */
  readonly stateShapes: Shape[];
  readonly paramShapes: Shape[];
  readonly usesTime: boolean;
  /** Right-hand sides, one per state, in model.states order. */
  rhs(s: Tensor[], p: Tensor[], t: number): Tensor[];
  /** How discrete solves evaluate f (engine/fusedMlp/index.ts). */
  readonly rhsPath: RhsPath;
  /**
   * An MLP field's discrete solve as one op (engine/fusedMlp/solveProgram.ts): `run` is the steppers'
   * solve on the view it is given; undefined result: solve step by step. `owner` is the `rhs` it
   * stands for: a view that replaces `rhs` solves step by step.
   */
  readonly solveProgram?: {
    owner: CompiledModel['rhs'];
    solve(params: ParamsFor, run: (view: CompiledModel, params: ParamsFor) => Tensor[][]): Tensor[][] | undefined;
  };
  /**
   * The MLP field `owner` (this model's `rhs`) evaluates as one op: the continuous reference's
   * plain-JS passes (engine/fusedMlp/reference.ts) apply while `rhs` is still `owner`.
   */
  readonly mlp?: { owner: CompiledModel['rhs']; field: MlpField };
  /**
   * (∂f/∂s)ᵀ·cot and, with `withParams`, (∂f/∂p)ᵀ·cot by hand-written reverse mode (no
   * gradient tape); undefined when an expression is outside its subset.
   */
  rhsVjp?(s: Tensor[], p: Tensor[], t: number, cot: Tensor[], withParams: boolean): { vx: Tensor[]; vp: Tensor[] };
  /**
   * f's forward values at (s, p, t) once, then any number of rhsVjp-like products
   * there (vx empty without `withState`). The linearisation and every `back` must
   * run inside one tidy scope (φ' is cached on first use).
   */
  rhsLinearize?(
    s: Tensor[],
    p: Tensor[],
    t: number,
  ): { back(cot: Tensor[], withParams: boolean, withState?: boolean): { vx: Tensor[]; vp: Tensor[] } };
  /** Scalar loss of the final states. */
  loss(final: Tensor[], o?: Env['o']): Tensor;
  /** `loss` and `batched.loss` on x(T)'s rows (engine/defaultLoss.ts); undefined with a declared loss or off cpu. */
  readonly rowLoss?: RowLoss;
  /**
   * Σ c_j v_j of equal-shape tensors in one kernel with TF.js's float32 results (engine/linearCombination.ts):
   * the steppers' combinations cost one kernel instead of a multiply per coefficient and an add; undefined:
   * multiplies and adds.
   */
  readonly combine?: (terms: Term[]) => Tensor;
  /**
   * The same model for a batch of B independent solves (finite-difference
   * directions): states and parameters carry a leading batch dimension in the
   * rank-3 layout ([b,1,1] scalars, [b,n,1] vectors, [b,m,n] matrices; b = B or
   * 1); `loss` gives the B losses. Undefined when an expression cannot be batched. With events or
   * delays (`timeStepping`) the batched solve is the whole-solve kernel's, and `rhs` throws.
   */
  readonly batched?: {
    rhs(s: Tensor[], p: Tensor[], t: number): Tensor[];
    loss(final: Tensor[], B: number, o?: Env['o']): Tensor;
  };
  /**
   * All-scalar models with several states (engine/scalarRhs.ts): the same right-hand side on the
   * states packed into one vector [S], so that a discrete solve combines stages with one kernel per
   * operation instead of one per state. `owner` is the `rhs` it stands for: a view that replaces
   * `rhs` (finite differences, probes) is solved unpacked.
   */
  readonly packed?: {
    owner: CompiledModel['rhs'];
    x0: Tensor;
    rhs(x: Tensor, p: Tensor[], t: number): Tensor;
    /** Batched: x [B, S, 1], parameters [b,1,1] (b = B or 1); differentiable. */
    batchedRhs(x: Tensor, p: Tensor[], t: number): Tensor;
    /**
     * The whole model on the packed state (one state of shape [S]; the loss unpacks it), for
     * solvers written over state lists such as the continuous reference. Not for data losses.
     */
    model(): CompiledModel;
  };
  /** Data sets whose observation times the loss reads through `x(obs)` (empty: the loss uses x(T) only). */
  readonly observed: { name: string; times: number[] }[];
  /** Initial states (kept constants; do not dispose). */
  readonly x0: Tensor[];
  /**
   * Per state, the parameter that holds its initial value (a model checked on its initial values,
   * solver/check/initialValues.ts): solveDiscrete starts from those parameter tensors instead of x0,
   * so that the solve is differentiable in them. Undefined: the solves start from x0.
   */
  readonly initialValues?: readonly number[];
  /** Events and delays (engine/events.ts): the steppers call it around every step; undefined: neither. */
  readonly timeStepping?: TimeStepping;
  /**
   * Fused models: the whole discrete solve as one op in plain JS with its discrete adjoint
   * (engine/scalarKernel/), for the schemes it covers; used while `rhs` is its `owner`.
   */
  readonly wholeSolve?: WholeSolve;
  /** Volterra integrals and integral equations (engine/volterraSolve.ts solves the model); undefined: none. */
  readonly volterra?: VolterraModel;
  dispose(): void;
}

export interface CompileResult {
  compiled: CompiledModel;
  defaultLoss: boolean;
  /** Operations per evaluation of f when a fused program runs it (scalarProgram.ts: evaluationWork). */
  fusedWork?: number;
  /**
   * A Volterra model on its whole-solve kernel (engine/volterraKernel.ts): operations of one discrete solve, the sums
   * over its history included (engine/volterraProgram.ts: volterraSolveWork).
   */
  volterraWork?: number;
}

export interface CompileOptions {
  /** Small models (scalars, or at most MAX_FUSED_ELEMENTS state and parameter elements): one fused kernel per right-hand side evaluation (engine/scalarRhs.ts); default true. */
  fuseScalars?: boolean;
  /**
   * One-state models whose field is an MLP, on cpu or wasm (engine/fusedMlp): `solve` (the default)
   * a discrete solve as one op, `stage` one op per evaluation of f, false one kernel per operation.
   */
  fuseMlp?: false | 'stage' | 'solve';
  /** Fused models: discrete solves of explicit Runge–Kutta schemes as one kernel (engine/scalarKernel/); default true. */
  wholeSolve?: boolean;
}

export function compileModel(tf: TF, model: Model, options: CompileOptions = {}): CompileResult {
  const nodes = new NodeCompiler(tf, model);
  try {
    const loss = compileLoss(nodes, model);
    // Events and delays act between steps (the history a delay reads is the solve's own): on TF.js's kernels
    // they run per operation, and the whole-solve kernel runs them itself (engine/scalarKernel/events.ts,
    // engine/scalarKernel/delays.ts), so their fused program serves the kernel only.
    const hasEvents = (model.events?.length ?? 0) > 0;
    const hasDelays = delayCalls(solveCalls(model)).length > 0;
    // Volterra integrals read the solve's whole history: per operation (engine/volterraSolve.ts).
    const hasVolterra = isVolterraModel(model);
    const scalarProgram = options.fuseScalars === false || hasVolterra ? undefined : compileScalarProgram(model);
    const kernelWanted = !!scalarProgram && options.wholeSolve !== false;
    const events = hasEvents && kernelWanted ? eventProgram(model) : undefined;
    // XPPAUT's history formulas (x(0) = formula of t) read before t0; undefined when one does not compile.
    const histories = hasDelays && kernelWanted ? pastProgram(model) : {};
    // A DAE's algebraic variables are solved by the fused program alone (engine/algebraic.ts): it is f also with events.
    if (model.algebraic && (!scalarProgram || hasDelays))
      throw new CompileError(
        `The model's algebraic variables (${model.algebraic.variables.map((v) => v.name).join(', ')}) are solved by Newton's method inside the fused program of scalar models, which does not run this model (${hasDelays ? 'it reads delays' : DAE_OUTSIDE_FUSED})`,
        model.algebraic.equations[0].range,
        'unsupported-dae',
      );
    const program = (hasEvents || hasDelays) && !model.algebraic ? undefined : scalarProgram;
    // The kernel stands for the model's own rhs (fused, or per operation for a model with events or delays).
    const kernelProgram = kernelWanted && (!hasEvents || events) && histories ? scalarProgram : undefined;
    // The per-operation right-hand sides only when the fused program does not cover them (compiling them folds
    // constants with TF.js kernels: an array's selection matrices cost seconds at 400 states). A model with events
    // or delays whose kernel runs its own scheme compiles them when something first asks for them: sine-circle.ode's
    // 2,100 terms took 0.1 s on each of the check's threads, and no solve of its check runs them.
    const rhs = once(() => (program ? FUSED_ONLY : compileRightHandSides(nodes, model)));
    if (!program && kernelProgram && !kernelUnsupported(schemeOf(model), true)) {
      // The history their delays read, which their compile would make: the time stepping keeps it.
      if (readsStateDelays(model)) nodes.delayHistory();
    } else rhs();
    // After the delays' history is made (by the per-operation compile, or just above).
    const timeStepping = compileTimeStepping(nodes, model);
    const fused = program
      ? fusedRhs(
          tf,
          program,
          model.states.map((s) => internalShape(s.shape)),
          model.params.map((p) => internalShape(p.shape)),
        )
      : undefined;
    const x0 = initialStates(nodes, model);
    const kernel = kernelProgram
      ? (owner: unknown) =>
          wholeSolveKernel(
            nodes.tf,
            kernelProgram,
            owner,
            model.states.map((s) => internalShape(s.shape)),
            flatX0(nodes, x0),
            events,
            histories?.past,
          )
      : undefined;
    const volterra = volterraModel(tf, nodes.volterra, model, options.wholeSolve !== false);
    const volterraProgram = volterra?.program;
    return {
      compiled: assemble(nodes, model, {
        rhs,
        loss,
        fused,
        x0,
        timeStepping,
        wholeSolve: kernel,
        volterra,
        usesTime: () => {
          rhs();
          return nodes.usesTime || !!program?.usesTime;
        },
        fuseMlp: program || hasEvents || hasDelays || hasVolterra ? false : (options.fuseMlp ?? 'solve'),
      }),
      defaultLoss: loss.defaultLoss,
      ...(scalarProgram ? { fusedWork: evaluationWork(scalarProgram) } : {}),
      ...(volterraProgram
        ? { volterraWork: volterraSolveWork(volterraProgram, model.options.steps, volterra.integrals.maxPoints) }
        : {}),
    };
  } catch (err) {
    nodes.dispose();
    throw err;
  }
}

/** No per-operation right-hand sides: the fused program computes f. */
const FUSED_ONLY: RightHandSides = { fns: [], batched: [], revs: [] };

/** `make()`'s value, made on the first call. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/** Whether a right-hand side reads a state's delay (compiling it makes the delays' history, compileNode.ts). */
function readsStateDelays(model: Model): boolean {
  const states = new Set(model.states.map((s) => s.name));
  return delayCalls(callsByCallee(model.equations.map((e) => e.rhs))).some(
    (c) => c.args[0].kind === 'name' && states.has(c.args[0].name),
  );
}

/** Each state's right-hand side, per operation. */
interface RightHandSides {
  fns: Fn[];
  /** Batched forms (undefined: that f cannot be batched). */
  batched: (Fn | undefined)[];
  /** Reverse mode per right-hand side: null for a missing equation (f = 0), undefined when unsupported. */
  revs: (Node | null | undefined)[];
}

function compileRightHandSides(nodes: NodeCompiler, model: Model): RightHandSides {
  const tf = nodes.tf;
  const revs: (Node | null | undefined)[] = [];
  const batched: (Fn | undefined)[] = [];
  const fns: Fn[] = model.states.map((s) => {
    const eq = model.equations.find((q) => q.state === s.name);
    if (!eq) {
      const z = nodes.keep(tf.zeros(internalShape(s.shape)));
      revs.push(null);
      batched.push(() => z);
      return () => z;
    }
    const n = nodes.compile(eq.rhs, false, false);
    revs.push(n.rev && sameShape(n.shape, s.shape) ? n : undefined);
    const f = nodes.conform(n, s.shape, eq.range, `the right-hand side of ${s.name}'`);
    batched.push(nodes.conformB(n, s.shape));
    return f;
  });
  return { fns, batched, revs };
}

interface CompiledLoss {
  fn: Fn;
  batched: Fn | undefined;
  defaultLoss: boolean;
  rows?: RowLoss;
}

function compileLoss(nodes: NodeCompiler, model: Model): CompiledLoss {
  const tf = nodes.tf;
  if (model.loss) {
    const ln = nodes.compile(model.loss.expr, true, false);
    if (ln.shape.length !== 0)
      throw new CompileError(
        `the loss must be a scalar, not shape [${ln.shape}] (use sum(...))`,
        model.loss.range,
        'shape-mismatch',
      );
    return { fn: ln.fn, batched: ln.bfn, defaultLoss: false };
  }
  // No loss: ½‖x(T)‖² over all states, so that gradients can still be checked.
  const { fn, batched, rows } = defaultLoss(
    tf,
    nodes.keep(tf.scalar(0.5)),
    model.states.map((s) => internalShape(s.shape)),
  );
  return { fn, batched, defaultLoss: true, rows };
}

/** The initial states' elements as one vector [S] (a kept constant). */
function flatX0(nodes: NodeCompiler, x0: Tensor[]): Tensor {
  const tf = nodes.tf;
  return nodes.keep(tf.tidy(() => tf.concat(x0.map((x) => tf.reshape(x, [x.size])))));
}

function initialStates(nodes: NodeCompiler, model: Model): Tensor[] {
  const tf = nodes.tf;
  return model.states.map((s) => {
    // XPPAUT's history x(0) = formula of t gives the initial value at t0 when no init does.
    const init = s.init ?? s.history;
    if (!init) return nodes.keep(tf.zeros(internalShape(s.shape)));
    const n = nodes.compile(init, false, !(!s.init && s.history));
    const f = nodes.conform(n, s.shape, init.range, `the initial value of ${s.name}`);
    const t = tf.scalar(model.options.t0);
    const x0 = nodes.keep(
      tf.tidy(() => tf.reshape(f({ s: [], p: [], t, now: model.options.t0 }), internalShape(s.shape))),
    );
    t.dispose();
    return x0;
  });
}

type Fused = ReturnType<typeof fusedRhs>;
interface ModelParts {
  /** The per-operation right-hand sides, compiled on the first call. */
  rhs: () => RightHandSides;
  loss: CompiledLoss;
  fused: Fused | undefined;
  x0: Tensor[];
  timeStepping: TimeStepping | undefined;
  /** The whole-solve kernel, given the rhs it stands for. */
  wholeSolve: ((owner: unknown) => WholeSolve) | undefined;
  volterra: VolterraModel | undefined;
  /** f or the loss reads t (f's compile is made first). */
  usesTime: () => boolean;
  /** The fused MLP path to try (engine/fusedMlp) for the per-operation rhs. */
  fuseMlp: false | 'stage' | 'solve';
}

function assemble(
  nodes: NodeCompiler,
  model: Model,
  { rhs, loss, fused, x0, timeStepping, wholeSolve, volterra, usesTime, fuseMlp }: ModelParts,
): CompiledModel {
  const tf = nodes.tf,
    lossFn = loss.fn;
  const perOperation = fused ? undefined : perOperationRhs(tf, rhs, usesTime);
  // The reverse modes of the per-operation rhs are known once it is compiled: read on the compiled model's first ask.
  const reverse = () => (fused ? fused : perOperation!.reverse());
  const mlp = perOperation && fuseMlp ? fusedMlp(tf, model, perOperation.rhs, fuseMlp === 'solve') : undefined;
  // Events and delays are batched on the whole-solve kernel alone (it keeps the history and applies the
  // events); the per-operation batched closures do neither, so elsewhere each perturbation is solved on its own.
  const batchable = !timeStepping && !volterra && (!!fused || rhs().batched.every((f) => f)) && !!loss.batched;
  const kernelBatchable = !!timeStepping && !volterra && !!wholeSolve && !!loss.batched;
  const scalarStates = model.states.length > 1 && model.states.every((s) => s.shape.length === 0);
  const compiled: CompiledModel = {
    tf,
    stateShapes: model.states.map((s) => s.shape),
    paramShapes: model.params.map((p) => p.shape),
    get usesTime() {
      return usesTime();
    },
    observed: nodes.observed,
    x0,
    initialValues: initialValueParameters(model),
    timeStepping,
    wholeSolve: wholeSolve?.(fused ? fused.rhs : perOperation!.rhs),
    volterra,
    packed:
      fused && scalarStates
        ? packedModel(tf, model.states.length, () => compiled, fused, nodes.keep(tf.stack(x0)))
        : undefined,
    rhs: fused ? fused.rhs : (mlp?.rhs ?? perOperation!.rhs),
    rhsPath: fused ? 'scalar-program' : mlp ? (mlp.solve ? 'mlp-solve' : 'mlp-stage') : 'per-operation',
    solveProgram: mlp?.solve && { owner: mlp.rhs, solve: (params, run) => mlp.solve!(compiled, params, run) },
    mlp: mlp && { owner: mlp.rhs, field: mlp.field },
    get rhsVjp() {
      return reverse().rhsVjp;
    },
    get rhsLinearize() {
      return reverse().rhsLinearize;
    },
    loss(final, o) {
      return lossFn({ s: final, p: [], o });
    },
    rowLoss: loss.rows,
    // Every model: per-kernel overhead bounds the steps of wide networks too (d = 64, width 256: check 6 % faster; milne 33 %).
    combine: linearCombination(tf),
    batched: batchable
      ? batchedModel(tf, rhs, loss.batched!, usesTime, fused)
      : kernelBatchable
        ? { rhs: kernelOnlyRhs, loss: batchedLoss(tf, loss.batched!) }
        : undefined,
    dispose: () => nodes.dispose(),
  };
  // The Volterra kernel stands for this rhs (engine/volterraSolve.ts); a view that replaces it is solved per operation.
  if (volterra) volterra.owner = compiled.rhs;
  return compiled;
}

/** CompiledModel.initialValues: per state the parameter holding its initial value (−1: none), undefined when no parameter does. */
function initialValueParameters(model: Model): number[] | undefined {
  if (!model.params.some((p) => p.initialValueOf !== undefined)) return undefined;
  return model.states.map((s) => model.params.findIndex((p) => p.initialValueOf === s.name));
}

/**
 * The per-operation rhs, compiled on its first call, and `reverse()`: its hand-written vector–Jacobian products
 * (undefined when an expression is outside them).
 */
function perOperationRhs(
  tf: TF,
  parts: () => RightHandSides,
  usesTime: () => boolean,
): Pick<CompiledModel, 'rhs'> & { reverse: () => Pick<CompiledModel, 'rhsVjp' | 'rhsLinearize'> } {
  return {
    rhs: (s, p, t) => {
      const { fns } = parts();
      const env: Env = { s, p, t: usesTime() ? tf.scalar(t) : undefined, now: t };
      return fns.map((f) => f(env));
    },
    reverse: once(() => reverseModes(tf, parts().revs, usesTime())),
  };
}

/** The per-operation rhs's vector–Jacobian products from its reverse modes `revs`. */
function reverseModes(
  tf: TF,
  revs: RightHandSides['revs'],
  usesTime: boolean,
): Pick<CompiledModel, 'rhsVjp' | 'rhsLinearize'> {
  const hasRhsVjp = revs.every((n) => n !== undefined);
  /** The accumulated products, zeros where nothing reached; a result may be an input itself (f = x + c passes the cotangent through): callers own results, so copy those. */
  const products = (acc: Acc, s: Tensor[], p: Tensor[], cot: Tensor[], withState: boolean, withParams: boolean) => {
    const own = (g: Tensor) => (cot.includes(g) || s.includes(g) || p.includes(g) ? tf.clone(g) : g);
    return {
      vx: withState ? s.map((x, i) => own(acc.s[i] ?? tf.zerosLike(x))) : [],
      vp: withParams ? p.map((x, i) => own(acc.p[i] ?? tf.zerosLike(x))) : [],
    };
  };
  return {
    rhsVjp: hasRhsVjp
      ? (s, p, t, cot, withParams) => {
          const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined, now: t };
          const acc: Acc = { s: s.map(() => undefined), p: p.map(() => undefined), wantP: withParams, wantS: true };
          revs.forEach((n, k) => {
            if (!n || !(n.usesS || (withParams && n.usesP))) return;
            n.rev!(env).back(cot[k], acc);
          });
          return products(acc, s, p, cot, true, withParams);
        }
      : undefined,
    rhsLinearize: hasRhsVjp
      ? (s, p, t) => {
          const env: Env = { s, p, t: usesTime ? tf.scalar(t) : undefined, now: t };
          const linear = revs.map((n) => n && n.rev!(env));
          return {
            back(cot, withParams, withState = true) {
              const acc: Acc = {
                s: s.map(() => undefined),
                p: p.map(() => undefined),
                wantP: withParams,
                wantS: withState,
              };
              linear.forEach((r, k) => {
                const n = revs[k];
                if (!r || !n || !((withState && n.usesS) || (withParams && n.usesP))) return;
                r.back(cot[k], acc);
              });
              return products(acc, s, p, cot, withState, withParams);
            },
          };
        }
      : undefined,
  };
}

/** CompiledModel.batched: the fused batched rhs, or the per-operation batched closures. */
function batchedModel(
  tf: TF,
  rhs: () => RightHandSides,
  lossBatched: Fn,
  usesTime: () => boolean,
  fused: Fused | undefined,
): NonNullable<CompiledModel['batched']> {
  return {
    rhs: fused
      ? fused.batchedRhs
      : (s, p, t) => {
          const { batched } = rhs();
          const env: Env = { s, p, t: usesTime() ? tf.scalar(t) : undefined, now: t };
          // Each f as its state's full batched shape: the steppers' addN needs equal shapes (f = 0 or f(t) alone is not batched).
          return batched.map((f, k) => {
            const y = f!(env),
              want = s[k].shape;
            return y.shape.length === want.length && y.shape.every((d, i) => d === want[i])
              ? y
              : tf.broadcastTo(lift(tf, y), want);
          });
        },
    loss: batchedLoss(tf, lossBatched),
  };
}

/** The batched loss [B] of B final states (and observations). */
function batchedLoss(tf: TF, lossBatched: Fn): NonNullable<CompiledModel['batched']>['loss'] {
  return (final, B, o) => {
    const y = lift(tf, lossBatched({ s: final, p: [], o }));
    return tf.reshape(y.shape[0] === B ? y : tf.broadcastTo(y, [B, 1, 1]), [B]);
  };
}

/** The batched rhs of a model with events or delays: its batched solves run on the whole-solve kernel only. */
const kernelOnlyRhs = (): never => {
  throw new Error('a model with events or delays solves batches on the whole-solve kernel only');
};

/** CompiledModel.packed of a fused model with S scalar states; its model() view is made on first use. */
function packedModel(
  tf: TF,
  S: number,
  owner: () => CompiledModel,
  f: Fused,
  px0: Tensor,
): NonNullable<CompiledModel['packed']> {
  let view: CompiledModel | undefined;
  const unpack = (x: Tensor) => Array.from({ length: S }, (_, i) => tf.reshape(tf.slice(x, [i], [1]), []));
  return {
    owner: f.rhs,
    x0: px0,
    rhs: f.packedRhs,
    batchedRhs: f.packedBatchedRhs,
    model: () => {
      const compiled = owner();
      return (view ??= {
        ...compiled,
        stateShapes: [[S]],
        x0: [px0],
        rhs: (s, p, t) => [f.packedRhs(s[0], p, t)],
        rhsVjp: (s, p, t, cot, withParams) => f.packedVjp(s[0], p, t, cot[0], withParams),
        rhsLinearize: (s, p, t) => f.packedLinearize(s[0], p, t),
        batched: compiled.batched && {
          rhs: (s, p, t) => [f.packedBatchedRhs(s[0], p, t)],
          loss: (final, B, o) =>
            compiled.batched!.loss(
              Array.from({ length: S }, (_, i) => tf.slice(final[0], [0, i, 0], [B, 1, 1])),
              B,
              o,
            ),
        },
        loss: (final, o) => compiled.loss(unpack(final[0]), o),
        packed: undefined,
        dispose: () => {},
      });
    },
  };
}

/** Evaluates a constant expression (a parameter's `= value` initialiser) into internal layout, broadcast to `shape`. */
export function evalConstant(tf: TF, expr: Expr, shape: Shape): Float32Array {
  const fake: Model = {
    states: [{ name: '__c', shape, init: expr, range: expr.range, nameRange: expr.range }],
    params: [],
    equations: [],
    optionLines: [],
    data: [],
    schemes: [],
    options: {
      t0: 0,
      total: 1,
      steps: 1,
      dt: 1,
      meth: 'euler',
      start: 'euler',
      seed: 0,
      gradfix: 'none',
      grad: 'ad',
      tie: 'step',
    },
    loss: undefined,
  };
  const { compiled } = compileModel(tf, fake);
  try {
    return Float32Array.from(compiled.x0[0].dataSync());
  } finally {
    compiled.dispose();
  }
}
