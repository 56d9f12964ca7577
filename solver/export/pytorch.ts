// `odelens export --to pytorch`: a checked model as one self-contained Python module (PyTorch only) that
// runs the model's discrete network — its scheme with the start steps, one stacked nn.Parameter per
// per-step parameter, the seeded (or given) initial values, the loss — and applies the correction
// the model asks for to the gradients (correct_gradients, after backward()). The model part is
// generated here; the solver and the corrections are the fixed runtime (runtime.ts).
import type { Model } from '../model';
import { elementCount } from '../ops/shapes';
import { schemeOf, startSteps, type Scheme } from '../schemes/schemes';
import { parameterCopies } from '../schemes/copies';
import { correctionEdges, effectiveCorrection } from '../engine/layerAnalysis';
import { ExportError, pythonExpression, pythonNumber } from './pythonExpression';
import { PYTHON_RUNTIME } from './runtime';

export { ExportError } from './pythonExpression';

export interface ExportOptions {
  /** The model file as the user named it (in the module's docstring and saved parameters). */
  source: string;
  /** Parameter values in engine layout (copy n at offset n·P for per-step ones): seeded or trained. */
  values: Float32Array[];
  /** Where the values come from, for the docstring: "the seeded initialisation (seed=1)" or a file. */
  valuesFrom: string;
  /** The ODE Lens version that wrote it. */
  version: string;
}

/** A JSON-like value as a Python literal. */
function py(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) < 2 ** 53 ? String(v) : pythonNumber(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(py).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`)
    .join(', ')}}`;
}

/** The scheme as the runtime reads it. */
function schemeData(scheme: Scheme): Record<string, unknown> {
  if (scheme.kind === 'rk') return { kind: 'rk', ...scheme.tableau, tie: scheme.tie };
  return {
    kind: 'lmm',
    method: scheme.method,
    ramp: scheme.ramp,
    predictor: scheme.predictor ?? null,
    start: scheme.start.tableau,
    start_steps: startSteps(scheme),
  };
}

/** Steps of the flow loss's RK4 (engine/reference.ts: h when N ≥ 32, N even and layer times on the h-grid, else h/2). */
function flowSteps(model: Model, layerTimes: number[]): number {
  const { steps: N, dt: h, t0 } = model.options;
  const onHGrid =
    !model.params.some((p) => p.perStep) ||
    layerTimes.every((tn) => Math.abs((tn - t0) / h - Math.round((tn - t0) / h)) < 1e-6);
  return N >= 32 && N % 2 === 0 && onHGrid ? N : 2 * N;
}

/** Text for the module's docstring: one line, no closing quotes, no escapes. */
const docLine = (s: string) => s.split('\n')[0].replace(/\\/g, '/').replace(/"""/g, "'''");

/** Refuses what the generated module cannot run, naming the construct. */
function refuseUnsupported(model: Model): void {
  for (const s of model.states)
    if (s.shape.length > 2) throw new ExportError(`the state ${s.name} has rank above 2`, s.range);
}

/** The Python module (text) for a checked model. Throws ExportError for a construct it cannot write. */
export function exportPyTorch(model: Model, options: ExportOptions): string {
  refuseUnsupported(model);
  const scheme = schemeOf(model);
  const { steps: N, dt: h, t0, gradfix, seed } = model.options;
  const layout = parameterCopies(scheme, N, h, t0);
  const hasPerStep = model.params.some((p) => p.perStep);
  const shown = effectiveCorrection(gradfix, layout, hasPerStep).correction;
  const applied = gradfix === 'none' ? null : effectiveCorrection(gradfix, layout, hasPerStep).correction;
  const edges = correctionEdges(scheme);
  const rhsScope = { model, states: 'rhs' as const };
  const rhs = model.states.map((s) => {
    const eq = model.equations.find((q) => q.state === s.name);
    return eq ? `_conform(${pythonExpression(eq.rhs, rhsScope)}, ${py(s.shape)})` : `torch.zeros(${py(s.shape)})`;
  });
  const init = model.states.map((s) =>
    s.init
      ? `_conform(${pythonExpression(s.init, { model, states: 'none' })}, ${py(s.shape)})`
      : `torch.zeros(${py(s.shape)})`,
  );
  const loss = model.loss
    ? pythonExpression(model.loss.expr, { model, states: 'loss' })
    : `0.5 * (${model.states.map((_s, i) => `torch.sum(torch.square(xT[${i}]))`).join(' + ') || '_k(0.0)'})`;
  const initial = Object.fromEntries(
    model.params.map((p, i) => {
      const P = elementCount(p.shape);
      const rows = Array.from({ length: p.perStep ? layout.count : 1 }, (_, n) =>
        Array.from(options.values[i].subarray(n * P, (n + 1) * P)),
      );
      // The seeded copies are equal: one row and a count keep the module small.
      const equal = rows.every((r) => r.every((v, k) => v === rows[0][k]));
      return [p.name, p.perStep ? (equal ? { repeat: rows.length, row: rows[0] } : rows) : rows[0]];
    }),
  );
  const data = Object.fromEntries(model.data.map((d) => [d.name, { times: d.times, values: d.values }]));
  const lines = [
    `"""`,
    `${docLine(options.source)}: the discrete network of an ODE model, exported by ODE Lens ${options.version}.`,
    ``,
    `Scheme ${model.options.meth} (${scheme.kind === 'lmm' ? `started by ${startSteps(scheme)} start step(s) of ${scheme.start.name}` : `tie=${scheme.tie}`}), ${N} steps of h=${h} from t0=${t0};`,
    `${layout.count} copies per per-step parameter; parameters from ${docLine(options.valuesFrom)}.`,
    ...(model.options.grad === 'adjoint'
      ? [
          'grad=adjoint: this module takes AD gradients of the discrete network (the continuous adjoint stays in ODE Lens).',
        ]
      : []),
    `Needs PyTorch only. gradfix=${gradfix}: correct_gradients(model) applies ${applied ?? 'no correction'}`,
    `to the per-step parameters' gradients; call it after loss.backward() and before optimiser.step():`,
    ``,
    `    model = ODEModel()`,
    `    optimiser = torch.optim.SGD(model.parameters(), lr=0.2)`,
    `    for _ in range(200):`,
    `        optimiser.zero_grad()`,
    `        model().backward()          # the discrete loss; model([x0, ...]) averages over initial conditions`,
    `        correct_gradients(model)    # or correct_gradients(model, "filter121")`,
    `        optimiser.step()`,
    ``,
    `Under torch.distributed (DistributedDataParallel), call correct_gradients after backward():`,
    `filter121, average and stagesum are linear, so correcting the all-reduced gradient equals`,
    `all-reducing the corrected ones (adjoint121 reads this process's own adjoint).`,
    ``,
    `python3 this_file.py --gradients prints the loss and, per parameter, the raw and corrected`,
    `densities per copy (G_n / (h w_n)) as odelens check --json reports them; --train K runs train().`,
    `"""`,
    `import json`,
    `import math`,
    `import sys`,
    ``,
    `import torch`,
    `from torch import nn`,
    ``,
    `SOURCE = ${py(options.source)}`,
    `SCHEME_NAME = ${py(model.options.meth)}`,
    `T0 = ${pythonNumber(t0)}`,
    `H = ${pythonNumber(h)}`,
    `STEPS = ${N}`,
    `SEED = ${seed}`,
    `SCHEME = ${py(schemeData(scheme))}`,
    `# Per-step copies: their number, quadrature weights w_n and layer times (d_n = G_n / (h w_n)).`,
    `COPIES = ${layout.count}`,
    `WEIGHTS = ${py(layout.weights)}`,
    `LAYER_TIMES = ${py(layout.times)}`,
    `# The model's gradfix, what correct_gradients applies, and what --gradients shows (as odelens check).`,
    `GRADFIX = ${py(gradfix)}`,
    `CORRECTION = ${py(applied)}`,
    `REPORT_CORRECTION = ${py(shown)}`,
    `# End rows the across-layer corrections extrapolate (first, last).`,
    `EDGES = (${edges.first}, ${edges.last})`,
    `FLOW_STEPS = ${flowSteps(model, layout.times)}`,
    `STATES = ${py(model.states.map((s) => [s.name, s.shape]))}`,
    `# (name, shape, per-step)`,
    `PARAMS = ${py(model.params.map((p) => [p.name, p.shape, p.perStep]))}`,
    `# Per parameter: its values (per-step: one row per copy, or {"repeat": copies, "row": values}).`,
    `INITIAL = ${py(initial)}`,
    `DATA = ${py(data)}`,
    ``,
    ``,
    `def rhs(s, p, t):`,
    `    """f(x, theta, t): one tensor per state (s: states, p: parameters of one copy, t: time)."""`,
    `    return [${rhs.join(', ')}]`,
    ``,
    ``,
    `def initial_states():`,
    `    return [${init.join(', ')}]`,
    ``,
    ``,
    `def loss_of(xT, observed):`,
    `    """The loss of the final states xT (observed(data, i): state i at the observation times of data)."""`,
    `    return ${loss}`,
    ``,
  ];
  return `${lines.join('\n')}${PYTHON_RUNTIME}`;
}
