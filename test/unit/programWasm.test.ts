// A long program's forward pass (engine/programWasm.ts) and reverse pass (engine/reverseWasm.ts) run as WebAssembly
// with the dispatching interpreter's numbers bit for bit: every value, f alone, and every reverse pass (states,
// parameters, both, with time), on programs that use each table function the modules write as WebAssembly themselves
// (x², |x|, √x, ÷, min, max, the comparisons, heav; the derivatives of x², exp, tanh, ÷, |x|, sin, cos, min and max;
// comparisons and piecewise constant functions, whose adjoints reach nothing, skipped) and some they call (pow's
// derivatives, …), selects, dot products and sums, at random states, parameters and cotangents including zeros of
// both signs, the infinities, NaN and a subnormal; a whole check's report is the same as without WebAssembly (node
// --jitless has none). Delayed reads run in WebAssembly too, on the solve's history (each tau located once an
// evaluation, the rows its reads mix copied in), and so do their adjoints (the rows' cotangents in a window, tau's
// through the weight); programs with loop instructions keep the interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/repo';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { programValue, sameBits, sameReverse } from '../support/programInputs';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import {
  dispatchingInterpreter,
  interpreterOf,
  WANT_ALL,
  WANT_BOTH,
  WANT_PARAMS,
  WANT_STATES,
  type Wanted,
} from '../../solver/engine/programInterpreter';
import { nativeInWasm } from '../../solver/engine/programWasm';
import { FUNCTIONS, OPERATORS, POWER_FORMS } from '../../solver/ops/table';
import { KernelHistory, pastProgram } from '../../solver/engine/scalarKernel/delays';
import { Rng } from '../../solver/engine/random';
import type { ScalarProgram } from '../../solver/engine/scalarProgram';

/** 1,200 instructions or more, so that the program is too long to be written out as JavaScript. */
const COMPILED: Record<string, string> = {
  'the functions written as WebAssembly': `par a=0.3, b=-0.2
u[0..149]' = min(u[j], a) + max(b, u[j]) * u[j]^2 + 1/(u[j] - a) + sqrt(abs(u[j])) + u[j]^-1.5 + heav(u[j] - b) + (u[j] < a) - (u[j] >= b) + (u[j] == a) + (u[j] != b) + (u[j] > 0) * (u[j] <= 1)
init u[0..149]=0.2
@ total=1, dt=0.1`,
  'called table functions, selects and long sums': `par k=0.4, w=0.2
u0' = -u0 + w*u1
u[1..198]' = -k*u[j] + w*(u[j+1] - 2*u[j] + u[j-1]) + tanh(u[j])*exp(-u[j]) + if(u[j] > 0.1) then(sin(u[j])) else(abs(u[j])^1.5) + cos(u[j])*flr(2*u[j]) + sum(0,39)of(shift(u0,i'))/40 + sum(0,3)of(shift(u0,i')*w^i')
u199' = -u199 + w*u198
init u[0..199]=0.1
@ total=1, dt=0.1`,
  // Loop instructions (sums of 16 terms or more): convolutions with weight tables (numbers times states) and products
  // of two states and of a state and a parameter, both passes in WebAssembly.
  'loops of products: convolutions and products of slots': `table we % 31 -15 15 exp(-abs(t)/se)/se
table wi % 21 -10 10 .5*exp(-t*t/16)
special ke=conv(even,200,15,we,u0)
special ki=conv(periodic,200,10,wi,v0)
par se=4, k=0.3
par c[0..199]=0.01
u[0..199]' = -u[j] + tanh(ke([j]) - ki([j])) + k*sum(0,19)of(shift(u0,i')*shift(v0,i'))
v[0..199]' = (-v[j] + ke([j]))/2 + sum(0,17)of(shift(c0,i')*shift(v0,i')) + sum(0,16)of(shift(u0,i')*shift(v0,i'+2)) + sum(0,16)of(shift(u0,i')*shift(u0,2*i'))
init u[0..199]=0.1
init v[0..199]=-0.2
@ total=1, dt=0.1`,
  // A loop whose term is no product: the interpreter's, called from the forward pass; the reverse is the sweep.
  'a loop of other terms beside products': `table we % 31 -15 15 exp(-abs(t)/se)/se
special ke=conv(even,200,15,we,u0)
par se=4, k=0.3
u[0..199]' = -u[j] + tanh(ke([j])) + k*sum(0,16)of(tanh(shift(u0,i') - u[j]))/17
init u[0..199]=0.1
@ total=1, dt=0.1`,
  // A convolution of heav(u), whose derivative is 0: a pass for the states' adjoint reads none of the loops, so
  // forwardFor computes what it reads in the interpreter rather than the whole program in WebAssembly.
  'a convolution no adjoint reads': `table w % 101 -50 50 (exp(-abs(t)/10) - 0.5*exp(-abs(t)/20))*0.1
par h=.15
fu[0..199]=heav(u[j])
special z=conv(even,200,50,w,fu0)
u[0..199]'=-u[j]-h+z([j])
init u[0..199]=0.1
@ total=1, dt=0.1`,
  // Sines at depths 1 to 3, evaluated a depth at a time in batches of an even and an odd number (sineBatches.ts),
  // arguments beyond the table's range among them (b·u), beside a model table's lookups, whose order is kept.
  'sines at several depths, in batches': `table tw % 11 -5 5 t*t - t
par a=0.7, b=3000
u[0..148]' = sin(u[j]) + sin(a*u[j] + sin(b*u[j])) - sin(sin(sin(u[j] + a))) + if(u[j] > 0) then(sin(u[j]*b)) else(tw(sin(u[j])*4)) + tw(u[j])
v' = sin(v) + tw(sin(sin(v)))
init u[0..148]=0.2
@ total=1, dt=0.1`,
  // Products of a weight matrix and the state: dot products whose sides reach parameters and states apart.
  'an MLP field of dot products': `state x[30]
init x = 0.1
param W1[30,30] ~ normal(0, 0.3)
param b1[30] = 0
param W2[30,30] ~ normal(0, 0.3)
x' = W2 @ tanh(W1 @ x + b1) - 0.1*x + sum(x)/30
@ total=1, steps=10, meth=rk4, seed=3
done`,
};

const value = programValue(10);

function programOf(text: string): ScalarProgram {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  // A matrix model is fused whatever its size (the engine keeps larger ones on TF.js's kernels).
  const prog = compileScalarProgram(a.model, true);
  assert.ok(prog, 'the model compiles to a fused program');
  return prog;
}

for (const [name, text] of Object.entries(COMPILED)) {
  test(`a long program's WebAssembly passes give the interpreter's numbers: ${name}`, () => {
    const prog = programOf(text);
    const compiled = interpreterOf(prog),
      dispatching = dispatchingInterpreter(prog);
    assert.equal(compiled.compiled, true, `${prog.code.length} instructions: compiled`);
    assert.equal(compiled.reverseCompiled, !name.includes('other terms'), 'the reverse pass is WebAssembly');
    assert.equal(dispatching.compiled, false);
    const S = prog.states,
      P = prog.params,
      L = prog.code.length;
    fc.assert(
      fc.property(
        fc.array(value, { minLength: S, maxLength: S }),
        fc.array(value, { minLength: P, maxLength: P }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(3),
        fc.array(value, { minLength: S, maxLength: S }),
        (s, p, t, offset, cot) => {
          // States read at an offset in a longer float32 row, as a solve's trajectory gives them.
          const sf = new Float32Array(S + offset);
          sf.set(s, offset);
          const pf = Float32Array.from(p);
          const v1 = new Float64Array(L).fill(7),
            v2 = new Float64Array(L).fill(-7);
          compiled.forward(sf, offset, pf, t, v1);
          dispatching.forward(sf, offset, pf, t, v2);
          sameBits(v1, v2, 'value');
          const o1 = new Float64Array(S),
            o2 = new Float64Array(S);
          // f from float64 states too (a stage's combination).
          const s64 = Float64Array.from(sf);
          compiled.outputs(s64, offset, pf, t, o1);
          dispatching.outputs(s64, offset, pf, t, o2);
          sameBits(o1, o2, 'f');
          // Every reverse pass, added into adjoints that start from values of their own (they accumulate).
          const start = {
            vs: Float64Array.from(sf.subarray(offset), (x) => x / 3),
            vp: Float64Array.from(pf, (x) => -x),
            vt: 0.25,
          };
          for (const want of [WANT_STATES, WANT_PARAMS, WANT_BOTH, WANT_ALL] as Wanted[])
            sameReverse(
              [compiled, dispatching],
              [v1, v2],
              want,
              { s: sf, sAt: offset, p: pf, t, cot, delays: false },
              start,
            );
        },
      ),
      { numRuns: 40, seed: 11 },
    );
  });
}

test("a long program's calls of pure functions through their memos give the interpreter's numbers", () => {
  // Arguments that repeat within an evaluation and across evaluations (states from a pool of 48 numbers, ±0, ±∞, NaN
  // and a subnormal among them): calls hit their slots, and the 200 states' arguments of each function, thousands over
  // the runs, also land on slots another argument filled.
  const prog = programOf(`par a=0.3
u[0..199]' = sin(u[j]) + exp(-u[j])*tanh(u[j] + a) + cos(2*u[j]) + ln(abs(u[j]) + 1) + atan(u[j] + 2)^-1 + sin(u[j]*a)
init u[0..199]=0.1
@ total=1, dt=0.1`);
  const compiled = interpreterOf(prog),
    dispatching = dispatchingInterpreter(prog);
  assert.equal(compiled.compiled, true);
  const pool = fc.sample(value, { numRuns: 42, seed: 5 }).concat([0, -0, Infinity, -Infinity, Number.NaN, 5e-324]);
  const S = prog.states,
    L = prog.code.length;
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...pool), { minLength: S, maxLength: S }), (s) => {
      const sf = Float32Array.from(s),
        pf = Float32Array.of(0.3);
      const v1 = new Float64Array(L),
        v2 = new Float64Array(L);
      // Twice: the second evaluation finds every argument in its slot unless another took it since; so do the
      // reverse passes' derivatives of sin and cos (their own memos of Math.cos and Math.sin).
      for (let k = 0; k < 2; k++) {
        compiled.forward(sf, 0, pf, 0, v1);
        dispatching.forward(sf, 0, pf, 0, v2);
        sameBits(v1, v2, `value (evaluation ${k + 1})`);
        const start = { vs: new Float64Array(S), vp: new Float64Array(1), vt: 0 };
        const at = { s: sf, sAt: 0, p: pf, t: 0, cot: new Float64Array(S).fill(1), delays: false };
        sameReverse([compiled, dispatching], [v1, v2], WANT_BOTH, at, start);
      }
    }),
    { numRuns: 60, seed: 12 },
  );
});

test('the functions the module writes itself are the ones the first program uses', () => {
  const written = [
    POWER_FORMS.get(2),
    FUNCTIONS.get('abs'),
    FUNCTIONS.get('sqrt'),
    FUNCTIONS.get('min'),
    FUNCTIONS.get('max'),
    FUNCTIONS.get('heav'),
    ...(['/', '<', '>', '<=', '>=', '==', '!='] as const).map((o) => OPERATORS[o]),
  ];
  for (const fn of written) assert.ok(nativeInWasm(fn));
  const used = new Set(programOf(COMPILED['the functions written as WebAssembly']).code.map((c) => 'fn' in c && c.fn));
  for (const fn of written) assert.ok(used.has(fn as never), `${(fn as { doc?: string }).doc} is exercised`);
  assert.equal(nativeInWasm(FUNCTIONS.get('tanh')), false);
});

// A delayed lattice: taus that are parameters, numbers, 0, and a history formula before t0; 0.15 reads a grid row
// that tau = 0.13 interpolates (their adjoints meet on it); 50 taus read by 4 elements each (the pass copies just those).
const DELAYED = `par k=0.2, tau=0.13
x[0..199]' = 1 + k*sin(delay(x[j], tau*(1 + mod([j], 3))) - x[j]) + 0.1*delay(x[j], 0.2) + 0.01*delay(x[j], 0) + 0.05*delay(x[j], 0.15) + 0.02*delay(x[j], 0.3 + 0.013*mod([j], 50))
init x[0..199]=0.5
x0(0)=cos(t)
@ total=2, dt=0.05, delay=1`;

test("a long program's delayed reads in WebAssembly give the interpreter's numbers, on a solve's history", () => {
  // Taus that are parameters (located per evaluation, interpolated between grid rows), a number (a grid point read
  // as it is), 0 (the newest row) and times before t0 (the initial value, or the history formula of t).
  const prog = programOf(DELAYED);
  const compiled = interpreterOf(prog),
    dispatching = dispatchingInterpreter(prog);
  assert.equal(compiled.compiled, true, `${prog.code.length} instructions with delays: compiled`);
  const model = analyse(DELAYED).model!;
  const past = pastProgram(model)?.past;
  assert.ok(past, 'x0 has a history formula');
  const S = prog.states,
    L = prog.code.length,
    h = 0.05,
    N = 40;
  const rng = new Rng(23);
  const traj = Float32Array.from({ length: (N + 1) * S }, () => 4 * rng.uniform() - 2);
  // The history's cotangents as a sweep finds them (earlier passes' additions), some exactly 0 of either sign.
  const gathered = Float64Array.from({ length: (N + 1) * S }, (_x, i) =>
    i % 7 === 0 ? (i % 2 ? -0 : 0) : rng.uniform() - 0.5,
  );
  let inWasm = 0,
    fewElements = 0;
  for (const p of [Float32Array.of(0.2, 0.13), Float32Array.of(-0.3, 0.05), Float32Array.of(0.2, 0)])
    for (const n of [0, 1, 2, 5, 17, 39])
      for (const frac of [0, 0.25, 0.5, 1]) {
        const t = (n + frac) * h;
        const what = `step ${n} + ${frac}, k and tau ${p.join(', ')}`;
        const v = [new Float64Array(L), new Float64Array(L)];
        const histories = [compiled, dispatching].map((it, i) => {
          const history = new KernelHistory(S, 0, h, past);
          history.attach(traj, Float64Array.from(gathered));
          history.last = n;
          const rows = history.rows.bind(history);
          history.rows = (...args: Parameters<KernelHistory['rows']>) => {
            if (args[6]) fewElements++;
            return rows(...args);
          };
          it.forward(traj, n * S, p, t, v[i], history);
          return history;
        });
        sameBits(v[0], v[1], `values at ${what}`);
        // The reverse pass: the rows' cotangents (reads of several taus meet on a row) and tau's adjoint.
        const { grid } = histories[0];
        Object.defineProperty(histories[0], 'grid', {
          get: () => {
            inWasm++;
            return grid;
          },
        });
        const cot = Float64Array.from({ length: prog.outputs.length }, (_x, e) =>
          e % 5 === 0 ? 0 : rng.uniform() - 0.5,
        );
        const adjoints = [compiled, dispatching].map((it, i) => {
          const vs = new Float64Array(S),
            vp = new Float64Array(prog.params);
          it.reverse(v[i], cot, vs, vp, new Float64Array(L), WANT_BOTH, histories[i], t);
          return { vs, vp, gathered: histories[i].grid.cotangents };
        });
        sameBits(adjoints[0].vs, adjoints[1].vs, `states' adjoints at ${what}`);
        sameBits(adjoints[0].vp, adjoints[1].vp, `parameters' adjoints at ${what}`);
        sameBits(adjoints[0].gathered, adjoints[1].gathered, `the history's cotangents at ${what}`);
      }
  // Passes at or before t0 read x0's history formula: those run the interpreter's sweep; every later one runs here.
  assert.ok(inWasm >= 3 * 5 * 4, `${inWasm} reverse passes in WebAssembly`);
  assert.ok(fewElements > 0, 'taus read by a few elements had only those copied');
});

const cli = join(repoRoot(), 'dist/cli.js');

test('a whole check reports the same numbers with WebAssembly as with the interpreter (node --jitless has none)', {
  skip: !existsSync(cli) && 'dist/cli.js not built (node scripts/build.mjs)',
}, () => {
  for (const text of [COMPILED['called table functions, selects and long sums'], DELAYED]) {
    assert.equal(interpreterOf(programOf(text)).compiled, true, 'the model runs as WebAssembly where it can');
    const dir = mkdtempSync(join(tmpdir(), 'odelens-wasm-'));
    const model = join(dir, 'lattice.ode');
    writeFileSync(model, text);
    const report = (flags: string[]) => {
      const r = spawnSync(process.execPath, [...flags, cli, 'check', model, '--backend', 'cpu', '--json'], {
        encoding: 'utf8',
        env: { ...process.env, ODELENS_CACHE_DIR: dir },
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { timings?: unknown; parameters: { metrics: Record<string, number> }[] };
      delete out.timings;
      return out;
    };
    const compiled = report([]);
    const interpreted = report(['--jitless']);
    // Every figure of the report: losses, the AD gradients' errors against the reference and finite differences.
    assert.ok(
      compiled.parameters.length > 0 && compiled.parameters.every((p) => Number.isFinite(p.metrics.gradcheckRelError)),
    );
    assert.deepEqual(interpreted, compiled);
  }
});
