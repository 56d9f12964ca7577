// The fused scalar program's forward pass written out as JavaScript: one line per instruction, with its operands'
// slots as numbers, compiled once by the engine (new Function). The interpreter (programInterpreter.ts) reads an
// opcode and its operands from typed arrays for every instruction of every evaluation; the written-out pass does only
// the arithmetic, which is what a solve of many cheap evaluations (a long classic model, finite differences' probes)
// spends its time on. Every value is the interpreter's, bit for bit: the same float32 rounding after each
// instruction, the same table functions called for everything but + − × and negation, sums added in the same order.
// Only numbers and slot indices are written into the source, never text from the model.

/** The interpreter's instruction arrays (programInterpreter.ts's opcodes). */
export interface ProgramArrays {
  L: number;
  op: Int32Array;
  A: Int32Array;
  B: Int32Array;
  C: Int32Array;
  consts: Float64Array;
  /** Per instruction, the table function's value (unary, binary). */
  values: (((...x: number[]) => number) | undefined)[];
  /** Per instruction, the table function itself (its derivatives, for the reverse pass). */
  fns: unknown[];
  /** Dot and sum terms: slots of x (ta) and y (tb). */
  ta: Int32Array;
  tb: Int32Array;
  /** A loop instruction's value (its index among the program's loops), as the interpreter computes it. */
  loop: (index: number, v: Float64Array) => number;
  /** A loop whose term is a product x_k·y_k of slots read (programInterpreter.ts's Loop.products), else undefined. */
  loopProducts: (index: number) => LoopProducts | undefined;
}

/**
 * A loop's terms x_k·y_k (K of them), added pairwise level by level: `slots` holds x's slots (K) then y's (K);
 * with `weights`, the x_k are these numbers (float32 values) instead.
 */
export interface LoopProducts {
  slots: Int32Array;
  weights?: Float64Array;
}

/** The interpreter's opcodes; a program with any other keeps the interpreter. */
export interface Opcodes {
  CONST: number;
  STATE: number;
  PARAM: number;
  TIME: number;
  ADD: number;
  SUB: number;
  MUL: number;
  NEG: number;
  UNARY: number;
  BINARY: number;
  SELECT: number;
  DOT: number;
  SUM: number;
  DELAY: number;
  LOOP: number;
}

/** The history a delay instruction reads (programInterpreter.ts's DelayReader). */
interface HistoryRead {
  read(index: number, now: number, tau: number, constant: boolean, key?: number): number;
}

export type ForwardPass = (
  s: ArrayLike<number>,
  sAt: number,
  p: ArrayLike<number>,
  t: number,
  v: Float64Array,
  delays: HistoryRead,
) => void;

/**
 * The longest source written out (characters, one function). Written-out code runs unoptimised until V8 has seen it
 * run often enough, and there it is far slower than the interpreter, whose own code is optimised once for every
 * program: measured on a 4,000-instruction lattice (cgl.ode), about 0.7 ms an evaluation for the first thousand
 * evaluations against 35 µs, and 2.5× faster only after. Small programs (a classic model's few dozen
 * instructions) reach the optimised code within a few milliseconds and then run 2–2.5× faster; long ones run as
 * WebAssembly (programWasm.ts) or keep the interpreter.
 */
export const MAX_WRITTEN_CHARS = 12_000;
/** Whether a program of L instructions may be written out (every line is at least 10 characters). */
export function mayWriteOut(L: number): boolean {
  return L * 10 <= MAX_WRITTEN_CHARS;
}
/** A sum or dot product with more terms than this stays one loop over its term lists. */
const INLINE_TERMS = 32;

/** A float64 written so that it reads back exactly (−0, NaN and the infinities included). */
function literal(x: number): string {
  if (Object.is(x, -0)) return '-0';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return String(x);
}

/**
 * The instructions as lines of JS, each value written to `slot(k)` (declared by `define(k)`), or undefined when an
 * instruction cannot be written with such slots: loops read the value array itself, and so does a long sum or dot
 * product (its term lists index it) unless `arrayIndexed`.
 */
function forwardLines(
  g: ProgramArrays,
  o: Opcodes,
  slot: (k: number) => string,
  define: (k: number) => string,
  arrayIndexed: boolean,
): string[] | undefined {
  const { L, op, A, B, C, consts, ta, tb } = g;
  if (!mayWriteOut(L)) return undefined;
  const lines: string[] = [];
  for (let k = 0; k < L; k++) {
    const a = A[k],
      b = B[k],
      set = define(k);
    switch (op[k]) {
      case o.CONST:
        lines.push(`${set}=${literal(consts[k])};`);
        break;
      case o.STATE:
        lines.push(`${set}=f32(s[sAt+${a}]);`);
        break;
      case o.PARAM:
        lines.push(`${set}=f32(p[${a}]);`);
        break;
      case o.TIME:
        lines.push(`${set}=f32(t);`);
        break;
      case o.ADD:
        lines.push(`${set}=f32(${slot(a)}+${slot(b)});`);
        break;
      case o.SUB:
        lines.push(`${set}=f32(${slot(a)}-${slot(b)});`);
        break;
      case o.MUL:
        lines.push(`${set}=f32(${slot(a)}*${slot(b)});`);
        break;
      case o.NEG:
        lines.push(`${set}=f32(-${slot(a)});`);
        break;
      case o.UNARY:
        lines.push(`${set}=f32(F[${k}](${slot(a)}));`);
        break;
      case o.BINARY:
        lines.push(`${set}=f32(F[${k}](${slot(a)},${slot(b)}));`);
        break;
      case o.SELECT: // as the compiler: |c| > 0 (NaN → else)
        lines.push(`${set}=f32(Math.abs(${slot(C[k])})>0?${slot(a)}:${slot(b)});`);
        break;
      case o.DOT:
      case o.SUM: {
        const dot = op[k] === o.DOT;
        if (b > INLINE_TERMS) {
          if (!arrayIndexed) return undefined;
          const term = dot ? 'v[ta[i]]*v[tb[i]]' : 'v[ta[i]]';
          lines.push(`{let d=0;for(let i=${a};i<${a + b};i++)d+=${term};${set}=f32(d);}`);
          break;
        }
        // 0 + first term, as the interpreter's running sum starts (−0 + 0 is +0).
        const terms = ['0'];
        for (let i = a; i < a + b; i++) terms.push(dot ? `${slot(ta[i])}*${slot(tb[i])}` : slot(ta[i]));
        lines.push(`${set}=f32(${terms.join('+')});`);
        break;
      }
      case o.DELAY:
        lines.push(`${set}=delays.read(${a},t,${slot(b)},${C[k] === 1},${b});`);
        break;
      case o.LOOP: // its body runs over all iterations in the interpreter's rows
        if (!arrayIndexed) return undefined;
        lines.push(`${set}=loop(${a},v);`);
        break;
      default:
        return undefined;
    }
  }
  return lines;
}

/** The forward pass as generated code, or undefined when the program is too long to be worth it. */
export function generatedForward(g: ProgramArrays, o: Opcodes): ForwardPass | undefined {
  const inArray = (k: number) => `v[${k}]`;
  const body = forwardLines(g, o, inArray, inArray, true)?.join('\n');
  if (body === undefined || body.length > MAX_WRITTEN_CHARS) return undefined;
  const make = new Function('f32', 'F', 'ta', 'tb', 'loop', `return function(s,sAt,p,t,v,delays){\n${body}\n};`);
  return make(Math.fround, g.values, g.ta, g.tb, g.loop) as ForwardPass;
}

/** f alone (programInterpreter.ts's Interpreter.outputs): out[e] the value of output e, 0 where it has none. */
export type OutputsPass = (
  s: ArrayLike<number>,
  sAt: number,
  p: ArrayLike<number>,
  t: number,
  out: Float64Array,
  delays: HistoryRead,
) => void;

/**
 * The forward pass for f alone, each value a local of the function instead of a slot of the value array: a solve that
 * reads only f (a forward solve's stages, finite differences' probes, the reference's RK4) then keeps its values in
 * registers (about 1.7× faster on a classic model of 50 instructions: 146 → 87 ns an evaluation). The same
 * operations as generatedForward, so the same values bit for bit. Undefined where generatedForward is, and for
 * programs with loops or long sums.
 */
export function generatedOutputs(g: ProgramArrays, o: Opcodes, outputs: ArrayLike<number>): OutputsPass | undefined {
  const lines = forwardLines(
    g,
    o,
    (k) => `v${k}`,
    (k) => `const v${k}`,
    false,
  );
  if (!lines) return undefined;
  for (let e = 0; e < outputs.length; e++) lines.push(`out[${e}]=${outputs[e] >= 0 ? `v${outputs[e]}` : '0'};`);
  const body = lines.join('\n');
  if (body.length > MAX_WRITTEN_CHARS) return undefined;
  const make = new Function('f32', 'F', `return function(s,sAt,p,t,out,delays){\n${body}\n};`);
  return make(Math.fround, g.values) as OutputsPass;
}

/**
 * The reverse pass for one `want` (programInterpreter.ts's reverse) of a program without delays, loops or algebraic
 * variables: the outputs' cotangents `cot` swept back into vs, vp and vt (added); `adj` is scratch of the program's
 * length.
 */
export type ReversePass = (
  v: Float64Array,
  cot: ArrayLike<number>,
  vs: Float64Array,
  vp: Float64Array,
  adj: Float64Array,
  vt?: Float64Array,
) => void;

/**
 * The interpreter's reverse pass written out for the instructions whose adjoint reaches `want` (`reach[k] & want`):
 * the outputs seeded from 0 in order, then the same additions in the same order (instructions from last to first, an
 * instruction whose adjoint is exactly 0 skipped, each derivative the table function's, multiplied by the adjoint in
 * double), so the same cotangents bit for bit. Each instruction's adjoint is a local variable (no scratch to clear,
 * none read back from memory) unless a sum or dot product is too long to write out, whose terms then add into `adj`.
 * Undefined for a program with delays, loops or algebraic variables, and past MAX_WRITTEN_CHARS (as the forward pass,
 * and for the same reason: a long written-out function runs unoptimised for its first thousand evaluations).
 */
export function generatedReverse(
  g: ProgramArrays,
  o: Opcodes & { ALG: number },
  reach: Uint8Array,
  want: number,
  outputs: ArrayLike<number>,
): ReversePass | undefined {
  const { L, op, A, B, C, ta, tb } = g;
  if (!mayWriteOut(L)) return undefined;
  let inMemory = false;
  for (let k = 0; k < L; k++) if ((op[k] === o.DOT || op[k] === o.SUM) && B[k] > INLINE_TERMS) inMemory = true;
  const at = (k: number) => (inMemory ? `adj[${k}]` : `a${k}`);
  const lines: string[] = [];
  if (inMemory) lines.push('adj.fill(0);');
  else lines.push(`let ${Array.from({ length: L }, (_x, k) => `a${k}=0`).join(',')};`);
  for (let i = 0; i < outputs.length; i++) if (outputs[i] >= 0) lines.push(`${at(outputs[i])}+=cot[${i}];`);
  for (let k = L - 1; k >= 0; k--) {
    if ((reach[k] & want) === 0) continue;
    const a = A[k],
      b = B[k];
    let body: string;
    switch (op[k]) {
      case o.CONST:
        continue;
      case o.STATE:
        body = `vs[${a}]+=g;`;
        break;
      case o.PARAM:
        body = `vp[${a}]+=g;`;
        break;
      case o.TIME:
        body = 'if(vt)vt[0]+=g;';
        break;
      case o.ADD:
        body = `${at(a)}+=g;${at(b)}+=g;`;
        break;
      case o.SUB:
        body = `${at(a)}+=g;${at(b)}+=-g;`;
        break;
      case o.MUL:
        body = `const x=v[${a}],y=v[${b}];${at(a)}+=g*y;${at(b)}+=g*x;`;
        break;
      case o.NEG:
        body = `${at(a)}+=-g;`;
        break;
      case o.UNARY:
        body = `${at(a)}+=g*F[${k}].derivative(v[${a}],v[${k}]);`;
        break;
      case o.BINARY:
        body =
          `const x=v[${a}],y=v[${b}];const da=F[${k}].derivativeA(x,y,v[${k}]),db=F[${k}].derivativeB(x,y,v[${k}]);` +
          `${at(a)}+=g*da;${at(b)}+=g*db;`;
        break;
      case o.SELECT:
        body = `if(Math.abs(v[${C[k]}])>0)${at(a)}+=g;else ${at(b)}+=g;`;
        break;
      case o.DOT:
        body =
          b > INLINE_TERMS
            ? `for(let i=${a};i<${a + b};i++){adj[ta[i]]+=g*v[tb[i]];adj[tb[i]]+=g*v[ta[i]];}`
            : Array.from(
                { length: b },
                (_x, i) => `${at(ta[a + i])}+=g*v[${tb[a + i]}];${at(tb[a + i])}+=g*v[${ta[a + i]}];`,
              ).join('');
        break;
      case o.SUM:
        body =
          b > INLINE_TERMS
            ? `for(let i=${a};i<${a + b};i++)adj[ta[i]]+=g;`
            : Array.from({ length: b }, (_x, i) => `${at(ta[a + i])}+=g;`).join('');
        break;
      default: // delays, loops and algebraic variables keep the interpreter's sweep
        return undefined;
    }
    lines.push(`{const g=${at(k)};if(g!==0){${body}}}`);
  }
  const text = lines.join('\n');
  if (text.length > MAX_WRITTEN_CHARS) return undefined;
  const make = new Function('F', 'ta', 'tb', `return function(v,cot,vs,vp,adj,vt){\n${text}\n};`);
  return make(g.fns, ta, tb) as ReversePass;
}
