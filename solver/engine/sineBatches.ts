// The order a WebAssembly forward pass evaluates a program in, so that its sines go in batches (programWasm.ts): each
// instruction's depth is the number of sines on its longest chain of operands, a sine one more than its argument's;
// the pass evaluates depth by depth, each depth's sines first as one batch (wasmSinFloat32.ts's sinBatchBody, two to a
// SIMD instruction), then its other instructions in the program's order. No value changes: an instruction still
// follows every operand it reads and computes the same operation on them (the functions a pass calls are functions of
// their arguments and of t alone), and a loop the interpreter computes from the values so far comes after every
// instruction before it.

/** What the order needs to know of each instruction. */
export interface OrderedInstruction {
  sine: boolean;
  /** The slots it reads (slots ≥ the program's length are states and parameters), or 'all' before it. */
  operands: readonly number[] | 'all';
}

/** The instructions other than sines in evaluation order, and before which of them each batch of sines goes. */
export interface PassOrder {
  order: number[];
  /** Batches in evaluation order: `at`, the position in `order` the batch goes before (order.length: at the end). */
  batches: { at: number; sines: number[] }[];
}

export function passOrder(L: number, instruction: (k: number) => OrderedInstruction): PassOrder {
  const depth = new Int32Array(L),
    isSine = new Uint8Array(L);
  let deepest = 0;
  for (let k = 0; k < L; k++) {
    const { sine, operands } = instruction(k);
    let d = 0;
    if (operands === 'all') d = deepest;
    else for (const slot of operands) if (slot < L) d = Math.max(d, depth[slot]);
    if (sine) d++;
    depth[k] = d;
    isSine[k] = sine ? 1 : 0;
    deepest = Math.max(deepest, d);
  }
  const sines: number[][] = Array.from({ length: deepest + 1 }, () => []),
    others: number[][] = Array.from({ length: deepest + 1 }, () => []);
  for (let k = 0; k < L; k++) (isSine[k] ? sines : others)[depth[k]].push(k);
  const order: number[] = [],
    batches: PassOrder['batches'] = [];
  for (let d = 0; d <= deepest; d++) {
    if (sines[d].length > 0) batches.push({ at: order.length, sines: sines[d] });
    for (const k of others[d]) order.push(k);
  }
  return { order, batches };
}
