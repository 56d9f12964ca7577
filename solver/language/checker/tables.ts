// XPPAUT tables: `table f % npts xlo xhi formula` samples the formula of t at
// npts even points from xlo to xhi; `table f file.tab` reads XPPAUT's table
// file (npts, xlo, xhi, then npts values, one a line; tabular.c, load_table).
// A call f(x) interpolates linearly between the samples and extrapolates with
// the end segments' slopes, as XPPAUT's lookup does; it is differentiable in x
// (the slope of x's segment). The samples are constants: a formula that reads a
// parameter is sampled at the parameter's initial value (an information note
// says so), as XPPAUT samples it at the parameter's current value.
import { subexpressions, type Expr, type ModelOptions, type Range, type TableDecl } from '../../model';
import type { TableStmt } from '../ast';
import { readWorkspaceFile, type FileFormat } from '../workspaceFiles';
import { diag } from '../ranges';
import { evalConst } from './constants';
import type { CheckContext, Scope } from './context';
import type { ExpressionChecker } from './expressions';
import { declareWiener, type NoiseSource, noiseOf, startNoise } from './noise';
import { isBuiltin, LOWERED } from '../builtins';
import { declareMarkovPaths } from './markov';

/**
 * Most samples a table may have: the samples are held as float64 while the model is checked and as float32 in every
 * solve, and a formula is evaluated once per sample, so the bound is memory (32 MB of float64 samples), not a count
 * any XPPAUT file is expected to stay under (XPPAUT's own examples tabulate 2^18 weights).
 */
export const MAX_TABLE_BYTES = 32 * 2 ** 20;
export const MAX_TABLE_POINTS = MAX_TABLE_BYTES / Float64Array.BYTES_PER_ELEMENT;
const TABLE_LIMIT = `2 to ${MAX_TABLE_POINTS}, ${MAX_TABLE_BYTES / 2 ** 20} MB of samples`;

/**
 * Noise, Markov paths and tables: the seeded noise source, each Wiener variable's realisation, each Markov
 * variable's path, then each table's samples.
 */
export function buildTables(ctx: CheckContext, exprs: ExpressionChecker, options: ModelOptions): void {
  startNoise(ctx, options);
  for (const sym of ctx.symbols.values()) if (sym.kind === 'wiener') declareWiener(ctx, sym);
  declareMarkovPaths(ctx, options);
  for (const sym of ctx.symbols.values()) if (sym.kind === 'table') sym.decl = tableSamples(ctx, exprs, sym.stmt);
}

/** Every table and noise realisation the checked model calls. */
export function modelTables(ctx: CheckContext): TableDecl[] {
  const out: TableDecl[] = [];
  for (const sym of ctx.symbols.values())
    if ((sym.kind === 'table' || sym.kind === 'markov') && sym.decl) out.push(sym.decl);
  return [...out, ...(noiseOf(ctx)?.tables ?? [])];
}

function tableSamples(ctx: CheckContext, exprs: ExpressionChecker, s: TableStmt): TableDecl | undefined {
  const src = s.source;
  const made = src.kind === 'file' ? fileSamples(ctx, s, src) : formulaSamples(ctx, exprs, s, src);
  if (!made) return undefined;
  return { name: s.name, ...made, interpolation: 'linear', origin: 'table', range: s.range };
}

type Samples = Pick<TableDecl, 'xlo' | 'dx' | 'values'>;

function invalid(ctx: CheckContext, message: string, range: Range): undefined {
  ctx.error('invalid-table', message, range);
  return undefined;
}

/** The formula's samples: t bound to each abscissa, the scalar parameters it reads to their initial values. */
function formulaSamples(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  s: TableStmt,
  src: Extract<TableStmt['source'], { kind: 'formula' }>,
): Samples | undefined {
  const npts = exprs.constNumber(src.npts, 'The number of points of a table');
  const xlo = exprs.constNumber(src.xlo, 'The xlo of a table');
  const xhi = exprs.constNumber(src.xhi, 'The xhi of a table');
  if (npts === undefined || xlo === undefined || xhi === undefined) return undefined;
  if (!Number.isInteger(npts) || npts < 2 || npts > MAX_TABLE_POINTS)
    return invalid(ctx, `A table has a whole number of points from ${TABLE_LIMIT}, found ${npts}`, src.npts.range);
  if (!(xlo < xhi)) return invalid(ctx, `A table's xlo must be below its xhi, found ${xlo} and ${xhi}`, src.xlo.range);
  const bindings = new Map<string, Expr>();
  const frozen = new Map<string, string>();
  const frozenParam: Scope['frozenParam'] = (sym, range) => {
    if (sym.shape.length > 0 || sym.item.init?.kind !== 'value') return undefined;
    const v = exprs.constNumber(sym.item.init.value, `The value of '${sym.name}'`);
    if (v === undefined) return undefined;
    frozen.set(sym.name, `${sym.name} = ${v}`);
    return { kind: 'number', value: v, range, shape: [] };
  };
  const dx = (xhi - xlo) / (npts - 1);
  const values: number[] = new Array(npts);
  // A parameter the formula reads is sampled, not read by the solve: not marked used by it (sampledBy instead).
  const usedBefore = new Set(ctx.used);
  const checkAt = (t: Expr) => {
    bindings.set('t', t);
    return exprs.uncounted(() =>
      exprs.expr(src.formula, { ctx: 'const', bindings, dynamic: { value: false }, frozenParam }),
    );
  };
  // Where the check only substitutes t, the formula is checked once, t bound to one node whose value each sample sets,
  // and each sample is that tree's evaluation: the same operations on the same numbers as a check per sample
  // (mlcpu.ode's 262,144 weights, analysed on every edit: 140 → 36 ms). A constant's noise (ran, normal) is drawn
  // again for each sample, in the order the check drew it, so the samples take the same numbers from the stream.
  const noise = noiseOf(ctx);
  const shared = { kind: 'number' as const, value: xlo, range: src.formula.range, shape: [] };
  const draws: NonNullable<NoiseSource['recording']> = [];
  let tree: Expr | undefined;
  if (noise && substitutesT(ctx, src.formula)) {
    noise.recording = draws;
    try {
      tree = checkAt(shared);
    } finally {
      noise.recording = undefined;
    }
  }
  for (let k = 0; k < npts; k++) {
    const x = xlo + k * dx;
    let checked: Expr;
    if (tree && noise) {
      shared.value = x;
      if (k > 0) for (const d of draws) d.node.value = noise.draw(d.kind);
      checked = tree;
    } else checked = checkAt({ kind: 'number', value: x, range: src.formula.range, shape: [] });
    if (!checked.shape) return undefined; // reported
    const v = checked.shape.length === 0 ? evalConst(checked) : undefined;
    if (v === undefined || !Number.isFinite(v))
      return invalid(ctx, `The formula of table '${s.name}' is not a finite number at t = ${x}`, src.formula.range);
    values[k] = v;
  }
  for (const name of frozen.keys()) {
    const sym = ctx.symbols.get(name.toLowerCase());
    if (!sym || usedBefore.has(sym)) continue;
    ctx.used.delete(sym);
    if (!ctx.sampledBy.has(sym)) ctx.sampledBy.set(sym, s.name);
  }
  if (frozen.size > 0)
    ctx.report(
      diag(
        'table-parameter',
        'information',
        `The table '${s.name}' is sampled at ${[...frozen.values()].join(', ')}: gradients do not flow through its samples`,
        src.formula.range,
      ),
    );
  return { xlo, dx, values };
}

/**
 * Whether checking the formula only puts the bound t into a tree of the formula's shape: numbers, names, operators,
 * if, and calls of built-ins and of XPPAUT's lowered functions (noise among them). A table, a function or a special
 * can fold a constant argument while it is checked (a table's sample at a constant x), which would fix the first t.
 */
function substitutesT(ctx: CheckContext, e: Expr): boolean {
  if (e.kind === 'call') {
    const key = e.callee.toLowerCase();
    if (ctx.symbols.has(key) || !(isBuiltin(key) || LOWERED.has(key))) return false;
  } else if (!SUBSTITUTED_KINDS.has(e.kind)) return false;
  return subexpressions(e).every((x) => substitutesT(ctx, x));
}

/** The nodes other than calls whose check only substitutes t into them (vectors and indexing are not). */
const SUBSTITUTED_KINDS: ReadonlySet<Expr['kind']> = new Set(['number', 'name', 'unary', 'binary', 'if']);

/** XPPAUT's table file: npts, xlo, xhi, then npts values, each the first number of its line. */
const XPPAUT_TABLE_FILE: FileFormat<Samples> = {
  name: 'xppaut-table',
  parse(text: string, written: string): Samples | { malformed: string } {
    const lines = text.split(/\r?\n/);
    const first = (k: number) => {
      const word = (lines[k] ?? '').trim().split(/\s+/)[0];
      return word === '' ? Number.NaN : Number(word);
    };
    const head = (lines[0] ?? '').trim();
    if (/^[is]/i.test(head))
      return {
        malformed: `"${written}" asks for ${head[0].toLowerCase() === 'i' ? 'step' : 'cubic spline'} interpolation, which ODE Lens does not support (linear tables only)`,
      };
    const npts = first(0);
    const xlo = first(1);
    const xhi = first(2);
    if (!Number.isInteger(npts) || npts < 2 || npts > MAX_TABLE_POINTS)
      return {
        malformed: `"${written}" must start with its number of points (${TABLE_LIMIT}), found '${head}'`,
      };
    if (!Number.isFinite(xlo) || !Number.isFinite(xhi) || !(xlo < xhi))
      return { malformed: `"${written}" must give xlo below xhi on its second and third lines` };
    const values: number[] = [];
    for (let k = 0; k < npts; k++) {
      const v = first(3 + k);
      if (!Number.isFinite(v))
        return { malformed: `"${written}" has no number for point ${k + 1} of ${npts} (line ${4 + k})` };
      values.push(v);
    }
    return { xlo, dx: (xhi - xlo) / (npts - 1), values };
  },
};

/** A table read from a file in the workspace (read safely, cached and watched like data files). */
function fileSamples(
  ctx: CheckContext,
  s: TableStmt,
  src: Extract<TableStmt['source'], { kind: 'file' }>,
): Samples | undefined {
  const read = readWorkspaceFile(src.path, ctx.context, XPPAUT_TABLE_FILE);
  if (read.ok) return read.value;
  ctx.error('table-file', `Table '${s.name}': ${read.message}`, src.pathRange);
  return undefined;
}
