// A long fused scalar program's forward pass compiled to WebAssembly: straight-line code on a linear memory, one
// float64 slot per instruction, with the interpreter's numbers bit for bit. The interpreter (programInterpreter.ts)
// reads an opcode and its operands from typed arrays for every instruction of every evaluation (2.3 ns an instruction
// on cgl.ode's 3,976); JavaScript written out the same way (programCodegen.ts) runs unoptimised for its first
// thousand evaluations when it is long, so long programs kept the interpreter. WebAssembly is compiled before its
// first evaluation (2 ns an instruction) and optimised in the background within tens of milliseconds (0.8 ns).
// Every operation written is one IEEE 754 fixes in double precision (+ − × ÷, √, |x|, negation, min, max,
// comparisons), each value rounded to float32 after its instruction as the interpreter's f32 (f32.demote_f64 rounds to
// nearest, ties to even, as Math.fround does), sums added in the same order; any other table function is called from
// the module (an import), so its value is the table's own JavaScript, except sin: the pass evaluates its program depth
// by depth in sines (sineBatches.ts), each depth's sines as one batch, two to a SIMD instruction, with Math.sin's
// float32 (wasmSinFloat32.ts; sine-circle.ode, 2,100 sines a step: its 8 perturbed solves 1.54–1.58 → 0.98–1.06 s). A
// delay's reads take the rows the history copies in for its tau (KernelHistory.rows). A loop whose terms are products (a
// convolution: weights times states) is written out term by term and its sum pair by pair, in float32 arithmetic,
// with loopValue's bits; other loops are the interpreter's, called. Only numbers and slot indices are written, never
// text from the model.
// Its reverse pass is reverseWasm.ts's loop.
import { FUNCTIONS, OPERATORS, POWER_FORMS, type Operation } from '../ops/table';
import { Bytes, F64, I32, I64, ImportList, instantiate, OP, simdSupported, webAssembly } from './wasmBinary';
import { type OrderedInstruction, passOrder } from './sineBatches';
import type { Opcodes, ProgramArrays } from './programCodegen';
import { fillSinTable, SIN_TABLE_BYTES, sinBatchBody, wasmSinFloat32 } from './wasmSinFloat32';
import { fillMemo, MEMO_BYTES, memoCall } from './wasmMemo';

/** What a pass's delayed reads ask of the solve's history (programInterpreter.ts's DelayReader has more). */
export interface DelayHistory {
  /**
   * State element `index` at time now − tau (float32); `constant`: tau is a number without gradient. `key`: tau's
   * slot in the program, so that the reads of one tau locate now − tau once.
   */
  read(index: number, now: number, tau: number, constant: boolean, key?: number): number;
  /**
   * For a WebAssembly pass: locates now − tau once and copies what its reads need into `into` from `at`
   * (scalarKernel/delays.ts's KernelHistory.rows); without it, each of the pass's reads asks `read`. `only`: the state
   * elements this tau's reads take, when they are few against the rows (the rest is not copied).
   */
  rows?: CopyRows;
}

/** DelayHistory.rows: the mode (0, 1 or 2) of the rows copied for tau's reads at now. */
export type CopyRows = (
  now: number,
  tau: number,
  constant: boolean,
  key: number,
  into: Float64Array,
  at: number,
  only?: Int32Array,
) => number;

/** The compiled forward pass (programInterpreter.ts's Interpreter.forward and .outputs read its values). */
export interface WasmForward {
  /** Every instruction's value into `values`, states read from s[sAt…]; `delays`: the history delays read. */
  evaluate(s: ArrayLike<number>, sAt: number, p: ArrayLike<number>, t: number, delays?: DelayHistory): void;
  /** The values of the last evaluation, one per instruction (a view of the module's memory). */
  readonly values: Float64Array;
}

/** Rows at least this long are copied through a subarray view (its allocation costs about as much as 1,000 elements' loop). */
const SUBARRAY_COPY = 1024;

// Function types: an imported unary or binary value, the pass itself (t) → (), a delay's history located (lag, tau, t,
// constant) → mode, one delayed read asked of the history (state, tau, t, constant, key) → value, and a loop the
// interpreter computes (its index) → value.
const T_UNARY = 0,
  T_BINARY = 1,
  T_FORWARD = 2,
  T_LOCATE = 3,
  T_READ = 4,
  T_LOOP = 5,
  T_BATCH = 6;
/** Distinct taus a pass reads at most (a local and 2·states + 1 slots each). */
const MAX_LAGS = 256;

/** A table function's value as WebAssembly: its operands pushed (ZERO: the constant 0), then these opcodes. */
interface Native {
  operands: readonly number[];
  ops: readonly number[];
}
const ZERO = -1;
const table = (name: string) => FUNCTIONS.get(name as never) as Operation;
const operation = (op: number): Native => ({ operands: [0, 1], ops: [op] });
/** A comparison's 1 or 0 (a NaN operand compares false, as in JavaScript). */
const comparison = (op: number): Native => ({ operands: [0, 1], ops: [op, OP.f64ConvertI32U] });
/** The table functions whose value is one IEEE operation, or a fixed few, as the table computes it (x^-1 is `^`'s). */
const NATIVE = new Map<unknown, Native>([
  [POWER_FORMS.get(2), { operands: [0, 0], ops: [OP.f64Mul] }], // x * x
  [table('abs'), { operands: [0], ops: [OP.f64Abs] }],
  [table('sqrt'), { operands: [0], ops: [OP.f64Sqrt] }],
  // Math.min and Math.max: NaN when either is, and −0 below +0, as f64.min and f64.max.
  [table('min'), operation(OP.f64Min)],
  [table('max'), operation(OP.f64Max)],
  [OPERATORS['/'], operation(OP.f64Div)],
  [OPERATORS['<'], comparison(OP.f64Lt)],
  [OPERATORS['>'], comparison(OP.f64Gt)],
  [OPERATORS['<='], comparison(OP.f64Le)],
  [OPERATORS['>='], comparison(OP.f64Ge)],
  [OPERATORS['=='], comparison(OP.f64Eq)],
  [OPERATORS['!='], comparison(OP.f64Ne)],
  [table('heav'), { operands: [0, ZERO], ops: [OP.f64Ge, OP.f64ConvertI32U] }], // x >= 0 ? 1 : 0
]);

/**
 * The built-in functions whose value depends on their argument alone (a model's table or noise realisation is left
 * out: a Markov path's samples are filled while a realisation runs). A call of one of them goes through a memo.
 */
const PURE = new Set<unknown>([...FUNCTIONS.values(), ...POWER_FORMS.values()]);

// The pass's locals after its parameter t: an argument's bits, its slot's address, the argument; then a ring of
// RING values: value k also stays in local RECENT + k % RING, and an operand computed within the last RING
// instructions is read from there, not loaded from memory just after its store (kohonen.ode's pass 3.2 → 2.2 µs;
// cgl's and schnak's, whose operands are mostly older, unchanged). A small ring keeps the locals' live ranges short:
// one local per instruction made the optimising compiler's code three times slower on cgl.
const MEMO_LOCALS = { bits: 1, slot: 2, arg: 3 },
  RECENT = 4,
  RING = 16,
  // Then one i32 per tau: how its reads find their value (history.rows's mode).
  LAG_MODES = RECENT + RING;

const SIN = table('sin');

/** What the pass's order (sineBatches.ts) needs of instruction k: whether it is a sine, and what it reads. */
function ordered(g: ProgramArrays, o: Opcodes, k: number): OrderedInstruction {
  const { op, A, B, C, ta, tb, fns } = g;
  const reads = (operands: number[]): OrderedInstruction => ({ sine: false, operands });
  switch (op[k]) {
    case o.ADD:
    case o.SUB:
    case o.MUL:
      return reads([A[k], B[k]]);
    case o.NEG:
      return reads([A[k]]);
    case o.UNARY:
      return { sine: fns[k] === SIN, operands: [A[k]] };
    case o.BINARY:
      return reads([A[k], B[k]]);
    case o.SELECT:
      return reads([A[k], B[k], C[k]]);
    case o.DOT:
    case o.SUM: {
      const operands: number[] = [];
      for (let i = A[k]; i < A[k] + B[k]; i++) {
        operands.push(ta[i]);
        if (op[k] === o.DOT) operands.push(tb[i]);
      }
      return reads(operands);
    }
    case o.DELAY:
      return reads([B[k]]);
    case o.LOOP: {
      const products = g.loopProducts(A[k]);
      if (products && products.slots.length > 0) return reads([...products.slots]);
      // The interpreter's loop reads the values so far.
      return { sine: false, operands: 'all' };
    }
    default: // constants, states, parameters, t
      return reads([]);
  }
}

/** Whether the forward pass writes this table function as WebAssembly (else it calls the table's value). */
export function nativeInWasm(fn: unknown): boolean {
  return NATIVE.has(fn);
}

/**
 * The program's forward pass as WebAssembly, or undefined when an instruction has another opcode (algebraic
 * variables), it reads more than MAX_LAGS taus, or the engine has no WebAssembly.
 */
export function wasmForward(
  g: ProgramArrays,
  o: Opcodes,
  shape: { states: number; params: number },
): WasmForward | undefined {
  if (!webAssembly) return undefined;
  const { L, op, A, B, C, consts, ta, tb, fns } = g;
  const { states: D, params: P } = shape;
  // Memory, in float64 slots: the values, then the states and the parameters read.
  const V = 0,
    S = L,
    PR = S + D;
  // Delays: per tau's slot (in order of first read), the rows its reads mix (history.rows) and the weight, after the
  // parameters; its mode (which rows) in a local of the pass.
  const lags = new Map<number, number>();
  for (let k = 0; k < L; k++) if (op[k] === o.DELAY && !lags.has(B[k])) lags.set(B[k], lags.size);
  if (lags.size > MAX_LAGS) return undefined;
  const ROWS = PR + P,
    LAG = 2 * D + 1;
  const rowsAt = (lag: number) => ROWS + lag * LAG;
  // Each table function called, once, with its type; the pure ones' memos after the rows.
  const imports = new ImportList();
  // A product loop's terms and partial sums (float32) in a scratch after the rows.
  const RED = (ROWS + lags.size * LAG) * 8;
  let maxK = 0;
  for (let k = 0; k < L; k++) {
    const p = op[k] === o.LOOP ? g.loopProducts(A[k]) : undefined;
    if (p) maxK = Math.max(maxK, p.slots.length / 2);
  }
  const top = RED + 4 * maxK;
  // The sines in batches by depth (sineBatches.ts): sin's table, then each batch's (argument, result) byte offsets.
  const { order, batches } = passOrder(L, (k) => ordered(g, o, k));
  const sines = batches.reduce((n, b) => n + b.sines.length + (b.sines.length & 1), 0);
  // Without SIMD the interpreter runs the program.
  if (sines > 0 && !simdSupported()) return undefined;
  const tableAt = Math.ceil(top / 16) * 16,
    listAt = tableAt + (sines > 0 ? SIN_TABLE_BYTES : 0);
  const memoBase = Math.ceil((listAt + 8 * sines) / 16) * 16;
  const memos = new Map<(x: number) => number, number>();
  const memoAt = (fn: (x: number) => number) => {
    let m = memos.get(fn);
    if (m === undefined) memos.set(fn, (m = memoBase + memos.size * MEMO_BYTES));
    return m;
  };
  // The history the evaluation in progress reads, and the memory its rows are copied into.
  let history: DelayHistory | undefined;
  let mem = new Float64Array(0),
    values = mem;
  // The elements each tau's reads take, when under a quarter of the states: a network whose delays differ per
  // connection (tstdelsp.ode: 250 taus, one read each, over 50 states) copied both rows of every tau.
  const lagReads = [...lags.keys()].map(() => new Set<number>());
  for (let k = 0; k < L; k++) if (op[k] === o.DELAY) lagReads[lags.get(B[k])!].add(A[k]);
  const only = lagReads.map((r) => (4 * r.size < D ? Int32Array.from(r) : undefined));
  const lagKey = [...lags.keys()],
    locate = (lag: number, tau: number, t: number, constant: number) =>
      history?.rows ? history.rows(t, tau, constant === 1, lagKey[lag], mem, rowsAt(lag), only[lag]) : 2,
    readOne = (index: number, tau: number, t: number, constant: number, key: number) => {
      if (!history)
        throw new Error('a program with delays runs inside the whole-solve kernel, which keeps the history');
      return history.read(index, t, tau, constant === 1, key);
    },
    // A loop left to the interpreter reads the values so far, which every instruction has stored.
    loopValue = (index: number) => g.loop(index, values);
  const c = new Bytes();
  // Position p evaluates order[p] (k); a value evaluated at position q stays in local RECENT + q % RING until q + RING.
  let p = 0;
  const at = new Int32Array(L).fill(-RING);
  const load = (slot: number) =>
    slot < L && p - at[slot] < RING
      ? c.byte(OP.localGet).u32(RECENT + (at[slot] % RING))
      : c
          .byte(OP.i32Const)
          .s32(0)
          .byte(OP.f64Load)
          .u32(3)
          .u32(slot * 8);
  const round = () => c.byte(OP.f32DemoteF64).byte(OP.f64PromoteF32);
  c.u32(5).u32(1).byte(I64).u32(1).byte(I32).u32(1).byte(F64).u32(RING).byte(F64).u32(lags.size).byte(I32);
  const located = new Set<number>();
  // Each batch's pairs in the list; its call's function index (after the imports) is set once they are all known.
  const list = new Int32Array(2 * sines),
    batchCalls: number[] = [];
  let listed = 0;
  const batchAt = (sinesOf: number[]) => {
    const from = listAt + 8 * listed;
    for (const s of sinesOf) {
      list[2 * listed] = (V + A[s]) * 8;
      list[2 * listed++ + 1] = (V + s) * 8;
    }
    if (sinesOf.length & 1) {
      list[2 * listed] = list[2 * listed - 2];
      list[2 * listed + 1] = list[2 * listed - 1];
      listed++;
    }
    c.byte(OP.i32Const)
      .s32(from)
      .byte(OP.i32Const)
      .s32(listAt + 8 * listed)
      .byte(OP.call);
    batchCalls.push(c.length);
    c.u32Fixed(0);
  };
  const scalarSin = sines > 0 ? imports.at(wasmSinFloat32(), T_UNARY) : -1;
  let batch = 0;
  for (; p <= order.length; p++) {
    while (batch < batches.length && batches[batch].at === p) batchAt(batches[batch++].sines);
    if (p === order.length) break;
    const k = order[p];
    const a = A[k],
      b = B[k];
    c.byte(OP.i32Const).s32(0);
    switch (op[k]) {
      case o.CONST:
        c.byte(OP.f64Const).f64(consts[k]);
        break;
      case o.STATE:
        load(S + a);
        round();
        break;
      case o.PARAM:
        load(PR + a);
        round();
        break;
      case o.TIME:
        c.byte(OP.localGet).u32(0);
        round();
        break;
      case o.ADD:
      case o.SUB:
      case o.MUL:
        load(a);
        load(b);
        c.byte(op[k] === o.ADD ? OP.f64Add : op[k] === o.SUB ? OP.f64Sub : OP.f64Mul);
        round();
        break;
      case o.NEG:
        load(a);
        c.byte(OP.f64Neg);
        round();
        break;
      case o.UNARY:
      case o.BINARY: {
        const native = NATIVE.get(fns[k]);
        if (native) {
          for (const i of native.operands) {
            if (i === ZERO) c.byte(OP.f64Const).f64(0);
            else load(i === 0 ? a : b);
          }
          c.bytes(native.ops);
        } else if (op[k] === o.UNARY && PURE.has(fns[k])) {
          const value = (fns[k] as { value: (x: number) => number }).value;
          load(a);
          memoCall(c, imports.at(value, T_UNARY), memoAt(value), MEMO_LOCALS);
        } else {
          load(a);
          if (op[k] === o.BINARY) load(b);
          const value = (fns[k] as { value: (...x: number[]) => number }).value;
          c.byte(OP.call).u32(imports.at(value, op[k] === o.BINARY ? T_BINARY : T_UNARY));
        }
        round();
        break;
      }
      case o.SELECT: // as the compiler: |c| > 0 (NaN → else)
        load(a);
        load(b);
        load(C[k]);
        c.byte(OP.f64Abs).byte(OP.f64Const).f64(0).byte(OP.f64Gt).byte(OP.select);
        round();
        break;
      case o.DOT:
      case o.SUM:
        // 0 + the first term + …, as the interpreter's running sum.
        c.byte(OP.f64Const).f64(0);
        for (let i = a; i < a + b; i++) {
          load(ta[i]);
          if (op[k] === o.DOT) {
            load(tb[i]);
            c.byte(OP.f64Mul);
          }
          c.byte(OP.f64Add);
        }
        round();
        break;
      case o.DELAY: {
        // State a at t − tau (tau: slot b), as the history's read gives it: located at the first read of its tau.
        const lag = lags.get(b)!,
          mode = LAG_MODES + lag,
          at = rowsAt(lag) * 8;
        if (!located.has(b)) {
          located.add(b);
          c.byte(OP.i32Const).s32(lag);
          load(b);
          c.byte(OP.localGet).u32(0).byte(OP.i32Const).s32(C[k]);
          c.byte(OP.call).u32(imports.at(locate, T_LOCATE)).byte(OP.localSet).u32(mode);
        }
        const row = (e: number) =>
          c
            .byte(OP.i32Const)
            .s32(0)
            .byte(OP.f64Load)
            .u32(3)
            .u32(at + e * 8);
        c.byte(OP.localGet).u32(mode).byte(OP.i32Eqz).byte(OP.if).byte(F64);
        row(a);
        c.byte(OP.else).byte(OP.localGet).u32(mode).byte(OP.i32Const).s32(1).byte(OP.i32Eq).byte(OP.if).byte(F64);
        // f32(x + f32(w · f32(y − x))), x and y the two rows' values
        row(a);
        row(2 * D);
        row(D + a);
        row(a);
        c.byte(OP.f64Sub);
        round();
        c.byte(OP.f64Mul);
        round();
        c.byte(OP.f64Add);
        round();
        c.byte(OP.else).byte(OP.i32Const).s32(a);
        load(b);
        c.byte(OP.localGet).u32(0).byte(OP.i32Const).s32(C[k]).byte(OP.i32Const).s32(b);
        c.byte(OP.call).u32(imports.at(readOne, T_READ));
        c.byte(OP.end).byte(OP.end);
        break;
      }
      case o.LOOP: {
        // A product loop as loopValue computes it: the terms f32(x_k·y_k) into the scratch, then added pairwise level
        // by level in place, an odd last one carried up (written out: as wasm loops they took 1.4× as long on
        // amari.ode). Other loops are the interpreter's, called.
        const p = g.loopProducts(a);
        if (!p || p.slots.length === 0) {
          c.byte(OP.i32Const).s32(a).byte(OP.call).u32(imports.at(loopValue, T_LOOP));
          break;
        }
        const { slots, weights } = p;
        const K = slots.length / 2;
        // In float32 arithmetic: x_k, y_k and the partial sums are floats, and rounding a float64 sum or product of
        // two floats to float32 gives float32's own (53 ≥ 2·24 + 2: double rounding is innocuous for + and ×).
        const float = (slot: number) => {
          load(slot);
          c.byte(OP.f32DemoteF64);
        };
        for (let i = 0; i < K; i++) {
          c.byte(OP.i32Const).s32(0);
          if (weights) c.byte(OP.f64Const).f64(weights[i]).byte(OP.f32DemoteF64);
          else float(slots[i]);
          float(slots[K + i]);
          c.byte(OP.f32Mul)
            .byte(OP.f32Store)
            .u32(2)
            .u32(RED + 4 * i);
        }
        const at = (i: number) =>
          c
            .byte(OP.i32Const)
            .s32(0)
            .byte(OP.f32Load)
            .u32(2)
            .u32(RED + 4 * i);
        for (let n = K; n > 1; n = (n >> 1) + (n & 1)) {
          for (let i = 0; i < n >> 1; i++) {
            c.byte(OP.i32Const).s32(0);
            at(2 * i);
            at(2 * i + 1);
            c.byte(OP.f32Add)
              .byte(OP.f32Store)
              .u32(2)
              .u32(RED + 4 * i);
          }
          if (n & 1) {
            c.byte(OP.i32Const).s32(0);
            at(n - 1);
            c.byte(OP.f32Store)
              .u32(2)
              .u32(RED + 4 * (n >> 1));
          }
        }
        at(0);
        c.byte(OP.f64PromoteF32);
        break;
      }
      default: // algebraic variables (programInterpreter.ts keeps such programs interpreted)
        return undefined;
    }
    c.byte(OP.localTee)
      .u32(RECENT + (p % RING))
      .byte(OP.f64Store)
      .u32(3)
      .u32((V + k) * 8);
    at[k] = p;
  }
  c.byte(OP.end);
  for (const call of batchCalls) c.setU32Fixed(call, imports.list.length + 1);

  const pages = Math.max(1, Math.ceil((memoBase + memos.size * MEMO_BYTES) / 65536));
  const { run, memory } = instantiate({
    types: [
      [[F64], [F64]], // T_UNARY
      [[F64, F64], [F64]], // T_BINARY
      [[F64], []], // T_FORWARD
      [[I32, F64, F64, I32], [I32]], // T_LOCATE
      [[I32, F64, F64, I32, I32], [F64]], // T_READ
      [[I32], [F64]], // T_LOOP
      [[I32, I32], []], // T_BATCH
    ],
    imports: imports.list,
    type: T_FORWARD,
    body: c,
    pages,
    helpers: sines > 0 ? [{ type: T_BATCH, body: sinBatchBody(tableAt, scalarSin) }] : [],
  });
  const forward = run as (t: number) => void;
  mem = new Float64Array(memory.buffer);
  for (const [fn, memo] of memos) fillMemo(memory, memo, fn);
  if (sines > 0) {
    fillSinTable(memory, tableAt);
    new Int32Array(memory.buffer, listAt, 2 * sines).set(list);
  }
  values = mem.subarray(V, V + L);
  const stateIn = mem.subarray(S, S + D),
    paramIn = mem.subarray(PR, PR + P);
  /**
   * Copies `from[at…]` into `into` (float32 to float64 is exact): one typed-array copy of a whole array; a row of a
   * trajectory (every step of a solve) element by element below SUBARRAY_COPY, since its view would be allocated.
   */
  const copyIn = (into: Float64Array, from: ArrayLike<number>, at: number) => {
    const n = into.length;
    if (ArrayBuffer.isView(from) && ((at === 0 && from.length === n) || n >= SUBARRAY_COPY))
      into.set(at === 0 && from.length === n ? from : (from as Float64Array).subarray(at, at + n));
    else for (let i = 0; i < n; i++) into[i] = from[at + i];
  };
  return {
    values,
    evaluate(s, sAt, p, t, delays) {
      history = delays;
      copyIn(stateIn, s, sAt);
      copyIn(paramIn, p, 0);
      forward(t);
    },
  };
}
