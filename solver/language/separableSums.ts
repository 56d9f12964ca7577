// Separable sums: an expanded indexed sum or network function (indexedSums.ts, networkFunctions.ts) whose terms
// read the equation's own values (x[j], a state named in every term) only through parts that separate from what
// varies with the term, rewritten so that the part that varies is summed without them:
//
//   Σ_i w_i·sin(P_i + Q) = cos Q · Σ_i w_i·sin P_i + sin Q · Σ_i w_i·cos P_i
//
// (cos likewise, and factors that do not vary with i pulled out of the sum; not exp: exp P · exp Q overflows
// float32 where exp(P + Q) need not, as for phases that grow with t), with
// P_i what varies with the term (shift(x0, i'), i', a table read at i', and numbers and parameters) and Q what
// does not (x[j], parameters, numbers). The sums left read no state that every term reads: a Kuramoto network's
// `sum(0, 99)of(h(shift(x0, i') - x[j]))` in each of its 100 equations becomes four sums over sin x_i, cos x_i,
// sin 2x_i, cos 2x_i that are the same in every equation, which the fused program computes once for all of them
// (engine/scalarRhs.ts: equal instructions are emitted once), so the right-hand side costs O(N), not O(N²).
// With weights that vary with both i and j (a weight table read at [j]·n + i', fmmult's), the sums left are a
// constant matrix times the vector sin x_i, written as each equation's row `@` that vector (the fused program's
// dot: multiply-adds, no sine per term).
//
// The rewrite is exact algebra; in float32 (the fused program rounds every operation as TF.js does) it changes
// the rounding, not the function (docs/language.md). It applies to a sum only when every sum it leaves is also
// left by another equation's sum (so it is computed once for several), and leaves every other sum as expanded.
import { balancedTerms, LOOP_FROM_TERMS, subexpressions, type Expr, type Model, type Range } from '../model';
import { balancedSum } from './balancedSum';
import { replaceExpr } from './exprWalk';

/** Most pairs (c · a_i · b) one term may separate into. */
const MAX_PAIRS = 16;
/** Deepest position the side-by-side walk visits (deeper terms are left as they are). */
const MAX_DEPTH = 200;
/** The functions of a sum that separate, by angle addition. */
const SEPARATING = new Set(['sin', 'cos']);

/** c · a_i · b: a number, the terms' factor that varies with i (none: 1), and a factor they share (none: 1). */
interface Pair {
  c: number;
  a?: Expr[];
  b?: Expr;
}

/** A sum that separates: its root, term count and pairs grouped by their varying factor. */
interface Candidate {
  root: Extract<Expr, { kind: 'binary' }>;
  K: number;
  groups: { a?: Expr[]; key: string; core: string; shared: { c: number; b?: Expr }[] }[];
}

const leaf = (e: Expr) => e.kind === 'number' || e.kind === 'name';

/** Rewrites the separable sums of the model's right-hand sides in place (see above); returns how many. */
export function separateSums(model: Model): number {
  const own = new Set([...model.states.map((s) => s.name), ...(model.algebraic?.variables ?? []).map((v) => v.name)]);
  // The sums' roots (not inside another sum: the walk stops at a root, so it does not visit every term).
  const roots = new Set<Extract<Expr, { kind: 'binary' }>>();
  const stack = model.equations.map((q) => q.rhs);
  const seen = new Set<Expr>();
  while (stack.length > 0) {
    const e = stack.pop() as Expr;
    if (seen.has(e)) continue;
    seen.add(e);
    if (e.kind === 'binary' && (e.terms ?? 0) >= LOOP_FROM_TERMS) roots.add(e);
    else stack.push(...subexpressions(e));
  }
  if (roots.size < 2) return 0; // a sum left is worth separating only when another equation's sum leaves it too
  const separator = new Separator(own);
  const candidates: Candidate[] = [];
  for (const root of roots) {
    const c = separator.candidate(root);
    if (c) candidates.push(c);
  }
  // How many candidate sums leave each varying factor (with its numeric weights taken off).
  const users = new Map<string, number>();
  for (const c of candidates)
    for (const core of new Set(c.groups.filter((g) => g.a).map((g) => g.core)))
      users.set(core, (users.get(core) ?? 0) + 1);
  const sums = new Map<string, Expr>();
  let rewritten = 0;
  for (const c of candidates) {
    if (!c.groups.every((g) => !g.a || (users.get(g.core) ?? 0) >= 2)) continue;
    replaceExpr(c.root, separator.rebuild(c, sums));
    rewritten++;
  }
  return rewritten;
}

// The separator lives for one separateSums call, so its memos are Maps: a WeakMap's entries are ephemerons, which
// cost its lookups and the collector more (kuramot100w.ode's 400,000 lookups: the rewrite 11 % faster with Maps).
class Separator {
  private readonly ids = new Map<Expr, number>();
  private readonly interned = new Map<string, number>();
  private readonly readsOwn = new Map<Expr, boolean>();
  /** The next id. */
  private next = 0;
  /** Lists built from what varies (sin P_i, cos P_i), by function and the list's key: the same for every equation. */
  private readonly lists = new Map<string, Expr[]>();

  constructor(private readonly own: ReadonlySet<string>) {}

  /** The sum's separation, or undefined when its terms read no state they share or do not separate. */
  candidate(root: Extract<Expr, { kind: 'binary' }>): Candidate | undefined {
    const K = root.terms ?? 0;
    const terms = balancedTerms(root, K);
    if (!terms || !terms.every((t) => t.shape?.length === 0)) return undefined;
    if (this.free(terms, 0)) return undefined; // the same sum in every equation that reads it: nothing to pull out
    const pairs = this.form(terms, 0);
    if (!pairs) return undefined;
    const groups = new Map<string, Candidate['groups'][number]>();
    for (const pair of pairs) {
      // Σ_i c·b = K·c·b, and weights alone (numbers that vary with i) are summed here.
      const numbers = pair.a?.every((x) => x.kind === 'number');
      const p: Pair = !pair.a
        ? { ...pair, c: pair.c * K }
        : numbers
          ? { c: pair.c * pair.a.reduce((s, x) => s + (x.kind === 'number' ? x.value : 0), 0), b: pair.b }
          : pair;
      const key = p.a ? this.listKey(p.a) : '';
      let g = groups.get(key);
      if (!g) {
        const core = p.a
          ? this.listKey(
              p.a.map((x) => (x.kind === 'binary' && x.op === '*' && x.left.kind === 'number' ? x.right : x)),
            )
          : '';
        groups.set(key, (g = { a: p.a, key, core, shared: [] }));
      }
      g.shared.push({ c: p.c, b: p.b });
    }
    return { root, K, groups: [...groups.values()] };
  }

  /** The separated sum: Σ over groups of (Σ c·b) times the group's sum of a_i (1 without a: c holds the sum). */
  rebuild(c: Candidate, sums: Map<string, Expr>): Expr {
    const at = new Build(c.root.range, c.root.opRange);
    const parts: { c: number; factors: Expr[] }[] = [];
    for (const g of c.groups) {
      const single = g.shared.length === 1 ? g.shared[0] : undefined;
      let sum: Expr | undefined;
      const weights = g.a && weightsOf(g.a);
      if (g.a && weights) {
        // Weights that vary with the term (and with the equation: a weight table read at [j]·n + i'): the
        // equation's row of a constant matrix times the vector every equation shares, as a product `@` (the
        // fused program's dot: multiply-adds in double, rounded once, as TF.js's matMul).
        const key = `vector:${g.core}`;
        let v = sums.get(key);
        if (!v) sums.set(key, (v = at.vector(g.a.map((x) => (x.kind === 'binary' ? x.right : x)))));
        sum = at.bin('@', at.vector(weights.map((w) => at.num(w))), v);
      } else if (g.a) {
        const key = `sum:${g.key}`;
        sum = sums.get(key);
        if (!sum) sums.set(key, (sum = at.balanced(g.a)));
      }
      if (single && sum && Math.abs(single.c) !== 1) {
        // |c|·S shared too: the equations' numbers are the same when the weights are (1/N, a table of one value).
        const key = `scaled:${Math.abs(single.c)}:${g.key}`;
        let scaled = sums.get(key);
        if (!scaled) sums.set(key, (scaled = at.bin('*', at.num(Math.abs(single.c)), sum)));
        parts.push({ c: Math.sign(single.c), factors: [...(single.b ? [single.b] : []), scaled] });
      } else if (single) parts.push({ c: single.c, factors: [...(single.b ? [single.b] : []), ...(sum ? [sum] : [])] });
      else {
        const b = at.combine(g.shared.map((s) => ({ c: s.c, factors: s.b ? [s.b] : [] })));
        parts.push({ c: 1, factors: [b, ...(sum ? [sum] : [])] });
      }
    }
    return at.combine(parts);
  }

  /**
   * A structural id: equal ids, equal expressions (hash-consed from the children's ids, so a term's id costs one
   * short string; a node the walk does not know, or one nested deeper than MAX_DEPTH, gets an id of its own).
   */
  private key(e: Expr, depth = 0): number {
    const known = this.ids.get(e);
    if (known !== undefined) return known;
    const k = (x: Expr) => this.key(x, depth + 1);
    let sig: string | undefined;
    if (depth <= MAX_DEPTH)
      switch (e.kind) {
        case 'number':
          sig = `#${Object.is(e.value, -0) ? '-0' : e.value}`;
          break;
        case 'name':
          sig = `$${e.name}`;
          break;
        case 'unary':
          sig = `u${e.op}${k(e.operand)}`;
          break;
        case 'binary':
          sig = `b${e.op}${k(e.left)},${k(e.right)}`;
          break;
        case 'call':
          sig = `c${e.callee}(${e.args.map(k).join(',')})`;
          break;
        case 'if':
          sig = `i${k(e.cond)},${k(e.then)},${k(e.else)}`;
          break;
      }
    let id = sig === undefined ? undefined : this.interned.get(sig);
    if (id === undefined) {
      id = this.next++;
      if (sig !== undefined) this.interned.set(sig, id);
    }
    this.ids.set(e, id);
    return id;
  }

  private listKey(xs: Expr[]): string {
    return xs.map((x) => this.key(x)).join(',');
  }

  private same(xs: Expr[]): boolean {
    const k = this.key(xs[0]);
    return xs.every((x) => this.key(x) === k);
  }

  /** Whether e reads a state (or an algebraic variable); true past MAX_DEPTH (nothing is pulled out of it). */
  private reads(e: Expr, depth = 0): boolean {
    const known = this.readsOwn.get(e);
    if (known !== undefined) return known;
    const found =
      depth > MAX_DEPTH ||
      (e.kind === 'name' && this.own.has(e.name)) ||
      subexpressions(e).some((x) => this.reads(x, depth + 1));
    this.readsOwn.set(e, found);
    return found;
  }

  /** Whether the terms' subexpressions at one position read no state that all of them read (the same there). */
  private free(xs: Expr[], depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    if (this.same(xs)) return !this.reads(xs[0]);
    if (xs.every(leaf)) return true;
    const e = xs[0];
    const d = depth + 1;
    switch (e.kind) {
      case 'unary': {
        const us = xs as (typeof e)[];
        return (
          us.every((x) => x.kind === 'unary' && x.op === e.op) &&
          this.free(
            us.map((x) => x.operand),
            d,
          )
        );
      }
      case 'binary': {
        const bs = xs as (typeof e)[];
        return (
          bs.every((x) => x.kind === 'binary' && x.op === e.op) &&
          this.free(
            bs.map((x) => x.left),
            d,
          ) &&
          this.free(
            bs.map((x) => x.right),
            d,
          )
        );
      }
      case 'call': {
        const cs = xs as (typeof e)[];
        return (
          cs.every((x) => x.kind === 'call' && x.callee === e.callee && x.args.length === e.args.length) &&
          e.args.every((_a, i) =>
            this.free(
              cs.map((x) => x.args[i]),
              d,
            ),
          )
        );
      }
      case 'if': {
        const is = xs as (typeof e)[];
        return (
          is.every((x) => x.kind === 'if') &&
          this.free(
            is.map((x) => x.cond),
            d,
          ) &&
          this.free(
            is.map((x) => x.then),
            d,
          ) &&
          this.free(
            is.map((x) => x.else),
            d,
          )
        );
      }
      default:
        return false;
    }
  }

  /**
   * The terms' subexpressions at one position as Σ c·a_i·b, every a free of the states all terms read;
   * undefined when they do not separate so.
   */
  private form(xs: Expr[], depth: number): Pair[] | undefined {
    if (depth > MAX_DEPTH || !xs.every((x) => x.shape?.length === 0)) return undefined;
    const e = xs[0];
    if (this.same(xs)) return e.kind === 'number' ? [{ c: e.value }] : [{ c: 1, b: e }];
    if (this.free(xs, depth)) return [{ c: 1, a: xs }];
    if (!xs.every((x) => x.kind === e.kind)) return undefined;
    const d = depth + 1;
    const at = new Build(e.range, e.range);
    switch (e.kind) {
      case 'unary': {
        const us = xs as (typeof e)[];
        if (!us.every((x) => x.op === e.op)) return undefined;
        const f = this.form(
          us.map((x) => x.operand),
          d,
        );
        return f && (e.op === '-' ? negate(f) : f);
      }
      case 'binary': {
        const bs = xs as (typeof e)[];
        if (!bs.every((x) => x.op === e.op)) return undefined;
        const lefts = bs.map((x) => x.left),
          rights = bs.map((x) => x.right);
        if (e.op === '+' || e.op === '-' || e.op === '*') {
          const l = this.form(lefts, d);
          const r = l && this.form(rights, d);
          if (!l || !r) return undefined;
          if (e.op === '+') return cap([...l, ...r]);
          if (e.op === '-') return cap([...l, ...negate(r)]);
          if (l.length * r.length > MAX_PAIRS) return undefined;
          return l.flatMap((p) =>
            r.map((q) => ({
              c: p.c * q.c,
              ...(p.a || q.a ? { a: at.productList(p.a, q.a) } : {}),
              ...(p.b || q.b ? { b: at.product(p.b, q.b) } : {}),
            })),
          );
        }
        if (e.op === '/') {
          const l = this.form(lefts, d);
          if (!l) return undefined;
          if (this.same(rights)) {
            const r = rights[0];
            if (r.kind === 'number' && r.value === 0) return undefined;
            return l.map((p) =>
              r.kind === 'number' ? { ...p, c: p.c / r.value } : { ...p, b: at.bin('/', p.b ?? at.num(1), r) },
            );
          }
          if (!this.free(rights, d)) return undefined;
          return l.map((p) => ({ ...p, a: rights.map((r, i) => at.bin('/', p.a?.[i] ?? at.num(1), r)) }));
        }
        return undefined;
      }
      case 'call': {
        const cs = xs as (typeof e)[];
        const fn = e.callee.toLowerCase();
        if (!SEPARATING.has(fn) || !cs.every((x) => x.callee === e.callee && x.args.length === 1)) return undefined;
        const f = this.form(
          cs.map((x) => x.args[0]),
          d,
        );
        if (!f) return undefined;
        const P = f.filter((p) => p.a),
          Q = f.filter((p) => !p.a);
        // A factor of what varies that reads a shared state (sin(x_i·x_j)) does not separate.
        if (P.length === 0 || Q.length === 0 || P.some((p) => p.b && this.reads(p.b))) return undefined;
        const p0 = P[0];
        const varying =
          P.length === 1 && p0.c === 1 && !p0.b && p0.a
            ? p0.a
            : xs.map((_x, i) =>
                at.combine(P.map((p) => ({ c: p.c, factors: [p.a?.[i] as Expr, ...(p.b ? [p.b] : [])] }))),
              );
        // Q = −Q' with every part negative (−2·x_j): sin Q = −sin Q', cos Q = cos Q', and sin(2·x_j) is then the
        // same value as the sums' own sin(2·x_i) at i = j (the fused program computes it once).
        const s = Q.every((q) => q.c < 0) ? -1 : 1;
        const shared = at.combine(Q.map((q) => ({ c: s * q.c, factors: q.b ? [q.b] : [] })));
        const of = (g: string, x: Expr) => at.call(g, x);
        const list = (g: string) => {
          const key = `${g}:${this.listKey(varying)}`;
          let l = this.lists.get(key);
          if (!l) this.lists.set(key, (l = varying.map((x) => of(g, x))));
          return l;
        };
        const sinP = list('sin'),
          cosP = list('cos');
        const sinQ = of('sin', shared),
          cosQ = of('cos', shared);
        return fn === 'sin'
          ? [
              { c: 1, a: sinP, b: cosQ },
              { c: s, a: cosP, b: sinQ },
            ]
          : [
              { c: 1, a: cosP, b: cosQ },
              { c: -s, a: sinP, b: sinQ },
            ];
      }
      default:
        return undefined;
    }
  }
}

/**
 * The numbers w_i of terms w_i·X_i (Build.productList puts them on the left), or undefined; also when they are all
 * the same (the sum of w·X_i is then the same in every equation).
 */
function weightsOf(a: Expr[]): number[] | undefined {
  const w: number[] = [];
  for (const x of a) {
    if (x.kind !== 'binary' || x.op !== '*' || x.left.kind !== 'number') return undefined;
    w.push(x.left.value);
  }
  return w.every((v) => Object.is(v, w[0])) ? undefined : w;
}

const negate = (ps: Pair[]): Pair[] => ps.map((p) => ({ ...p, c: -p.c }));
const cap = (ps: Pair[]): Pair[] | undefined => (ps.length > MAX_PAIRS ? undefined : ps);

/** New scalar nodes at one range. */
class Build {
  constructor(
    private readonly range: Range,
    private readonly opRange: Range,
  ) {}
  num(value: number): Expr {
    return { kind: 'number', value, range: this.range, shape: [] };
  }
  bin(op: '+' | '-' | '*' | '/' | '@', left: Expr, right: Expr): Expr {
    return { kind: 'binary', op, left, right, range: this.range, opRange: this.opRange, shape: [] };
  }
  /** A vector of scalars. */
  vector(elements: Expr[]): Expr {
    return { kind: 'vector', elements, range: this.range, shape: [elements.length] };
  }
  call(callee: string, arg: Expr): Expr {
    return { kind: 'call', callee, args: [arg], range: this.range, calleeRange: this.opRange, shape: [] };
  }
  product(x: Expr | undefined, y: Expr | undefined): Expr {
    return x && y ? this.bin('*', x, y) : ((x ?? y) as Expr);
  }
  /** a_i·b_i per term, numbers (weights) on the left so that the fused program reads them as a products loop's. */
  productList(x: Expr[] | undefined, y: Expr[] | undefined): Expr[] {
    if (!x || !y) return (x ?? y) as Expr[];
    const [l, r] = y.every((e) => e.kind === 'number') && !x.every((e) => e.kind === 'number') ? [y, x] : [x, y];
    return l.map((e, i) => this.bin('*', e, r[i]));
  }
  /** Σ c·Π factors, written with - for negative c (0 without parts). */
  combine(parts: { c: number; factors: Expr[] }[]): Expr {
    let sum: Expr | undefined;
    // A positive part first: a − x_j, not (−x_j) + a.
    const first = parts.findIndex((p) => p.c > 0);
    const ordered = first > 0 ? [parts[first], ...parts.slice(0, first), ...parts.slice(first + 1)] : parts;
    for (const { c, factors } of ordered) {
      if (c === 0) continue;
      const m = Math.abs(c);
      let term: Expr | undefined = m === 1 ? undefined : this.num(m);
      for (const f of factors) term = term ? this.bin('*', term, f) : f;
      term ??= this.num(1);
      if (!sum) sum = c < 0 ? { kind: 'unary', op: '-', operand: term, range: this.range, shape: [] } : term;
      else sum = this.bin(c < 0 ? '-' : '+', sum, term);
    }
    return sum ?? this.num(0);
  }
  /** The terms added as balancedSum's tree, its root marked with their count (model.ts: `terms`). */
  balanced(terms: Expr[]): Expr {
    return balancedSum(terms, this.range, { shape: [], opRange: this.opRange });
  }
}
