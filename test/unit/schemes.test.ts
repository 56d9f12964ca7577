// Scheme bookkeeping and static analysis (no engine): copy weights, layer
// times and sequences; orders and zero-stability from the coefficients;
// diagnostics on models written in the language.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schemeByName, startSteps, TABLEAUX } from '../../solver/schemes/schemes';
import { parameterCopies, sequenceCopies } from '../../solver/schemes/copies';
import {
  multistepOrder,
  polynomialRoots,
  rkOrder,
  validateTableau,
  zeroStability,
} from '../../solver/schemes/coefficients';
import { describeScheme } from '../../solver/schemes/analysis';
import { analyse } from '../../solver/language';
import { SCHEME_NAMES } from '../../solver/schemes/registry';

const close = (a: number[], b: number[], tol = 1e-12) =>
  a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol);

test('AB2 and AB3 weights started by heun are those of docs/design.md#adams-bashforth', () => {
  const N = 12;
  const ab2 = parameterCopies(schemeByName('ab2', { start: 'heun' }), N, 0.1, 0).weights;
  assert.ok(close(ab2, [0, 3 / 2, ...new Array(N - 3).fill(1), 3 / 2]), `ab2: ${ab2}`);
  const ab3 = parameterCopies(schemeByName('ab3', { start: 'heun' }), N, 0.1, 0).weights;
  assert.ok(close(ab3, [5 / 12, 13 / 12, ...new Array(N - 4).fill(1), 7 / 12, 23 / 12]), `ab3: ${ab3}`);
});

test('leapfrog weights: ½ on the Euler-start copy, 1 elsewhere (the mean of the oscillating adjoint)', () => {
  const w = parameterCopies(schemeByName('leapfrog'), 9, 0.1, 0).weights;
  assert.ok(close(w, [0.5, ...new Array(8).fill(1)]), `${w}`);
});

test('weights of strongly stable schemes sum to N (Σ h w = T − t0); weakly stable ones to the centre of their smooth end', () => {
  const user = {
    kind: 'lmm' as const,
    name: 'mylmm',
    alpha: [-0.5, -0.5, 1],
    beta: [-0.25, 1.75, 0],
    range: R,
    nameRange: R,
  };
  for (const N of [1, 2, 3, 5, 17, 64]) {
    for (const start of ['euler', 'heun', 'midpoint', 'ralston', 'rk4']) {
      for (const name of [...SCHEME_NAMES, 'mylmm']) {
        for (const tie of ['step', 'stage'] as const) {
          const s = schemeByName(name, { start, tie, declared: [user] });
          const h = 2 / N;
          const pc = parameterCopies(s, N, h, 0.5);
          assert.equal(pc.weights.length, pc.count);
          assert.equal(pc.times.length, pc.count);
          const total = pc.weights.reduce((a, b) => a + b, 0) * h;
          // Weakly stable: every multiplier is 1/ρ'(1) up to the average of the last k states (leapfrog, milne: centred at T − h/2).
          const expected = s.kind === 'lmm' && s.weaklyStable && N - 1 > startSteps(s) ? 2 - h / 2 : 2;
          assert.ok(
            Math.abs(total - expected) < 1e-9,
            `${name} start=${start} tie=${tie} N=${N}: Σ h w = ${total}, expected ${expected}`,
          );
        }
      }
    }
  }
});

test('tie=stage: copy n·s+i at t_n + c_i h with weight b_i, one sequence per stage', () => {
  const s = schemeByName('rk4', { tie: 'stage' });
  const pc = parameterCopies(s, 3, 0.5, 1);
  assert.equal(pc.count, 12);
  assert.equal(pc.stages, 4);
  assert.deepEqual(pc.stage.slice(0, 5), [0, 1, 2, 3, 0]);
  assert.ok(close(pc.times.slice(4, 8), [1.5, 1.75, 1.75, 2]));
  assert.ok(close(pc.weights.slice(0, 4), TABLEAUX.rk4.b));
  assert.deepEqual(sequenceCopies(pc, 2), [2, 6, 10]);
  const tied = parameterCopies(schemeByName('midpoint'), 2, 0.5, 1);
  assert.ok(close(tied.times, [1.25, 1.75]) && close(tied.weights, [1, 1]));
  const ralston = parameterCopies(schemeByName('ralston'), 1, 1, 0);
  assert.ok(close(ralston.times, [0.75 * (2 / 3)]));
});

test('RK order conditions: built-ins, and a user tableau that fails one', () => {
  const expected: Record<string, number> = {
    euler: 1,
    heun: 2,
    midpoint: 2,
    ralston: 2,
    rk4: 4,
    discrete: 1,
    backeul: 1,
  };
  for (const [name, t] of Object.entries(TABLEAUX)) {
    if (name !== 'backeul') assert.deepEqual(validateTableau(t), []); // backeul's diagonal is its implicitness
    assert.equal(rkOrder(t).order, expected[name], name);
  }
  // Kutta's third-order method, and the same with b perturbed so Σ b_i c_i² ≠ 1/3.
  assert.equal(rkOrder({ a: [[], [0.5], [-1, 2]], b: [1 / 6, 2 / 3, 1 / 6], c: [0, 0.5, 1] }).order, 3);
  const wrong = rkOrder({ a: [[], [0.5], [-1, 2]], b: [1 / 4, 1 / 2, 1 / 4], c: [0, 0.5, 1] });
  assert.equal(wrong.order, 2);
  assert.match(wrong.failed ?? '', /order 3/);
  assert.equal(rkOrder({ a: [[], [0.5]], b: [0.6, 0.6], c: [0, 0.5] }).order, 0);
  // c not the row sums of a: order capped at 1.
  assert.equal(rkOrder({ a: [[], [0.5]], b: [0, 1], c: [0, 0.3] }).order, 1);
  assert.ok(validateTableau({ a: [[], [0.5]], b: [0, 1], c: [0, 0.3] }).some((p) => p.startsWith('c[2]')));
});

test('multistep order from the error constants', () => {
  assert.equal(multistepOrder({ alpha: [-1, 0, 1], beta: [0, 2, 0] }).order, 2);
  assert.equal(multistepOrder({ alpha: [0, -1, 1], beta: [-0.5, 1.5, 0] }).order, 2);
  assert.equal(multistepOrder({ alpha: [0, 0, -1, 1], beta: [5 / 12, -16 / 12, 23 / 12, 0] }).order, 3);
  const simpson = multistepOrder({ alpha: [-1, 0, 1], beta: [1 / 3, 4 / 3, 1 / 3] });
  assert.equal(simpson.order, 4);
  assert.ok(Math.abs(simpson.errorConstant + 1 / 180) < 1e-12);
  assert.equal(multistepOrder({ alpha: [-5, 4, 1], beta: [2, 4, 0] }).order, 3);
  assert.equal(multistepOrder({ alpha: [-1, 1], beta: [0.5, 0] }).order, 0); // ρ'(1) ≠ σ(1)
  assert.equal(multistepOrder({ alpha: [-1, 2], beta: [1, 0] }).order, 0); // ρ(1) ≠ 0
});

test('polynomial roots and the root condition', () => {
  const r = polynomialRoots([-6, 11, -6, 1])
    .map((z) => z.re)
    .sort();
  assert.ok(close(r, [1, 2, 3], 1e-9), `${r}`);
  const complexRoots = polynomialRoots([1, 0, 1]);
  assert.ok(complexRoots.every((z) => Math.abs(Math.hypot(z.re, z.im) - 1) < 1e-12 && Math.abs(z.re) < 1e-12));
  assert.equal(zeroStability([-1, 0, 1]).stability, 'weak'); // leapfrog, milne
  assert.equal(zeroStability([0, -1, 1]).stability, 'strong'); // ab2
  assert.equal(zeroStability([0, 0, -1, 1]).stability, 'strong'); // ab3
  assert.equal(zeroStability([-0.5, -0.5, 1]).stability, 'strong');
  assert.equal(zeroStability([-5, 4, 1]).stability, 'unstable');
  assert.equal(zeroStability([1, -2, 1]).stability, 'unstable'); // double root at 1
  assert.equal(zeroStability([-1, 0, 0, 1]).stability, 'weak'); // cube roots of unity
});

test('describeScheme: every built-in, XPPAUT names, and declared schemes', () => {
  const want: Record<string, [number, string]> = {
    euler: [1, 'strong'],
    heun: [2, 'strong'],
    midpoint: [2, 'strong'],
    ralston: [2, 'strong'],
    rk4: [4, 'strong'],
    leapfrog: [2, 'weak'],
    ab2: [2, 'strong'],
    ab3: [3, 'strong'],
    milne: [4, 'weak'],
    discrete: [1, 'strong'],
    backeul: [1, 'strong'],
  };
  for (const name of SCHEME_NAMES) {
    const d = describeScheme(name);
    assert.ok(d, name);
    assert.deepEqual([d.order, d.stability], want[name], name);
    assert.ok(d.summary.length > 0 && d.documentation.length > 0);
  }
  assert.equal(describeScheme('rungekutta')?.name, 'rk4');
  assert.equal(describeScheme('modeuler')?.name, 'heun');
  assert.equal(describeScheme('adams')?.name, 'ab3');
  // Adaptive and stiff XPPAUT methods, and the spellings XPPAUT reads by their first character.
  assert.equal(describeScheme('gear')?.name, 'backeul');
  assert.match(describeScheme('gear')!.summary, /^XPPAUT `gear` → backeul/);
  assert.equal(describeScheme('8')?.name, 'rk4');
  assert.equal(describeScheme('qualrk4')?.name, 'rk4');
  assert.equal(describeScheme('disc')?.name, 'discrete');
  assert.match(describeScheme('discrete')!.summary, /no continuous reference/);
  assert.equal(describeScheme('zzz'), undefined);
  assert.match(describeScheme('leapfrog')!.documentation, /oscillate/);
  assert.match(describeScheme('midpoint')!.documentation, /b = 0/);
  const bad = describeScheme('bad', {
    kind: 'lmm',
    name: 'bad',
    alpha: [-5, 4, 1],
    beta: [2, 4, 0],
    range: R,
    nameRange: R,
  })!;
  assert.deepEqual([bad.order, bad.stability], [3, 'unstable']);
  const kutta = describeScheme('k', {
    kind: 'rk',
    name: 'k',
    a: [
      [0, 0, 0],
      [0.5, 0, 0],
      [-1, 2, 0],
    ],
    b: [1 / 4, 1 / 2, 1 / 4],
    c: [0, 0.5, 1],
    range: R,
    nameRange: R,
  })!;
  assert.equal(kutta.order, 2);
  assert.match(kutta.documentation, /order 3 needs/);
});

const R = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

function diagnosticsOf(src: string) {
  const a = analyse(src);
  return a.diagnostics;
}

const model = (opts: string, extra = '', perStep = true) => `state x[2]
init x = [1, 0]
param W[2,2] ${perStep ? 'per-step ' : ''}~ normal(0, 0.3)
${extra}
x' = tanh(W @ x)
loss = 0.5*sum(x(T)^2)
@ total=1, steps=16, ${opts}
done
`;

const codes = (src: string) => diagnosticsOf(src).map((d) => `${d.code}:${d.severity}`);

test('diagnostics: weak stability warned only with per-step parameters, on the meth value', () => {
  for (const meth of ['leapfrog', 'milne']) {
    const ds = diagnosticsOf(model(`meth=${meth}`));
    const w = ds.find((d) => d.code === 'weakly-stable');
    assert.ok(w && w.severity === 'warning', JSON.stringify(ds));
    assert.match(w.message, /oscillate/);
    assert.equal(w.range.start.line, 6);
    assert.ok(!codes(model(`meth=${meth}`, '', false)).some((c) => c.startsWith('weakly-stable')));
    assert.ok(codes(model(`meth=${meth}, gradfix=filter121`)).includes('weakly-stable:information'));
  }
  for (const meth of ['ab2', 'ab3', 'rk4', 'heun', 'euler'])
    assert.ok(!codes(model(`meth=${meth}`)).some((c) => c.startsWith('weakly-stable')), meth);
});

test('diagnostics: zero stage weight with tie=stage, zero copy weight for ab2 started by heun, repeated stage times', () => {
  assert.ok(codes(model('meth=midpoint, tie=stage')).includes('zero-stage-weight:warning'));
  assert.ok(!codes(model('meth=midpoint')).some((c) => c.startsWith('zero-stage-weight')));
  assert.ok(!codes(model('meth=heun, tie=stage')).some((c) => c.startsWith('zero-stage-weight')));
  assert.ok(codes(model('meth=ab2, start=heun')).includes('zero-copy-weight:warning'));
  assert.ok(!codes(model('meth=ab2')).some((c) => c.startsWith('zero-copy-weight')));
  assert.ok(!codes(model('meth=ab2, start=heun', '', false)).some((c) => c.startsWith('zero-copy-weight')));
  assert.ok(codes(model('meth=rk4, tie=stage')).includes('repeated-stage-time:warning'));
  assert.ok(!codes(model('meth=rk4')).some((c) => c.startsWith('repeated-stage-time')));
});

test('diagnostics: declared schemes that are unstable or inconsistent are errors when used', () => {
  const unstable = 'scheme bad lmm alpha=[-5, 4, 1] beta=[2, 4, 0]';
  const ds = diagnosticsOf(model('meth=bad', unstable));
  const e = ds.find((d) => d.code === 'scheme-unstable');
  assert.ok(e && e.severity === 'error', JSON.stringify(ds));
  assert.match(e.message, /not zero-stable/);
  assert.equal(analyse(model('meth=bad', unstable)).model, undefined);
  assert.ok(codes(model('meth=rk4', unstable)).includes('scheme-unstable:warning'));
  assert.ok(
    codes(model('meth=inc', 'scheme inc lmm alpha=[-1, 1] beta=[0.5, 0]')).includes('scheme-inconsistent:error'),
  );
  // A good user LMM and a user RK: no scheme diagnostics.
  const good = codes(model('meth=mylmm', 'scheme mylmm lmm alpha=[-0.5, -0.5, 1] beta=[-0.25, 1.75, 0]'));
  assert.ok(!good.some((c) => c.startsWith('scheme-') || c.startsWith('weakly')), `${good}`);
  const weak = codes(model('meth=lf', 'scheme lf lmm alpha=[-1, 0, 1] beta=[0, 2, 0]'));
  assert.ok(weak.includes('weakly-stable:warning'), `${weak}`);
});
