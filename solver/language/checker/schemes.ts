// A `scheme` line: its coefficients must be constants of the right shapes, and
// the scheme explicit.
import type { Range, SchemeDecl, Shape } from '../../model';
import type { SchemeStmt } from '../ast';
import { constTensor } from './constants';
import type { CheckContext } from './context';
import type { ExpressionChecker } from './expressions';
import { describeShape } from './shapes';

/** A coefficient's constant value: a number, a vector or a matrix. */
type CoefficientValue = number[] | number[][] | number;

/** A checked coefficient and where it was written. */
interface Coefficient {
  readonly value: CoefficientValue;
  readonly range: Range;
}

/** Checks a `scheme` line's coefficients and shapes. */
export function checkScheme(ctx: CheckContext, exprs: ExpressionChecker, stmt: SchemeStmt): SchemeDecl | undefined {
  const allowed = stmt.family === 'rk' ? ['a', 'b', 'c'] : ['alpha', 'beta'];
  const values = coefficientValues(ctx, exprs, stmt, allowed);
  const missing = allowed.filter((k) => !stmt.coeffs.some((c) => c.key === k));
  if (missing.length > 0) {
    ctx.error(
      'invalid-scheme',
      `The scheme '${stmt.name}' needs ${missing.map((k) => `${k}=[…]`).join(' and ')}`,
      stmt.nameRange,
    );
    return undefined;
  }
  if (values === undefined) return undefined;
  return stmt.family === 'rk' ? rungeKuttaScheme(ctx, stmt, values) : multistepScheme(ctx, stmt, values);
}

/**
 * Each coefficient's constant value by key; undefined when any is unknown, repeated or not
 * constant (each reported; the present ones are still all checked).
 */
function coefficientValues(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  stmt: SchemeStmt,
  allowed: readonly string[],
): Map<string, Coefficient> | undefined {
  const values = new Map<string, Coefficient>();
  let ok = true;
  for (const c of stmt.coeffs) {
    if (!allowed.includes(c.key)) {
      ctx.error(
        'invalid-scheme',
        `Unknown coefficient '${c.key}' for a${stmt.family === 'rk' ? 'n rk' : 'n lmm'} scheme; expected ${allowed.map((k) => `${k}=`).join(', ')}`,
        c.keyRange,
      );
      ok = false;
      continue;
    }
    if (values.has(c.key)) {
      ctx.error('invalid-scheme', `The coefficient '${c.key}' is given twice`, c.keyRange);
      ok = false;
      continue;
    }
    const checked = exprs.expr(c.value, { ctx: 'const', dynamic: { value: false } });
    if (!checked.shape) {
      ok = false;
      continue;
    }
    const value = constTensor(checked);
    if (value === undefined) {
      ctx.error('not-constant', `The coefficients '${c.key}' must be constant numbers`, c.value.range);
      ok = false;
      continue;
    }
    values.set(c.key, { value, range: c.value.range });
  }
  return ok ? values : undefined;
}

const shapeOf = (v: CoefficientValue): Shape =>
  typeof v === 'number' ? [] : Array.isArray(v[0]) ? [v.length, (v[0] as number[]).length] : [v.length];

/** An explicit Runge–Kutta tableau: b a vector, a a strictly lower triangular square, c one time per stage. */
function rungeKuttaScheme(
  ctx: CheckContext,
  stmt: SchemeStmt,
  values: ReadonlyMap<string, Coefficient>,
): SchemeDecl | undefined {
  const a = values.get('a')!,
    b = values.get('b')!,
    c = values.get('c')!;
  const sb = shapeOf(b.value);
  if (sb.length !== 1) {
    ctx.error('invalid-scheme', `b must be a vector of stage weights, but it is ${describeShape(sb)}`, b.range);
    return undefined;
  }
  const stages = sb[0];
  const sa = shapeOf(a.value),
    sc = shapeOf(c.value);
  if (sa.length !== 2 || sa[0] !== stages || sa[1] !== stages) {
    ctx.error(
      'invalid-scheme',
      `a must be a ${stages}×${stages} matrix for ${stages} stage${stages === 1 ? '' : 's'} (b has ${stages} entries), but it is ${describeShape(sa)}`,
      a.range,
    );
    return undefined;
  }
  if (sc.length !== 1 || sc[0] !== stages) {
    ctx.error(
      'invalid-scheme',
      `c must be a vector of ${stages} stage times (b has ${stages} entries), but it is ${describeShape(sc)}`,
      c.range,
    );
    return undefined;
  }
  const am = a.value as number[][];
  if (!strictlyLowerTriangular(ctx, am, a.range)) return undefined;
  return {
    kind: 'rk',
    name: stmt.name,
    a: am,
    b: b.value as number[],
    c: c.value as number[],
    range: stmt.range,
    nameRange: stmt.nameRange,
  };
}

/** Whether the square matrix `a` is strictly lower triangular (an explicit scheme); reports the first entry that is not. */
function strictlyLowerTriangular(ctx: CheckContext, a: number[][], range: Range): boolean {
  for (let i = 0; i < a.length; i++) {
    for (let j = i; j < a.length; j++) {
      if (a[i][j] !== 0) {
        ctx.error(
          'invalid-scheme',
          `Only explicit Runge–Kutta schemes are supported: a must be strictly lower triangular, but a[${i}, ${j}] = ${a[i][j]}`,
          range,
        );
        return false;
      }
    }
  }
  return true;
}

/** An explicit linear multistep scheme: alpha and beta vectors of one length ≥ 2, the newest alpha nonzero and beta zero. */
function multistepScheme(
  ctx: CheckContext,
  stmt: SchemeStmt,
  values: ReadonlyMap<string, Coefficient>,
): SchemeDecl | undefined {
  const alpha = values.get('alpha')!,
    beta = values.get('beta')!;
  const sa = shapeOf(alpha.value),
    sb = shapeOf(beta.value);
  if (sa.length !== 1 || sa[0] < 2) {
    ctx.error(
      'invalid-scheme',
      `alpha must be a vector of at least 2 coefficients (oldest first), but it is ${describeShape(sa)}`,
      alpha.range,
    );
    return undefined;
  }
  if (sb.length !== 1 || sb[0] !== sa[0]) {
    ctx.error(
      'invalid-scheme',
      `beta must be a vector of ${sa[0]} coefficients, like alpha, but it is ${describeShape(sb)}`,
      beta.range,
    );
    return undefined;
  }
  const al = alpha.value as number[],
    be = beta.value as number[];
  if (al[al.length - 1] === 0) {
    ctx.error('invalid-scheme', 'The last (newest) alpha coefficient must not be 0', alpha.range);
    return undefined;
  }
  if (be[be.length - 1] !== 0) {
    ctx.error(
      'invalid-scheme',
      `Only explicit multistep schemes are supported: the last (newest) beta coefficient must be 0, found ${be[be.length - 1]}`,
      beta.range,
    );
    return undefined;
  }
  return { kind: 'lmm', name: stmt.name, alpha: al, beta: be, range: stmt.range, nameRange: stmt.nameRange };
}
