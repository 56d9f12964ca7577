// XPPAUT's Volterra integrals (language/volterraSyntax.ts) checked: the exponent mu in [0, 1) as
// XPPAUT requires, the integrand a scalar of the states, t and t' (the time inside the integral),
// the convolution kernel K of int{K#u} a formula of t and the parameters (XPPAUT tabulates it once
// on the grid), and integrals only where the solve evaluates them: the equations and what they read.
import {
  callsByCallee,
  type CallsByCallee,
  type Diagnostic,
  type Equation,
  type Expr,
  findOption,
  type ModelOptions,
  type OptionLine,
  visitExpressions,
} from '../../model';
import { INTEGRAL, integralCalls, T_PRIME } from '../volterraSyntax';
import { diag } from '../ranges';
import type { CheckContext, Scope } from './context';

type Call = Extract<Expr, { kind: 'call' }>;

/** `int{…}` checked in `scope`; `check` checks a part in a scope. */
export function integralCall(
  ctx: CheckContext,
  e: Call,
  scope: Scope,
  check: (a: Expr, s: Scope) => Expr,
  bad: () => Expr,
): Expr {
  if (scope.ctx !== 'rhs') {
    ctx.error(
      'unsupported-volterra',
      `An integral int{…} sums the solve's history: use it in equations, not in ${scope.ctx === 'loss' ? 'the loss' : 'a constant'}`,
      e.calleeRange,
    );
    return bad();
  }
  const [mu, integrand, kernel] = e.args;
  const muValue = mu.kind === 'number' ? mu.value : Number.NaN;
  if (!(muValue >= 0 && muValue < 1)) {
    ctx.error(
      'volterra-kernel',
      `The exponent mu of int[mu]{…} must lie in [0, 1) (the kernel (t − t')^−mu is then integrable), found ${mu.kind === 'number' ? mu.value : '?'}`,
      mu.range,
    );
    return bad();
  }
  const tPrime: Expr = { kind: 'name', name: T_PRIME, range: e.range, shape: [] };
  const bindings = new Map(scope.bindings ?? []);
  bindings.set(T_PRIME, tPrime);
  const inner: Scope = { ...scope, bindings };
  const checkedIntegrand = check(integrand, inner);
  // The kernel of a convolution is tabulated at t = t0 + l·dt (no t', no state).
  const checkedKernel = kernel ? check(kernel, scope) : undefined;
  scope.dynamic.value = true;
  if (!checkedIntegrand.shape || (checkedKernel && !checkedKernel.shape)) return bad();
  const problem =
    nestedIntegral(checkedIntegrand) ??
    (checkedKernel ? (nestedIntegral(checkedKernel) ?? readsState(ctx, checkedKernel)) : undefined);
  if (problem) {
    ctx.error(
      'unsupported-volterra',
      problem,
      (checkedKernel && !nestedIntegral(checkedIntegrand) ? kernel : integrand).range,
    );
    return bad();
  }
  for (const part of [checkedIntegrand, checkedKernel])
    if (part && part.shape && part.shape.length > 0) {
      ctx.error(
        'unsupported-volterra',
        `XPPAUT's integrals are of scalars; this part of int{…} has shape [${part.shape.join(', ')}]`,
        part.range,
      );
      return bad();
    }
  const args = [{ ...mu, shape: [] }, checkedIntegrand];
  if (checkedKernel) args.push(checkedKernel);
  ctx.readsHistory = true;
  return { kind: 'call', callee: INTEGRAL, args, range: e.range, calleeRange: e.calleeRange, shape: [] };
}

function nestedIntegral(e: Expr): string | undefined {
  let found = false;
  visitExpressions([e], (x) => {
    if (x.kind === 'call' && (x.callee === INTEGRAL || x.callee === 'delay')) found = true;
  });
  return found
    ? 'An integral inside an integral (or a delay in it) is not evaluated by XPPAUT’s Volterra solver; write the inner one as an equation of its own'
    : undefined;
}

function readsState(ctx: CheckContext, kernel: Expr): string | undefined {
  let state: string | undefined;
  visitExpressions([kernel], (x) => {
    if (x.kind === 'name' && (ctx.symbols.get(x.name.toLowerCase())?.kind === 'state' || x.name === T_PRIME))
      state ??= x.name;
  });
  return state === undefined
    ? undefined
    : `The kernel K of int{K#u} is a formula of t and the parameters (XPPAUT tabulates K(t − t') once on the grid); it cannot read '${state}': put it after the #`;
}

/**
 * One information diagnostic on the first Volterra line: how the model is solved and checked. `calls`: those of
 * every solve expression (the equations' among them), which tell at once that most models have no integral.
 */
export function volterraModelNote(
  equations: readonly Equation[],
  calls: CallsByCallee,
  meth: string | undefined,
): Diagnostic | undefined {
  if (!equations.some((q) => q.volterra) && integralCalls(calls).length === 0) return undefined;
  const first = equations.find((q) => q.volterra || integralCalls(callsByCallee([q.rhs])).length > 0);
  if (!first) return undefined;
  const ignored = meth && meth !== 'volterra' ? ` (meth=${meth} is not used, as in XPPAUT)` : '';
  return diag(
    'volterra-model',
    'information',
    `Integrals and integral equations are solved by XPPAUT's volterra scheme${ignored}: the trapezoid rule made implicit (fixed-point corrections to a float32 tolerance), product integration over the stored grid history; AD and finite differences check it, and the continuous reference is the limit of the same scheme on refined grids (2N and 4N steps)`,
    first.range,
  );
}

/** A Volterra model is solved by XPPAUT's volterra scheme, whose explicit skeleton is heun (the note says so). */
export function volterraOptions(
  ctx: CheckContext,
  equations: readonly Equation[],
  calls: CallsByCallee,
  options: { options: ModelOptions; optionLines: OptionLine[] },
): void {
  const meth = findOption(options, 'meth')?.value;
  const note = volterraModelNote(equations, calls, meth?.toLowerCase());
  if (!note) return;
  ctx.report(note);
  options.options.meth = 'heun';
}
