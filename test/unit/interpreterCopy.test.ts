// A long program's interpreter is a copy compiled for it alone (engine/programInterpreter.ts: interpreterCopy), so
// that V8 optimises its loops for that program's arrays even after other programs' interpreters exist. The copy is
// the module's interpreter compiled again: its forward pass, f alone, the pruned forward pass and every reverse pass
// give the module interpreter's numbers bit for bit, on programs with table functions, selects, long sums, loop
// instructions and delays, at random states and parameters including zeros of both signs, infinities and NaN. A short
// program keeps the module's interpreter (its passes are written out instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/repo';
import { analyse } from '../../solver/language/index';
import { madeUpHistory, programValue, sameBits, sameReverse } from '../support/programInputs';
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

const LONG: Record<string, string> = {
  'a reaction–diffusion lattice with table functions and selects': `par a=0.3, d=0.05, c=0.2
u0' = -a*u0 + d*(u1 - u0)
u[1..298]' = -a*u[j] + d*(u[j+1] - 2*u[j] + u[j-1]) + c*tanh(u[j])*u[j-1] + if(u[j] > 0.1) then(exp(-u[j]*u[j])) else(abs(u[j])^1.5)
u299' = -a*u299 + d*(u298 - u299)
init u[0..299]=0.2
@ total=1, dt=0.1`,
  'a network with long sums and loop instructions': `par k=0.4, w=0.2
u[0..159]' = -u[j] + k*sum(0,159)of(tanh(shift(u0,i') - u[j]))/160 + w*sum(0,3)of(shift(u0,i')) + sin(u[j])
init u[0..159]=0.1
@ total=1, dt=0.1`,
  'a delayed ring': `par k=0.2, tau=0.3
x[0..199]' = 1 + k*sin(delay(x[j], tau) - x[j]) + k*cos(delay(x[j], 0.1))
init x[0..199]=0.5
@ total=1, dt=0.05, delay=1`,
};

const value = programValue(12);

for (const [name, text] of Object.entries(LONG)) {
  test(`a long program's own copy of the interpreter gives the module interpreter's numbers: ${name}`, () => {
    const a = analyse(text);
    assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
    const prog = compileScalarProgram(a.model);
    assert.ok(prog, 'the model compiles to a fused program');
    const copy = interpreterOf(prog),
      module = dispatchingInterpreter(prog);
    assert.equal(copy.ownCopy, true, `${prog.code.length} instructions: a copy of its own`);
    assert.equal(module.ownCopy, false);
    assert.equal(copy.writtenOut, false);
    assert.equal(interpreterOf(prog), copy, 'made once per program');
    const S = prog.states,
      P = prog.params,
      L = prog.code.length;
    const wants: Wanted[] = [WANT_STATES, WANT_PARAMS, WANT_BOTH, ...(prog.delays ? [] : [WANT_ALL as Wanted])];
    fc.assert(
      fc.property(
        fc.array(value, { minLength: S, maxLength: S }),
        fc.array(value, { minLength: P, maxLength: P }),
        fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: S, maxLength: S }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (s, p, cot, t) => {
          const sf = Float32Array.from(s),
            pf = Float32Array.from(p);
          const v1 = new Float64Array(L).fill(7),
            v2 = new Float64Array(L).fill(-7);
          copy.forward(sf, 0, pf, t, v1, madeUpHistory);
          module.forward(sf, 0, pf, t, v2, madeUpHistory);
          sameBits(v1, v2, 'value');
          const o1 = new Float64Array(S),
            o2 = new Float64Array(S);
          copy.outputs(sf, 0, pf, t, o1, madeUpHistory);
          module.outputs(sf, 0, pf, t, o2, madeUpHistory);
          sameBits(o1, o2, 'f');
          const start = { vs: new Float64Array(S), vp: new Float64Array(P), vt: 0 };
          for (const want of wants)
            sameReverse([copy, module], [v1, v2], want, { s: sf, sAt: 0, p: pf, t, cot, delays: !!prog.delays }, start);
        },
      ),
      { numRuns: 25, seed: 5 },
    );
  });
}

test('a short program keeps the module interpreter, its passes written out', () => {
  const a = analyse(`par a=0.3
x' = -a*x + tanh(y)
y' = x - y
init x=0.5, y=0.1
@ total=1, dt=0.1`);
  assert.ok(a.model);
  const prog = compileScalarProgram(a.model);
  assert.ok(prog);
  const it = interpreterOf(prog);
  assert.equal(it.ownCopy, false);
  assert.equal(it.writtenOut, true);
});

test("the copy is given every binding of the interpreter's module (moduleBindings lists them all)", () => {
  const source = readFileSync(join(repoRoot(), 'solver/engine/programInterpreter.ts'), 'utf8');
  const lines = source.split('\n');
  const declared = new Set<string>();
  let continued = false;
  for (const line of lines) {
    const declaration =
      /^(?:export )?(?:const|let) (\w+)\b/.exec(line) ?? (continued ? /^ {2}(\w+) = /.exec(line) : null);
    const fn = /^(?:export )?function (\w+)/.exec(line);
    if (declaration) declared.add(declaration[1]);
    if (fn) declared.add(fn[1]);
    // A declaration list goes on after a line ending in a comma (comments between its declarators included).
    if (declaration || (continued && /^ {2}\/\//.test(line))) continued = /,$/.test(line) || /^ {2}\/\//.test(line);
    else if (!/^ {2}/.test(line)) continued = false;
    else if (continued && !/,$/.test(line)) continued = false;
  }
  for (const block of source.matchAll(/^import \{([^}]*)\} from/gm))
    for (const part of block[1].split(','))
      if (part.trim() && !part.trim().startsWith('type ')) declared.add(part.trim());
  const bound = new Set([...source.matchAll(/bound\(\(\) => (\w+)\)/g)].map((m) => m[1]));
  // The copied functions themselves, and the copy's own machinery, which the copy does not read.
  const own = [
    'interpreter',
    'groupedForward',
    'interpreterCopy',
    'interpreterCopySource',
    'copySource',
    'moduleBindings',
    'bound',
    'copies',
  ];
  for (const name of own) assert.ok(declared.has(name), `${name} is declared`);
  const missing = [...declared].filter((n) => !bound.has(n) && !own.includes(n));
  assert.deepEqual(missing, [], 'module bindings the copy is not given');
  const unknown = [...bound].filter((n) => !declared.has(n));
  assert.deepEqual(unknown, [], 'bindings that are not the module’s');
  assert.ok(declared.has('CONST') && declared.has('GE') && declared.has('WANT_ALGEBRAIC') && declared.has('denseLu'));
});

test("a model's program is compiled once, so a check's several asks share one program and one interpreter copy", () => {
  const a = analyse(LONG['a reaction–diffusion lattice with table functions and selects']);
  assert.ok(a.model);
  const prog = compileScalarProgram(a.model);
  assert.ok(prog);
  assert.equal(compileScalarProgram(a.model), prog, 'the same program for the same model');
  assert.equal(interpreterOf(compileScalarProgram(a.model)!), interpreterOf(prog));
  // `always` compiles whatever the per-operation compile would cost: a program of its own, also kept.
  const always = compileScalarProgram(a.model, true);
  assert.ok(always);
  assert.equal(compileScalarProgram(a.model, true), always);
  // Another analysis of the same text is another model, and gets its own program.
  const again = analyse(LONG['a reaction–diffusion lattice with table functions and selects']);
  assert.ok(again.model);
  assert.notEqual(compileScalarProgram(again.model), prog);
});
