// The fused scalar program's data (engine/scalarRhs.ts compiles it; engine/programInterpreter.ts and
// engine/scalarKernel/ run it): a flat instruction list over element slots.
import type { BinaryOp, UnaryOp } from '../ops/table';

export type Instr =
  | { op: 'const'; value: number }
  | { op: 'state'; index: number }
  | { op: 'param'; index: number }
  | { op: 't' }
  // The operation table's entries (ops/table.ts): their float64 values and TF.js-defined derivatives.
  | { op: 'unary'; fn: UnaryOp; a: number }
  | { op: 'binary'; fn: BinaryOp; a: number; b: number }
  | { op: 'select'; c: number; a: number; b: number }
  // Σ a_i·b_i (b omitted: Σ a_i) in double, rounded once, as TF.js's cpu matMul and sum accumulate.
  | { op: 'dot'; a: number[]; b?: number[] }
  // XPPAUT's delay(x, tau): state element `index` at t − tau, read from the solve's history (engine/delays.ts's
  // rule; scalarKernel/delays.ts). `constant`: tau reads no state, parameter or t, so, as in the per-operation
  // compile, it is a number and has no gradient.
  | { op: 'delay'; index: number; tau: number; constant: boolean };

/**
 * The fused program over element slots: states and parameters flattened in order (row-major),
 * instructions, and per state element the instruction holding its f (−1: f = 0).
 */
export interface ScalarProgram {
  code: Instr[];
  outputs: number[];
  /** State and parameter elements in all. */
  states: number;
  params: number;
  /** Elements of each state and each parameter, in model order. */
  stateSizes: number[];
  paramSizes: number[];
  usesTime: boolean;
  /** The program reads `delay(x, tau)`: it runs only inside the whole-solve kernel, which keeps the history. */
  delays?: boolean;
}
