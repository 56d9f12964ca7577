// The fused program's loop instruction (engine/scalarProgram.ts): a sum that the language expands from an
// indexed sum `sum(i1, i2)of(…)` or a network function (mmult, fmmult, conv, …) runs as one instruction
// executed once per term, and gives the numbers of the same sum written out term by term: random sums'
// trajectories and losses bit for bit, AD gradients to double accumulation order, and the program's size
// linear in the states where the written-out sums grow with states × terms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { compileScalarProgram, LOOP_FROM_TERMS } from '../../solver/engine/scalarRhs';
import { interpreterOf, WANT_BOTH, WANT_PARAMS, WANT_STATES } from '../../solver/engine/programInterpreter';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { solvesByKernel } from '../../solver/engine/integrate';
import { initialParameters } from '../../solver/engine/parameters';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';
import { lossAndGradients } from '../support/kernelCompare';
import { writtenOut } from '../support/writtenOut';

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, `${JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error'))}\n${text}`);
  return a.model;
}

const loops = (m: Model) => compileScalarProgram(m)?.code.filter((c) => c.op === 'loop').length ?? 0;

/** A random term of an indexed sum over i' in an array line over j: states, parameters, numbers, i' and a table. */
const leaf = fc.constantFrom("shift(x0,i')", 'x[j]', 'a', 'b', '0.5', "0.1*i'", "w(i')", '2');
const term: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*'), tie('e')).map(([x, o, y]) => `(${x}${o}${y})`),
    fc.tuple(fc.constantFrom('sin', 'tanh', 'heav', 'abs', 'cos'), tie('e')).map(([f, x]) => `${f}(${x})`),
    tie('e').map((x) => `(${x})^2`),
    tie('e').map((x) => `-(${x})`),
    fc.tuple(tie('e'), tie('e'), tie('e')).map(([c, x, y]) => `if(${c}>0.2)then(${x})else(${y})`),
  ),
})).e;

const sumModel = fc
  .record({
    n: fc.integer({ min: LOOP_FROM_TERMS, max: LOOP_FROM_TERMS + 5 }),
    body: term,
    meth: fc.constantFrom('euler', 'rk4', 'heun'),
  })
  .map(
    ({ n, body, meth }) => `par a=0.7, b=-0.4
table w % ${n} 0 ${n - 1} 0.3*t/${n}-0.1
x[0..${n - 1}]' = -x[j] + a*sum(0, ${n - 1})of(${body})/${n}
init x[0..${n - 1}] = 0.2
@ total=0.2, dt=0.05, meth=${meth}
done`,
  );

/** The same models through the language's network functions: a weight table times the states, or f(x_k, x_i). */
const networkModel = fc
  .record({
    n: fc.integer({ min: LOOP_FROM_TERMS, max: LOOP_FROM_TERMS + 4 }),
    fn: fc.constantFrom('mmult', 'fmmult', 'conv'),
    pair: term.map((t) => t.replaceAll("shift(x0,i')", 'p').replaceAll('x[j]', 'q').replaceAll("i'", '1')),
  })
  .map(({ n, fn, pair }) => {
    const special =
      fn === 'mmult'
        ? `special k=mmult(${n},${n},wm,x0)`
        : fn === 'fmmult'
          ? `special k=fmmult(${n},${n},wm,x0,x0,g)`
          : `special k=conv(periodic,${n},${Math.floor(n / 2)},wc,x0)`;
    return `par a=0.7, b=-0.4
table w % ${n} 0 ${n - 1} 0.3*t/${n}-0.1
table wm % ${n * n} 0 ${n * n - 1} sin(t)/${n}
table wc % ${n + 1} 0 ${n} cos(t)/${n}
g(p,q)=${pair}
${special}
x[0..${n - 1}]' = -x[j] + a*k([j])
init x[0..${n - 1}] = 0.3
@ total=0.2, dt=0.05, meth=rk4
done`;
  });

test('a loop computes the written-out sum: every value bit for bit, the reverse pass to double rounding', () => {
  let compared = 0;
  const agree = (text: string) => {
    const a = analyse(text);
    if (!a.model) return; // a random body the language refuses (none expected, but not this test's subject)
    const m = a.model;
    const looped = compileScalarProgram(m),
      flat = compileScalarProgram(writtenOut(m));
    if (!looped || !flat) return;
    assert.equal(loops(writtenOut(m)), 0);
    if (loops(m) > 0) compared++; // a sum of bare elements is its written-out tree (its partial sums shared)
    const S = looped.states,
      Q = looped.params;
    const L = interpreterOf(looped),
      F = interpreterOf(flat);
    let seed = text.length;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let trial = 0; trial < 5; trial++) {
      const s = Float64Array.from({ length: S }, rand),
        p = Float64Array.from({ length: Q }, rand),
        cot = Float64Array.from({ length: S }, rand);
      const vl = new Float64Array(looped.code.length),
        vf = new Float64Array(flat.code.length);
      L.forward(s, 0, p, 0.1, vl);
      F.forward(s, 0, p, 0.1, vf);
      looped.outputs.forEach((o, i) => {
        const x = o >= 0 ? vl[o] : 0,
          y = flat.outputs[i] >= 0 ? vf[flat.outputs[i]] : 0;
        assert.ok(Object.is(x, y), `f[${i}]: ${x} vs ${y}\n${text}`);
      });
      const back = (it: typeof L, v: Float64Array, n: number) => {
        const vs = new Float64Array(S),
          vp = new Float64Array(Q);
        it.reverse(v, cot, vs, vp, new Float64Array(n), WANT_BOTH);
        return [...vs, ...vp];
      };
      const gl = back(L, vl, looped.code.length),
        gf = back(F, vf, flat.code.length);
      // The pruned passes the reference asks for: the states' or the parameters' part alone, after a forward
      // pass of only the values that pass reads (the others left NaN, so a value it misses shows).
      for (const [want, from, to] of [
        [WANT_STATES, 0, S],
        [WANT_PARAMS, S, S + Q],
      ] as const) {
        const v = new Float64Array(looped.code.length).fill(Number.NaN);
        L.forwardFor(want, s, 0, p, 0.1, v);
        const vs = new Float64Array(S),
          vp = new Float64Array(Q);
        L.reverse(v, cot, vs, vp, new Float64Array(looped.code.length), want);
        const part = [...vs, ...vp].slice(from, to);
        part.forEach((g, i) =>
          assert.ok(
            Object.is(g, gl[from + i]) || Math.abs(g - gl[from + i]) <= 1e-12 * Math.max(1, Math.abs(gl[from + i])),
            `want ${want}, component ${from + i}: ${g} vs ${gl[from + i]}\n${text}`,
          ),
        );
      }
      const scale = Math.max(1, ...gf.map(Math.abs));
      gl.forEach((g, i) => {
        if (Number.isNaN(gf[i])) return assert.ok(Number.isNaN(g), `component ${i}: ${g} vs NaN\n${text}`);
        assert.ok(Math.abs(g - gf[i]) <= 1e-12 * scale, `component ${i}: ${g} vs ${gf[i]}\n${text}`);
      });
    }
  };
  fc.assert(fc.property(sumModel, agree), { seed: 41, numRuns: 150 });
  fc.assert(fc.property(networkModel, agree), { seed: 42, numRuns: 60 });
  assert.ok(compared >= 150, `only ${compared} random models ran a loop`);
});

test('a solve with loops equals the written-out solve: trajectory and loss bit for bit, AD gradients to double rounding', async () => {
  const { tf } = await initBackend('cpu');
  const before = tf.memory().numTensors;
  let compared = 0;
  const agree = (text: string) => {
    const a = analyse(text);
    if (!a.model || loops(a.model) === 0) return;
    const m = a.model;
    const looped = compileModel(tf, m).compiled,
      flat = compileModel(tf, writtenOut(m)).compiled;
    try {
      assert.ok(solvesByKernel(looped, schemeOf(m)) && solvesByKernel(flat, schemeOf(m)));
      compared++;
      const values = initialParameters(tf, m);
      const l = lossAndGradients(tf, looped, m, values),
        f = lossAndGradients(tf, flat, m, values);
      assert.deepEqual(l.trajectory, f.trajectory, text);
      assert.ok(Object.is(l.loss, f.loss), `loss ${l.loss} vs ${f.loss}\n${text}`);
      f.G.forEach((g, i) =>
        g.forEach((x, j) => {
          const y = l.G[i][j];
          if (Number.isFinite(x))
            assert.ok(Math.abs(x - y) <= 1e-5 * Math.max(1, Math.abs(x)), `θ${i}[${j}]: ${y} vs ${x}\n${text}`);
        }),
      );
    } finally {
      looped.dispose();
      flat.dispose();
    }
  };
  fc.assert(fc.property(sumModel, agree), { seed: 43, numRuns: 50 });
  fc.assert(fc.property(networkModel, agree), { seed: 44, numRuns: 20 });
  assert.ok(compared >= 50, `only ${compared} random solves compared`);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});

/**
 * A network of n oscillators: every state reads a sum over all the others, coupled through a function that does
 * not separate (tanh; a Kuramoto sine's sums are the same in every equation: separableSums.test.ts).
 */
const kuramoto = (n: number) => `h(phi)=tanh(phi+a)-tanh(a)+b*sin(2*phi)
par a=.5, b=.2, k=1
x[0..${n - 1}]'=0.01*[j]+k*sum(0,${n - 1})of(h(shift(x0,i')-x[j]))/${n}
@ total=1, dt=0.1
done`;

test("the program's size grows linearly in the states when every state sums over all of them", () => {
  const size = (n: number) => compileScalarProgram(parse(kuramoto(n)))?.code.length ?? Number.NaN;
  const [small, large] = [size(20), size(80)];
  assert.ok(large <= 4.5 * small, `${small} instructions for 20 oscillators, ${large} for 80`);
  const flat = compileScalarProgram(writtenOut(parse(kuramoto(20))))?.code.length ?? 0;
  assert.ok(flat > 10 * small, `written out: ${flat} instructions against ${small}`);
});

test('a network function with more terms than the language writes out is an error that says how many', () => {
  const n = 320;
  const text = `table w % ${n * n} 0 ${n * n - 1} 1/${n}
special k=mmult(${n},${n},w,x0)
x[0..${n - 1}]'=-x[j]+k([j])
done`;
  const errors = analyse(text).diagnostics.filter((d) => d.severity === 'error');
  assert.ok(errors.length > 0);
  assert.match(errors[0].message, /mmult\(…\) has 102,400 terms \(n·m = 320·320\)/);
});
