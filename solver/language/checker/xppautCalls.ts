// Calls of what XPPAUT's tables, noise and network functions declare, and
// shift(x, k) with a k known only to the checker: f(x) for a table (a constant
// x gives the constant sample value), a noise realisation's call (made by
// noise.ts), `special k = conv(…)` (k(i) with a constant i is written out by
// networkFunctions.ts as its weighted sum and checked like any expression;
// XPPAUT gives 0 outside 0 … npts − 1).
import type { Expr } from '../../model';
import { networkElement, type NetworkInputs } from '../networkFunctions';
import { offsetName } from '../indexedSums';
import { evalConst } from './constants';
import type { CheckContext, ConstantEvaluator, Scope, Sym } from './context';
import { modelFunction } from '../../ops/table';
import { noiseOf } from './noise';

type Special = Extract<Sym, { kind: 'special' }>;

/** The messages already reported per special. */
const failures = new WeakMap<Special, Set<string>>();

function inputs(ctx: CheckContext, exprs: ConstantEvaluator, sym: Special): NetworkInputs {
  const { call } = sym.stmt;
  const fn = call.callee.toLowerCase();
  const fail = (message: string): undefined => {
    // Each element k(i) is built on its own: a problem of the whole special is reported once.
    const reported = failures.get(sym) ?? new Set<string>();
    failures.set(sym, reported);
    if (!reported.has(message)) ctx.error('unsupported', `special ${sym.name}: ${message}`, sym.stmt.range);
    reported.add(message);
    return undefined;
  };
  const arg = (k: number): Expr | undefined => call.args[k] ?? fail(`${fn}(…) needs at least ${k + 1} arguments`);
  const nameOf = (k: number): string | undefined => {
    const a = arg(k);
    if (!a) return undefined;
    return a.kind === 'name' ? a.name : fail(`argument ${k + 1} of ${fn}(…) must be a name`);
  };
  return {
    num: (k) => {
      const a = arg(k);
      const v = a && exprs.constNumber(a, `Argument ${k + 1} of ${fn}(…)`);
      return v === undefined ? undefined : Math.trunc(v);
    },
    samples: (k) => {
      const n = nameOf(k);
      const t = n === undefined ? undefined : ctx.lookup(n, call.args[k].range);
      if (t?.kind === 'table') return t.decl?.values;
      return n === undefined ? undefined : fail(`'${n}' (argument ${k + 1} of ${fn}) must be a table`);
    },
    variable: (k, offset) => {
      const n = nameOf(k);
      if (n === undefined) return undefined;
      return (
        offsetName(n, offset) ??
        fail(`'${n}' must be an element of a pseudo-array (a name ending in its number, such as u0)`)
      );
    },
    name: nameOf,
    fail,
  };
}

/** `k(i)` for a network function k: the written-out sum of element i, checked (and kept for the next call of i). */
export function specialCall(
  ctx: CheckContext,
  exprs: ConstantEvaluator,
  sym: Special,
  e: Extract<Expr, { kind: 'call' }>,
  check: (a: Expr) => Expr,
  bad: () => Expr,
): Expr {
  if (e.args.length !== 1) {
    ctx.error('bad-arity', `'${sym.name}' takes 1 argument (an index), found ${e.args.length}`, e.range);
    return bad();
  }
  const arg = check(e.args[0]);
  if (!arg.shape) return bad();
  const i = arg.shape.length === 0 ? evalConst(arg) : undefined;
  if (i === undefined) {
    ctx.error(
      'not-constant',
      `The index of ${sym.name}(i) must be a constant, such as [j] on an array line`,
      e.args[0].range,
    );
    return bad();
  }
  const at = Math.trunc(i);
  if (at < 0) return { kind: 'number', value: 0, range: e.range, shape: [] };
  const known = sym.cache.get(at);
  if (known) return known;
  const built = networkElement(
    sym.stmt.call.callee.toLowerCase(),
    sym.stmt.call.args,
    at,
    e.range,
    inputs(ctx, exprs, sym),
  );
  if (!built) return bad();
  const checked = check(built);
  if (checked.shape) sym.cache.set(at, checked);
  return checked;
}

/** `shift(u0, k)` whose k the parser could not fold (a table, a `number`): resolved once k is a constant. */
export function shiftCall(
  ctx: CheckContext,
  e: Extract<Expr, { kind: 'call' }>,
  check: (a: Expr) => Expr,
  bad: () => Expr,
): Expr {
  const [x, k] = e.args;
  if (e.args.length !== 2) {
    ctx.error('bad-arity', `shift(x, k) takes 2 arguments, found ${e.args.length}`, e.range);
    return bad();
  }
  const by = check(k);
  const v = by.shape?.length === 0 ? evalConst(by) : undefined;
  if (v === undefined) {
    if (by.shape) ctx.error('not-constant', 'The shift k of shift(x, k) must be a constant', k.range);
    return bad();
  }
  const name = x.kind === 'name' ? offsetName(x.name, v) : undefined;
  if (name === undefined) {
    ctx.error(
      'unsupported',
      'shift(x, k) needs an element of a pseudo-array (such as u0) and an element at or above 0',
      e.range,
    );
    return bad();
  }
  return check({ kind: 'name', name, range: e.range });
}

/**
 * XPPAUT's `del_shft(x, k, tau)`: the variable k after x (as shift(x, k)) at time t − tau (its
 * parserslow2.c: do_delay_shift), so `delay(x{k}, tau)` once k is a constant, read through the
 * delay machinery like any delay.
 */
export function delayShiftCall(
  ctx: CheckContext,
  e: Extract<Expr, { kind: 'call' }>,
  check: (a: Expr) => Expr,
  delay: (call: Extract<Expr, { kind: 'call' }>) => Expr,
  bad: () => Expr,
): Expr {
  const [x, k, tau] = e.args;
  if (e.args.length !== 3) {
    ctx.error('bad-arity', `del_shft(x, k, tau) takes 3 arguments, found ${e.args.length}`, e.range);
    return bad();
  }
  const by = check(k);
  const v = by.shape?.length === 0 ? evalConst(by) : undefined;
  if (v === undefined) {
    if (by.shape)
      ctx.error(
        'not-constant',
        'The shift k of del_shft(x, k, tau) must be a constant (it picks the variable the delay reads)',
        k.range,
      );
    return bad();
  }
  const name = x.kind === 'name' ? offsetName(x.name, v) : undefined;
  if (name === undefined) {
    ctx.error(
      'unsupported',
      'del_shft(x, k, tau) needs an element of a pseudo-array (such as u0) and an element at or above 0',
      e.range,
    );
    return bad();
  }
  return delay({
    kind: 'call',
    callee: 'delay',
    args: [{ kind: 'name', name, range: x.range }, tau],
    range: e.range,
    calleeRange: e.calleeRange,
  });
}

/** `f(x)` for a table f: elementwise in x; a constant x gives the constant sample value. */
export function tableCall(
  ctx: CheckContext,
  sym: Extract<Sym, { kind: 'table' }>,
  e: Extract<Expr, { kind: 'call' }>,
  check: (a: Expr) => Expr,
  bad: () => Expr,
): Expr {
  if (e.args.length !== 1) {
    ctx.error('bad-arity', `The table '${sym.name}' takes 1 argument, found ${e.args.length}`, e.range);
    return bad();
  }
  const arg = check(e.args[0]);
  if (!sym.decl || !arg.shape) return bad();
  const x = arg.shape.length === 0 ? evalConst(arg) : undefined;
  const op = modelFunction([sym.decl], sym.decl.name, 1);
  if (x !== undefined && op?.kind === 'elementwise' && op.arity === 1)
    return { kind: 'number', value: op.fold(x), range: e.range, shape: [] };
  return {
    kind: 'call',
    callee: sym.decl.name,
    args: [arg],
    range: e.range,
    calleeRange: e.calleeRange,
    shape: arg.shape,
  };
}

/** A checked call of a noise realisation (made by noise.ts): it reads t. */
export function isRealisation(ctx: CheckContext, callee: string, scope: Scope): boolean {
  if (!noiseOf(ctx)?.table(callee)) return false;
  scope.dynamic.value = true;
  return true;
}
