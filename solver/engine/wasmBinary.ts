// The few pieces of the WebAssembly binary format (https://webassembly.github.io/spec/core/binary/) that
// programWasm.ts writes: LEB128 integers, float64 immediates, vectors and sections. No text format, no validation
// beyond what WebAssembly.Module does when it compiles the bytes.

/** A growing byte buffer. */
export class Bytes {
  private buf = new Uint8Array(1024);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): this {
    this.room(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(bs: ArrayLike<number>): this {
    this.room(bs.length);
    this.buf.set(bs, this.length);
    this.length += bs.length;
    return this;
  }

  /** Unsigned LEB128 (u32: counts, indices, offsets). */
  u32(n: number): this {
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      this.byte(b);
    } while (n !== 0);
    return this;
  }

  /** Signed LEB128 (i32.const's immediate). */
  s32(n: number): this {
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      const done = (n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  /** A float64 immediate, little-endian: every bit of x (−0 and NaN included). */
  f64(x: number): this {
    f64Scratch[0] = x;
    return this.bytes(f64Bytes);
  }

  /** A name or a vector of bytes: its length, then its bytes. */
  vector(bs: Bytes | ArrayLike<number>): this {
    const data = bs instanceof Bytes ? bs.view() : bs;
    return this.u32(data.length).bytes(data);
  }

  name(s: string): this {
    return this.vector(new TextEncoder().encode(s));
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const f64Scratch = new Float64Array(1);
const f64Bytes = new Uint8Array(f64Scratch.buffer);

/** Value types. */
export const F64 = 0x7c,
  I32 = 0x7f;

/** Section ids. */
export const SECTION = { type: 1, import: 2, function: 3, memory: 5, export: 7, code: 10 } as const;

/** The opcodes programWasm.ts emits. */
export const OP = {
  block: 0x02,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  call: 0x10,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f64Load: 0x2b,
  f64Store: 0x39,
  i32Const: 0x41,
  f64Const: 0x44,
  i32Eqz: 0x45,
  i32And: 0x71,
  f64Eq: 0x61,
  f64Ne: 0x62,
  f64Lt: 0x63,
  f64Gt: 0x64,
  f64Le: 0x65,
  f64Ge: 0x66,
  f64Abs: 0x99,
  f64Neg: 0x9a,
  f64Sqrt: 0x9f,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Div: 0xa3,
  f64Min: 0xa4,
  f64Max: 0xa5,
  f32DemoteF64: 0xb6,
  f64ConvertI32U: 0xb8,
  f64PromoteF32: 0xbb,
  /** Prefix of memory.fill (0xfc 11). */
  misc: 0xfc,
} as const;

/** The empty block type (an `if` without a result). */
export const VOID_BLOCK = 0x40;

/** A module's header followed by its sections, in the order given. */
export function moduleBytes(sections: [number, Bytes][]): Uint8Array<ArrayBuffer> {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const [id, body] of sections) out.byte(id).vector(body);
  return new Uint8Array(out.view());
}
