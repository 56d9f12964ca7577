// The fused scalar program's data (engine/scalarRhs.ts compiles it; engine/programInterpreter.ts and
// engine/scalarKernel/ run it): a flat instruction list over element slots.
import type { BinaryOp, UnaryOp } from '../ops/table';

export type Instr =
  | { op: 'const'; value: number }
  | { op: 'state'; index: number }
  | { op: 'param'; index: number }
  | { op: 't' }
  // A DAE's algebraic variable z_index, solved from the program's residuals (ScalarProgram.algebraic) before f.
  | { op: 'alg'; index: number }
  // The operation table's entries (ops/table.ts): their float64 values and TF.js-defined derivatives.
  | { op: 'unary'; fn: UnaryOp; a: number }
  | { op: 'binary'; fn: BinaryOp; a: number; b: number }
  | { op: 'select'; c: number; a: number; b: number }
  // Σ a_i·b_i (b omitted: Σ a_i) in double, rounded once, as TF.js's cpu matMul and sum accumulate.
  | { op: 'dot'; a: number[]; b?: number[] }
  // XPPAUT's delay(x, tau): state element `index` at t − tau, read from the solve's history (engine/delays.ts's
  // rule; scalarKernel/delays.ts). `constant`: tau reads no state, parameter or t, so, as in the per-operation
  // compile, it is a number and has no gradient.
  | { op: 'delay'; index: number; tau: number; constant: boolean }
  // Σ_k term_k for k < count, each term the body run with iteration k's operands, added as the balanced tree
  // of float32 sums that an expanded indexed sum or network function is (language/networkFunctions.ts's
  // balancedSum): the same numbers as the expanded terms, from one instruction whose size does not grow with count.
  // `term`: the body row holding the term.
  | { op: 'loop'; count: number; body: LoopInstr[]; term: number };

/**
 * One instruction of a loop's body, computed for every iteration k; operands are earlier body positions.
 * The body's last instruction is the term.
 */
export type LoopInstr =
  // Iteration k reads the program's slot slots[k] (a state element, a constant, a value computed before).
  | { op: 'gather'; slots: number[] }
  // Every iteration reads the program's slot `slot` (a value that does not vary with k, computed once).
  | { op: 'outer'; slot: number }
  | { op: 'unary'; fn: UnaryOp; a: number }
  | { op: 'binary'; fn: BinaryOp; a: number; b: number }
  | { op: 'select'; c: number; a: number; b: number };

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
  /**
   * A DAE (XPPAUT `0 = g` with `solv z=guess`): the slots of g's entries, one per algebraic variable, and the
   * variables' first guesses. Every evaluation first solves g(x, z, p, t) = 0 for z by Newton's method
   * (engine/algebraic.ts), then computes f with that z; reverse passes go through z by the implicit-function theorem.
   */
  algebraic?: { residuals: number[]; guesses: number[]; names: string[] };
}

/**
 * Operations one evaluation of the program runs, about: an instruction each, a loop's body once per term
 * (with the term's addition), a product's or sum's terms a tenth each.
 */
export function evaluationWork(prog: ScalarProgram): number {
  let work = 0;
  for (const c of prog.code) work += instructionWork(c);
  return work;
}

/** One instruction's share of evaluationWork. */
export function instructionWork(c: Instr): number {
  return c.op === 'loop' ? 1 + c.count * (c.body.length + 1) : c.op === 'dot' ? 1 + c.a.length / 10 : 1;
}
