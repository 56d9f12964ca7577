// Generators of valid but unusual models in the language, for the fuzz tests of the engine
// (test/unit/engineFuzz.test.ts) and of the language server (test/protocol).
import fc from 'fast-check';

const RK = ['euler', 'heun', 'midpoint', 'ralston', 'rk4', 'myrk'] as const;
const LMM = ['leapfrog', 'ab2', 'ab3', 'milne', 'mylmm'] as const;

/** Networks: every scheme (built-in and declared), 1–100 steps, tied, per-stage and shared parameters, every correction, grad=adjoint, scalar systems, no loss. */
export const modelText = fc.record({
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
}).map((o) => {
  const ps = (i: number) => (o.perStep[i] ? ' per-step' : '');
  const lines: string[] = [];
  if (o.meth === 'myrk') lines.push('scheme myrk rk a=[[0, 0], [1/2, 0]] b=[0, 1] c=[0, 1/2]');
  if (o.meth === 'mylmm') lines.push('scheme mylmm lmm alpha=[-1, 0, 1] beta=[0, 2, 0]');
  if (o.scalar) {
    lines.push('state u', 'state v', 'init u = 0.5', 'init v = -0.2', `param a${ps(0)} = 0.7`, `param b${ps(1)} ~ normal(0, 0.3)`,
      `u' = ${['-a*u + sin(v)', 'v', 'a*u - u^3 - v'][o.rhs]}`, `v' = ${['b*u - v', '-u + b*tanh(v)', 'exp(-u*u) - a*v'][o.rhs]}`);
    const loss = ['0.5*(u(T) - 0.1)^2 + v(T)^2', 'u(T)*v(T)', 'v(T)^2', ''][o.loss];
    if (loss) lines.push(`loss = ${loss}`);
  } else {
    lines.push(`state x[${o.d}]`, 'init x = 0.5', `param W1[${o.width},${o.d}]${ps(0)} ~ normal(0, 0.5)`, `param b1[${o.width}]${ps(1)} = 0`,
      `param W2[${o.d},${o.width}]${ps(2)} ~ normal(0, 0.5)`, `x' = W2 @ ${o.act}(W1 @ x + b1)`);
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
const F1 = ['tanh', 'sin', 'cos', 'exp', 'log', 'sigmoid', 'relu', 'abs', 'sqrt', 'heav', 'sign', 'floor', 'ceil', 'atan', 'asin', 'acos', 'cosh', 'sinh', 'tan', 'log10', 'ln', 'flr'];
const F2 = ['max', 'min', 'mod', 'atan2', 'pow'];

/** Random right-hand sides over every built-in function, scalar or vector states. */
export const expressionModel = fc.record({
  vector: fc.constantFrom(0, 1, 2), // scalars, or states and a of shape [1] or [2]
  states: fc.integer({ min: 1, max: 3 }),
  perStep: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
  steps: fc.constantFrom(1, 3, 8, 16, 17, 33, 64),
  total: fc.constantFrom(0.5, 1, 5),
  meth: fc.constantFrom('euler', 'heun', 'midpoint', 'rk4', 'leapfrog', 'ab3', 'milne'),
  gradfix: fc.constantFrom('', ', gradfix=filter121', ', gradfix=adjoint121'),
  seeds: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
}).chain((o) => {
  const names = ['u', 'v', 'w'].slice(0, o.states);
  const leaf = fc.constantFrom(...names, 'a', 'b', '0.5', '2', '0', 't', 'pi');
  const { e } = fc.letrec((tie) => ({
    e: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf,
      fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '^'), tie('e')).map(([x, op, y]) => `(${x} ${op} ${y})`),
      fc.tuple(fc.constantFrom(...F1), tie('e')).map(([f, x]) => `${f}(${x})`),
      fc.tuple(fc.constantFrom(...F2), tie('e'), tie('e')).map(([f, x, y]) => `${f}(${x}, ${y})`),
      fc.tuple(tie('e'), fc.constantFrom('>', '<=', '!='), tie('e'), tie('e'), tie('e')).map(([x, c, y, p, q]) => `if(${x} ${c} ${y})then(${p})else(${q})`)),
  }));
  return fc.array(e, { minLength: o.states, maxLength: o.states }).map((rhs) => {
    const shape = o.vector ? `[${o.vector}]` : '';
    const lines = names.flatMap((n, i) => [`state ${n}${shape}`, `init ${n} = ${[0.5, -0.3, 1][i]}`]);
    lines.push(`param a${o.perStep[0] ? ' per-step' : ''}${shape} ~ normal(0.5, 0.3)`, `param b${o.perStep[1] ? ' per-step' : ''} = 0.2`);
    names.forEach((n, i) => lines.push(`${n}' = ${rhs[i]}`));
    lines.push(`loss = ${o.vector ? `sum(${names[0]}(T)^2)` : `(${names[0]}(T) - 1)^2 + ${names[names.length - 1]}(T)`}`);
    lines.push(`@ total=${o.total}, steps=${o.steps}, meth=${o.meth}${o.gradfix}`, 'done');
    return lines.join('\n');
  });
});

