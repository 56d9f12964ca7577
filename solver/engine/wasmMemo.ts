// A memo of a pure function called from a WebAssembly pass (programWasm.ts's forward, reverseWasm.ts's derivatives):
// MEMO_SLOTS slots of (the argument's bits, the value) in the module's memory, direct-mapped by a multiplicative hash
// of the bits. A lattice's arguments often repeat (kohonen.ode's cos and exp of an index difference: 200 distinct
// arguments in 16,000 steps), and a slot read is a few instructions where a call of Math.cos from WebAssembly costs
// ~10–20 ns. The value returned is the function's own for those very bits, so no number changes; every slot starts
// as (+0, f(+0)) (fillMemo).
import { type Bytes, F64, OP } from './wasmBinary';

const MEMO_BITS = 12;
export const MEMO_SLOTS = 1 << MEMO_BITS;
/** A memo's bytes (16-byte aligned wherever it starts on a multiple of 16). */
export const MEMO_BYTES = 16 * MEMO_SLOTS;
const FIBONACCI_HASH = BigInt.asIntN(64, 0x9e3779b97f4a7c15n);

/** The pass's scratch locals a memoised call uses: the argument's bits (i64), its slot's address (i32), the argument (f64). */
export interface MemoLocals {
  bits: number;
  slot: number;
  arg: number;
}

/** The argument on the stack → fn's value (fn: an imported function's index), from its memo at byte `memo` when there. */
export function memoCall(c: Bytes, fn: number, memo: number, l: MemoLocals): void {
  c.byte(OP.localTee).u32(l.arg).byte(OP.i64ReinterpretF64).byte(OP.localTee).u32(l.bits);
  c.byte(OP.i64Const).s64(FIBONACCI_HASH).byte(OP.i64Mul);
  c.byte(OP.i64Const)
    .s64(BigInt(64 - MEMO_BITS))
    .byte(OP.i64ShrU)
    .byte(OP.i32WrapI64);
  c.byte(OP.i32Const).s32(4).byte(OP.i32Shl).byte(OP.i32Const).s32(memo).byte(OP.i32Add).byte(OP.localTee).u32(l.slot);
  c.byte(OP.i64Load).u32(3).u32(0).byte(OP.localGet).u32(l.bits).byte(OP.i64Eq);
  c.byte(OP.if).byte(F64); // (result f64)
  c.byte(OP.localGet).u32(l.slot).byte(OP.f64Load).u32(3).u32(8);
  c.byte(OP.else);
  c.byte(OP.localGet).u32(l.slot).byte(OP.localGet).u32(l.bits).byte(OP.i64Store).u32(3).u32(0);
  c.byte(OP.localGet).u32(l.arg).byte(OP.call).u32(fn).byte(OP.localSet).u32(l.arg);
  c.byte(OP.localGet).u32(l.slot).byte(OP.localGet).u32(l.arg).byte(OP.f64Store).u32(3).u32(8);
  c.byte(OP.localGet).u32(l.arg);
  c.byte(OP.end);
}

/** Every slot of the memo at byte `at` of `memory` as (+0, fn(+0)): a valid entry (the memory starts zeroed). */
export function fillMemo(memory: { buffer: ArrayBuffer }, at: number, fn: (x: number) => number): void {
  const mem = new Float64Array(memory.buffer, at, 2 * MEMO_SLOTS);
  const zero = fn(0);
  for (let i = 0; i < MEMO_SLOTS; i++) mem[2 * i + 1] = zero;
}
