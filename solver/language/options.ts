// `@` option lines: key normalisation, validation and defaults.

import { closest, distance } from 'fastest-levenshtein';
import {
  GRADFIX_NAMES,
  GRAD_ENGINE_NAMES,
  SCHEME_NAMES,
  TIE_NAMES,
  type Diagnostic,
  type GradEngine,
  type GradFix,
  type ModelOptions,
  type OptionLine,
  type OptionSetting,
  type SchemeName,
  type Tie,
} from '../model';
import { diag } from './ranges';
import { formatNumber } from '../presentation/format';

/** Option keys ODE Lens reads. */
export const OPTION_KEYS = ['total', 'steps', 'dt', 't0', 'meth', 'start', 'seed', 'gradfix', 'grad', 'tie'] as const;

/** Other spellings accepted for a key (XPPAUT). Keys are case-insensitive. */
const KEY_ALIASES: ReadonlyMap<string, string> = new Map([['method', 'meth']]);

/** XPPAUT scheme names mapped to ours (a note says where the mapping is not exact). */
export const SCHEME_ALIASES: ReadonlyMap<string, { scheme: SchemeName; note?: string }> = new Map([
  ['rungekutta', { scheme: 'rk4' }],
  ['runge', { scheme: 'rk4' }],
  ['modeuler', { scheme: 'heun' }],
  [
    'adams',
    {
      scheme: 'ab3',
      note: "XPPAUT's adams is a 4th-order Adams–Bashforth–Moulton predictor-corrector; ODE Lens runs the explicit 3-step Adams–Bashforth method (ab3)",
    },
  ],
]);

/** One-step built-in schemes (the only ones that can start a multistep method). */
export const ONE_STEP_SCHEMES: readonly SchemeName[] = ['euler', 'heun', 'midpoint', 'ralston', 'rk4'];

/** XPPAUT integrators this release cannot run. */
const XPP_UNSUPPORTED_METHODS: ReadonlySet<string> = new Set([
  'discrete',
  'gear',
  'volterra',
  'backeul',
  'qualrk',
  'stiff',
  'cvode',
  '5dp',
  '83dp',
  '2rb',
  'ymp',
  'rosen',
]);

/** XPPAUT options (plotting, numerics, AUTO) that ODE Lens reads but ignores. */
const XPP_IGNORED_KEYS: ReadonlySet<string> = new Set([
  'xp',
  'yp',
  'zp',
  'xplot',
  'yplot',
  'zplot',
  'xlo',
  'xhi',
  'ylo',
  'yhi',
  'xmin',
  'xmax',
  'ymin',
  'ymax',
  'zmin',
  'zmax',
  'bound',
  'dtmin',
  'dtmax',
  'transient',
  'trans',
  'maxstor',
  'nout',
  'njmp',
  'output',
  'logfile',
  'colormap',
  'nplot',
  'back',
  'small',
  'big',
  'axes',
  'phi',
  'theta',
  'lt',
  'smc',
  'ns',
  'toler',
  'atoler',
  'tol',
  'atol',
  'newt_tol',
  'newt_iter',
  'jac_eps',
  'delay',
  'maxdelay',
  'bell',
  'fold',
  'poimap',
  'poivar',
  'poipln',
  'poisgn',
  'poistop',
  'rangeover',
  'rangestep',
  'rangelow',
  'rangehigh',
  'rangereset',
  'rangeoldic',
  'range',
  'xnc',
  'ync',
  'bandup',
  'banddown',
  'seedval',
  'autoeval',
  'autovar',
  'autoxmax',
  'autoxmin',
  'autoymax',
  'autoymin',
  'ntst',
  'nmax',
  'npr',
  'ds',
  'dsmin',
  'dsmax',
  'parmin',
  'parmax',
  'normmin',
  'normmax',
  'epsl',
  'epsu',
  'epss',
  'iad',
  'ips',
  'iid',
  'jac',
  'mxbf',
  'nbc',
  'ncol',
  'nthreads',
  'dfgrid',
  'dfdraw',
  'ncdraw',
  'plotfmt',
  'quiet',
  'simplot',
  'tor_per',
  'vmaxpts',
  'vmax',
  'vmin',
  'lwidth',
  'noshow',
  'mwcolor',
  'dwcolor',
  'forecolor',
  'backcolor',
  'smallfont',
  'bigfont',
  'bigfonts',
  'smallfonts',
  'button',
  'but',
  'xorfix',
  'storage',
  'maxstore',
]);

export function normalizeKey(raw: string): string {
  const k = raw.toLowerCase();
  return KEY_ALIASES.get(k) ?? k;
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

/**
 * Validates every setting on every option line (in order; the last setting of a key wins)
 * and reconciles `dt` and `steps`.
 */
export function resolveOptions(
  lines: OptionLine[],
  out: Diagnostic[],
  schemes: ReadonlyMap<string, string> = new Map(),
): ModelOptions {
  const o: ModelOptions = { ...DEFAULT_OPTIONS };
  let steps: OptionSetting | undefined;
  let dt: OptionSetting | undefined;
  let stepsValue: number | undefined;
  let dtValue: number | undefined;

  const num = (s: OptionSetting, what: string): number | undefined => {
    const v = parseNumber(s.value);
    if (v === undefined)
      out.push(diag('invalid-option', 'error', `${s.key}=${s.value}: ${what} must be a number`, s.valueRange));
    return v;
  };

  for (const line of lines) {
    for (const s of line.settings) {
      switch (s.key) {
        case 'total': {
          const v = num(s, 'the integration time');
          if (v === undefined) break;
          if (v <= 0)
            out.push(
              diag('invalid-option', 'error', `total=${s.value}: the integration time must be positive`, s.valueRange),
            );
          else o.total = v;
          break;
        }
        case 't0': {
          const v = num(s, 'the start time');
          if (v !== undefined) o.t0 = v;
          break;
        }
        case 'steps': {
          const v = num(s, 'the number of steps');
          if (v === undefined) break;
          if (!Number.isInteger(v))
            out.push(
              diag(
                'invalid-option',
                'error',
                `steps=${s.value}: the number of steps must be a whole number`,
                s.valueRange,
              ),
            );
          else if (v < 1)
            out.push(
              diag('invalid-option', 'error', `steps=${s.value}: the number of steps must be at least 1`, s.valueRange),
            );
          else if (v > MAX_STEPS)
            out.push(
              diag(
                'invalid-option',
                'error',
                `steps=${s.value}: at most ${MAX_STEPS} steps are supported`,
                s.valueRange,
              ),
            );
          else {
            steps = s;
            stepsValue = v;
          }
          break;
        }
        case 'dt': {
          const v = num(s, 'the step size');
          if (v === undefined) break;
          if (v <= 0)
            out.push(diag('invalid-option', 'error', `dt=${s.value}: the step size must be positive`, s.valueRange));
          else {
            dt = s;
            dtValue = v;
          }
          break;
        }
        case 'seed': {
          const v = num(s, 'the seed');
          if (v === undefined) break;
          if (!Number.isInteger(v) || v < 0)
            out.push(
              diag('invalid-option', 'error', `seed=${s.value}: the seed must be a whole number ≥ 0`, s.valueRange),
            );
          else o.seed = v;
          break;
        }
        case 'meth': {
          const raw = s.value.toLowerCase();
          const alias = SCHEME_ALIASES.get(raw);
          const declared = schemes.get(raw);
          const known = [...SCHEME_NAMES, ...schemes.values()];
          if (declared !== undefined) o.meth = declared;
          else if ((SCHEME_NAMES as readonly string[]).includes(raw)) o.meth = raw;
          else if (alias) {
            o.meth = alias.scheme;
            if (alias.note)
              out.push(diag('scheme-alias', 'information', `meth=${s.value}: ${alias.note}`, s.valueRange));
          } else if (XPP_UNSUPPORTED_METHODS.has(raw)) {
            out.push(
              diag(
                'unknown-scheme',
                'error',
                `The XPPAUT integrator '${s.value}' is not supported; use one of ${listOf(known)}`,
                s.valueRange,
              ),
            );
          } else {
            out.push(
              diag(
                'unknown-scheme',
                'error',
                `Unknown scheme '${s.value}'${suggest(raw, [...known, ...SCHEME_ALIASES.keys()])} (known schemes: ${listOf(known)})`,
                s.valueRange,
              ),
            );
          }
          break;
        }
        case 'start': {
          const raw = s.value.toLowerCase();
          const scheme = (ONE_STEP_SCHEMES as readonly string[]).includes(raw)
            ? (raw as SchemeName)
            : SCHEME_ALIASES.get(raw)?.scheme;
          if (scheme !== undefined && ONE_STEP_SCHEMES.includes(scheme)) o.start = scheme;
          else
            out.push(
              diag(
                'invalid-option',
                'error',
                `start=${s.value}: the start steps need a one-step built-in scheme${suggest(raw, ONE_STEP_SCHEMES)} (one of ${listOf(ONE_STEP_SCHEMES)})`,
                s.valueRange,
              ),
            );
          break;
        }
        case 'gradfix': {
          const raw = s.value.toLowerCase();
          if ((GRADFIX_NAMES as readonly string[]).includes(raw)) o.gradfix = raw as GradFix;
          else
            out.push(
              diag(
                'invalid-option',
                'error',
                `Unknown gradient correction '${s.value}'${suggest(raw, GRADFIX_NAMES)} (known: ${listOf(GRADFIX_NAMES)})`,
                s.valueRange,
              ),
            );
          break;
        }
        case 'grad': {
          const raw = s.value.toLowerCase();
          if ((GRAD_ENGINE_NAMES as readonly string[]).includes(raw)) o.grad = raw as GradEngine;
          else
            out.push(
              diag(
                'invalid-option',
                'error',
                `grad=${s.value}: unknown gradient engine${suggest(raw, GRAD_ENGINE_NAMES)} (ad: AD through the solver; adjoint: the continuous adjoint)`,
                s.valueRange,
              ),
            );
          break;
        }
        case 'tie': {
          const raw = s.value.toLowerCase();
          if ((TIE_NAMES as readonly string[]).includes(raw)) o.tie = raw as Tie;
          else
            out.push(
              diag(
                'invalid-option',
                'error',
                `tie=${s.value}: per-step parameters are tied per step or per stage${suggest(raw, TIE_NAMES)} (one of ${listOf(TIE_NAMES)})`,
                s.valueRange,
              ),
            );
          break;
        }
        default: {
          if (XPP_IGNORED_KEYS.has(s.key)) {
            out.push(diag('ignored-option', 'hint', `The XPPAUT option '${s.key}' is ignored by ODE Lens`, s.range));
          } else {
            out.push(
              diag(
                'unknown-option',
                'warning',
                `Unknown option '${s.key}'${suggest(s.key, OPTION_KEYS)}; it is ignored (known options: ${listOf(OPTION_KEYS)})`,
                s.range,
              ),
            );
          }
        }
      }
    }
  }

  if (stepsValue !== undefined) {
    o.steps = stepsValue;
    o.dt = o.total / stepsValue;
    if (dt && dtValue !== undefined && Math.abs(dtValue - o.dt) > 1e-9 * Math.max(1, Math.abs(o.dt))) {
      out.push(
        diag(
          'ignored-option',
          'warning',
          `dt=${dt.value} is ignored because steps=${steps?.value} is set (dt = total/steps = ${fmt(o.dt)})`,
          dt.range,
        ),
      );
    }
  } else if (dtValue !== undefined && dt) {
    const n = Math.round(o.total / dtValue);
    if (n > MAX_STEPS) {
      out.push(
        diag(
          'invalid-option',
          'error',
          `dt=${dt.value}: total/dt = ${fmt(o.total / dtValue)} steps; at most ${MAX_STEPS} are supported`,
          dt.valueRange,
        ),
      );
    } else {
      o.steps = Math.max(1, n);
      o.dt = o.total / o.steps;
    }
  } else {
    // Neither given: XPPAUT's default dt = 0.05, but never fewer than 64 steps, so that
    // `@ total=200` means what it means in XPPAUT and `@ total=1` keeps 64 layers.
    o.steps = Math.min(MAX_STEPS, Math.max(DEFAULT_OPTIONS.steps, Math.ceil(o.total / XPPAUT_DEFAULT_DT - 1e-9)));
    o.dt = o.total / o.steps;
  }
  return o;
}

/** XPPAUT's default step size. */
const XPPAUT_DEFAULT_DT = 0.05;

/** Option values echoed with 6 significant digits (the shared formatter of everything a user reads). */
const fmt = (v: number) => formatNumber(v, 6);
