// sin(x) as a WebAssembly function with V8's Math.sin's bits: V8 computes it by fdlibm (its __kernel_sin, __kernel_cos
// and __ieee754_rem_pio2), which is written here operation for operation for |x| < 2^19·π/2; larger arguments, NaN
// and the infinities call the imported Math.sin. WebAssembly's f64 operations are IEEE 754's, without contraction,
// as V8's compiled fdlibm is. A call of Math.sin from WebAssembly is 10–20 ns; this is a few nanoseconds. Math.cos
// likewise (fdlibm's cos is the same reduction and kernels, a quadrant on). test/unit/wasmSin.test.ts holds both to
// V8's on millions of arguments.
import { Bytes, F64, I32, instantiate, OP } from './wasmBinary';

// fdlibm's constants, as the doubles its decimal literals round to.
const S1 = -1.6666666666666632e-1,
  S2 = 8.33333333332249e-3,
  S3 = -1.984126982985795e-4,
  S4 = 2.7557313707070068e-6,
  S5 = -2.5050760253406863e-8,
  S6 = 1.58969099521155e-10;
const C1 = 4.16666666666666e-2,
  C2 = -1.388888888887411e-3,
  C3 = 2.480158728947673e-5,
  C4 = -2.7557314351390663e-7,
  C5 = 2.087572321298175e-9,
  C6 = -1.1359647557788195e-11;
const INVPIO2 = 6.366197723675814e-1,
  PIO2_1 = 1.5707963267341256,
  PIO2_1T = 6.077100506506192e-11,
  PIO2_2 = 6.077100506303966e-11,
  PIO2_2T = 2.0222662487959506e-21,
  PIO2_3 = 2.0222662487111665e-21,
  PIO2_3T = 8.4784276603689e-32;

// Locals: the parameter x (0), then i32 hx, ix, n, j, i; f64 z, v, r, y0, y1, t, w, fn, t2, qx.
const X = 0,
  HX = 1,
  IX = 2,
  N = 3,
  J = 4,
  I = 5,
  Z = 6,
  V = 7,
  R = 8,
  Y0 = 9,
  Y1 = 10,
  T = 11,
  W = 12,
  FN = 13,
  T2 = 14,
  QX = 15;

const built = new Map<typeof Math.sin, (x: number) => number>();
/** Math.sin or Math.cos (fdlibm's cos is sin a quadrant on) as a WebAssembly function of its own module. */
function trigonometric(fn: typeof Math.sin): (x: number) => number {
  let f = built.get(fn);
  if (!f)
    built.set(
      fn,
      (f = instantiate({
        types: [[[F64], [F64]]],
        imports: [{ fn, type: 0 }],
        type: 0,
        body: sinBody(0, fn === Math.cos ? 1 : 0),
        pages: 1,
      }).run as (x: number) => number),
    );
  return f;
}

/**
 * Math.sin as a WebAssembly function, one module for every program: a pass imports it (programWasm.ts) and calls it
 * with no JavaScript between.
 */
export const wasmSin = (): ((x: number) => number) => trigonometric(Math.sin);
/** Math.cos likewise (the reverse pass's derivative of sin, reverseWasm.ts). */
export const wasmCos = (): ((x: number) => number) => trigonometric(Math.cos);

/**
 * The body of a function (f64) → f64 computing Math.sin (`quadrant` 0) or Math.cos (1): fdlibm's cos reduces x as sin
 * does and takes the kernel of the next quadrant, and __kernel_cos(x, 0) itself for |x| ≤ π/4. `mathFn`: the index of
 * the imported Math.sin or Math.cos (large arguments, NaN, the infinities).
 */
function sinBody(mathFn: number, quadrant: 0 | 1): Bytes {
  const c = new Bytes();
  c.u32(2).u32(5).byte(I32).u32(10).byte(F64);
  const get = (l: number) => c.byte(OP.localGet).u32(l);
  const set = (l: number) => c.byte(OP.localSet).u32(l);
  const f64 = (x: number) => c.byte(OP.f64Const).f64(x);
  const i32 = (x: number) => c.byte(OP.i32Const).s32(x);
  const op = (...o: number[]) => c.bytes(o);
  /** The high word of local l's f64. */
  const high = (l: number) => {
    get(l);
    op(OP.i64ReinterpretF64, OP.i64Const);
    c.s64(32n);
    op(OP.i64ShrU, OP.i32WrapI64);
  };
  const ret = () => op(OP.return);
  // Horner's sum of the polynomial in z: coefficients from the first (innermost last).
  const horner = (cs: number[]) => {
    f64(cs[0]);
    for (let k = 1; k < cs.length; k++) {
      get(Z);
      op(OP.f64Mul);
      f64(cs[k]);
      op(OP.f64Add);
    }
  };
  /** Whether |local l| < 2^-27 (fdlibm's kernels return x, or 1, there). */
  const tiny = (l: number) => {
    high(l);
    i32(0x7fffffff);
    op(OP.i32And);
    i32(0x3e400000);
    op(OP.i32LtS);
  };
  /** __kernel_sin(x, y, iy = 1) of locals (xl, yl), pushed. */
  const kernelSin = (xl: number, yl: number) => {
    tiny(xl);
    op(OP.if, F64);
    get(xl);
    op(OP.else);
    get(xl);
    get(xl);
    op(OP.f64Mul);
    set(Z);
    get(Z);
    get(xl);
    op(OP.f64Mul);
    set(V);
    // r = S2 + z*(S3 + z*(S4 + z*(S5 + z*S6)))
    horner([S6, S5, S4, S3, S2]);
    set(R);
    // x - ((z*(0.5*y - v*r) - y) - v*S1)
    get(xl);
    get(Z);
    f64(0.5);
    get(yl);
    op(OP.f64Mul);
    get(V);
    get(R);
    op(OP.f64Mul, OP.f64Sub, OP.f64Mul);
    get(yl);
    op(OP.f64Sub);
    get(V);
    f64(S1);
    op(OP.f64Mul, OP.f64Sub, OP.f64Sub);
    op(OP.end);
  };
  /** __kernel_cos(x, y) of locals (xl, yl; undefined: y = 0), pushed. */
  const kernelCos = (xl: number, yl?: number) => {
    const halfZ = () => {
      f64(0.5);
      get(Z);
      op(OP.f64Mul);
    };
    // z*r - x*y
    const zrMinusXy = () => {
      get(Z);
      get(R);
      op(OP.f64Mul);
      get(xl);
      if (yl === undefined) f64(0);
      else get(yl);
      op(OP.f64Mul, OP.f64Sub);
    };
    tiny(xl);
    op(OP.if, F64);
    f64(1);
    op(OP.else);
    high(xl);
    i32(0x7fffffff);
    op(OP.i32And);
    set(IX);
    get(xl);
    get(xl);
    op(OP.f64Mul);
    set(Z);
    // r = z*(C1 + z*(C2 + z*(C3 + z*(C4 + z*(C5 + z*C6)))))
    get(Z);
    horner([C6, C5, C4, C3, C2, C1]);
    op(OP.f64Mul);
    set(R);
    get(IX);
    i32(0x3fd33333);
    op(OP.i32LtS, OP.if, F64);
    // 1 - (0.5*z - (z*r - x*y))
    f64(1);
    halfZ();
    zrMinusXy();
    op(OP.f64Sub, OP.f64Sub);
    op(OP.else);
    // qx = 0.28125 above 0.78125, else the f64 of high word ix − 2^21 and low word 0.
    get(IX);
    i32(0x3fe90000);
    op(OP.i32GtS, OP.if, F64);
    f64(0.28125);
    op(OP.else);
    get(IX);
    i32(0x00200000);
    op(OP.i32Sub, OP.i64ExtendI32U);
    op(OP.i64Const);
    c.s64(32n);
    op(OP.i64Shl, OP.f64ReinterpretI64);
    op(OP.end);
    set(QX);
    // (1 - qx) - ((0.5*z - qx) - (z*r - x*y))
    f64(1);
    get(QX);
    op(OP.f64Sub);
    halfZ();
    get(QX);
    op(OP.f64Sub);
    zrMinusXy();
    op(OP.f64Sub, OP.f64Sub);
    op(OP.end);
    op(OP.end);
  };

  high(X);
  c.byte(OP.localTee).u32(HX);
  i32(0x7fffffff);
  op(OP.i32And);
  set(IX);
  // |x| ≤ π/4: sin's __kernel_sin(x, 0, 0) = x + v*(S1 + z*r), x itself below 2^-27; cos's __kernel_cos(x, 0).
  get(IX);
  i32(0x3fe921fb);
  op(OP.i32LeS, OP.if, 0x40);
  if (quadrant === 1) {
    kernelCos(X);
    ret();
  } else {
    get(IX);
    i32(0x3e400000);
    op(OP.i32LtS, OP.if, 0x40);
    get(X);
    ret();
    op(OP.end);
    get(X);
    get(X);
    op(OP.f64Mul);
    set(Z);
    get(Z);
    get(X);
    op(OP.f64Mul);
    set(V);
    horner([S6, S5, S4, S3, S2]);
    set(R);
    get(X);
    get(V);
    f64(S1);
    get(Z);
    get(R);
    op(OP.f64Mul, OP.f64Add, OP.f64Mul, OP.f64Add);
    ret();
  }
  op(OP.end);
  // Beyond the medium range, NaN and the infinities: Math.sin (Math.cos) itself.
  get(IX);
  i32(0x413921fb);
  op(OP.i32GtS, OP.if, 0x40);
  get(X);
  c.byte(OP.call).u32(mathFn);
  ret();
  op(OP.end);
  // __ieee754_rem_pio2: n and y0 + y1 = x − n·π/2.
  get(IX);
  i32(0x4002d97c);
  op(OP.i32LtS, OP.if, 0x40);
  {
    // |x| < 3π/4: one step of π/2 (two where x is near ±π/2).
    const near = () => {
      get(IX);
      i32(0x3ff921fb);
      op(OP.i32Ne);
    };
    const step = (sign: 1 | -1) => {
      const addSub = sign > 0 ? OP.f64Sub : OP.f64Add;
      get(X);
      f64(PIO2_1);
      op(addSub);
      set(Z);
      near();
      op(OP.if, 0x40);
      get(Z);
      f64(PIO2_1T);
      op(addSub);
      set(Y0);
      get(Z);
      get(Y0);
      op(OP.f64Sub);
      f64(PIO2_1T);
      op(addSub);
      set(Y1);
      op(OP.else);
      get(Z);
      f64(PIO2_2);
      op(addSub);
      set(Z);
      get(Z);
      f64(PIO2_2T);
      op(addSub);
      set(Y0);
      get(Z);
      get(Y0);
      op(OP.f64Sub);
      f64(PIO2_2T);
      op(addSub);
      set(Y1);
      op(OP.end);
      i32(sign);
      set(N);
    };
    get(HX);
    i32(0);
    op(OP.i32GtS, OP.if, 0x40);
    step(1);
    op(OP.else);
    step(-1);
    op(OP.end);
  }
  op(OP.else);
  {
    // Medium: n = (int)(|x|·2/π + ½), then x − n·π/2 in two or three parts.
    get(X);
    op(OP.f64Abs);
    set(T);
    get(T);
    f64(INVPIO2);
    op(OP.f64Mul);
    f64(0.5);
    op(OP.f64Add, OP.i32TruncF64S);
    c.byte(OP.localTee).u32(N);
    op(OP.f64ConvertI32S);
    set(FN);
    get(T);
    get(FN);
    f64(PIO2_1);
    op(OP.f64Mul, OP.f64Sub);
    set(R);
    get(FN);
    f64(PIO2_1T);
    op(OP.f64Mul);
    set(W);
    get(IX);
    i32(20);
    op(OP.i32ShrS);
    set(J);
    get(R);
    get(W);
    op(OP.f64Sub);
    set(Y0);
    /** i = j − ((hi(y0) >> 20) & 0x7ff) */
    const exponentGap = () => {
      get(J);
      high(Y0);
      i32(20);
      op(OP.i32ShrS);
      i32(0x7ff);
      op(OP.i32And, OP.i32Sub);
      set(I);
    };
    /** The next part of π/2 (p, its tail pt): t2 = r; w = fn·p; r = t2 − w; w = fn·pt − ((t2 − r) − w); y0 = r − w. */
    const part = (p: number, pt: number) => {
      get(R);
      set(T2);
      get(FN);
      f64(p);
      op(OP.f64Mul);
      set(W);
      get(T2);
      get(W);
      op(OP.f64Sub);
      set(R);
      get(FN);
      f64(pt);
      op(OP.f64Mul);
      get(T2);
      get(R);
      op(OP.f64Sub);
      get(W);
      op(OP.f64Sub, OP.f64Sub);
      set(W);
      get(R);
      get(W);
      op(OP.f64Sub);
      set(Y0);
    };
    exponentGap();
    get(I);
    i32(16);
    op(OP.i32GtS, OP.if, 0x40);
    part(PIO2_2, PIO2_2T);
    exponentGap();
    get(I);
    i32(49);
    op(OP.i32GtS, OP.if, 0x40);
    part(PIO2_3, PIO2_3T);
    op(OP.end);
    op(OP.end);
    // y1 = (r − y0) − w
    get(R);
    get(Y0);
    op(OP.f64Sub);
    get(W);
    op(OP.f64Sub);
    set(Y1);
    get(HX);
    i32(0);
    op(OP.i32LtS, OP.if, 0x40);
    get(Y0);
    op(OP.f64Neg);
    set(Y0);
    get(Y1);
    op(OP.f64Neg);
    set(Y1);
    i32(0);
    get(N);
    op(OP.i32Sub);
    set(N);
    op(OP.end);
  }
  op(OP.end);
  // sin by n mod 4: sin, cos, −sin, −cos of y0 + y1 (cos: n + 1).
  if (quadrant === 1) {
    get(N);
    i32(1);
    op(OP.i32Add);
    set(N);
  }
  get(N);
  i32(1);
  op(OP.i32And, OP.if, F64);
  kernelCos(Y0, Y1);
  op(OP.else);
  kernelSin(Y0, Y1);
  op(OP.end);
  set(T2);
  get(T2);
  op(OP.f64Neg);
  get(T2);
  get(N);
  i32(2);
  op(OP.i32And, OP.select);
  op(OP.end);
  return c;
}
