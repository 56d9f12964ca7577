// Large delayed networks on the fused program (XPPAUT's `del_shft(x0, mod(i'+[j],n), tau*abs(i'))` inside an indexed
// sum, with a table read at each term's constant index): functions of numbers are emitted as the numbers every
// evaluation computed (so the reads at ±i' share one tau and one delay instruction), and the history locates now − tau
// once per tau (KernelHistory: per tau's slot, and a run of reads of one tau at once). Held to what they replace: the
// same instruction written with a parameter, the history's plain per-read location, and a float64 re-implementation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import type { Model } from '../../solver/model';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { interpreterOf } from '../../solver/engine/programInterpreter';
import { KernelHistory, pastProgram } from '../../solver/engine/scalarKernel/delays';
import { adjointSolve, forwardSolve, rungeKuttaPlan, StepWorkspace } from '../../solver/engine/scalarKernel/rungeKutta';
import { schemeOf } from '../../solver/schemes/schemes';
import { centralDifferences, engineGradient, engineTrajectory, modelOf } from '../support/timeStepping';

const f32 = Math.fround;

// A function of numbers, emitted as a number, must be the number the interpreter computes for the same instruction on
// the same (float32) operands: the value of `F(c)` equals that of `F(q)` with a parameter q = c, bit for bit.
const UNARY = ['sin', 'cos', 'exp', 'abs', 'tanh', 'log', 'sqrt', 'heav', 'floor', 'sign', 'atan', 'cosh', '-'];
const BINARY = ['+', '-', '*', '/', '^', 'min', 'max', 'atan2', 'mod', '<', '>=', '=='];
const numberArb = fc.oneof(
  fc.double({ min: -5, max: 5, noNaN: true }),
  fc.constantFrom(0, -0, 0.1, 1 / 3, 2.5, -7, 1e-30),
);
/** A number as the language reads it back (String(-0) is "0"). */
const num = (x: number) => (Object.is(x, -0) ? '(-0)' : `(${x})`);
const formula = fc.oneof(
  fc.record({ fn: fc.constantFrom(...UNARY), a: numberArb }).map(({ fn, a }) => ({
    numbers: fn === '-' ? `-${num(a)}` : `${fn}${num(a)}`,
    params: fn === '-' ? '-(q1)' : `${fn}(q1)`,
    values: [a],
  })),
  fc.record({ op: fc.constantFrom(...BINARY), a: numberArb, b: numberArb }).map(({ op, a, b }) => {
    const call = /^[a-z]/.test(op);
    return {
      numbers: call ? `${op}(${num(a)}, ${num(b)})` : `${num(a)} ${op} ${num(b)}`,
      params: call ? `${op}(q1, q2)` : `(q1) ${op} (q2)`,
      values: [a, b],
    };
  }),
  fc.record({ a: numberArb, b: numberArb, c: numberArb }).map(({ a, b, c }) => ({
    numbers: `if(${num(a)}>0.5)then(exp(${num(b)}))else(${num(c)}*${num(a)})`,
    params: 'if(q1>0.5)then(exp(q2))else(q3*q1)',
    values: [a, b, c],
  })),
);

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, `${JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error'))}\n${text}`);
  return a.model;
}

/** The program's value of its only state's f at x = 0.75 (params in order), from the interpreter. */
function fValue(m: Model, params: number[]): { value: number; code: string[] } {
  const prog = compileScalarProgram(m);
  assert.ok(prog, 'the model fuses');
  const v = new Float64Array(prog.code.length);
  interpreterOf(prog).forward(Float32Array.of(0.75), 0, Float32Array.from(params), 0, v);
  return { value: v[prog.outputs[0]], code: prog.code.map((c) => c.op) };
}

test('a function of numbers is emitted as the number every evaluation computes, bit for bit', () => {
  fc.assert(
    fc.property(formula, ({ numbers, params, values }) => {
      const folded = fValue(model(`x' = x*(${numbers})\npar a=1\ninit x=0.5\n@ total=1`), [1]);
      const names = values.map((_v, i) => `q${i + 1}`);
      const read = fValue(
        model(`x' = x*(${params})\npar ${names.map((n, i) => `${n}=${values[i]}`).join(', ')}\ninit x=0.5\n@ total=1`),
        values.map(f32),
      );
      assert.ok(Object.is(folded.value, read.value), `${numbers}: ${folded.value} vs ${read.value}`);
      // Only the state, the number and their product are left.
      assert.deepEqual(folded.code.filter((op) => op !== 'const' && op !== 'state' && op !== 'param').length, 1);
    }),
    { numRuns: 300, seed: 7 },
  );
});

/** A ring of n oscillators, each reading its neighbours up to r away, tau·|i'| back (XPPAUT's sine-circle's construct). */
const RING = (n: number, r: number, tau: number, k: number, meth = 'euler', total = 0.6, dt = 0.02) => `
table w % ${2 * r + 1} -${r} ${r} exp(-abs(t)/3)
par tau=${tau}, k=${k}
x[0..${n - 1}]'=1 + k*sum(-${r},${r})of(w(i')*sin(del_shft(x0,mod(i'+[j],${n}),tau*abs(i'))-x[j]))
x[0..${n - 1}](0)=0.05*[j]*(1+sin([j]))
loss = x0(T)^2 + x${n - 1}(T)^2 + 0.5*x${n >> 1}(T)
@ delay=${2 * r * tau + 1}, meth=${meth}, total=${total}, dt=${dt}
`;

test('a ring of 120 delayed oscillators: one delay instruction per state and lag, tau·|i| computed once per lag', () => {
  const prog = compileScalarProgram(model(RING(120, 4, 0.037, 0.4)));
  assert.ok(prog?.delays);
  const count = (op: string) => prog.code.filter((c) => c.op === op).length;
  // x_m at tau·|i| is read by the equations m − i and m + i: 5 lags, not 9 terms, per state.
  assert.equal(count('delay'), 120 * 5);
  const taus = new Set(prog.code.flatMap((c) => (c.op === 'delay' ? [c.tau] : [])));
  assert.equal(taus.size, 5, 'one tau per lag');
  // Nothing is computed from numbers alone (abs(i'), w(i') are numbers).
  const constant = new Set(prog.code.flatMap((c, k) => (c.op === 'const' ? [k] : [])));
  for (const c of prog.code)
    if (c.op === 'unary') assert.ok(!constant.has(c.a), `${c.fn} of a number`);
    else if (c.op === 'binary') assert.ok(!(constant.has(c.a) && constant.has(c.b)), 'a binary of numbers');
});

/** The ring in float64: Euler steps whose delayed reads interpolate the grid linearly (x(t0) before t0). */
function ring64(n: number, r: number, [tau, k]: number[], steps: number, h: number): number[][] {
  const grid = [Array.from({ length: n }, (_x, j) => 0.05 * j * (1 + Math.sin(j)))];
  const past = (c: number, s: number) => {
    const u = s / h;
    if (u <= 0) return grid[0][c];
    const m = Math.floor(u);
    if (m >= grid.length - 1) return grid[grid.length - 1][c];
    return grid[m][c] + (u - m) * (grid[m + 1][c] - grid[m][c]);
  };
  for (let s = 0; s < steps; s++) {
    const t = s * h,
      x = grid[s];
    grid.push(
      x.map((xj, j) => {
        let sum = 0;
        for (let i = -r; i <= r; i++)
          sum += Math.exp(-Math.abs(i) / 3) * Math.sin(past((((i + j) % n) + n) % n, t - tau * Math.abs(i)) - xj);
        return xj + h * (1 + k * sum);
      }),
    );
  }
  return grid;
}

test('the ring of 120 on the kernel: trajectory and AD equal a float64 re-implementation and its finite differences', async () => {
  const [n, r, p] = [120, 4, [0.037, 0.4]];
  const m = modelOf(RING(n, r, p[0], p[1]));
  const want = ring64(n, r, p, 30, 0.02);
  const got = await engineTrajectory(m);
  assert.equal(got.length, want.length);
  got.forEach((row, s) =>
    row.forEach((x, c) => assert.ok(Math.abs(x - want[s][c]) < 2e-5 * (1 + Math.abs(want[s][c])), `${s}/${c}: ${x}`)),
  );
  const L = (q: number[]) => {
    const x = ring64(n, r, q, 30, 0.02).at(-1)!;
    return x[0] ** 2 + x[n - 1] ** 2 + 0.5 * x[n >> 1];
  };
  const { loss, grad } = await engineGradient(m);
  assert.ok(Math.abs(loss - L(p)) < 1e-4 * Math.abs(L(p)), `${loss} vs ${L(p)}`);
  const fd = centralDifferences(L, p, 1e-6);
  grad.forEach((g, i) =>
    assert.ok(Math.abs(g - fd[i]) < 2e-3 * Math.max(1, Math.abs(fd[i])), `${i}: ${g} vs ${fd[i]}`),
  );
  assert.ok(
    fd.every((d) => Math.abs(d) > 1e-3),
    'tau and k matter to the loss',
  );
});

/** The history without runs of reads or locations kept per tau's slot (what the fast path replaces). */
function plainReads(h: KernelHistory): void {
  const read = h.read.bind(h),
    readBack = h.readBack.bind(h);
  Object.assign(h, {
    readRun: undefined,
    read: (index: number, now: number, tau: number, constant: boolean) => read(index, now, tau, constant, -1),
    readBack: (index: number, now: number, tau: number, constant: boolean, g: number) =>
      readBack(index, now, tau, constant, g, -1),
  });
}

test('whole solves of rings with runs of reads and located taus equal the per-read history: trajectories and adjoints bit for bit', () => {
  for (const [meth, total] of [
    ['euler', 1.2],
    ['rk4', 0.6],
    ['heun', 0.8],
  ] as const) {
    const m = model(RING(104, 5, 0.023, 0.3, meth, total, 0.02));
    const prog = compileScalarProgram(m);
    assert.ok(prog);
    const scheme = schemeOf(m);
    assert.equal(scheme.kind, 'rk');
    if (scheme.kind !== 'rk') return;
    const { steps, dt, t0 } = m.options;
    const plan = rungeKuttaPlan(scheme.tableau, dt, t0, false);
    const params = Float32Array.of(0.023, 0.3);
    const x0 = Float32Array.from({ length: prog.states }, (_x, j) => f32(0.05 * j * (1 + Math.sin(j))));
    const solve = (plain: boolean) => {
      const ws = new StepWorkspace(prog, plan, undefined, pastProgram(m)?.past);
      assert.ok(ws.history);
      if (plain) plainReads(ws.history);
      const traj = forwardSolve(ws, steps, x0, () => params);
      const dTraj = new Float64Array(traj.length);
      for (let e = 0; e < prog.states; e++)
        dTraj[steps * prog.states + e] = traj[steps * prog.states + e] * (1 + (e % 3));
      const g = new Float64Array(2);
      const lam = adjointSolve(
        ws,
        steps,
        traj,
        dTraj,
        () => params,
        () => g,
      );
      return { traj, g, lam };
    };
    const fast = solve(false),
      plain = solve(true);
    assert.ok(
      fast.traj.every((x, i) => Object.is(x, plain.traj[i])),
      `${meth}: trajectories`,
    );
    assert.ok(
      fast.lam.every((x, i) => Object.is(x, plain.lam[i])),
      `${meth}: x0's cotangent`,
    );
    assert.ok(
      fast.g.every((x, i) => Object.is(x, plain.g[i])),
      `${meth}: ${fast.g} vs ${plain.g}`,
    );
    assert.ok(fast.g.every((x) => x !== 0 && Number.isFinite(x)));
  }
});

// Reads through the kept locations, and runs of them, must be the per-read ones whatever the calls before them: a slot
// read at other times and taus, before t0 (the history formula or the initial value), inside the step in progress, at a
// grid point, with a constant or a differentiated tau.
const call = fc.record({
  index: fc.integer({ min: 0, max: 2 }),
  now: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constantFrom(0.4, 1, 1.3)),
  tau: fc.oneof(fc.double({ min: 0, max: 2.5, noNaN: true }), fc.constantFrom(0, 0.3, 0.1, 1.3)),
  constant: fc.boolean(),
  key: fc.integer({ min: -1, max: 3 }),
  last: fc.integer({ min: 0, max: 20 }),
  g: fc.double({ min: -2, max: 2, noNaN: true }),
});

test('the history’s kept locations and runs of reads equal its per-read location, values and adjoints bit for bit', () => {
  const m = model(`u' = -delay(u, 0.3) + w
v' = -v*delay(w, 0.1)
w' = -w
u(0)=1-0.5*t
init v=0.2, w=0.4
@ delay=3, dt=0.1, total=2`);
  const past = pastProgram(m)?.past;
  assert.ok(past);
  const S = 3,
    rows = 21;
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: S * rows, maxLength: S * rows }),
      fc.array(call, { minLength: 1, maxLength: 30 }),
      (values, calls) => {
        const traj = Float32Array.from(values);
        const kept = new KernelHistory(S, 0, 0.1, past);
        const cotKept = new Float64Array(S * rows),
          cotPlain = new Float64Array(S * rows);
        kept.attach(traj, cotKept);
        for (const c of calls) {
          // A history of its own per call: nothing located before.
          const plain = new KernelHistory(S, 0, 0.1, past);
          plain.attach(traj, cotPlain);
          kept.last = plain.last = c.last;
          const want = plain.read(c.index, c.now, c.tau, c.constant);
          const got = kept.read(c.index, c.now, c.tau, c.constant, c.key);
          assert.ok(Object.is(got, want), `read ${JSON.stringify(c)}: ${got} vs ${want}`);
          const v = new Float64Array(6);
          kept.readRun(Int32Array.of(2, 0, 1, 0), Int32Array.of(5, 1, 2, 3), 0, 4, v, c.now, c.tau, c.constant, c.key);
          [2, 0, 1, 0].forEach((index, r) => {
            const one = plain.read(index, c.now, c.tau, c.constant);
            assert.ok(Object.is(v[[5, 1, 2, 3][r]], one), `run ${JSON.stringify(c)} element ${r}`);
          });
          const tauKept = kept.readBack(c.index, c.now, c.tau, c.constant, c.g, c.key),
            tauPlain = plain.readBack(c.index, c.now, c.tau, c.constant, c.g);
          assert.ok(Object.is(tauKept, tauPlain), `tau's adjoint ${JSON.stringify(c)}: ${tauKept} vs ${tauPlain}`);
        }
        assert.ok(
          cotKept.every((x, i) => Object.is(x, cotPlain[i])),
          'the grid states’ cotangents',
        );
      },
    ),
    { numRuns: 200, seed: 23 },
  );
});
