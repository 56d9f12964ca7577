// The built-in schemes, one entry each: everything else that lists scheme names derives from SCHEMES (the model's
// SchemeName, option validation of `meth=` and `start=`, the XPPAUT method names, completion and hover texts, the
// runnable schemes of schemes.ts, the strongly stable alternatives that remedies offer). Adding a built-in scheme is
// one entry here plus its tests (docs/design.md#adding-a-scheme).
//
// Every entry is checked when this module loads, as diffrax's ButcherTableau checks itself: the tableau is explicit,
// c are the row sums of a and the weights b sum to 1; a multistep method is explicit (or has an explicit predictor)
// and consistent. test/unit/registries.test.ts checks the declared order and stability against the analysis.
// This file imports only tableau.ts, so the model types (solver/model.ts) can name its schemes.
import {
  multistepConsistencyProblems,
  multistepProblems,
  tableauProblems,
  type ButcherTableau,
  type LinearMultistep,
} from './tableau';

/** An XPPAUT `meth=` name that runs as this scheme; `note` says where the mapping is not exact (an information diagnostic). */
export interface XppautAlias {
  name: string;
  note?: string;
  /** XPPAUT chooses this method's steps itself (adaptive or stiff): a fixed step that blows up at dt is halved (check.ts). */
  stepControl?: true;
}

interface SchemeFacts {
  /** Consistency order of the coefficients (a multistep start may limit the observed order). */
  order: number;
  /** Zero-stability: one-step schemes are strongly stable; `weak` makes AD adjoints of per-step parameters oscillate. */
  stability: 'strong' | 'weak';
  /** One or two sentences for hovers and completion: the formula and how it starts. */
  description: string;
  /** XPPAUT method names that run as this scheme. */
  xppaut?: readonly XppautAlias[];
  /** Offered as a strongly stable alternative in the remedies of weak-stability findings. */
  remedy?: true;
  /**
   * XPPAUT's `discrete`: every equation is a map x(t+1) = F(x(t)), not a flow. It runs as forward Euler with h = 1
   * on F(x) − x (the front end rewrites the equations, solver/language/maps.ts), has no continuous reference (the
   * check's reference is the map's own adjoint, engine/mapReference.ts), and
   * cannot start a multistep method.
   */
  map?: true;
}

export interface OneStepEntry extends SchemeFacts {
  kind: 'rk';
  tableau: ButcherTableau;
  /** A diagonally implicit tableau, solved by Newton's method per step (engine/implicitStep.ts: backward Euler only). */
  implicit?: true;
}

export interface MultistepEntry extends SchemeFacts {
  kind: 'lmm';
  /** The method; for an implicit one (milne) its corrector. */
  method: LinearMultistep;
  /** Lower-order explicit methods for start steps 2, 3, … (ab3: [ab2]); missing entries use the `start=` scheme. */
  ramp: LinearMultistep[];
  /** Implicit methods: the explicit predictor of one PECE pass. */
  predictor?: LinearMultistep;
}

export type SchemeEntry = OneStepEntry | MultistepEntry;

const oneStep = (e: Omit<OneStepEntry, 'kind'>): OneStepEntry => ({ kind: 'rk', ...e });
const multistep = (e: Omit<MultistepEntry, 'kind'>): MultistepEntry => ({ kind: 'lmm', ...e });

/** The note of an adaptive XPPAUT method checked as a fixed-step scheme (XPPAUT's dt is then its output interval). */
const adaptive = (what: string) =>
  `XPPAUT's ${what}; ODE Lens checks a fixed-step discretisation, the classical RK4 at dt (its AD gradients are those of the steps taken, and an adaptive solver's step choice is not differentiated; where the fixed step blows up at dt, the check halves it, up to dt/8, as the adaptive method would shrink its step, and says so)`;
/** The note of a stiff XPPAUT method checked as a fixed-step scheme. */
const stiff = (what: string) =>
  `XPPAUT's ${what} for stiff systems; ODE Lens checks a fixed-step discretisation, the implicit backward Euler (backeul) at dt, stable at any step on a stiff model (first order: XPPAUT's dt is its output interval, and a step whose root Newton's method cannot reach, from the previous state or along the pseudo-time flow, stops the solve; the check then halves the step, up to dt/8, as XPPAUT's method would shrink its step, and says so)`;

const AB2: LinearMultistep = { alpha: [0, -1, 1], beta: [-1 / 2, 3 / 2, 0] };

/** Why a registry entry cannot run as declared (empty when it can). */
export function entryProblems(entry: SchemeEntry): string[] {
  if (entry.kind === 'rk') return tableauProblems(entry.tableau, String, entry.implicit);
  const methods = [entry.method, ...entry.ramp, ...(entry.predictor ? [entry.predictor] : [])];
  return methods.flatMap((m) => [
    // An implicit corrector runs as one PECE pass of its explicit predictor.
    ...multistepProblems(m, String).filter(
      (p) => !(m === entry.method && entry.predictor && p.startsWith('the method is implicit')),
    ),
    ...multistepConsistencyProblems(m, String),
  ]);
}

/** The schemes as given, once every entry has been checked; throws at load for a wrong entry. */
export function validated<T extends Record<string, SchemeEntry>>(schemes: T): T {
  for (const [name, entry] of Object.entries(schemes)) {
    const problems = entryProblems(entry);
    if (problems.length > 0)
      throw new Error(`The built-in scheme '${name}' in solver/schemes/registry.ts is wrong: ${problems.join('; ')}`);
  }
  return schemes;
}

/** The built-in schemes, in the order completion and messages list them. */
export const SCHEMES = validated({
  euler: oneStep({
    tableau: { a: [[]], b: [1], c: [0] },
    order: 1,
    stability: 'strong',
    description: 'Forward Euler: x_{n+1} = x_n + h f(x_n, θ_n).',
  }),
  heun: oneStep({
    tableau: { a: [[], [1]], b: [0.5, 0.5], c: [0, 1] },
    order: 2,
    stability: 'strong',
    remedy: true,
    xppaut: [
      { name: 'modeuler' },
      {
        name: 'volterra',
        note: "XPPAUT's volterra is an implicit trapezoid-rule method made for Volterra integral equations; on differential equations ODE Lens checks the explicit trapezoid rule, heun, at the same dt",
      },
    ],
    description: "Heun's method (explicit trapezoid, XPPAUT `modeuler`): two stages at t_n and t_n + h, weights ½, ½.",
  }),
  midpoint: oneStep({
    tableau: { a: [[], [0.5]], b: [0, 1], c: [0, 0.5] },
    order: 2,
    stability: 'strong',
    description:
      'Explicit midpoint: stages at t_n and t_n + h/2, weights b = (0, 1). The first stage only feeds the second.',
  }),
  ralston: oneStep({
    tableau: { a: [[], [2 / 3]], b: [0.25, 0.75], c: [0, 2 / 3] },
    order: 2,
    stability: 'strong',
    description:
      "Ralston's second-order method: stages at t_n and t_n + 2h/3, weights ¼, ¾ (the smallest error bound of the 2-stage family).",
  }),
  rk4: oneStep({
    tableau: { a: [[], [0.5], [0, 0.5], [0, 0, 1]], b: [1 / 6, 1 / 3, 1 / 3, 1 / 6], c: [0, 0.5, 0.5, 1] },
    order: 4,
    stability: 'strong',
    remedy: true,
    xppaut: [
      { name: 'rungekutta' },
      { name: 'runge' },
      {
        name: 'qualrk',
        note: adaptive('qualrk is an adaptive, error-controlled Runge–Kutta method'),
        stepControl: true,
      },
      { name: '5dp', note: adaptive('5dp is the adaptive Dormand–Prince 5(4) method'), stepControl: true },
      { name: '83dp', note: adaptive('83dp is the adaptive Dormand–Prince 8(5,3) method'), stepControl: true },
      {
        name: 'ymp',
        note: "XPPAUT's ymp is a third-order symplectic splitting for x' = v, v' = F(x) systems; ODE Lens checks the fixed-step classical RK4 at dt (a one-step method too, so without a parasitic root)",
      },
    ],
    description:
      'The classical fourth-order Runge–Kutta method (XPPAUT `rungekutta`): stages at t_n, t_n + h/2 (twice) and t_n + h, weights 1/6, 1/3, 1/3, 1/6.',
  }),
  leapfrog: multistep({
    method: { alpha: [-1, 0, 1], beta: [0, 2, 0] },
    ramp: [],
    order: 2,
    stability: 'weak',
    description:
      'Leapfrog (explicit midpoint rule over two steps): x_{n+1} = x_{n−1} + 2h f(x_n, θ_n), started by one `start=` step (euler or heun).',
  }),
  ab2: multistep({
    method: AB2,
    ramp: [],
    order: 2,
    stability: 'strong',
    remedy: true,
    description: 'Adams–Bashforth 2: x_{n+1} = x_n + h (3/2 f_n − 1/2 f_{n−1}), started by one `start=` step.',
  }),
  ab3: multistep({
    method: { alpha: [0, 0, -1, 1], beta: [5 / 12, -16 / 12, 23 / 12, 0] },
    ramp: [AB2],
    order: 3,
    stability: 'strong',
    xppaut: [
      {
        name: 'adams',
        note: "XPPAUT's adams is a 4th-order Adams–Bashforth–Moulton predictor-corrector; ODE Lens runs the explicit 3-step Adams–Bashforth method (ab3)",
      },
    ],
    description:
      'Adams–Bashforth 3 (XPPAUT `adams` maps here; XPPAUT runs an Adams predictor–corrector): x_{n+1} = x_n + h (23 f_n − 16 f_{n−1} + 5 f_{n−2}) / 12, started by one `start=` step and one ab2 step.',
  }),
  milne: multistep({
    // Simpson's rule corrector x_{n+2} = x_n + h/3 (f_n + 4 f_{n+1} + f_{n+2})
    method: { alpha: [-1, 0, 1], beta: [1 / 3, 4 / 3, 1 / 3] },
    ramp: [],
    // Milne's predictor x_{n+4} = x_n + 4h/3 (2 f_{n+1} − f_{n+2} + 2 f_{n+3})
    predictor: { alpha: [-1, 0, 0, 0, 1], beta: [0, 8 / 3, -4 / 3, 8 / 3, 0] },
    order: 4,
    stability: 'weak',
    description:
      "Milne–Simpson, run as a predictor–corrector (PECE): Milne's 4-step predictor x_{n+1} = x_{n−3} + 4h/3 (2f_n − f_{n−1} + 2f_{n−2}), " +
      'f evaluated at the prediction with θ_{n+1}, one pass of the Simpson corrector x_{n+1} = x_{n−1} + h/3 (f_{n+1} + 4f_n + f_{n−1}), then f at the corrected value. ' +
      'Three `start=` steps come first. AD differentiates exactly this computation (predictor included), not an implicit solve; its adjoint is governed by the corrector’s ρ(ζ) = ζ² − 1.',
  }),
  backeul: oneStep({
    tableau: { a: [[1]], b: [1], c: [1] },
    implicit: true,
    order: 1,
    stability: 'strong',
    xppaut: [
      {
        name: 'gear',
        note: stiff('gear is a variable-order backward differentiation (Gear) method'),
        stepControl: true,
      },
      { name: 'stiff', note: stiff('stiff is an adaptive Rosenbrock method'), stepControl: true },
      {
        name: 'cvode',
        note: stiff('cvode is CVODE, a variable-order backward differentiation method with Newton iterations'),
        stepControl: true,
      },
      { name: '2rb', note: stiff('2rb is an adaptive Rosenbrock 2(3) method'), stepControl: true },
    ],
    description:
      "Backward (implicit) Euler, XPPAUT's `backeul`: x_{n+1} = x_n + h f(x_{n+1}, θ_n, t_{n+1}), solved by Newton's method at every step. " +
      'A-stable and L-stable: every decaying mode is damped (the amplification 1/(1 − hλ) goes to 0 for stiff modes), and as a one-step method it has no parasitic root, so no period-2 artefact in AD gradients. ' +
      'AD differentiates the solution by the implicit-function theorem (an adjoint solve with (I − h ∂f/∂x)ᵀ per step), not the Newton iterations; per-step parameters sit at t_{n+1}.',
  }),
  discrete: oneStep({
    tableau: { a: [[]], b: [1], c: [0] },
    order: 1,
    stability: 'strong',
    map: true,
    description:
      "XPPAUT's discrete method: every equation is a map x(t+1) = F(x(t), θ_n), iterated `total` times while t advances by 1 (dt is 1). A map has no continuous flow: its gradients are checked against the map's own adjoint, iterated backward, and finite differences.",
  }),
} satisfies Record<string, SchemeEntry>);

type Schemes = typeof SCHEMES;
/** Built-in schemes. A model's `meth` is one of these or the name of a `scheme` it declares. */
export type SchemeName = keyof Schemes;
export type OneStepName = { [K in SchemeName]: Schemes[K]['kind'] extends 'rk' ? K : never }[SchemeName];
export type MultistepName = Exclude<SchemeName, OneStepName>;

export const SCHEME_NAMES = Object.keys(SCHEMES) as readonly SchemeName[];

export function isOneStep(name: string): name is OneStepName {
  return Object.hasOwn(SCHEMES, name) && SCHEMES[name as SchemeName].kind === 'rk';
}
export function isMultistep(name: string): name is MultistepName {
  return Object.hasOwn(SCHEMES, name) && SCHEMES[name as SchemeName].kind === 'lmm';
}

/** Explicit one-step built-in schemes that integrate a flow (the only ones that can start a multistep method: the values of `start=`). */
export const ONE_STEP_SCHEME_NAMES: readonly OneStepName[] = SCHEME_NAMES.filter(
  (n): n is OneStepName => isOneStep(n) && !(SCHEMES[n] as SchemeEntry).map && !(SCHEMES[n] as OneStepEntry).implicit,
);

/** True for an implicit built-in scheme (backeul). */
export function isImplicitScheme(name: string): boolean {
  return isOneStep(name) && (SCHEMES[name] as OneStepEntry).implicit === true;
}

/** True for the scheme that iterates maps (XPPAUT's `discrete`). */
export function isMapScheme(name: string): boolean {
  return Object.hasOwn(SCHEMES, name) && (SCHEMES[name as SchemeName] as SchemeEntry).map === true;
}

/** XPPAUT method names mapped to built-in schemes (with a note where the mapping is not exact). */
export const XPPAUT_SCHEME_ALIASES: ReadonlyMap<string, SchemeAlias> = new Map(
  SCHEME_NAMES.flatMap(
    (scheme) =>
      (SCHEMES[scheme] as SchemeEntry).xppaut?.map((a): [string, SchemeAlias] => [
        a.name,
        { scheme, ...(a.note ? { note: a.note } : {}), ...(a.stepControl ? { stepControl: true as const } : {}) },
      ]) ?? [],
  ),
);

/** The built-in scheme an XPPAUT method runs as, the note when the mapping is not exact, and whether XPPAUT chooses its steps. */
export interface SchemeAlias {
  scheme: SchemeName;
  note?: string;
  stepControl?: true;
}

/** The strongly stable schemes remedies offer instead of a weakly stable one. */
export const STRONGLY_STABLE_REMEDIES: readonly SchemeName[] = SCHEME_NAMES.filter(
  (n) => (SCHEMES[n] as SchemeEntry).remedy,
);
