// Math.fround(Math.sin(x)) as a WebAssembly function: what a forward pass keeps of sin, since every value it computes is
// rounded to float32 (programWasm.ts). fdlibm (wasmSin.ts) gives every bit of Math.sin; float32 keeps 24 of them, so a
// short evaluation decides the float32 whenever it lies far enough from a rounding boundary:
//   x = m·π/512 + d with m the nearest integer, |d| ≤ π/1024 (π/512 in two parts, the first short enough that m times
//   it, and x minus that, are exact for |m| < 2^20), and sin x = s·cos d + c·sin d, s and c the sine and cosine of
//   (m mod 1024)·π/512 from a table, cos d − 1 and sin d their Taylor polynomials to d⁴ and d⁵.
// That y is within 3.2·10⁻¹⁶ of sin x: the table's values within 2·10⁻¹⁶ each, the truncations within 2·10⁻¹⁸, the
// evaluation's roundings within 1.2·10⁻¹⁶. Math.sin is within 2.2·10⁻¹⁶ of it (fdlibm: under one ulp). ERROR is over
// three times the sum: when y − ERROR and y + ERROR round to the same float32, every number between does, Math.sin(x)
// among them, and that float32 is the answer. Otherwise fdlibm's sin is called and rounded: ±0 and |sin x| below about
// 10⁻⁸, |x| ≥ 4096, NaN and the infinities, and about one argument in 10⁷ otherwise. On sine-circle.ode's 12.6 million
// sines a solve this is 2.2 ns a call less than fdlibm's. test/unit/wasmSinFloat32.test.ts holds it to
// Math.fround(Math.sin(x)) on millions of arguments and on the float32 arguments whose sine lies nearest a boundary.
import { Bytes, F32, F64, I32, instantiate, OP, VOID_BLOCK } from './wasmBinary';
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
    fillTable(new Float64Array(memory.buffer, 0, 2 * ENTRIES));
    built = run as (x: number) => number;
  }
  return built;
}

/** sin and cos of mπ/512, interleaved: the first octant's evaluated, the rest by the cofunctions and quarter turns. */
function fillTable(t: Float64Array): void {
  const quarter = ENTRIES / 4,
    eighth = ENTRIES / 8;
  for (let m = 0; m < ENTRIES; m++) {
    const k = m % quarter;
    const angle = ((k <= eighth ? k : quarter - k) * Math.PI) / (ENTRIES / 2);
    let s = k <= eighth ? Math.sin(angle) : Math.cos(angle);
    let c = k <= eighth ? Math.cos(angle) : Math.sin(angle);
    // Each quarter turn: (s, c) → (c, −s).
    for (let q = 0; q < Math.floor(m / quarter); q++) [s, c] = [c, -s];
    t[2 * m] = s;
    t[2 * m + 1] = c;
  }
}

/** (x) → Math.fround(Math.sin(x)); `fdlibm`: the imported sin's index. */
function body(fdlibm: number): Bytes {
  const c = new Bytes();
  c.u32(3).u32(4).byte(F64).u32(1).byte(I32).u32(1).byte(F32);
  const get = (i: number) => c.byte(OP.localGet).u32(i);
  const set = (i: number) => c.byte(OP.localSet).u32(i);
  const num = (v: number) => c.byte(OP.f64Const).f64(v);
  const ops = (...o: number[]) => c.bytes(o);
  get(X);
  ops(OP.f64Abs);
  num(LIMIT);
  ops(OP.f64Lt, OP.if, VOID_BLOCK);
  // m = nearest(x·512/π), d = (x − m·P1) − m·P2, the entry at (m mod 1024)·16
  get(X);
  num(SCALE);
  ops(OP.f64Mul, OP.f64Nearest);
  set(M);
  get(X);
  get(M);
  num(P1);
  ops(OP.f64Mul, OP.f64Sub);
  get(M);
  num(P2);
  ops(OP.f64Mul, OP.f64Sub);
  set(D);
  get(M);
  ops(OP.i32TruncF64S, OP.i32Const);
  c.s32(ENTRIES - 1);
  ops(OP.i32And, OP.i32Const);
  c.s32(4);
  ops(OP.i32Shl);
  set(ENTRY);
  get(D);
  get(D);
  ops(OP.f64Mul);
  set(Z);
  const entry = (offset: number) => {
    get(ENTRY);
    c.byte(OP.f64Load).u32(3).u32(offset);
  };
  // y = s + (s·(cos d − 1) + c·sin d), cos d − 1 = z·(−1/2 + z/24), sin d = d + d·z·(−1/6 + z/120)
  entry(0);
  entry(0);
  get(Z);
  get(Z);
  num(1 / 24);
  ops(OP.f64Mul);
  num(-0.5);
  ops(OP.f64Add, OP.f64Mul, OP.f64Mul);
  entry(8);
  get(D);
  get(D);
  get(Z);
  ops(OP.f64Mul);
  num(-1 / 6);
  get(Z);
  num(1 / 120);
  ops(OP.f64Mul, OP.f64Add, OP.f64Mul, OP.f64Add);
  ops(OP.f64Mul, OP.f64Add, OP.f64Add);
  set(Y);
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
