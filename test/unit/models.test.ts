// The example models in examples/models/: each analyses without error,
// simulates with its own scheme, and matches an independent float64
// reference (an exact solution where one exists, otherwise classic RK4 with
// many substeps per model step, hand-coded right-hand sides below), then
// passes the gradient check without an error finding.
//
// Comparison: at steps N/4, N/2, 3N/4 and N, every component must satisfy
// |engine − reference| ≤ tol · scale, scale = the component's largest |value|
// over the reference trajectory (so a component crossing zero is judged
// against its own size). Each model's steps are chosen so that its scheme's
// error is below tol; the rest of the budget is float32 round-off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Analysis, AnalysisContext, Model } from '../../solver/model';
import { analyse } from '../../solver/language';
import { simulate } from '../support/simulate';
import { initBackend } from '../../solver/engine/backend';
import { runCheck } from '../../solver/check';
import { initialParameters } from '../../solver/engine/parameters';

const backend = 'cpu' as const;
// The bundle runs from out/test/unit (or a temporary folder): look for examples/ above it, then in the working directory.
const MODELS =
  [
    resolve(__dirname, '../../../examples/models'),
    resolve(__dirname, '../../examples/models'),
    resolve(process.cwd(), 'examples/models'),
  ].find((d) => existsSync(join(d, 'lorenz.ode'))) ?? resolve(process.cwd(), 'examples/models');

type Rhs = (t: number, y: number[], step: number) => number[];
/** The parameter values of the run, in model.params order (row-major, N×P for per-step). */
type Values = Float32Array[];

interface Case {
  file: string;
  /** Relative tolerance (see the header). */
  tol: number;
  y0?: number[];
  /** Right-hand side for the substepped RK4 reference; `step` is the model step the time lies in. */
  rhs?: (v: Values, m: Model) => Rhs;
  /** Exact state after `step` model steps (alternative to rhs). */
  exact?: (v: Values, m: Model) => (step: number) => number[];
  /** RK4 substeps per model step for the reference. */
  sub?: number;
  /** Give per-step parameters a smooth variation across steps (so copy n really is used at step n). */
  vary?: boolean;
  /** Extra assertions on the engine's trajectory (row per step, states concatenated). */
  extra?: (traj: number[][], m: Model) => void;
}

// ---- float64 helpers ----
const matvec = (W: ArrayLike<number>, off: number, rows: number, cols: number, x: number[]) =>
  Array.from({ length: rows }, (_, i) => {
    let s = 0;
    for (let j = 0; j < cols; j++) s += W[off + i * cols + j] * x[j];
    return s;
  });

function rk4Reference(f: Rhs, y0: number[], t0: number, h: number, N: number, sub: number): number[][] {
  const out = [y0.slice()];
  let y = y0.slice();
  const k = h / sub;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < sub; s++) {
      const t = t0 + n * h + s * k;
      const add = (a: number[], b: number[], c: number) => a.map((x, i) => x + c * b[i]);
      const k1 = f(t, y, n),
        k2 = f(t + k / 2, add(y, k1, k / 2), n),
        k3 = f(t + k / 2, add(y, k2, k / 2), n),
        k4 = f(t + k, add(y, k3, k), n);
      y = y.map((x, i) => x + (k / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]));
    }
    out.push(y.slice());
  }
  return out;
}

/** A shared or per-step MLP layer reader: copy n of parameter i. */
const copy = (v: Values, m: Model, name: string, n: number) => {
  const i = m.params.findIndex((p) => p.name === name);
  assert.ok(i >= 0, `parameter ${name}`);
  const P = m.params[i].shape.reduce((a, b) => a * b, 1);
  return v[i].subarray(m.params[i].perStep ? n * P : 0, (m.params[i].perStep ? n * P : 0) + P);
};

// ---- the cases ----
const vtrap = (x: number, y: number) => (Math.abs(x / y) < 1e-6 ? y * (1 - x / y / 2) : x / (Math.exp(x / y) - 1));

const CASES: Case[] = [
  {
    file: 'fitzhugh-nagumo.ode',
    tol: 1e-3,
    sub: 16,
    y0: [-1, 1],
    rhs:
      () =>
      (_t, [v, w]) => [v - v ** 3 / 3 - w + 0.5, 0.08 * (v + 0.7 - 0.8 * w)],
  },
  {
    // Chaotic: round-off grows like exp(0.9 t); at T = 1.5 that is ×4.
    file: 'lorenz.ode',
    tol: 1e-3,
    sub: 16,
    y0: [1, 1, 20],
    rhs:
      () =>
      (_t, [x, y, z]) => [10 * (y - x), x * (28 - z) - y, x * y - 2.6666667 * z],
  },
  {
    file: 'morris-lecar.ode',
    tol: 1e-3,
    sub: 16,
    y0: [-60, 0.015],
    rhs:
      () =>
      (_t, [v, w]) => {
        const minf = 0.5 * (1 + Math.tanh((v + 1.2) / 18)),
          winf = 0.5 * (1 + Math.tanh((v - 2) / 30));
        const tauw = 1 / Math.cosh((v - 2) / 60);
        return [(90 - 2 * (v + 60) - 4.4 * minf * (v - 120) - 8 * w * (v + 84)) / 20, (0.04 * (winf - w)) / tauw];
      },
  },
  {
    file: 'hodgkin-huxley.ode',
    tol: 1e-3,
    sub: 16,
    y0: [-65, 0.053, 0.596, 0.318],
    rhs:
      () =>
      (_t, [v, m, h, n]) => {
        const am = 0.1 * vtrap(-(v + 40), 10),
          bm = 4 * Math.exp(-(v + 65) / 18);
        const ah = 0.07 * Math.exp(-(v + 65) / 20),
          bh = 1 / (1 + Math.exp(-(v + 35) / 10));
        const an = 0.01 * vtrap(-(v + 55), 10),
          bn = 0.125 * Math.exp(-(v + 65) / 80);
        return [
          10 - 120 * m ** 3 * h * (v - 50) - 36 * n ** 4 * (v + 77) - 0.3 * (v + 54.4),
          am * (1 - m) - bm * m,
          ah * (1 - h) - bh * h,
          an * (1 - n) - bn * n,
        ];
      },
  },
  {
    file: 'lotka-volterra.ode',
    tol: 1e-3,
    sub: 16,
    y0: [10, 10],
    rhs:
      () =>
      (_t, [x, y]) => [1.1 * x - 0.4 * x * y, -0.4 * y + 0.1 * x * y],
    extra: (traj) => {
      // The conserved quantity of the exact flow, along the engine's trajectory.
      const V = ([x, y]: number[]) => 0.1 * x - 0.4 * Math.log(x) + 0.4 * y - 1.1 * Math.log(y);
      const v0 = V(traj[0]);
      const drift = Math.max(...traj.map((r) => Math.abs(V(r) - v0)));
      assert.ok(drift <= 1e-3 * Math.abs(v0), `Lotka–Volterra invariant drifts by ${drift} (V0 = ${v0})`);
    },
  },
  {
    file: 'pendulum.ode',
    tol: 1e-3,
    sub: 8,
    y0: [2, 0],
    rhs:
      () =>
      (_t, [th, om]) => [om, -9.81 * Math.sin(th) - 0.3 * om],
  },
  {
    file: 'harmonic.ode',
    tol: 1e-3,
    exact: (_v, m) => (n) => {
      const t = n * m.options.dt,
        w0 = 2,
        zeta = 0.1,
        a = zeta * w0,
        wd = w0 * Math.sqrt(1 - zeta * zeta);
      const x0 = 1,
        v0 = 0,
        B = (v0 + a * x0) / wd,
        e = Math.exp(-a * t);
      const x = e * (x0 * Math.cos(wd * t) + B * Math.sin(wd * t));
      return [x, -a * x + e * (-x0 * wd * Math.sin(wd * t) + B * wd * Math.cos(wd * t))];
    },
  },
  {
    file: 'vanderpol.ode',
    tol: 1e-3,
    sub: 16,
    y0: [0.5, 0],
    rhs:
      () =>
      (_t, [x, v]) => [v, (1 - x * x) * v - x],
  },
  {
    file: 'neural-perstep.ode',
    tol: 1e-3,
    sub: 16,
    y0: [1, 0.5],
    vary: true,
    rhs: (v, m) => (_t, x, n) => {
      const W1 = copy(v, m, 'W1', n),
        b1 = copy(v, m, 'b1', n),
        W2 = copy(v, m, 'W2', n);
      const hdn = matvec(W1, 0, 8, 2, x).map((s, i) => Math.tanh(s + b1[i]));
      return matvec(W2, 0, 2, 8, hdn);
    },
  },
  {
    file: 'neural-shared.ode',
    tol: 1e-3,
    sub: 8,
    y0: [0, 1],
    rhs: (v, m) => {
      const W1 = copy(v, m, 'W1', 0),
        c = copy(v, m, 'c', 0),
        b1 = copy(v, m, 'b1', 0),
        W2 = copy(v, m, 'W2', 0);
      return (t, x) => {
        const hdn = matvec(W1, 0, 16, 2, x).map((s, i) => Math.tanh(s + c[i] * t + b1[i]));
        return matvec(W2, 0, 2, 16, hdn).map((s, i) => s - 0.1 * x[i]);
      };
    },
  },
  {
    file: 'neural-data.ode',
    tol: 1e-3,
    sub: 16,
    y0: [2, 0],
    rhs: (v, m) => {
      const W1 = copy(v, m, 'W1', 0),
        b1 = copy(v, m, 'b1', 0),
        W2 = copy(v, m, 'W2', 0);
      return (_t, x) =>
        matvec(
          W2,
          0,
          2,
          16,
          matvec(W1, 0, 16, 2, x).map((s, i) => Math.tanh(s + b1[i])),
        );
    },
  },
  {
    // Exact flow of h' = A_n h + c_n on each step: exp of the augmented matrix [[A, c], [0, 0]].
    file: 'resnet-linear.ode',
    tol: 1e-3,
    vary: true,
    exact: (v, m) => {
      const h = m.options.dt,
        N = m.options.steps;
      const states: number[][] = [[1, 0, -1]];
      for (let n = 0; n < N; n++) {
        const A = copy(v, m, 'A', n),
          c = copy(v, m, 'c', n);
        const M = [0, 1, 2, 3].map((i) =>
          [0, 1, 2, 3].map((j) => (i === 3 ? 0 : j === 3 ? c[i] * h : A[i * 3 + j] * h)),
        );
        const x = [...states[n], 1];
        let term = x.slice(),
          acc = x.slice();
        for (let k = 1; k < 20; k++) {
          term = M.map((row) => row.reduce((s, mij, j) => s + mij * term[j], 0) / k);
          acc = acc.map((a, i) => a + term[i]);
        }
        states.push(acc.slice(0, 3));
      }
      return (n) => states[n];
    },
  },
];

/** Per-step copies varied smoothly across steps, seeded values otherwise. */
function runValues(m: Model, base: Float32Array[], vary: boolean): Values {
  const N = m.options.steps;
  return m.params.map((p, i) => {
    if (!vary || !p.perStep) return base[i];
    const P = base[i].length / N;
    return Float32Array.from(
      base[i],
      (x, j) => x + 0.3 * Math.sin((2 * Math.PI * Math.floor(j / P)) / N + 0.7 * (j % P)),
    );
  });
}

const readModel = (file: string): { text: string; analysis: Analysis } => {
  const path = join(MODELS, file);
  const text = readFileSync(path, 'utf8');
  const ctx: AnalysisContext = { documentPath: path, workspaceRoot: MODELS };
  return { text, analysis: analyse(text, ctx) };
};

for (const c of CASES) {
  test(`models/${c.file}: analyses, simulates and matches the reference (tol ${c.tol})`, async (t) => {
    const { analysis } = readModel(c.file);
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(
      errors.map((d) => `${d.range.start.line + 1}: ${d.message}`),
      [],
    );
    const m = analysis.model!;
    assert.ok(m, 'a model');
    const { tf } = await initBackend(backend);
    const values = runValues(m, initialParameters(tf, m), c.vary ?? false);

    const traj = await simulate(m, { backend, parameterValues: values });
    const N = m.options.steps,
      h = m.options.dt;
    assert.equal(traj.times.length, N + 1);
    assert.ok(Math.abs(traj.times[N] - (m.options.t0 + m.options.total)) < 1e-9);
    const rows = traj.times.map((_x, n) => m.states.flatMap((s) => traj.states[s.name][n]));

    let ref: (n: number) => number[];
    if (c.exact) ref = c.exact(values, m);
    else {
      const all = rk4Reference(c.rhs!(values, m), c.y0!, m.options.t0, h, N, c.sub ?? 16);
      ref = (n) => all[n];
    }
    const dim = rows[0].length;
    const scale = Array.from({ length: dim }, (_x, j) =>
      Math.max(...Array.from({ length: N + 1 }, (_y, n) => Math.abs(ref(n)[j]))),
    );
    let worst = 0;
    for (const n of [Math.round(N / 4), Math.round(N / 2), Math.round((3 * N) / 4), N]) {
      const r = ref(n);
      for (let j = 0; j < dim; j++) {
        const err = Math.abs(rows[n][j] - r[j]) / scale[j];
        worst = Math.max(worst, err);
        assert.ok(
          err <= c.tol,
          `${c.file}: component ${j} at step ${n} (t=${(n * h).toFixed(3)}): engine ${rows[n][j]}, reference ${r[j]}, error ${err.toExponential(2)} of scale ${scale[j].toPrecision(3)} > ${c.tol}`,
        );
      }
    }
    t.diagnostic(`${c.file}: worst relative error ${worst.toExponential(2)} (tol ${c.tol}), N=${N}, ${m.options.meth}`);
    c.extra?.(rows, m);

    const report = await runCheck(m, { backend, parameterValues: values });
    const bad = report.findings.filter((f) => f.severity === 'error');
    assert.deepEqual(
      bad.map((f) => `${f.code}: ${f.message}`),
      [],
    );
    // Every model here uses a strongly stable scheme: no oscillation may be reported.
    assert.deepEqual(
      report.findings
        .filter((f) => f.code === 'oscillating-gradient' || f.code === 'weakly-stable-scheme')
        .map((f) => f.message),
      [],
    );
    assert.ok(Number.isFinite(report.loss));
    t.diagnostic(
      `${c.file}: loss ${report.loss.toPrecision(4)}; gradcheck ${report.parameters.map((p) => `${p.name} ${p.metrics.gradcheckRelError.toExponential(1)}`).join(', ')}; findings ${report.findings.map((f) => f.code).join(', ') || 'none'}`,
    );

    if (c.file === 'neural-data.ode') {
      // The data loss against the reference at the observation times (all on step boundaries).
      const csv = readFileSync(join(MODELS, 'neural-data.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').map(Number));
      let want = 0;
      for (const [tk, ...obs] of csv) {
        const n = Math.round((tk - m.options.t0) / h);
        assert.ok(Math.abs(n * h - tk) < 1e-9, 'observation on a step boundary');
        obs.forEach((o, j) => {
          want += (ref(n)[j] - o) ** 2;
        });
      }
      want /= 10;
      assert.ok(
        Math.abs(report.loss - want) <= 1e-3 * Math.abs(want) + 1e-6,
        `data loss ${report.loss} vs reference ${want}`,
      );
    }
  });
}

test('every model in examples/models has a test case', () => {
  const files = readdirSync(MODELS)
    .filter((f) => f.endsWith('.ode'))
    .sort();
  assert.deepEqual(files, CASES.map((c) => c.file).sort());
});

test('simulate: steps override, t0 offset and parameter-count validation', async () => {
  const { analysis } = readModel('harmonic.ode');
  const base = analysis.model!;
  const m: Model = { ...base, options: { ...base.options, t0: 1 } };
  const traj = await simulate(m, { backend, steps: 100 });
  assert.equal(traj.times.length, 101);
  assert.ok(Math.abs(traj.times[0] - 1) < 1e-12 && Math.abs(traj.times[100] - 6) < 1e-9);
  // u' = A u is autonomous: the t0 shift changes nothing; rk4 at dt=0.05 is still within 1e-3 of the exact solution.
  const w0 = 2,
    a = 0.2,
    wd = w0 * Math.sqrt(1 - 0.01),
    T = 5;
  const x = Math.exp(-a * T) * (Math.cos(wd * T) + (a / wd) * Math.sin(wd * T));
  assert.ok(Math.abs(traj.states.u[100][0] - x) <= 1e-3, `x(T) ${traj.states.u[100][0]} vs exact ${x}`);
  await assert.rejects(simulate(m, { backend, parameterValues: [new Float32Array(3)] }), /expected 4/);
  await assert.rejects(simulate(m, { backend, steps: 0 }), RangeError);
});
