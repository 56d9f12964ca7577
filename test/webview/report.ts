// A Report for the webview test: the engine's real one (runCheck on examples/spiral.ode,
// cpu backend, in the test process). Should the engine fail, a constructed report of the
// same shape is used instead and the reason is printed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCheck } from '../../solver/check';
import { analyse } from '../../solver/language/index';
import type { Model } from '../../solver/model';
import { REPORT_VERSION, type ParameterReport, type Report } from '../../solver/report';
import type { CheckOptions } from '../../solver/check';

export async function spiralReport(
  root: string,
  options: CheckOptions = {},
): Promise<{ report: Report; real: boolean }> {
  const model = analyse(readFileSync(join(root, 'examples', 'spiral.ode'), 'utf8')).model;
  if (!model) throw new Error('examples/spiral.ode does not analyse');
  try {
    return { report: await runCheck(model, { backend: 'cpu', timeBudgetMs: 60_000, ...options }), real: true };
  } catch (e) {
    console.log(`# runCheck failed (${e instanceof Error ? e.message : String(e)}); using a constructed report`);
    return { report: constructedReport(model), real: false };
  }
}

function constructedReport(model: Model): Report {
  const { steps: N, dt: h, t0 } = model.options;
  const parameters: ParameterReport[] = model.params.map((p, k) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const times = Array.from({ length: N }, (_, n) => t0 + n * h);
    const reference = times.map((t) =>
      Array.from({ length: size }, (_, j) => Math.sin(2 * t + j + k) * (1 + j / size)),
    );
    const raw = reference.map((row, n) => row.map((v) => v + (n % 2 ? 0.6 : -0.6) * Math.abs(v)));
    const corrected = reference.map((row) => row.map((v) => v * 1.002));
    return {
      name: p.name,
      shape: p.shape,
      perStep: p.perStep,
      range: p.range,
      layerTimes: times,
      raw,
      corrected,
      reference,
      oscillating: true,
      metrics: { alpha: 0.55, beta: 60, relError: 1.4, correctedRelError: 0.004, gradcheckRelError: 3e-4 },
    };
  });
  return {
    version: REPORT_VERSION,
    scheme: model.options.meth,
    steps: N,
    dt: h,
    t0,
    total: model.options.total,
    gradfix: model.options.gradfix,
    correction: 'filter121',
    backend: 'cpu',
    loss: 0.42,
    checkedParameters: { kind: 'seeded', source: `seed=${model.options.seed}`, names: model.params.map((p) => p.name) },
    referenceError: 1e-5,
    findings: [],
    parameters,
    timings: { totalMs: 120, adMs: 40, referenceMs: 50, finiteDifferenceMs: 30 },
  };
}
