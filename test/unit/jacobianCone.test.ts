// Backward Euler's Jacobian on a long program's sweep (engine/newtonStep.ts's programField): each group's reverse
// pass visits only its cone (Interpreter.cone, reverseOn), and the Jacobian is the one of whole sweeps bit for bit,
// on lattices with selects, table functions, short sums and a loop instruction, at states that take both sides of
// the selects, and after a whole sweep that left the adjoint scratch holding its values (the adjoint's parameter
// pass between two Jacobians). The cone's loop body is held to the whole sweep's text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/repo';
import { analyse } from '../../solver/language/index';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { interpreterOf, WANT_STATES } from '../../solver/engine/programInterpreter';
import { programPattern } from '../../solver/engine/stepMatrix';
import { backwardEulerAdjoint, programField } from '../../solver/engine/newtonStep';
import { Rng } from '../../solver/engine/random';

const LATTICES: Record<string, string> = {
  'a Schnakenberg lattice with selects and table functions': `f(u,v)=-u+v*u^2
g(u,v)=a-v*u^2
par a=1.05, du=0.2, dv=3, h=0.2, th=1.1
!duh=du/(h*h)
!dvh=dv/(h*h)
u0'=f(u0,v0)+duh*(u1-u0)
u[1..118]'=f(u[j],v[j])+duh*(u[j+1]-2*u[j]+u[j-1]) + if(u[j]>th)then(tanh(u[j]-th))else(0.1*exp(-u[j]^2))
u119'=f(u119,v119)+duh*(u118-u119)
v0'=g(u0,v0)+dvh*(v1-v0)
v[1..118]'=g(u[j],v[j])+dvh*(v[j+1]-2*v[j]+v[j-1]) - 0.05*abs(v[j]-u[j])^1.5
v119'=g(u119,v119)+dvh*(v118-v119)
init u[0..119]=1.05
init v[0..119]=1.05
@ total=1, dt=0.1, meth=backeul`,
  'a lattice with windowed sums and a global loop': `par k=0.4, c=0.3
table w % 20 0 19 0.3*t/20-0.1
x0'=-x0 + c*(x1-x0)
x1'=-x1 + c*(x2-2*x1+x0)
x[2..97]'=-x[j] + k*sum(-2,2)of(tanh(shift(x[j],i')))/5 + if(x[j]>0)then(sin(y[j]))else(y[j]*x[j])
x98'=-x98 + c*(x97-2*x98+x99)
x99'=-x99 + c*(x98-x99)
y[0..99]'=x[j] - y[j]^3/3 + max(x[j], 0.2)
z'=-z + sum(0,19)of(tanh(shift(x0,i') - z)*w(i'))
init x[0..99]=0.3
init y[0..99]=-0.2
init z=0
@ total=1, dt=0.1, meth=backeul`,
};

/** A seeded uniform generator in [0, 1) (the engine's own). */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.uniform();
}

for (const [name, text] of Object.entries(LATTICES))
  test(`the Jacobian from its groups' cones is the whole sweeps' bit for bit: ${name}`, () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
    const prog = compileScalarProgram(a.model);
    assert.ok(prog, 'the model compiles to a fused program');
    const L = prog.code.length,
      D = prog.states,
      P = prog.params;
    assert.ok(L >= 1200, `${L} instructions`);
    const run = interpreterOf(prog);
    assert.equal(run.reverseWrittenOut(WANT_STATES), false, 'its reverse pass is the sweep');
    const pattern = programPattern(prog);
    assert.ok(pattern.groups.length < D / 4, `${pattern.groups.length} groups of ${D} rows`);
    // Each cone is a small part of the program (else the test could not tell a cone from the whole sweep).
    for (const group of pattern.groups) {
      const order = run.cone(
        Array.from(group, (i) => prog.outputs[i]),
        WANT_STATES,
      );
      assert.ok(order.length > 0 && order.length < L / 2, `a cone of ${order.length} of ${L} instructions`);
      for (let i = 1; i < order.length; i++) assert.ok(order[i] < order[i - 1], 'descending');
    }
    const rnd = random(17);
    const pv = Float32Array.from({ length: P }, (_, i) => 0.2 + 0.05 * (i % 7));
    const vals = new Float64Array(L),
      adj = new Float64Array(L),
      vs = new Float64Array(D),
      vp = new Float64Array(P),
      cot = new Float64Array(D);
    const { rowStart, cols } = pattern;
    for (let trial = 0; trial < 6; trial++) {
      const y = Float64Array.from({ length: D }, () => Math.fround(4 * rnd() - 2));
      if (trial === 1) y.fill(0); // zeros: the selects' else sides, products with zero derivatives
      const t = 0.1 * trial;
      // The whole sweep per group, as the interpreter's reverse pass runs it.
      run.forwardFor(WANT_STATES, y, 0, pv, t, vals);
      const whole = new Float64Array(cols.length);
      for (const group of pattern.groups) {
        cot.fill(0);
        for (const i of group) cot[i] = 1;
        vs.fill(0);
        run.reverse(vals, cot, vs, vp, adj, WANT_STATES);
        for (const i of group) for (let k = rowStart[i]; k < rowStart[i + 1]; k++) whole[k] = Math.fround(vs[cols[k]]);
      }
      // A step of the adjoint first: its parameter pass (a whole sweep) leaves the scratch the field shares holding
      // that pass's adjoints.
      const X = new Float32Array(2 * D);
      X.set(y, D);
      backwardEulerAdjoint(
        prog,
        1,
        0.1,
        t - 0.1,
        X,
        Float64Array.from({ length: 2 * D }, () => rnd() - 0.5),
        () => pv,
        () => new Float64Array(P),
      );
      const field = programField(prog, pv, t);
      const fromCones = field.jacobian(y);
      const again = field.jacobian(y);
      assert.equal(fromCones.length, whole.length);
      let nonzero = 0;
      for (let k = 0; k < whole.length; k++) {
        if (!Object.is(fromCones[k], whole[k]))
          assert.fail(`entry ${k}: ${fromCones[k]} ≠ ${whole[k]} (trial ${trial})`);
        if (!Object.is(again[k], whole[k])) assert.fail(`entry ${k} again: ${again[k]} ≠ ${whole[k]} (trial ${trial})`);
        if (whole[k] !== 0) nonzero++;
      }
      assert.ok(nonzero > whole.length / 2, `${nonzero} of ${whole.length} entries nonzero`);
    }
  });

test("the cone's sweep (sweepOn) does what the whole sweep does per instruction: the same loop body", () => {
  const source = readFileSync(join(repoRoot(), 'solver/engine/programInterpreter.ts'), 'utf8');
  const body = (name: string) => {
    const at = source.indexOf(`const ${name} = (`);
    assert.ok(at >= 0, `${name} is declared`);
    const from = source.indexOf('      const g = adj[k];', at),
      to = source.indexOf('\n  };\n', from);
    assert.ok(from > at && to > from, `${name}'s loop body`);
    return source.slice(from, to);
  };
  const whole = body('sweep');
  assert.ok(whole.includes('loopBack(') && whole.includes('case SELECT:'), 'the whole switch');
  assert.equal(body('sweepOn'), whole);
});
