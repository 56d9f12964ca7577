// A Volterra model as fused scalar programs (engine/scalarRhs.ts) for the whole-solve kernel
// (engine/volterraKernel.ts): the right-hand sides with each integral and each `delay(x, tau)` read as
// an extra input, the distinct integrands as a program of the states and t' (and t), the delays' tau as a
// program of the states, and the convolution kernels K of int{K#u} as a program of t. Undefined when the
// model is outside what the kernel covers: a state that is not a scalar, events, a delay inside an
// integrand or of a state with an XPPAUT history formula, or an expression outside the fused subset;
// such a model keeps the per-operation solve.
import type { Expr, Model, StateDecl } from '../model';
import { leftChain, visitExpressions } from '../model';
import { INTEGRAL, readsTime, T_PRIME } from '../language/volterraSyntax';
import { compileScalarExpressions, type ScalarProgram } from './scalarRhs';
import { evaluationWork } from './scalarProgram';

/** One integral of the model, in the order the rhs program reads them. */
export interface IntegralPlan {
  mu: number;
  /** Its integrand's output in `integrands` (integrals with the same integrand share it). */
  g: number;
  /** The integrand reads t or t': evaluated over the history each step (its output in `history`). */
  overHistory: boolean;
  /** Its output in `history`, when overHistory. */
  h: number;
  /** Its kernel's output in `kernels`, or −1 (K = 1). */
  kernel: number;
  /** The kernel reads a parameter (XPPAUT's table is then a tensor, whose weights round differently). */
  kernelUsesP: boolean;
}

/** One `delay(x, tau)` of the right-hand sides (engine/delays.ts's rule). */
export interface DelayPlan {
  /** The delayed state. */
  state: number;
  /** Its tau's output in `taus`. */
  tau: number;
  /** tau is a number (the per-operation compile folds it): the weight is rounded once, no gradient. */
  constant: boolean;
}

export interface VolterraProgram {
  /** Scalar states, integrals, distinct integrands. */
  S: number;
  K: number;
  D: number;
  Q: number;
  /** f of every state, reading the states, then the K integrals, then the delays' values as its inputs. */
  rhs: ScalarProgram;
  delays: DelayPlan[];
  /** The delays' tau, programs of the states, the parameters and t. */
  taus?: ScalarProgram;
  /** The D integrands g, reading the states then t' (and t). */
  integrands: ScalarProgram;
  /** The integrands that read t or t' (those evaluated over the history), same inputs. */
  history?: ScalarProgram;
  /** The kernels of int{K#u}, programs of t and the parameters. */
  kernels?: ScalarProgram;
  integrals: IntegralPlan[];
  /** Per state: an integral equation u = F. */
  integralStates: boolean[];
}

type Call = Extract<Expr, { kind: 'call' }>;

/** An expression with each call `replace` takes replaced by what it gives (a rebuilt tree; long sums in a loop). */
function mapIntegrals(e: Expr, replace: (call: Call) => Expr | undefined): Expr {
  switch (e.kind) {
    case 'binary': {
      const { chain, innermost } = leftChain(e);
      let acc = mapIntegrals(innermost, replace);
      for (let i = chain.length - 1; i >= 0; i--)
        acc = { ...chain[i], left: acc, right: mapIntegrals(chain[i].right, replace) };
      return acc;
    }
    case 'call':
      return replace(e) ?? { ...e, args: e.args.map((a) => mapIntegrals(a, replace)) };
    case 'unary':
      return { ...e, operand: mapIntegrals(e.operand, replace) };
    case 'vector':
      return { ...e, elements: e.elements.map((a) => mapIntegrals(a, replace)) };
    case 'index':
      return { ...e, target: mapIntegrals(e.target, replace) };
    case 'if':
      return {
        ...e,
        cond: mapIntegrals(e.cond, replace),
        then: mapIntegrals(e.then, replace),
        else: mapIntegrals(e.else, replace),
      };
    default:
      return e;
  }
}

/** The key the per-operation compile dedupes integrands by (engine/compileNode.ts). */
const exprKey = (e: Expr) =>
  JSON.stringify(e, (k, v) => (k === 'range' || k === 'opRange' || k === 'calleeRange' ? undefined : v));

/** The model's Volterra programs, or undefined when the kernel does not cover it. */
export function volterraProgram(model: Model): VolterraProgram | undefined {
  if (model.states.length === 0 || model.states.some((s) => s.shape.length !== 0)) return undefined;
  if ((model.events?.length ?? 0) > 0) return undefined;
  if (model.params.some((p) => p.shape.length > 2)) return undefined;
  const S = model.states.length;
  const integrals: IntegralPlan[] = [];
  const integrandExprs: Expr[] = [],
    integrandKeys = new Map<string, number>();
  const historyOf: number[] = []; // per integrand: its output in `history`, or −1
  const historyExprs: Expr[] = [];
  const kernelExprs: Expr[] = [];
  const params = new Set(model.params.map((p) => p.name));
  const synthetic = (name: string): StateDecl => ({
    ...model.states[0],
    name,
    shape: [],
    init: undefined,
    history: undefined,
  });
  const integralName = (k: number) => `∫${k}`;
  const delayName = (j: number) => `⌛${j}`;
  const stateIndex = new Map(model.states.map((s, i) => [s.name, i]));
  const delays: DelayPlan[] = [];
  const tauExprs: Expr[] = [];
  const reads = (e: Expr, callee: string) => {
    let found = false;
    visitExpressions([e], (x) => {
      if (x.kind === 'call' && x.callee === callee) found = true;
    });
    return found;
  };
  /** A name the per-operation compile does not fold into a constant. */
  const variable = (e: Expr) => {
    let found = false;
    visitExpressions([e], (x) => {
      if (x.kind === 'name' && x.name !== 'pi') found = true;
    });
    return found;
  };
  let nested = false;
  const equations = new Map(model.equations.map((q) => [q.state, q]));
  const rhsExprs = model.states.map((s) => {
    const eq = equations.get(s.name);
    const zero: Expr = { kind: 'number', value: 0, range: s.range };
    if (!eq) return zero;
    return mapIntegrals(eq.rhs, (call) => {
      if (call.callee === 'delay') {
        const [target, tau] = call.args;
        const state = target?.kind === 'name' ? stateIndex.get(target.name) : undefined;
        if (state === undefined || !tau) return undefined; // not a delay the engine reads (the compile says so)
        if (model.states[state].history || reads(tau, INTEGRAL) || reads(tau, 'delay')) nested = true;
        delays.push({ state, tau: tauExprs.push(tau) - 1, constant: !variable(tau) });
        return { kind: 'name', name: delayName(delays.length - 1), range: call.range, shape: [] };
      }
      if (call.callee !== INTEGRAL) return undefined;
      const [mu, integrand, kernel] = call.args;
      visitExpressions(call.args, (x) => {
        if (x.kind === 'call' && (x.callee === INTEGRAL || x.callee === 'delay')) nested = true;
      });
      const key = exprKey(integrand);
      let g = integrandKeys.get(key);
      if (g === undefined) {
        g = integrandExprs.length;
        integrandKeys.set(key, g);
        integrandExprs.push(integrand);
        historyOf.push(readsTime(integrand) ? historyExprs.push(integrand) - 1 : -1);
      }
      let kernelUsesP = false;
      if (kernel)
        visitExpressions([kernel], (x) => {
          if (x.kind === 'name' && params.has(x.name)) kernelUsesP = true;
        });
      integrals.push({
        mu: mu.kind === 'number' ? mu.value : 0,
        g,
        overHistory: historyOf[g] >= 0,
        h: historyOf[g],
        kernel: kernel ? kernelExprs.push(kernel) - 1 : -1,
        kernelUsesP,
      });
      return { kind: 'name', name: integralName(integrals.length - 1), range: call.range, shape: [] };
    });
  });
  if (nested) return undefined;
  const K = integrals.length;
  const withStates = (extra: string[]): Model => ({
    ...model,
    states: [...model.states, ...extra.map(synthetic)],
  });
  const rhs = compileScalarExpressions(
    withStates([...integrals.map((_x, k) => integralName(k)), ...delays.map((_x, j) => delayName(j))]),
    rhsExprs,
  );
  const taus = tauExprs.length > 0 ? compileScalarExpressions(model, tauExprs) : undefined;
  const integrandModel = withStates([T_PRIME]);
  const integrands = compileScalarExpressions(integrandModel, integrandExprs);
  const history = historyExprs.length > 0 ? compileScalarExpressions(integrandModel, historyExprs) : undefined;
  const kernels = kernelExprs.length > 0 ? compileScalarExpressions(model, kernelExprs) : undefined;
  if (
    !rhs ||
    !integrands ||
    (historyExprs.length > 0 && !history) ||
    (kernelExprs.length > 0 && !kernels) ||
    (tauExprs.length > 0 && !taus)
  )
    return undefined;
  const volterraStates = new Set(model.equations.filter((q) => q.volterra).map((q) => q.state));
  return {
    S,
    K,
    D: integrandExprs.length,
    Q: rhs.params,
    rhs,
    delays,
    taus,
    integrands,
    history,
    kernels,
    integrals,
    integralStates: model.states.map((s) => volterraStates.has(s.name)),
  };
}

/**
 * Operations of one discrete solve of N steps, about, as evaluationWork counts them (check/compile.ts starts the
 * second thread by it): f and the integrands once a step, and the sums over the history, a term per integral and
 * stored point within the last `maxPoints` (XPPAUT's vmaxpts), each a tenth of an operation as a product's terms are;
 * an integrand of t and t' is evaluated again at each point. The sums grow like N² up to vmaxpts.
 */
export function volterraSolveWork(vp: VolterraProgram, N: number, maxPoints: number): number {
  const perStep = evaluationWork(vp.rhs) + evaluationWork(vp.integrands);
  // Step n sums over min(n + 1, M) stored points.
  const M = Math.min(N, maxPoints);
  const points = (M * (M + 1)) / 2 + (N - M) * M;
  const overHistory = vp.integrals.filter((I) => I.overHistory).length;
  const plain = vp.integrals.length - overHistory;
  // At each point an integrand over the history copies the stored state in and evaluates its program (once for all).
  const evaluated = overHistory > 0 && vp.history ? evaluationWork(vp.history) + (vp.S + overHistory) / 10 : 0;
  return perStep * N + points * (plain / 10 + evaluated);
}
