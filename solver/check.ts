// runCheck: the engine's one entry point. Solves the model's discrete network,
// takes AD gradients through the unrolled solve, compares them with the
// continuous reference and with finite differences, runs the oscillation
// detector (DESIGN 1.4) and the filter121 correction (1.3), and returns the
// typed Report (solver/report.ts).
import type { Diagnostic, Model, ParamDecl, Range } from './model';
import { findOption } from './model';
import type { Finding, ParameterMetrics, ParameterReport, Report } from './report';
import { initBackend, type BackendPreference, type TF, type Tensor } from './engine/backend';
import { compileModel, CompileError, evalConstant, internalShape, sizeOf, type CompiledModel } from './engine/compile';
import { Rng } from './engine/random';
import { solveDiscrete } from './engine/integrate';
import { continuousReference } from './engine/reference';
import { detectOscillation, filter121, relError, rows } from './engine/detect';
import { copyWeights, layerTimes, schemeByName, type Scheme } from './schemes/schemes';

export interface CheckOptions {
  backend?: BackendPreference;
  signal?: AbortSignal;
  timeBudgetMs?: number;
  /**
   * Parameter values to check instead of the seeded initialisation (e.g. after
   * training): one Float32Array per model.params entry, row-major, N×P for
   * per-step parameters (copy n at offset n·P), P for shared ones.
   */
  parameterValues?: Float32Array[];
}

/** Size limits of one check (per-step copies count N times; the reference keeps up to 4 interpolated copies). */
export const MAX_CHECK_STEPS = 100_000;
export const MAX_CHECK_ELEMENTS = 10_000_000;

/** Relative gradcheck mismatch above which a warning is raised. */
export const GRADCHECK_TOLERANCE = 0.05;

function namedError(name: 'CheckCancelled' | 'CheckTimeout', message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Initial parameter values in internal order: per-step N×P (all copies equal at init), shared P. */
export function initialParameters(tf: TF, model: Model): Float32Array[] {
  const rng = new Rng(model.options.seed);
  const N = model.options.steps;
  return model.params.map((p) => {
    const P = sizeOf(p.shape);
    const one = p.init.kind === 'normal' ? rng.normals(P, p.init.mean, p.init.std) : evalConstant(tf, p.init.value, p.shape);
    if (!p.perStep) return one;
    const all = new Float32Array(N * P);
    for (let n = 0; n < N; n++) all.set(one, n * P);
    return all;
  });
}

interface ParamTensors { copies: Tensor[][]; flat: Tensor[] }

function makeTensors(tf: TF, model: Model, values: Float32Array[]): ParamTensors {
  const N = model.options.steps;
  const copies = model.params.map((p, i) => {
    const shape = internalShape(p.shape);
    const P = sizeOf(p.shape);
    const count = p.perStep ? N : 1;
    return Array.from({ length: count }, (_, n) => tf.tensor(values[i].subarray(n * P, (n + 1) * P), shape));
  });
  return { copies, flat: copies.flat() };
}

function paramsFor(model: Model, copies: Tensor[][]) {
  const per = model.params.map((p) => p.perStep);
  return (n: number): Tensor[] => copies.map((c, i) => (per[i] ? c[n] : c[0]));
}

function discreteLoss(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, copies: Tensor[][]): Tensor {
  const { steps: N, dt: h, t0 } = model.options;
  const at = paramsFor(model, copies);
  const traj = solveDiscrete(tf, cm, scheme, N, h, t0, (n) => at(n));
  return cm.loss(traj[traj.length - 1]);
}

/** First step whose state is not finite (re-solves without a tape; only on the failure path). */
function locateBlowUp(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, copies: Tensor[][]): { step: number; state: number } | undefined {
  return tf.tidy(() => {
    const { steps: N, dt: h, t0 } = model.options;
    const at = paramsFor(model, copies);
    const traj = solveDiscrete(tf, cm, scheme, N, h, t0, (n) => at(n));
    const sums = tf.stack(traj.map((xs) => tf.stack(xs.map((x) => tf.sum(tf.abs(x)))))).dataSync();
    const S = cm.x0.length;
    for (let n = 0; n < traj.length; n++) for (let k = 0; k < S; k++) if (!Number.isFinite(sums[n * S + k])) return { step: n, state: k };
    return undefined;
  });
}

/** Loss and AD gradients (per parameter, row-major over its copies) of the discrete solve. */
function adGradients(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, pt: ParamTensors, sizes: number[]): { loss: number; G: Float32Array[] } {
  let loss = NaN;
  // Results leave the tidy through the closure: returning the Float32Arrays
  // from tf.tidy would make it walk every element looking for tensors.
  const G: Float32Array[] = model.params.map((_p, i) => new Float32Array(pt.copies[i].length * sizes[i]));
  tf.tidy(() => {
    const { value, grads } = tf.engine().gradients(() => discreteLoss(tf, cm, scheme, model, pt.copies), pt.flat, undefined, true);
    loss = value.dataSync()[0];
    let k = 0;
    model.params.forEach((_p, i) => {
      const count = pt.copies[i].length, P = sizes[i];
      for (let n = 0; n < count; n++, k++) {
        const g = grads[k];
        if (g) G[i].set(g.dataSync(), n * P);
      }
    });
  });
  return { loss, G };
}

/** Per-step copies re-sampled at other layer times by linear interpolation (linear extrapolation at the ends). */
function resample(values: Float32Array, P: number, from: number[], to: number[]): Float32Array {
  const N = from.length;
  const out = new Float32Array(to.length * P);
  to.forEach((t, m) => {
    let i = 0;
    if (N > 1) {
      while (i < N - 2 && from[i + 1] <= t) i++;
    }
    const w = N > 1 ? (t - from[i]) / (from[i + 1] - from[i]) : 0;
    for (let k = 0; k < P; k++) {
      const a = values[i * P + k];
      const b = N > 1 ? values[(i + 1) * P + k] : a;
      out[m * P + k] = (1 - w) * a + w * b;
    }
  });
  return out;
}

/** Largest N for which a flagged oscillation is confirmed at 2N (an extra AD pass at 2N steps). */
export const MAX_REFINEMENT_STEPS = 512;

function zeroMetrics(): ParameterMetrics {
  return { alpha: 0, beta: 0, relError: 0, correctedRelError: 0, gradcheckRelError: 0 };
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 0.01 || a === 0) return x.toFixed(2);
  return x.toExponential(1);
}

function optionsRange(model: Model): Range | undefined {
  return findOption(model, 'meth')?.valueRange ?? model.optionLines[0]?.range ?? model.params[0]?.range ?? model.states[0]?.range;
}

const ORIGIN: Range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

export async function runCheck(model: Model, options: CheckOptions = {}): Promise<Report> {
  const started = performance.now();
  const deadline = options.timeBudgetMs !== undefined ? started + options.timeBudgetMs : Infinity;
  const checkpoint = () => {
    if (options.signal?.aborted) throw namedError('CheckCancelled', 'gradient check cancelled');
    if (performance.now() > deadline) throw namedError('CheckTimeout', `gradient check exceeded its time budget of ${options.timeBudgetMs} ms`);
  };
  const phase = async () => { await tick(); checkpoint(); };

  checkpoint();
  const { tf, backend } = await initBackend(options.backend ?? 'auto');
  const opt = model.options;
  const N = opt.steps, h = opt.dt, t0 = opt.t0;
  const scheme = schemeByName(opt.meth);
  const correction = 'filter121' as const;
  const timings = { totalMs: 0, adMs: 0, referenceMs: 0, finiteDifferenceMs: 0 };
  const findings: Finding[] = [];
  const base = {
    version: 1 as const, scheme: opt.meth, steps: N, dt: h, t0, total: opt.total, gradfix: opt.gradfix, correction, backend,
  };
  const finish = (rest: Pick<Report, 'loss' | 'referenceError' | 'parameters'>): Report => {
    timings.totalMs = performance.now() - started;
    return { ...base, ...rest, findings, timings };
  };
  const emptyReport = (loss: number) => finish({ loss, referenceError: 0, parameters: [] });

  if (!(N >= 1) || !(h > 0) || !Number.isFinite(h)) {
    findings.push({ code: 'invalid-options', severity: 'error', message: `cannot solve with steps=${N} and dt=${h}`, range: optionsRange(model) ?? ORIGIN });
    return emptyReport(NaN);
  }

  const elements = model.params.reduce((acc, p) => acc + sizeOf(p.shape) * (p.perStep ? N : 1), 0);
  if (N > MAX_CHECK_STEPS || elements > MAX_CHECK_ELEMENTS) {
    findings.push({
      code: 'model-too-large', severity: 'error',
      message: `Too large for a background gradient check: ${N} steps and ${elements} parameter values (limits ${MAX_CHECK_STEPS} steps, ${MAX_CHECK_ELEMENTS} values).`,
      range: optionsRange(model) ?? ORIGIN,
    });
    return emptyReport(NaN);
  }

  let compiled: CompiledModel;
  let defaultLoss: boolean;
  try {
    ({ compiled, defaultLoss } = compileModel(tf, model));
  } catch (err) {
    if (err instanceof CompileError) {
      findings.push({ code: err.code, severity: 'error', message: err.message, range: err.range });
      return emptyReport(NaN);
    }
    throw err;
  }
  const cm = compiled;
  let tensors: ParamTensors | undefined;
  try {
    if (defaultLoss) {
      findings.push({
        code: 'default-loss', severity: 'information',
        message: 'No loss is declared: gradients are checked for ½‖x(T)‖².',
        range: model.states[0]?.range ?? optionsRange(model) ?? ORIGIN,
      });
    }
    const values = options.parameterValues ?? initialParameters(tf, model);
    model.params.forEach((p, i) => {
      const want = (p.perStep ? N : 1) * sizeOf(p.shape);
      if (values[i]?.length !== want) throw new Error(`parameterValues[${i}] (${p.name}) has ${values[i]?.length} values, expected ${want}`);
    });
    const pt = makeTensors(tf, model, values);
    tensors = pt;
    const sizes = model.params.map((p) => sizeOf(p.shape));
    const taus = layerTimes(scheme, t0, h, N);
    if (model.params.length === 0) {
      // Nothing to differentiate: solve and report the loss only.
      let loss = NaN;
      tf.tidy(() => { loss = discreteLoss(tf, cm, scheme, model, []).dataSync()[0]; });
      if (!Number.isFinite(loss)) {
        const where = locateBlowUp(tf, cm, scheme, model, []);
        const state = where ? model.states[where.state] : undefined;
        findings.push({
          code: 'blow-up', severity: 'error',
          message: where && state ? `The solution blows up: ${state.name} is not finite at step ${where.step} (t = ${fmt(t0 + where.step * h)}) with ${opt.meth}, dt=${fmt(h)}.` : 'The loss is not finite.',
          range: (state && model.equations.find((e) => e.state === state.name)?.range) ?? optionsRange(model) ?? ORIGIN,
        });
      }
      return emptyReport(loss);
    }
    const weights = copyWeights(scheme, N);

    // ---- AD through the unrolled solve ----
    await phase();
    let t = performance.now();
    const { loss, G } = adGradients(tf, cm, scheme, model, pt, sizes);
    timings.adMs = performance.now() - t;

    const blowUp = (what: string): Report => {
      const where = locateBlowUp(tf, cm, scheme, model, pt.copies);
      if (where) {
        const state = model.states[where.state];
        const eq = model.equations.find((e) => e.state === state.name);
        const time = t0 + where.step * h;
        findings.push({
          code: 'blow-up', severity: 'error',
          message: `The solution blows up: ${state.name} is not finite at step ${where.step} (t = ${fmt(time)}) with ${opt.meth}, dt=${fmt(h)}. Reduce dt or check the model's scaling.`,
          range: eq?.range ?? optionsRange(model) ?? ORIGIN,
        });
      } else {
        findings.push({ code: 'blow-up', severity: 'error', message: `The ${what} is not finite (the states stay finite).`, range: model.loss?.range ?? optionsRange(model) ?? ORIGIN });
      }
      return emptyReport(loss);
    };
    if (!Number.isFinite(loss)) return blowUp('loss');
    for (let i = 0; i < G.length; i++) {
      if (!G[i].every(Number.isFinite)) {
        findings.push({ code: 'blow-up', severity: 'error', message: `The AD gradient of ${model.params[i].name} is not finite.`, range: model.params[i].range });
        return emptyReport(loss);
      }
    }

    // Densities d_n = G_n / (h w_n) (per-step) or the total gradient (shared).
    const D = model.params.map((p, i) => {
      if (!p.perStep) return G[i];
      const P = sizes[i];
      const d = new Float32Array(N * P);
      for (let n = 0; n < N; n++) {
        const s = 1 / (h * weights[n]);
        for (let k = 0; k < P; k++) d[n * P + k] = G[i][n * P + k] * s;
      }
      return d;
    });

    // ---- Continuous reference ----
    await phase();
    t = performance.now();
    const ref = continuousReference(tf, cm, {
      N, h, t0, layerTimes: taus,
      params: model.params.map((p, i) => ({ perStep: p.perStep, values: values[i], shape: internalShape(p.shape), size: sizes[i] })),
    }, checkpoint);
    timings.referenceMs = performance.now() - t;

    // ---- Finite differences (gradcheck) ----
    await phase();
    t = performance.now();
    const gradcheck = finiteDifferenceCheck(tf, cm, scheme, model, values, G, pt.copies);
    timings.finiteDifferenceMs = performance.now() - t;
    await phase();

    // ---- Detector, correction, metrics, findings ----
    const parameters: ParameterReport[] = model.params.map((p, i) => {
      const P = sizes[i];
      const metrics = zeroMetrics();
      metrics.gradcheckRelError = gradcheck[i];
      if (!p.perStep) {
        metrics.relError = relError(D[i], ref.g[i]);
        metrics.correctedRelError = metrics.relError;
        const row = [Array.from(D[i])];
        return { name: p.name, shape: p.shape, perStep: false, range: p.range, metrics, layerTimes: [], raw: row, corrected: row, reference: [Array.from(ref.g[i])], oscillating: false };
      }
      const corrected = filter121(D[i], N, P);
      const det = detectOscillation(opt.gradfix === 'filter121' ? corrected : D[i], N, P);
      metrics.alpha = det.alpha;
      metrics.beta = det.beta;
      metrics.relError = relError(D[i], ref.g[i]);
      metrics.correctedRelError = relError(corrected, ref.g[i]);
      return {
        name: p.name, shape: p.shape, perStep: true, range: p.range, metrics, layerTimes: taus,
        raw: rows(D[i], N, P), corrected: rows(corrected, N, P), reference: rows(ref.g[i], N, P), oscillating: det.oscillating,
      };
    });

    const flagged = parameters.filter((p) => p.oscillating);

    // Confirm by refinement (DESIGN 1.4): α at 2N. A constant α means the
    // oscillation does not vanish with h; a halving α means an O(h) effect.
    if (flagged.length > 0 && N <= MAX_REFINEMENT_STEPS) {
      await phase();
      t = performance.now();
      const N2 = 2 * N;
      const model2: Model = { ...model, options: { ...opt, steps: N2, dt: h / 2 } };
      const taus2 = layerTimes(scheme, t0, h / 2, N2);
      const values2 = model.params.map((p, i) => (p.perStep ? resample(values[i], sizes[i], taus, taus2) : values[i]));
      const pt2 = makeTensors(tf, model2, values2);
      try {
        const { G: G2 } = adGradients(tf, cm, scheme, model2, pt2, sizes);
        const w2 = copyWeights(scheme, N2);
        for (const p of flagged) {
          const i = model.params.findIndex((q) => q.name === p.name);
          const P = sizes[i];
          const d2 = new Float32Array(N2 * P);
          for (let n = 0; n < N2; n++) for (let k = 0; k < P; k++) d2[n * P + k] = G2[i][n * P + k] * (2 / (h * w2[n]));
          const det2 = detectOscillation(opt.gradfix === 'filter121' ? filter121(d2, N2, P) : d2, N2, P);
          p.metrics.refinedAlpha = det2.alpha;
        }
      } finally {
        tf.dispose(pt2.flat);
      }
      timings.adMs += performance.now() - t;
    }
    for (const p of flagged) {
      const m = p.metrics;
      const fix = opt.gradfix === 'filter121'
        ? `even after filter121 (corrected error ${fmt(m.correctedRelError)})`
        : `filter121 would give ${fmt(m.correctedRelError)}`;
      findings.push({
        code: 'oscillating-gradient', severity: 'warning', parameter: p.name, metrics: m, range: p.range,
        message: `AD gradient of ${p.name} oscillates from layer to layer (α=${fmt(m.alpha)}, β=${fmt(m.beta)}): relative error ${fmt(m.relError)} against the continuous gradient; ${fix}.` +
          (m.refinedAlpha !== undefined ? ` With ${2 * N} steps α=${fmt(m.refinedAlpha)}.` : ''),
      });
    }
    if (flagged.length > 0 && scheme.kind === 'leapfrog') {
      const worst = flagged.reduce((a, b) => (b.metrics.relError > a.metrics.relError ? b : a));
      const m = worst.metrics;
      findings.push({
        code: 'weakly-stable-scheme', severity: 'warning', parameter: worst.name, metrics: m,
        range: optionsRange(model) ?? worst.range,
        message:
          `leapfrog is weakly stable (parasitic root −1): AD adjoints oscillate with period 2 and this does not vanish as h → 0. ` +
          `Measured on ${flagged.map((p) => p.name).join(', ')}: α=${fmt(m.alpha)}, β=${fmt(m.beta)}, relative error ${fmt(m.relError)} (${worst.name})` +
          (m.refinedAlpha !== undefined ? `; α=${fmt(m.refinedAlpha)} again with ${2 * N} steps. ` : '. ') +
          (opt.gradfix === 'filter121' ? 'filter121 is already on and does not remove it.' : `Set gradfix=filter121 (error ${fmt(m.correctedRelError)}) or use a strongly stable scheme (heun, rk4).`),
      });
    }
    parameters.forEach((p) => {
      if (p.metrics.gradcheckRelError > GRADCHECK_TOLERANCE) {
        findings.push({
          code: 'gradcheck-mismatch', severity: 'warning', parameter: p.name, metrics: p.metrics, range: p.range,
          message: `AD gradient of ${p.name} disagrees with finite differences of the discrete loss (relative difference ${fmt(p.metrics.gradcheckRelError)}).`,
        });
      }
    });
    if (ref.nonFinite) {
      findings.push({ code: 'blow-up', severity: 'error', message: 'The accurate reference solve (RK4, step dt/2) blows up.', range: optionsRange(model) ?? ORIGIN });
    }
    return finish({ loss, referenceError: ref.referenceError, parameters });
  } finally {
    if (tensors) tf.dispose(tensors.flat);
    cm.dispose();
  }
}

/**
 * Central differences of the discrete loss, one direction per parameter
 * tensor (all its copies): v = r + G/rms(G) with r a seeded standard normal,
 * so v tests both a random direction and the AD gradient's own direction
 * (where the float32 signal is largest). Step: ε = 1e-3·max(rms θ, 1) per
 * unit-rms component. Returns |fd − ⟨G, v⟩| / |fd| per tensor.
 */
export function finiteDifferenceCheck(tf: TF, cm: CompiledModel, scheme: Scheme, model: Model, values: Float32Array[], G: Float32Array[], current?: Tensor[][]): number[] {
  const rng = new Rng((model.options.seed ^ 0x5eed1e55) >>> 0);
  const N = model.options.steps;
  const lossAt = (i: number, v: Float32Array, eps: number): [number, number] => {
    const out: number[] = [];
    const base = values[i];
    for (const sgn of [1, -1]) {
      const moved = new Float32Array(base.length);
      const step = sgn * eps;
      for (let k = 0; k < moved.length; k++) moved[k] = base[k] + step * v[k];
      tf.tidy(() => {
        const copies = model.params.map((p, j) => {
          if (j !== i && current) return current[j]; // unperturbed: reuse the live tensors
          const shape = internalShape(p.shape);
          const P = sizeOf(p.shape);
          const count = p.perStep ? N : 1;
          const vals = j === i ? moved : values[j];
          return Array.from({ length: count }, (_, n) => tf.tensor(vals.subarray(n * P, (n + 1) * P), shape));
        });
        out.push(discreteLoss(tf, cm, scheme, model, copies).dataSync()[0]);
      });
    }
    return [out[0], out[1]];
  };
  return model.params.map((_p, i) => {
    const g = G[i];
    const n = g.length;
    const rms = (a: ArrayLike<number>) => { let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * a[k]; return Math.sqrt(s / Math.max(1, a.length)); };
    const gr = rms(g);
    const r = rng.normals(n);
    const dirs: Float32Array[] = [gr > 0 ? Float32Array.from(r, (x, k) => (x + g[k] / gr) / Math.SQRT2) : r];
    const eps = 1e-3 * Math.max(rms(values[i]), 1);
    let num = 0, den = 0;
    for (const v of dirs) {
      const [lp, lm] = lossAt(i, v, eps);
      const fd = (lp - lm) / (2 * eps);
      let ad = 0;
      for (let k = 0; k < n; k++) ad += g[k] * v[k];
      num += (fd - ad) ** 2;
      den += fd * fd;
    }
    if (!Number.isFinite(num)) return 1e6;
    return den > 0 ? Math.min(Math.sqrt(num / den), 1e6) : num > 0 ? 1 : 0;
  });
}

export type { Diagnostic, ParamDecl };
