// XPPAUT Markov variables, realised once and then held fixed ("realise, then freeze"). For one fixed sequence of
// coins the realised loss is piecewise smooth in the parameters: a jump decision changes only where a coin equals a
// cumulative rate exactly, so almost everywhere its derivative is the pathwise one with the jumps held where they
// are, and the Markov path acts as a known piecewise-constant input. A check (and training) therefore draws each
// chain once, along a solve of the model at the checked parameter values, and hands the rest of the check
// the path as a step function of t on the grid (the Markov variable's table, as a noise realisation is): AD, finite
// differences, the continuous reference and the fused paths read it like any table. The rule is XPPAUT's
// (markov.c, update_markov and new_state): at the start of every step, before it is integrated, each chain in
// state i draws one uniform coin u and, for j ≠ i in order, sums rate_ij·dt with the rates at the step's start
// (states, t, and the old values of every Markov variable); the first j with u ≤ sum is the new state, else it
// stays. The value is then held through the step's stages. Each chain's coins are its own stream, seeded from
// `@ seed=` and its name, so the editor, the CLI and training draw the same path at the same parameter values.
import { delayCalls, solveCalls, type Expr, type Model, type TableDecl } from '../model';
import type { TF } from './tf';
import { evalConstant, sizeOf } from './compile';
import { Rng, streamSeed } from './random';
import { compileScalarExpressions, compileScalarProgram } from './scalarRhs';
import type { ScalarProgram } from './scalarProgram';
import { interpreterOf } from './programInterpreter';
import { forwardStep, rungeKuttaPlan, StepWorkspace } from './scalarKernel/rungeKutta';
import { isVolterraModel } from './volterraModel';
import { isMapScheme } from '../schemes/registry';
import { schemeOf, TABLEAUX, type ButcherTableau } from '../schemes/schemes';

/** The realised model: each Markov variable's table holds its path; jumps[k] counts chain k's jumps. */
export interface MarkovRealisation {
  model: Model;
  jumps: number[];
}

/** The stream of chain `name`'s coins (one uniform per step). */
export function markovCoins(seed: number, name: string): Rng {
  return new Rng(streamSeed(seed, `markov ${name.toLowerCase()}`));
}

/** What the realisation cannot follow in this model (a phrase for a message), or undefined. */
export function markovUnsupported(model: Model): string | undefined {
  if (!model.markov?.length) return undefined;
  if (model.events?.length) return 'events (`global`)';
  if (model.algebraic) return 'a DAE (`0 = …` with `solv`)';
  if (isMapScheme(model.options.meth)) return 'a map';
  if (isVolterraModel(model)) return 'Volterra integrals';
  if (delayCalls(solveCalls(model)).length > 0) return 'delays';
  if (!programs(live(model).model)) return 'right-hand sides outside the element-by-element subset of the fused solve';
  return undefined;
}

/** The model with each Markov path's samples in a fresh array (paths[c] for chain c) that the realisation fills. */
function live(model: Model): { model: Model; paths: number[][] } {
  const chain = new Map((model.markov ?? []).map((m, c) => [m.name, c]));
  const paths: number[][] = [];
  const tables = (model.tables ?? []).map((t): TableDecl => {
    const c = t.origin === 'markov' ? chain.get(t.name) : undefined;
    if (c === undefined) return t;
    paths[c] = Array.from(t.values);
    return { ...t, values: paths[c] };
  });
  return { model: { ...model, tables }, paths };
}

/** f and the off-diagonal rates (row-major, in each chain's order) as fused programs the interpreter runs. */
function programs(model: Model): { f: ScalarProgram; rates: ScalarProgram } | undefined {
  const entries = (model.markov ?? []).flatMap((m) => m.rates.flat().filter((r): r is Expr => r !== undefined));
  const f = compileScalarProgram(model, true);
  const rates = compileScalarExpressions(model, entries);
  if (!f || !rates || f.delays || f.algebraic) return undefined;
  const runnable = (p: ScalarProgram) => p.code.every((c) => c.op !== 'delay' && c.op !== 'alg');
  return runnable(f) && runnable(rates) ? { f, rates } : undefined;
}

/**
 * Each Markov variable's path, drawn once along a solve of the model at these parameter values (engine layout, as
 * CheckOptions.parameterValues; a per-step parameter reads its step's first copy): the network's own step of the fused
 * program (scalarKernel/rungeKutta.ts) on the model's grid with
 * its own explicit Runge–Kutta scheme (classic RK4 for a multistep or implicit one). Throws for a model the
 * realisation cannot follow (markovUnsupported; the checker refuses such models first).
 */
export function realiseMarkov(tf: TF, model: Model, values: readonly Float32Array[]): MarkovRealisation {
  const chains = model.markov ?? [];
  if (chains.length === 0) return { model, jumps: [] };
  const { model: running, paths } = live(model);
  const progs = markovUnsupported(model) ? undefined : programs(running);
  if (!progs)
    throw new Error(`the Markov variables of this model cannot be realised: it has ${markovUnsupported(model)}`);
  const { steps: N, dt: h, t0, seed } = model.options;
  // The network's own step (scalarKernel/rungeKutta.ts), so the chain reads the states the discrete solve computes.
  const step = new StepWorkspace(progs.f, rungeKuttaPlan(explicitTableau(model), h, t0, false));
  const sizes = model.params.map((p) => sizeOf(p.shape));
  const S = progs.f.states;
  const p = new Float64Array(progs.f.params);
  const x = Float32Array.from(initialStates(tf, model, values, S));
  const rates = interpreterOf(progs.rates);
  const rv = new Float64Array(progs.rates.code.length);
  const coins = chains.map((c) => markovCoins(seed, c.name));
  const state = chains.map((c) => c.initial);
  const jumps = chains.map(() => 0);
  for (let c = 0; c < chains.length; c++) paths[c][0] = state[c];
  for (let n = 0; n < N; n++) {
    const t = t0 + n * h;
    parametersAt(model, values, sizes, n, N, p);
    // The rates at the step's start read every chain's old value (paths[c][n] holds it until the decision).
    rates.forward(x, 0, p, t, rv);
    let at = 0;
    const next = state.slice();
    chains.forEach((chain, c) => {
      const u = coins[c].uniform();
      const row = state[c];
      const m = chain.states;
      const rowAt = at + row * (m - 1);
      at += m * (m - 1);
      if (!(Number.isInteger(row) && row >= 0 && row < m)) return;
      let sum = 0;
      for (let j = 0, e = 0; j < m; j++) {
        if (j === row) continue;
        sum += rv[progs.rates.outputs[rowAt + e++]] * h;
        if (u <= sum) {
          next[c] = j;
          break;
        }
      }
    });
    chains.forEach((_, c) => {
      if (next[c] !== state[c]) jumps[c]++;
      state[c] = next[c];
      // Held through the step: a stage at t_{n+1} reads sample n + 1, which holds it until the next decision.
      paths[c][n] = state[c];
      if (n + 1 < N) paths[c][n + 1] = state[c];
    });
    forwardStep(step, n, x, 0, () => p, x, 0);
  }
  return { model: running, jumps };
}

/** The model's own explicit Runge–Kutta tableau, else classic RK4. */
function explicitTableau(model: Model): ButcherTableau {
  try {
    const scheme = schemeOf(model);
    if (scheme.kind === 'rk' && !scheme.implicit) {
      const { a } = scheme.tableau;
      if (a.every((row, i) => row.every((v, j) => j < i || v === 0))) return scheme.tableau;
    }
  } catch {
    // an unknown scheme is reported elsewhere; the realisation still runs
  }
  return TABLEAUX.rk4;
}

/** The states at t0: a state's initial value checked as a parameter (check/initialValues.ts), else its `init`. */
function initialStates(tf: TF, model: Model, values: readonly Float32Array[], S: number): Float64Array {
  const x = new Float64Array(S);
  let at = 0;
  for (const s of model.states) {
    const size = sizeOf(s.shape);
    const k = model.params.findIndex((q) => q.initialValueOf === s.name);
    const v = k >= 0 ? values[k] : s.init ? evalConstant(tf, s.init, s.shape) : undefined;
    if (v) for (let i = 0; i < size; i++) x[at + i] = v[i] ?? 0;
    at += size;
  }
  return x;
}

/** One copy of every parameter for step n: shared ones as they are, per-step ones the step's first copy. */
function parametersAt(
  model: Model,
  values: readonly Float32Array[],
  sizes: number[],
  n: number,
  N: number,
  p: Float64Array,
): void {
  let at = 0;
  model.params.forEach((q, i) => {
    const size = sizes[i];
    const v = values[i];
    const copies = v ? Math.floor(v.length / size) : 0;
    const copy = q.perStep && copies > 0 ? Math.min(Math.floor((n * copies) / N), copies - 1) : 0;
    for (let e = 0; e < size; e++) p[at + e] = v?.[copy * size + e] ?? 0;
    at += size;
  });
}
