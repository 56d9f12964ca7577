// Math.fround(Math.sin(x)) in WebAssembly: what a forward pass keeps of sin, since every value it computes is rounded to
// float32 (programWasm.ts). fdlibm (wasmSin.ts) gives every bit of Math.sin; float32 keeps 24 of them, so a short
// evaluation decides the float32 whenever it lies far enough from a rounding boundary:
//   x = m·π/512 + d with m the nearest integer, |d| ≤ π/1024 (π/512 in two parts, the first short enough that m times
//   it, and x minus that, are exact for |m| < 2^20), and sin x = s·cos d + c·sin d, s and c the sine and cosine of
//   (m mod 1024)·π/512 from a table, cos d − 1 and sin d their Taylor polynomials to d⁴ and d⁵.
// That y is within 3.2·10⁻¹⁶ of sin x: the table's values within 2·10⁻¹⁶ each, the truncations within 2·10⁻¹⁸, the
// evaluation's roundings within 1.2·10⁻¹⁶. Math.sin is within 2.2·10⁻¹⁶ of it (fdlibm: under one ulp). ERROR is over
// three times the sum: when y − ERROR and y + ERROR round to the same float32, every number between does, Math.sin(x)
// among them, and that float32 is the answer. Otherwise fdlibm's sin is called and rounded: ±0 (which a batch returns
// as it is), |sin x| below about 10⁻⁸, |x| ≥ 4096, NaN and the infinities, and about one argument in 10⁷ otherwise.
// Two forms: a function of its own module (wasmSinFloat32), 3.7 ns a sine beyond its call where fdlibm's takes 5.1; and
// a pass's batch (sinBatchBody, the sines of one depth, sineBatches.ts), two sines to a SIMD instruction, 3.6 ns a sine
// in all where the call costs 6.5 (2 million float32 arguments in ±20, from a WebAssembly loop).
// test/unit/wasmSinFloat32.test.ts holds the function to Math.fround(Math.sin(x)) on millions of arguments and on the
// float32 arguments whose sine lies nearest a boundary; test/unit/programWasm.test.ts holds the batches to the
// interpreter's Math.sin.
import { Bytes, F32, F64, I32, instantiate, OP, SIMD, V128, VOID_BLOCK } from './wasmBinary';
import { wasmSin } from './wasmSin';

/** Table entries: (sin, cos) of mπ/512, m = 0 … 1023. */
const ENTRIES = 1024;
/** A bound on |y − Math.sin(x)| of the short evaluation (the header's), three times over. */
const ERROR = 2e-15;
/** Arguments from here on take fdlibm: m·P1 is exact while |m| < 2^20. */
const LIMIT = 4096;
const SCALE = ENTRIES / 2 / Math.PI;
// fdlibm's π/2 in parts (its PIO2_1, 33 bits, and PIO2_1T, the rest rounded) over 256: π/512, the scaling exact.
const P1 = 1.5707963267341256 / 256,
  P2 = 6.077100506506192e-11 / 256;
// Locals: the parameter x (0), then f64 m, d, z, y; i32 the entry's byte offset; f32 the float32 of y − ERROR.
const X = 0,
  M = 1,
  D = 2,
  Z = 3,
  Y = 4,
  ENTRY = 5,
  LOW = 6;

let built: ((x: number) => number) | undefined;

/** Math.fround(Math.sin(x)) as a WebAssembly function of its own module (the table in its memory), built once. */
export function wasmSinFloat32(): (x: number) => number {
  if (!built) {
    const { run, memory } = instantiate({
      types: [[[F64], [F64]]],
      imports: [{ fn: wasmSin(), type: 0 }],
      type: 0,
      body: body(0),
      pages: 1,
    });
    fillSinTable(memory, 0);
    built = run as (x: number) => number;
  }
  return built;
}

/** Bytes of the table (sin, cos of mπ/512, interleaved) in a module's memory. */
export const SIN_TABLE_BYTES = ENTRIES * 16;

let table: Float64Array | undefined;

/** The table at byte `at` of `memory`: the first octant's values evaluated (once), the rest by the cofunctions and quarter turns. */
export function fillSinTable(memory: { buffer: ArrayBuffer }, at: number): void {
  if (!table) {
    table = new Float64Array(2 * ENTRIES);
    const quarter = ENTRIES / 4,
      eighth = ENTRIES / 8;
    for (let m = 0; m < ENTRIES; m++) {
      const k = m % quarter;
      const angle = ((k <= eighth ? k : quarter - k) * Math.PI) / (ENTRIES / 2);
      let s = k <= eighth ? Math.sin(angle) : Math.cos(angle);
      let c = k <= eighth ? Math.cos(angle) : Math.sin(angle);
      // Each quarter turn: (s, c) → (c, −s).
      for (let q = 0; q < Math.floor(m / quarter); q++) [s, c] = [c, -s];
      table[2 * m] = s;
      table[2 * m + 1] = c;
    }
  }
  new Float64Array(memory.buffer, at, 2 * ENTRIES).set(table);
}

/** The arithmetic the short evaluation is written in: float64, or two float64 lanes of a v128. */
interface Lanes {
  num(v: number): void;
  mul(): void;
  add(): void;
  sub(): void;
  nearest(): void;
}

const float64 = (c: Bytes): Lanes => ({
  num: (v) => c.byte(OP.f64Const).f64(v),
  mul: () => c.byte(OP.f64Mul),
  add: () => c.byte(OP.f64Add),
  sub: () => c.byte(OP.f64Sub),
  nearest: () => c.byte(OP.f64Nearest),
});

const float64x2 = (c: Bytes): Lanes => ({
  num: (v) => c.byte(OP.f64Const).f64(v).simd(SIMD.f64x2Splat),
  mul: () => c.simd(SIMD.f64x2Mul),
  add: () => c.simd(SIMD.f64x2Add),
  sub: () => c.simd(SIMD.f64x2Sub),
  nearest: () => c.simd(SIMD.f64x2Nearest),
});

/**
 * The header's y of local `x`, pushed: m, d and z = d² into their locals, then `entries` (the table's offsets from m),
 * then s and c from `sine` and `cosine` (each pushes its lanes' table values).
 */
function shortSine(
  c: Bytes,
  a: Lanes,
  l: { x: number; m: number; d: number; z: number },
  entries: () => void,
  sine: () => void,
  cosine: () => void,
): void {
  const get = (i: number) => c.byte(OP.localGet).u32(i);
  const set = (i: number) => c.byte(OP.localSet).u32(i);
  // m = nearest(x·512/π), d = (x − m·P1) − m·P2, z = d²
  get(l.x);
  a.num(SCALE);
  a.mul();
  a.nearest();
  set(l.m);
  get(l.x);
  get(l.m);
  a.num(P1);
  a.mul();
  a.sub();
  get(l.m);
  a.num(P2);
  a.mul();
  a.sub();
  set(l.d);
  get(l.d);
  get(l.d);
  a.mul();
  set(l.z);
  entries();
  // y = s + (s·(cos d − 1) + c·sin d), cos d − 1 = z·(−1/2 + z/24), sin d = d + d·z·(−1/6 + z/120)
  sine();
  sine();
  get(l.z);
  get(l.z);
  a.num(1 / 24);
  a.mul();
  a.num(-0.5);
  a.add();
  a.mul();
  a.mul();
  cosine();
  get(l.d);
  get(l.d);
  get(l.z);
  a.mul();
  a.num(-1 / 6);
  get(l.z);
  a.num(1 / 120);
  a.mul();
  a.add();
  a.mul();
  a.add();
  a.mul();
  a.add();
  a.add();
}

/** (x) → Math.fround(Math.sin(x)); `fdlibm`: the imported sin's index. */
function body(fdlibm: number): Bytes {
  const c = new Bytes();
  c.u32(3).u32(4).byte(F64).u32(1).byte(I32).u32(1).byte(F32);
  const get = (i: number) => c.byte(OP.localGet).u32(i);
  const num = (v: number) => c.byte(OP.f64Const).f64(v);
  const ops = (...o: number[]) => c.bytes(o);
  get(X);
  ops(OP.f64Abs);
  num(LIMIT);
  ops(OP.f64Lt, OP.if, VOID_BLOCK);
  const entry = (offset: number) => () => {
    get(ENTRY);
    c.byte(OP.f64Load).u32(3).u32(offset);
  };
  shortSine(
    c,
    float64(c),
    { x: X, m: M, d: D, z: Z },
    () => {
      // The entry at (m mod 1024)·16
      get(M);
      c.byte(OP.i32TruncF64S)
        .byte(OP.i32Const)
        .s32(ENTRIES - 1)
        .byte(OP.i32And);
      c.byte(OP.i32Const).s32(4).byte(OP.i32Shl).byte(OP.localSet).u32(ENTRY);
    },
    entry(0),
    entry(8),
  );
  c.byte(OP.localSet).u32(Y);
  // Decided when y ± ERROR round to one float32.
  get(Y);
  num(ERROR);
  ops(OP.f64Sub, OP.f32DemoteF64, OP.localTee);
  c.u32(LOW);
  get(Y);
  num(ERROR);
  ops(OP.f64Add, OP.f32DemoteF64, OP.f32Eq, OP.if, VOID_BLOCK);
  get(LOW);
  ops(OP.f64PromoteF32, OP.return, OP.end, OP.end);
  get(X);
  ops(OP.call);
  c.u32(fdlibm);
  ops(OP.f32DemoteF64, OP.f64PromoteF32, OP.end);
  return c;
}

/**
 * A pass's sines in a batch, two at a time in SIMD lanes: a function (from, end) of the pass's module over the list of
 * (argument's byte offset, result's byte offset) pairs of i32 at bytes [from, end), an even number of pairs, each
 * result Math.fround(Math.sin(argument)) as the scalar function gives it. A pair whose lanes the short evaluation does
 * not decide (or with an argument beyond LIMIT) calls `scalar`, the index of the imported wasmSinFloat32, per lane.
 * `tableAt`: the table's byte offset in the pass's memory (fillSinTable).
 */
export function sinBatchBody(tableAt: number, scalar: number): Bytes {
  const c = new Bytes();
  // Locals after (from, end): i32 a0, r0, a1, r1, e0, e1; v128 x, m, d, z, y, low.
  const FROM = 0,
    END = 1,
    A0 = 2,
    R0 = 3,
    A1 = 4,
    R1 = 5,
    E0 = 6,
    E1 = 7,
    VX = 8,
    VM = 9,
    VD = 10,
    VZ = 11,
    VY = 12,
    VLOW = 13;
  c.u32(2).u32(6).byte(I32).u32(6).byte(V128);
  const get = (i: number) => c.byte(OP.localGet).u32(i);
  const set = (i: number) => c.byte(OP.localSet).u32(i);
  const lanes = float64x2(c);
  const ops = (...o: number[]) => c.bytes(o);
  const simd = (...o: number[]) => {
    for (const x of o) c.simd(x);
  };
  const word = (offset: number, into: number) => {
    get(FROM);
    c.byte(OP.i32Load).u32(2).u32(offset);
    set(into);
  };
  const lane = (v: number, i: number) => {
    get(v);
    c.simd(SIMD.f64x2ExtractLane).byte(i);
  };
  ops(OP.block, VOID_BLOCK, OP.loop, VOID_BLOCK);
  get(FROM);
  get(END);
  ops(OP.i32GeS, OP.brIf);
  c.u32(1);
  word(0, A0);
  word(4, R0);
  word(8, A1);
  word(12, R1);
  get(A0);
  c.byte(OP.f64Load).u32(3).u32(0).simd(SIMD.f64x2Splat);
  get(A1);
  c.byte(OP.f64Load).u32(3).u32(0).simd(SIMD.f64x2ReplaceLane).byte(1);
  set(VX);
  // s (c) of each lane's entry: the two entries loaded whole, their first (second) halves shuffled together.
  const halves = (half: number) => () => {
    get(E0);
    c.simd(SIMD.v128Load).u32(4).u32(tableAt);
    get(E1);
    c.simd(SIMD.v128Load).u32(4).u32(tableAt).simd(SIMD.i8x16Shuffle);
    for (let k = 0; k < 8; k++) c.byte(half * 8 + k);
    for (let k = 0; k < 8; k++) c.byte(16 + half * 8 + k);
  };
  shortSine(
    c,
    lanes,
    { x: VX, m: VM, d: VD, z: VZ },
    () => {
      // The entries' byte offsets, (m mod 1024)·16, lane by lane.
      get(VM);
      c.simd(SIMD.i32x4TruncSatF64x2SZero)
        .byte(OP.i32Const)
        .s32(ENTRIES - 1)
        .simd(SIMD.i32x4Splat);
      c.simd(SIMD.v128And).byte(OP.i32Const).s32(4).simd(SIMD.i32x4Shl);
      c.byte(OP.localTee).u32(VY).simd(SIMD.i32x4ExtractLane).byte(0);
      set(E0);
      get(VY);
      c.simd(SIMD.i32x4ExtractLane).byte(1);
      set(E1);
    },
    halves(0),
    halves(1),
  );
  set(VY);
  // A lane whose argument is ±0 (sin(a − a), say) is its argument, decided with no margin: the short evaluation gives
  // +0 for −0, and the margin would send every such pair to the scalar calls.
  get(VX);
  lanes.num(0);
  c.simd(SIMD.f64x2Eq);
  set(VZ);
  get(VX);
  get(VY);
  get(VZ);
  c.simd(SIMD.v128Bitselect);
  set(VY);
  lanes.num(ERROR);
  get(VZ);
  c.simd(SIMD.v128AndNot);
  set(VD);
  get(VY);
  get(VD);
  simd(SIMD.f64x2Sub, SIMD.f32x4DemoteF64x2Zero);
  set(VLOW);
  // Both lanes within LIMIT, and each lane's y ± ERROR one float32 (lanes 2 and 3 of both are 0).
  get(VX);
  simd(SIMD.f64x2Abs);
  lanes.num(LIMIT);
  simd(SIMD.f64x2Lt, SIMD.i64x2AllTrue);
  get(VLOW);
  get(VY);
  get(VD);
  simd(SIMD.f64x2Add, SIMD.f32x4DemoteF64x2Zero, SIMD.f32x4Eq, SIMD.i32x4AllTrue);
  ops(OP.i32And, OP.if, VOID_BLOCK);
  get(VLOW);
  c.simd(SIMD.f64x2PromoteLowF32x4);
  set(VY);
  get(R0);
  lane(VY, 0);
  c.byte(OP.f64Store).u32(3).u32(0);
  get(R1);
  lane(VY, 1);
  c.byte(OP.f64Store).u32(3).u32(0);
  ops(OP.else);
  get(R0);
  lane(VX, 0);
  c.byte(OP.call).u32(scalar).byte(OP.f64Store).u32(3).u32(0);
  get(R1);
  lane(VX, 1);
  c.byte(OP.call).u32(scalar).byte(OP.f64Store).u32(3).u32(0);
  ops(OP.end);
  get(FROM);
  c.byte(OP.i32Const).s32(16);
  ops(OP.i32Add);
  set(FROM);
  ops(OP.br);
  c.u32(0);
  ops(OP.end, OP.end, OP.end);
  return c;
}
