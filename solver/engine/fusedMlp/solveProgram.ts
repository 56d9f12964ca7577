// The whole discrete solve of an MLP field as one TF.js op. The solve is first traced through the
// engine's own steppers (integrate.ts) with placeholders for the states: every evaluation of f and
// every linear combination (stage inputs, steps, blended parameters) is recorded as an instruction
// instead of run as a kernel. The op then runs the instructions over Float32Arrays and their reverse
// in its gradient: a forward+backward is one op and one backward call, not two kernels and their
// gradients per stage (at d = 2, width 16, N = 64 the tape's bookkeeping cost more than the
// arithmetic). Each instruction's float32 arithmetic is the kernel's it stands for (field.ts,
// linearCombination.ts) and adjoints are summed in the tape's order, so the values and gradients are
// the per-stage path's.
import type { TF, Tensor } from '../tf';
import type { Term } from '../linearCombination';
import type { MlpField } from './recognise';
import { copySources, stackedCopies, type ParamsFor } from '../copySources';
import { backward, forward } from './field';

type Data = Float32Array;

type Instruction =
  /** A parameter copy read from its stacked source (engine/copySources.ts) at an element offset. */
  | { kind: 'copy'; out: number; source: number; offset: number }
  | { kind: 'combine'; out: number; terms: number[]; coefs: number[] }
  | { kind: 'field'; out: number; x: number; params: number[] };

/** What a traced solve computes: inputs (by tensor), instructions, and the value of each x_m. */
interface Program {
  inputs: Tensor[];
  inputIds: number[];
  instructions: Instruction[];
  sizes: number[];
  trajectory: number[];
}

/** What the tracer replaces in the compiled model it solves (engine/compile.ts: CompiledModel). */
export interface Solvable {
  rhs(s: Tensor[], p: Tensor[], t: number): Tensor[];
  readonly combine?: (terms: Term[]) => Tensor;
}

const ID = Symbol('fusedMlp.value');
type Placeholder = { shape: number[]; size: number; [ID]: number };

class Tracer {
  readonly inputs: Tensor[] = [];
  readonly inputIds: number[] = [];
  readonly instructions: Instruction[] = [];
  readonly sizes: number[] = [];
  private readonly known = new Map<Tensor, number>();

  idOf(t: Tensor): number {
    const own = (t as unknown as Partial<Placeholder>)[ID];
    if (own !== undefined) return own;
    let id = this.known.get(t);
    if (id === undefined) {
      id = this.sizes.length;
      this.sizes.push(t.size);
      this.known.set(t, id);
      this.inputs.push(t);
      this.inputIds.push(id);
    }
    return id;
  }

  value(shape: number[]): [number, Tensor] {
    const id = this.sizes.length,
      size = shape.reduce((a, b) => a * b, 1);
    this.sizes.push(size);
    return [id, { shape, size, [ID]: id } as unknown as Tensor];
  }

  field(x: Tensor, p: Tensor[]): Tensor {
    const xi = this.idOf(x),
      params = p.map((t) => this.idOf(t));
    const [out, t] = this.value(x.shape);
    this.instructions.push({ kind: 'field', out, x: xi, params });
    return t;
  }

  /** The solve's parameters, with the copies of stacked per-step parameters read from their stacks. */
  params(params: ParamsFor): ParamsFor {
    const src = copySources.get(params);
    const stacks = src?.copies.map((c, j) => (src.perStep[j] ? stackedCopies.get(c) : undefined));
    if (!src || !stacks?.some((s) => s)) return params;
    const made = stacks.map(() => new Map<number, Tensor>());
    return (copy) =>
      src.copies.map((c, j) => {
        const st = stacks[j];
        if (!src.perStep[j] || !st) return src.perStep[j] ? c[copy] : c[0];
        let t = made[j].get(copy);
        if (!t) {
          const s = st.find((x) => copy >= x.first && copy < x.first + x.copies);
          if (!s) return c[copy];
          const source = this.idOf(s.tensor),
            size = s.tensor.size / s.copies;
          let out: number;
          [out, t] = this.value(s.tensor.shape.slice(1));
          this.instructions.push({ kind: 'copy', out, source, offset: (copy - s.first) * size });
          made[j].set(copy, t);
        }
        return t;
      });
  }

  combine(terms: Term[]): Tensor {
    const ids = terms.map(([v]) => this.idOf(v));
    const [out, t] = this.value(terms[0][0].shape);
    this.instructions.push({ kind: 'combine', out, terms: ids, coefs: terms.map(([, c]) => Math.fround(c)) });
    return t;
  }
}

/**
 * Traces the solve (the steppers' own code on a view whose f and combinations record instructions);
 * undefined when the solve needs anything else (a stepper applying a TF.js op to a placeholder).
 */
function trace<M extends Solvable>(
  cm: M,
  params: ParamsFor,
  solve: (view: M, params: ParamsFor) => Tensor[][],
): Program | undefined {
  const tracer = new Tracer();
  const view: M = {
    ...cm,
    rhs: (s, p) => [tracer.field(s[0], p)],
    combine: (terms) => tracer.combine(terms),
    packed: undefined,
    solveProgram: undefined,
    timeStepping: undefined,
  } as M;
  try {
    const X = solve(view, tracer.params(params));
    return { ...tracer, trajectory: X.map((xs) => tracer.idOf(xs[0])) };
  } catch {
    return undefined;
  }
}

interface Run {
  values: Data[];
  traces: Map<number, ReturnType<typeof forward>['trace']>;
}

/** The instructions' values, forward; the field evaluations' traces for the backward pass. */
function run(field: MlpField, program: Program, inputs: Data[]): Run {
  const values: Data[] = new Array(program.sizes.length);
  program.inputIds.forEach((id, j) => {
    values[id] = inputs[j];
  });
  const traces = new Map<number, ReturnType<typeof forward>['trace']>();
  for (const ins of program.instructions) {
    if (ins.kind === 'copy')
      values[ins.out] = values[ins.source].subarray(ins.offset, ins.offset + program.sizes[ins.out]);
    else if (ins.kind === 'combine') {
      const vs = ins.terms.map((id) => values[id]),
        c = ins.coefs;
      const out = new Float32Array(program.sizes[ins.out]);
      for (let e = 0; e < out.length; e++) {
        let acc = Math.fround(c[0] * vs[0][e]);
        for (let j = 1; j < vs.length; j++) acc = Math.fround(acc + Math.fround(c[j] * vs[j][e]));
        out[e] = acc;
      }
      values[ins.out] = out;
    } else {
      const { W, B } = layerData(field, ins.params, values);
      const r = forward(field, values[ins.x], W, B);
      values[ins.out] = r.y;
      traces.set(ins.out, r.trace);
    }
  }
  return { values, traces };
}

function layerData(field: MlpField, params: number[], values: Data[]) {
  return {
    W: field.layers.map((l) => values[params[l.weight]]),
    B: field.layers.map((l) => (l.bias === undefined ? undefined : values[params[l.bias]])),
  };
}

/** Reverse of run: adjoints of every value from the trajectory's cotangent, summed in the tape's order. */
function reverse(field: MlpField, program: Program, run: Run, dy: Data, d: number): Data[] {
  const adj: (Data | undefined)[] = new Array(program.sizes.length);
  const add = (id: number, g: Data) => {
    const a = adj[id];
    if (!a) adj[id] = g;
    else for (let e = 0; e < a.length; e++) a[e] += g[e];
  };
  // A copy's adjoint is its part of its stack's adjoint: gradients are summed there directly.
  for (const ins of program.instructions)
    if (ins.kind === 'copy')
      adj[ins.out] = (adj[ins.source] ??= new Float32Array(program.sizes[ins.source])).subarray(
        ins.offset,
        ins.offset + program.sizes[ins.out],
      );
  program.trajectory.forEach((id, m) => add(id, dy.slice(m * d, (m + 1) * d)));
  for (let k = program.instructions.length - 1; k >= 0; k--) {
    const ins = program.instructions[k];
    const g = adj[ins.out];
    if (!g || ins.kind === 'copy') continue;
    if (ins.kind === 'combine') {
      // Term j's gradient is c_j·g rounded (mul's), summed into the term's adjoint (add's rounding).
      ins.terms.forEach((id, j) => {
        const c = ins.coefs[j],
          a = adj[id];
        if (a) for (let e = 0; e < g.length; e++) a[e] += Math.fround(c * g[e]);
        else {
          const fresh = new Float32Array(g.length);
          for (let e = 0; e < g.length; e++) fresh[e] = c * g[e];
          adj[id] = fresh;
        }
      });
    } else {
      const { W } = layerData(field, ins.params, run.values);
      const into = {
        W: field.layers.map((l) => adj[ins.params[l.weight]]),
        b: field.layers.map((l) => (l.bias === undefined ? undefined : adj[ins.params[l.bias]])),
      };
      const r = backward(field, run.traces.get(ins.out)!, W, g, into);
      add(ins.x, r.dx);
      field.layers.forEach((l, i) => {
        const dW = r.dW[i],
          db = r.db[i];
        if (dW) add(ins.params[l.weight], dW);
        if (l.bias !== undefined && db) add(ins.params[l.bias], db);
      });
    }
  }
  return program.inputIds.map((id) => adj[id] ?? new Float32Array(program.sizes[id]));
}

/**
 * The solve x_0..x_N as one op (its states read lazily, as slices of the op's [N+1, d, 1] result, so a
 * loss on x(T) slices once); undefined when the solve cannot be traced.
 */
export function solveAsProgram<M extends Solvable>(
  tf: TF,
  field: MlpField,
  cm: M,
  params: ParamsFor,
  solve: (view: M, params: ParamsFor) => Tensor[][],
): Tensor[][] | undefined {
  const program = trace(cm, params, solve);
  if (!program) return undefined;
  const d = field.size,
    steps = program.trajectory.length;
  const whole = tf.customGrad((...args: unknown[]) => {
    const data = program.inputs.map((_t, j) => (args[j] as Tensor).dataSync() as Data);
    const r = run(field, program, data);
    const out = new Float32Array(steps * d);
    program.trajectory.forEach((id, m) => out.set(r.values[id], m * d));
    return {
      value: tf.tensor(out, [steps, d, 1]),
      gradFunc: (dy: Tensor) =>
        reverse(field, program, r, dy.dataSync() as Data, d).map((g, j) => tf.tensor(g, program.inputs[j].shape)),
    };
  })(...program.inputs) as Tensor;
  const out: Tensor[][] = new Array(steps);
  const cache: (Tensor[] | undefined)[] = new Array(steps);
  for (let m = 0; m < steps; m++)
    Object.defineProperty(out, m, {
      enumerable: true,
      get: () => (cache[m] ??= [tf.reshape(tf.slice(whole, [m, 0, 0], [1, d, 1]), [d, 1])]),
    });
  return out;
}
