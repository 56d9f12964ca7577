// Generators of valid but unusual models in the language, for the fuzz tests of the engine
// (test/unit/engineFuzz.test.ts) and of the language server (test/protocol).
import fc from 'fast-check';
import { Rng } from '../../solver/engine/random';

const RK = ['euler', 'heun', 'midpoint', 'ralston', 'rk4', 'myrk'] as const;
const LMM = ['leapfrog', 'ab2', 'ab3', 'milne', 'mylmm'] as const;

/** Networks: every scheme (built-in and declared), 1–100 steps, tied, per-stage and shared parameters, every correction, grad=adjoint, scalar systems, no loss. */
export const modelText = fc
  .record({
    scalar: fc.boolean(),
    d: fc.integer({ min: 1, max: 3 }),
    width: fc.constantFrom(1, 2, 4, 8),
    perStep: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    act: fc.constantFrom('tanh', 'sin', 'sigmoid'),
    rhs: fc.integer({ min: 0, max: 2 }),
    loss: fc.integer({ min: 0, max: 3 }),
    steps: fc.constantFrom(1, 2, 3, 4, 5, 8, 15, 16, 17, 32, 33, 64, 65, 100),
    total: fc.constantFrom(0.1, 1, 3),
    meth: fc.constantFrom(...RK, ...LMM),
    start: fc.constantFrom(undefined, 'euler', 'heun', 'rk4'),
    tieStage: fc.boolean(),
    gradfix: fc.constantFrom(undefined, 'average', 'filter121', 'adjoint121', 'stagesum'),
    adjoint: fc.boolean(),
    seed: fc.nat({ max: 99 }),
  })
  .map((o) => {
    const ps = (i: number) => (o.perStep[i] ? ' per-step' : '');
    const lines: string[] = [];
    if (o.meth === 'myrk') lines.push('scheme myrk rk a=[[0, 0], [1/2, 0]] b=[0, 1] c=[0, 1/2]');
    if (o.meth === 'mylmm') lines.push('scheme mylmm lmm alpha=[-1, 0, 1] beta=[0, 2, 0]');
    if (o.scalar) {
      lines.push(
        'state u',
        'state v',
        'init u = 0.5',
        'init v = -0.2',
        `param a${ps(0)} = 0.7`,
        `param b${ps(1)} ~ normal(0, 0.3)`,
        `u' = ${['-a*u + sin(v)', 'v', 'a*u - u^3 - v'][o.rhs]}`,
        `v' = ${['b*u - v', '-u + b*tanh(v)', 'exp(-u*u) - a*v'][o.rhs]}`,
      );
      const loss = ['0.5*(u(T) - 0.1)^2 + v(T)^2', 'u(T)*v(T)', 'v(T)^2', ''][o.loss];
      if (loss) lines.push(`loss = ${loss}`);
    } else {
      lines.push(
        `state x[${o.d}]`,
        'init x = 0.5',
        `param W1[${o.width},${o.d}]${ps(0)} ~ normal(0, 0.5)`,
        `param b1[${o.width}]${ps(1)} = 0`,
        `param W2[${o.d},${o.width}]${ps(2)} ~ normal(0, 0.5)`,
        `x' = W2 @ ${o.act}(W1 @ x + b1)`,
      );
      const loss = ['0.5 * sum((x(T) - 0.1)^2)', 'sum(x(T))', 'sum(x(T)^2)', ''][o.loss];
      if (loss) lines.push(`loss = ${loss}`);
    }
    const opts = [`total=${o.total}`, `steps=${o.steps}`, `meth=${o.meth}`, `seed=${o.seed}`];
    if (o.start && (LMM as readonly string[]).includes(o.meth)) opts.push(`start=${o.start}`);
    if (o.tieStage && (RK as readonly string[]).includes(o.meth) && o.meth !== 'euler') opts.push('tie=stage');
    if (o.gradfix) opts.push(`gradfix=${o.gradfix}`);
    if (o.adjoint) opts.push('grad=adjoint');
    lines.push('@ ' + opts.join(', '), 'done');
    return lines.join('\n');
  });

/** Runs the check on a model the front end accepts; fails on any throw but the time budget's. */
const F1 = [
  'tanh',
  'sin',
  'cos',
  'exp',
  'log',
  'sigmoid',
  'relu',
  'abs',
  'sqrt',
  'heav',
  'sign',
  'floor',
  'ceil',
  'atan',
  'asin',
  'acos',
  'cosh',
  'sinh',
  'tan',
  'log10',
  'ln',
  'flr',
];
const F2 = ['max', 'min', 'mod', 'atan2', 'pow'];

/** Random right-hand sides over every built-in function, scalar or vector states. */
export const expressionModel = fc
  .record({
    vector: fc.constantFrom(0, 1, 2), // scalars, or states and a of shape [1] or [2]
    states: fc.integer({ min: 1, max: 3 }),
    perStep: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    steps: fc.constantFrom(1, 3, 8, 16, 17, 33, 64),
    total: fc.constantFrom(0.5, 1, 5),
    meth: fc.constantFrom('euler', 'heun', 'midpoint', 'rk4', 'leapfrog', 'ab3', 'milne'),
    gradfix: fc.constantFrom('', ', gradfix=filter121', ', gradfix=adjoint121'),
    seeds: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
  })
  .chain((o) => {
    const names = ['u', 'v', 'w'].slice(0, o.states);
    const leaf = fc.constantFrom(...names, 'a', 'b', '0.5', '2', '0', 't', 'pi');
    const { e } = fc.letrec((tie) => ({
      e: fc.oneof(
        { depthSize: 'small', maxDepth: 4 },
        leaf,
        fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '^'), tie('e')).map(([x, op, y]) => `(${x} ${op} ${y})`),
        fc.tuple(fc.constantFrom(...F1), tie('e')).map(([f, x]) => `${f}(${x})`),
        fc.tuple(fc.constantFrom(...F2), tie('e'), tie('e')).map(([f, x, y]) => `${f}(${x}, ${y})`),
        fc
          .tuple(tie('e'), fc.constantFrom('>', '<=', '!='), tie('e'), tie('e'), tie('e'))
          .map(([x, c, y, p, q]) => `if(${x} ${c} ${y})then(${p})else(${q})`),
      ),
    }));
    return fc.array(e, { minLength: o.states, maxLength: o.states }).map((rhs) => {
      const shape = o.vector ? `[${o.vector}]` : '';
      const lines = names.flatMap((n, i) => [`state ${n}${shape}`, `init ${n} = ${[0.5, -0.3, 1][i]}`]);
      lines.push(
        `param a${o.perStep[0] ? ' per-step' : ''}${shape} ~ normal(0.5, 0.3)`,
        `param b${o.perStep[1] ? ' per-step' : ''} = 0.2`,
      );
      names.forEach((n, i) => lines.push(`${n}' = ${rhs[i]}`));
      lines.push(
        `loss = ${o.vector ? `sum(${names[0]}(T)^2)` : `(${names[0]}(T) - 1)^2 + ${names[names.length - 1]}(T)`}`,
      );
      lines.push(`@ total=${o.total}, steps=${o.steps}, meth=${o.meth}${o.gradfix}`, 'done');
      return lines.join('\n');
    });
  });

/**
 * Small models with vector and matrix states and parameters ([], [2], [3], [2,2], [2,3], [2,1]),
 * right-hand sides built to their state's shape: broadcasting (scalars, rows against matrices),
 * `@` in every form, indexing (elements, matrix rows), vector literals of scalars and of rows, sum,
 * if, max/min, functions; every scheme kind, shared and per-step parameters. Drawn from a seed
 * (shapes must agree, so the expression is grown top-down from the shape it must have).
 */
export const smallTensorModel = fc.nat().map((seed) => {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.uniform() * xs.length)];
  type Shape = number[];
  interface Leaf {
    name: string;
    shape: Shape;
  }
  const same = (a: Shape, b: Shape) => a.join() === b.join();
  const index = (n: number) => Math.floor(rng.uniform() * n);
  const grow = (want: Shape, depth: number, leaves: Leaf[]): string => {
    const fits = leaves.filter((l) => same(l.shape, want));
    if (depth <= 0 || rng.uniform() < 0.2) {
      if (fits.length && rng.uniform() < 0.7) return pick(fits).name;
      if (want.length === 0)
        return pick(['0.5', '2', '-1', ...leaves.filter((l) => l.shape.length === 0).map((l) => l.name)]);
      return `[${Array.from({ length: want[0] }, () => grow(want.slice(1), 0, leaves)).join(', ')}]`;
    }
    const r = rng.uniform();
    if (r < 0.3) {
      const other: Shape = pick([want, [], ...(want.length === 2 ? [[want[1]]] : [])]);
      const [a, b] = rng.uniform() < 0.5 ? [want, other] : [other, want];
      return `(${grow(a, depth - 1, leaves)} ${pick(['+', '-', '*', '/'])} ${grow(b, depth - 1, leaves)})`;
    }
    if (r < 0.5)
      return `${pick(['tanh', 'sin', 'cos', 'sigmoid', 'abs', 'atan', 'exp'])}(${grow(want, depth - 1, leaves)})`;
    if (r < 0.6)
      return `${pick(['max', 'min'])}(${grow(want, depth - 1, leaves)}, ${grow(pick([want, []]), depth - 1, leaves)})`;
    if (r < 0.75) {
      const k = pick([1, 2, 3]);
      if (want.length === 0) return `(${grow([k], depth - 1, leaves)} @ ${grow([k], depth - 1, leaves)})`;
      if (want.length === 1)
        return rng.uniform() < 0.5
          ? `(${grow([want[0], k], depth - 1, leaves)} @ ${grow([k], depth - 1, leaves)})`
          : `(${grow([k], depth - 1, leaves)} @ ${grow([k, want[0]], depth - 1, leaves)})`;
      return `(${grow([want[0], k], depth - 1, leaves)} @ ${grow([k, want[1]], depth - 1, leaves)})`;
    }
    if (r < 0.85 && want.length === 0) {
      const big = leaves.filter((l) => l.shape.length > 0);
      if (rng.uniform() < 0.5 || big.length === 0) return `sum(${grow(pick([[2], [3], [2, 2]]), depth - 1, leaves)})`;
      const l = pick(big);
      return `${l.name}[${l.shape.map(index).join(', ')}]`;
    }
    if (r < 0.85 && want.length === 1) {
      const rows = leaves.filter((l) => l.shape.length === 2 && l.shape[1] === want[0]);
      if (rows.length) {
        const l = pick(rows);
        return `${l.name}[${index(l.shape[0])}]`;
      }
    }
    if (r < 0.95)
      return `if(${grow(pick([want, []]), depth - 1, leaves)} > ${grow([], depth - 1, leaves)})then(${grow(want, depth - 1, leaves)})else(${grow(pick([want, []]), depth - 1, leaves)})`;
    return `-${grow(want, depth - 1, leaves)}`;
  };
  const shapes: Shape[] = [[], [2], [3], [2, 2], [2, 3]];
  const states: Leaf[] = ['u', 'v'].slice(0, pick([1, 2])).map((name) => ({ name, shape: pick(shapes) }));
  const params: Leaf[] = ['a', 'b', 'c']
    .slice(0, pick([1, 2, 3]))
    .map((name) => ({ name, shape: pick([...shapes, [2, 1]]) }));
  const dims = (sh: Shape) => (sh.length ? `[${sh.join(',')}]` : '');
  return [
    ...states.flatMap((x) => [`state ${x.name}${dims(x.shape)}`, `init ${x.name} = 0.3`]),
    ...params.map((p) => `param ${p.name}${dims(p.shape)}${rng.uniform() < 0.4 ? ' per-step' : ''} ~ normal(0.2, 0.4)`),
    ...states.map((x) => `${x.name}' = ${grow(x.shape, 3, [...states, ...params])}`),
    `loss = ${states.map((x) => (x.shape.length ? `sum(${x.name}(T)^2)` : `${x.name}(T)^2`)).join(' + ')}`,
    `@ total=0.5, steps=${pick([8, 16, 33])}, meth=${pick(['rk4', 'heun', 'leapfrog', 'ab3', 'euler', 'milne'])}, seed=${index(99)}`,
    'done',
  ].join('\n');
});
