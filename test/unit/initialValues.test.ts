// A model that declares no parameter has its initial values checked in their place (solver/check/initialValues.ts):
// each state's x(0) is one shared parameter, AD differentiates the unrolled solve in it, finite differences move it
// and the continuous reference gives p(t0). Checked against closed forms on linear models (x' = −k x with a number
// k: d x(T)²/d x0 = 2 x(T) e^{−kT}; a rotation keeps ‖x‖², so its gradient is 2 x0; a map x ↦ a x; backward Euler's
// own amplification), on every solve path (the whole-solve kernel, the per-kernel packed solve, a multistep and an
// implicit scheme, the per-operation solve of a delay equation, events), and through the CLI and the hover.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, type CheckOptions } from '../../solver/check';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';
import type { ParameterReport, Report } from '../../solver/report';
import { summarise } from '../../solver/summary';
import { hover, ServiceDocument } from '../../solver/service/index';
import { analyse } from '../../solver/language/index';
import { modelOf } from '../support/timeStepping';
import { repoRoot } from '../support/repo';

const K = 0.7,
  X0 = 1.5,
  T = 2;

/** x' = −k x with k written inline (no parameter), loss x(T)². */
const DECAY = (meth: string, dt = 0.05) => `# exponential decay, no parameter
x' = -${K}*x
init x=${X0}
loss = x(T)^2
@ total=${T}, dt=${dt}, meth=${meth}
done
`;

const check = (text: string, options: CheckOptions = {}) => runCheck(modelOf(text), { backend: 'cpu', ...options });

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/** The single parameter of a report, its AD gradient and reference gradient (shared: one row of one value). */
function only(report: Report): { p: ParameterReport; ad: number; reference: number } {
  assert.equal(report.parameters.length, 1, JSON.stringify(report.findings));
  const p = report.parameters[0];
  return { p, ad: p.raw[0][0], reference: p.reference[0]?.[0] ?? NaN };
}

/** d x(T)² / d x0 of the flow. */
const flowGradient = 2 * X0 * Math.exp(-2 * K * T);

describe('initial values checked in place of parameters', () => {
  for (const wholeSolve of [true, false]) {
    test(`x' = −k x: AD, reference and finite differences give 2 x(T) e^{−kT} (${wholeSolve ? 'whole-solve kernel' : 'per-kernel solve'})`, async () => {
      const report = await check(DECAY('rk4'), { wholeSolve });
      assert.equal(report.rhsPath, wholeSolve ? 'scalar-solve' : 'scalar-program');
      const { p, ad, reference } = only(report);
      assert.equal(p.name, 'x(0)');
      assert.equal(p.initialValueOf, 'x');
      assert.equal(p.perStep, false);
      assert.deepEqual(report.checkedParameters.names, ['x(0)']);
      // RK4 at h = 0.05 is within 1e-8 of the flow; float32 rounding dominates.
      assert.ok(rel(ad, flowGradient) < 1e-5, `AD ${ad} vs ${flowGradient}`);
      assert.ok(rel(reference, flowGradient) < 1e-5, `reference ${reference} vs ${flowGradient}`);
      assert.ok(p.metrics.relError < 1e-5, `relError ${p.metrics.relError}`);
      assert.ok(p.metrics.gradcheckRelError < 1e-3, `gradcheck ${p.metrics.gradcheckRelError}`);
      assert.equal(p.verdict?.kind, 'converges');
      assert.match(p.verdict?.explanation ?? '', /^initial value: the AD gradient converges/);
      // The note sits on the initial value that is checked (line 3, `init x=1.5`).
      const note = report.findings.find((f) => f.code === 'initial-values-checked');
      assert.ok(note, JSON.stringify(report.findings));
      assert.equal(note.severity, 'information');
      assert.equal(note.range.start.line, 2);
      assert.match(note.message, /initial values x\(0\)/);
    });
  }

  test('the refinement study compares each level with p(t0) too', async () => {
    const { p } = only(await check(DECAY('rk4'), { refinement: true }));
    const levels = p.refinement?.levels ?? [];
    assert.ok(levels.length >= 2, JSON.stringify(p.refinement));
    for (const l of levels) assert.ok(l.relError < 1e-4, `${l.steps} steps: ${l.relError}`);
  });

  test("backward Euler: AD is its own discrete gradient 2 x0 (1 + kh)^{−2N}, the reference the flow's", async () => {
    const h = 0.05,
      N = Math.round(T / h);
    const report = await check(DECAY('backeul', h));
    const { ad, reference, p } = only(report);
    const discrete = 2 * X0 * (1 + K * h) ** (-2 * N);
    assert.ok(rel(ad, discrete) < 1e-5, `AD ${ad} vs ${discrete}`);
    assert.ok(rel(reference, flowGradient) < 1e-5, `reference ${reference} vs ${flowGradient}`);
    // First order: the discrete gradient is O(h) from the flow's, and the report says so.
    assert.ok(Math.abs(p.metrics.relError - rel(discrete, flowGradient)) < 1e-4, `${p.metrics.relError}`);
    assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE);
  });

  test('a multistep scheme (ab3) starts from the initial value too: AD agrees with FD and the flow', async () => {
    const { ad, p } = only(await check(DECAY('ab3', 0.01)));
    assert.ok(rel(ad, flowGradient) < 1e-3, `AD ${ad} vs ${flowGradient}`);
    assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `gradcheck ${p.metrics.gradcheckRelError}`);
    assert.ok(p.metrics.relError < 1e-3);
  });

  test('a vector state: a rotation keeps ‖x‖², so d ‖x(T)‖² / d x0 = 2 x0 for every component', async () => {
    const report = await check(`state x[2]
x' = [[0, 1], [-1, 0]] @ x
init x = [1, 0.5]
loss = sum(x(T)^2)
@ total=3, dt=0.01, meth=rk4
done
`);
    const { p } = only(report);
    assert.equal(p.name, 'x(0)');
    assert.deepEqual(p.shape, [2]);
    const ad = p.raw[0],
      reference = p.reference[0];
    [2, 1].forEach((want, k) => {
      assert.ok(Math.abs(ad[k] - want) < 1e-4, `AD ${ad}`);
      assert.ok(Math.abs(reference[k] - want) < 1e-5, `reference ${reference}`);
    });
    assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `gradcheck ${p.metrics.gradcheckRelError}`);
  });

  test('several states: one parameter each, in state order; a state without init starts at 0', async () => {
    const report = await check(`x' = -x + y^2
y' = -2*y
init y=0.5
@ total=1, dt=0.02, meth=heun
done
`);
    assert.deepEqual(
      report.parameters.map((p) => [p.name, p.initialValueOf]),
      [
        ['x(0)', 'x'],
        ['y(0)', 'y'],
      ],
    );
    for (const p of report.parameters) {
      assert.ok(p.metrics.relError < 1e-3, `${p.name} ${p.metrics.relError}`);
      assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `${p.name} ${p.metrics.gradcheckRelError}`);
    }
    // Default loss ½(x(T)² + y(T)²): y(T) = 0.5 e^{−2}, so d/dy0 ≥ y(T) e^{−2} > 0 by the flow.
    assert.ok(report.parameters[1].raw[0][0] > 0.5 * Math.exp(-4));
  });

  test('a map x ↦ a x: AD and the map adjoint give 2 x0 a^{2N}', async () => {
    const a = 0.9,
      N = 12;
    const report = await check(`x(t+1) = ${a}*x
init x=${X0}
loss = x(T)^2
@ total=${N}
done
`);
    const { ad, reference, p } = only(report);
    const exact = 2 * X0 * a ** (2 * N);
    assert.ok(rel(ad, exact) < 1e-5, `AD ${ad} vs ${exact}`);
    assert.ok(rel(reference, exact) < 1e-5, `reference ${reference} vs ${exact}`);
    assert.ok(p.metrics.gradcheckRelError < 1e-3);
  });

  for (const [path, wholeSolve] of [
    ['scalar-solve', true],
    ['per-operation', false],
  ] as const)
    test(`a delay equation (${path}): AD agrees with finite differences; the history before t0 is the initial value`, async () => {
      const report = await check(
        `x' = -0.5*delay(x, 0.3)
init x=1
loss = x(T)^2
@ total=2, dt=0.02, delay=1
done
`,
        { wholeSolve },
      );
      assert.equal(report.rhsPath, path);
      const { ad, p } = only(report);
      assert.ok(p.metrics.gradcheckRelError < 1e-3, `gradcheck ${p.metrics.gradcheckRelError}`);
      // x(T) is linear in x0 (history included): d x(T)² / d x0 = 2 x(T)² / x0 = 2·loss at x0 = 1.
      assert.ok(rel(ad, 2 * report.loss) < 1e-5, `AD ${ad} vs ${2 * report.loss}`);
    });

  // A timed event: a crossing time that moved with v0 would make the discrete loss jump as it passes a grid point.
  test('events: AD through the resets agrees with finite differences', async () => {
    const report = await check(`v' = -v + 1.5
global 1 t-1.005 {v=0.1*v^2}
init v=0.2
loss = v(T)^2
@ total=3, dt=0.01, meth=rk4
done
`);
    const { p } = only(report);
    assert.ok(Number.isFinite(p.raw[0][0]) && p.raw[0][0] !== 0);
    assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `gradcheck ${p.metrics.gradcheckRelError}`);
  });

  test('a data loss with an observation at t0: the reference adds ∂ℓ/∂x(t0) to p(t0)', async () => {
    const times = [0, 0.5, 1.5],
      targets = [1, 0.8, 0.2];
    const csv = ['t,y', ...times.map((t, i) => `${t},${targets[i]}`)].join('\n');
    const text = `state x[1]
x' = -${K}*x
init x=${X0}
data obs = "obs.csv"
loss = sum((x(obs) - obs)^2)
@ total=${T}, dt=0.01, meth=rk4
done
`;
    const a = analyse(text, { documentPath: '/virtual/m.ode', workspaceRoot: '/virtual', readFile: () => csv });
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    const report = await runCheck(a.model, { backend: 'cpu' });
    const { ad, reference, p } = only(report);
    // Σ 2 (x(t_i) − y_i) e^{−k t_i}, the t = 0 term included.
    const exact = times.reduce((acc, t, i) => acc + 2 * (X0 * Math.exp(-K * t) - targets[i]) * Math.exp(-K * t), 0);
    assert.ok(rel(ad, exact) < 1e-4, `AD ${ad} vs ${exact}`);
    assert.ok(rel(reference, exact) < 1e-4, `reference ${reference} vs ${exact}`);
    assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `gradcheck ${p.metrics.gradcheckRelError}`);
  });

  test('an initial value the loss does not read: a vanishing gradient that says so, not "does not train"', async () => {
    const report = await check(`x' = -x
y' = -y
init x=1, y=2
loss = x(T)^2
@ total=1, dt=0.05
done
`);
    const y = report.parameters.find((p) => p.name === 'y(0)');
    assert.ok(y?.metrics.vanishing);
    const finding = report.findings.find((f) => f.code === 'vanishing-gradient');
    assert.match(finding?.message ?? '', /the loss does not depend on this initial value/);
    assert.doesNotMatch(finding?.message ?? '', /train/);
    assert.match(y.verdict?.explanation ?? '', /the loss does not depend on this initial value/);
  });

  test('a model that declares a parameter checks it, not its initial values', async () => {
    const report = await check(`par k=${K}
x' = -k*x
init x=${X0}
@ total=1, dt=0.05
done
`);
    assert.deepEqual(
      report.parameters.map((p) => p.name),
      ['k'],
    );
    assert.ok(!report.findings.some((f) => f.code === 'initial-values-checked'));
    assert.equal(report.parameters[0].initialValueOf, undefined);
  });

  test('an integral equation sets its state by its formula: nothing to differentiate, the loss only', async () => {
    const report = await check(`u(t) = exp(-t) + int{exp(-t)#u}
@ total=1, dt=0.05
done
`);
    assert.deepEqual(report.parameters, []);
    assert.ok(!report.findings.some((f) => f.code === 'initial-values-checked'));
  });

  test("the state's hover shows its initial value's figures", async () => {
    const text = DECAY('rk4');
    const report = await check(text);
    const doc = new ServiceDocument(text);
    const h = hover(doc, { line: 1, character: 0 }, { report: summarise(report), reportIsCurrent: true });
    const md = h?.markdown ?? '';
    assert.match(md, /Its initial value is checked as the parameter `x\(0\)`/);
    assert.match(md, /\*\*converges:\*\* initial value/);
  });

  const cli = join(repoRoot(), 'dist/cli.js');
  test('the CLI: the JSON report names x(0) with its three errors, the text table and the note', {
    skip: !existsSync(cli) && 'dist/cli.js not built',
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'odelens-initial-'));
    const file = join(dir, 'decay.ode');
    writeFileSync(file, DECAY('rk4'));
    const json = spawnSync(process.execPath, [cli, 'check', file, '--json', '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const out = JSON.parse(json.stdout);
    assert.equal(out.parameters.length, 1);
    const p = out.parameters[0];
    assert.equal(p.name, 'x(0)');
    assert.equal(p.initialValueOf, 'x');
    assert.ok(Number.isFinite(p.metrics.relError) && Number.isFinite(p.metrics.gradcheckRelError));
    assert.ok(out.findings.some((f: { code: string }) => f.code === 'initial-values-checked'));
    const text = spawnSync(process.execPath, [cli, 'check', file, '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^x\(0\) +\[\] +initial +/m);
    assert.match(text.stdout, /information: The model declares no parameter: .*\[initial-values-checked\]/);
  });
});
