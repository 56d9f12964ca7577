// XPPAUT arrays as tensor states.
//
// An array line `u[1..126]' = f(u[j-1], u[j], u[j+1])` is, by XPPAUT's
// definition, 126 scalar equations (arrays.ts expands it so), and the checked
// model says exactly that. Solving it as 126 scalar states costs one kernel per
// operation per element; as one state `u` of shape [128] it costs one per
// operation. This pass rewrites a parsed XPPAUT program whose arrays are
// complete into that tensor form:
//
//   - a *family* is a base name `u` with elements `u0 … u(N-1)`, all states
//     (or all fixed quantities), at least one of them from an array line;
//   - the element equations of one array line are the same expression for each
//     j except for element names and numbers: walking them side by side gives
//     one vector expression, where the elements `u[j+c]` become `S @ u` (S a
//     constant 0/1 selection matrix) and numbers that vary with j a vector;
//   - the family's equation is the sum of its pieces, each embedded at its
//     elements (`E @ piece`, or a one-hot vector times a scalar piece);
//   - every other use of an element `u5` reads `u[5]`.
//
// Anything outside that (a reduction or a user function that is not
// elementwise on a varying argument, an incomplete family, a name clash, an
// expression nested deeper than MAX_DEPTH) leaves the program as it is: the
// result is only an optimisation, and index.ts uses it only when it checks
// without error.

import { LOOP_FROM_TERMS, subexpressions, type Expr, type Range } from '../model';
import {
  statementExpressions,
  type EquationStmt,
  type FixedStmt,
  type InitItem,
  type InitStmt,
  type Program,
  type StateStmt,
  type Statement,
} from './ast';
import { BUILTINS, LOWERED, NOISE_FUNCTIONS } from './builtins';

/** Where an expanded statement came from: its array line, the base name its left side extends, and j. */
export interface ArrayOrigin {
  line: number;
  base?: string;
  j: number;
}

/** Fewer scalar states than this stay scalar: the engine's fused scalar path runs small models faster. */
export const VECTORIZE_FROM_STATES = 33;

/** Deepest expression the side-by-side walk accepts (its recursion is bounded by this). */
const MAX_DEPTH = 200;

type Member = EquationStmt | FixedStmt;

interface Family {
  base: string;
  kind: 'equation' | 'fixed';
  members: Map<number, Member>;
  size: number;
}

const nameOf = (s: Member): string => (s.kind === 'equation' ? s.state : s.name);
const num = (value: number, range: Range): Expr => ({ kind: 'number', value, range });
const vec = (elements: Expr[], range: Range): Expr => ({ kind: 'vector', elements, range });
const numbers = (xs: number[], range: Range): Expr =>
  vec(
    xs.map((x) => num(x, range)),
    range,
  );

function depthAtMost(e: Expr, max: number): boolean {
  const stack: [Expr, number][] = [[e, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop() as [Expr, number];
    if (d > max) return false;
    for (const c of subexpressions(x)) stack.push([c, d + 1]);
  }
  return true;
}

/** Whether e holds a sum of at least LOOP_FROM_TERMS terms marked by the expansion (model.ts: `terms`). */
function hasLoopSum(e: Expr): boolean {
  const stack: Expr[] = [e];
  while (stack.length > 0) {
    const x = stack.pop() as Expr;
    if (x.kind === 'binary' && (x.terms ?? 0) >= LOOP_FROM_TERMS) return true;
    stack.push(...subexpressions(x));
  }
  return false;
}

/**
 * The 0/1 matrix M[i][c] = (rows[i] == cols[c]), written as a comparison that broadcasts a
 * column against a row: rows + cols numbers rather than rows × cols (the engine folds it once).
 */
function indicator(rows: number[], cols: number[], range: Range): Expr {
  const column = vec(
    rows.map((r) => numbers([r], range)),
    range,
  );
  return { kind: 'binary', op: '==', left: column, right: numbers(cols, range), range, opRange: range };
}

/** A balanced sum, so that many pieces do not make a deep tree. */
function sum(terms: Expr[], range: Range): Expr {
  if (terms.length === 1) return terms[0];
  const mid = terms.length >> 1;
  return {
    kind: 'binary',
    op: '+',
    left: sum(terms.slice(0, mid), range),
    right: sum(terms.slice(mid), range),
    range,
    opRange: range,
  };
}

class Vectorizer {
  private readonly families = new Map<string, Family>();
  private readonly functions = new Map<string, { params: string[]; body: Expr }>();

  constructor(
    private readonly program: Program,
    private readonly origins: ReadonlyMap<Statement, ArrayOrigin>,
  ) {}

  run(): Program | undefined {
    const st = this.program.statements;
    // Events set scalar elements by name (`global … {u5=0}`): such models keep their scalar states.
    if (st.some((s) => s.kind === 'state' || s.kind === 'broken' || s.kind === 'opaque' || s.kind === 'global'))
      return undefined;
    if (st.filter((s) => s.kind === 'equation').length < VECTORIZE_FROM_STATES) return undefined;
    for (const s of st) for (const e of statementExpressions(s)) if (!depthAtMost(e, MAX_DEPTH)) return undefined;
    // A long indexed sum in a right-hand side keeps the model scalar: the fused program runs it as one loop
    // instruction per sum, where the vector form writes every term out for every element.
    for (const s of st)
      if ((s.kind === 'equation' || s.kind === 'fixed') && statementExpressions(s).some(hasLoopSum)) return undefined;
    for (const s of st)
      if (s.kind === 'function')
        this.functions.set(s.name.toLowerCase(), { params: s.params.map((p) => p.toLowerCase()), body: s.body });
    if (!this.findFamilies()) return undefined;
    if (this.families.size === 0) return undefined;
    try {
      return this.rewriteProgram();
    } catch (e) {
      if (e instanceof NotVectorizable) return undefined;
      throw e;
    }
  }

  /** Families from the array lines, completed by scalar lines `u0' = …`; false when one is irregular. */
  private findFamilies(): boolean {
    const st = this.program.statements;
    for (const s of st) {
      if (s.kind !== 'equation' && s.kind !== 'fixed') continue;
      const o = this.origins.get(s);
      if (!o?.base || nameOf(s).toLowerCase() !== `${o.base}${o.j}`.toLowerCase()) continue;
      const key = o.base.toLowerCase();
      if (/\d$/.test(key)) return false; // `u1[0..9]` would make u10 ambiguous
      const f = this.families.get(key);
      if (f && f.kind !== s.kind) return false;
      if (!f) this.families.set(key, { base: o.base, kind: s.kind, members: new Map(), size: 0 });
    }
    const declared = new Set<string>();
    for (const s of st) {
      let names: string[] = [];
      if (s.kind === 'equation' || s.kind === 'fixed') names = [nameOf(s)];
      else if (s.kind === 'param' || s.kind === 'number') names = s.items.map((i) => i.name);
      else if (s.kind === 'function' || s.kind === 'data') names = [s.name];
      for (const n of names) {
        const key = n.toLowerCase();
        if (this.families.has(key) || declared.has(key)) return false; // a clash the checker reports on the scalar program
        declared.add(key);
        const el = this.elementOf(n);
        if (!el) continue;
        if (s.kind !== 'equation' && s.kind !== 'fixed') return false;
        if (s.kind !== el.family.kind) return false;
        el.family.members.set(el.k, s);
      }
    }
    for (const f of this.families.values()) {
      f.size = f.members.size;
      for (let k = 0; k < f.size; k++) if (!f.members.has(k)) return false;
    }
    return true;
  }

  private elementOf(name: string): { family: Family; k: number } | undefined {
    const m = /^(.*?)(0|[1-9]\d*)$/.exec(name.toLowerCase());
    if (!m) return undefined;
    const family = this.families.get(m[1]);
    return family ? { family, k: Number(m[2]) } : undefined;
  }

  private rewriteProgram(): Program {
    const st = this.program.statements;
    const out: Statement[] = [];
    const states: StateStmt[] = [];
    const emitted = new Set<Family>();
    const inits = new Map<Family, { values: (Expr | undefined)[]; item: InitItem }>();
    for (const s of st) {
      if (s.kind === 'equation' || s.kind === 'fixed') {
        const el = this.elementOf(nameOf(s));
        if (el) {
          if (emitted.has(el.family)) continue;
          emitted.add(el.family);
          if (s.kind === 'equation')
            states.push({
              kind: 'state',
              name: el.family.base,
              nameRange: s.stateRange,
              shape: { dims: [el.family.size], range: s.stateRange },
              range: s.stateRange,
              fromEquations: true,
            });
          out.push(this.familyStatement(el.family, s));
          continue;
        }
        if (s.kind === 'equation')
          states.push({
            kind: 'state',
            name: s.state,
            nameRange: s.stateRange,
            range: s.stateRange,
            fromEquations: true,
          });
      }
      if (s.kind === 'init') {
        const items: InitItem[] = [];
        for (const item of s.items) {
          const el = this.elementOf(item.name);
          if (!el) {
            items.push({ ...item, value: this.rewrite(item.value) });
            continue;
          }
          let entry = inits.get(el.family);
          if (!entry) {
            entry = { values: new Array(el.family.size).fill(undefined), item };
            inits.set(el.family, entry);
          }
          entry.values[el.k] = this.rewrite(item.value);
        }
        if (items.length > 0) out.push({ ...s, items });
        continue;
      }
      out.push(this.rewriteStatement(s));
    }
    for (const [family, { values, item }] of inits) {
      const value = vec(
        values.map((v) => v ?? num(0, item.range)),
        item.range,
      );
      const init: InitStmt = {
        kind: 'init',
        items: [{ name: family.base, nameRange: item.nameRange, value, range: item.range, form: 'init' }],
        range: item.range,
      };
      out.push(init);
    }
    return { ...this.program, statements: [...states, ...out] };
  }

  /** The family's one equation (or fixed quantity): its pieces, each embedded at its elements. */
  private familyStatement(f: Family, first: Member): Statement {
    const groups = new Map<number | Member, { ks: number[]; members: Member[] }>();
    for (let k = 0; k < f.size; k++) {
      const m = f.members.get(k) as Member;
      const o = this.origins.get(m);
      const key = o && o.base?.toLowerCase() === f.base.toLowerCase() ? o.line : m;
      let g = groups.get(key);
      if (!g) {
        g = { ks: [], members: [] };
        groups.set(key, g);
      }
      g.ks.push(k);
      g.members.push(m);
    }
    const range = first.kind === 'equation' ? first.rhs.range : first.expr.range;
    const pieces: Expr[] = [];
    for (const { ks, members } of groups.values()) {
      const exprs = members.map((m) => (m.kind === 'equation' ? m.rhs : m.expr));
      const z = members.length === 1 ? { e: this.rewrite(exprs[0]), varies: false } : this.zip(exprs);
      pieces.push(this.embed(z.e, z.varies, ks, f.size, range));
    }
    const whole = sum(pieces, range);
    if (first.kind === 'equation')
      return { kind: 'equation', state: f.base, stateRange: first.stateRange, rhs: whole, range: first.range };
    return { kind: 'fixed', name: f.base, nameRange: first.nameRange, expr: whole, range: first.range };
  }

  /** Places a piece at elements `ks` of an [n] vector. */
  private embed(piece: Expr, varies: boolean, ks: number[], n: number, range: Range): Expr {
    const identity = ks.length === n && ks.every((k, i) => k === i);
    if (!varies) {
      if (identity)
        return {
          kind: 'binary',
          op: '*',
          left: numbers(new Array(n).fill(1), range),
          right: piece,
          range,
          opRange: range,
        };
      const onehot = new Array(n).fill(0);
      for (const k of ks) onehot[k] = 1;
      return { kind: 'binary', op: '*', left: numbers(onehot, range), right: piece, range, opRange: range };
    }
    if (identity) return piece;
    return {
      kind: 'binary',
      op: '@',
      left: indicator(
        Array.from({ length: n }, (_, r) => r),
        ks,
        range,
      ),
      right: piece,
      range,
      opRange: range,
    };
  }

  /** The elements `ks` of a family, as a vector: the family itself, or a selection `S @ u`. */
  private select(f: Family, ks: number[], range: Range): Expr {
    const name: Expr = { kind: 'name', name: f.base, range };
    if (ks.length === f.size && ks.every((k, i) => k === i)) return name;
    return {
      kind: 'binary',
      op: '@',
      left: indicator(
        ks,
        Array.from({ length: f.size }, (_, c) => c),
        range,
      ),
      right: name,
      range,
      opRange: range,
    };
  }

  /** The expressions of one array line's elements, side by side: one expression, a vector where they differ. */
  private zip(es: Expr[]): { e: Expr; varies: boolean } {
    const e0 = es[0];
    if (!es.every((e) => e.kind === e0.kind)) throw new NotVectorizable();
    switch (e0.kind) {
      case 'number': {
        const values = es.map((e) => (e as typeof e0).value);
        if (values.every((v) => v === values[0])) return { e: e0, varies: false };
        return { e: numbers(values, e0.range), varies: true };
      }
      case 'name': {
        const names = es.map((e) => (e as typeof e0).name.toLowerCase());
        if (names.every((n) => n === names[0])) return { e: this.rewrite(e0), varies: false };
        const els = names.map((n) => this.elementOf(n));
        const f = els[0]?.family;
        if (!f || els.some((x) => x?.family !== f)) throw new NotVectorizable();
        return {
          e: this.select(
            f,
            els.map((x) => x?.k as number),
            e0.range,
          ),
          varies: true,
        };
      }
      case 'unary': {
        if (es.some((e) => (e as typeof e0).op !== e0.op)) throw new NotVectorizable();
        const o = this.zip(es.map((e) => (e as typeof e0).operand));
        return { e: { ...e0, operand: o.e }, varies: o.varies };
      }
      case 'binary': {
        if (es.some((e) => (e as typeof e0).op !== e0.op)) throw new NotVectorizable();
        const l = this.zip(es.map((e) => (e as typeof e0).left));
        const r = this.zip(es.map((e) => (e as typeof e0).right));
        if (e0.op === '@' && (l.varies || r.varies)) throw new NotVectorizable();
        return { e: { ...e0, left: l.e, right: r.e }, varies: l.varies || r.varies };
      }
      case 'if': {
        const c = this.zip(es.map((e) => (e as typeof e0).cond));
        const a = this.zip(es.map((e) => (e as typeof e0).then));
        const b = this.zip(es.map((e) => (e as typeof e0).else));
        return { e: { ...e0, cond: c.e, then: a.e, else: b.e }, varies: c.varies || a.varies || b.varies };
      }
      case 'call': {
        const callee = e0.callee.toLowerCase();
        if (NOISE_FUNCTIONS.has(callee)) throw new NotVectorizable(); // one realisation per element
        if (
          es.some(
            (e) => (e as typeof e0).callee.toLowerCase() !== callee || (e as typeof e0).args.length !== e0.args.length,
          )
        )
          throw new NotVectorizable();
        const args = e0.args.map((_, i) => this.zip(es.map((e) => (e as typeof e0).args[i])));
        const varies = args.some((a) => a.varies);
        if (!varies) return { e: this.rewrite(e0), varies: false };
        if (!this.elementwise(callee, e0.args.length, new Set())) throw new NotVectorizable();
        return { e: { ...e0, args: args.map((a) => a.e) }, varies: true };
      }
      default: {
        // Indexing, vector literals, x(T): only where every element reads the same.
        if (es.some((e) => JSON.stringify(e, stripRanges) !== JSON.stringify(e0, stripRanges)))
          throw new NotVectorizable();
        return { e: this.rewrite(e0), varies: false };
      }
    }
  }

  /** True when `callee` applied to vectors acts element by element (built-ins, and user functions built from them). */
  private elementwise(callee: string, arity: number, visiting: Set<string>): boolean {
    const b = BUILTINS.get(callee as never);
    if (b) return b.kind === 'elementwise' && b.arity === arity;
    if (LOWERED.has(callee)) return LOWERED.get(callee) === arity;
    const f = this.functions.get(callee);
    if (!f || f.params.length !== arity || visiting.has(callee)) return false;
    visiting.add(callee);
    const stack = [f.body];
    while (stack.length > 0) {
      const e = stack.pop() as Expr;
      if (e.kind === 'binary' && e.op === '@') return false;
      if (e.kind === 'index' || e.kind === 'vector' || e.kind === 'stateAtEnd' || e.kind === 'stateAtData')
        return false;
      if (e.kind === 'call' && !this.elementwise(e.callee.toLowerCase(), e.args.length, visiting)) return false;
      stack.push(...subexpressions(e));
    }
    visiting.delete(callee);
    return true;
  }

  /** A copy of `e` in which every element `u5` reads `u[5]` (and `u5(T)` reads `u(T)[5]`). */
  private rewrite(e: Expr): Expr {
    switch (e.kind) {
      case 'name': {
        const el = this.elementOf(e.name);
        return el
          ? {
              kind: 'index',
              target: { kind: 'name', name: el.family.base, range: e.range },
              indices: [el.k],
              range: e.range,
            }
          : e;
      }
      case 'call': {
        const args = e.args.map((a) => this.rewrite(a));
        const el = this.elementOf(e.callee);
        if (el)
          return { kind: 'index', target: { ...e, callee: el.family.base, args }, indices: [el.k], range: e.range };
        return { ...e, args };
      }
      case 'unary':
        return { ...e, operand: this.rewrite(e.operand) };
      case 'binary':
        return { ...e, left: this.rewrite(e.left), right: this.rewrite(e.right) };
      case 'vector':
        return { ...e, elements: e.elements.map((x) => this.rewrite(x)) };
      case 'index':
        return { ...e, target: this.rewrite(e.target) };
      case 'if':
        return { ...e, cond: this.rewrite(e.cond), then: this.rewrite(e.then), else: this.rewrite(e.else) };
      default:
        return e;
    }
  }

  private rewriteStatement(s: Statement): Statement {
    switch (s.kind) {
      case 'equation':
        return { ...s, rhs: this.rewrite(s.rhs) };
      case 'fixed':
      case 'aux':
      case 'loss':
        return { ...s, expr: this.rewrite(s.expr) };
      case 'function':
        return { ...s, body: this.rewrite(s.body) };
      case 'number':
        return { ...s, items: s.items.map((i) => ({ ...i, value: this.rewrite(i.value) })) };
      case 'param':
        return {
          ...s,
          items: s.items.map((i) =>
            !i.init
              ? i
              : i.init.kind === 'value'
                ? { ...i, init: { ...i.init, value: this.rewrite(i.init.value) } }
                : { ...i, init: { ...i.init, mean: this.rewrite(i.init.mean), std: this.rewrite(i.init.std) } },
          ),
        };
      default:
        return s;
    }
  }
}

class NotVectorizable extends Error {}

function stripRanges(key: string, value: unknown): unknown {
  return key === 'range' || key === 'opRange' || key === 'calleeRange' ? undefined : value;
}

/** The program with its complete XPPAUT arrays as tensor states, or undefined when that does not apply. */
export function vectorizeArrays(program: Program, origins: ReadonlyMap<Statement, ArrayOrigin>): Program | undefined {
  return new Vectorizer(program, origins).run();
}
