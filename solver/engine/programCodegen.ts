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
  /** Dot and sum terms: slots of x (ta) and y (tb). */
  ta: Int32Array;
  tb: Int32Array;
  /** A loop instruction's value (its index among the program's loops), as the interpreter computes it. */
  loop: (index: number, v: Float64Array) => number;
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
  read(index: number, now: number, tau: number, constant: boolean): number;
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
 * instructions) reach the optimised code within a few milliseconds and then run 2–2.5× faster; long ones keep the
 * interpreter.
 */
export const MAX_WRITTEN_CHARS = 12_000;
/** A sum or dot product with more terms than this stays one loop over its term lists. */
const INLINE_TERMS = 32;

/** A float64 written so that it reads back exactly (−0, NaN and the infinities included). */
function literal(x: number): string {
  if (Object.is(x, -0)) return '-0';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return String(x);
}

/** The forward pass as generated code, or undefined when the program is too long to be worth it. */
export function generatedForward(g: ProgramArrays, o: Opcodes): ForwardPass | undefined {
  const { L, op, A, B, C, consts, ta, tb } = g;
  // Every line is at least 10 characters: a longer program is not written.
  if (L * 10 > MAX_WRITTEN_CHARS) return undefined;
  const lines: string[] = [];
  for (let k = 0; k < L; k++) {
    const a = A[k],
      b = B[k];
    switch (op[k]) {
      case o.CONST:
        lines.push(`v[${k}]=${literal(consts[k])};`);
        break;
      case o.STATE:
        lines.push(`v[${k}]=f32(s[sAt+${a}]);`);
        break;
      case o.PARAM:
        lines.push(`v[${k}]=f32(p[${a}]);`);
        break;
      case o.TIME:
        lines.push(`v[${k}]=f32(t);`);
        break;
      case o.ADD:
        lines.push(`v[${k}]=f32(v[${a}]+v[${b}]);`);
        break;
      case o.SUB:
        lines.push(`v[${k}]=f32(v[${a}]-v[${b}]);`);
        break;
      case o.MUL:
        lines.push(`v[${k}]=f32(v[${a}]*v[${b}]);`);
        break;
      case o.NEG:
        lines.push(`v[${k}]=f32(-v[${a}]);`);
        break;
      case o.UNARY:
        lines.push(`v[${k}]=f32(F[${k}](v[${a}]));`);
        break;
      case o.BINARY:
        lines.push(`v[${k}]=f32(F[${k}](v[${a}],v[${b}]));`);
        break;
      case o.SELECT:
        lines.push(`v[${k}]=f32(Math.abs(v[${C[k]}])>0?v[${a}]:v[${b}]);`); // as the compiler: |c| > 0 (NaN → else)
        break;
      case o.DOT:
      case o.SUM: {
        const dot = op[k] === o.DOT;
        if (b > INLINE_TERMS) {
          const term = dot ? 'v[ta[i]]*v[tb[i]]' : 'v[ta[i]]';
          lines.push(`{let d=0;for(let i=${a};i<${a + b};i++)d+=${term};v[${k}]=f32(d);}`);
          break;
        }
        // 0 + first term, as the interpreter's running sum starts (−0 + 0 is +0).
        const terms = ['0'];
        for (let i = a; i < a + b; i++) terms.push(dot ? `v[${ta[i]}]*v[${tb[i]}]` : `v[${ta[i]}]`);
        lines.push(`v[${k}]=f32(${terms.join('+')});`);
        break;
      }
      case o.DELAY:
        lines.push(`v[${k}]=delays.read(${a},t,v[${b}],${C[k] === 1});`);
        break;
      case o.LOOP: // its body runs over all iterations in the interpreter's rows
        lines.push(`v[${k}]=loop(${a},v);`);
        break;
      default:
        return undefined;
    }
  }
  const body = lines.join('\n');
  if (body.length > MAX_WRITTEN_CHARS) return undefined;
  const make = new Function('f32', 'F', 'ta', 'tb', 'loop', `return function(s,sAt,p,t,v,delays){\n${body}\n};`);
  return make(Math.fround, g.values, ta, tb, g.loop) as ForwardPass;
}
