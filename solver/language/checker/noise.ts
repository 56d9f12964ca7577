// Noise as XPPAUT writes it (`wiener w`, `ran(x)`, `normal(m, s)`), made into one
// seeded realisation, so that a check is a deterministic function of the
// parameters and its gradients are those of that sample path. XPPAUT holds a
// Wiener variable fixed from t to t + dt and sets it to a standard normal
// number divided by √dt at each step (markov.c, set_wieners); ran and normal
// draw anew at each evaluation. Here each is a step function of t on the
// model's grid: sample n on [t_n, t_{n+1}) (a stage at the end of a step reads
// the next step's sample). Each noise source has its own stream, seeded from
// `@ seed=` and its name, so the CLI and the editor run the same path and an
// edit elsewhere does not redraw it. In a constant (an initial value, a
// number, a table's samples) ran and normal draw one number.
import { Rng, streamSeed } from '../../engine/random';
import type { Expr, ModelOptions, Range, TableDecl } from '../../model';
import { diag } from '../ranges';
import type { CheckContext, Scope, Sym } from './context';

/** Where step n's sample starts, before t_n in steps (so t_n itself, rounded to float32, reads sample n). */
const STEP_GUARD = 1e-3;

/** A step function of t on the model's grid: values[n] on [t_n, t_{n+1}) (a noise realisation, a Markov path). */
export function gridTable(
  options: Pick<ModelOptions, 't0' | 'dt'>,
  name: string,
  origin: TableDecl['origin'],
  values: TableDecl['values'],
  range: Range,
): TableDecl {
  const { t0, dt } = options;
  return { name, xlo: t0 - STEP_GUARD * dt, dx: dt, values, interpolation: 'step', origin, range };
}

export type NoiseKind = 'uniform' | 'normal';

/** The seeded noise of each check (a check's context lives as long as its check). */
const SOURCES = new WeakMap<CheckContext, NoiseSource>();

/** The check's noise source, once the options are known (startNoise). */
export function noiseOf(ctx: CheckContext): NoiseSource | undefined {
  return SOURCES.get(ctx);
}

/** Starts the check's noise from its options (seed, grid). */
export function startNoise(ctx: CheckContext, options: ModelOptions): NoiseSource {
  const source = new NoiseSource(options, ctx);
  SOURCES.set(ctx, source);
  return source;
}

/** The seeded noise of one check. */
export class NoiseSource {
  /** The realisations the right-hand sides read, in the order they were made. */
  readonly tables: TableDecl[] = [];
  private readonly byName = new Map<string, TableDecl>();
  private readonly constants: Rng;
  /**
   * While set, each draw for a constant is recorded here (its node and kind) in the order drawn: a table's formula,
   * checked once, draws its numbers again for each further sample in that order (tables.ts).
   */
  recording?: { node: Extract<Expr, { kind: 'number' }>; kind: NoiseKind }[];
  private sites = 0;
  private noted = false;

  constructor(
    private readonly options: ModelOptions,
    private readonly ctx: CheckContext,
  ) {
    this.constants = new Rng(streamSeed(options.seed, 'constants'));
  }

  /** The model's step, which scales a Wiener variable. */
  get dt(): number {
    return this.options.dt;
  }

  /** One number for a constant. */
  draw(kind: NoiseKind): number {
    return kind === 'uniform' ? this.constants.uniform() : this.constants.normal();
  }

  /** A realisation made by this source, by its callee name. */
  table(name: string): TableDecl | undefined {
    return this.byName.get(name);
  }

  /** A new realisation: `scale` times a uniform or standard normal sample per step. */
  realisation(name: string, origin: TableDecl['origin'], kind: NoiseKind, scale: number, range: Range): TableDecl {
    const { dt, steps, seed } = this.options;
    const rng = new Rng(streamSeed(seed, name.toLowerCase()));
    // A loop, not Array.from({ length }): that reads each index of the length object, 4× slower on kohonen.ode's
    // 101 sites × 16,000 steps (the analysis runs on every edit). On shared memory: a model posted to the check's
    // second thread shares its realisations instead of copying them (kohonen's 13 MB; they are never written again).
    const n = Number.isInteger(steps) && steps > 0 && steps < 2 ** 32 ? steps : 0;
    const values = new Float64Array(new SharedArrayBuffer(8 * n));
    if (kind === 'uniform') rng.uniforms(values, scale);
    else for (let n = 0; n < steps; n++) values[n] = scale * rng.normal();
    const decl = gridTable(this.options, name, origin, values, range);
    this.tables.push(decl);
    this.byName.set(name, decl);
    if (!this.noted) {
      this.noted = true;
      this.ctx.report(
        diag(
          'noise-realisation',
          'information',
          `Noise: the check runs one realisation seeded by @ seed=${seed} (a Wiener variable is z/√dt with z standard normal, held for each step of dt = ${dt}; ran and normal draw once per step), so the gradients are those of this sample path`,
          range,
        ),
      );
    }
    return decl;
  }

  /** The callee of a new ran/normal call site's realisation (a name no one can write). */
  siteName(fn: string): string {
    return `${fn}'${++this.sites}`;
  }
}

/** A call of a noise realisation at the time t, as checked expressions read it. */
function readAtTime(decl: TableDecl, range: Range): Expr {
  return {
    kind: 'call',
    callee: decl.name,
    args: [{ kind: 'name', name: 't', range, shape: [] }],
    range,
    calleeRange: range,
    shape: [],
  };
}

/** The sample of `ran`/`normal` (`kind`) at one call: a draw in a constant, a realisation in a right-hand side. */
export function noiseSample(ctx: CheckContext, fn: string, kind: NoiseKind, scope: Scope, range: Range): Expr {
  const noise = noiseOf(ctx);
  if (!noise || scope.ctx === 'loss') {
    ctx.error(
      'not-constant',
      scope.ctx === 'loss'
        ? `${fn}(…) is noise, which the loss cannot read: the loss reads the final state`
        : `${fn}(…) cannot be used here (a scheme coefficient)`,
      range,
    );
    return { kind: 'number', value: Number.NaN, range };
  }
  if (scope.ctx === 'const') {
    const node = { kind: 'number' as const, value: noise.draw(kind), range, shape: [] };
    noise.recording?.push({ node, kind });
    return node;
  }
  scope.dynamic.value = true;
  return readAtTime(noise.realisation(noise.siteName(fn), fn === 'ran' ? 'ran' : 'normal', kind, 1, range), range);
}

/** A Wiener variable's realisation (made for each declaration, in declaration order). */
export function declareWiener(ctx: CheckContext, sym: Extract<Sym, { kind: 'wiener' }>): void {
  const noise = noiseOf(ctx);
  if (noise) sym.decl = noise.realisation(sym.name, 'wiener', 'normal', 1 / Math.sqrt(noise.dt), sym.stmt.range);
}

/** A Wiener variable read in an expression: its realisation at t, in right-hand sides only. */
export function wienerRead(ctx: CheckContext, sym: Extract<Sym, { kind: 'wiener' }>, scope: Scope, range: Range): Expr {
  if (scope.ctx !== 'rhs' || !sym.decl) {
    if (scope.ctx !== 'rhs')
      ctx.error(
        'not-constant',
        `'${sym.name}' is a Wiener variable (noise in time): only right-hand sides can read it`,
        range,
      );
    return { kind: 'name', name: sym.name, range };
  }
  scope.dynamic.value = true;
  return readAtTime(sym.decl, range);
}
