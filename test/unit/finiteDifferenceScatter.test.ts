// Finite differences whose quotients scatter away from AD end their ladder at the second step (engine/
// finiteDifferences.ts, scatters): a third step, four times finer, cannot settle them. Quotients that a smooth but
// strongly nonlinear loss spreads at coarse steps still take the third step, where they settle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';
import {
  directionValues,
  finiteDifferenceCheck,
  finiteDifferenceDirections,
  finiteDifferenceLosses,
  GRADCHECK_TOLERANCE,
  SCATTER_SENSITIVITY,
  SCATTER_SPREAD,
  scatters,
} from '../../solver/engine/finiteDifferences';
import { discreteGradients } from '../../solver/engine/discrete';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { schemeOf } from '../../solver/schemes/schemes';
import type { Model } from '../../solver/model';
import { formatNumber } from '../../solver/presentation/format';

function parse(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error')));
  return a.model;
}

/** |a − b| / |a|: how far b is from the quotient a, relative to a (the gradcheck's measure). */
const apart = (a: number, b: number) => Math.abs(a - b) / Math.abs(a);

/** The central-difference quotients of tensor 0 at ε/f for each f, from the engine's perturbed losses. */
async function ladder(m: Model, factors: number[]) {
  const { tf } = await initBackend('cpu');
  const { compiled } = compileModel(tf, m);
  try {
    const scheme = schemeOf(m);
    const values = initialParameters(tf, m);
    const { G, loss } = discreteGradients(tf, compiled, scheme, m, values);
    const { dirs, eps, predicted } = finiteDifferenceDirections(m, values, G, loss);
    const quotients = factors.map((f) => {
      const [plus, minus] = finiteDifferenceLosses(tf, compiled, scheme, m, values, dirs, [eps[0] / f])[0];
      return (plus - minus) / ((2 * eps[0]) / f);
    });
    const [result] = finiteDifferenceCheck(tf, compiled, scheme, m, values, G, loss);
    return { eps: eps[0], ad: predicted[0], quotients, result, values, G };
  } finally {
    compiled.dispose();
  }
}

// The logistic map in its chaotic regime: over 30 iterations a moves x(T) by ~10⁷ per unit (AD), while central
// differences at the steps the check takes see the folded map, whose quotients jump by sign and size.
const LOGISTIC = 'x(t+1) = a*x*(1-x)\npar a=3.9\ninit x=0.3\nloss = x(T)^2\n@ total=30\ndone\n';

test('chaotic quotients that scatter away from AD stop after two steps; the third would not have settled', async () => {
  const m = parse(LOGISTIC);
  const { eps, ad, quotients, result } = await ladder(m, [1, 4, 16]);
  const [q1, q4, q16] = quotients;
  // The case: the two quotients differ by more than the coarser one's size, the finer is no nearer to AD, and AD is
  // more than SCATTER_SENSITIVITY times either.
  assert.ok(apart(q1, q4) > SCATTER_SPREAD, `ε ${q1}, ε/4 ${q4}`);
  assert.ok(Math.abs(q4 - ad) >= Math.abs(q1 - ad) * (1 - GRADCHECK_TOLERANCE), `ε ${q1}, ε/4 ${q4}, AD ${ad}`);
  assert.ok(Math.abs(ad) > SCATTER_SENSITIVITY * Math.max(Math.abs(q1), Math.abs(q4)), `ε ${q1}, ε/4 ${q4}, AD ${ad}`);
  // What stopping gave up: ε/16 is no nearer to settling.
  assert.ok(apart(q16, ad) > 100, `ε/16 ${q16}, AD ${ad}`);
  // Two steps taken, reported as not settling, with the steps compared and their spread.
  assert.equal(result.converged, false, JSON.stringify(result));
  assert.equal(+result.step.toPrecision(6), +(eps / 4).toPrecision(6));
  assert.deepEqual(
    result.scatter?.steps.map((s) => +s.toPrecision(6)),
    [eps, eps / 4].map((s) => +s.toPrecision(6)),
  );
  assert.ok(Math.abs(result.scatter!.spread - apart(q1, q4)) <= 1e-9 * apart(q1, q4), JSON.stringify(result));
  // The finding states the steps actually taken.
  const report = await runCheck(m, { backend: 'cpu', reference: false });
  const note = report.findings.find((f) => f.code === 'gradcheck-unresolved');
  const fmt = (x: number) => formatNumber(x).replace(/[.]/g, '[.]');
  assert.match(
    note?.message ?? '',
    new RegExp(`do not settle as the step shrinks from ${fmt(eps)} to ${fmt(eps / 4)},.*so none was taken`),
  );
  assert.doesNotMatch(note?.message ?? '', new RegExp(`to ${fmt(eps / 16)}`));
  assert.match(report.parameters[0].verdict?.explanation ?? '', /disagree with each other \(extreme sensitivity/);
});

test('quotients of a smooth loss that spread at coarse steps but approach AD take the third step and settle', async () => {
  // L(a) = z(T) = T·(u + A·R·sin(u/R)), u = a − 1/2: derivative 1 + A at a = 1/2; a central difference at step h
  // is 1 + A·sinc(h/R). With h/R = 4.8 at ε (v = ±1 at this step, see below), ε and ε/4 lie more than the finer
  // quotient apart, the finer nearer AD; ε/16 (h/R = 0.3) is within 2 % of it.
  const A = 20;
  const text = (r: number) =>
    `z' = (a - 0.5) + ${A}*${r}*sin((a - 0.5)/${r})\nz(0) = 0\npar a = 0.5\nloss = z(T)\n@ total=1, steps=16`;
  const unit = Math.abs(
    directionValues(
      finiteDifferenceDirections(parse(text(1)), [Float32Array.of(0.5)], [Float32Array.of(1)], 0).dirs[0],
    )[0],
  );
  const R = (1e-3 * unit) / 4.8;
  const { eps, ad, quotients, result } = await ladder(parse(text(R)), [1, 4, 16]);
  assert.equal(+eps.toPrecision(6), 1e-3);
  // The engine's quotients are those of the closed form, in float64.
  const closed = (f: number) => {
    const x = (eps * unit) / f / R;
    return 1 + (A * Math.sin(x)) / x;
  };
  quotients.forEach((q, k) => {
    const want = closed([1, 4, 16][k]) * unit;
    assert.ok(Math.abs(q - want) <= 1e-3 * Math.abs(want), `ε/${[1, 4, 16][k]}: ${q} vs ${want}`);
  });
  assert.ok(Math.abs(ad - (1 + A) * unit) <= 1e-4 * (1 + A) * unit, `AD ${ad}`);
  const [q1, q4, q16] = quotients;
  assert.ok(apart(q1, q4) > SCATTER_SPREAD, `the case: ε ${q1}, ε/4 ${q4} spread`);
  assert.ok(apart(q4, ad) > GRADCHECK_TOLERANCE && apart(q16, ad) < GRADCHECK_TOLERANCE, `${q4}, ${q16}, AD ${ad}`);
  // The third step was taken and settles it.
  assert.ok(result.converged && result.relError < GRADCHECK_TOLERANCE, JSON.stringify(result));
  assert.equal(+result.step.toPrecision(6), +(eps / 16).toPrecision(6));
  assert.equal(result.scatter, undefined);
});

test('scatters: both of its signs are needed; quotients far above AD, or spreading towards it, go on', () => {
  const judge = (coarser: number, finer: number, ad: number) => scatters(coarser, finer, ad, apart(coarser, finer));
  // Chaotic ladders of the XPPAUT samples (cgl's beta and eps: AD ~10¹⁸, quotients ~10³): they stop.
  assert.ok(judge(-1684.4, -4224.6, 3.2813e18));
  assert.ok(judge(673.8, 11250.8, 3.221e18));
  // AD far above both, but the two agree with each other: a third step may show a mismatch that stands.
  assert.ok(apart(1000, 1010) <= SCATTER_SPREAD && !judge(1000, 1010, 1e18));
  // They spread, but lie far above AD: a coarse step across a steep stretch (XPPAUT's osc.ode, gam: 90.8 and 364 at
  // ε and ε/4, AD 1.07; within 0.2 % of it at ε/16).
  assert.ok(apart(90.837, 364.434) > SCATTER_SPREAD && !judge(90.837, 364.434, 1.0739));
  // They spread, approaching AD (XPPAUT's acoaster: 834 and 14,850, AD 16,970; 17,380 at ε/16).
  assert.ok(apart(834.2, 14850) > SCATTER_SPREAD && !judge(834.2, 14850, 16970));
  // Close to each other, moving away from AD (a bend both coarse steps straddle: acoaster's 86.3 and 82.2, AD 96.1,
  // then 96.7; Morris–Lecar's v3 at 6.9 % and 5.6 %).
  assert.ok(!judge(86.31, 82.18, 96.1));
  assert.ok(!judge(1 / 1.069, 1 / 1.056, 1));
  // The sensitivity bound, against the larger quotient, whatever the signs.
  assert.ok(
    judge(0.2, -1, (100.01 * SCATTER_SENSITIVITY) / 100) && !judge(0.2, -1, (99.99 * SCATTER_SENSITIVITY) / 100),
  );
  assert.ok(judge(-1, 0.2, -1.0001 * SCATTER_SENSITIVITY) && !judge(-1, 0.2, -0.9999 * SCATTER_SENSITIVITY));
  // A failed solve's quotient is no evidence either way.
  assert.ok(!judge(Number.NaN, 3e4, 1e18) && !judge(3e4, Number.NaN, 1e18));
});
