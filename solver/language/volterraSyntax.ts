// XPPAUT's Volterra integrals, as its documentation writes them:
//   int{K#u}        ∫_{t0}^t K(t − t') u(t') dt'   (a convolution: K a formula of t, u of the states)
//   int{K}          ∫_{t0}^t K(t, t', u(t')) dt'    (t' is the time inside the integral)
//   int[mu]{…}      the same with the weakly singular factor (t − t')^−mu, 0 ≤ mu < 1
// and the equations that hold them: `u(t) = …int{…}…` or `volt u = …` (an integral equation: u is
// the formula, not its derivative); `x' = …int{…}…` is an integro-differential equation.
// The parser hands over its token cursor; the checker (checker/volterra.ts) checks the parts and
// the engine (engine/volterra.ts) solves them.
import type { CallExpr, CallsByCallee, Expr } from '../model';
import { visitExpressions } from '../model';
import type { TokenCursor } from './globalLine';
import type { Token } from './lexer';
import { span, tokenRange } from './ranges';

/** Callee of a parsed integral: args [mu, integrand] or, for a convolution, [mu, integrand, kernel]. */
export const INTEGRAL = 'int';
/** The time inside an integral, `t'`. */
export const T_PRIME = "t'";

const FORM = "An XPPAUT integral reads int{K#u}, int{K(t,t',u)} or int[mu]{…} with 0 ≤ mu < 1";

/** Parses `int{…}` or `int[mu]{…}`; the cursor is on the token after `int`. `inside` parses with `t'` known. */
export function parseIntegral(c: TokenCursor, intTok: Token, inside: <T>(f: () => T) => T): Expr {
  let mu: Expr = { kind: 'number', value: 0, range: tokenRange(intTok) };
  if (c.isPunct(c.peek(), '[')) {
    c.next();
    const m = c.peek();
    if (m.kind !== 'number' || m.value === undefined)
      c.fail(tokenRange(m), `${FORM}: the exponent mu in int[mu]{…} is a number, e.g. int[.5]{…}`);
    c.next();
    mu = { kind: 'number', value: m.value, range: tokenRange(m) };
    expect(c, ']', 'to close int[mu]');
  }
  expect(c, '{', `after int (${FORM})`);
  const first = inside(() => c.expr());
  let args: Expr[] = [mu, first];
  if (c.isPunct(c.peek(), '#')) {
    c.next();
    args = [mu, inside(() => c.expr()), first];
  }
  const close = expect(c, '}', `to close the integral (${FORM})`);
  return {
    kind: 'call',
    callee: INTEGRAL,
    args,
    range: span(tokenRange(intTok), tokenRange(close)),
    calleeRange: tokenRange(intTok),
  };
}

function expect(c: TokenCursor, s: string, context: string): Token {
  const t = c.peek();
  if (!c.isPunct(t, s)) c.fail(tokenRange(t), `Expected '${s}' ${context}`);
  return c.next();
}

/** Whether the expression holds an integral (XPPAUT tells `u(t) = …` from a function by it). */
export function hasIntegral(e: Expr): boolean {
  let found = false;
  visitExpressions([e], (x) => {
    if (x.kind === 'call' && x.callee === INTEGRAL) found = true;
  });
  return found;
}

/** Every checked integral, in order (callsByCallee or solveCalls in model.ts). */
export function integralCalls(calls: CallsByCallee): readonly CallExpr[] {
  return calls.get(INTEGRAL) ?? [];
}

/** Whether the expression reads the time t or t' (an integrand that must be evaluated over the history). */
export function readsTime(e: Expr): boolean {
  let found = false;
  visitExpressions([e], (x) => {
    if (x.kind === 'name' && (x.name === 't' || x.name === T_PRIME)) found = true;
  });
  return found;
}
