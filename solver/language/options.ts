// `@` option lines: key normalisation, validation and defaults.

import { closest, distance } from 'fastest-levenshtein';
import {
  TIE_NAMES,
  type Diagnostic,
  type ModelOptions,
  type OptionLine,
  type OptionSetting,
  type SchemeName,
} from '../model';
import { GRADFIX_NAMES } from '../registry/corrections';
import { GRAD_ENGINE_NAMES } from '../registry/gradEngines';
import { ONE_STEP_SCHEME_NAMES, SCHEME_NAMES, XPPAUT_SCHEME_ALIASES, type SchemeAlias } from '../schemes/registry';
import { spelledXppautMethod, xppautMethodOf, xppautMethodScheme } from '../schemes/xppautMethods';
import { isXppautOption } from './xppautOptions';
import { diag } from './ranges';
import { formatNumber } from '../presentation/format';

/** Option keys ODE Lens reads. */
export const OPTION_KEYS = [
  'total',
  'steps',
  'dt',
  't0',
  'meth',
  'start',
  'seed',
  'gradfix',
  'grad',
  'tie',
  'delay',
  'vmaxpts',
] as const;

/** Other spellings accepted for a key (XPPAUT). Keys are case-insensitive. */
const KEY_ALIASES: ReadonlyMap<string, string> = new Map([['method', 'meth']]);

/** XPPAUT scheme names mapped to ours (a note says where the mapping is not exact): the scheme registry's. */
export const SCHEME_ALIASES: ReadonlyMap<string, SchemeAlias> = XPPAUT_SCHEME_ALIASES;

/** One-step built-in schemes (the only ones that can start a multistep method). */
export const ONE_STEP_SCHEMES: readonly SchemeName[] = ONE_STEP_SCHEME_NAMES;

/**
 * XPPAUT's keys that ODE Lens reads, in XPPAUT's order of comparison: XPPAUT takes a key that begins with one of its
 * option names as that option (load_eqn.c), so `methods=` is `meth=` and `totaltime=` is `total=`.
 */
const XPPAUT_KEY_PREFIXES = ['seed', 'meth', 'total', 'dt', 't0'] as const;

export function normalizeKey(raw: string): string {
  const k = raw.toLowerCase();
  const alias = KEY_ALIASES.get(k);
  if (alias !== undefined || (OPTION_KEYS as readonly string[]).includes(k) || isXppautOption(k)) return alias ?? k;
  return XPPAUT_KEY_PREFIXES.find((p) => k.startsWith(p)) ?? k;
}

export const DEFAULT_OPTIONS: Readonly<ModelOptions> = {
  t0: 0,
  total: 1,
  steps: 64,
  dt: 1 / 64,
  meth: 'rk4',
  start: 'euler',
  seed: 1,
  gradfix: 'none',
  grad: 'ad',
  tie: 'step',
};

/** XPPAUT's defaults (xpp_doc.tex: TOTAL= default 20, DT= default 0.05, T0= default 0), for files in its style. */
export const XPPAUT_DEFAULT_OPTIONS: Readonly<ModelOptions> = { ...DEFAULT_OPTIONS, total: 20, steps: 400, dt: 0.05 };

/** Upper bound on `steps`: a gradient check of more steps would not finish in any useful time. */
const MAX_STEPS = 1_000_000;

function parseNumber(raw: string): number | undefined {
  // Plain decimal numbers only: no hex, no Infinity, no empty string.
  let i = 0;
  const n = raw.length;
  if (raw[i] === '+' || raw[i] === '-') i++;
  let digits = 0;
  while (i < n && raw[i] >= '0' && raw[i] <= '9') {
    i++;
    digits++;
  }
  if (raw[i] === '.') {
    i++;
    while (i < n && raw[i] >= '0' && raw[i] <= '9') {
      i++;
      digits++;
    }
  }
  if (digits === 0) return undefined;
  if (raw[i] === 'e' || raw[i] === 'E') {
    i++;
    if (raw[i] === '+' || raw[i] === '-') i++;
    let ed = 0;
    while (i < n && raw[i] >= '0' && raw[i] <= '9') {
      i++;
      ed++;
    }
    if (ed === 0) return undefined;
  }
  if (i !== n) return undefined;
  const v = Number(raw);
  return Number.isFinite(v) ? v : undefined;
}

function suggest(word: string, names: readonly string[]): string {
  const best = closest(word, names as string[]);
  return best !== undefined && distance(word, best) <= Math.max(2, Math.floor(best.length / 3))
    ? ` — did you mean '${best}'?`
    : '';
}

function listOf(names: readonly string[]): string {
  return names.join(', ');
}

/** What the option lines have set so far: the options, and the `steps`/`dt` settings reconciled at the end. */
interface OptionState {
  readonly options: ModelOptions;
  readonly out: Diagnostic[];
  /** Scheme names declared in the file (lower-case name → declared name). */
  readonly schemes: ReadonlyMap<string, string>;
  steps?: { setting: OptionSetting; value: number };
  dt?: { setting: OptionSetting; value: number };
  /** The XPPAUT options of the current `@` line that ODE Lens ignores (one hint per line). */
  ignored: OptionSetting[];
  /** An XPPAUT model (xppautStyle.ts): without `steps`/`dt` it steps by XPPAUT's dt, with no minimum step count. */
  xppaut: boolean;
}

function invalid(state: OptionState, s: OptionSetting, message: string): void {
  state.out.push(diag('invalid-option', 'error', message, s.valueRange));
}

/** The setting's value as a number, or undefined after reporting that `what` must be one. */
function numberValue(state: OptionState, s: OptionSetting, what: string): number | undefined {
  const v = parseNumber(s.value);
  if (v === undefined) invalid(state, s, `${s.key}=${s.value}: ${what} must be a number`);
  return v;
}

function setTotal(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the integration time');
  if (v === undefined) return;
  if (v <= 0) invalid(state, s, `total=${s.value}: the integration time must be positive`);
  else state.options.total = v;
}

function setT0(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the start time');
  if (v !== undefined) state.options.t0 = v;
}

function setSteps(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the number of steps');
  if (v === undefined) return;
  if (!Number.isInteger(v)) invalid(state, s, `steps=${s.value}: the number of steps must be a whole number`);
  else if (v < 1) invalid(state, s, `steps=${s.value}: the number of steps must be at least 1`);
  else if (v > MAX_STEPS) invalid(state, s, `steps=${s.value}: at most ${MAX_STEPS} steps are supported`);
  else state.steps = { setting: s, value: v };
}

function setDt(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the step size');
  if (v === undefined) return;
  if (v <= 0) invalid(state, s, `dt=${s.value}: the step size must be positive`);
  else state.dt = { setting: s, value: v };
}

function setSeed(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the seed');
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < 0) invalid(state, s, `seed=${s.value}: the seed must be a whole number ≥ 0`);
  else state.options.seed = v;
}

function setMeth(state: OptionState, s: OptionSetting): void {
  const { options, out, schemes } = state;
  const raw = s.value.toLowerCase();
  const declared = schemes.get(raw);
  const known = [...SCHEME_NAMES, ...schemes.values()];
  const xpp = spelledXppautMethod(raw);
  const run: SchemeAlias | undefined = (SCHEME_NAMES as readonly string[]).includes(raw)
    ? { scheme: raw as SchemeName }
    : (SCHEME_ALIASES.get(raw) ?? (xpp ? xppautMethodScheme(xpp) : undefined));
  if (declared !== undefined) {
    options.meth = declared;
    delete options.stepControl;
  } else if (run) {
    options.meth = run.scheme;
    if (run.stepControl) options.stepControl = true;
    else delete options.stepControl;
    if (run.note) out.push(diag('scheme-alias', 'information', `meth=${s.value}: ${run.note}`, s.valueRange));
  } else if (xpp) {
    out.push(
      diag(
        'unknown-scheme',
        'error',
        `meth=${s.value}: XPPAUT's ${xpp} method is not supported by ODE Lens yet; use one of ${listOf(known)}`,
        s.valueRange,
      ),
    );
  } else {
    const firstLetter = xppautMethodOf(raw);
    out.push(
      diag(
        'unknown-scheme',
        'error',
        `Unknown scheme '${s.value}'${suggest(raw, [...known, ...SCHEME_ALIASES.keys()])} (known schemes: ${listOf(known)})${firstLetter ? `; XPPAUT would read only its first character, which selects ${firstLetter}` : ''}`,
        s.valueRange,
      ),
    );
  }
}

function setStart(state: OptionState, s: OptionSetting): void {
  const raw = s.value.toLowerCase();
  const scheme = (ONE_STEP_SCHEMES as readonly string[]).includes(raw)
    ? (raw as SchemeName)
    : SCHEME_ALIASES.get(raw)?.scheme;
  if (scheme !== undefined && ONE_STEP_SCHEMES.includes(scheme)) state.options.start = scheme;
  else
    invalid(
      state,
      s,
      `start=${s.value}: the start steps need a one-step built-in scheme${suggest(raw, ONE_STEP_SCHEMES)} (one of ${listOf(ONE_STEP_SCHEMES)})`,
    );
}

/** A value that is one of `names` (any case): that name, or undefined after reporting `unknown(raw)`. */
function choice<T extends string>(
  state: OptionState,
  s: OptionSetting,
  names: readonly T[],
  unknown: (raw: string) => string,
): T | undefined {
  const raw = s.value.toLowerCase();
  if ((names as readonly string[]).includes(raw)) return raw as T;
  invalid(state, s, unknown(raw));
  return undefined;
}

function setGradfix(state: OptionState, s: OptionSetting): void {
  const v = choice(
    state,
    s,
    GRADFIX_NAMES,
    (raw) => `Unknown gradient correction '${s.value}'${suggest(raw, GRADFIX_NAMES)} (known: ${listOf(GRADFIX_NAMES)})`,
  );
  if (v !== undefined) state.options.gradfix = v;
}

function setGrad(state: OptionState, s: OptionSetting): void {
  const v = choice(
    state,
    s,
    GRAD_ENGINE_NAMES,
    (raw) =>
      `grad=${s.value}: unknown gradient engine${suggest(raw, GRAD_ENGINE_NAMES)} (ad: AD through the solver; adjoint: the continuous adjoint)`,
  );
  if (v !== undefined) state.options.grad = v;
}

function setTie(state: OptionState, s: OptionSetting): void {
  const v = choice(
    state,
    s,
    TIE_NAMES,
    (raw) =>
      `tie=${s.value}: per-step parameters are tied per step or per stage${suggest(raw, TIE_NAMES)} (one of ${listOf(TIE_NAMES)})`,
  );
  if (v !== undefined) state.options.tie = v;
}

/** XPPAUT's maximal delay: `delay(x, tau)` reads at most this far back (a number ≥ 0). */
function setDelay(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the maximal delay');
  if (v === undefined) return;
  if (!(v >= 0)) invalid(state, s, `delay=${s.value}: the maximal delay must be a number ≥ 0`);
  else state.options.maxDelay = v;
}

/** XPPAUT's Volterra history: an integral reads back at most this many grid points (a whole number ≥ 1). */
function setMaxPoints(state: OptionState, s: OptionSetting): void {
  const v = numberValue(state, s, 'the number of points of the Volterra history');
  if (v === undefined) return;
  if (!(Number.isInteger(v) && v >= 1))
    invalid(state, s, `vmaxpts=${s.value}: the Volterra history is a whole number ≥ 1 of points`);
  else state.options.maxPoints = v;
}

/** A key ODE Lens does not read: an XPPAUT option it ignores (noted once per line), or an unknown one. */
function otherKey(state: OptionState, s: OptionSetting): void {
  if (isXppautOption(s.key)) {
    state.ignored.push(s);
  } else {
    state.out.push(
      diag(
        'unknown-option',
        'warning',
        `Unknown option '${s.key}'${suggest(s.key, OPTION_KEYS)}; it is ignored (known options: ${listOf(OPTION_KEYS)})`,
        s.range,
      ),
    );
  }
}

/** The handler of each option key: validates one setting and records it. */
const OPTION_HANDLERS: Readonly<Record<(typeof OPTION_KEYS)[number], (state: OptionState, s: OptionSetting) => void>> =
  {
    total: setTotal,
    steps: setSteps,
    dt: setDt,
    t0: setT0,
    meth: setMeth,
    start: setStart,
    seed: setSeed,
    gradfix: setGradfix,
    grad: setGrad,
    tie: setTie,
    delay: setDelay,
    vmaxpts: setMaxPoints,
  };

/**
 * `steps` wins over `dt` (a `dt` that disagrees is reported); `dt` alone is rounded to a whole
 * number of steps; neither gives XPPAUT's default step size.
 */
function reconcileSteps(state: OptionState): void {
  const { options: o, out, steps, dt } = state;
  if (steps !== undefined) {
    o.steps = steps.value;
    o.dt = o.total / steps.value;
    if (dt && Math.abs(dt.value - o.dt) > 1e-9 * Math.max(1, Math.abs(o.dt))) {
      out.push(
        diag(
          'ignored-option',
          'warning',
          `dt=${dt.setting.value} is ignored because steps=${steps.setting.value} is set (dt = total/steps = ${fmt(o.dt)})`,
          dt.setting.range,
        ),
      );
    }
  } else if (dt !== undefined) {
    const n = Math.round(o.total / dt.value);
    if (n > MAX_STEPS) {
      out.push(
        diag(
          'invalid-option',
          'error',
          `dt=${dt.setting.value}: total/dt = ${fmt(o.total / dt.value)} steps; at most ${MAX_STEPS} are supported`,
          dt.setting.valueRange,
        ),
      );
    } else {
      o.steps = Math.max(1, n);
      o.dt = o.total / o.steps;
    }
  } else {
    // Neither given: XPPAUT's default dt = 0.05. ODE Lens's own models take never fewer than 64 steps, so that
    // `@ total=200` means what it means in XPPAUT and `@ total=1` keeps 64 layers.
    const least = state.xppaut ? 1 : DEFAULT_OPTIONS.steps;
    o.steps = Math.min(MAX_STEPS, Math.max(least, Math.ceil(o.total / XPPAUT_DEFAULT_DT - 1e-9)));
    o.dt = o.total / o.steps;
  }
}

/**
 * Validates every setting on every option line (in order; the last setting of a key wins)
 * and reconciles `dt` and `steps`, from XPPAUT's defaults for an XPPAUT model (xppautStyle.ts).
 */
export function resolveOptions(
  lines: OptionLine[],
  out: Diagnostic[],
  schemes: ReadonlyMap<string, string> = new Map(),
  xppaut = false,
): ModelOptions {
  const defaults = xppaut ? XPPAUT_DEFAULT_OPTIONS : DEFAULT_OPTIONS;
  const state: OptionState = { options: { ...defaults }, out, schemes, ignored: [], xppaut };
  for (const line of lines) {
    for (const s of line.settings) {
      const handler = Object.hasOwn(OPTION_HANDLERS, s.key)
        ? OPTION_HANDLERS[s.key as keyof typeof OPTION_HANDLERS]
        : otherKey;
      handler(state, s);
    }
    noteIgnored(state);
  }
  reconcileSteps(state);
  return state.options;
}

/** XPPAUT's default step size. */
const XPPAUT_DEFAULT_DT = 0.05;

const NEWTON_OPTIONS: ReadonlySet<string> = new Set(['newt_tol', 'newt_iter', 'jac_eps']);

/** One hint for the XPPAUT options of a line that ODE Lens ignores, from the first to the last of them. */
function noteIgnored(state: OptionState): void {
  const ignored = state.ignored.splice(0);
  if (ignored.length === 0) return;
  const keys = ignored.map((s) => s.key);
  const quoted = (ks: string[]) => listOf(ks.map((k) => `'${k}'`));
  const named = (ks: string[]) =>
    ks.length === 1 ? `The XPPAUT option ${quoted(ks)} is ignored` : `The XPPAUT options ${quoted(ks)} are ignored`;
  // XPPAUT's Newton settings (its DAE solve and implicit steps): ODE Lens's Newton solves have their own stopping rule.
  const newton = keys.filter((k) => NEWTON_OPTIONS.has(k)),
    other = keys.filter((k) => !NEWTON_OPTIONS.has(k));
  const otherWhy = `${other.length === 1 ? 'it sets' : 'they set'} XPPAUT's plots, numerics or AUTO, not the checked solve`;
  const newtonWhy = `${newton.length === 1 ? 'it tunes' : 'they tune'} XPPAUT's Newton iterations (a DAE's algebraic variables, implicit steps), which ODE Lens runs on the exact Jacobian to float32 rounding, so that finite differences and AD see the same solution`;
  const message =
    newton.length === 0
      ? `${named(other)} by ODE Lens (${otherWhy})`
      : other.length === 0
        ? `${named(newton)} by ODE Lens: ${newtonWhy}`
        : `${named(other)} by ODE Lens (${otherWhy}), and so ${newton.length === 1 ? 'is' : 'are'} ${quoted(newton)}: ${newtonWhy}`;
  state.out.push(
    diag('ignored-option', 'hint', message, {
      start: ignored[0].range.start,
      end: ignored[ignored.length - 1].range.end,
    }),
  );
}

/** Option values echoed with 6 significant digits (the shared formatter of everything a user reads). */
const fmt = (v: number) => formatNumber(v, 6);
