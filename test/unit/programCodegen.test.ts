// The fused program's forward pass written out as JS (engine/programCodegen.ts) gives the interpreter's values bit
// for bit, on programs with every kind of instruction (table functions, comparisons and selects, short and long sums,
// loop instructions, delays), at random states and parameters including zeros of both signs, infinities and NaN; a
// long program keeps the interpreter. The reverse pass written out (generatedReverse) gives the sweep's cotangents
// bit for bit for every `want`, on the programs without delays or loops (adjoints in locals, and in memory where a
// sum is too long to write out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { madeUpHistory, programValue } from '../support/programInputs';
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

const MODELS: Record<string, string> = {
  'comparisons, logic, piecewise functions and table functions': `par a=0.7, b=-0.4, c=1.3
init x=0.3, y=-0.2, z=0.8
x' = a*(x > y) + sign(z)*b + tanh(x)*c - abs(y)^1.5 + max(x, z)/(1 + y*y)
y' = floor(3*z)*a + (x > 0.1 & y < 0)*c + sin(y)*b + exp(-x*x) + atan2(y, z) - mod(x, 0.3)
z' = if(x > y) then(a*x) else(b*z) + heav(c - z)*x*y + sqrt(abs(z)) + ln(1 + x*x) - (-0)*y
@ total=1, dt=0.1`,
  // tanh of the difference: a sine's sum would be separated into sums without a loop (language/separableSums.ts)
  'sums of few and of many terms, and loop instructions': `par k=0.4, w=0.2
u[0..39]' = -u[j] + k*sum(0,39)of(tanh(shift(u0,i') - u[j]))/40 + w*sum(0,3)of(shift(u0,i'))
init u[0..39]=0.1
@ total=1, dt=0.1`,
  'a sum of many terms': `state x[40]
param b[40] ~ normal(0, 0.1)
init x = 0.1
x' = -b*x - 0.01*sum(x*x) + sum(tanh(x))
loss = 0.5*sum(x(T)^2)
@ total=1, steps=10, meth=rk4`,
  'a matrix product': `state y[3]
param V[3,3] ~ normal(0, 0.5)
init y = 0.2
y' = V @ tanh(y) - y*y + sin(y) + 0.1*sum(y) - exp(-y)*V @ y
loss = sum(y(T)^2)
@ total=1, steps=10, meth=rk4`,
  delays: `par tau=0.3, b=0.2
x' = -x + b*delay(x, tau) + delay(y, 0.1)
y' = x - y*delay(x, 0.2)
init x=0.5, y=0.1
@ total=1, dt=0.05, delay=1`,
  'a long program, which keeps the interpreter': `par a=0.3, d=0.05
u0' = -a*u0 + d*(u1 - u0)
u[1..298]' = -a*u[j] + d*(u[j+1] - 2*u[j] + u[j-1]) + 0.01*tanh(u[j])*u[j-1]
u299' = -a*u299 + d*(u298 - u299)
init u[0..299]=0.2
@ total=1, dt=0.1`,
};

const value = programValue(8);

for (const [name, text] of Object.entries(MODELS)) {
  test(`the written-out forward pass equals the interpreter's, bit for bit: ${name}`, () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
    const prog = compileScalarProgram(a.model);
    assert.ok(prog, 'the model compiles to a fused program');
    const written = interpreterOf(prog),
      dispatching = dispatchingInterpreter(prog);
    const L = prog.code.length;
    assert.equal(written.writtenOut, L < 1000, `${L} instructions: written out only when short`);
    assert.equal(dispatching.writtenOut, false);
    fc.assert(
      fc.property(
        fc.array(value, { minLength: prog.states, maxLength: prog.states }),
        fc.array(value, { minLength: prog.params, maxLength: prog.params }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (s, p, t) => {
          const v1 = new Float64Array(L).fill(99),
            v2 = new Float64Array(L).fill(-99);
          const sf = Float32Array.from(s),
            pf = Float32Array.from(p);
          written.forward(sf, 0, pf, t, v1, madeUpHistory);
          dispatching.forward(sf, 0, pf, t, v2, madeUpHistory);
          for (let k = 0; k < L; k++)
            if (!Object.is(v1[k], v2[k])) assert.fail(`instruction ${k} (${prog.code[k].op}): ${v1[k]} ≠ ${v2[k]}`);
        },
      ),
      { numRuns: 60, seed: 11 },
    );
  });
}

/** Short programs without loop instructions or long sums: f alone is written out with locals. */
const OUTPUTS_WITH_LOCALS = new Set([
  'comparisons, logic, piecewise functions and table functions',
  'a matrix product',
  'delays',
]);

for (const [name, text] of Object.entries(MODELS)) {
  test(`f alone (outputs, values in locals where written out) equals the interpreter's f, bit for bit: ${name}`, () => {
    const a = analyse(text);
    assert.ok(a.model);
    const prog = compileScalarProgram(a.model);
    assert.ok(prog, 'the model compiles to a fused program');
    const written = interpreterOf(prog),
      dispatching = dispatchingInterpreter(prog);
    assert.equal(written.outputsWrittenOut, OUTPUTS_WITH_LOCALS.has(name));
    assert.equal(dispatching.outputsWrittenOut, false);
    const S = prog.states,
      L = prog.code.length;
    fc.assert(
      fc.property(
        fc.array(value, { minLength: S, maxLength: S }),
        fc.array(value, { minLength: prog.params, maxLength: prog.params }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        (s, p, t) => {
          const sf = Float32Array.from(s),
            pf = Float32Array.from(p);
          // States at an offset, as a solve reads its row of the trajectory.
          const row = new Float32Array(2 * S);
          row.set(sf, S);
          const out = new Float64Array(S).fill(99),
            v = new Float64Array(L);
          written.outputs(row, S, pf, t, out, madeUpHistory);
          dispatching.forward(sf, 0, pf, t, v, madeUpHistory);
          for (let e = 0; e < S; e++) {
            const expected: number = prog.outputs[e] >= 0 ? v[prog.outputs[e]] : 0;
            if (!Object.is(out[e], expected)) assert.fail(`output ${e}: ${out[e]} ≠ ${expected}`);
          }
        },
      ),
      { numRuns: 60, seed: 12 },
    );
  });
}

const WRITTEN_REVERSE = [
  'comparisons, logic, piecewise functions and table functions',
  'a matrix product',
  'time and a table function of it',
  'sums and a dot product of many terms',
];
MODELS['time and a table function of it'] = `par a=0.7, w=2
x' = -a*x + sin(w*t)*y + heav(t - 0.5)*x*x
y' = x*exp(-t) - y/(1 + t*t) + max(x, y)
init x=0.3, y=-0.2
@ total=1, dt=0.1`;
MODELS['sums and a dot product of many terms'] = `state x[36]
param b ~ normal(0, 0.1)
init x = 0.1
x' = -b*x + 0.01*sum(x) - 0.02*sum(x*x)
loss = 0.5*sum(x(T)^2)
@ total=1, steps=10, meth=rk4`;

for (const name of WRITTEN_REVERSE) {
  test(`the written-out reverse pass equals the interpreter's sweep, bit for bit: ${name}`, () => {
    const prog = compileScalarProgram(analyse(MODELS[name]).model!);
    assert.ok(prog, 'the model compiles to a fused program');
    const written = interpreterOf(prog),
      dispatching = dispatchingInterpreter(prog);
    const L = prog.code.length,
      S = prog.states,
      Q = prog.params;
    const wants: Wanted[] = [WANT_STATES, WANT_PARAMS, WANT_BOTH, WANT_ALL];
    for (const want of wants) {
      assert.ok(written.reverseWrittenOut(want), `want ${want}: the reverse pass is written out`);
      assert.ok(!dispatching.reverseWrittenOut(want));
    }
    fc.assert(
      fc.property(
        fc.array(value, { minLength: S, maxLength: S }),
        fc.array(value, { minLength: Q, maxLength: Q }),
        fc.array(value, { minLength: S, maxLength: S }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.constantFrom(...wants),
        (s, p, cot, t, want) => {
          const v = new Float64Array(L);
          dispatching.forward(Float32Array.from(s), 0, Float32Array.from(p), t, v);
          const out = [written, dispatching].map((run) => {
            // Nonzero starts: the passes add into vs, vp and vt.
            const vs = new Float64Array(S).fill(0.25),
              vp = new Float64Array(Q).fill(-0.5),
              vt = new Float64Array(1).fill(1),
              adj = new Float64Array(L).fill(7);
            run.reverse(v, cot, vs, vp, adj, want, undefined, t, vt);
            return [...vs, ...vp, ...vt]; // adj is scratch: the written-out pass keeps the adjoints in locals
          });
          for (let i = 0; i < out[0].length; i++)
            if (!Object.is(out[0][i], out[1][i])) assert.fail(`want ${want}, value ${i}: ${out[0][i]} ≠ ${out[1][i]}`);
        },
      ),
      { numRuns: 80, seed: 5 },
    );
  });
}

test('the programs above hold every kind of instruction, long sums and a program too long to write out', () => {
  const kinds = new Set<string>();
  let longest = 0;
  for (const text of Object.values(MODELS)) {
    const prog = compileScalarProgram(analyse(text).model!);
    assert.ok(prog);
    longest = Math.max(longest, prog.code.length);
    for (const c of prog.code)
      kinds.add(c.op === 'dot' ? `${c.b ? 'dot' : 'sum'}${c.a.length > 32 ? ' (long)' : ''}` : c.op);
  }
  for (const k of ['const', 'state', 'param', 'unary', 'binary', 'select', 'dot', 'sum', 'sum (long)', 'delay', 'loop'])
    assert.ok(kinds.has(k), `no ${k} instruction among the models (${[...kinds].join(', ')})`);
  assert.ok(longest > 2000, `the longest program has ${longest} instructions, too few to keep the interpreter`);
});
