// The fused scalar program (engine/scalarRhs.ts) as generated JS functions: one straight-line statement
// per instruction instead of the interpreter's switch, so V8 compiles an evaluation to a run of float
// operations and calls of the operation table's functions (ops/table.ts: the same `value` and
// derivative functions the interpreter calls, so the numbers are the interpreter's bit for bit).
// Only small programs: measured on chains of n scalar states (cpu time per evaluation, steady state),
// generated code is 10× faster than the interpreter at 174 instructions (0.2 vs 2.0 µs) and 4–8× slower
// from about 450 on (3,605 instructions: 215–420 vs 48 µs forward, 630 vs 77 µs reverse): straight-line
// machine code of that length no longer stays in the instruction cache, the interpreter's loop does.
// Larger programs run on the interpreter (scalarRhs.ts: evaluate, reverse).
import { evaluate, reverse, type ScalarProgram } from '../scalarRhs';

/** Forward values of every instruction into v (float32-rounded), states read from s[sAt…]. */
export type Forward = (
  s: ArrayLike<number>,
  sAt: number,
  p: ArrayLike<number>,
  t: number,
  v: Float64Array<ArrayBuffer>,
) => void;
/** Reverse sweep from the outputs' cotangents: adds into vs and vp; `adj` is scratch of the program's length. */
export type Reverse = (
  v: Float64Array<ArrayBuffer>,
  cot: ArrayLike<number>,
  vs: Float64Array,
  vp: Float64Array,
  adj: Float64Array<ArrayBuffer>,
) => void;

/** Statements (instructions, or terms of a sum) per generated function. */
const CHUNK = 1000;

/** Largest program (statements, a sum counting its terms) compiled to generated code; above it, the interpreter. */
export const MAX_GENERATED_STATEMENTS = 300;

/** A number as JS source that reads back exactly (String round-trips doubles; −0 and the non-finite spelled out). */
function literal(x: number): string {
  if (Object.is(x, -0)) return '-0';
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return String(x);
}

/** The program's table functions, numbered: generated code calls them as f0, f1, … bound once per chunk. */
class Functions {
  readonly list: ((...xs: number[]) => number)[] = [];
  private readonly ids = new Map<unknown, number>();
  ref(fn: (...xs: number[]) => number): string {
    let id = this.ids.get(fn);
    if (id === undefined) {
      id = this.list.length;
      this.ids.set(fn, id);
      this.list.push(fn);
    }
    return `f${id}`;
  }
  /** Bindings of the functions a chunk's body names (const f3 = F[3];). */
  header(body: string): string {
    return this.list
      .map((_f, i) => i)
      .filter((i) => new RegExp(`\\bf${i}\\(`).test(body))
      .map((i) => `const f${i} = F[${i}];`)
      .join('\n');
  }
}

function forwardStatement(prog: ScalarProgram, k: number, fns: Functions): string {
  const c = prog.code[k];
  switch (c.op) {
    case 'const':
      return `v[${k}] = ${literal(Math.fround(c.value))};`;
    case 'state':
      return `v[${k}] = Math.fround(s[sAt + ${c.index}]);`;
    case 'param':
      return `v[${k}] = Math.fround(p[${c.index}]);`;
    case 't':
      return `v[${k}] = Math.fround(t);`;
    case 'unary':
      return `v[${k}] = Math.fround(${fns.ref(c.fn.value)}(v[${c.a}]));`;
    case 'binary':
      return `v[${k}] = Math.fround(${fns.ref(c.fn.value as (...xs: number[]) => number)}(v[${c.a}], v[${c.b}]));`;
    case 'select':
      return `v[${k}] = Math.fround(Math.abs(v[${c.c}]) > 0 ? v[${c.a}] : v[${c.b}]);`;
    case 'dot': {
      const terms = c.b ? c.a.map((a, i) => `d += v[${a}] * v[${c.b![i]}];`) : c.a.map((a) => `d += v[${a}];`);
      return `{ let d = 0; ${terms.join(' ')} v[${k}] = Math.fround(d); }`;
    }
  }
}

function reverseStatement(prog: ScalarProgram, k: number, fns: Functions): string | undefined {
  const c = prog.code[k];
  const body = (() => {
    switch (c.op) {
      case 'state':
        return `vs[${c.index}] += g;`;
      case 'param':
        return `vp[${c.index}] += g;`;
      case 'unary':
        return `adj[${c.a}] += g * ${fns.ref(c.fn.derivative)}(v[${c.a}], v[${k}]);`;
      case 'binary': {
        const da = fns.ref(c.fn.derivativeA),
          db = fns.ref(c.fn.derivativeB);
        return `{ const x = v[${c.a}], y = v[${c.b}], da = ${da}(x, y, v[${k}]), db = ${db}(x, y, v[${k}]); adj[${c.a}] += g * da; adj[${c.b}] += g * db; }`;
      }
      case 'select':
        return `if (Math.abs(v[${c.c}]) > 0) adj[${c.a}] += g; else adj[${c.b}] += g;`;
      case 'dot':
        return c.b
          ? c.a.map((a, i) => `adj[${a}] += g * v[${c.b![i]}]; adj[${c.b![i]}] += g * v[${a}];`).join(' ')
          : c.a.map((a) => `adj[${a}] += g;`).join(' ');
      default:
        return undefined;
    }
  })();
  return body && `g = adj[${k}]; if (g !== 0) { ${body} }`;
}

/** Statement weight for chunking: a sum counts its terms. */
const weight = (prog: ScalarProgram, k: number) => {
  const c = prog.code[k];
  return c.op === 'dot' ? 1 + c.a.length : 1;
};

/** Instruction ranges [from, to) of at most about CHUNK statements. */
function chunks(prog: ScalarProgram): [number, number][] {
  const out: [number, number][] = [];
  let from = 0,
    w = 0;
  for (let k = 0; k < prog.code.length; k++) {
    w += weight(prog, k);
    if (w >= CHUNK) {
      out.push([from, k + 1]);
      from = k + 1;
      w = 0;
    }
  }
  if (from < prog.code.length || out.length === 0) out.push([from, prog.code.length]);
  return out;
}

export interface CompiledProgram {
  forward: Forward;
  reverse: Reverse;
}

/** The program's passes: generated code for small programs, the interpreter for the rest (see above). */
export function programPasses(prog: ScalarProgram): CompiledProgram {
  let size = 0;
  for (let k = 0; k < prog.code.length; k++) size += weight(prog, k);
  if (size > MAX_GENERATED_STATEMENTS)
    return {
      forward: (s, sAt, p, t, v) => {
        evaluate(prog, s, p, t, v, sAt);
      },
      reverse: (v, cot, vs, vp, adj) => reverse(prog, v, cot, vs, vp, adj),
    };
  return compileProgram(prog);
}

/** The program's forward and reverse passes as generated functions. */
export function compileProgram(prog: ScalarProgram): CompiledProgram {
  const fns = new Functions();
  const ranges = chunks(prog);
  const forwardParts = ranges.map(([from, to]) => {
    const lines: string[] = [];
    for (let k = from; k < to; k++) lines.push(forwardStatement(prog, k, fns));
    const body = lines.join('\n');
    return new Function('F', `${fns.header(body)}\nreturn function (s, sAt, p, t, v) {\n${body}\n};`)(
      fns.list,
    ) as Forward;
  });
  const reverseParts = ranges
    .slice()
    .reverse()
    .map(([from, to]) => {
      const lines: string[] = [];
      for (let k = to - 1; k >= from; k--) {
        const st = reverseStatement(prog, k, fns);
        if (st) lines.push(st);
      }
      const body = lines.join('\n');
      return new Function('F', `${fns.header(body)}\nreturn function (v, vs, vp, adj) {\nlet g = 0;\n${body}\n};`)(
        fns.list,
      ) as (v: Float64Array, vs: Float64Array, vp: Float64Array, adj: Float64Array) => void;
    });
  const outputs = prog.outputs;
  return {
    forward:
      forwardParts.length === 1
        ? forwardParts[0]
        : (s, sAt, p, t, v) => {
            for (const f of forwardParts) f(s, sAt, p, t, v);
          },
    reverse(v, cot, vs, vp, adj) {
      adj.fill(0);
      for (let i = 0; i < outputs.length; i++) if (outputs[i] >= 0) adj[outputs[i]] += cot[i];
      for (const r of reverseParts) r(v, vs, vp, adj);
    },
  };
}
