// What a user reads agrees with itself: one number formatter, one list of metric
// columns (CLI table, hover, plots page), one remedy list per finding, capped
// ratios said as bounds, float32-resolution studies without orders, vanishing
// gradients and non-smooth models named as such, the default loss as information.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { metricsTableText } from '../../solver/presentation/textTable';
import { formatNumber, formatRatio, namedRatio } from '../../solver/presentation/format';
import { metricColumns, showsCorrection } from '../../solver/presentation/columns';
import {
  gradcheckUnresolvedMessage,
  oscillatingGradientMessage,
  weaklyStableRemedy,
} from '../../solver/presentation/findingText';
import { nonSmoothOperations } from '../../solver/engine/kinks';
import { FLOAT32_ERROR_FLOOR, studyOrders } from '../../solver/engine/layerAnalysis';
import { reportHoverMarkdown } from '../../solver/service/gradientHover';
import { RATIO_CAP, type Report } from '../../solver/report';
import type { Model } from '../../solver/model';

const backend = 'cpu' as const;
const ROOT = join(__dirname, '..', '..', '..');
const example = (name: string) => readFileSync(join(ROOT, 'examples', name), 'utf8');

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const mlp = (activation: string, bias: string, meth = 'rk4') => `state x[2]
init x = [2, 0]
param W1[16,2] per-step ~ normal(0, 0.3)
param b1[16]   per-step = ${bias}
param W2[2,16] per-step ~ normal(0, 0.3)
x' = W2 @ ${activation}(W1 @ x + b1)
loss = 0.5 * sum((x(T) - [0.5, -1.0])^2)
@ total=1, steps=64, meth=${meth}, seed=1
done
`;

test('one number formatter: 3 significant digits, exponents outside [1e-3, 1e4), capped ratios as bounds', () => {
  assert.equal(formatNumber(0.5), '0.5');
  assert.equal(formatNumber(0.7789), '0.779');
  assert.equal(formatNumber(1.0), '1');
  assert.equal(formatNumber(65421), '6.54e4');
  assert.equal(formatNumber(2.6e-6), '2.6e-6');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(NaN), 'n/a');
  assert.equal(formatNumber(0.87497, 5), '0.87497');
  // Four-digit integers at three digits: toPrecision's "8.00e+3" is read back as a number.
  assert.equal(formatNumber(8000), '8000');
  assert.equal(formatNumber(1234.5), '1230');
  assert.equal(formatNumber(-999.96), '-1000');
  assert.equal(formatNumber(123.456), '123');
  // A capped ratio never reads as a measured value: the large-model run gave "β=1000000".
  assert.equal(formatRatio(RATIO_CAP), '> 1e6');
  assert.equal(namedRatio('β', RATIO_CAP), 'β > 1e6');
  assert.equal(namedRatio('β', 65421), 'β=6.54e4');
  const capped = oscillatingGradientMessage({
    name: 'W1',
    metrics: { alpha: 0.76, beta: RATIO_CAP, relError: 1.16, correctedRelError: 4.5e-7, gradcheckRelError: 1e-4 },
    gradfix: 'none',
    correction: 'filter121',
    steps: 1024,
    decays: false,
    study: '',
  });
  assert.match(capped, /\(α=0\.76, β > 1e6\)/);
  assert.doesNotMatch(capped, /1000000/);
});

test('the CLI table, the hover and the metric columns show the same columns and the same numbers; α reads alike in a finding', async () => {
  const report = await runCheck(model(example('spiral.ode')), { backend });
  const cols = metricColumns(report);
  // The CLI table: name, shape, kind, then exactly the metric columns.
  const cli = metricsTableText(report)
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
  assert.deepEqual(
    cli[0].slice(3),
    cols.map((c) => c.label(report)),
  );
  // The hover's per-step table: the same labels and cells.
  const md = reportHoverMarkdown({ report, reportIsCurrent: true }).split('\n');
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const head = md.find((l) => l.startsWith('| per-step parameter'))!;
  assert.deepEqual(
    cells(head).slice(1),
    cols.map((c) => c.label(report)),
  );
  for (const p of report.parameters) {
    const expected = cols.map((c) => c.cell(p, report));
    assert.deepEqual(cli.find((r) => r[0] === p.name)!.slice(3, 3 + cols.length), expected, p.name);
    assert.deepEqual(cells(md.find((l) => l.startsWith(`| \`${p.name}\``))!).slice(1), expected, p.name);
  }
  // κ is a column wherever it is measured, "unresolved" a gradcheck cell wherever it applies: one list decides.
  assert.ok(!cols.some((c) => c.id === 'kappa'));
  // The α of W1 reads the same in its finding as in the table (it was "0.78" in one and "0.779" in the other).
  const w1 = report.parameters.find((p) => p.name === 'W1')!;
  const finding = report.findings.find((f) => f.code === 'oscillating-gradient' && f.parameter === 'W1')!;
  assert.ok(finding.message.includes(`α=${cols.find((c) => c.id === 'alpha')!.cell(w1, report)},`), finding.message);
  assert.ok(finding.message.includes(`β=${formatNumber(w1.metrics.beta)}`), finding.message);
});

test('a weakly stable scheme gets the same remedies before and after the check', async () => {
  const text = example('spiral.ode');
  const a = analyse(text);
  const staticDiagnostic = a.diagnostics.find((d) => d.code === 'weakly-stable')!;
  const report = await runCheck(a.model!, { backend });
  const measured = report.findings.find((f) => f.code === 'weakly-stable-scheme')!;
  assert.ok(
    staticDiagnostic.message.endsWith(weaklyStableRemedy({ gradfix: 'none', grad: 'ad' })),
    staticDiagnostic.message,
  );
  assert.ok(
    measured.message.endsWith(
      weaklyStableRemedy({
        gradfix: 'none',
        grad: 'ad',
        recommended: report.recommendedCorrection,
        correctedError: measured.metrics!.correctedRelError,
      }),
    ),
    measured.message,
  );
  for (const message of [staticDiagnostic.message, measured.message]) {
    assert.match(message, /gradfix=filter121/);
    assert.match(message, /grad=adjoint/);
    assert.match(message, /strongly stable scheme \(heun, rk4, ab2\)/);
  }
});

test('refinement orders: none between errors at float32 resolution', () => {
  const floor = FLOAT32_ERROR_FLOOR;
  // rk4 on spiral-rk4.ode: every level at the floor (the orders were −0.71 to 0.82).
  const rk4 = studyOrders([2.6e-6, 2.5e-6, 1.6e-6], floor);
  assert.ok(rk4.orders.every((o) => Number.isNaN(o)) && Number.isNaN(rk4.order), JSON.stringify(rk4));
  // filter121 on leapfrog: order 2 until the floor, measured up to the last level above it.
  const f = studyOrders([2.2e-5, 5.1e-6, 1.5e-6], floor);
  assert.ok(Math.abs(f.orders[0] - 2.1) < 0.05 && Number.isNaN(f.orders[1]), JSON.stringify(f));
  assert.ok(Math.abs(f.order - f.orders[0]) < 1e-12);
  // Errors that shrink well above the floor keep their orders.
  const big = studyOrders([1e-2, 2.5e-3, 6.25e-4], floor);
  assert.ok(Math.abs(big.order - 2) < 1e-9 && big.orders.every((o) => Math.abs(o - 2) < 1e-9));
});

test('spiral-rk4 study: no observed order and no correction offered where raw AD is already right', async () => {
  const report = await runCheck(model(example('spiral-rk4.ode')), { backend, refinement: true });
  assert.equal(report.recommendedCorrection, undefined);
  assert.equal(showsCorrection(report), false);
  assert.ok(!metricColumns(report).some((c) => c.id === 'corrected'));
  for (const p of report.parameters) {
    const r = p.refinement!;
    assert.ok(
      r.levels.every((l) => l.relError <= r.errorFloor),
      `${p.name}: ${JSON.stringify(r.levels)}`,
    );
    assert.ok(Number.isNaN(r.rawOrder) && r.rawOrders.every((o) => Number.isNaN(o)), JSON.stringify(r));
    assert.match(
      p.verdict!.explanation,
      /at float32 resolution \(≤ 3e-6\) at every step count, so no order is observed/,
    );
    assert.doesNotMatch(p.verdict!.explanation, /\(order /);
  }
  assert.doesNotMatch(reportHoverMarkdown({ report, reportIsCurrent: true }), /filter121/);
});

test('every relu unit dead: a vanishing gradient, not "raw error 0"', async () => {
  const report = await runCheck(model(mlp('relu', '-10')), { backend });
  for (const p of report.parameters) {
    assert.equal(p.metrics.vanishing, true, p.name);
    assert.equal(p.verdict?.kind, 'vanishing');
    assert.doesNotMatch(p.verdict!.explanation, /raw error/);
    assert.equal(
      metricColumns(report)
        .find((c) => c.id === 'raw')!
        .cell(p, report),
      'vanishing',
    );
  }
  const v = report.findings.filter((f) => f.code === 'vanishing-gradient');
  assert.equal(v.length, 3);
  assert.equal(v[0].severity, 'warning');
  assert.match(v[0].message, /exactly zero in every component/);
  assert.match(v[0].message, /relu unit/);
  assert.equal(report.verdict?.kind, 'vanishing');
  // Live units: no such finding.
  const live = await runCheck(model(mlp('relu', '0')), { backend });
  assert.ok(
    !live.findings.some((f) => f.code === 'vanishing-gradient'),
    JSON.stringify(live.findings.map((f) => f.message)),
  );
});

test('gradcheck-unresolved names the cause that applies: kinks, or sensitivity', () => {
  assert.deepEqual(nonSmoothOperations(model(mlp('relu', '0'))), ['relu']);
  assert.deepEqual(nonSmoothOperations(model(mlp('tanh', '0'))), []);
  const xpp = model(
    "state x\ninit x = 1\npar a = 1\nx' = if(x > a) then(-x) else(abs(x) - max(x, 0))\nloss = x(T)^2\ndone\n",
  );
  assert.deepEqual(nonSmoothOperations(xpp), ['if/then/else', "'>'", 'abs', 'max']);
  const base = { name: 'W1', relError: 0.4, step: 1e-3, resolution: 1e4, tooSmall: false };
  const kinked = gradcheckUnresolvedMessage({ ...base, kinks: ['relu'] });
  assert.match(kinked, /not smooth \(relu\)/);
  assert.match(kinked, /kink/);
  assert.doesNotMatch(kinked, /shorter total|chaotic/);
  const smooth = gradcheckUnresolvedMessage({ ...base, kinks: [] });
  assert.match(smooth, /\(chaotic or unstable dynamics\); a shorter total makes it checkable/);
  assert.match(
    smooth,
    /turning finite differences off \(the setting odeLens\.check\.finiteDifferences, odelens check --no-gradcheck\)/,
  );
});

test('gradcheck-unresolved after quotients that scatter names the two steps compared and their spread', () => {
  const base = { name: 'k', relError: 341, step: 2.5e-4, resolution: 1e5, tooSmall: false, kinks: [] };
  const scatter = { steps: [1e-3, 2.5e-4], spread: 231 };
  const plain = gradcheckUnresolvedMessage({ ...base, scatter });
  assert.match(plain, /do not settle as the step shrinks from 0\.001 to 2\.5e-4, and AD differs by 341 relative\./);
  assert.match(
    plain,
    /The two quotients differ by 231 relative to the coarser one, .* within 5 % .*, so none was taken\./,
  );
  // Without the scatter the ladder took three steps: ε = 16·step.
  assert.match(gradcheckUnresolvedMessage(base), /from 0\.004 to 2\.5e-4/);
  // After a step that moved a firing, the compared steps are the finer two.
  const moved = gradcheckUnresolvedMessage({
    ...base,
    scatter,
    firings: { steps: [4e-3, 1e-3, 2.5e-4], moved: 1 },
  });
  assert.match(
    moved,
    /at the finer steps that kept every firing, they do not settle as the step shrinks from 0\.001 to 2\.5e-4/,
  );
});

test('a relu model whose finite differences do not settle: the kinks are named as the cause', async () => {
  // relu(sin(2000·a·t)) at the stage times: the discrete loss has a kink every ~1e-4 in a, finer than the FD steps.
  const report = await runCheck(
    model(
      "state x\ninit x = 1\nparam a = 1\nx' = relu(sin(2000*a*t)) - x\nloss = x(T)^2\n@ total=1, steps=50, meth=rk4\ndone\n",
    ),
    { backend },
  );
  const f = report.findings.find((x) => x.code === 'gradcheck-unresolved');
  assert.ok(f, JSON.stringify(report.findings.map((x) => x.code)));
  assert.match(f.message, /not smooth \(relu\)/);
  assert.doesNotMatch(f.message, /shorter total|chaotic/);
  assert.match(report.parameters[0].verdict!.explanation, /cross the kinks of relu/);
});

test('a model without a loss is valid: the default loss as information, checked for exactly that loss', async () => {
  const text =
    '# classic XPPAUT\ndx/dt = -a*x + y\ndy/dt = -y\npar a=1\ninit x=1, y=0.5\n@ total=2, dt=0.05, meth=rungekutta\ndone\n';
  const a = analyse(text);
  assert.ok(a.model);
  assert.deepEqual(
    a.diagnostics.map((d) => [d.code, d.severity]),
    [['default-loss', 'information']],
  );
  assert.match(a.diagnostics[0].message, /^No loss declared: gradients are checked for ½‖x\(T\)‖²/);
  const report = await runCheck(a.model, { backend });
  assert.deepEqual(report.findings, []);
  // ½(x(T)² + y(T)²), the loss the message names.
  const withLoss = await runCheck(model(text.replace('done', 'loss = 0.5 * (x(T)^2 + y(T)^2)\ndone')), { backend });
  assert.ok(Math.abs(report.loss - withLoss.loss) <= 1e-6 * withLoss.loss, `${report.loss} vs ${withLoss.loss}`);
});

test('a report without metrics still renders every column cell', () => {
  const report = { parameters: [], gradfix: 'none', correction: 'filter121' } as unknown as Report;
  assert.deepEqual(
    metricColumns(report).map((c) => c.id),
    ['raw', 'gradcheck'],
  );
});
