// The words of the language the service knows by heart: statement keywords,
// built-in functions with their signatures, `@` option keys and their values,
// each with a short documentation text for completion and hover.
import { TIE_NAMES } from '../model';
import { CORRECTIONS, GRADFIX_NAMES } from '../registry/corrections';
import { GRAD_ENGINE_NAMES, GRAD_ENGINES } from '../registry/gradEngines';
import { SCHEME_NAMES, SCHEMES } from '../schemes/registry';
import { XPPAUT_METHODS, xppautMethodScheme } from '../schemes/xppautMethods';

const isSchemeName = (m: string) => (SCHEME_NAMES as readonly string[]).includes(m);
import { BUILTINS } from '../language/builtins';
import { LOWERED_FUNCTIONS } from '../ops/table';
import { ONE_STEP_SCHEMES, OPTION_KEYS } from '../language/options';

export const PARAM_KEYWORDS = new Set(['param', 'params', 'par', 'pars', 'p', 'parameter', 'parameters']);

/** Words that start a statement (the XPPAUT one-letter abbreviations included). */
export const LINE_KEYWORDS = new Set([
  'state',
  ...PARAM_KEYWORDS,
  'init',
  'i',
  'number',
  'num',
  'n',
  'aux',
  'a',
  'done',
  'd',
  'data',
  'scheme',
  'table',
  'markov',
  'volterra',
  'volt',
  'special',
  'wiener',
  'global',
  'bdry',
  'set',
  'solv',
  'solve',
  'option',
  'options',
  'export',
  'import',
]);

/** Words that cannot be declared as names: the checker's own list. */
export { RESERVED_NAMES } from '../language/checker/context';

/** Keywords offered at the start of a line, with what they do. */
export const KEYWORD_DOCS: Record<string, { detail: string; doc: string; snippet?: string }> = {
  state: {
    detail: 'state x[2]',
    doc: "Declares a state variable, optionally a tensor with a static shape. XPPAUT files may omit it: an equation `x' = …` declares a scalar state.",
    snippet: 'state ${1:x}',
  },
  param: {
    detail: 'param W[16,2] per-step ~ normal(0, 0.3)',
    doc: 'Declares parameters: `= value` or `~ normal(mean, std)` (seeded by `@ seed=…`). `per-step` gives one copy per step (ResNet-like); the default is shared across time. XPPAUT spellings `par`, `p` are accepted.',
    snippet: 'param ${1:a} = ${2:1}',
  },
  par: { detail: 'par a=1, b=2', doc: 'XPPAUT spelling of `param`.', snippet: 'par ${1:a}=${2:1}' },
  init: {
    detail: 'init x = 1',
    doc: 'Initial value of a state (also written `x(0) = 1`). Without one a state starts at zero.',
    snippet: 'init ${1:x} = ${2:0}',
  },
  number: { detail: 'number c = 3', doc: 'A named constant (XPPAUT `number`).', snippet: 'number ${1:c} = ${2:1}' },
  aux: {
    detail: 'aux name = expr',
    doc: 'An output column (XPPAUT `aux`); parsed and checked, not simulated.',
    snippet: 'aux ${1:name} = ${2:x}',
  },
  data: {
    detail: 'data obs = "file.csv"',
    doc: 'Observations from a CSV file in the workspace: the column `t` (else the first) holds the times, the others the values. In a loss, `x(obs)` is the state at the observation times.',
    snippet: 'data ${1:obs} = "${2:file.csv}"',
  },
  scheme: {
    detail: 'scheme name rk a=[…] b=[…] c=[…]',
    doc: 'A user-defined scheme: a Runge–Kutta tableau (`rk a= b= c=`) or a linear multistep method (`lmm alpha= beta=`). Select it with `@ meth=name`.',
    snippet: 'scheme ${1:myrk} rk a=[[0,0],[2/3,0]] b=[1/4,3/4] c=[0,2/3]',
  },
  loss: {
    detail: 'loss = expr',
    doc: 'The scalar loss whose gradients are checked: terminal (`x(T)`, the state at the final time) or over data (`x(obs)`).',
    snippet: 'loss = ${1:0.5 * sum((x(T) - 1)^2)}',
  },
  done: { detail: 'done', doc: 'Ends the model; the rest of the file is ignored (XPPAUT).' },
  volt: {
    detail: 'volt u = exp(-t) + int{exp(-t)#u}',
    doc: "An integral equation (XPPAUT; also written `u(t) = …` when the formula holds an integral): u is the formula, not its derivative. Integrals `int{K#u}` (K a formula of t, convolved with u), `int{K(t,t',u)}` and `int[mu]{…}` (the kernel times (t − t')^−mu) sum the solve's history; the model is solved by XPPAUT's volterra scheme, and the continuous reference is n/a.",
    snippet: 'volt ${1:u} = ${2:exp(-t)} + int{${3:exp(-t)}#${1:u}}',
  },
  solv: {
    detail: 'solv y=guess',
    doc: "An algebraic variable of a differential-algebraic system (XPPAUT; also `solve`), with the `0 = …` equations (as many as such variables): at every evaluation of f, y is solved from them by Newton's method, from the previous solution (the guess, default 0, at the first); f, the `0 =` lines and events read it, and gradients go through it by the implicit-function theorem.",
    snippet: 'solv ${1:y}=${2:0}',
  },
  global: {
    detail: 'global 1 v-1 {v=0}',
    doc: 'An event (XPPAUT): when the condition crosses zero between two grid points (sign 1: upwards, -1: downwards, 0: either way), the states in braces are set, every formula evaluated first. AD goes through the reset at the grid point where it fires; the continuous reference is n/a for models with events (the adjoint needs a jump condition at the event time).',
    snippet: 'global ${1:1} ${2:v-1} {${3:v=0}}',
  },
};

/** Other keywords explained on hover. */
export const OTHER_KEYWORD_DOCS: Record<string, string> = {
  per: '`per-step`: one copy of the parameter per step (or per stage with `@ tie=stage`) — a ResNet read as an ODE. AD gradients of such copies can oscillate under weakly stable schemes.',
  step: '`per-step`: one copy of the parameter per step (or per stage with `@ tie=stage`).',
  per_step: '`per-step`: one copy of the parameter per step.',
  shared: '`shared`: one copy of the parameter for the whole solve (the default).',
  normal: '`normal(mean, std)`: random initialisation, deterministic for a given `@ seed=…`.',
  if: '`if(c)then(a)else(b)`: `a` where `c` is nonzero, else `b` (elementwise).',
  then: '`if(c)then(a)else(b)`: `a` where `c` is nonzero, else `b` (elementwise).',
  else: '`if(c)then(a)else(b)`: `a` where `c` is nonzero, else `b` (elementwise).',
  dt: '`dx/dt = …`: the equation of state `x`.',
  rk: '`rk`: a Runge–Kutta scheme given by its Butcher tableau `a`, `b`, `c`.',
  lmm: '`lmm`: a linear multistep scheme Σ alpha_j x_{n+j} = h Σ beta_j f_{n+j} (oldest first).',
  t: '`t`: the time.',
  int: "`int{K#u}`: ∫ K(t − t') u(t') dt' from t0 to t (XPPAUT's convolution; K a formula of t tabulated on the grid); `int{K(t,t',u)}` with `t'` the time inside; `int[mu]{…}` the same times (t − t')^−mu, 0 ≤ mu < 1. Product integration (trapezoid weights, or XPPAUT's singular weights) over the last `vmaxpts` grid points; AD goes through the whole history.",
  volterra: '`volterra u = …` (`volt`): an integral equation, u is the formula.',
  pi: '`pi`: the constant π = 3.14159… (a declaration of the same name takes precedence).',
  T: '`x(T)`: the state at the final time t0 + total (only in a loss).',
};

export interface FunctionDoc {
  name: string;
  params: string[];
  doc: string;
}

/** XPPAUT functions the checker and the engine read themselves (not entries of the operation table). */
export const XPP_FUNCTION_DOCS: readonly FunctionDoc[] = [
  {
    name: 'delay',
    params: ['x', 'tau'],
    doc: 'State `x` at time t − tau (XPPAUT; set `@ delay=` to the largest tau): linear interpolation between grid points, the initial value before t0. Differentiable in the history and in tau; the continuous reference is n/a for delay equations.',
  },
  {
    name: 'del_shft',
    params: ['x', 'k', 'tau'],
    doc: "The variable k after `x` (as `shift(x, k)`, k a constant) at time t − tau: XPPAUT's delayed shift, `delay(x{k}, tau)`.",
  },
];

/** Built-in functions (the engine's and those the checker rewrites into them), from the operation table. */
export function builtinFunctions(): FunctionDoc[] {
  const out: FunctionDoc[] = [...XPP_FUNCTION_DOCS];
  for (const [name, info] of [...BUILTINS, ...LOWERED_FUNCTIONS]) {
    if (out.some((f) => f.name === name)) continue;
    out.push({ name, params: paramsFromSignature(info.signature) ?? defaultParams(info.arity), doc: info.doc });
  }
  return out;
}

function paramsFromSignature(sig: string | undefined): string[] | undefined {
  const m = sig ? /\(([^)]*)\)/.exec(sig) : null;
  return m
    ? m[1]
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : undefined;
}

function defaultParams(arity: number): string[] {
  return arity === 1 ? ['x'] : Array.from({ length: arity }, (_, i) => `x${i + 1}`);
}

let functionTable: Map<string, FunctionDoc> | undefined;
export function builtinFunction(name: string): FunctionDoc | undefined {
  if (!functionTable) functionTable = new Map(builtinFunctions().map((f) => [f.name, f]));
  return functionTable.get(name.toLowerCase());
}

export function isFunctionName(lowerName: string): boolean {
  return builtinFunction(lowerName) !== undefined;
}

export function signatureLabel(f: { name: string; params: string[] }): string {
  return `${f.name}(${f.params.join(', ')})`;
}

const WEAKLY_STABLE = SCHEME_NAMES.filter((n) => SCHEMES[n].stability === 'weak');

/** `@` option keys with their documentation and the values they accept. */
export interface OptionDoc {
  key: string;
  detail: string;
  doc: string;
  values?: readonly string[];
}

export const OPTION_DOCS: Record<string, OptionDoc> = {
  total: {
    key: 'total',
    detail: 'total=1',
    doc: 'Length of the integration interval: the solve runs from t0 to t0 + total.',
  },
  steps: {
    key: 'steps',
    detail: 'steps=64',
    doc: 'Number of steps N (h = total/N). Overrides `dt` when both are given. Per-step parameters get one copy per step.',
  },
  dt: {
    key: 'dt',
    detail: 'dt=0.01',
    doc: 'Step size h (XPPAUT); rounded so that total/dt is a whole number of steps.',
  },
  t0: { key: 't0', detail: 't0=0', doc: 'Start time.' },
  meth: {
    key: 'meth',
    detail: 'meth=rk4',
    doc: `The scheme that discretises the ODE: a built-in one or a declared \`scheme\`. Weakly stable schemes (${WEAKLY_STABLE.join(', ')}) make AD gradients of per-step parameters oscillate.`,
    // The built-in schemes, then XPPAUT's own method names (each checked as the scheme its hover names).
    values: [...SCHEME_NAMES, ...XPPAUT_METHODS.filter((m) => !isSchemeName(m) && xppautMethodScheme(m))],
  },
  start: {
    key: 'start',
    detail: 'start=euler',
    doc: 'The one-step scheme that computes the start values of a multistep scheme (ab2, ab3, leapfrog, milne).',
    values: ONE_STEP_SCHEMES,
  },
  seed: { key: 'seed', detail: 'seed=1', doc: 'Seed of the random initialisation of `~ normal(…)` parameters.' },
  gradfix: {
    key: 'gradfix',
    detail: 'gradfix=filter121',
    doc: 'Post-processing of AD gradients of per-step parameters: filter121 and adjoint121 remove the period-2 oscillation of leapfrog and milne, stagesum evens out per-stage RK copies, average is a first-order filter (docs/design.md#corrections).',
    values: GRADFIX_NAMES,
  },
  grad: {
    key: 'grad',
    detail: 'grad=ad',
    doc: 'How parameter gradients are computed: `ad` (through the unrolled solve) or `adjoint` (the continuous adjoint).',
    values: GRAD_ENGINE_NAMES,
  },
  tie: {
    key: 'tie',
    detail: 'tie=step',
    doc: 'Per-step parameters: one copy per step shared by its stages (`step`) or one copy per stage (`stage`).',
    values: TIE_NAMES,
  },
  vmaxpts: {
    key: 'vmaxpts',
    detail: 'vmaxpts=4000',
    doc: "XPPAUT's Volterra history: an integral `int{…}` sums the last vmaxpts grid points (XPPAUT's default 4000), so a kernel that has not decayed by then is cut off, as in XPPAUT.",
  },
  delay: {
    key: 'delay',
    detail: 'delay=10',
    doc: "XPPAUT's maximal delay: `delay(x, tau)` reads at most this far back (XPPAUT's default 0 stops a delay equation). ODE Lens keeps the whole history on the grid and warns when it is missing.",
  },
};

/** Every option key the front end reads (its own list, plus the ones documented here). */
export function optionKeys(): string[] {
  const keys = new Set<string>([...OPTION_KEYS, ...Object.keys(OPTION_DOCS)]);
  return [...keys];
}

/** What each option value means, for completion and hover: corrections and gradient engines from their registries. */
export const VALUE_DOCS: Record<string, string> = {
  ...Object.fromEntries(GRADFIX_NAMES.map((n) => [n, CORRECTIONS[n].doc])),
  ...Object.fromEntries(GRAD_ENGINE_NAMES.map((n) => [n, GRAD_ENGINES[n].doc])),
  step: 'One copy per step, shared by its stages.',
  stage: 'One copy per stage of every step.',
};
