// The fused program's reverse pass (engine/programInterpreter.ts) skips what reaches the wanted states or
// parameters only through derivatives that are zero everywhere (heav, sign, floor, comparisons, logic): the
// states' part alone, the parameters' part alone and both together equal the full pass bit for bit, on models
// where such functions gate a state, a parameter and whole sums; and a forward pass of only the values such a
// reverse pass reads gives the same parts. An array network's forward pass in runs of one opcode gives the values of
// the pass in program order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import fc from 'fast-check';
import {
  type DelayReader,
  dispatchingInterpreter,
  inOrderInterpreter,
  interpreterOf,
  WANT_BOTH,
  WANT_PARAMS,
  WANT_STATES,
} from '../../solver/engine/programInterpreter';
import type { ScalarProgram } from '../../solver/engine/scalarProgram';

/** Reverse mode over the instruction objects with every derivative applied (no pruning): the test's reference. */
function plainReverse(prog: ScalarProgram, v: Float64Array, cot: Float64Array) {
  const adj = new Float64Array(prog.code.length),
    vs = new Float64Array(prog.states),
    vp = new Float64Array(prog.params);
  prog.outputs.forEach((o, i) => {
    if (o >= 0) adj[o] += cot[i];
  });
  for (let k = prog.code.length - 1; k >= 0; k--) {
    const c = prog.code[k],
      g = adj[k];
    if (c.op === 'state') vs[c.index] += g;
    else if (c.op === 'param') vp[c.index] += g;
    else if (c.op === 'unary') adj[c.a] += g * c.fn.derivative(v[c.a], v[k]);
    else if (c.op === 'binary') {
      adj[c.a] += g * c.fn.derivativeA(v[c.a], v[c.b], v[k]);
      adj[c.b] += g * c.fn.derivativeB(v[c.a], v[c.b], v[k]);
    } else if (c.op === 'select') adj[Math.abs(v[c.c]) > 0 ? c.a : c.b] += g;
    else if (c.op === 'dot')
      c.a.forEach((ai, i) => {
        if (c.b) {
          adj[ai] += g * v[c.b[i]];
          adj[c.b[i]] += g * v[ai];
        } else adj[ai] += g;
      });
  }
  return { vs, vp };
}

const close = (a: Float64Array, b: Float64Array) =>
  a.every((x, i) => Math.abs(x - b[i]) <= 1e-12 * Math.max(1, Math.abs(b[i])));

const MODELS = [
  // A lattice whose coupling is a sum of heav of the states (the states' part of the sum is zero).
  `par a=0.9, h=0.2, w1=0.5, w2=-0.3
u[0..5]' = -a*u[j] - h + w1*heav(u[j]) + w2*(heav(u[j]) + heav(-u[j])) + 0.1*heav(u[j] - h)
init u[0..5]=0.4
@ total=1, dt=0.1`,
  // Comparisons, logic and piecewise-constant functions mixed with smooth terms and the parameters.
  `par a=0.7, b=-0.4, c=1.3
init x=0.3, y=-0.2, z=0.8
x' = a*(x > y) + sign(z)*b + tanh(x)*c
y' = floor(3*z)*a + (x > 0.1 & y < 0)*c + sin(y)*b
z' = if(x > y) then(a*x) else(b*z) + heav(c - z)*x*y
@ total=1, dt=0.1`,
];

for (const [n, text] of MODELS.entries()) {
  test(`model ${n}: the states' and the parameters' parts of the pruned reverse pass equal the full one`, () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
    const prog = compileScalarProgram(a.model);
    assert.ok(prog);
    const run = interpreterOf(prog);
    const S = prog.states,
      Q = prog.params,
      L = prog.code.length;
    let seed = 7 + n;
    const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    for (let trial = 0; trial < 20; trial++) {
      const s = Float64Array.from({ length: S }, rand),
        p = Float64Array.from({ length: Q }, rand),
        cot = Float64Array.from({ length: S }, rand);
      const vals = new Float64Array(L),
        adj = new Float64Array(L);
      run.forward(s, 0, p, 0.3, vals);
      const pass = (want: 1 | 2 | 3) => {
        const vs = new Float64Array(S),
          vp = new Float64Array(Q);
        run.reverse(vals, cot, vs, vp, adj, want);
        return { vs, vp };
      };
      const full = pass(WANT_BOTH),
        states = pass(WANT_STATES),
        params = pass(WANT_PARAMS);
      assert.deepEqual(states.vs, full.vs);
      assert.deepEqual(params.vp, full.vp);
      // A forward pass of only the values such a reverse pass reads (the rest left stale) gives the same parts.
      for (const want of [WANT_STATES, WANT_PARAMS, WANT_BOTH] as const) {
        const stale = Float64Array.from({ length: L }, () => Number.NaN);
        run.forwardFor(want, s, 0, p, 0.3, stale);
        const vs = new Float64Array(S),
          vp = new Float64Array(Q);
        run.reverse(stale, cot, vs, vp, adj, want);
        if (want & WANT_STATES) assert.deepEqual(vs, full.vs, `want ${want}`);
        if (want & WANT_PARAMS) assert.deepEqual(vp, full.vp, `want ${want}`);
      }
      // Every contribution the pruning drops is 0: the full pass is reverse mode with every derivative applied.
      const plain = plainReverse(prog, vals, cot);
      assert.ok(close(full.vs, plain.vs) && close(full.vp, plain.vp), `${full.vs} / ${plain.vs}`);
      assert.ok(full.vs.some((v) => v !== 0) && full.vp.some((v) => v !== 0));
    }
  });
}

// The dispatch loop of an array network runs its instructions in runs of one opcode, ordered by depth
// (groupedForward): every instruction's value must be the one it has in program order, bit for bit, on networks
// with table functions, comparisons and selects, a nearest-element search, noise, sums, a table and delays.
const NETWORKS: Record<string, string> = {
  'a map network with a nearest-element search and noise': `number n=12
par sig=2, eps=0.1
z=2*ran(1)-1
d[0..11]=abs(w[j]-z)
special mx=findext(-1,12,1,d0)
w[0..11]'=w[j]+eps*(z-w[j])*exp(-sig*(1-cos(2*pi*(mx(3)-[j])/n)))
ip'=mx(3)
w[0..11](0)=ran(1)
@ meth=discrete, total=50
done`,
  'a delay network with a table and shifted delays': `table wt % 7 -3 3 exp(-abs(t)/2)
par tau=0.5, k=0.2
x[0..9]'=1 + k*sum(-3,3)of(wt(i')*sin(del_shft(x0,mod(i'+[j],10),tau*abs(i'))-x[j]))
x[0..9](0)=ran(1)*2*pi
@ delay=5, meth=euler, total=2, dt=0.05
done`,
  'an array of comparisons, selects and table functions': `par a=0.5, b=1.2
u[0..7]'=-a*u[j] + tanh(u[j])*max(u[j],0.1) - min(u[j],b)/(1+u[j]^2) + if(u[j]>0.2)then(sqrt(abs(u[j])))else(log(1+u[j]^2)) + (u[j]<=b)*0.1 + (u[j]>=-b)*0.05 - (u[j]<a)*0.02
init u[0..7]=0.3
@ total=1, dt=0.1
done`,
};

/** A history that answers every read with a number made from its arguments (the same for both passes). */
const history: DelayReader = {
  read: (index, now, tau, constant) => Math.fround(Math.cos(2 * index - now + 5 * tau) + (constant ? 0.25 : 0)),
  readBack: () => 0,
};
const special = fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-40, -3e38);
const value = fc.oneof(
  { weight: 8, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: special },
);

for (const [name, text] of Object.entries(NETWORKS)) {
  test(`the forward pass in runs of one opcode equals the pass in program order, bit for bit: ${name}`, () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
    const prog = compileScalarProgram(a.model);
    assert.ok(prog, 'the model compiles to a fused program');
    const grouped = dispatchingInterpreter(prog),
      inOrder = inOrderInterpreter(prog);
    assert.ok(grouped.grouped, 'an array network runs in groups');
    assert.ok(!inOrder.grouped && !grouped.writtenOut);
    const L = prog.code.length;
    fc.assert(
      fc.property(
        fc.array(value, { minLength: prog.states, maxLength: prog.states }),
        fc.array(value, { minLength: prog.params, maxLength: prog.params }),
        fc.double({ min: 0, max: 3, noNaN: true }),
        (s, p, t) => {
          const v1 = new Float64Array(L).fill(99),
            v2 = new Float64Array(L).fill(-99);
          const sf = Float32Array.from(s),
            pf = Float32Array.from(p);
          grouped.forward(sf, 0, pf, t, v1, history);
          inOrder.forward(sf, 0, pf, t, v2, history);
          for (let k = 0; k < L; k++)
            if (!Object.is(v1[k], v2[k])) assert.fail(`instruction ${k} (${prog.code[k].op}): ${v1[k]} ≠ ${v2[k]}`);
        },
      ),
      { numRuns: 60, seed: 17 },
    );
  });
}

test('a lattice whose program already keeps equal operations together runs in program order', () => {
  const prog = compileScalarProgram(
    analyse(`par a=0.3, d=0.05
state u[40]
init u = 0.2
u' = -a*u + d*(u*u - u) + 0.01*tanh(u)
@ total=1, dt=0.1`).model!,
  );
  assert.ok(prog);
  assert.ok(!dispatchingInterpreter(prog).grouped, `${prog.code.length} instructions in vector operations`);
});
