// The fused right-hand side of a small model (XPPAUT style: scalars, or a few
// small vectors and matrices). One TF.js kernel per evaluation instead of one
// per operation: the expressions run element by element as a flat instruction
// list in JS (each result rounded to float32, as TF.js computes), and reverse
// mode over the same list gives the vector–Jacobian products — registered with
// tf.customGrad, so the unrolled solve is still differentiated by TF.js's tape.
// Small models spend nearly all their time on per-kernel overhead (~5 µs
// each), so this is where their checks get fast.
import { balancedTerms, LOOP_FROM_TERMS, type Expr, type Model } from '../model';
import type { TF, Tensor } from './tf';
import { broadcastAll, broadcastIndex, elementCount } from '../ops/shapes';
import { modelFunction, NEGATE, OPERATORS, POWER_FORMS, type BinaryOp, type UnaryOp } from '../ops/table';
import type { Instr, LoopInstr, ScalarProgram } from './scalarProgram';
import { interpreterOf, outputValue, WANT_BOTH, WANT_PARAMS, WANT_STATES, type Wanted } from './programInterpreter';
import { concatElements } from './statePath';

export type { Instr, ScalarProgram } from './scalarProgram';
export { LOOP_FROM_TERMS } from '../model';

/**
 * Most state and parameter elements a fused model with a matrix (a state or parameter of rank 2) may
 * have: every product unrolls into one instruction per element, so a per-step MLP stays with TF.js's
 * kernels. Models of scalars and vectors have no such bound (their cost is weighed instead).
 */
export const MAX_FUSED_ELEMENTS = 32;

/** Most instructions a fused program may have (about 100 bytes each): a larger model uses one kernel per operation. */
export const MAX_FUSED_INSTRUCTIONS = 500_000;

/**
 * The per-operation compile's cost per evaluation, in the unit of one fused instruction: a TF.js kernel
 * costs about 5 µs at these sizes, an instruction about 25 ns; an element of a kernel's result or a
 * multiply-add of a product about 1/10 of an instruction.
 */
const KERNEL_COST = 200,
  ELEMENT_COST = 0.1;

/** A value during compilation: its shape in the language and its elements' instructions, row-major. */
interface Val {
  shape: number[];
  slots: number[];
}

/** Thrown while building a program past MAX_FUSED_INSTRUCTIONS. */
class TooLarge extends Error {}

/** Running sums: a[i] is the sum of sizes before i. */
const offsets = (sizes: number[]) => {
  const at: number[] = [];
  let sum = 0;
  for (const n of sizes) {
    at.push(sum);
    sum += n;
  }
  return at;
};

/**
 * Compiles a model's right-hand sides (scalars and vectors of any size, or matrices in models of at
 * most MAX_FUSED_ELEMENTS elements) element by element, or returns undefined (an expression outside the
 * fused subset, or a model the per-operation compile runs faster). `always`: whatever the per-operation
 * compile would cost (a Markov chain's realisation steps through the program one step at a time).
 */
export function compileScalarProgram(model: Model, always = false): ScalarProgram | undefined {
  // A check asks for one model's program several times (its size class, its events' programs, its compile): the
  // first answer is kept while the model lives (a model is not changed once analysed), and so is the program's
  // interpreter with it (programInterpreter.ts's interpreterOf).
  const memo = compiledPrograms[always ? 1 : 0];
  const known = memo.get(model);
  if (known !== undefined) return known ?? undefined;
  const program = buildScalarProgram(model, always);
  memo.set(model, program ?? null);
  return program;
}

const compiledPrograms = [new WeakMap<Model, ScalarProgram | null>(), new WeakMap<Model, ScalarProgram | null>()];

function buildScalarProgram(model: Model, always: boolean): ScalarProgram | undefined {
  const stateSizes = model.states.map((s) => elementCount(s.shape)),
    paramSizes = model.params.map((p) => elementCount(p.shape));
  const S = stateSizes.reduce((a, b) => a + b, 0),
    Q = paramSizes.reduce((a, b) => a + b, 0);
  const all = [...model.states, ...model.params];
  if (
    model.states.length === 0 ||
    all.some((x) => x.shape.length > 2) ||
    (!always && S + Q > MAX_FUSED_ELEMENTS && all.some((x) => x.shape.length === 2))
  )
    return undefined;
  const program = new ProgramBuilder(model, stateSizes, paramSizes, true);
  const equations = new Map(model.equations.map((q) => [q.state, q]));
  const outputs: number[] = [];
  const residuals: number[] = [];
  try {
    for (const g of model.algebraic?.equations ?? []) {
      const v = program.walk(g.rhs);
      if (!v || v.slots.length !== 1) return undefined;
      residuals.push(v.slots[0]);
    }
    for (const [i, s] of model.states.entries()) {
      const eq = equations.get(s.name);
      if (!eq) {
        for (let k = 0; k < stateSizes[i]; k++) outputs.push(-1);
        continue;
      }
      const v = program.walk(eq.rhs);
      // f broadcast to its state's shape, as the per-operation compile conforms it.
      const idx =
        v && broadcastAll([v.shape, s.shape])?.join() === s.shape.join() ? broadcastIndex(v.shape, s.shape) : undefined;
      if (!v || !idx) return undefined;
      for (const k of idx) outputs.push(v.slots[k]);
    }
  } catch (e) {
    if (e instanceof TooLarge) return undefined;
    throw e;
  }
  // A DAE's Newton solve has no history to differentiate a delay read through (compile.ts refuses the model).
  if (program.delays && model.algebraic) return undefined;
  // A model with tensors fuses only when that saves time: flattening its parameters and states and
  // splitting f cost about one kernel per tensor (A @ x + c is two kernels either way), and a long
  // vector costs an instruction per element where a kernel handles it at once. All-scalar models
  // always fuse: their states are packed into one vector (CompiledModel.packed).
  const tensors = all.some((x) => x.shape.length > 0);
  if (tensors && !model.algebraic && !always) {
    const kernels = program.operations - model.states.length - model.params.length - 1;
    if (kernels <= 0 || program.cost() >= kernels * KERNEL_COST + program.perOperationWork * ELEMENT_COST)
      return undefined;
  }
  return {
    code: program.code,
    outputs,
    states: S,
    params: Q,
    stateSizes,
    paramSizes,
    usesTime: program.usesTime,
    ...(program.delays ? { delays: true } : {}),
    ...(model.algebraic
      ? {
          algebraic: {
            residuals,
            guesses: model.algebraic.variables.map((v) => v.guess),
            names: model.algebraic.variables.map((v) => v.name),
          },
        }
      : {}),
  };
}

/**
 * Scalar expressions of the model's states, parameters and t (XPPAUT events' conditions and reset values)
 * as one program whose outputs are the expressions in order; undefined when one is outside the fused
 * subset or not a scalar.
 */
export function compileScalarExpressions(model: Model, exprs: readonly Expr[]): ScalarProgram | undefined {
  const stateSizes = model.states.map((s) => elementCount(s.shape)),
    paramSizes = model.params.map((p) => elementCount(p.shape));
  if ([...model.states, ...model.params].some((x) => x.shape.length > 2)) return undefined;
  const program = new ProgramBuilder(model, stateSizes, paramSizes);
  const outputs: number[] = [];
  try {
    for (const e of exprs) {
      const v = program.walk(e);
      if (!v || v.slots.length !== 1) return undefined;
      outputs.push(v.slots[0]);
    }
  } catch (e) {
    if (e instanceof TooLarge) return undefined;
    throw e;
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    code: program.code,
    outputs,
    states: sum(stateSizes),
    params: sum(paramSizes),
    stateSizes,
    paramSizes,
    usesTime: program.usesTime,
  };
}

const f32 = Math.fround;

type BinaryExpr = Extract<Expr, { kind: 'binary' }>;

/** The constant rows [n,1] and columns [m] of a selection product `(rows == cols) @ x`. */
interface Selection {
  rows: number[];
  cols: number[];
}

/** The numbers of a literal vector, or undefined. */
function literal(e: Expr): number[] | undefined {
  if (e.kind !== 'vector') return undefined;
  const out: number[] = [];
  for (const x of e.elements) {
    if (x.kind !== 'number') return undefined;
    out.push(x.value);
  }
  return out;
}

function selectionOf(e: BinaryExpr): Selection | undefined {
  const m = e.left;
  if (e.op !== '@' || m.kind !== 'binary' || m.op !== '==' || m.left.kind !== 'vector') return undefined;
  const rows: number[] = [];
  for (const r of m.left.elements) {
    const one = literal(r);
    if (one?.length !== 1) return undefined;
    rows.push(one[0]);
  }
  const cols = literal(m.right);
  return cols && rows.length > 0 && cols.length > 0 ? { rows, cols } : undefined;
}

/** A loop body operand: a program slot read by every iteration, or a body row. */
type Side = { outer: number } | { row: number };

const fnIds = new WeakMap<object, number>();
let nextFnId = 0;
/** A function's identity in keys (tables' operations are distinct objects). */
const fnKey = (fn: object): number => {
  let id = fnIds.get(fn);
  if (id === undefined) fnIds.set(fn, (id = nextFnId++));
  return id;
};

const bodyKey = (c: LoopInstr): string => {
  switch (c.op) {
    case 'gather':
      return `g${c.slots.join()}`;
    case 'outer':
      return `o${c.slot}`;
    case 'unary':
      return `u${fnKey(c.fn)},${c.a}`;
    case 'binary':
      return `b${fnKey(c.fn)},${c.a},${c.b}`;
    case 'select':
      return `?${c.c},${c.a},${c.b}`;
  }
};

/** A loop's body under construction: equal body instructions are emitted once. */
class LoopBody {
  readonly code: LoopInstr[] = [];
  private readonly known = new Map<string, number>();
  add(c: LoopInstr): number {
    const key = bodyKey(c);
    const at = this.known.get(key);
    if (at !== undefined) return at;
    this.code.push(c);
    this.known.set(key, this.code.length - 1);
    return this.code.length - 1;
  }
  gather(slots: number[]): number {
    return this.add({ op: 'gather', slots });
  }
  /** The body without the rows the term does not read (a gather replaced by a gather of computed elements), and the term's row. */
  compact(term: number): { code: LoopInstr[]; term: number } {
    const live = new Uint8Array(this.code.length);
    live[term] = 1;
    for (let b = term; b >= 0; b--) {
      if (!live[b]) continue;
      const c = this.code[b];
      if (c.op === 'unary') live[c.a] = 1;
      else if (c.op === 'binary') live[c.a] = live[c.b] = 1;
      else if (c.op === 'select') live[c.c] = live[c.a] = live[c.b] = 1;
    }
    const at = new Int32Array(this.code.length);
    const code: LoopInstr[] = [];
    this.code.forEach((c, b) => {
      if (!live[b]) return;
      at[b] = code.length;
      if (c.op === 'unary') code.push({ ...c, a: at[c.a] });
      else if (c.op === 'binary') code.push({ ...c, a: at[c.a], b: at[c.b] });
      else if (c.op === 'select') code.push({ ...c, c: at[c.c], a: at[c.a], b: at[c.b] });
      else code.push(c);
    });
    return { code, term: at[term] };
  }
  /** The operand as a body row (a slot every iteration reads becomes an `outer` row). */
  row(s: Side): number {
    return 'row' in s ? s.row : this.add({ op: 'outer', slot: s.outer });
  }
}

/** Builds the instruction list of a model's expressions, one instruction per element and operation. */
class ProgramBuilder {
  readonly code: Instr[] = [];
  usesTime = false;
  /** AST operations: about the kernels the per-operation compile launches per evaluation. */
  operations = 0;
  /** Elements the per-operation compile's kernels produce, and multiply-adds of its products, per evaluation. */
  perOperationWork = 0;
  /** Terms of the program's sums and products (each costs a fraction of an instruction). */
  private dotTerms = 0;
  private readonly emitted = new Map<string, number>();
  /** The values of operations walked so far, by expression object, with what they added to the counts. */
  private readonly walked = new WeakMap<Expr, { v: Val | undefined; operations: number; work: number }>();
  private readonly fnIds = new Map<object, number>();
  private readonly stateAt: number[];
  private readonly paramAt: number[];
  private readonly states: Map<string, number>;
  private readonly params: Map<string, number>;

  /** The program reads delays. */
  delays = false;
  /** Per slot: its value is a constant (readsNothing). */
  private readonly constant: boolean[] = [];

  constructor(
    private readonly model: Model,
    private readonly stateSizes: number[],
    private readonly paramSizes: number[],
    /** `delay(x, tau)` compiles (a right-hand side's program; events' programs have no history to read). */
    private readonly withDelays = false,
  ) {
    this.stateAt = offsets(stateSizes);
    this.paramAt = offsets(paramSizes);
    this.states = new Map(model.states.map((s, i) => [s.name, i]));
    this.params = new Map(model.params.map((p, i) => [p.name, i]));
    // A DAE's algebraic variables are solved by the right-hand side's program only (events' programs have none).
    this.algebraic = new Map(withDelays ? (model.algebraic?.variables ?? []).map((v, i) => [v.name, i]) : []);
  }
  private readonly algebraic: Map<string, number>;

  /**
   * The instruction's slot: an equal instruction emitted before is reused (a fixed quantity inlined into
   * every equation, or a state read in several, is computed once per evaluation; same inputs, same value).
   */
  private emit(ins: Instr): number {
    const folded = this.folded(ins);
    if (folded !== undefined) ins = { op: 'const', value: folded };
    const key = this.keyOf(ins);
    const known = this.emitted.get(key);
    if (known !== undefined) return known;
    if (this.code.length >= MAX_FUSED_INSTRUCTIONS) throw new TooLarge();
    this.code.push(ins);
    this.constant.push(this.readsNothing(ins));
    this.emitted.set(key, this.code.length - 1);
    return this.code.length - 1;
  }

  /**
   * The value of a function of numbers, as every evaluation would compute it (the interpreter's float32 rounding
   * of the operands and the result, the table's function), or undefined. Emitted as a number, `abs(-3)` and `abs(3)`
   * are the same instruction, so `tau*abs(i')` and the delayed reads of an indexed sum at ±i are emitted once.
   */
  private folded(c: Instr): number | undefined {
    const num = (k: number) => {
      const x = this.code[k];
      return x.op === 'const' ? f32(x.value) : undefined;
    };
    if (c.op === 'unary') {
      const a = num(c.a);
      return a === undefined ? undefined : f32(c.fn.value(a));
    }
    if (c.op === 'binary') {
      const a = num(c.a),
        b = num(c.b);
      return a === undefined || b === undefined ? undefined : f32(c.fn.value(a, b));
    }
    if (c.op === 'select') {
      const q = num(c.c),
        a = num(c.a),
        b = num(c.b);
      // As the interpreter: |c| > 0 takes a (NaN takes b).
      return q === undefined || a === undefined || b === undefined ? undefined : Math.abs(q) > 0 ? a : b;
    }
    return undefined;
  }

  /** Whether an instruction reads no state, parameter, t or delay (the per-operation compile folds such a value into a constant). */
  private readsNothing(c: Instr): boolean {
    const k = this.constant;
    switch (c.op) {
      case 'const':
        return true;
      case 'unary':
        return k[c.a];
      case 'binary':
        return k[c.a] && k[c.b];
      case 'select':
        return k[c.c] && k[c.a] && k[c.b];
      case 'dot':
        return c.a.every((x) => k[x]) && (c.b ?? []).every((x) => k[x]);
      case 'loop':
        return c.body.every((b) => (b.op === 'gather' ? b.slots.every((x) => k[x]) : b.op !== 'outer' || k[b.slot]));
      default:
        return false;
    }
  }

  private keyOf(c: Instr): string {
    switch (c.op) {
      case 'const':
        return `c${Object.is(c.value, -0) ? '-0' : c.value}`;
      case 'state':
        return `s${c.index}`;
      case 'param':
        return `p${c.index}`;
      case 't':
        return 't';
      case 'alg':
        return `z${c.index}`;
      case 'unary':
        return `u${this.fnId(c.fn)},${c.a}`;
      case 'binary':
        return `b${this.fnId(c.fn)},${c.a},${c.b}`;
      case 'select':
        return `?${c.c},${c.a},${c.b}`;
      case 'dot':
        return `d${c.a.join()}${c.b ? `;${c.b.join()}` : ''}`;
      case 'delay':
        return `D${c.index},${c.tau}`;
      case 'loop':
        return `L${c.count},${c.term};${c.body.map(bodyKey).join(';')}`;
    }
  }

  private fnId(fn: object): number {
    let id = this.fnIds.get(fn);
    if (id === undefined) this.fnIds.set(fn, (id = this.fnIds.size));
    return id;
  }

  /** The program's cost per evaluation, in instructions. */
  cost(): number {
    return this.code.length + this.dotTerms * ELEMENT_COST + this.loopWork;
  }
  /** Body instructions the loops run per evaluation (each about an instruction, as the terms written out). */
  private loopWork = 0;

  /**
   * A marked sum of K same-shaped scalar terms (model.ts's `terms`) as one loop instruction: the terms are
   * walked side by side; what every term shares is computed once before the loop, what varies with the term
   * is read per iteration (gathered), and the rest is the body. Undefined when the terms differ in shape
   * (the sum is then written out).
   */
  private loopSum(e: BinaryExpr, K: number): number | undefined {
    if (K < LOOP_FROM_TERMS) return undefined;
    const terms = balancedTerms(e, K);
    if (!terms) return undefined;
    const body = new LoopBody();
    const term = this.side(terms, body);
    if (!term) return undefined;
    const live = body.compact(body.row(term));
    // Terms that are elements computed in the program (w·u_m with one weight w): their written-out tree, whose
    // partial sums equal instructions share between the sums that add the same elements.
    const only = live.code[live.term];
    if (live.code.length === 1 && only.op === 'gather') return this.pairwise(only.slots);
    const k = this.emit({ op: 'loop', count: K, body: live.code, term: live.term });
    if (k === this.code.length - 1) this.loopWork += K * (live.code.length + 1);
    return k;
  }

  /** The slots added as balancedSum's tree adds its terms. */
  private pairwise(slots: number[]): number {
    let level = slots;
    while (level.length > 1) {
      const next: number[] = [];
      for (let k = 0; k + 1 < level.length; k += 2)
        next.push(this.emit({ op: 'binary', fn: OPERATORS['+'], a: level[k], b: level[k + 1] }));
      if (level.length % 2 === 1) next.push(level[level.length - 1]);
      level = next;
    }
    return level[0];
  }

  /**
   * Unary fn on a side-by-side operand: computed once when it does not vary; of gathered elements, once per
   * element in the program (heav(u_m) read by every sum of a lattice is computed once, not once per term),
   * and gathered; else a body instruction.
   */
  private apply1(fn: UnaryOp, a: Side, body: LoopBody): Side {
    if ('outer' in a) return { outer: this.emit({ op: 'unary', fn, a: a.outer }) };
    const read = body.code[a.row];
    if (read.op === 'gather') return { row: body.gather(read.slots.map((k) => this.emit({ op: 'unary', fn, a: k }))) };
    return { row: body.add({ op: 'unary', fn, a: a.row }) };
  }
  /**
   * Binary fn on side-by-side operands: as apply1, a gathered element with a number or a parameter (the same
   * in every sum: `w·u_m` with one weight) is computed once per element in the program and gathered.
   */
  private apply2(fn: BinaryOp, a: Side, b: Side, body: LoopBody): Side {
    if ('outer' in a && 'outer' in b) return { outer: this.emit({ op: 'binary', fn, a: a.outer, b: b.outer }) };
    const shared = (x: Side) => 'outer' in x && (this.constant[x.outer] || this.code[x.outer].op === 'param');
    const gathered = (x: Side) => ('row' in x ? body.code[x.row] : undefined);
    const ga = gathered(a),
      gb = gathered(b);
    if (ga?.op === 'gather' && shared(b) && 'outer' in b)
      return { row: body.gather(ga.slots.map((k) => this.emit({ op: 'binary', fn, a: k, b: b.outer }))) };
    if (gb?.op === 'gather' && shared(a) && 'outer' in a)
      return { row: body.gather(gb.slots.map((k) => this.emit({ op: 'binary', fn, a: a.outer, b: k }))) };
    return { row: body.add({ op: 'binary', fn, a: body.row(a), b: body.row(b) }) };
  }

  /** The K terms' subexpressions at one position, walked side by side (scalars only); undefined: they differ. */
  private side(xs: Expr[], body: LoopBody): Side | undefined {
    const e = xs[0];
    if (!xs.every((x) => x.kind === e.kind && x.shape?.length === 0)) return undefined;
    switch (e.kind) {
      case 'number': {
        const values = (xs as (typeof e)[]).map((x) => x.value);
        if (values.every((v) => Object.is(v, e.value))) return { outer: this.emit({ op: 'const', value: e.value }) };
        return { row: body.gather(values.map((value) => this.emit({ op: 'const', value }))) };
      }
      case 'name': {
        const slots: number[] = [];
        for (const x of xs as (typeof e)[]) {
          const v = this.name(x.name);
          if (!v || v.slots.length !== 1) return undefined;
          slots.push(v.slots[0]);
        }
        return slots.every((k) => k === slots[0]) ? { outer: slots[0] } : { row: body.gather(slots) };
      }
      case 'unary': {
        const us = xs as (typeof e)[];
        if (!us.every((x) => x.op === e.op)) return undefined;
        const a = this.side(
          us.map((x) => x.operand),
          body,
        );
        return a && (e.op === '+' ? a : this.apply1(NEGATE, a, body));
      }
      case 'binary': {
        const bs = xs as (typeof e)[];
        if (e.op === '@' || !bs.every((x) => x.op === e.op && x.terms === undefined)) return undefined;
        const a = this.side(
          bs.map((x) => x.left),
          body,
        );
        if (!a) return undefined;
        if (e.op === '^') {
          // As `operand`: x^1, x^2, x^0.5, x^-1 by their own functions, so every term must take the same form.
          const form = e.right.kind === 'number' ? POWER_FORMS.get(e.right.value) : undefined;
          const r0 = e.right;
          const same = bs.every(
            (x) => x.right.kind === 'number' && r0.kind === 'number' && Object.is(x.right.value, r0.value),
          );
          if (form && !same) return undefined;
          if (!form && bs.some((x) => x.right.kind === 'number' && POWER_FORMS.has(x.right.value))) return undefined;
          if (form === 'identity') return a;
          if (form) return this.apply1(form, a, body);
        }
        if (!Object.hasOwn(OPERATORS, e.op)) return undefined;
        const b = this.side(
          bs.map((x) => x.right),
          body,
        );
        return b && this.apply2(OPERATORS[e.op], a, b, body);
      }
      case 'call': {
        const cs = xs as (typeof e)[];
        if (e.callee === 'delay' || !cs.every((x) => x.callee === e.callee && x.args.length === e.args.length))
          return undefined;
        const fn = modelFunction(this.model.tables, e.callee, e.args.length);
        if (!fn || fn.kind === 'reduce' || fn.arity !== e.args.length) return undefined;
        const args: Side[] = [];
        for (let i = 0; i < e.args.length; i++) {
          const a = this.side(
            cs.map((x) => x.args[i]),
            body,
          );
          if (!a) return undefined;
          args.push(a);
        }
        if (fn.arity === 1) return this.apply1(fn, args[0], body);
        if (fn.arity === 2) return this.apply2(fn, args[0], args[1], body);
        return undefined;
      }
      case 'if': {
        const is = xs as (typeof e)[];
        const c = this.side(
          is.map((x) => x.cond),
          body,
        );
        const a =
          c &&
          this.side(
            is.map((x) => x.then),
            body,
          );
        const b =
          a &&
          this.side(
            is.map((x) => x.else),
            body,
          );
        if (!c || !a || !b) return undefined;
        if ('outer' in c && 'outer' in a && 'outer' in b)
          return { outer: this.emit({ op: 'select', c: c.outer, a: a.outer, b: b.outer }) };
        return { row: body.add({ op: 'select', c: body.row(c), a: body.row(a), b: body.row(b) }) };
      }
      default:
        return undefined;
    }
  }
  private scalar(k: number): Val {
    return { shape: [], slots: [k] };
  }
  private map(a: Val, f: (k: number) => number): Val {
    return { shape: a.shape, slots: a.slots.map(f) };
  }
  private unary(fn: UnaryOp, a: Val): Val {
    return this.map(a, (k) => this.emit({ op: 'unary', fn, a: k }));
  }

  /** An elementwise operation on broadcast operands. */
  private zip(vals: Val[], f: (ks: number[]) => number): Val | undefined {
    const shape = broadcastAll(vals.map((v) => v.shape));
    if (!shape) return undefined;
    const idx = vals.map((v) => broadcastIndex(v.shape, shape)!);
    return { shape, slots: idx[0].map((_k, e) => f(vals.map((v, j) => v.slots[idx[j][e]]))) };
  }

  private binaryOp(fn: BinaryOp, a: Val, b: Val): Val | undefined {
    return this.zip([a, b], ([x, y]) => this.emit({ op: 'binary', fn, a: x, b: y }));
  }

  /** Σ a_i·b_i, or Σ a_i without b: one instruction (a scalar). */
  private dot(a: number[], b?: number[]): number {
    const k = this.emit({ op: 'dot', a, b });
    if (k === this.code.length - 1) this.dotTerms += a.length;
    return k;
  }

  /** [m,n]@[n] → [m]; [n]@[n,k] → [k]; [m,n]@[n,k] → [m,k]; [n]@[n] → a scalar. */
  private matmul(a: Val, b: Val): Val | undefined {
    if (a.shape.length === 0 || b.shape.length === 0) return undefined;
    const [m, n] = a.shape.length === 2 ? a.shape : [1, a.shape[0]];
    const k = b.shape.length === 2 ? b.shape[1] : 1;
    if (b.shape[0] !== n) return undefined;
    const slots: number[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < k; j++)
        slots.push(
          this.dot(
            a.slots.slice(i * n, (i + 1) * n),
            Array.from({ length: n }, (_x, r) => b.slots[r * k + j]),
          ),
        );
    return { shape: [...(a.shape.length === 2 ? [m] : []), ...(b.shape.length === 2 ? [k] : [])], slots };
  }

  /** The elements of an expression, or undefined outside the fused subset. */
  walk(e: Expr): Val | undefined {
    const operation = e.kind !== 'number' && e.kind !== 'name' && !(e.kind === 'unary' && e.op === '+');
    if (!operation) return this.node(e);
    // The same checked subexpression read by several formulas (a network function's element in each equation)
    // is walked once: its instructions are the same (emit reuses them); its per-operation cost counts each read.
    const known = this.walked.get(e);
    if (known) {
      this.operations += known.operations;
      this.perOperationWork += known.work;
      return known.v;
    }
    const [ops, work] = [this.operations, this.perOperationWork];
    this.operations++;
    const v = this.node(e);
    if (v && e.kind !== 'binary') this.perOperationWork += v.slots.length;
    this.walked.set(e, { v, operations: this.operations - ops, work: this.perOperationWork - work });
    return v;
  }

  private node(e: Expr): Val | undefined {
    switch (e.kind) {
      case 'number':
        return this.scalar(this.emit({ op: 'const', value: e.value }));
      case 'name':
        return this.name(e.name);
      case 'unary': {
        const a = this.walk(e.operand);
        if (a === undefined) return undefined;
        return e.op === '+' ? a : this.unary(NEGATE, a);
      }
      case 'binary': {
        const sel = selectionOf(e);
        if (sel) return this.selection(e, sel);
        const loop = e.terms !== undefined ? this.loopSum(e, e.terms) : undefined;
        return loop !== undefined ? this.scalar(loop) : this.binary(e);
      }
      case 'call':
        return this.call(e);
      case 'vector': {
        const els: Val[] = [];
        for (const x of e.elements) {
          const v = this.walk(x);
          if (v === undefined || v.shape.length > 1 || v.shape.join() !== (els[0] ?? v).shape.join()) return undefined;
          els.push(v);
        }
        return els.length === 0
          ? undefined
          : { shape: [els.length, ...els[0].shape], slots: els.flatMap((v) => v.slots) };
      }
      case 'index':
        return this.index(e);
      case 'if': {
        const c = this.walk(e.cond),
          a = this.walk(e.then),
          b = this.walk(e.else);
        return c === undefined || a === undefined || b === undefined
          ? undefined
          : this.zip([c, a, b], ([x, y, z]) => this.emit({ op: 'select', c: x, a: y, b: z }));
      }
      default:
        return undefined;
    }
  }

  private name(name: string): Val | undefined {
    const model = this.model;
    const si = this.states.get(name);
    if (si !== undefined)
      return {
        shape: model.states[si].shape.slice(),
        slots: Array.from({ length: this.stateSizes[si] }, (_x, k) =>
          this.emit({ op: 'state', index: this.stateAt[si] + k }),
        ),
      };
    const pi = this.params.get(name);
    if (pi !== undefined)
      return {
        shape: model.params[pi].shape.slice(),
        slots: Array.from({ length: this.paramSizes[pi] }, (_x, k) =>
          this.emit({ op: 'param', index: this.paramAt[pi] + k }),
        ),
      };
    if (name === 't') {
      this.usesTime = true;
      return this.scalar(this.emit({ op: 't' }));
    }
    if (name === 'pi') return this.scalar(this.emit({ op: 'const', value: Math.PI }));
    const zi = this.algebraic.get(name);
    if (zi !== undefined) return this.scalar(this.emit({ op: 'alg', index: zi }));
    return undefined;
  }

  /**
   * A chain of binary operations. A long sum is a chain of left operands as deep as it is long (the
   * parser bounds every other nesting), so the chain is walked in a loop, from its innermost operand out.
   */
  private binary(e: BinaryExpr): Val | undefined {
    const chain: BinaryExpr[] = [e];
    let inner: Expr = e.left;
    while (inner.kind === 'binary' && !selectionOf(inner) && inner.terms === undefined) {
      chain.push(inner);
      inner = inner.left;
    }
    this.operations += chain.length - 1; // walk() counted e
    let a = this.walk(inner);
    for (let i = chain.length - 1; i >= 0 && a !== undefined; i--) {
      a = this.operand(chain[i], a);
      if (a) this.perOperationWork += a.slots.length;
    }
    return a;
  }

  /** `e` applied to its left operand's value `a`. */
  private operand(e: BinaryExpr, a: Val): Val | undefined {
    if (e.op === '^') {
      // As the compiler: x^1, x^2, x^0.5, x^-1 by their own functions, else pow.
      const form = e.right.kind === 'number' ? POWER_FORMS.get(e.right.value) : undefined;
      if (form === 'identity') return a;
      if (form) return this.unary(form, a);
      const b = this.walk(e.right);
      return b === undefined ? undefined : this.binaryOp(OPERATORS['^'], a, b);
    }
    const b = this.walk(e.right);
    if (b === undefined) return undefined;
    if (e.op === '@') {
      this.perOperationWork += a.slots.length * (b.shape.length === 2 ? b.shape[1] : 1);
      return this.matmul(a, b);
    }
    return Object.hasOwn(OPERATORS, e.op) ? this.binaryOp(OPERATORS[e.op], a, b) : undefined;
  }

  /**
   * `(rows == cols) @ x` with constant rows [n,1] and cols [m]: the 0/1 selection matrix the array
   * rewriting writes (language/vectorize.ts). Row i of the product is the sum of x's rows c where
   * rows[i] = cols[c] (usually one: the element itself), so it costs about n instructions, not n·m.
   */
  private selection(e: BinaryExpr, sel: Selection): Val | undefined {
    const x = this.walk(e.right);
    if (x === undefined || x.shape.length === 0 || x.shape[0] !== sel.cols.length) return undefined;
    const k = x.shape.length === 2 ? x.shape[1] : 1;
    this.perOperationWork += sel.rows.length * sel.cols.length * (1 + k);
    const where = new Map<number, number[]>();
    sel.cols.forEach((c, j) => {
      const list = where.get(c);
      if (list) list.push(j);
      else where.set(c, [j]);
    });
    let zero: number | undefined;
    const slots: number[] = [];
    for (const r of sel.rows)
      for (let col = 0; col < k; col++) {
        const picked = (where.get(r) ?? []).map((j) => x.slots[j * k + col]);
        if (picked.length === 1) slots.push(picked[0]);
        else if (picked.length > 1) slots.push(this.dot(picked));
        else slots.push((zero ??= this.emit({ op: 'const', value: 0 })));
      }
    return { shape: x.shape.length === 2 ? [sel.rows.length, k] : [sel.rows.length], slots };
  }

  private call(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    if (e.callee === 'delay') return this.delay(e);
    const args: Val[] = [];
    for (const x of e.args) {
      const v = this.walk(x);
      if (v === undefined) return undefined;
      args.push(v);
    }
    const [a, b] = args;
    const fn = modelFunction(this.model.tables, e.callee, args.length);
    if (fn?.kind === 'reduce') return fn.fusedAsSum ? this.scalar(this.dot(a.slots)) : undefined;
    if (fn?.arity === 1 && args.length === 1) return this.unary(fn, a);
    if (fn?.arity === 2 && args.length === 2) return this.binaryOp(fn, a, b);
    return undefined;
  }

  /**
   * `delay(x, tau)` of a state x with a scalar tau: one delay instruction per element of x (the whole-solve
   * kernel reads them from the solve's history, scalarKernel/delays.ts). Not in programs of events.
   */
  private delay(e: Extract<Expr, { kind: 'call' }>): Val | undefined {
    const [target, lag] = e.args;
    const si = this.withDelays && target?.kind === 'name' && lag ? this.states.get(target.name) : undefined;
    if (si === undefined) return undefined;
    const tau = this.walk(lag);
    if (tau === undefined || tau.slots.length !== 1) return undefined;
    const constant = this.constant[tau.slots[0]];
    this.delays = true;
    return {
      shape: this.model.states[si].shape.slice(),
      slots: Array.from({ length: this.stateSizes[si] }, (_x, k) =>
        this.emit({ op: 'delay', index: this.stateAt[si] + k, tau: tau.slots[0], constant }),
      ),
    };
  }

  private index(e: Extract<Expr, { kind: 'index' }>): Val | undefined {
    const a = this.walk(e.target);
    if (a === undefined || e.indices.length === 0 || e.indices.length > a.shape.length) return undefined;
    const at = e.indices.map((i, d) => (i < 0 ? a.shape[d] + i : i));
    if (at.some((k, d) => !Number.isInteger(k) || k < 0 || k >= a.shape[d])) return undefined;
    if (a.shape.length === 1) return this.scalar(a.slots[at[0]]);
    const n = a.shape[1];
    return at.length === 2
      ? this.scalar(a.slots[at[0] * n + at[1]])
      : { shape: [n], slots: a.slots.slice(at[0] * n, (at[0] + 1) * n) };
  }
}

/** Forward pass: every instruction's value (float32-rounded) at (s, p, t); the states from s[sAt] on (a batch element's, without a view). */
export function evaluate(
  prog: ScalarProgram,
  s: ArrayLike<number>,
  p: ArrayLike<number>,
  t: number,
  vals = new Float64Array(prog.code.length),
  sAt = 0,
): Float64Array {
  interpreterOf(prog).forward(s, sAt, p, t, vals);
  return vals;
}

/**
 * Reverse pass from the cotangents of the outputs: adds (∂f/∂s)ᵀcot into vs and (∂f/∂p)ᵀcot into vp.
 * `adj` is scratch of the program's length (cleared here), reused by callers that sweep many evaluations.
 */
export function reverse(
  prog: ScalarProgram,
  vals: Float64Array,
  cot: ArrayLike<number>,
  vs: Float64Array,
  vp: Float64Array,
  adj = new Float64Array(prog.code.length),
  want: Wanted = WANT_BOTH,
): void {
  interpreterOf(prog).reverse(vals, cot, vs, vp, adj, want);
}

function outputsOf(prog: ScalarProgram, vals: Float64Array): Float32Array {
  const outputs = prog.outputs,
    out = new Float32Array(outputs.length);
  for (let i = 0; i < outputs.length; i++) out[i] = outputValue(vals, outputs[i]);
  return out;
}

/**
 * The fused CompiledModel members: rhs (one differentiable kernel), rhsVjp, rhsLinearize and the
 * batched rhs. `stateShapes` and `paramShapes` are the tensors' internal shapes (engine/compile.ts).
 */
export function fusedRhs(tf: TF, prog: ScalarProgram, stateShapes: number[][], paramShapes: number[][]) {
  const S = prog.states,
    Q = prog.params;
  const products = productsOf(tf, stateShapes, paramShapes);
  const packedBatchedRhs = batchedProgram(tf, prog);
  const linearise = linearisation(prog);
  const op = fusedOp(tf, prog);
  const flatParams = reusedFlatParams(tf, Q);
  return {
    /** f on the states packed into one vector [S] (a discrete solve on the packed state). */
    packedRhs(x: Tensor, p: Tensor[], t: number): Tensor {
      return op(t, [S])(x, flatParams(p)) as Tensor;
    },
    rhs: stateRhs(tf, prog, stateShapes, op, flatParams),
    rhsVjp: (s: Tensor[], p: Tensor[], t: number, cot: Tensor[], withParams: boolean) =>
      products(
        linearise(concatElements(s), concatElements(p), t)(concatElements(cot), wanted(withParams, true)),
        withParams,
        true,
        false,
      ),
    rhsLinearize(s: Tensor[], p: Tensor[], t: number) {
      const back = linearise(concatElements(s), concatElements(p), t);
      return {
        back: (cot: Tensor[], withParams: boolean, withState = true) =>
          products(back(concatElements(cot), wanted(withParams, withState)), withParams, withState, false),
      };
    },
    packedBatchedRhs,
    /** Batched layout: states [b, ...shape] and parameters [b, ...shape] with b = B or 1 (scalars [b,1,1]); outputs [B, ...shape] per state. */
    batchedRhs: batchedStateRhs(tf, prog, stateShapes, packedBatchedRhs),
    /** rhsVjp on the packed state: vx is one vector [S]. */
    packedVjp: (x: Tensor, p: Tensor[], t: number, cot: Tensor, withParams: boolean) =>
      products(
        linearise(x.dataSync(), concatElements(p), t)(cot.dataSync(), wanted(withParams, true)),
        withParams,
        true,
        true,
      ),
    /** rhsLinearize on the packed state. */
    packedLinearize(x: Tensor, p: Tensor[], t: number) {
      const back = linearise(x.dataSync(), concatElements(p), t);
      return {
        back: (cot: Tensor[], withParams: boolean, withState = true) =>
          products(back(cot[0].dataSync(), wanted(withParams, withState)), withParams, withState, true),
      };
    },
  };
}

/** f linearised at (s, p, t): back(cot) gives (∂f/∂s)ᵀcot and (∂f/∂p)ᵀcot (`want`: only those complete). */
function linearisation(prog: ScalarProgram) {
  const S = prog.states,
    Q = prog.params;
  return (s: ArrayLike<number>, p: ArrayLike<number>, t: number) => {
    const vals = evaluate(prog, s, p, t);
    return (cot: ArrayLike<number>, want: Wanted = WANT_BOTH) => {
      const vs = new Float64Array(S),
        vp = new Float64Array(Q);
      reverse(prog, vals, cot, vs, vp, undefined, want);
      return { vs, vp };
    };
  };
}

/** What a product with or without the parameters' and the states' parts needs of the reverse pass. */
const wanted = (withParams: boolean, withState: boolean): Wanted =>
  withParams ? (withState ? WANT_BOTH : WANT_PARAMS) : WANT_STATES;

/**
 * The parameters flattened into one vector [Q]. The same parameter tensors (shared ones, a step's stages)
 * reuse one flattened vector while it lives: AD then accumulates their gradients with one add per use
 * instead of one per parameter.
 */
function reusedFlatParams(tf: TF, Q: number): (p: Tensor[]) => Tensor {
  let lastP: Tensor[] = [],
    lastFlat: Tensor | undefined;
  return (p: Tensor[]): Tensor => {
    if (lastFlat && !lastFlat.isDisposed && p.length === lastP.length && p.every((x, i) => x === lastP[i]))
      return lastFlat;
    lastP = p.slice();
    lastFlat = flatten(tf, p, Q);
    return lastFlat;
  };
}

/** f per state in each state's own shape, through the fused kernel `op`. */
function stateRhs(
  tf: TF,
  prog: ScalarProgram,
  stateShapes: number[][],
  op: ReturnType<typeof fusedOp>,
  flatParams: (p: Tensor[]) => Tensor,
): (s: Tensor[], p: Tensor[], t: number) => Tensor[] {
  const S = prog.states;
  return (s, p, t) => {
    // One state: f in its shape, no reshapes. Several: one single-output node per state (TF.js's
    // unstack gradient fails when an output gets no gradient).
    if (s.length === 1) return [op(t, stateShapes[0])(s[0], flatParams(p)) as Tensor];
    const f = op(t, [S])(flatten(tf, s, S), flatParams(p)) as Tensor;
    let at = 0;
    return stateShapes.map((shape, i) => {
      const n = prog.stateSizes[i];
      const piece = tf.reshape(tf.slice(f, [at], [n]), shape);
      at += n;
      return piece;
    });
  };
}

/** Batched layout: states [b, ...shape] and parameters [b, ...shape] with b = B or 1 (scalars [b,1,1]); outputs [B, ...shape] per state. */
function batchedStateRhs(
  tf: TF,
  prog: ScalarProgram,
  stateShapes: number[][],
  packedBatchedRhs: ReturnType<typeof batchedProgram>,
): (s: Tensor[], p: Tensor[], t: number) => Tensor[] {
  return (s, p, t) => {
    const B = Math.max(1, ...s.map((x) => x.shape[0] as number), ...p.map((x) => x.shape[0] as number));
    const full = s.map((x, i) =>
      tf.reshape(x.shape[0] === B ? x : tf.broadcastTo(x, [B, ...x.shape.slice(1)]), [B, prog.stateSizes[i], 1]),
    );
    return perState(
      tf,
      packedBatchedRhs(full.length === 1 ? full[0] : tf.concat(full, 1), p, t),
      B,
      stateShapes,
      prog.stateSizes,
    );
  };
}

/** Tensors as one vector of their elements (a reshape of one tensor, a stack of scalars, else a concat). */
function flatten(tf: TF, xs: Tensor[], n: number): Tensor {
  if (n === 0) return tf.zeros([1]);
  if (xs.length === 1) return tf.reshape(xs[0], [n]);
  return xs.every((x) => x.rank === 0) ? tf.stack(xs) : tf.concat(xs.map((x) => tf.reshape(x, [x.size])));
}

/** The vjps' products as tensors of the states' and parameters' internal shapes, from flat element arrays. */
function productsOf(tf: TF, stateShapes: number[][], paramShapes: number[][]) {
  /** Consecutive runs of `a` as tensors of the given shapes. */
  const pieces = (a: ArrayLike<number>, shapes: number[][]): Tensor[] => {
    let at = 0;
    return shapes.map((shape) => {
      const n = elementCount(shape);
      const part = new Float32Array(n);
      for (let k = 0; k < n; k++) part[k] = a[at + k];
      const t = tf.tensor(part, shape);
      at += n;
      return t;
    });
  };
  /** The products as CompiledModel's vjps return them: one tensor per state, or one packed vector [S]. */
  const products = (
    { vs, vp }: { vs: Float64Array; vp: Float64Array },
    withParams: boolean,
    withState: boolean,
    packedState: boolean,
  ): { vx: Tensor[]; vp: Tensor[] } => ({
    vx: withState ? (packedState ? [tf.tensor1d(Float32Array.from(vs))] : pieces(vs, stateShapes)) : [],
    vp: withParams ? pieces(vp, paramShapes) : [],
  });
  return products;
}

/**
 * f of B packed states x [B, S, 1] with parameters [b, ...shape] (b = B or 1), as [B, S, 1];
 * differentiable: reverse mode per batch element, parameters of batch 1 get the sum.
 */
function batchedProgram(tf: TF, prog: ScalarProgram): (x: Tensor, p: Tensor[], t: number) => Tensor {
  const S = prog.states,
    Q = prog.params;
  return (x: Tensor, p: Tensor[], t: number): Tensor => {
    const B = x.shape[0] as number;
    return tf.customGrad((...inputs) => {
      const [xv, ...ps] = inputs.slice(0, 1 + p.length) as Tensor[]; // customGrad appends its save function
      const xd = xv.dataSync(),
        pd = ps.map((q) => q.dataSync());
      const sizes = prog.paramSizes;
      const one = pd.map((d, j) => d.length === sizes[j]); // a batch of 1: shared by every element
      const pb = new Float32Array(Q),
        vals = new Float64Array(prog.code.length);
      // Batch element b's forward values in `vals`. Element by element into one scratch array, no views
      // or tapes kept: this runs once per element and stage (allocation and GC would be a third of a check);
      // the backward recomputes it (a microsecond) instead.
      const forward = (b: number) => {
        for (let j = 0, at = 0; j < pd.length; at += sizes[j], j++) {
          const d = pd[j],
            from = one[j] ? 0 : b * sizes[j];
          for (let k = 0; k < sizes[j]; k++) pb[at + k] = d[from + k];
        }
        return evaluate(prog, xd, pb, t, vals, b * S);
      };
      const out = new Float32Array(B * S);
      for (let b = 0; b < B; b++) {
        forward(b);
        for (let i = 0; i < S; i++) out[b * S + i] = outputValue(vals, prog.outputs[i]);
      }
      return {
        value: tf.tensor3d(out, [B, S, 1]),
        gradFunc: (dy: Tensor) => {
          const d = dy.dataSync();
          const gx = new Float32Array(B * S),
            gp = ps.map((q) => new Float32Array(q.size));
          const vs = new Float64Array(S),
            vp = new Float64Array(Q);
          for (let b = 0; b < B; b++) {
            vs.fill(0);
            vp.fill(0);
            reverse(prog, forward(b), d.subarray(b * S, (b + 1) * S), vs, vp);
            for (let i = 0; i < S; i++) gx[b * S + i] = vs[i];
            let at = 0;
            gp.forEach((g, j) => {
              const o = one[j] ? 0 : b * sizes[j];
              for (let k = 0; k < sizes[j]; k++) g[o + k] += vp[at + k];
              at += sizes[j];
            });
          }
          return [tf.tensor3d(gx, [B, S, 1]), ...gp.map((g, j) => tf.tensor(g, ps[j].shape))];
        },
      };
    })(x, ...p) as Tensor;
  };
}

/**
 * One differentiable op on the states (one tensor, or flattened) and the flattened parameters, giving f
 * in `shape`; its vjp is `reverse`.
 */
function fusedOp(tf: TF, prog: ScalarProgram) {
  const S = prog.states,
    Q = prog.params;
  return (t: number, shape: number[]) =>
    tf.customGrad((...inputs) => {
      const [sv, pv] = inputs as Tensor[];
      const sd = sv.dataSync(),
        pd = pv.dataSync();
      const vals = evaluate(prog, sd, pd, t);
      return {
        value: tf.tensor(outputsOf(prog, vals), shape),
        gradFunc: (dy: Tensor) => {
          const vs = new Float64Array(S),
            vp = new Float64Array(Q);
          reverse(prog, vals, dy.dataSync(), vs, vp);
          return [
            tf.tensor(Float32Array.from(vs), sv.shape),
            Q === 0 ? tf.zeros([1]) : tf.tensor1d(Float32Array.from(vp)),
          ];
        },
      };
    });
}

/** Batched f [B, S, 1] split into one tensor [B, ...shape] per state (scalars [B,1,1]). */
function perState(tf: TF, f: Tensor, B: number, stateShapes: number[][], stateSizes: number[]): Tensor[] {
  const shaped = (x: Tensor, shape: number[]) => tf.reshape(x, [B, ...(shape.length > 0 ? shape : [1, 1])]);
  if (stateShapes.length === 1) return [shaped(f, stateShapes[0])];
  let at = 0;
  return stateShapes.map((shape, i) => {
    const n = stateSizes[i];
    const piece = tf.slice(f, [0, at, 0], [B, n, 1]);
    at += n;
    return shaped(piece, shape);
  });
}
