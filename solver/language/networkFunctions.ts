// XPPAUT's network functions (`special k = conv(…)`, sparse, fconv, fsparse,
// mmult, fmmult; xpp_doc "Network functions", simplenet.c): k(i) is a weighted
// sum over variables declared after a root variable, with weights (and for
// sparse the indices) read from the raw samples of tables. Here k(i) for a
// constant i is written out as that sum of products, which the checker then
// checks like any expression: the states it reads are ordinary states, and AD
// differentiates it. `root[k]` is the k-th variable after the root (u0 → u{k}).
// The sum's root carries its term count (model.ts: `terms`): the fused program
// runs it as one loop instruction instead of term by term (engine/scalarRhs.ts).
import type { Expr, Range } from '../model';
import { balancedSum } from './balancedSum';
import { delayedNetworkElement, delayedNetworkName } from './delayedNetworks';

/**
 * Most terms one network function may have over all its elements (n·m for mmult, npts·(2·ncon + 1) for conv,
 * npts·ncon for sparse): each is written out as an expression before the engine runs it as a loop.
 */
export const MAX_NETWORK_TERMS = 100_000;

/** The network functions ODE Lens runs, by their lower-case name (and delayedNetworks.ts's). */
const NETWORK_FUNCTIONS: ReadonlySet<string> = new Set(['conv', 'sparse', 'fconv', 'fsparse', 'mmult', 'fmmult']);

/** Whether a token (after `special NAME =`) names a network function ODE Lens runs. */
export function isNetworkFunction(t: { kind: string; text: string }): boolean {
  return t.kind === 'ident' && (NETWORK_FUNCTIONS.has(t.text.toLowerCase()) || !!delayedNetworkName(t.text));
}

/** How a convolution treats the edges: even (reflect), periodic, or 0 (terms off the ends dropped). */
type Edges = 'even' | 'periodic' | 'zero';

/** What the checker resolves of a special's arguments. */
export interface NetworkInputs {
  /** A constant argument (npts, ncon, n, m), or undefined after a reported error. */
  num: (k: number) => number | undefined;
  /** A table argument's raw samples, or undefined after a reported error. */
  samples: (k: number) => ArrayLike<number> | undefined;
  /** The name of variable `offset` after the root named by argument k, or undefined after a reported error. */
  variable: (k: number, offset: number) => string | undefined;
  /** The name of argument k (a function name for fconv/fsparse/fmmult). */
  name: (k: number) => string | undefined;
  /** Reports a problem on the special's line. */
  fail: (message: string) => undefined;
}

/** `weight · root[k]` terms of element i, as unchecked expressions; undefined after a reported error. */
export function networkElement(
  fn: string,
  args: readonly Expr[],
  i: number,
  at: Range,
  io: NetworkInputs,
): Expr | undefined {
  const num = (value: number): Expr => ({ kind: 'number', value, range: at });
  const name = (n: string): Expr => ({ kind: 'name', name: n, range: at });
  const product = (w: number, x: Expr): Expr => ({
    kind: 'binary',
    op: '*',
    left: num(w),
    right: x,
    range: at,
    opRange: at,
  });
  const pair = (f: string, a: string, b: string): Expr => ({
    kind: 'call',
    callee: f,
    args: [name(a), name(b)],
    range: at,
    calleeRange: at,
  });
  const delayed = delayedNetworkName(fn);
  if (delayed) return delayedNetworkElement(delayed, i, at, io);
  const terms: Expr[] = [];
  const conv = fn === 'conv' || fn === 'fconv';
  const edges = conv ? edgeKind(args[0]) : undefined;
  if (conv && !edges) return io.fail('The first argument of conv/fconv is the edge type: even, periodic or 0');
  const at0 = conv ? 1 : 0;
  const tooMany = (terms: number, what: string) =>
    io.fail(
      `${fn}(…) has ${terms.toLocaleString('en-US')} terms (${what}), more than the ${MAX_NETWORK_TERMS.toLocaleString('en-US')} ODE Lens writes out`,
    );
  if (fn === 'mmult' || fn === 'fmmult') {
    const [n, m, w] = [io.num(0), io.num(1), io.samples(2)];
    if (n === undefined || m === undefined || !w) return undefined;
    if (n * m > MAX_NETWORK_TERMS) return tooMany(n * m, `n·m = ${n}·${m}`);
    if (i >= m) return num(0);
    if (w.length < n * m) return io.fail(`The weight table has ${w.length} samples, fewer than n·m = ${n * m}`);
    for (let k = 0; k < n; k++) {
      const x = io.variable(3, k);
      if (x === undefined) return undefined;
      if (fn === 'mmult') terms.push(product(w[i * n + k], name(x)));
      else {
        const [v, f] = [io.variable(4, i), io.name(5)];
        if (v === undefined || f === undefined) return undefined;
        terms.push(product(w[i * n + k], pair(f, x, v)));
      }
    }
  } else {
    const [npts, ncon, w] = [io.num(at0), io.num(at0 + 1), io.samples(at0 + 2)];
    if (npts === undefined || ncon === undefined || !w) return undefined;
    const count = npts * (conv ? 2 * ncon + 1 : ncon);
    if (count > MAX_NETWORK_TERMS)
      return tooMany(count, conv ? `npts·(2·ncon + 1) = ${npts}·${2 * ncon + 1}` : `npts·ncon = ${npts}·${ncon}`);
    if (i >= npts) return num(0);
    // The root after the weights (conv) or after the weights and indices (sparse); then root2 and f.
    const root = conv ? at0 + 3 : at0 + 4;
    const f = fn === 'fconv' || fn === 'fsparse' ? io.name(root + 2) : undefined;
    const other = f !== undefined ? io.variable(root + 1, i) : undefined;
    if (f !== undefined && other === undefined) return undefined;
    const term = (weight: number, k: number): boolean => {
      const x = io.variable(root, k);
      if (x === undefined) return false;
      terms.push(product(weight, f !== undefined && other !== undefined ? pair(f, x, other) : name(x)));
      return true;
    };
    if (conv) {
      if (w.length < 2 * ncon + 1)
        return io.fail(`The weight table has ${w.length} samples, fewer than 2·ncon + 1 = ${2 * ncon + 1}`);
      for (let j = -ncon; j <= ncon; j++) {
        const k = edgeIndex(edges as Edges, i + j, npts);
        if (k !== undefined && !term(w[j + ncon], k)) return undefined;
      }
    } else {
      const index = io.samples(at0 + 3);
      if (!index) return undefined;
      if (w.length < npts * ncon || index.length < npts * ncon)
        return io.fail(`The weight and index tables need npts·ncon = ${npts * ncon} samples`);
      for (let j = 0; j < ncon; j++) {
        const k = Math.trunc(index[i * ncon + j]);
        if (k >= 0 && !term(w[i * ncon + j], k)) return undefined;
      }
    }
  }
  return balancedSum(terms, at);
}

/** XPPAUT reads the type's first letter: E(ven), P(eriodic), 0 or Z(ero). */
function edgeKind(e: Expr | undefined): Edges | undefined {
  const text = e?.kind === 'name' ? e.name : e?.kind === 'number' && e.value === 0 ? '0' : '';
  const c = text.charAt(0).toUpperCase();
  return c === 'E' ? 'even' : c === 'P' ? 'periodic' : c === '0' || c === 'Z' ? 'zero' : undefined;
}

/** The element i + j of a convolution at the edges, as simplenet.c computes it; undefined: left out. */
function edgeIndex(edges: Edges, k: number, n: number): number | undefined {
  if (edges === 'periodic') return (((2 * n + k) % n) + n) % n;
  if (edges === 'zero') return k >= 0 && k < n ? k : undefined;
  let a = Math.abs(k);
  if (a >= 2 * n) return undefined;
  if (a >= n) a = Math.abs(2 * n - 2 - a);
  return a;
}
