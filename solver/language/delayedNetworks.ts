// XPPAUT's network functions over delayed variables and its extremum finder (simplenet.c):
//
//   special k = delmmult(n, m, w, tau, u0)           k(i) = Σ_{j<n} w[i·n+j] · delay(u{j}, tau[i·n+j]), i < m
//   special k = delsparse(m, nc, w, index, tau, u0)  k(i) = Σ_{j<nc} w[i·nc+j] · delay(u{c}, tau[i·nc+j]),
//                                                    c = index[i·nc+j], terms with c < 0 left out, i < m
//   special mx = findext(type, n, skip, u0)          over u0, u{skip}, u{2·skip}, … below u{n}: mx(0) the
//                                                    maximum, mx(1) its index (type 1 or 0), mx(2) the
//                                                    minimum, mx(3) its index (type −1 or 0)
//
// Like the other network functions (networkFunctions.ts), k(i) for a constant i is written out as an
// expression the checker checks: the delayed terms are ordinary `delay(x, tau)` calls with the table's
// constant delay, so the solve, AD, finite differences and the refined-grid reference of delay models
// all read them through the delay machinery. findext's maximum is a tree of max(a, b) and its index a
// tournament of if(b > a)then(index of b)else(index of a), which keeps XPPAUT's first index among equal
// values; its gradient is that of the element it selects (piecewise), the index's is zero.
import type { Expr, Range } from '../model';
import { balancedSum } from './balancedSum';

/** What these read of a special's arguments (networkFunctions.ts's NetworkInputs gives it). */
export interface DelayedNetworkInputs {
  /** A constant argument, or undefined after a reported error. */
  num: (k: number) => number | undefined;
  /** A table argument's raw samples, or undefined after a reported error. */
  samples: (k: number) => ArrayLike<number> | undefined;
  /** The name of variable `offset` after the root named by argument k, or undefined after a reported error. */
  variable: (k: number, offset: number) => string | undefined;
  /** Reports a problem on the special's line. */
  fail: (message: string) => undefined;
}

/** XPPAUT tells these by their first letters (simplenet.c's is_network): DELM…, DELS…, FINDE…. */
export function delayedNetworkName(fn: string): string | undefined {
  const f = fn.toLowerCase();
  return f.startsWith('delm')
    ? 'delmmult'
    : f.startsWith('dels')
      ? 'delsparse'
      : f.startsWith('finde')
        ? 'findext'
        : undefined;
}

/** Element i of delmmult, delsparse or findext (fn as delayedNetworkName gives it); undefined after a reported error. */
export function delayedNetworkElement(fn: string, i: number, at: Range, io: DelayedNetworkInputs): Expr | undefined {
  if (fn === 'findext') return extremum(i, at, io);
  const sparse = fn === 'delsparse';
  const [rows, cols] = sparse ? [io.num(0), io.num(1)] : [io.num(1), io.num(0)];
  if (rows === undefined || cols === undefined) return undefined;
  if (rows <= 0 || cols <= 0) return io.fail(`${fn}(…) needs sizes of at least 1, found ${io.num(0)} and ${io.num(1)}`);
  const w = io.samples(2);
  const index = sparse ? io.samples(3) : undefined;
  const tau = io.samples(sparse ? 4 : 3);
  if (!w || !tau || (sparse && !index)) return undefined;
  const need = rows * cols;
  for (const [what, table] of [
    ['weight', w],
    ['delay', tau],
    ['index', index],
  ] as const)
    if (table && table.length < need)
      return io.fail(`The ${what} table has ${table.length} samples, fewer than the ${need} ${fn}(…) reads`);
  const negative = Array.from(tau)
    .slice(0, need)
    .findIndex((d) => !(d >= 0));
  if (negative >= 0) return io.fail(`The delay table's sample ${negative} is ${tau[negative]}: a delay must be ≥ 0`);
  if (i >= rows) return num(0, at);
  const root = sparse ? 5 : 4;
  const terms: Expr[] = [];
  for (let j = 0; j < cols; j++) {
    const k = i * cols + j;
    const c = index ? Math.trunc(index[k]) : j;
    if (c < 0) continue;
    const x = io.variable(root, c);
    if (x === undefined) return undefined;
    const read: Expr = {
      kind: 'call',
      callee: 'delay',
      args: [name(x, at), num(tau[k], at)],
      range: at,
      calleeRange: at,
    };
    terms.push({ kind: 'binary', op: '*', left: num(w[k], at), right: read, range: at, opRange: at });
  }
  return balancedSum(terms, at, { countTerms: false });
}

/** findext's value i (XPPAUT computes 4; the ones its type leaves out are u0 and index 0, as in simplenet.c). */
function extremum(i: number, at: Range, io: DelayedNetworkInputs): Expr | undefined {
  const [type, n, skip] = [io.num(0), io.num(1), io.num(2)];
  if (type === undefined || n === undefined || skip === undefined) return undefined;
  if (type < -1 || type > 1)
    return io.fail(`The type of findext(…) is 1 (maximum), -1 (minimum) or 0 (both), not ${type}`);
  if (n <= 0 || skip <= 0) return io.fail(`findext(…) needs n ≥ 1 and skip ≥ 1, found ${n} and ${skip}`);
  // XPPAUT gives 0 from n on (as for every network function), and has no value from 4 on.
  if (i >= n) return num(0, at);
  if (i >= 4) return io.fail(`findext(…) gives 4 values (maximum, its index, minimum, its index): ${i} is not one`);
  const wantMax = i < 2;
  const computed = wantMax ? type >= 0 : type <= 0;
  const leaves: { value: Expr; index: Expr }[] = [];
  for (let k = 0; k < (computed ? n : 1); k += skip) {
    const x = io.variable(3, k);
    if (x === undefined) return undefined;
    leaves.push({ value: name(x, at), index: num(k, at) });
  }
  let level = leaves;
  while (level.length > 1) {
    const next: typeof leaves = [];
    for (let k = 0; k + 1 < level.length; k += 2) {
      const [a, b] = [level[k], level[k + 1]];
      // b wins only when strictly beyond a: the first of equal values, as XPPAUT's scan keeps it.
      const beyond: Expr = {
        kind: 'binary',
        op: wantMax ? '>' : '<',
        left: b.value,
        right: a.value,
        range: at,
        opRange: at,
      };
      next.push({
        value: { kind: 'call', callee: wantMax ? 'max' : 'min', args: [a.value, b.value], range: at, calleeRange: at },
        index: { kind: 'if', cond: beyond, then: b.index, else: a.index, range: at },
      });
    }
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return i % 2 === 0 ? level[0].value : level[0].index;
}

function num(value: number, at: Range): Expr {
  return { kind: 'number', value, range: at };
}

function name(n: string, at: Range): Expr {
  return { kind: 'name', name: n, range: at };
}
