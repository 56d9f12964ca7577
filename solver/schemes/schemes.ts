// Time-stepping schemes as data. Explicit Runge–Kutta methods are Butcher
// tableaux (a, b, c); multistep methods are linear multistep coefficients
// (alpha, beta, oldest first) with a one-step start scheme. Built-in and
// user-declared schemes take the same path through the integrator
// (engine/integrate.ts) and the copy bookkeeping (copies.ts).
//
// Multistep conventions (documented for users in describeScheme):
// - the first k−1 values come from the `start=` one-step scheme (default
//   euler); ab3 ramps up instead: one start step, then one ab2 step;
// - the start limits the overall order to (start order + 1): with the default
//   euler start, ab3 and milne are second order; use start=heun or rk4;
// - milne is Milne's predictor (4-step, order 4) with one Simpson corrector
//   pass and a final evaluation (PECE), so it needs three start steps.
import type { Model, SchemeDecl, SchemeName, Tie } from '../model';
import {
  multistepOrder,
  rkOrder,
  validateMultistep,
  validateTableau,
  zeroStability,
  type ButcherTableau,
  type LinearMultistep,
} from './coefficients';
import {
  isImplicitScheme,
  isMultistep,
  isOneStep,
  ONE_STEP_SCHEME_NAMES,
  SCHEME_NAMES,
  SCHEMES,
  type MultistepName,
  type OneStepName,
} from './registry';

export type { ButcherTableau, LinearMultistep } from './coefficients';
export { validateTableau, validateMultistep } from './coefficients';
export { isMultistep, isOneStep, type MultistepName, type OneStepName } from './registry';

export interface RKScheme {
  kind: 'rk';
  name: string;
  tableau: ButcherTableau;
  order: number;
  /** Per-step parameters: one copy per step (shared by its stages) or one per stage. */
  tie: Tie;
  /** Backward Euler (the only implicit tableau): Newton's method per step (engine/implicitStep.ts). */
  implicit?: true;
}

export interface MultistepScheme {
  kind: 'lmm';
  name: string;
  /** The method; for an implicit one (milne) its corrector. */
  method: LinearMultistep;
  /** Consistency order of the method (the start may limit the observed order). */
  order: number;
  /** ρ has a root on the unit circle besides 1: AD adjoints oscillate. */
  weaklyStable: boolean;
  /** One-step scheme for the first step(s). Its stages between nodes use parameter copies blended linearly in time. */
  start: RKScheme;
  /** Lower-order explicit methods for start steps 2, 3, … (ab3: [ab2]); missing entries use `start`. */
  ramp: LinearMultistep[];
  /** Implicit methods: the explicit predictor of one PECE pass. */
  predictor?: LinearMultistep;
}

export type Scheme = RKScheme | MultistepScheme;

/** The Butcher tableau of each one-step built-in scheme (from the registry). */
export const TABLEAUX = Object.fromEntries(
  SCHEME_NAMES.filter(isOneStep).map((n) => [n, SCHEMES[n].tableau]),
) as Readonly<Record<OneStepName, ButcherTableau>>;

export interface MultistepDefinition {
  method: LinearMultistep;
  ramp: LinearMultistep[];
  predictor?: LinearMultistep;
}

/** The method, start ramp and predictor of each multistep built-in scheme (from the registry). */
export const MULTISTEP = Object.fromEntries(
  SCHEME_NAMES.filter(isMultistep).map((n) => [n, SCHEMES[n] as MultistepDefinition]),
) as Readonly<Record<MultistepName, MultistepDefinition>>;

export interface SchemeSettings {
  tie?: Tie;
  /** One-step scheme that starts a multistep method (default euler). */
  start?: SchemeName | string;
  /** The model's declared schemes. */
  declared?: readonly SchemeDecl[];
}

function rkScheme(name: string, tableau: ButcherTableau, tie: Tie): RKScheme {
  return { kind: 'rk', name, tableau, order: rkOrder(tableau).order, tie };
}

function multistepScheme(name: string, def: MultistepDefinition, start: RKScheme): MultistepScheme {
  return {
    kind: 'lmm',
    name,
    method: def.method,
    ramp: def.ramp,
    start,
    order: multistepOrder(def.method).order,
    weaklyStable: zeroStability(def.method.alpha).stability !== 'strong',
    ...(def.predictor ? { predictor: def.predictor } : {}),
  };
}

/**
 * The runnable scheme for a built-in or declared name. Throws for unknown
 * names and for declarations the engine cannot run (the front end reports
 * those first, see analysis.ts).
 */
export function schemeByName(name: string, settings: SchemeSettings = {}): Scheme {
  const tie = settings.tie ?? 'step';
  const key = name.toLowerCase();
  const decl = settings.declared?.find((d) => d.name.toLowerCase() === key);
  const startName = (settings.start ?? 'euler').toLowerCase();
  if (!decl && !isOneStep(key) && !isMultistep(key)) throw new Error(`The scheme '${name}' is not known to the engine`);
  if (decl?.kind === 'rk' || (!decl && isOneStep(key))) {
    const tableau = decl?.kind === 'rk' ? { a: decl.a, b: decl.b, c: decl.c } : TABLEAUX[key as OneStepName];
    const implicit = !decl && isImplicitScheme(key);
    const problems = implicit ? [] : validateTableau(tableau).filter((p) => !p.startsWith('c['));
    if (problems.length > 0) throw new Error(`The scheme '${name}' cannot run: ${problems.join('; ')}`);
    const scheme = rkScheme(decl?.name ?? key, tableau, tie);
    return implicit ? { ...scheme, implicit: true, order: SCHEMES[key as OneStepName].order } : scheme;
  }
  if (!isOneStep(startName) || !ONE_STEP_SCHEME_NAMES.includes(startName))
    throw new Error(`start=${startName}: a multistep method needs a one-step built-in start scheme`);
  const start = rkScheme(startName, TABLEAUX[startName], 'step');
  if (decl?.kind === 'lmm') {
    const problems = validateMultistep(decl);
    if (problems.length > 0) throw new Error(`The scheme '${name}' cannot run: ${problems.join('; ')}`);
    return multistepScheme(decl.name, { method: { alpha: decl.alpha, beta: decl.beta }, ramp: [] }, start);
  }
  return multistepScheme(key, MULTISTEP[key as MultistepName], start);
}

/** The scheme a checked model runs: its `meth`, `tie` and `start` options and its declared schemes. */
export function schemeOf(model: Pick<Model, 'options' | 'schemes'>): Scheme {
  return schemeByName(model.options.meth, {
    tie: model.options.tie,
    start: model.options.start,
    declared: model.schemes,
  });
}

/** Steps of a multistep method: k of its (corrector) method and of its predictor. */
export function stepsBack(m: LinearMultistep): number {
  return m.alpha.length - 1;
}

/** Number of start steps before the method proper runs (k − 1, or k_predictor − 1 for PECE). */
export function startSteps(s: MultistepScheme): number {
  return Math.max(stepsBack(s.method), s.predictor ? stepsBack(s.predictor) : 0) - 1;
}
