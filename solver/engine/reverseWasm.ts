// A long fused scalar program's reverse pass as a WebAssembly loop: the interpreter's sweep (programInterpreter.ts),
// instruction by instruction from last to first over the program's operands laid out in the module's memory, with
// the sweep's numbers bit for bit (the same additions in the same order, an adjoint that is exactly 0 skipped, each
// derivative the operation table's: written as WebAssembly where the table's is one IEEE formula, else called).
// Written out as straight-line code instead (as the forward pass, programWasm.ts), one branch per instruction, V8's
// optimising compiler took 0.4–0.55 s of CPU over cgl.ode's 3,976 instructions, on the cores the check's two threads
// use; this loop is one small function, optimised in milliseconds. A delayed read's cotangent is kept in the module's
// memory and added to the history's rows after the pass, in the sweep's order (delayedReads). A loop whose terms are
// products (a convolution's weights times states) is its term pairs, as loopBack adds them; programs with other loops
// or algebraic variables keep the interpreter's sweep.
import { FUNCTIONS, OPERATORS, POWER_FORMS, ZERO_DERIVATIVE, type Operation } from '../ops/table';
import { Bytes, F64, I32, I64, ImportList, instantiate, OP, VOID_BLOCK, webAssembly } from './wasmBinary';
import { fillMemo, MEMO_BYTES, memoCall } from './wasmMemo';
import type { Opcodes, ProgramArrays } from './programCodegen';
import { wasmCos, wasmSin } from './wasmSin';

/**
 * The compiled reverse pass (programInterpreter.ts's Interpreter.reverse); a program with delays passes the history
 * and t. False when it did not run: the interpreter's sweep is to run instead (DelayCotangents.backRows).
 */
export type WasmReverse = (
  v: Float64Array,
  cot: ArrayLike<number>,
  vs: Float64Array,
  vp: Float64Array,
  want: number,
  vt: Float64Array | undefined,
  delays?: Partial<DelayCotangents>,
  t?: number,
) => boolean;

/**
 * What a reverse pass's delayed reads need of the solve's history (scalarKernel/delays.ts's KernelHistory, whose
 * readBack the interpreter's sweep calls per read): where each tau's reads fall, and the grid, whose rows' cotangents
 * get the reads' after the pass.
 */
export interface DelayCotangents {
  /**
   * Where the reads of tau at now add their cotangents, as readBack: out[0] the grid row, out[1] the next row it
   * interpolates (−1: the first alone), out[2] the weight. False where a read would take the history formula's
   * adjoint (before t0): the pass then runs the interpreter's sweep.
   */
  backRows(now: number, tau: number, constant: boolean, key: number, out: Float64Array): boolean;
  /** The grid (row n at n·S), the cotangents of its rows, and h as float32 (tau's adjoint is −g·(b − a)/h). */
  readonly grid: { trajectory: ArrayLike<number>; cotangents: Float64Array; h32: number };
}

// The loop's own opcodes (dense, for its br_table): the interpreter's, with the table functions whose derivatives
// are written as WebAssembly told apart.
const R = {
  SKIP: 0,
  STATE: 1,
  PARAM: 2,
  TIME: 3,
  ADD: 4,
  SUB: 5,
  MUL: 6,
  NEG: 7,
  UNARY: 8, // derivative(x, y) called
  BINARY: 9, // derivativeA(a, b, y), derivativeB(a, b, y) called
  SELECT: 10,
  DOT: 11,
  SUM: 12,
  SQUARE: 13, // x²: 2 * x
  EXP: 14, // y
  TANH: 15, // 1 - y * y
  DIV: 16, // 1 / b, -a / (b * b)
  ABS: 17, // x > 0 ? 1 : -1
  SIN: 18, // Math.cos(x)
  COS: 19, // -Math.sin(x)
  MIN: 20, // a <= b ? 1 : 0, a <= b ? 0 : 1
  MAX: 21, // a >= b ? 1 : 0, a >= b ? 0 : 1
  DELAY: 22, // g kept for the history's rows; tau's adjoint where it interpolates
  PRODUCTS: 23, // a loop's terms x_k·y_k: adj[x_k] += g·y_k, adj[y_k] += g·x_k, or with weights adj[y_k] += g·w_k
} as const;
const CASES = 24;

// Derivatives written here as the table writes them (ops/table.ts): a derivative called from WebAssembly is a JS call
// whose arguments and result are boxed (kohonen.ode: 500 a step, a third of its reverse pass and most of its garbage),
// while sin and cos are WebAssembly with Math.sin's and Math.cos's bits (wasmSin.ts), called through their memos
// (wasmMemo.ts).
const table = (name: string) => FUNCTIONS.get(name as never) as Operation;
const OWN = new Map<unknown, number>([
  [POWER_FORMS.get(2), R.SQUARE],
  [table('exp'), R.EXP],
  [table('tanh'), R.TANH],
  [OPERATORS['/'], R.DIV],
  [table('abs'), R.ABS],
  [table('sin'), R.SIN],
  [table('cos'), R.COS],
  [table('min'), R.MIN],
  [table('max'), R.MAX],
]);

/** The opcode of a table function whose derivative is written here, or undefined (the table's is called). */
function own(fn: unknown): number | undefined {
  const r = OWN.get(fn);
  if (r !== undefined) return r;
  const f = fn as { derivative?: unknown; derivativeA?: unknown; derivativeB?: unknown };
  // Derivatives zero everywhere (piecewise constant functions, comparisons): such an instruction's adjoint reaches
  // nothing (the interpreter's `reaches`), so the loop skips it before its case; nothing to write or import.
  if (f.derivative === ZERO_DERIVATIVE) return R.SKIP;
  if (f.derivativeA === ZERO_DERIVATIVE && f.derivativeB === ZERO_DERIVATIVE) return R.SKIP;
  return undefined;
}

// Function types: a unary derivative (x, y) → f64, a binary one (a, b, y) → f64, the sweep (want) → (), Math.sin and
// Math.cos (x) → f64.
const T_UNARY = 0,
  T_BINARY = 1,
  T_SWEEP = 2,
  T_MATH = 3;

/** Bytes per instruction in the code: op | reach << 8 | dotA << 16 | dotB << 24, then a·8, b·8, c·8, a function or a delayed read's record. */
const WORDS = 16;
/**
 * A delayed read, per pass: its cotangent g as the pass found it (0 where the sweep skips it), the difference of the
 * two rows' states it interpolates, and whether tau's adjoint −g·(b − a)/h is taken (bytes 0, 8, 16).
 */
const READ = 24;

/**
 * The program's reverse pass as a WebAssembly loop, or undefined when an instruction has another opcode (loops that
 * are not products, algebraic variables) or the engine has no WebAssembly.
 */
export function wasmReverse(
  g: ProgramArrays,
  o: Opcodes,
  shape: {
    states: number;
    params: number;
    outputs: Int32Array;
    reach: Uint8Array;
    dotA: Uint8Array;
    dotB: Uint8Array;
  },
): WasmReverse | undefined {
  if (!webAssembly) return undefined;
  const { L, op, A, B, C, ta, tb, fns } = g;
  const { states: D, params: P, outputs, reach, dotA, dotB } = shape;
  const E = outputs.length;
  // Product loops' terms after the dot products' (pairs of byte offsets, x's then y's), their weights apart.
  const loopTerms: { at: number; slots: Int32Array; weights?: Float64Array }[] = [];
  let T = ta.length,
    W = 0;
  for (let k = 0; k < L; k++) {
    if (op[k] !== o.LOOP) continue;
    const products = g.loopProducts(A[k]);
    if (!products) return undefined;
    loopTerms[k] = { at: T, ...products };
    T += products.slots.length / 2;
    if (products.weights) W += products.weights.length;
  }
  // Delayed reads: a record each, in program order.
  const reads: number[] = [];
  for (let k = 0; k < L; k++) if (op[k] === o.DELAY) reads.push(k);
  // Memory (bytes): values, adjoints, the states' and parameters' adjoints, t's, then the code and the terms.
  const V = 0,
    ADJ = 8 * L,
    VS = 16 * L,
    VP = VS + 8 * D,
    VT = VP + 8 * P,
    CODE = VT + 8,
    TERMS = CODE + WORDS * L,
    WEIGHTS = TERMS + 8 * T,
    // The memos of Math.sin and Math.cos (wasmMemo.ts), 16-byte aligned.
    SIN_MEMO = Math.ceil((WEIGHTS + 8 * W) / 16) * 16,
    COS_MEMO = SIN_MEMO + MEMO_BYTES,
    // Then h as float32 and the delayed reads' records.
    H32 = COS_MEMO + MEMO_BYTES,
    READS = H32 + 8,
    SIZE = READS + READ * reads.length;
  // Derivatives called: a table of imported functions (unary ones, then binary ones' A and B side by side).
  const called = new ImportList();
  // Imported first, so that their function indices are known to the sweep.
  const math = { sin: called.at(wasmSin(), T_MATH), cos: called.at(wasmCos(), T_MATH) };
  const code = new Int32Array(4 * L);
  let read = 0;
  for (let k = 0; k < L; k++) {
    let r: number;
    let fourth = 8 * C[k];
    switch (op[k]) {
      case o.STATE:
        r = R.STATE;
        break;
      case o.PARAM:
        r = R.PARAM;
        break;
      case o.TIME:
        r = R.TIME;
        break;
      case o.ADD:
        r = R.ADD;
        break;
      case o.SUB:
        r = R.SUB;
        break;
      case o.MUL:
        r = R.MUL;
        break;
      case o.NEG:
        r = R.NEG;
        break;
      case o.UNARY:
        r = own(fns[k]) ?? R.UNARY;
        if (r === R.UNARY) fourth = called.at((fns[k] as { derivative: unknown }).derivative, T_UNARY);
        break;
      case o.BINARY: {
        r = own(fns[k]) ?? R.BINARY;
        const fn = fns[k] as { derivativeA: unknown; derivativeB: unknown };
        if (r === R.BINARY) fourth = called.pair(fn.derivativeA, fn.derivativeB, T_BINARY);
        break;
      }
      case o.SELECT:
        r = R.SELECT;
        break;
      case o.DOT:
        r = R.DOT;
        break;
      case o.SUM:
        r = R.SUM;
        break;
      case o.LOOP: // as a dot product's terms (a·8 the first pair, b·8 their bytes); c: whether x_k are weights
        r = R.PRODUCTS;
        fourth = loopTerms[k].weights ? 1 : 0;
        break;
      case o.CONST:
        r = R.SKIP;
        break;
      case o.DELAY:
        r = R.DELAY;
        fourth = READS + READ * read++;
        break;
      default:
        return undefined;
    }
    code[4 * k] = r | (reach[k] << 8) | (dotA[k] << 16) | (dotB[k] << 24);
    const loop = loopTerms[k];
    code[4 * k + 1] = 8 * (loop ? loop.at : A[k]);
    code[4 * k + 2] = 8 * (loop ? loop.slots.length / 2 : B[k]); // a sum's term count as bytes of its pairs of slots
    code[4 * k + 3] = fourth;
  }
  const termSlots = new Int32Array(2 * T);
  for (let i = 0; i < ta.length; i++) {
    termSlots[2 * i] = 8 * ta[i];
    termSlots[2 * i + 1] = 8 * tb[i];
  }
  // A weight's pair holds its byte address (the values start at 0, where x's slot would be read).
  const weights = new Float64Array(W);
  let w = 0;
  for (const loop of loopTerms) {
    if (!loop) continue;
    const K = loop.slots.length / 2;
    for (let i = 0; i < K; i++) {
      termSlots[2 * (loop.at + i)] = loop.weights ? WEIGHTS + 8 * (w + i) : 8 * loop.slots[i];
      termSlots[2 * (loop.at + i) + 1] = 8 * loop.slots[K + i];
    }
    if (loop.weights) {
      weights.set(loop.weights, w);
      w += K;
    }
  }

  const c = sweepBody({ V, ADJ, VS, VP, VT, CODE, TERMS, L, SIN_MEMO, COS_MEMO, H32 }, math);
  const pages = Math.max(1, Math.ceil(SIZE / 65536));
  const { run, memory } = instantiate({
    types: [
      [[F64, F64], [F64]], // T_UNARY
      [[F64, F64, F64], [F64]], // T_BINARY
      [[I32], []], // T_SWEEP
      [[F64], [F64]], // T_MATH
    ],
    imports: called.list,
    type: T_SWEEP,
    body: c,
    pages,
    table: true,
  });
  const sweep = run as (want: number) => void;
  fillMemo(memory, SIN_MEMO, Math.sin);
  fillMemo(memory, COS_MEMO, Math.cos);
  const bytes = new Uint8Array(memory.buffer);
  bytes.set(new Uint8Array(code.buffer), CODE);
  bytes.set(new Uint8Array(termSlots.buffer), TERMS);
  bytes.set(new Uint8Array(weights.buffer), WEIGHTS);
  const mem = new Float64Array(memory.buffer);
  const values = mem.subarray(V / 8, V / 8 + L),
    stateAdjoint = mem.subarray(VS / 8, VS / 8 + D),
    paramAdjoint = mem.subarray(VP / 8, VP / 8 + P);
  const adjAt = ADJ / 8;
  const delayed = reads.length > 0 ? delayedReads(memory, g, reads, D, { READS, H32 }) : undefined;
  return (v, cot, vs, vp, want, vt, delays, t = 0) => {
    if (delayed && !delayed.before(v, delays, t)) return false;
    values.set(v.length === L ? v : v.subarray(0, L));
    // The adjoints cleared, the outputs' cotangents seeded in order (as the sweep).
    mem.fill(0, adjAt, adjAt + L);
    for (let e = 0; e < E; e++) if (outputs[e] >= 0) mem[adjAt + outputs[e]] += cot[e];
    stateAdjoint.set(vs.length === D ? vs : vs.subarray(0, D));
    paramAdjoint.set(vp.length === P ? vp : vp.subarray(0, P));
    mem[VT / 8] = vt ? vt[0] : 0;
    sweep(want);
    delayed?.after();
    vs.set(stateAdjoint);
    vp.set(paramAdjoint);
    if (vt) vt[0] = mem[VT / 8];
    return true;
  };
}

/**
 * A pass's delayed reads. `before` locates each tau (as readBack: the rows its reads add into, and the weight) and
 * writes each read's record: its cotangent cleared, and for an interpolated read of a tau with an adjoint the
 * difference of its two rows' states; `after` adds each read's cotangent to those rows as readBack does, in the
 * sweep's order (descending), skipping those the sweep skipped. O(reads) a pass, as the sweep's readBack calls.
 */
function delayedReads(
  memory: { buffer: ArrayBuffer },
  g: ProgramArrays,
  reads: number[],
  D: number,
  at: { READS: number; H32: number },
) {
  const { A, B, C } = g;
  const mem = new Float64Array(memory.buffer),
    words = new Int32Array(memory.buffer);
  // Per tau's slot (in order of first read): where its reads fall this pass (first row, second row or −1, weight).
  const lagOf = new Map<number, number>();
  const lagConstant: boolean[] = [];
  for (const k of reads)
    if (!lagOf.has(B[k])) {
      lagOf.set(B[k], lagOf.size);
      lagConstant.push(C[k] === 1);
    }
  const lagSlots = [...lagOf.keys()];
  const readLag = Int32Array.from(reads, (k) => lagOf.get(B[k])!),
    readState = Int32Array.from(reads, (k) => A[k]);
  const out = new Float64Array(3),
    first = new Float64Array(lagSlots.length),
    second = new Float64Array(lagSlots.length),
    weight = new Float64Array(lagSlots.length);
  let cotangents: Float64Array = new Float64Array(0);
  return {
    before(v: Float64Array, delays: Partial<DelayCotangents> | undefined, t: number): boolean {
      if (!delays?.backRows || !delays.grid) return false;
      for (let l = 0; l < lagSlots.length; l++) {
        if (!delays.backRows(t, v[lagSlots[l]], lagConstant[l], lagSlots[l], out)) return false;
        first[l] = out[0];
        second[l] = out[1];
        weight[l] = out[2];
      }
      const { trajectory, cotangents: cot, h32 } = delays.grid;
      cotangents = cot;
      mem[at.H32 / 8] = h32;
      for (let r = 0; r < reads.length; r++) {
        const l = readLag[r],
          record = (at.READS + READ * r) / 8;
        mem[record] = 0;
        const tau = second[l] >= 0 && !lagConstant[l];
        words[2 * record + 4] = tau ? 1 : 0;
        if (tau) {
          const a = readState[r];
          mem[record + 1] = trajectory[second[l] * D + a] - trajectory[first[l] * D + a];
        }
      }
      return true;
    },
    after(): void {
      const cot = cotangents;
      for (let r = reads.length - 1; r >= 0; r--) {
        const gr = mem[(at.READS + READ * r) / 8];
        if (gr === 0) continue;
        const l = readLag[r],
          a = readState[r];
        if (second[l] < 0) cot[first[l] * D + a] += gr;
        else {
          const w = weight[l];
          cot[first[l] * D + a] += gr * (1 - w);
          cot[second[l] * D + a] += gr * w;
        }
      }
    },
  };
}

interface Layout {
  V: number;
  ADJ: number;
  VS: number;
  VP: number;
  VT: number;
  CODE: number;
  TERMS: number;
  L: number;
  SIN_MEMO: number;
  COS_MEMO: number;
  H32: number;
}

/** The sweep (want: i32) → (): from instruction L − 1 down to 0. */
function sweepBody(m: Layout, math: { sin: number; cos: number }): Bytes {
  const c = new Bytes();
  // Locals after the parameter want (0): i32 k, kc, w0, a, b, i, end, ra, rb; f64 g, x, y, da, db.
  const WANT = 0,
    K = 1, // 8·k (the instruction's value and adjoint)
    KC = 2, // 16·k (its code)
    W0 = 3,
    A = 4,
    B = 5,
    I = 6,
    END = 7,
    RA = 8,
    RB = 9,
    G = 10,
    X = 11,
    Y = 12,
    DA = 13,
    DB = 14;
  // Then a memoised call's scratch (wasmMemo.ts): i64 bits, i32 slot, f64 arg.
  const MEMO_LOCALS = { bits: 15, slot: 16, arg: 17 };
  c.u32(5).u32(9).byte(I32).u32(5).byte(F64).u32(1).byte(I64).u32(1).byte(I32).u32(1).byte(F64);
  const get = (l: number) => c.byte(OP.localGet).u32(l);
  const set = (l: number) => c.byte(OP.localSet).u32(l);
  const i32 = (n: number) => c.byte(OP.i32Const).s32(n);
  const f64 = (x: number) => c.byte(OP.f64Const).f64(x);
  /** f64 at memory[base + local]. */
  const loadAt = (local: number, base: number) => {
    get(local);
    c.byte(OP.f64Load).u32(3).u32(base);
  };
  const loadI32 = (local: number, offset: number) => {
    get(local);
    c.byte(OP.i32Load).u32(2).u32(offset);
  };
  /** memory[base + local] += push(). */
  const addTo = (local: number, base: number, push: () => void) => {
    get(local);
    loadAt(local, base);
    push();
    c.byte(OP.f64Add).byte(OP.f64Store).u32(3).u32(base);
  };
  const times = (l: number) => () => {
    get(G);
    get(l);
    c.byte(OP.f64Mul);
  };
  const plainG = () => get(G);
  const minusG = () => {
    get(G);
    c.byte(OP.f64Neg);
  };
  // k from L − 1: kc and k as byte offsets.
  i32(16 * (m.L - 1));
  set(KC);
  i32(8 * (m.L - 1));
  set(K);
  c.byte(OP.block).byte(VOID_BLOCK); // $done
  if (m.L > 0) {
    c.byte(OP.loop).byte(VOID_BLOCK); // $loop
    c.byte(OP.block).byte(VOID_BLOCK); // $next
    // g = adj[k]; skip where it is exactly 0 (NaN is not) or reaches nothing wanted.
    loadAt(K, m.ADJ);
    c.byte(OP.localTee).u32(G);
    f64(0);
    c.byte(OP.f64Eq).byte(OP.brIf).u32(0);
    loadI32(KC, m.CODE);
    c.byte(OP.localTee).u32(W0);
    i32(8);
    c.byte(OP.i32ShrU);
    get(WANT);
    c.byte(OP.i32And).byte(OP.i32Eqz).byte(OP.brIf).u32(0);
    loadI32(KC, m.CODE + 4);
    set(A);
    loadI32(KC, m.CODE + 8);
    set(B);
    for (let i = 0; i < CASES; i++) c.byte(OP.block).byte(VOID_BLOCK);
    get(W0);
    i32(0xff);
    c.byte(OP.i32And).byte(OP.brTable).u32(CASES);
    for (let i = 0; i < CASES; i++) c.u32(i);
    c.u32(CASES); // default: $next
    for (let r = 0; r < CASES; r++) {
      c.byte(OP.end); // the block whose end is case r
      caseBody(r);
      // On to $next: past the blocks of the cases after this one.
      c.byte(OP.br).u32(CASES - 1 - r);
    }
    c.byte(OP.end); // $next
    // k -= 1 while k ≥ 0.
    get(KC);
    i32(16);
    c.byte(OP.i32Sub);
    set(KC);
    get(K);
    i32(8);
    c.byte(OP.i32Sub);
    c.byte(OP.localTee).u32(K);
    i32(0);
    c.byte(OP.i32GeS).byte(OP.brIf).u32(0);
    c.byte(OP.end); // $loop
  }
  c.byte(OP.end); // $done
  c.byte(OP.end);
  return c;

  /**
   * Terms i of the pairs of slots from a to a + b (byte offsets): `before` once, then `term` per term with A and B
   * holding its x's and y's slot (the instruction's own are no longer needed).
   */
  function overTerms(before: () => void, term: () => void) {
    get(A);
    set(I);
    get(A);
    get(B);
    c.byte(OP.i32Add);
    set(END);
    before();
    c.byte(OP.block).byte(VOID_BLOCK).byte(OP.loop).byte(VOID_BLOCK);
    get(I);
    get(END);
    c.byte(OP.i32Eq).byte(OP.brIf).u32(1);
    loadI32(I, m.TERMS);
    set(A);
    loadI32(I, m.TERMS + 4);
    set(B);
    term();
    get(I);
    i32(8);
    c.byte(OP.i32Add);
    set(I);
    c.byte(OP.br).u32(0);
    c.byte(OP.end).byte(OP.end);
  }

  function caseBody(r: number) {
    switch (r) {
      case R.SKIP:
        return;
      case R.STATE:
        addTo(A, m.VS, plainG);
        return;
      case R.PARAM:
        addTo(A, m.VP, plainG);
        return;
      case R.TIME:
        i32(0);
        i32(0);
        c.byte(OP.f64Load).u32(3).u32(m.VT);
        get(G);
        c.byte(OP.f64Add).byte(OP.f64Store).u32(3).u32(m.VT);
        return;
      case R.ADD:
        addTo(A, m.ADJ, plainG);
        addTo(B, m.ADJ, plainG);
        return;
      case R.SUB:
        addTo(A, m.ADJ, plainG);
        addTo(B, m.ADJ, minusG);
        return;
      case R.MUL:
        loadAt(A, m.V);
        set(X);
        loadAt(B, m.V);
        set(Y);
        addTo(A, m.ADJ, times(Y));
        addTo(B, m.ADJ, times(X));
        return;
      case R.NEG:
        addTo(A, m.ADJ, minusG);
        return;
      case R.UNARY:
        addTo(A, m.ADJ, () => {
          get(G);
          loadAt(A, m.V);
          loadAt(K, m.V);
          loadI32(KC, m.CODE + 12);
          c.byte(OP.callIndirect).u32(T_UNARY).byte(0x00);
          c.byte(OP.f64Mul);
        });
        return;
      case R.ABS: // x > 0 ? 1 : -1 (NaN: −1)
        addTo(A, m.ADJ, () => {
          get(G);
          f64(1);
          f64(-1);
          loadAt(A, m.V);
          f64(0);
          c.byte(OP.f64Gt).byte(OP.select).byte(OP.f64Mul);
        });
        return;
      case R.SIN: // Math.cos(x)
      case R.COS: // -Math.sin(x)
        addTo(A, m.ADJ, () => {
          get(G);
          loadAt(A, m.V);
          if (r === R.SIN) memoCall(c, math.cos, m.COS_MEMO, MEMO_LOCALS);
          else memoCall(c, math.sin, m.SIN_MEMO, MEMO_LOCALS);
          if (r === R.COS) c.byte(OP.f64Neg);
          c.byte(OP.f64Mul);
        });
        return;
      case R.SQUARE: // 2 * x
        addTo(A, m.ADJ, () => {
          get(G);
          f64(2);
          loadAt(A, m.V);
          c.byte(OP.f64Mul).byte(OP.f64Mul);
        });
        return;
      case R.EXP: // y
        addTo(A, m.ADJ, () => {
          get(G);
          loadAt(K, m.V);
          c.byte(OP.f64Mul);
        });
        return;
      case R.TANH: // 1 - y * y
        addTo(A, m.ADJ, () => {
          get(G);
          f64(1);
          loadAt(K, m.V);
          loadAt(K, m.V);
          c.byte(OP.f64Mul).byte(OP.f64Sub).byte(OP.f64Mul);
        });
        return;
      case R.BINARY:
      case R.DIV:
      case R.MIN:
      case R.MAX:
        loadAt(A, m.V);
        set(X);
        loadAt(B, m.V);
        set(Y);
        if (r === R.MIN || r === R.MAX) {
          // a <= b (min) or a >= b (max), false for NaN: 1 and 0, else 0 and 1.
          for (const [one, zero, into] of [
            [1, 0, DA],
            [0, 1, DB],
          ]) {
            f64(one);
            f64(zero);
            get(X);
            get(Y);
            c.byte(r === R.MIN ? OP.f64Le : OP.f64Ge).byte(OP.select);
            set(into);
          }
        } else if (r === R.DIV) {
          // 1 / b and -a / (b * b)
          f64(1);
          get(Y);
          c.byte(OP.f64Div);
          set(DA);
          get(X);
          c.byte(OP.f64Neg);
          get(Y);
          get(Y);
          c.byte(OP.f64Mul).byte(OP.f64Div);
          set(DB);
        } else {
          for (const [side, into] of [
            [0, DA],
            [1, DB],
          ]) {
            get(X);
            get(Y);
            loadAt(K, m.V);
            loadI32(KC, m.CODE + 12);
            if (side === 1) {
              i32(1);
              c.byte(OP.i32Add);
            }
            c.byte(OP.callIndirect).u32(T_BINARY).byte(0x00);
            set(into);
          }
        }
        addTo(A, m.ADJ, times(DA));
        addTo(B, m.ADJ, times(DB));
        return;
      case R.DELAY: // scalarKernel/delays.ts's readBack: g kept for the rows (delayedReads), tau's adjoint here
        loadI32(KC, m.CODE + 12);
        c.byte(OP.localTee).u32(I);
        get(G);
        c.byte(OP.f64Store).u32(3).u32(0);
        // tau's: −g·(b − a)/h where the read interpolates a tau with an adjoint, else 0
        addTo(B, m.ADJ, () => {
          get(I);
          c.byte(OP.i32Load).u32(2).u32(16).byte(OP.if).byte(F64);
          get(G);
          c.byte(OP.f64Neg);
          get(I);
          c.byte(OP.f64Load).u32(3).u32(8).byte(OP.f64Mul);
          i32(0);
          c.byte(OP.f64Load).u32(3).u32(m.H32);
          c.byte(OP.f64Div).byte(OP.else);
          f64(0);
          c.byte(OP.end);
        });
        return;
      case R.SELECT: // as the compiler: |c| > 0 (NaN → else)
        loadI32(KC, m.CODE + 12);
        set(I);
        loadAt(I, m.V);
        c.byte(OP.f64Abs);
        f64(0);
        c.byte(OP.f64Gt).byte(OP.if).byte(VOID_BLOCK);
        addTo(A, m.ADJ, plainG);
        c.byte(OP.else);
        addTo(B, m.ADJ, plainG);
        c.byte(OP.end);
        return;
      case R.PRODUCTS:
        // loopBack's order: per term, x's adjoint then y's, each from the values (a weight's takes none).
        overTerms(
          () => {
            loadI32(KC, m.CODE + 12);
            set(RA);
          },
          () => {
            loadAt(A, m.V);
            set(X);
            loadAt(B, m.V);
            set(Y);
            get(RA);
            c.byte(OP.i32Eqz).byte(OP.if).byte(VOID_BLOCK);
            addTo(A, m.ADJ, times(Y));
            c.byte(OP.end);
            addTo(B, m.ADJ, times(X));
          },
        );
        return;
      case R.DOT:
      case R.SUM:
        overTerms(
          () => {
            if (r !== R.DOT) return;
            // What each side's adjoints reach: a constant side (a weight row) takes none.
            for (const [byte, into] of [
              [2, RA],
              [3, RB],
            ]) {
              get(W0);
              i32(8 * byte);
              c.byte(OP.i32ShrU);
              i32(0xff);
              c.byte(OP.i32And);
              get(WANT);
              c.byte(OP.i32And);
              set(into);
            }
          },
          () => {
            if (r === R.SUM) {
              addTo(A, m.ADJ, plainG);
              return;
            }
            // Each side where its flag is set: adj[side] += g · the other side's value.
            for (const [flag, side, other] of [
              [RA, A, B],
              [RB, B, A],
            ]) {
              get(flag);
              c.byte(OP.if).byte(VOID_BLOCK);
              addTo(side, m.ADJ, () => {
                get(G);
                loadAt(other, m.V);
                c.byte(OP.f64Mul);
              });
              c.byte(OP.end);
            }
          },
        );
        return;
    }
  }
}
