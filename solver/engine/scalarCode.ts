// The fused program's forward and reverse passes as generated JavaScript.
//
// Interpreting the instruction list costs a dispatch on the opcode and a
// megamorphic call through the operation table per instruction; straight-line
// code gives V8 one monomorphic call site per instruction (the table's small
// functions get inlined) and no dispatch: several times faster on models of
// hundreds of states. The code does exactly the interpreter's arithmetic (the
// same operations in the same order, each result rounded to float32), so the
// two give the same bits; `scalarRhs.test.ts` holds them to that. The code is
// split into functions of CHUNK instructions: V8 optimises only functions of
// moderate size.
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
  | { op: 'dot'; a: number[]; b?: number[] };

/** vals[k] for every instruction k, at states s (from sAt), parameters p and time t. */
export type Forward = (s: ArrayLike<number>, p: ArrayLike<number>, t: number, vals: Float64Array, sAt: number) => void;
/** Reverse pass over adj (the outputs' cotangents already in it): adds into vs and vp. */
export type Backward = (vals: Float64Array, adj: Float64Array, vs: Float64Array, vp: Float64Array) => void;

/** Instructions per generated function. */
const CHUNK = 400;
/** Longer sums are a loop over their index list rather than one expression. */
const INLINE_TERMS = 32;

/** A number as a JS literal that reads back as the same double. */
function literal(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (Object.is(x, -0)) return '-0';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return `(${String(x)})`;
}

/** The functions and index lists the generated code refers to, by position. */
class Refs {
  readonly items: unknown[] = [];
  private readonly at = new Map<unknown, number>();
  ref(x: unknown): string {
    let i = this.at.get(x);
    if (i === undefined) {
      i = this.items.length;
      this.items.push(x);
      this.at.set(x, i);
    }
    return `R[${i}]`;
  }
}

function forwardLine(c: Instr, k: number, refs: Refs): string {
  switch (c.op) {
    case 'const':
      return `v[${k}]=f32(${literal(c.value)});`;
    case 'state':
      return `v[${k}]=f32(s[sAt+${c.index}]);`;
    case 'param':
      return `v[${k}]=f32(p[${c.index}]);`;
    case 't':
      return `v[${k}]=f32(t);`;
    case 'unary':
      return `v[${k}]=f32(${refs.ref(c.fn)}.value(v[${c.a}]));`;
    case 'binary':
      return `v[${k}]=f32(${refs.ref(c.fn)}.value(v[${c.a}],v[${c.b}]));`;
    case 'select':
      return `v[${k}]=f32(Math.abs(v[${c.c}])>0?v[${c.a}]:v[${c.b}]);`; // as the compiler: |c| > 0 (NaN → else)
    case 'dot': {
      const { a, b } = c;
      if (a.length > INLINE_TERMS) {
        const ra = refs.ref(Int32Array.from(a)),
          rb = b ? refs.ref(Int32Array.from(b)) : '';
        const term = b ? `v[A[i]]*v[B[i]]` : `v[A[i]]`;
        return `{const A=${ra}${b ? `,B=${rb}` : ''};let x=0;for(let i=0;i<A.length;i++)x+=${term};v[${k}]=f32(x);}`;
      }
      const terms = a.map((ai, i) => (b ? `v[${ai}]*v[${b[i]}]` : `v[${ai}]`));
      return `v[${k}]=f32(0+${terms.join('+')});`;
    }
  }
}

function backwardLines(c: Instr, k: number, refs: Refs): string | undefined {
  switch (c.op) {
    case 'state':
      return `vs[${c.index}]+=g;`;
    case 'param':
      return `vp[${c.index}]+=g;`;
    case 'unary':
      return `adj[${c.a}]+=g*${refs.ref(c.fn)}.derivative(v[${c.a}],v[${k}]);`;
    case 'binary': {
      const f = refs.ref(c.fn),
        args = `v[${c.a}],v[${c.b}],v[${k}]`;
      return `{const da=${f}.derivativeA(${args}),db=${f}.derivativeB(${args});adj[${c.a}]+=g*da;adj[${c.b}]+=g*db;}`;
    }
    case 'select':
      return `if(Math.abs(v[${c.c}])>0)adj[${c.a}]+=g;else adj[${c.b}]+=g;`;
    case 'dot': {
      const { a, b } = c;
      const ra = refs.ref(Int32Array.from(a));
      if (!b) return `{const A=${ra};for(let i=0;i<A.length;i++)adj[A[i]]+=g;}`;
      const rb = refs.ref(Int32Array.from(b));
      return `{const A=${ra},B=${rb};for(let i=0;i<A.length;i++){adj[A[i]]+=g*v[B[i]];adj[B[i]]+=g*v[A[i]];}}`;
    }
    default:
      return undefined;
  }
}

/** Generated functions, each with the references it reads. */
function build<F>(bodies: string[], params: string, refs: Refs): F[] {
  return bodies.map(
    (body) =>
      new Function('R', 'f32', `"use strict";return function(${params}){${body}};`)(refs.items, Math.fround) as F,
  );
}

/** The program's forward pass as generated functions, run in order. */
export function generateForward(code: readonly Instr[]): Forward {
  const refs = new Refs();
  const bodies: string[] = [];
  for (let from = 0; from < code.length; from += CHUNK) {
    const lines: string[] = [];
    for (let k = from; k < Math.min(code.length, from + CHUNK); k++) lines.push(forwardLine(code[k], k, refs));
    bodies.push(lines.join('\n'));
  }
  const parts = build<Forward>(bodies, 's,p,t,v,sAt', refs);
  if (parts.length === 1) return parts[0];
  return (s, p, t, vals, sAt) => {
    for (const f of parts) f(s, p, t, vals, sAt);
  };
}

/** The program's reverse pass as generated functions, run from the last instruction back; zero adjoints are skipped. */
export function generateBackward(code: readonly Instr[]): Backward {
  const refs = new Refs();
  const bodies: string[] = [];
  for (let to = code.length; to > 0; to -= CHUNK) {
    const lines: string[] = [];
    for (let k = to - 1; k >= Math.max(0, to - CHUNK); k--) {
      const line = backwardLines(code[k], k, refs);
      if (line) lines.push(`g=adj[${k}];if(g!==0){${line}}`);
    }
    bodies.push(`let g=0;${lines.join('\n')}`);
  }
  const parts = build<Backward>(bodies, 'v,adj,vs,vp', refs);
  if (parts.length === 1) return parts[0];
  return (vals, adj, vs, vp) => {
    for (const f of parts) f(vals, adj, vs, vp);
  };
}
