// The few pieces of the WebAssembly binary format (https://webassembly.github.io/spec/core/binary/) that
// programWasm.ts and reverseWasm.ts write: LEB128 integers, float64 immediates, vectors and sections. No text
// format, no validation beyond what WebAssembly.Module does when it compiles the bytes.

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

  /** Signed LEB128 of a 64-bit integer (i64.const's immediate). */
  s64(n: bigint): this {
    for (;;) {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      const done = (n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return this;
    }
  }

  /** A float64 immediate, little-endian: every bit of x (−0 and NaN included). */
  f64(x: number): this {
    f64Scratch[0] = x;
    return this.bytes(f64Bytes);
  }

  /** An unsigned LEB128 in 5 bytes (redundant continuation bits), to be set later with setU32Fixed. */
  u32Fixed(n: number): this {
    for (let i = 0; i < 4; i++) this.byte(((n >>> (7 * i)) & 0x7f) | 0x80);
    return this.byte((n >>> 28) & 0x0f);
  }

  /** Rewrites the u32Fixed written at byte `at`. */
  setU32Fixed(at: number, n: number): void {
    for (let i = 0; i < 4; i++) this.buf[at + i] = ((n >>> (7 * i)) & 0x7f) | 0x80;
    this.buf[at + 4] = (n >>> 28) & 0x0f;
  }

  /** A SIMD instruction (SIMD's opcodes). */
  simd(op: number): this {
    return this.byte(0xfd).u32(op);
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

/** What the engine uses of the WebAssembly API (the solver's TypeScript library has no such global declared). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array<ArrayBuffer>) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
/** A module's memory, as its exports give it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
/** The engine's WebAssembly, where it runs has one. */
export const webAssembly = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;

const f64Scratch = new Float64Array(1);
const f64Bytes = new Uint8Array(f64Scratch.buffer);

/** Value types. */
export const F64 = 0x7c,
  F32 = 0x7d,
  V128 = 0x7b,
  I64 = 0x7e,
  I32 = 0x7f;

/** Section ids. */
export const SECTION = {
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  export: 7,
  element: 9,
  code: 10,
} as const;

/** The opcodes programWasm.ts, reverseWasm.ts and the sin modules emit. */
export const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  brTable: 0x0e,
  return: 0x0f,
  call: 0x10,
  callIndirect: 0x11,
  select: 0x1b,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i64Load: 0x29,
  f32Load: 0x2a,
  f64Load: 0x2b,
  i64Store: 0x37,
  f32Store: 0x38,
  f64Store: 0x39,
  i32Const: 0x41,
  i64Const: 0x42,
  f64Const: 0x44,
  i32Eqz: 0x45,
  i32Eq: 0x46,
  i32Ne: 0x47,
  i32LtS: 0x48,
  i32GtS: 0x4a,
  i32LeS: 0x4c,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrS: 0x75,
  i32ShrU: 0x76,
  i64Shl: 0x86,
  i64Eq: 0x51,
  i64Mul: 0x7e,
  i64ShrU: 0x88,
  i32WrapI64: 0xa7,
  i32TruncF64S: 0xaa,
  i64ExtendI32U: 0xad,
  f64ConvertI32S: 0xb7,
  i64ReinterpretF64: 0xbd,
  f64ReinterpretI64: 0xbf,
  f32Eq: 0x5b,
  f64Eq: 0x61,
  f64Ne: 0x62,
  f64Lt: 0x63,
  f64Gt: 0x64,
  f64Le: 0x65,
  f64Ge: 0x66,
  f64Abs: 0x99,
  f64Neg: 0x9a,
  f32Add: 0x92,
  f32Mul: 0x94,
  f64Nearest: 0x9e,
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
} as const;

/** 128-bit SIMD's opcodes (each after the prefix 0xfd, as a LEB128 u32: `Bytes.simd`). */
export const SIMD = {
  v128Load: 0x00,
  i8x16Shuffle: 0x0d,
  i32x4Splat: 0x11,
  f64x2Splat: 0x14,
  i32x4ExtractLane: 0x1b,
  f64x2ExtractLane: 0x21,
  f64x2ReplaceLane: 0x22,
  f32x4Eq: 0x41,
  f64x2Eq: 0x47,
  f64x2Lt: 0x49,
  v128And: 0x4e,
  v128AndNot: 0x4f,
  v128Bitselect: 0x52,
  f32x4DemoteF64x2Zero: 0x5e,
  f64x2PromoteLowF32x4: 0x5f,
  f64x2Nearest: 0x94,
  i32x4AllTrue: 0xa3,
  i32x4Shl: 0xab,
  i64x2AllTrue: 0xc3,
  f64x2Abs: 0xec,
  f64x2Add: 0xf0,
  f64x2Sub: 0xf1,
  f64x2Mul: 0xf2,
  i32x4TruncSatF64x2SZero: 0xfc,
} as const;

let simd: boolean | undefined;
/** Whether this WebAssembly compiles 128-bit SIMD (a module of one function that makes a v128 and drops it). */
export function simdSupported(): boolean {
  if (simd === undefined) {
    const body = new Bytes().u32(0).simd(0x0c).bytes(new Uint8Array(16)).byte(0x1a).byte(OP.end);
    try {
      new (webAssembly as WebAssemblyApi).Module(
        moduleBytes([
          [SECTION.type, new Bytes().u32(1).byte(0x60).u32(0).u32(0)],
          [SECTION.function, new Bytes().u32(1).u32(0)],
          [SECTION.code, new Bytes().u32(1).vector(body)],
        ]),
      );
      simd = true;
    } catch {
      simd = false;
    }
  }
  return simd;
}

/** The empty block type (an `if` without a result). */
export const VOID_BLOCK = 0x40;

/** A module's header followed by its sections, in the order given. */
export function moduleBytes(sections: [number, Bytes][]): Uint8Array<ArrayBuffer> {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  for (const [id, body] of sections) out.byte(id).vector(body);
  return new Uint8Array(out.view());
}

/** A function the module imports (a table function's value or derivative), with its type's index. */
export interface Imported {
  fn: (...x: number[]) => number;
  type: number;
}

/** The functions a module imports, each once, in the order first asked for. */
export class ImportList {
  readonly list: Imported[] = [];
  private readonly index = new Map<unknown, number>();

  /** The import index of fn (a new one on first use). */
  at(fn: unknown, type: number): number {
    let i = this.index.get(fn);
    if (i === undefined) {
      this.index.set(fn, (i = this.list.length));
      this.list.push({ fn: fn as Imported['fn'], type });
    }
    return i;
  }

  /** a and b at consecutive indices (the first returned): a pair of derivatives a call_indirect finds as i, i + 1. */
  pair(a: unknown, b: unknown, type: number): number {
    const i = this.at(a, type);
    if (this.at(b, type) === i + 1) return i;
    const at = this.list.length;
    this.list.push({ fn: a as Imported['fn'], type }, { fn: b as Imported['fn'], type });
    return at;
  }
}

/**
 * A module of one exported function `run` (of type `type`, with `body`) on a memory of its own (`pages` of 64 KiB,
 * exported as `memory`), importing `imports` as functions 0 … n − 1 (module "f", names "0" …), and, with `table`, a
 * table holding them in that order for call_indirect. `types`: each function type's parameters and results.
 * `helpers`: functions of the module that `run` calls, at indices n + 1, n + 2, …
 */
export function instantiate(spec: {
  types: [number[], number[]][];
  imports: Imported[];
  type: number;
  body: Bytes;
  pages: number;
  table?: boolean;
  helpers?: { type: number; body: Bytes }[];
}): { run: unknown; memory: WasmMemory } {
  const helpers = spec.helpers ?? [];
  const { imports } = spec,
    n = imports.length;
  const types = new Bytes().u32(spec.types.length);
  for (const [params, results] of spec.types) types.byte(0x60).vector(params).vector(results);
  const importSection = new Bytes().u32(n);
  imports.forEach((f, i) => importSection.name('f').name(String(i)).byte(0x00).u32(f.type));
  const exportSection = new Bytes().u32(2);
  exportSection.name('run').byte(0x00).u32(n); // after the imported functions
  exportSection.name('memory').byte(0x02).u32(0);
  const sections: [number, Bytes][] = [
    [SECTION.type, types],
    [SECTION.import, importSection],
    [SECTION.function, helpers.reduce((b, h) => b.u32(h.type), new Bytes().u32(1 + helpers.length).u32(spec.type))],
  ];
  if (spec.table) sections.push([SECTION.table, new Bytes().u32(1).byte(0x70).byte(0x00).u32(Math.max(1, n))]);
  sections.push([SECTION.memory, new Bytes().u32(1).byte(0x00).u32(spec.pages)], [SECTION.export, exportSection]);
  if (spec.table) {
    // One active segment at offset 0: the imported functions in order.
    const elements = new Bytes().u32(1).byte(0x00).byte(OP.i32Const).s32(0).byte(OP.end).u32(n);
    for (let i = 0; i < n; i++) elements.u32(i);
    sections.push([SECTION.element, elements]);
  }
  sections.push([
    SECTION.code,
    helpers.reduce((b, h) => b.vector(h.body), new Bytes().u32(1 + helpers.length).vector(spec.body)),
  ]);
  const importObject = { f: Object.fromEntries(imports.map((f, i) => [String(i), f.fn])) };
  const api = webAssembly as WebAssemblyApi;
  const instance = new api.Instance(new api.Module(moduleBytes(sections)), importObject);
  const ex = instance.exports as { run: unknown; memory: WasmMemory };
  return { run: ex.run, memory: ex.memory };
}
