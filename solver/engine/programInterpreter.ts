// The fused scalar program (engine/scalarProgram.ts) run from typed arrays: each instruction an integer
// opcode and operand slots, `+ − × ÷` and negation computed in place, every other function called from
// the operation table (ops/table.ts), so the numbers are those of the table's `value` and derivatives,
// bit for bit. Measured on a 400-state array model (3,605 instructions): 7.5 µs a forward evaluation
// against 55 µs walking the instruction objects (a switch on strings and a closure call per
// instruction). Built once per program.
//
// The reverse pass skips every instruction whose adjoint reaches no state (or parameter) that the caller wants
// except through a derivative that is zero everywhere (heav, sign, floor, comparisons, logic): such
// contributions are exactly 0 for finite values. A convolution of heav(u) (an XPPAUT lattice's firing rate)
// then costs nothing in the state products of the continuous reference's adjoint, and nothing at all when no
// parameter reads it either.
//
// A loop instruction (a long indexed sum or network function, scalarProgram.ts) runs its body one instruction at
// a time over all its iterations, in rows of K values of shared scratch, and adds the terms as their written-out
// tree does; its reverse pass recomputes the rows from the program's values before sweeping them back, so the
// values array stays one slot per instruction for every caller.
import { FUNCTIONS, NEGATE, OPERATORS, ZERO_DERIVATIVE, type BinaryOp, type UnaryOp } from '../ops/table';
import { evaluationWork, instructionWork, type LoopInstr, type ScalarProgram } from './scalarProgram';
import {
  generatedForward,
  generatedOutputs,
  generatedReverse,
  mayWriteOut,
  type ProgramArrays,
  type ReversePass,
} from './programCodegen';
import { type AlgebraicField, noteAlgebraicFailure, solveAlgebraic } from './algebraic';
import { denseLu } from './stepMatrix';
import { type DelayHistory, wasmForward } from './programWasm';
import { webAssembly } from './wasmBinary';
import { type DelayCotangents, wasmReverse } from './reverseWasm';

/**
 * A long program's interpreter, a copy of its own: its forward pass as WebAssembly where WebAssembly can run it (no
 * algebraic variables: programWasm.ts), its reverse pass too without loops (reverseWasm.ts), else its instructions
 * grouped by opcode.
 */
function longProgramInterpreter(prog: ScalarProgram): Interpreter {
  const compilable = !!webAssembly && prog.code.every((c) => c.op !== 'alg');
  return interpreterCopy()(prog, true, !compilable, true, compilable);
}

const CONST = 0,
  STATE = 1,
  PARAM = 2,
  TIME = 3,
  ADD = 4,
  SUB = 5,
  MUL = 6,
  NEG = 7,
  UNARY = 8,
  BINARY = 9,
  SELECT = 10,
  DOT = 11,
  SUM = 12,
  DELAY = 13,
  LOOP = 14,
  // A loop body's operand reads (scalarProgram.ts's LoopInstr).
  GATHER = 15,
  OUTER = 16,
  // A DAE's algebraic variable (scalarProgram.ts; solved by engine/algebraic.ts before the rest of the program).
  ALG = 17;

// The table's most used functions, each with an opcode of its own in the forward dispatch loops (`fop`; `op` keeps
// UNARY and BINARY for everything else). Called through fns[k], every function went through one call site that saw
// them all, a call V8 cannot inline; from a case of its own the callee is always the same and V8 inlines it (the same
// function, so the same numbers). kohonen.ode (600 such calls in 2,010 instructions): a solve 375 → 330 ms of CPU.
const unaryOf = (name: string) => (FUNCTIONS.get(name as never) as UnaryOp).value,
  binaryOf = (name: string) => (FUNCTIONS.get(name as never) as BinaryOp).value;
const sinV = unaryOf('sin'),
  cosV = unaryOf('cos'),
  expV = unaryOf('exp'),
  absV = unaryOf('abs'),
  tanhV = unaryOf('tanh'),
  logV = unaryOf('log'),
  sqrtV = unaryOf('sqrt'),
  minV = binaryOf('min'),
  maxV = binaryOf('max'),
  divV = OPERATORS['/'].value,
  powV = OPERATORS['^'].value,
  ltV = OPERATORS['<'].value,
  gtV = OPERATORS['>'].value,
  leV = OPERATORS['<='].value,
  geV = OPERATORS['>='].value;
const SIN = 18,
  COS = 19,
  EXP = 20,
  ABS = 21,
  TANH = 22,
  LOG = 23,
  SQRT = 24,
  MIN = 25,
  MAX = 26,
  DIV = 27,
  POW = 28,
  LT = 29,
  GT = 30,
  LE = 31,
  GE = 32;
/** The forward opcode of each function with one of its own. */
const OWN_OPCODE = new Map<unknown, number>([
  [FUNCTIONS.get('sin'), SIN],
  [FUNCTIONS.get('cos'), COS],
  [FUNCTIONS.get('exp'), EXP],
  [FUNCTIONS.get('abs'), ABS],
  [FUNCTIONS.get('tanh'), TANH],
  [FUNCTIONS.get('log'), LOG],
  [FUNCTIONS.get('sqrt'), SQRT],
  [FUNCTIONS.get('min'), MIN],
  [FUNCTIONS.get('max'), MAX],
  [OPERATORS['/'], DIV],
  [OPERATORS['^'], POW],
  [OPERATORS['<'], LT],
  [OPERATORS['>'], GT],
  [OPERATORS['<='], LE],
  [OPERATORS['>='], GE],
]);

type Fn = { value: (...x: number[]) => number } & Record<string, unknown>;
type Derivatives = {
  derivative: (x: number, y: number) => number;
  derivativeA: (x: number, y: number, z: number) => number;
  derivativeB: (x: number, y: number, z: number) => number;
};

/**
 * A loop instruction as typed arrays: body row b holds iteration k's value at b·K + k, so each body
 * instruction is one dispatch and a tight loop over the K iterations.
 */
interface Loop {
  K: number;
  T: number;
  /** The row holding the term. */
  term: number;
  op: Int32Array;
  /** Operand rows (a, b, c); a gather's first slot in `slots`; an outer read's slot. */
  A: Int32Array;
  B: Int32Array;
  C: Int32Array;
  fns: Fn[];
  slots: Int32Array;
  /** Per row, what its adjoint reaches (as `reaches`). */
  reach: Uint8Array;
  /** The program slots the body reads. */
  inputs: Int32Array;
  /**
   * The term is x_k·y_k with x and y each gathered or shared (a network function's weights times its
   * variables): the slots of x (K) then of y (K), so neither the rows nor their recomputation are needed.
   */
  products?: Int32Array;
  /** With products: the x_k are numbers (a weight table), these (float32, as `const` loads them); y's slots follow. */
  weights?: Float64Array;
}

/** The body's rows of every iteration into w, from the program's values v. */
function loopRows(l: Loop, v: Float64Array, w: Float64Array): void {
  const K = l.K,
    T = l.T,
    ops = l.op,
    As = l.A,
    Bs = l.B,
    slots = l.slots;
  for (let b = 0; b < T; b++) {
    const o = b * K,
      a = As[b] * K,
      c = Bs[b] * K;
    switch (ops[b]) {
      case GATHER: {
        const g = As[b];
        for (let k = 0; k < K; k++) w[o + k] = v[slots[g + k]];
        break;
      }
      case OUTER:
        w.fill(v[As[b]], o, o + K);
        break;
      case ADD:
        for (let k = 0; k < K; k++) w[o + k] = f32(w[a + k] + w[c + k]);
        break;
      case SUB:
        for (let k = 0; k < K; k++) w[o + k] = f32(w[a + k] - w[c + k]);
        break;
      case MUL:
        for (let k = 0; k < K; k++) w[o + k] = f32(w[a + k] * w[c + k]);
        break;
      case NEG:
        for (let k = 0; k < K; k++) w[o + k] = f32(-w[a + k]);
        break;
      case UNARY: {
        const fn = l.fns[b];
        for (let k = 0; k < K; k++) w[o + k] = f32(fn.value(w[a + k]));
        break;
      }
      case BINARY: {
        const fn = l.fns[b];
        for (let k = 0; k < K; k++) w[o + k] = f32(fn.value(w[a + k], w[c + k]));
        break;
      }
      case SELECT: {
        const q = l.C[b] * K;
        for (let k = 0; k < K; k++) w[o + k] = f32(Math.abs(w[q + k]) > 0 ? w[a + k] : w[c + k]);
        break;
      }
    }
  }
}

/** The loop's sum: its terms (into red) added pairwise level by level, as balancedSum's tree adds them. */
function loopValue(l: Loop, v: Float64Array, w: Float64Array, red: Float64Array): number {
  let n = l.K;
  const ps = l.products,
    ws = l.weights;
  if (ws && ps) {
    for (let k = 0; k < n; k++) red[k] = f32(ws[k] * v[ps[n + k]]);
  } else if (ps) {
    for (let k = 0; k < n; k++) red[k] = f32(v[ps[k]] * v[ps[n + k]]);
  } else {
    loopRows(l, v, w);
    const last = l.term * n;
    for (let k = 0; k < n; k++) red[k] = w[last + k];
  }
  while (n > 1) {
    const half = n >> 1;
    for (let i = 0; i < half; i++) red[i] = f32(red[2 * i] + red[2 * i + 1]);
    if (n & 1) red[half] = red[n - 1];
    n = half + (n & 1);
  }
  return red[0];
}

/** The loop's adjoint g (every term's, through the tree of sums) swept back through the body into adj. */
function loopBack(
  l: Loop,
  v: Float64Array,
  g: number,
  adj: Float64Array,
  want: number,
  w: Float64Array,
  wa: Float64Array,
): void {
  const K = l.K,
    ops = l.op,
    As = l.A,
    Bs = l.B,
    slots = l.slots,
    reach = l.reach;
  const ps = l.products,
    ws = l.weights;
  if (ws && ps) {
    for (let k = 0; k < K; k++) adj[ps[K + k]] += g * ws[k]; // a number's adjoint reaches nothing
    return;
  }
  if (ps) {
    for (let k = 0; k < K; k++) {
      const a = ps[k],
        b = ps[K + k];
      const x = v[a],
        y = v[b];
      adj[a] += g * y;
      adj[b] += g * x;
    }
    return;
  }
  loopRows(l, v, w);
  wa.fill(0, 0, l.T * K);
  wa.fill(g, l.term * K, (l.term + 1) * K);
  for (let b = l.T - 1; b >= 0; b--) {
    if ((reach[b] & want) === 0) continue;
    const o = b * K,
      a = As[b] * K,
      c = Bs[b] * K;
    switch (ops[b]) {
      case GATHER: {
        const at = As[b];
        for (let k = 0; k < K; k++) adj[slots[at + k]] += wa[o + k];
        break;
      }
      case OUTER: {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += wa[o + k];
        adj[As[b]] += sum;
        break;
      }
      case ADD:
        for (let k = 0; k < K; k++) {
          wa[a + k] += wa[o + k];
          wa[c + k] += wa[o + k];
        }
        break;
      case SUB:
        for (let k = 0; k < K; k++) {
          wa[a + k] += wa[o + k];
          wa[c + k] += -wa[o + k];
        }
        break;
      case MUL:
        for (let k = 0; k < K; k++) {
          const x = w[a + k],
            y = w[c + k],
            gk = wa[o + k];
          wa[a + k] += gk * y;
          wa[c + k] += gk * x;
        }
        break;
      case NEG:
        for (let k = 0; k < K; k++) wa[a + k] += -wa[o + k];
        break;
      case UNARY: {
        const fn = l.fns[b] as unknown as Derivatives;
        for (let k = 0; k < K; k++) wa[a + k] += wa[o + k] * fn.derivative(w[a + k], w[o + k]);
        break;
      }
      case BINARY: {
        const fn = l.fns[b] as unknown as Derivatives;
        for (let k = 0; k < K; k++) {
          const x = w[a + k],
            y = w[c + k],
            gk = wa[o + k];
          const da = fn.derivativeA(x, y, w[o + k]),
            db = fn.derivativeB(x, y, w[o + k]);
          wa[a + k] += gk * da;
          wa[c + k] += gk * db;
        }
        break;
      }
      case SELECT: {
        const q = l.C[b] * K;
        for (let k = 0; k < K; k++)
          if (Math.abs(w[q + k]) > 0) wa[a + k] += wa[o + k];
          else wa[c + k] += wa[o + k];
        break;
      }
    }
  }
}

const f32 = Math.fround;

/**
 * What a reverse pass accumulates: (∂f/∂s)ᵀcot into vs, (∂f/∂p)ᵀcot into vp, or both; WANT_ALL adds (∂f/∂t)ᵀcot
 * into vt (a delay's history formula, read before t0).
 */
export const WANT_STATES = 1,
  WANT_PARAMS = 2,
  WANT_BOTH = 3,
  WANT_ALL = 7;
const WANT_TIME = 4,
  // A Jacobian pass of a DAE's algebraic equations: what reaches its algebraic variables.
  WANT_ALGEBRAIC = 8;
export type Wanted = typeof WANT_STATES | typeof WANT_PARAMS | typeof WANT_BOTH | typeof WANT_ALL;

/**
 * The solve's history that a program's delay instructions read (scalarKernel/delays.ts); a WebAssembly reverse
 * pass asks it for its reads' rows (DelayCotangents).
 */
export interface DelayReader extends DelayHistory, Partial<DelayCotangents> {
  /** The adjoint of that read: adds its cotangent g to the history's cotangents and returns tau's. */
  readBack(index: number, now: number, tau: number, constant: boolean, g: number, key?: number): number;
  /**
   * The reads of one tau, as `read` computes each: v[into[r]] = state index[r] at now − tau for r in [from, to),
   * located once (a network's delayed reads of one lag, which the grouped forward pass runs together).
   */
  readRun?(
    index: Int32Array,
    into: Int32Array,
    from: number,
    to: number,
    v: Float64Array,
    now: number,
    tau: number,
    constant: boolean,
    key: number,
  ): void;
}

export interface Interpreter {
  /** The forward pass runs as written-out JS (programCodegen.ts), not through the dispatch loop. */
  readonly writtenOut: boolean;
  /** Its loops are a copy compiled for this program alone (interpreterCopy). */
  readonly ownCopy: boolean;
  /** Its forward pass and f alone run as WebAssembly (programWasm.ts). */
  readonly compiled: boolean;
  /** Its reverse pass runs as WebAssembly (reverseWasm.ts), not the sweep (a loop that is not products keeps it). */
  readonly reverseCompiled: boolean;
  /** `outputs` runs as written-out JS with locals (programCodegen.ts's generatedOutputs), not through `forward`. */
  readonly outputsWrittenOut: boolean;
  /** The dispatch loop runs the instructions in runs of one opcode (groupedForward), not in program order. */
  readonly grouped: boolean;
  /** The reverse pass with `want` runs as written-out JS (programCodegen.ts's generatedReverse), not the sweep loop. */
  reverseWrittenOut(want: Wanted): boolean;
  /** Every instruction's float32-rounded value into v, states read from s[sAt…]; `delays` for a program with delays. */
  forward(
    s: ArrayLike<number>,
    sAt: number,
    p: ArrayLike<number>,
    t: number,
    v: Float64Array,
    delays?: DelayReader,
  ): void;
  /**
   * f alone: out[e] the value of output e (0 where it has none), as `forward` computes it, without the other values
   * (written out with locals where the program allows, programCodegen.ts's generatedOutputs).
   */
  outputs(
    s: ArrayLike<number>,
    sAt: number,
    p: ArrayLike<number>,
    t: number,
    out: Float64Array,
    delays?: DelayReader,
  ): void;
  /**
   * The values a reverse pass with `want` reads (and what they are computed from), for a linearisation whose
   * forward values feed only such passes: the others in v are left as they were.
   */
  forwardFor(want: Wanted, s: ArrayLike<number>, sAt: number, p: ArrayLike<number>, t: number, v: Float64Array): void;
  /**
   * Adds (∂f/∂s)ᵀcot into vs and (∂f/∂p)ᵀcot into vp from the outputs' cotangents; `adj` is cleared scratch of
   * the program's length. With `want` WANT_STATES (WANT_PARAMS) only vs (vp) is complete: the other may hold part.
   * A program with delays passes the forward's reader and t; with WANT_ALL, vt[0] gets (∂f/∂t)ᵀcot.
   */
  reverse(
    v: Float64Array,
    cot: ArrayLike<number>,
    vs: Float64Array,
    vp: Float64Array,
    adj: Float64Array,
    want?: Wanted,
    delays?: DelayReader,
    t?: number,
    vt?: Float64Array,
  ): void;
  /**
   * The cone of the output slots `seeded` for `want`: the instructions whose adjoint can be nonzero when only those
   * outputs' cotangents are and whose adjoint reaches `want`, descending (as the sweep visits them).
   */
  cone(seeded: ArrayLike<number>, want: Wanted): Int32Array;
  /**
   * `reverse` without delays or algebraic variables, visiting only `cone`'s instructions (the cone of the outputs
   * whose cotangents are nonzero): every other instruction's adjoint is exactly 0 in the whole sweep, which skips it,
   * so vs and vp get the same additions in the same order.
   */
  reverseOn(
    cone: Int32Array,
    v: Float64Array,
    cot: ArrayLike<number>,
    vs: Float64Array,
    vp: Float64Array,
    adj: Float64Array,
    want: Wanted,
  ): void;
}

const noHistory: DelayReader = {
  read() {
    throw new Error('a program with delays runs inside the whole-solve kernel, which keeps the history');
  },
  readBack() {
    throw new Error('a program with delays runs inside the whole-solve kernel, which keeps the history');
  },
};

const built = new WeakMap<ScalarProgram, Interpreter>();

/** The program's interpreter (made on first use, kept while the program lives). */
export function interpreterOf(prog: ScalarProgram): Interpreter {
  let it = built.get(prog);
  if (!it)
    built.set(prog, (it = mayWriteOut(prog.code.length) ? interpreter(prog, true) : longProgramInterpreter(prog)));
  return it;
}

/**
 * A copy of `interpreter` (and of groupedForward, whose loop it returns) compiled afresh, for a program whose passes
 * run through the dispatch loops. V8 optimises a closure for the values it captures (the program's instruction arrays
 * as constants) only while its function has made one closure; once a process has built a second program's
 * interpreter (a check's event or noise program, the language server's next check), every program's loops load
 * their arrays anew at each instruction: cgl.ode's forward pass 3.0 → 6.2 ns an instruction, a second check of it in
 * one process 1.7 times the first. Each copy is a function of its own (new Function of the same source, told apart by
 * a comment so that V8 does not reuse the compiled one), so each program's loops get the constants again. The copy
 * reads this module's bindings from `moduleBindings` (a direct eval would see them itself, but one anywhere in the
 * bundle slows V8's compiles of all of it: cgl's single check 1.8 → 2.3 s of CPU), and its `case` labels are the
 * opcodes' numbers, so that its switches stay jump tables.
 */
function interpreterCopy(): typeof interpreter {
  copySource ??= interpreterCopySource();
  const make = new Function('bindings', `${copySource.body}\n// copy ${++copies}`);
  return make(copySource.bindings);
}
let copies = 0;
/** The copies' source and the bindings it reads: the same for every copy, so made once. */
let copySource: { body: string; bindings: [string, unknown][] } | undefined;

function interpreterCopySource(): { body: string; bindings: [string, unknown][] } {
  // A minifier may write a constant's value where it is read: that binding is then read nowhere.
  const bindings = moduleBindings().filter(([name]) => /^[A-Za-z_$][\w$]*$/.test(name));
  // The copy's own groupedForward, under the name the copied interpreter calls it by.
  const [grouped] = bound(() => groupedForward);
  let source = `(() => { const ${grouped} = (${groupedForward}); return (${interpreter}); })()`;
  for (const [name, value] of bindings)
    if (typeof value === 'number')
      source = source.replace(new RegExp(`\\bcase ${name.replace(/\$/g, '\\$')}:`, 'g'), `case ${value}:`);
  const declared = bindings.map(([name], i) => `${name} = bindings[${i}][1]`).join(', ');
  return { body: `'use strict';\nconst ${declared};\nreturn ${source};`, bindings };
}

/** A binding as the running code names it, and its value. */
function bound(read: () => unknown): [string, unknown] {
  return [read.toString().replace(/^\(\)\s*=>\s*/, ''), read()];
}

/**
 * Every binding of this module and its imports that `interpreter` and groupedForward may read, each named as the
 * running code names it (the bundler may rename them: `() => f32` reads back as the bundle wrote it).
 * test/unit/interpreterCopy.test.ts holds it to the module's declarations and imports.
 */
function moduleBindings(): [string, unknown][] {
  return [
    // opcodes
    bound(() => CONST),
    bound(() => STATE),
    bound(() => PARAM),
    bound(() => TIME),
    bound(() => ADD),
    bound(() => SUB),
    bound(() => MUL),
    bound(() => NEG),
    bound(() => UNARY),
    bound(() => BINARY),
    bound(() => SELECT),
    bound(() => DOT),
    bound(() => SUM),
    bound(() => DELAY),
    bound(() => LOOP),
    bound(() => GATHER),
    bound(() => OUTER),
    bound(() => ALG),
    bound(() => SIN),
    bound(() => COS),
    bound(() => EXP),
    bound(() => ABS),
    bound(() => TANH),
    bound(() => LOG),
    bound(() => SQRT),
    bound(() => MIN),
    bound(() => MAX),
    bound(() => DIV),
    bound(() => POW),
    bound(() => LT),
    bound(() => GT),
    bound(() => LE),
    bound(() => GE),
    bound(() => WANT_STATES),
    bound(() => WANT_PARAMS),
    bound(() => WANT_BOTH),
    bound(() => WANT_ALL),
    bound(() => WANT_TIME),
    bound(() => WANT_ALGEBRAIC),
    // the table's functions and the module's helpers
    bound(() => unaryOf),
    bound(() => binaryOf),
    bound(() => sinV),
    bound(() => cosV),
    bound(() => expV),
    bound(() => absV),
    bound(() => tanhV),
    bound(() => logV),
    bound(() => sqrtV),
    bound(() => minV),
    bound(() => maxV),
    bound(() => divV),
    bound(() => powV),
    bound(() => ltV),
    bound(() => gtV),
    bound(() => leV),
    bound(() => geV),
    bound(() => OWN_OPCODE),
    bound(() => f32),
    bound(() => noHistory),
    bound(() => built),
    bound(() => zero),
    bound(() => loopRows),
    bound(() => loopValue),
    bound(() => loopBack),
    bound(() => reaches),
    bound(() => bodyReach),
    bound(() => compileLoop),
    bound(() => outputValue),
    bound(() => interpreterOf),
    bound(() => dispatchingInterpreter),
    bound(() => inOrderInterpreter),
    bound(() => longProgramInterpreter),
    // imports
    bound(() => FUNCTIONS),
    bound(() => NEGATE),
    bound(() => OPERATORS),
    bound(() => ZERO_DERIVATIVE),
    bound(() => generatedForward),
    bound(() => generatedOutputs),
    bound(() => generatedReverse),
    bound(() => mayWriteOut),
    bound(() => noteAlgebraicFailure),
    bound(() => solveAlgebraic),
    bound(() => denseLu),
    bound(() => wasmForward),
    bound(() => wasmReverse),
    bound(() => webAssembly),
    bound(() => evaluationWork),
    bound(() => instructionWork),
  ];
}

/** The interpreter without the written-out forward pass (programCodegen.ts): what that pass is held to. */
export function dispatchingInterpreter(prog: ScalarProgram): Interpreter {
  return interpreter(prog, false);
}

/** The dispatching interpreter in program order, without runs of one opcode: what groupedForward is held to. */
export function inOrderInterpreter(prog: ScalarProgram): Interpreter {
  return interpreter(prog, false, false);
}

function interpreter(
  prog: ScalarProgram,
  writeOut: boolean,
  group = true,
  ownCopy = false,
  compile = false,
): Interpreter {
  const L = prog.code.length;
  const op = new Int32Array(L),
    A = new Int32Array(L),
    B = new Int32Array(L),
    C = new Int32Array(L),
    consts = new Float64Array(L);
  const fns: Fn[] = new Array(L);
  const terms: number[] = [],
    termsB: number[] = [];
  const reach = reaches(prog);
  // Per dot product, what each side's adjoints reach: a constant side (a weight row) takes none of them.
  const dotA = new Uint8Array(L),
    dotB = new Uint8Array(L);
  const loops: Loop[] = [];
  prog.code.forEach((c, k) => {
    switch (c.op) {
      case 'const':
        op[k] = CONST;
        consts[k] = f32(c.value);
        break;
      case 'state':
        op[k] = STATE;
        A[k] = c.index;
        break;
      case 'param':
        op[k] = PARAM;
        A[k] = c.index;
        break;
      case 't':
        op[k] = TIME;
        break;
      case 'alg':
        op[k] = ALG;
        A[k] = c.index;
        break;
      case 'unary':
        op[k] = c.fn === NEGATE ? NEG : UNARY;
        A[k] = c.a;
        fns[k] = c.fn as unknown as (typeof fns)[number];
        break;
      case 'binary':
        op[k] = c.fn === OPERATORS['+'] ? ADD : c.fn === OPERATORS['-'] ? SUB : c.fn === OPERATORS['*'] ? MUL : BINARY;
        A[k] = c.a;
        B[k] = c.b;
        fns[k] = c.fn as unknown as (typeof fns)[number];
        break;
      case 'select':
        op[k] = SELECT;
        C[k] = c.c;
        A[k] = c.a;
        B[k] = c.b;
        break;
      case 'dot':
        op[k] = c.b ? DOT : SUM;
        for (const i of c.a) dotA[k] |= reach[i];
        for (const i of c.b ?? []) dotB[k] |= reach[i];
        A[k] = terms.length; // first term
        B[k] = c.a.length;
        terms.push(...c.a);
        termsB.push(...(c.b ?? c.a.map(() => 0)));
        break;
      case 'delay':
        op[k] = DELAY;
        A[k] = c.index;
        B[k] = c.tau;
        C[k] = c.constant ? 1 : 0;
        break;
      case 'loop':
        op[k] = LOOP;
        A[k] = loops.length;
        loops.push(compileLoop(c.count, c.body, c.term, reach, (i) => prog.code[i]));
        break;
    }
  });
  const fop = Int32Array.from(op, (o, k) => ((o === UNARY || o === BINARY) && OWN_OPCODE.get(fns[k])) || o);
  const ta = Int32Array.from(terms),
    tb = Int32Array.from(termsB);
  const outputs = Int32Array.from(prog.outputs);
  // Scratch shared by every loop: the body's rows, their adjoints, and the terms being added.
  let rowsAt = 0,
    termsAt = 0;
  for (const l of loops) {
    rowsAt = Math.max(rowsAt, l.T * l.K);
    termsAt = Math.max(termsAt, l.K);
  }
  const w = new Float64Array(rowsAt),
    wa = new Float64Array(rowsAt),
    red = new Float64Array(termsAt);
  // A DAE: the algebraic variables the instructions read now, and the last solution (the next solve's start).
  const alg = prog.algebraic,
    m = alg?.residuals.length ?? 0;
  const zNow = new Float64Array(m),
    zLast = Float64Array.from(alg?.guesses ?? []),
    zBar = new Float64Array(m),
    zJunk = new Float64Array(m),
    algScratch = { r: new Float64Array(m), J: new Float64Array(m * m) },
    adjJ = new Float64Array(alg ? L : 0),
    junkS = new Float64Array(alg ? prog.states : 0),
    junkP = new Float64Array(alg ? prog.params : 0);
  /** Every instruction in `order` (ascending), computed into v. */
  const run = (
    order: Int32Array,
    s: ArrayLike<number>,
    sAt: number,
    p: ArrayLike<number>,
    t: number,
    v: Float64Array,
  ) => {
    for (let i = 0, n = order.length; i < n; i++) {
      const k = order[i];
      switch (fop[k]) {
        case CONST:
          v[k] = consts[k];
          break;
        case STATE:
          v[k] = f32(s[sAt + A[k]]);
          break;
        case PARAM:
          v[k] = f32(p[A[k]]);
          break;
        case TIME:
          v[k] = f32(t);
          break;
        case ALG:
          v[k] = f32(zNow[A[k]]);
          break;
        case ADD:
          v[k] = f32(v[A[k]] + v[B[k]]);
          break;
        case SUB:
          v[k] = f32(v[A[k]] - v[B[k]]);
          break;
        case MUL:
          v[k] = f32(v[A[k]] * v[B[k]]);
          break;
        case NEG:
          v[k] = f32(-v[A[k]]);
          break;
        case UNARY:
          v[k] = f32(fns[k].value(v[A[k]]));
          break;
        case BINARY:
          v[k] = f32(fns[k].value(v[A[k]], v[B[k]]));
          break;
        case SIN:
          v[k] = f32(sinV(v[A[k]]));
          break;
        case COS:
          v[k] = f32(cosV(v[A[k]]));
          break;
        case EXP:
          v[k] = f32(expV(v[A[k]]));
          break;
        case ABS:
          v[k] = f32(absV(v[A[k]]));
          break;
        case TANH:
          v[k] = f32(tanhV(v[A[k]]));
          break;
        case LOG:
          v[k] = f32(logV(v[A[k]]));
          break;
        case SQRT:
          v[k] = f32(sqrtV(v[A[k]]));
          break;
        case MIN:
          v[k] = f32(minV(v[A[k]], v[B[k]]));
          break;
        case MAX:
          v[k] = f32(maxV(v[A[k]], v[B[k]]));
          break;
        case DIV:
          v[k] = f32(divV(v[A[k]], v[B[k]]));
          break;
        case POW:
          v[k] = f32(powV(v[A[k]], v[B[k]]));
          break;
        case LT:
          v[k] = f32(ltV(v[A[k]], v[B[k]]));
          break;
        case GT:
          v[k] = f32(gtV(v[A[k]], v[B[k]]));
          break;
        case LE:
          v[k] = f32(leV(v[A[k]], v[B[k]]));
          break;
        case GE:
          v[k] = f32(geV(v[A[k]], v[B[k]]));
          break;
        case SELECT:
          v[k] = f32(Math.abs(v[C[k]]) > 0 ? v[A[k]] : v[B[k]]); // as the compiler: |c| > 0 (NaN → else)
          break;
        case DOT: {
          let d = 0;
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) d += v[ta[i]] * v[tb[i]];
          v[k] = f32(d);
          break;
        }
        case SUM: {
          let d = 0;
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) d += v[ta[i]];
          v[k] = f32(d);
          break;
        }
        case DELAY:
          v[k] = noHistory.read(A[k], t, v[B[k]], C[k] === 1);
          break;
        case LOOP:
          v[k] = loopValue(loops[A[k]], v, w, red);
          break;
      }
    }
  };
  /**
   * Every instruction in program order, computed into v, in its own loop (an index list read per instruction made
   * the whole forward pass about a tenth slower): for programs whose order already keeps equal operations together.
   */
  const runInOrder = (
    s: ArrayLike<number>,
    sAt: number,
    p: ArrayLike<number>,
    t: number,
    v: Float64Array,
    delays: DelayReader,
  ) => {
    for (let k = 0; k < L; k++) {
      switch (fop[k]) {
        case CONST:
          v[k] = consts[k];
          break;
        case STATE:
          v[k] = f32(s[sAt + A[k]]);
          break;
        case PARAM:
          v[k] = f32(p[A[k]]);
          break;
        case TIME:
          v[k] = f32(t);
          break;
        case ALG:
          v[k] = f32(zNow[A[k]]);
          break;
        case ADD:
          v[k] = f32(v[A[k]] + v[B[k]]);
          break;
        case SUB:
          v[k] = f32(v[A[k]] - v[B[k]]);
          break;
        case MUL:
          v[k] = f32(v[A[k]] * v[B[k]]);
          break;
        case NEG:
          v[k] = f32(-v[A[k]]);
          break;
        case UNARY:
          v[k] = f32(fns[k].value(v[A[k]]));
          break;
        case BINARY:
          v[k] = f32(fns[k].value(v[A[k]], v[B[k]]));
          break;
        case SIN:
          v[k] = f32(sinV(v[A[k]]));
          break;
        case COS:
          v[k] = f32(cosV(v[A[k]]));
          break;
        case EXP:
          v[k] = f32(expV(v[A[k]]));
          break;
        case ABS:
          v[k] = f32(absV(v[A[k]]));
          break;
        case TANH:
          v[k] = f32(tanhV(v[A[k]]));
          break;
        case LOG:
          v[k] = f32(logV(v[A[k]]));
          break;
        case SQRT:
          v[k] = f32(sqrtV(v[A[k]]));
          break;
        case MIN:
          v[k] = f32(minV(v[A[k]], v[B[k]]));
          break;
        case MAX:
          v[k] = f32(maxV(v[A[k]], v[B[k]]));
          break;
        case DIV:
          v[k] = f32(divV(v[A[k]], v[B[k]]));
          break;
        case POW:
          v[k] = f32(powV(v[A[k]], v[B[k]]));
          break;
        case LT:
          v[k] = f32(ltV(v[A[k]], v[B[k]]));
          break;
        case GT:
          v[k] = f32(gtV(v[A[k]], v[B[k]]));
          break;
        case LE:
          v[k] = f32(leV(v[A[k]], v[B[k]]));
          break;
        case GE:
          v[k] = f32(geV(v[A[k]], v[B[k]]));
          break;
        case SELECT:
          v[k] = f32(Math.abs(v[C[k]]) > 0 ? v[A[k]] : v[B[k]]); // as the compiler: |c| > 0 (NaN → else)
          break;
        case DOT: {
          let d = 0;
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) d += v[ta[i]] * v[tb[i]];
          v[k] = f32(d);
          break;
        }
        case SUM: {
          let d = 0;
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) d += v[ta[i]];
          v[k] = f32(d);
          break;
        }
        case DELAY:
          v[k] = delays.read(A[k], t, v[B[k]], C[k] === 1, B[k]);
          break;
        case LOOP:
          v[k] = loopValue(loops[A[k]], v, w, red);
          break;
      }
    }
  };
  const runGrouped =
    group &&
    groupedForward(
      { L, fop, A, B, C, consts, fns, ta, tb, loopInputs: (i) => loops[i].inputs },
      (i, v) => loopValue(loops[i], v, w, red),
      (k) => zNow[k],
    );
  const runAll = runGrouped || runInOrder;
  const orders: (Int32Array | undefined)[] = [];
  /** What computing these instructions takes (scalarProgram.ts's evaluationWork). */
  const work = (order: ArrayLike<number>) => {
    let n = 0;
    for (let i = 0; i < order.length; i++) n += instructionWork(prog.code[order[i]]);
    return n;
  };
  const orderWork: (number | undefined)[] = [];
  let totalWork: number | undefined;
  /** The instructions whose values a reverse pass with `want` reads, with everything they are computed from. */
  const readBy = (want: Wanted): Int32Array => {
    const needed = new Uint8Array(L);
    for (let k = L - 1; k >= 0; k--) {
      if ((reach[k] & want) !== 0)
        switch (op[k]) {
          case MUL:
            needed[A[k]] = needed[B[k]] = 1;
            break;
          case UNARY:
            needed[A[k]] = needed[k] = 1;
            break;
          case BINARY:
            needed[A[k]] = needed[B[k]] = needed[k] = 1;
            break;
          case SELECT:
            needed[C[k]] = 1;
            break;
          case DELAY:
            needed[B[k]] = 1;
            break;
          case DOT:
            for (let i = A[k], end = A[k] + B[k]; i < end; i++) needed[ta[i]] = needed[tb[i]] = 1;
            break;
          case LOOP: // its reverse pass recomputes the body from every slot it reads
            for (const i of loops[A[k]].inputs) needed[i] = 1;
            break;
        }
      if (!needed[k]) continue;
      switch (op[k]) {
        case ADD:
        case SUB:
        case MUL:
        case BINARY:
          needed[A[k]] = needed[B[k]] = 1;
          break;
        case NEG:
        case UNARY:
          needed[A[k]] = 1;
          break;
        case SELECT:
          needed[A[k]] = needed[B[k]] = needed[C[k]] = 1;
          break;
        case DOT:
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) needed[ta[i]] = needed[tb[i]] = 1;
          break;
        case SUM:
          for (let i = A[k], end = A[k] + B[k]; i < end; i++) needed[ta[i]] = 1;
          break;
        case DELAY:
          needed[B[k]] = 1;
          break;
        case LOOP:
          for (const i of loops[A[k]].inputs) needed[i] = 1;
          break;
      }
    }
    const out: number[] = [];
    for (let k = 0; k < L; k++) if (needed[k]) out.push(k);
    return Int32Array.from(out);
  };
  // The forward pass written out as JS (programCodegen.ts): the same numbers without the dispatch.
  const arrays: ProgramArrays = {
    L,
    op,
    A,
    B,
    C,
    consts,
    ta,
    tb,
    values: Array.from(fns, (fn) => fn?.value),
    fns,
    loop: (i, v) => loopValue(loops[i], v, w, red),
    loopProducts: (i) => {
      const l = loops[i];
      return l.products ? { slots: l.products, weights: l.weights } : undefined;
    },
  };
  const opcodes = { CONST, STATE, PARAM, TIME, ADD, SUB, MUL, NEG, UNARY, BINARY, SELECT, DOT, SUM, DELAY, LOOP, ALG };
  const written = writeOut && generatedForward(arrays, opcodes);
  const compiled = compile ? wasmForward(arrays, opcodes, { states: prog.states, params: prog.params }) : undefined;
  const compiledReverse = compile
    ? wasmReverse(arrays, opcodes, { states: prog.states, params: prog.params, outputs, reach, dotA, dotB })
    : undefined;
  const forward = written || runAll;
  const writtenOutputs = written && !alg ? generatedOutputs(arrays, opcodes, outputs) : undefined;
  const outputValues = new Float64Array(L);
  // The reverse pass written out too, per `want` on first use (the same additions in the same order): where the
  // forward pass is written out, the sweeps of the reference's adjoint and of AD are the rest of a short program's time.
  // A program that cannot be written out (delays, loops) is remembered as null: `??=` would try again every pass.
  const reverses: (ReversePass | null | undefined)[] = [];
  const writtenReverse = (want: number): ReversePass | null => {
    if (!written || alg) return null;
    const known = reverses[want];
    if (known !== undefined) return known;
    return (reverses[want] = generatedReverse(arrays, opcodes, reach, want, outputs) ?? null);
  };
  /**
   * The reverse pass from the adjoints seeded in adj; an algebraic variable's adjoint goes into vz. sweepOn is the
   * same pass over a list of instructions, its loop's body this one's written out again (test/unit/jacobianCone.test.ts
   * holds the two to the same text): one loop for both made this one about 20 % slower on schnak.ode's Jacobian, and
   * the body as a function called from both loops 80 %.
   */
  const sweep = (
    v: Float64Array,
    vs: Float64Array,
    vp: Float64Array,
    adj: Float64Array,
    want: number,
    delays: DelayReader,
    t: number,
    vt: Float64Array | undefined,
    vz: Float64Array,
  ) => {
    for (let k = L - 1; k >= 0; k--) {
      const g = adj[k];
      if (g === 0 || (reach[k] & want) === 0) continue;
      const a = A[k],
        b = B[k];
      switch (op[k]) {
        case STATE:
          vs[a] += g;
          break;
        case PARAM:
          vp[a] += g;
          break;
        case TIME:
          if (vt) vt[0] += g;
          break;
        case ALG:
          vz[a] += g;
          break;
        case DELAY:
          adj[b] += delays.readBack(a, t, v[b], C[k] === 1, g, b);
          break;
        // + − × and negation: the table's derivatives (1, ±1, the other operand, −1) multiplied out exactly.
        case ADD:
          adj[a] += g;
          adj[b] += g;
          break;
        case SUB:
          adj[a] += g;
          adj[b] += -g;
          break;
        case MUL: {
          const x = v[a],
            y = v[b];
          adj[a] += g * y;
          adj[b] += g * x;
          break;
        }
        case NEG:
          adj[a] += -g;
          break;
        case UNARY:
          adj[a] += g * (fns[k] as unknown as { derivative: (x: number, y: number) => number }).derivative(v[a], v[k]);
          break;
        case BINARY: {
          const fn = fns[k] as unknown as {
            derivativeA: (x: number, y: number, z: number) => number;
            derivativeB: (x: number, y: number, z: number) => number;
          };
          const x = v[a],
            y = v[b];
          const da = fn.derivativeA(x, y, v[k]),
            db = fn.derivativeB(x, y, v[k]);
          adj[a] += g * da;
          adj[b] += g * db;
          break;
        }
        case SELECT:
          if (Math.abs(v[C[k]]) > 0) adj[a] += g;
          else adj[b] += g;
          break;
        case DOT: {
          const ra = (dotA[k] & want) !== 0,
            rb = (dotB[k] & want) !== 0;
          if (ra && rb)
            for (let i = a, end = a + b; i < end; i++) {
              adj[ta[i]] += g * v[tb[i]];
              adj[tb[i]] += g * v[ta[i]];
            }
          else if (rb) for (let i = a, end = a + b; i < end; i++) adj[tb[i]] += g * v[ta[i]];
          else if (ra) for (let i = a, end = a + b; i < end; i++) adj[ta[i]] += g * v[tb[i]];
          break;
        }
        case SUM:
          for (let i = a, end = a + b; i < end; i++) adj[ta[i]] += g;
          break;
        case LOOP:
          loopBack(loops[a], v, g, adj, want, w, wa);
          break;
      }
    }
  };
  /** Interpreter.cone: marked from the seeds back through every operand the sweep adds into. */
  const cone = (seeded: ArrayLike<number>, want: number): Int32Array => {
    const marked = new Uint8Array(L);
    for (let i = 0; i < seeded.length; i++) if (seeded[i] >= 0) marked[seeded[i]] = 1;
    const order: number[] = [];
    for (let k = L - 1; k >= 0; k--) {
      if (!marked[k] || (reach[k] & want) === 0) continue;
      order.push(k);
      const a = A[k],
        b = B[k];
      switch (op[k]) {
        case DELAY:
          marked[b] = 1;
          break;
        case ADD:
        case SUB:
        case MUL:
        case BINARY:
        case SELECT:
          marked[a] = marked[b] = 1;
          break;
        case NEG:
        case UNARY:
          marked[a] = 1;
          break;
        case DOT:
          for (let i = a, end = a + b; i < end; i++) {
            if ((dotA[k] & want) !== 0) marked[ta[i]] = 1;
            if ((dotB[k] & want) !== 0) marked[tb[i]] = 1;
          }
          break;
        case SUM:
          for (let i = a, end = a + b; i < end; i++) marked[ta[i]] = 1;
          break;
        case LOOP:
          for (const i of loops[a].inputs) marked[i] = 1;
          break;
      }
    }
    return Int32Array.from(order);
  };
  /** The sweep over `order` only (descending, a cone). */
  const sweepOn = (
    order: Int32Array,
    v: Float64Array,
    vs: Float64Array,
    vp: Float64Array,
    adj: Float64Array,
    want: number,
    delays: DelayReader,
    t: number,
    vt: Float64Array | undefined,
    vz: Float64Array,
  ) => {
    for (let i = 0, n = order.length; i < n; i++) {
      const k = order[i];
      const g = adj[k];
      if (g === 0 || (reach[k] & want) === 0) continue;
      const a = A[k],
        b = B[k];
      switch (op[k]) {
        case STATE:
          vs[a] += g;
          break;
        case PARAM:
          vp[a] += g;
          break;
        case TIME:
          if (vt) vt[0] += g;
          break;
        case ALG:
          vz[a] += g;
          break;
        case DELAY:
          adj[b] += delays.readBack(a, t, v[b], C[k] === 1, g, b);
          break;
        // + − × and negation: the table's derivatives (1, ±1, the other operand, −1) multiplied out exactly.
        case ADD:
          adj[a] += g;
          adj[b] += g;
          break;
        case SUB:
          adj[a] += g;
          adj[b] += -g;
          break;
        case MUL: {
          const x = v[a],
            y = v[b];
          adj[a] += g * y;
          adj[b] += g * x;
          break;
        }
        case NEG:
          adj[a] += -g;
          break;
        case UNARY:
          adj[a] += g * (fns[k] as unknown as { derivative: (x: number, y: number) => number }).derivative(v[a], v[k]);
          break;
        case BINARY: {
          const fn = fns[k] as unknown as {
            derivativeA: (x: number, y: number, z: number) => number;
            derivativeB: (x: number, y: number, z: number) => number;
          };
          const x = v[a],
            y = v[b];
          const da = fn.derivativeA(x, y, v[k]),
            db = fn.derivativeB(x, y, v[k]);
          adj[a] += g * da;
          adj[b] += g * db;
          break;
        }
        case SELECT:
          if (Math.abs(v[C[k]]) > 0) adj[a] += g;
          else adj[b] += g;
          break;
        case DOT: {
          const ra = (dotA[k] & want) !== 0,
            rb = (dotB[k] & want) !== 0;
          if (ra && rb)
            for (let i = a, end = a + b; i < end; i++) {
              adj[ta[i]] += g * v[tb[i]];
              adj[tb[i]] += g * v[ta[i]];
            }
          else if (rb) for (let i = a, end = a + b; i < end; i++) adj[tb[i]] += g * v[ta[i]];
          else if (ra) for (let i = a, end = a + b; i < end; i++) adj[ta[i]] += g * v[tb[i]];
          break;
        }
        case SUM:
          for (let i = a, end = a + b; i < end; i++) adj[ta[i]] += g;
          break;
        case LOOP:
          loopBack(loops[a], v, g, adj, want, w, wa);
          break;
      }
    }
  };
  /** ∂g/∂z at the values v, row j by a reverse pass from g_j (m×m row-major into J). */
  const jacobianAt = (v: Float64Array, J: Float64Array) => {
    const residuals = alg?.residuals ?? [];
    for (let j = 0; j < m; j++) {
      adjJ.fill(0);
      adjJ[residuals[j]] = 1;
      zJunk.fill(0);
      sweep(v, junkS, junkP, adjJ, WANT_ALGEBRAIC, noHistory, 0, undefined, zJunk);
      for (let i = 0; i < m; i++) J[j * m + i] = zJunk[i];
    }
  };
  /** The whole program at (s, p, t): for a DAE, z solved first from the previous solution (engine/algebraic.ts). */
  const forwardAll = (
    s: ArrayLike<number>,
    sAt: number,
    p: ArrayLike<number>,
    t: number,
    v: Float64Array,
    delays: DelayReader,
  ) => {
    if (!alg) {
      forward(s, sAt, p, t, v, delays);
      return;
    }
    const field: AlgebraicField = {
      residual(z, r) {
        zNow.set(z);
        runAll(s, sAt, p, t, v, delays);
        for (let j = 0; j < m; j++) r[j] = v[alg.residuals[j]];
      },
      jacobian: (J) => jacobianAt(v, J),
    };
    const z = zLast.every(Number.isFinite) ? Float64Array.from(zLast) : Float64Array.from(alg.guesses);
    let failure = solveAlgebraic(field, z, t, algScratch);
    // From the previous solution Newton may miss a root the declared guesses reach (after a jump of an event).
    if (failure && zLast.some((x, j) => x !== alg.guesses[j])) {
      z.set(alg.guesses);
      const again = solveAlgebraic(field, z, t, algScratch);
      failure = again && { ...again, iterations: again.iterations + failure.iterations };
    }
    if (failure) noteAlgebraicFailure(prog, failure);
    zLast.set(z);
  };
  return {
    writtenOut: !!written,
    ownCopy,
    compiled: !!compiled,
    reverseCompiled: !!compiledReverse,
    outputsWrittenOut: !!writtenOutputs,
    reverseWrittenOut: (want) => !!writtenReverse(want),
    grouped: !!runGrouped,
    forward(s, sAt, p, t, v, delays = noHistory) {
      if (!compiled) {
        forwardAll(s, sAt, p, t, v, delays);
        return;
      }
      compiled.evaluate(s, sAt, p, t, delays);
      v.set(compiled.values);
    },
    outputs(s, sAt, p, t, out, delays = noHistory) {
      if (compiled) {
        compiled.evaluate(s, sAt, p, t, delays);
        for (let e = 0; e < outputs.length; e++) out[e] = outputValue(compiled.values, outputs[e]);
        return;
      }
      if (writtenOutputs) {
        writtenOutputs(s, sAt, p, t, out, delays);
        return;
      }
      forwardAll(s, sAt, p, t, outputValues, delays);
      for (let e = 0; e < outputs.length; e++) out[e] = outputValue(outputValues, outputs[e]);
    },
    forwardFor(want, s, sAt, p, t, v) {
      if (alg) {
        forwardAll(s, sAt, p, t, v, noHistory);
        return;
      }
      const order = (orders[want] ??= readBy(want));
      // WebAssembly computes every value at about a third of the interpreter's cost each: it pays unless the pass
      // reads a small part of the program's work (amari.ode's states' adjoint reads none of its convolutions, whose
      // inputs are heav's, derivative 0: 1/20 of the work).
      if (compiled && 3 * (orderWork[want] ??= work(order)) > (totalWork ??= evaluationWork(prog))) {
        compiled.evaluate(s, sAt, p, t);
        v.set(compiled.values);
        return;
      }
      // The written-out pass computes every value 2–2.5× faster than the interpreter: it pays when the reverse
      // pass reads most of them (the reference's adjoint, WANT_BOTH at every node).
      if (written && 2 * order.length > L) written(s, sAt, p, t, v, noHistory);
      else run(order, s, sAt, p, t, v);
    },
    reverse(v, cot, vs, vp, adj, want = WANT_BOTH, delays = noHistory, t = 0, vt) {
      // With delays, false where the history cannot give the pass its rows (delays.ts: backRows).
      if (compiledReverse?.(v, cot, vs, vp, want, vt, delays, t)) return;
      const r = writtenReverse(want);
      if (r) {
        r(v, cot, vs, vp, adj, vt);
        return;
      }
      adj.fill(0);
      for (let i = 0; i < outputs.length; i++) if (outputs[i] >= 0) adj[outputs[i]] += cot[i];
      if (!alg) {
        sweep(v, vs, vp, adj, want, delays, t, vt, zBar);
        return;
      }
      // Through z by the implicit-function theorem: λ = (∂g/∂z)⁻ᵀ z̄, then −λ swept back through g.
      zBar.fill(0);
      sweep(v, vs, vp, adj, want, delays, t, vt, zBar);
      if (zBar.every((x) => x === 0)) return;
      jacobianAt(v, algScratch.J);
      const lambda = denseLu(Float64Array.from(algScratch.J), m).solveTransposed(zBar);
      adj.fill(0);
      for (let j = 0; j < m; j++) adj[alg.residuals[j]] += -lambda[j];
      sweep(v, vs, vp, adj, want, delays, t, vt, zJunk);
    },
    cone,
    reverseOn(order, v, cot, vs, vp, adj, want) {
      // Filling all of adj measured cheaper than clearing what the pass touched.
      adj.fill(0);
      for (let i = 0; i < outputs.length; i++) if (outputs[i] >= 0) adj[outputs[i]] += cot[i];
      sweepOn(order, v, vs, vp, adj, want, noHistory, 0, undefined, zBar);
    },
  };
}

/**
 * Per instruction, whether its adjoint reaches a state (WANT_STATES) or a parameter (WANT_PARAMS) through
 * derivatives that are not zero everywhere (bits of a mask, set from the operands in program order).
 */
function reaches(prog: ScalarProgram): Uint8Array {
  const r = new Uint8Array(prog.code.length);
  prog.code.forEach((c, k) => {
    switch (c.op) {
      case 'state':
        r[k] = WANT_STATES;
        break;
      case 'param':
        r[k] = WANT_PARAMS;
        break;
      case 't':
        r[k] = WANT_TIME;
        break;
      // z depends on whatever g reads: conservatively everything, and a Jacobian pass of g wants it.
      case 'alg':
        r[k] = WANT_ALL | WANT_ALGEBRAIC;
        break;
      // A delay's cotangent goes to the history (states of earlier steps) and, through the weight, to tau.
      case 'delay':
        r[k] = WANT_STATES | r[c.tau];
        break;
      case 'unary':
        r[k] = zero(c.fn.derivative) ? 0 : r[c.a];
        break;
      case 'binary':
        r[k] = (zero(c.fn.derivativeA) ? 0 : r[c.a]) | (zero(c.fn.derivativeB) ? 0 : r[c.b]);
        break;
      case 'select':
        r[k] = r[c.a] | r[c.b];
        break;
      case 'dot':
        for (const i of c.a) r[k] |= r[i];
        for (const i of c.b ?? []) r[k] |= r[i];
        break;
      case 'loop':
        r[k] = bodyReach(c.body, r)[c.term];
        break;
    }
  });
  return r;
}

const zero = (d: unknown) => d === ZERO_DERIVATIVE;

/** Per body row of a loop, what its adjoint reaches (as `reaches`), from the program's reach r. */
function bodyReach(body: readonly LoopInstr[], r: Uint8Array): Uint8Array {
  const rows = new Uint8Array(body.length);
  body.forEach((c, b) => {
    switch (c.op) {
      case 'gather':
        for (const i of c.slots) rows[b] |= r[i];
        break;
      case 'outer':
        rows[b] = r[c.slot];
        break;
      case 'unary':
        rows[b] = zero(c.fn.derivative) ? 0 : rows[c.a];
        break;
      case 'binary':
        rows[b] = (zero(c.fn.derivativeA) ? 0 : rows[c.a]) | (zero(c.fn.derivativeB) ? 0 : rows[c.b]);
        break;
      case 'select':
        rows[b] = rows[c.a] | rows[c.b];
        break;
    }
  });
  return rows;
}

/** A loop instruction's typed arrays (the program's reach r gives each row's). */
function compileLoop(
  K: number,
  body: readonly LoopInstr[],
  term: number,
  r: Uint8Array,
  instr: (slot: number) => ScalarProgram['code'][number],
): Loop {
  const T = body.length;
  const l: Loop = {
    K,
    T,
    term,
    op: new Int32Array(T),
    A: new Int32Array(T),
    B: new Int32Array(T),
    C: new Int32Array(T),
    fns: new Array(T),
    slots: new Int32Array(0),
    reach: bodyReach(body, r),
    inputs: new Int32Array(0),
  };
  const slots: number[] = [];
  const inputs = new Set<number>();
  body.forEach((c, b) => {
    switch (c.op) {
      case 'gather':
        l.op[b] = GATHER;
        l.A[b] = slots.length;
        for (const i of c.slots) {
          slots.push(i);
          inputs.add(i);
        }
        break;
      case 'outer':
        l.op[b] = OUTER;
        l.A[b] = c.slot;
        inputs.add(c.slot);
        break;
      case 'unary':
        l.op[b] = c.fn === NEGATE ? NEG : UNARY;
        l.A[b] = c.a;
        l.fns[b] = c.fn as unknown as Fn;
        break;
      case 'binary':
        l.op[b] =
          c.fn === OPERATORS['+'] ? ADD : c.fn === OPERATORS['-'] ? SUB : c.fn === OPERATORS['*'] ? MUL : BINARY;
        l.A[b] = c.a;
        l.B[b] = c.b;
        l.fns[b] = c.fn as unknown as Fn;
        break;
      case 'select':
        l.op[b] = SELECT;
        l.C[b] = c.c;
        l.A[b] = c.a;
        l.B[b] = c.b;
        break;
    }
  });
  l.slots = Int32Array.from(slots);
  l.inputs = Int32Array.from(inputs);
  const read = (b: number) => l.op[b] === GATHER || l.op[b] === OUTER;
  if (T === 3 && l.op[term] === MUL && read(l.A[term]) && read(l.B[term])) {
    const ps = new Int32Array(2 * K);
    [l.A[term], l.B[term]].forEach((b, half) => {
      for (let k = 0; k < K; k++) ps[half * K + k] = l.op[b] === GATHER ? l.slots[l.A[b] + k] : l.A[b];
    });
    // Numbers first: x_k·y_k = y_k·x_k in floating point too.
    const number = (k: number) => instr(ps[k]).op === 'const';
    const xs = Array.from({ length: K }, (_x, k) => number(k)).every(Boolean),
      ys = Array.from({ length: K }, (_x, k) => number(K + k)).every(Boolean);
    if (ys && !xs) ps.set([...ps.subarray(K), ...ps.subarray(0, K)]);
    l.products = ps;
    if (xs || ys)
      l.weights = Float64Array.from({ length: K }, (_x, k) => {
        const c = instr(ps[k]);
        return c.op === 'const' ? f32(c.value) : Number.NaN;
      });
  }
  return l;
}

/** What groupedForward needs of an interpreter's arrays. */
interface ForwardArrays {
  L: number;
  fop: Int32Array;
  A: Int32Array;
  B: Int32Array;
  C: Int32Array;
  consts: Float64Array;
  fns: Fn[];
  ta: Int32Array;
  tb: Int32Array;
  /** The slots loop instruction i reads. */
  loopInputs: (index: number) => Int32Array;
}

/**
 * The forward pass over every instruction, in groups, or undefined where program order is as good: instructions
 * ordered by their depth in the program's graph (1 + the deepest operand's), then by opcode (delays by their tau),
 * and each run of one opcode one tight loop. Every instruction reads only operands of smaller depth, so each computes
 * the same operation on the same values as in program order (all are pure: the history a delay reads and a loop's
 * scratch do not change within a pass), and the values are the same bit for bit. In program order an array network
 * changes opcode at most instructions (one element's formula, then the next), a jump the processor mispredicts; at one
 * depth its elements are the same operation, so the dispatch is paid per run: kohonen.ode, 2,010 instructions in
 * 1,615 runs as written, 41 grouped, ran a solve in 180 ms of CPU against 310 ms.
 */
function groupedForward(
  g: ForwardArrays,
  loopValueOf: (index: number, v: Float64Array) => number,
  algebraic: (index: number) => number,
):
  | ((s: ArrayLike<number>, sAt: number, p: ArrayLike<number>, t: number, v: Float64Array, delays: DelayReader) => void)
  | undefined {
  const { L, fop, A, B, C, consts, fns, ta, tb } = g;
  const depth = new Int32Array(L);
  for (let k = 0; k < L; k++) {
    let d = 0;
    const at = (i: number) => {
      if (depth[i] + 1 > d) d = depth[i] + 1;
    };
    switch (fop[k]) {
      case CONST:
      case STATE:
      case PARAM:
      case TIME:
      case ALG:
        break;
      case SELECT:
        at(A[k]);
        at(B[k]);
        at(C[k]);
        break;
      case DOT:
        for (let i = A[k], end = A[k] + B[k]; i < end; i++) {
          at(ta[i]);
          at(tb[i]);
        }
        break;
      case SUM:
        for (let i = A[k], end = A[k] + B[k]; i < end; i++) at(ta[i]);
        break;
      case DELAY:
        at(B[k]);
        break;
      case LOOP:
        for (const i of g.loopInputs(A[k])) at(i);
        break;
      case NEG:
      case UNARY:
      case SIN:
      case COS:
      case EXP:
      case ABS:
      case TANH:
      case LOG:
      case SQRT:
        at(A[k]);
        break;
      default:
        at(A[k]);
        at(B[k]);
    }
    depth[k] = d;
  }
  // Delays by their tau's slot: reads of one tau follow each other, and the history locates t − tau once for them.
  const key = (k: number) => (fop[k] === DELAY ? B[k] : 0);
  const order = Array.from({ length: L }, (_x, k) => k).sort(
    (x, y) => depth[x] - depth[y] || fop[x] - fop[y] || key(x) - key(y) || x - y,
  );
  const O = Int32Array.from(order),
    PA = Int32Array.from(order, (k) => A[k]),
    PB = Int32Array.from(order, (k) => B[k]),
    PC = Int32Array.from(order, (k) => C[k]),
    PK = Float64Array.from(order, (k) => consts[k]),
    PF = order.map((k) => fns[k]);
  const runOp: number[] = [],
    runEnd: number[] = [];
  order.forEach((k, i) => {
    if (i === 0 || fop[k] !== runOp[runOp.length - 1]) {
      runOp.push(fop[k]);
      runEnd.push(i + 1);
    } else runEnd[runEnd.length - 1] = i + 1;
  });
  // In program order an opcode changes at most instructions of an array network (one element's formula after
  // another); where the compiler already kept equal operations together (a lattice's vector operations), the runs
  // gain nothing and their index lists cost: cgl.ode's 3,976 instructions in 71 runs as written ran 45 ms a solve in
  // order, 58 ms grouped.
  let inOrder = 1;
  for (let k = 1; k < L; k++) if (fop[k] !== fop[k - 1]) inOrder++;
  if (inOrder * 4 <= L || runOp.length * 4 >= inOrder) return undefined;
  const R = runOp.length,
    ROP = Int32Array.from(runOp),
    REND = Int32Array.from(runEnd);
  return (s: ArrayLike<number>, sAt: number, p: ArrayLike<number>, t: number, v: Float64Array, delays: DelayReader) => {
    let i = 0;
    for (let r = 0; r < R; r++) {
      const end = REND[r];
      switch (ROP[r]) {
        case CONST:
          for (; i < end; i++) v[O[i]] = PK[i];
          break;
        case STATE:
          for (; i < end; i++) v[O[i]] = f32(s[sAt + PA[i]]);
          break;
        case PARAM:
          for (; i < end; i++) v[O[i]] = f32(p[PA[i]]);
          break;
        case TIME:
          for (; i < end; i++) v[O[i]] = f32(t);
          break;
        case ALG:
          for (; i < end; i++) v[O[i]] = f32(algebraic(PA[i]));
          break;
        case ADD:
          for (; i < end; i++) v[O[i]] = f32(v[PA[i]] + v[PB[i]]);
          break;
        case SUB:
          for (; i < end; i++) v[O[i]] = f32(v[PA[i]] - v[PB[i]]);
          break;
        case MUL:
          for (; i < end; i++) v[O[i]] = f32(v[PA[i]] * v[PB[i]]);
          break;
        case NEG:
          for (; i < end; i++) v[O[i]] = f32(-v[PA[i]]);
          break;
        case UNARY:
          for (; i < end; i++) v[O[i]] = f32(PF[i].value(v[PA[i]]));
          break;
        case BINARY:
          for (; i < end; i++) v[O[i]] = f32(PF[i].value(v[PA[i]], v[PB[i]]));
          break;
        case SIN:
          for (; i < end; i++) v[O[i]] = f32(sinV(v[PA[i]]));
          break;
        case COS:
          for (; i < end; i++) v[O[i]] = f32(cosV(v[PA[i]]));
          break;
        case EXP:
          for (; i < end; i++) v[O[i]] = f32(expV(v[PA[i]]));
          break;
        case ABS:
          for (; i < end; i++) v[O[i]] = f32(absV(v[PA[i]]));
          break;
        case TANH:
          for (; i < end; i++) v[O[i]] = f32(tanhV(v[PA[i]]));
          break;
        case LOG:
          for (; i < end; i++) v[O[i]] = f32(logV(v[PA[i]]));
          break;
        case SQRT:
          for (; i < end; i++) v[O[i]] = f32(sqrtV(v[PA[i]]));
          break;
        case MIN:
          for (; i < end; i++) v[O[i]] = f32(minV(v[PA[i]], v[PB[i]]));
          break;
        case MAX:
          for (; i < end; i++) v[O[i]] = f32(maxV(v[PA[i]], v[PB[i]]));
          break;
        case DIV:
          for (; i < end; i++) v[O[i]] = f32(divV(v[PA[i]], v[PB[i]]));
          break;
        case POW:
          for (; i < end; i++) v[O[i]] = f32(powV(v[PA[i]], v[PB[i]]));
          break;
        case LT:
          for (; i < end; i++) v[O[i]] = f32(ltV(v[PA[i]], v[PB[i]]));
          break;
        case GT:
          for (; i < end; i++) v[O[i]] = f32(gtV(v[PA[i]], v[PB[i]]));
          break;
        case LE:
          for (; i < end; i++) v[O[i]] = f32(leV(v[PA[i]], v[PB[i]]));
          break;
        case GE:
          for (; i < end; i++) v[O[i]] = f32(geV(v[PA[i]], v[PB[i]]));
          break;
        case SELECT:
          for (; i < end; i++) v[O[i]] = f32(Math.abs(v[PC[i]]) > 0 ? v[PA[i]] : v[PB[i]]); // as the compiler: |c| > 0 (NaN → else)
          break;
        case DOT:
          for (; i < end; i++) {
            let d = 0;
            for (let j = PA[i], e = PA[i] + PB[i]; j < e; j++) d += v[ta[j]] * v[tb[j]];
            v[O[i]] = f32(d);
          }
          break;
        case SUM:
          for (; i < end; i++) {
            let d = 0;
            for (let j = PA[i], e = PA[i] + PB[i]; j < e; j++) d += v[ta[j]];
            v[O[i]] = f32(d);
          }
          break;
        case DELAY:
          if (delays.readRun)
            // Reads of one tau follow each other (the order's key): each such run located once.
            while (i < end) {
              const tau = PB[i],
                kind = PC[i];
              let j = i + 1;
              while (j < end && PB[j] === tau && PC[j] === kind) j++;
              delays.readRun(PA, O, i, j, v, t, v[tau], kind === 1, tau);
              i = j;
            }
          else for (; i < end; i++) v[O[i]] = delays.read(PA[i], t, v[PB[i]], PC[i] === 1, PB[i]);
          break;
        case LOOP:
          for (; i < end; i++) v[O[i]] = loopValueOf(PA[i], v);
          break;
      }
    }
  };
}

/**
 * f of one state element from a forward pass's values `v`: `slot` is the element's output slot
 * (ScalarProgram.outputs), −1 where f = 0. One Float64Array and a number at every call, so the steppers'
 * loops stay monomorphic and V8 inlines it.
 */
export function outputValue(v: Float64Array, slot: number): number {
  return slot >= 0 ? v[slot] : 0;
}
