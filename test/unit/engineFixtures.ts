// Hand-built Model objects for the engine tests (independent of the front end).
import type { Expr, Model, ModelOptions, ParamDecl, Range, SchemeName, GradFix } from '../../solver/model';

export const R: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } };
const at = (line: number, a = 0, b = 80): Range => ({ start: { line, character: a }, end: { line, character: b } });

export const num = (value: number): Expr => ({ kind: 'number', value, range: R });
export const name = (n: string): Expr => ({ kind: 'name', name: n, range: R });
export const bin = (op: '+' | '-' | '*' | '/' | '^' | '@', left: Expr, right: Expr): Expr => ({
  kind: 'binary',
  op,
  left,
  right,
  range: R,
  opRange: R,
});
export const call = (callee: string, ...args: Expr[]): Expr => ({
  kind: 'call',
  callee,
  args,
  range: R,
  calleeRange: R,
});
const vec = (...xs: number[]): Expr => ({ kind: 'vector', elements: xs.map(num), range: R });
export const end = (s: string): Expr => ({ kind: 'stateAtEnd', state: s, range: R });

export interface SpiralOptions {
  steps?: number;
  meth?: SchemeName;
  seed?: number;
  gradfix?: GradFix;
  width?: number;
  total?: number;
}

function options(o: Partial<ModelOptions> & { steps: number; total: number }): ModelOptions {
  return {
    t0: 0,
    meth: 'leapfrog',
    start: 'euler',
    seed: 1,
    gradfix: 'none',
    grad: 'ad',
    tie: 'step',
    dt: o.total / o.steps,
    ...o,
  } as ModelOptions;
}

/** examples/spiral.ode as a Model. */
export function spiral(o: SpiralOptions = {}): Model {
  const steps = o.steps ?? 64,
    total = o.total ?? 1,
    w = o.width ?? 16;
  const p = (nm: string, shape: number[], init: ParamDecl['init'], line: number): ParamDecl => ({
    name: nm,
    shape,
    perStep: true,
    init,
    range: at(line),
    nameRange: at(line, 6, 6 + nm.length),
  });
  const meth = o.meth ?? 'leapfrog';
  const line = `@ total=${total}, steps=${steps}, meth=${meth}, seed=${o.seed ?? 1}`;
  const mi = line.indexOf('meth=') + 5;
  return {
    states: [{ name: 'x', shape: [2], init: vec(2, 0), range: at(5), nameRange: at(5, 6, 7) }],
    params: [
      p('W1', [w, 2], { kind: 'normal', mean: 0, std: 0.3, range: R }, 7),
      p('b1', [w], { kind: 'value', value: num(0), range: R }, 8),
      p('W2', [2, w], { kind: 'normal', mean: 0, std: 0.3, range: R }, 9),
    ],
    equations: [
      {
        state: 'x',
        rhs: bin('@', name('W2'), call('tanh', bin('+', bin('@', name('W1'), name('x')), name('b1')))),
        range: at(10),
      },
    ],
    loss: {
      expr: bin('*', num(0.5), call('sum', bin('^', bin('-', end('x'), vec(0.5, -1.0)), num(2)))),
      range: at(11),
    },
    options: options({ steps, total, meth, seed: o.seed ?? 1, gradfix: o.gradfix ?? 'none' }),
    data: [],
    schemes: [],
    optionLines: [
      {
        range: at(12, 0, line.length),
        settings: [
          {
            key: 'meth',
            value: meth,
            range: at(12, mi - 5, mi + meth.length),
            valueRange: at(12, mi, mi + meth.length),
          },
        ],
      },
    ],
  };
}

/** x' = a x (scalar state, shared parameter a = value), loss = ½ x(T)². */
export function linear(o: {
  steps: number;
  meth: SchemeName;
  a?: number;
  total?: number;
  x0?: number;
  perStep?: boolean;
}): Model {
  const total = o.total ?? 1;
  return {
    states: [{ name: 'x', shape: [], init: num(o.x0 ?? 1), range: at(0), nameRange: at(0) }],
    params: [
      {
        name: 'a',
        shape: [],
        perStep: o.perStep ?? false,
        init: { kind: 'value', value: num(o.a ?? -1), range: R },
        range: at(1),
        nameRange: at(1),
      },
    ],
    equations: [{ state: 'x', rhs: bin('*', name('a'), name('x')), range: at(2) }],
    loss: { expr: bin('*', num(0.5), bin('^', end('x'), num(2))), range: at(3) },
    options: options({ steps: o.steps, total, meth: o.meth }),
    data: [],
    schemes: [],
    optionLines: [],
  };
}
