// The engine's expression kinds beyond arithmetic: every built-in function the
// front end accepts (against plain JS Math), comparisons and logic, `if`,
// constant indexing, and AD through all of them. Expressions are built by hand
// so these tests do not depend on the parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryOperator, Expr, Model } from '../../solver/model';
import { BUILTINS, BUILTIN_NAMES, LOWERED, NOISE_FUNCTIONS } from '../../solver/language/builtins';
import { analyse } from '../../solver/language';
import { initBackend } from '../../solver/engine/backend';
import { compileModel, evalConstant, CompileError } from '../../solver/engine/compile';
import { solveDiscrete } from '../../solver/engine/integrate';
import { schemeByName } from '../../solver/schemes/schemes';
import { R, num, name, call, end } from './engineFixtures';

const backend = 'cpu' as const;
const bin = (op: BinaryOperator, left: Expr, right: Expr): Expr => ({
  kind: 'binary',
  op,
  left,
  right,
  range: R,
  opRange: R,
});
const vector = (...xs: Expr[]): Expr => ({ kind: 'vector', elements: xs, range: R });
const ifx = (c: Expr, a: Expr, b: Expr): Expr => ({ kind: 'if', cond: c, then: a, else: b, range: R });
const index = (target: Expr, ...indices: number[]): Expr => ({ kind: 'index', target, indices, range: R });

/** Independent float64 meaning of each built-in (XPPAUT conventions where they differ from NumPy). */
const ELEMENTWISE: Record<string, (...a: number[]) => number> = {
  tanh: Math.tanh,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  exp: Math.exp,
  log: Math.log,
  ln: Math.log,
  log10: Math.log10,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sinh: Math.sinh,
  cosh: Math.cosh,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  relu: (x) => Math.max(x, 0),
  softplus: (x) => Math.log1p(Math.exp(x)),
  elu: (x) => (x > 0 ? x : Math.expm1(x)),
  square: (x) => x * x,
  sign: Math.sign,
  floor: Math.floor,
  flr: Math.floor,
  ceil: Math.ceil,
  round: Math.round,
  heav: (x) => (x >= 0 ? 1 : 0),
  max: Math.max,
  min: Math.min,
  pow: Math.pow,
  atan2: Math.atan2,
  mod: (a, b) => a - b * Math.floor(a / b),
};
const REDUCE: Record<string, (xs: number[]) => number> = {
  sum: (xs) => xs.reduce((a, b) => a + b, 0),
  mean: (xs) => xs.reduce((a, b) => a + b, 0) / xs.length,
  norm: (xs) => Math.sqrt(xs.reduce((a, b) => a + b * b, 0)),
  max: (xs) => Math.max(...xs),
  min: (xs) => Math.min(...xs),
};
const SAMPLES = [0.3, 0.7, -0.45, 1.6, -2.3, 0];

function close(got: number, want: number, what: string) {
  assert.ok(Math.abs(got - want) <= 2e-6 + 2e-6 * Math.abs(want), `${what}: engine ${got}, Math ${want}`);
}

test('every built-in of the front end compiles and agrees with JS Math', async () => {
  const { tf } = await initBackend(backend);
  assert.ok(BUILTIN_NAMES.length > 0);
  for (const fn of BUILTIN_NAMES) {
    const info = BUILTINS.get(fn)!;
    if (info.kind === 'reduce') {
      const ref = REDUCE[fn];
      assert.ok(ref, `no JS reference for the reduction ${fn}: add one here`);
      const xs = [0.3, -1.2, 2.5, 0.05];
      const got = evalConstant(tf, call(fn, vector(...xs.map(num))), [])[0];
      close(got, ref(xs), `${fn}(${xs})`);
      continue;
    }
    const ref = ELEMENTWISE[fn];
    assert.ok(ref, `no JS reference for ${fn}: add one here`);
    let checked = 0;
    for (let i = 0; i < SAMPLES.length; i++) {
      const args = Array.from({ length: info.arity }, (_, k) => SAMPLES[(i + 2 * k) % SAMPLES.length]);
      const want = ref(...args);
      if (!Number.isFinite(want)) continue; // outside the function's domain
      const got = evalConstant(tf, call(fn, ...args.map(num)), [])[0];
      close(got, want, `${fn}(${args})`);
      checked++;
    }
    assert.ok(checked >= 2, `${fn}: too few sample points in its domain`);
    // Elementwise on a vector too (the column layout must not matter).
    if (info.arity === 1) {
      const xs = [0.3, 0.7];
      const got = Array.from(evalConstant(tf, call(fn, vector(...xs.map(num))), [2]));
      xs.forEach((x, k) => close(got[k], ref(x), `${fn}([${xs}])[${k}]`));
    }
  }
});

test('heav follows XPPAUT: heav(0) = 1', async () => {
  const { tf } = await initBackend(backend);
  assert.equal(evalConstant(tf, call('heav', num(0)), [])[0], 1);
  assert.equal(evalConstant(tf, call('heav', num(-1e-30)), [])[0], 0);
});

test('comparisons and logic give 1/0, elementwise with broadcasting', async () => {
  const { tf } = await initBackend(backend);
  const ops: [BinaryOperator, (a: number, b: number) => boolean][] = [
    ['<', (a, b) => a < b],
    ['>', (a, b) => a > b],
    ['<=', (a, b) => a <= b],
    ['>=', (a, b) => a >= b],
    ['==', (a, b) => a === b],
    ['!=', (a, b) => a !== b],
    ['&', (a, b) => a !== 0 && b !== 0],
    ['|', (a, b) => a !== 0 || b !== 0],
  ];
  const xs = [-1, 0, 0.5, 2];
  for (const [op, ref] of ops) {
    for (const b of [0, 0.5]) {
      const got = Array.from(evalConstant(tf, bin(op, vector(...xs.map(num)), num(b)), [4]));
      assert.deepEqual(
        got,
        xs.map((a) => (ref(a, b) ? 1 : 0)),
        `[${xs}] ${op} ${b}`,
      );
    }
  }
  // A vector against a matrix broadcasts along rows, as NumPy does.
  const m = vector(vector(num(1), num(5)), vector(num(3), num(0)));
  assert.deepEqual(Array.from(evalConstant(tf, bin('<', vector(num(2), num(2)), m), [2, 2])), [0, 1, 1, 0]);
});

test('if(c)then(a)else(b) selects elementwise and broadcasts', async () => {
  const { tf } = await initBackend(backend);
  const c = vector(num(1), num(0), num(-3));
  assert.deepEqual(Array.from(evalConstant(tf, ifx(c, num(10), vector(num(1), num(2), num(3))), [3])), [10, 2, 10]);
  assert.deepEqual(Array.from(evalConstant(tf, ifx(num(0), num(1), num(2)), [])), [2]);
  // A row condition against a matrix branch.
  const m = vector(vector(num(1), num(2)), vector(num(3), num(4)));
  assert.deepEqual(Array.from(evalConstant(tf, ifx(vector(num(0), num(1)), m, num(-1)), [2, 2])), [-1, 2, -1, 4]);
});

test('constant indexing of vectors and matrices (negative indices count from the end)', async () => {
  const { tf } = await initBackend(backend);
  const v = vector(num(4), num(5), num(6));
  const m = vector(vector(num(1), num(2), num(3)), vector(num(7), num(8), num(9)));
  assert.deepEqual(Array.from(evalConstant(tf, index(v, 1), [])), [5]);
  assert.deepEqual(Array.from(evalConstant(tf, index(v, -1), [])), [6]);
  assert.deepEqual(Array.from(evalConstant(tf, index(m, 1, 2), [])), [9]);
  assert.deepEqual(Array.from(evalConstant(tf, index(m, 1), [3])), [7, 8, 9]);
  // A row taken from a matrix is a vector: it multiplies like one.
  assert.deepEqual(Array.from(evalConstant(tf, bin('@', m, index(m, 0)), [2])), [14, 50]);
  assert.throws(
    () => evalConstant(tf, index(v, 3), []),
    (e: unknown) => e instanceof CompileError && e.code === 'index-out-of-range',
  );
  assert.throws(
    () => evalConstant(tf, index(v, 0, 0), []),
    (e: unknown) => e instanceof CompileError,
  );
});

/**
 * z = [p, q]' = [q, -k·p + if(p > 0)then(-c·p·q)else(0) - heav(-q)·d·q], a
 * piecewise oscillator using index, if, a comparison and heav on a parameter:
 * AD through the solve must equal central differences (no missing gradient).
 */
test('AD flows through index, if, comparisons and heav', async () => {
  const { tf } = await initBackend(backend);
  const z = name('z');
  const p = index(z, 0),
    q = index(z, 1);
  // Continuous (piecewise smooth) in z, so central differences are meaningful.
  const damping = ifx(bin('>', p, num(0)), bin('*', bin('*', num(-1), name('c')), bin('*', p, q)), num(0));
  const rhs = vector(
    q,
    bin(
      '-',
      bin('+', bin('*', bin('*', num(-1), name('k')), p), damping),
      bin('*', bin('*', call('heav', bin('*', num(-1), q)), name('d')), q),
    ),
  );
  const model: Model = {
    states: [{ name: 'z', shape: [2], init: vector(num(1), num(0)), range: R, nameRange: R }],
    params: ['k', 'c', 'd'].map((n) => ({
      name: n,
      shape: [],
      perStep: false,
      init: { kind: 'value', value: num(0.5), range: R },
      range: R,
      nameRange: R,
    })),
    equations: [{ state: 'z', rhs, range: R }],
    loss: { expr: call('sum', bin('^', end('z'), num(2))), range: R },
    options: {
      t0: 0,
      total: 2,
      steps: 40,
      dt: 0.05,
      meth: 'rk4',
      start: 'euler',
      seed: 1,
      gradfix: 'none',
      grad: 'ad',
      tie: 'step',
    },
    optionLines: [],
    data: [],
    schemes: [],
  };
  const { compiled } = compileModel(tf, model);
  try {
    const lossAt = (vals: number[]) =>
      tf.tidy(() => {
        const ps = vals.map((v) => tf.scalar(v));
        return compiled
          .loss(solveDiscrete(tf, compiled, schemeByName('rk4'), 40, 0.05, 0, () => ps).at(-1)!)
          .dataSync()[0];
      });
    const theta = [1.3, 0.4, 0.2];
    const g = tf.tidy(() => {
      const ps = theta.map((v) => tf.scalar(v));
      const f = (...xs: ReturnType<typeof tf.scalar>[]) =>
        compiled.loss(solveDiscrete(tf, compiled, schemeByName('rk4'), 40, 0.05, 0, () => xs).at(-1)!);
      return tf
        .grads(f as never)(ps)
        .map((t) => t.dataSync()[0]);
    });
    for (let i = 0; i < theta.length; i++) {
      const eps = 1e-3;
      const up = theta.slice(),
        dn = theta.slice();
      up[i] += eps;
      dn[i] -= eps;
      const fd = (lossAt(up) - lossAt(dn)) / (2 * eps);
      assert.ok(Number.isFinite(g[i]), `gradient ${i} not finite`);
      assert.ok(
        Math.abs(g[i] - fd) <= 2e-2 * Math.max(1, Math.abs(fd)),
        `parameter ${model.params[i].name}: AD ${g[i]} vs FD ${fd}`,
      );
    }
  } finally {
    compiled.dispose();
  }
});

test('XPPAUT functions the checker lowers (cosh, pow, flr, …) evaluate like JS Math', async () => {
  const { tf } = await initBackend(backend);
  for (const [fn, arity] of LOWERED) {
    // ran and normal draw seeded samples: test/unit/xppautExpressions.test.ts checks them against their samples.
    if (NOISE_FUNCTIONS.has(fn)) continue;
    const ref = ELEMENTWISE[fn];
    assert.ok(ref, `no JS reference for ${fn}: add one here`);
    const args = [0.7, 1.6].slice(0, arity);
    const a = analyse(`x' = 0\ninit x = ${fn}(${args.join(', ')})\nloss = x(T)^2\n`);
    assert.deepEqual(
      a.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message),
      [],
      fn,
    );
    const x0 = evalConstant(tf, a.model!.states[0].init!, [])[0];
    close(x0, ref(...args), `${fn}(${args})`);
  }
});

test('NaN follows one rule on every backend: max and min pass it on from either side, if(NaN) takes else', async () => {
  // u/u is NaN in the first component at u = 0. tfjs-wasm's maximum kept the first operand when only the
  // second was NaN, and its cast of NaN to bool is false where cpu's is true: the same model blew up on
  // one backend and not on the other. The all-scalar path (scalarRhs) uses Math.max and |c| > 0.
  const text = (rhs: string) => `state u[2]\ninit u = [0, 1]\nu' = ${rhs}\nloss = sum(u(T)^2)\n@ steps=4\ndone`;
  const cases: [string, number[]][] = [
    ['max(u/u, 2)', [NaN, 2]],
    ['max(2, u/u)', [NaN, 2]],
    ['min(u/u, 0)', [NaN, 0]],
    ['min(0, u/u)', [NaN, 0]],
    ['max(u/u, [2, 0])', [NaN, 1]],
    ['if(u/u)then(3)else(4)', [4, 3]],
    ['if(u)then(3)else(4)', [4, 3]],
  ];
  for (const on of ['cpu', 'wasm'] as const) {
    const { tf } = await initBackend(on);
    for (const [rhs, want] of cases) {
      const a = analyse(text(rhs));
      assert.ok(a.model, `${rhs}: ${JSON.stringify(a.diagnostics)}`);
      const { compiled } = compileModel(tf, a.model);
      try {
        const got = tf.tidy(() => Array.from(compiled.rhs(compiled.x0, [], 0)[0].dataSync()));
        assert.deepEqual(
          got.map((x) => (Number.isNaN(x) ? 'NaN' : x)),
          want.map((x) => (Number.isNaN(x) ? 'NaN' : x)),
          `${rhs} on ${on}`,
        );
      } finally {
        compiled.dispose();
      }
    }
  }
});
