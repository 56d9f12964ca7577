// AD through an unrolled solve keeps every step's tensors on the tape until the backward pass: a long
// per-operation solve (thousands of steps, many kernels each) can exhaust the process's heap, which kills
// it outright. The solve loops call `guardSolveMemory` every few steps and stop with SolveMemoryExceeded, which
// the check reports as a model-too-large finding, while there is still room to say so.
import { getHeapStatistics } from 'node:v8';

/** Share of the heap limit at which a solve stops. */
const HEAP_SHARE = 0.7;
/** Steps between two looks at the heap (each look costs a few µs). */
const EVERY = 16;

export class SolveMemoryExceeded extends Error {
  constructor(
    readonly step: number,
    readonly steps: number,
    readonly heapMb: number,
    readonly limitMb: number,
  ) {
    super(`the solve used ${heapMb} MB of the ${limitMb} MB heap at step ${step} of ${steps}`);
  }
}

/** Throws SolveMemoryExceeded when the heap is past HEAP_SHARE of its limit (looked at every EVERY steps). */
export function guardSolveMemory(step: number, steps: number): void {
  if (step % EVERY !== 0) return;
  const h = getHeapStatistics();
  if (h.used_heap_size > HEAP_SHARE * h.heap_size_limit)
    throw new SolveMemoryExceeded(step, steps, Math.round(h.used_heap_size / 1e6), Math.round(h.heap_size_limit / 1e6));
}
