// XPPAUT files as XPPAUT reads them: its default total=20 and dt=0.05 for a file in its style (ODE Lens's own
// models keep t ∈ [0, 1] in 64 steps), its stiff methods checked as backward Euler (a stiff model that explodes
// under RK4 at the same dt is solved), Newton's method across a fast upstroke, initial values without a value,
// boundary lines `b (…)`, a lone word starting with d read as `done`, and tables sized by memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';
import { effectiveOptions } from '../../solver/service/modelOptions';
import { documentSymbols, hover, ServiceDocument } from '../../solver/service/index';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));
const errors = (text: string) => analyse(text).diagnostics.filter((d) => d.severity === 'error');

describe("XPPAUT's default total and dt", () => {
  test('an XPPAUT-style file without total/dt integrates t ∈ [0, 20] by dt = 0.05; total alone keeps dt = 0.05', () => {
    const o = model("par a=1\nx'=-a*x\ninit x=1\n").options;
    assert.deepEqual([o.t0, o.total, o.steps, o.dt], [0, 20, 400, 0.05]);
    const short = model("par a=1\nx'=-a*x\ninit x=1\n@ total=1\n").options;
    assert.deepEqual([short.total, short.steps], [1, 20]);
    const given = model("par a=1\nx'=-a*x\n@ dt=0.1\n").options;
    assert.deepEqual([given.total, given.steps], [20, 200]);
  });

  test('an XPPAUT array solved as a tensor state (40 elements) is still an XPPAUT file', () => {
    const m = model("par k=1\nx[0..39]'=-k*x[j]\ninit x[0..39]=1\n");
    assert.equal(m.states.length, 1, 'the array is one tensor state');
    assert.deepEqual([m.options.total, m.options.steps], [20, 400]);
  });

  test("ODE Lens's own models (state, loss, per-step or shaped parameters) keep t ∈ [0, 1] in 64 steps", () => {
    for (const text of [
      "state x\nx'=-x\n",
      "par a=1\nx'=-a*x\nloss = x(T)\n",
      "par w per-step = 1\nx'=-w*x\n",
      "par W[2,2] ~ normal(0, 0.1)\nstate x[2]\nx' = W @ x\n",
    ]) {
      const o = model(text).options;
      assert.deepEqual([o.total, o.steps, o.dt], [1, 64, 1 / 64], text);
    }
  });

  test('the editor reads the same defaults from a file with errors elsewhere', () => {
    const doc = new ServiceDocument("par a=1\nx'=-a*x + undefinedName\n");
    const o = effectiveOptions(doc);
    assert.deepEqual([o.total, o.steps], [20, 400]);
  });

  test('the check solves the default interval: x = 1 + a t at t = 20, AD and finite differences of ½x(T)²', async () => {
    const a = 0.3;
    const r = await runCheck(model(`par a=${a}\nx'=a\ninit x=1\n`), { backend: 'cpu' });
    const xT = 1 + 20 * a;
    assert.ok(rel(r.loss, 0.5 * xT * xT) < 1e-4, `${r.loss}`); // float32 sums of 400 steps
    const ga = r.parameters.find((p) => p.name === 'a')!;
    assert.ok(rel(ga.raw[0][0], 20 * xT) < 1e-4, `${ga.raw[0][0]} vs ${20 * xT}`);
    assert.ok(ga.metrics.gradcheckRelError < GRADCHECK_TOLERANCE);
  });
});

describe('stiff XPPAUT methods are checked as backward Euler', () => {
  const k = 200,
    h = 0.1,
    N = 20;
  const text = (meth: string) => `par k=${k}\nx'=-k*(x-cos(t))\ninit x=0\n@ meth=${meth}, total=${N * h}, dt=${h}\n`;

  /** Float64 backward Euler x_{n+1} = (x_n + h k cos t_{n+1}) / (1 + h k), and ½x_N². */
  function solve(kk: number): number {
    let x = 0;
    for (let n = 0; n < N; n++) x = (x + h * kk * Math.cos((n + 1) * h)) / (1 + h * kk);
    return 0.5 * x * x;
  }

  for (const meth of ['cvode', 'gear', 'stiff', '2rb']) {
    test(`meth=${meth}: the note names backeul, the solve is backward Euler's, AD matches central differences`, async () => {
      const a = analyse(text(meth));
      const note = a.diagnostics.find((d) => d.code === 'scheme-alias');
      assert.match(note!.message, /backward Euler \(backeul\) at dt/);
      const r = await runCheck(a.model!, { backend: 'cpu' });
      assert.equal(r.scheme, 'backeul');
      assert.ok(rel(r.loss, solve(k)) < 1e-4, `${r.loss} vs ${solve(k)}`);
      const e = 1e-3;
      const dk = (solve(k + e) - solve(k - e)) / (2 * e);
      const gk = r.parameters.find((p) => p.name === 'k')!;
      assert.ok(rel(gk.raw[0][0], dk) < 1e-3, `${gk.raw[0][0]} vs ${dk}`);
      assert.ok(gk.metrics.gradcheckRelError < GRADCHECK_TOLERANCE);
    });
  }

  test('the same stiff model blows up under the explicit RK4 at that dt (why the stiff methods are not rk4)', async () => {
    const r = await runCheck(model(text('rk4')), { backend: 'cpu', reference: false, gradcheck: false });
    assert.ok(
      r.findings.some((f) => f.code === 'blow-up'),
      JSON.stringify(r.findings.map((f) => f.code)),
    );
  });

  test("Newton's method crosses an upstroke in one large step (reduced Hodgkin–Huxley, v from 20 to about 110)", async () => {
    // The step's equation y − x − h f(y) = 0 has its solution far from x: the residual grows before Newton gets there.
    const H = 0.25;
    const f = (v: number, n: number) => {
      const am = (0.1 * (25 - v)) / (Math.exp(0.1 * (25 - v)) - 1);
      const bm = 4 * Math.exp(-v / 18);
      const an = (0.01 * (10 - v)) / (Math.exp(0.1 * (10 - v)) - 1);
      const bn = 0.125 * Math.exp(-v / 80);
      const m = am / (am + bm);
      return [
        20 - 120 * m ** 3 * (0.8 - n) * (v - 115) - 36 * n ** 4 * (v + 12) - 0.3 * (v - 10.6),
        an - (an + bn) * n,
      ];
    };
    // Float64 Newton with a finite-difference Jacobian, undamped, to convergence.
    let [v, n] = [20, 0];
    for (let it = 0; it < 60; it++) {
      const r = f(v, n).map((fi, i) => [v, n][i] - [20, 0][i] - H * fi);
      const J = [0, 1].map((j) => {
        const d = [0, 0];
        d[j] = 1e-7;
        const fd = f(v + d[0], n + d[1]);
        return fd.map((fi, i) => ([v, n][i] + d[i] - [20, 0][i] - H * fi - r[i]) / 1e-7);
      }); // J[j][i] = ∂r_i/∂y_j
      const det = J[0][0] * J[1][1] - J[1][0] * J[0][1];
      const dv = (r[0] * J[1][1] - J[1][0] * r[1]) / det;
      const dn = (J[0][0] * r[1] - r[0] * J[0][1]) / det;
      v -= dv;
      n -= dn;
    }
    assert.ok(v > 100, `float64 reference v = ${v}`);
    const src = `par gna=120, gk=36
am(v)=0.1*(25-v)/(exp(0.1*(25-v))-1)
bm(v)=4*exp(-v/18)
an(v)=0.01*(10-v)/(exp(0.1*(10-v))-1)
bn(v)=0.125*exp(-v/80)
minf(v)=am(v)/(am(v)+bm(v))
v'=20-gna*minf(v)^3*(0.8-n)*(v-115)-gk*n^4*(v+12)-0.3*(v-10.6)
n'=an(v)-(an(v)+bn(v))*n
init v=20, n=0
@ meth=gear, total=${H}, dt=${H}
`;
    const r = await runCheck(model(src), { backend: 'cpu', reference: false });
    assert.deepEqual(
      r.findings.filter((x) => x.code === 'blow-up'),
      [],
    );
    const want = 0.5 * (v * v + n * n);
    assert.ok(rel(r.loss, want) < 1e-4, `${r.loss} vs ${want}`);
    for (const p of r.parameters) assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, p.name);
  });
});

describe('XPPAUT lines read as XPPAUT reads them', () => {
  test('init without a value is zero (XPPAUT’s default), in a list and at the end of the line', async () => {
    const text = "par a=2\nx'=-a*x\ny'=1\ninit x=1.5, y\n@ total=1, dt=0.05\n";
    assert.deepEqual(errors(text), []);
    const m = model(text);
    const r = await runCheck(m, { backend: 'cpu' });
    // y(1) = 1 from y(0) = 0; x(1) = 1.5 e^{-2} (RK4 at dt 0.05 is accurate to 1e-7 here).
    const want = 0.5 * ((1.5 * Math.exp(-2)) ** 2 + 1);
    assert.ok(rel(r.loss, want) < 1e-4, `${r.loss} vs ${want}`);
    assert.ok(model("x'=-x\ny'=1\ninit y x=2\n").states.length === 2);
    // Outline and hover know the state initialised without a value.
    const doc = new ServiceDocument(text);
    assert.ok(JSON.stringify(documentSymbols(doc)).includes('"name":"y\'"'));
    assert.match(hover(doc, { line: 3, character: 12 })!.markdown, /state `y`/);
  });

  test('a boundary line written `b (…)` with primed names is the ignored boundary condition, not a call of b', () => {
    const text = "par eps=0.1\nx'=y\ny'=-x\nb x-eps\nb (x'-eps)\nbndry (y'-1)\ninit x=0, y=1\n";
    assert.deepEqual(errors(text), []);
    const notes = analyse(text).diagnostics.filter((d) => d.code === 'unsupported');
    assert.equal(notes.length, 3);
    for (const d of notes) assert.equal(d.severity, 'information');
    // A function named b (no space before the parenthesis) is still a function.
    assert.deepEqual(errors("b(u)=2*u\nx'=-b(x)\n"), []);
  });

  test('a lone word starting with d ends the file, as XPPAUT’s done; a note says so', () => {
    const text = "x'=-x\ndobe\nthis line is not read\n";
    assert.deepEqual(errors(text), []);
    const note = analyse(text).diagnostics.find((d) => d.code === 'xppaut-done');
    assert.equal(note?.severity, 'information');
    assert.match(note!.message, /XPPAUT reads 'dobe' as `done`/);
    assert.deepEqual(note!.range.start, { line: 1, character: 0 });
    // `data` stays ODE Lens's keyword, and a d-word followed by more is not read as done.
    assert.ok(errors("x'=-x\ndxx 3\n").length > 0);
  });

  test('pHtools commands are refused on their own lines; the names they declare are known; aux labels may hold (…)', () => {
    const text = [
      'par k=0.1',
      'init a=1, ph=7',
      'mksol buf',
      "addtosol buf {'Acid',0.01}",
      'phsol buf ph phrhs',
      "a'=-k*a",
      "ph'=phrhs",
      'aux Acid(mM)=a*1000',
      '',
    ].join('\n');
    const errs = errors(text);
    assert.deepEqual(
      errs.map((d) => [d.code, d.range.start.line]),
      [
        ['unsupported', 2],
        ['unsupported', 3],
        ['unsupported', 4],
      ],
    );
    for (const d of errs) assert.match(d.message, /a command of pHtools, a preprocessor/);
    const doc = new ServiceDocument(text);
    assert.match(hover(doc, { line: 5, character: 0 })!.markdown, /state `a`/);
  });

  test('tables are bounded by memory: 2^18 samples (an XPPAUT example size) check, 8M are refused with the bound', () => {
    assert.deepEqual(errors("table w % 262144 0 262143 t/262143\nx'=-w(x)\ninit x=1\n"), []);
    const big = errors("table w % 8000000 0 1 t\nx'=-w(x)\n");
    assert.equal(big.length, 1);
    assert.equal(big[0].code, 'invalid-table');
    assert.match(big[0].message, /2 to 4194304, 32 MB of samples, found 8000000/);
  });
});

describe('a reference that overflows on chaotic dynamics', () => {
  test('Lorenz over t ∈ [0, 60]: the solve is finite, the reference cannot judge AD (information), no blow-up error', async () => {
    const r = await runCheck(
      model(
        "par s=10, r=28, b=2.6667\nx'=s*(y-x)\ny'=x*(r-z)-y\nz'=x*y-b*z\ninit x=1, y=1, z=20\n@ total=60, dt=0.02\n",
      ),
      { backend: 'cpu', gradcheck: false },
    );
    assert.ok(Number.isFinite(r.loss));
    assert.deepEqual(
      r.findings.filter((f) => f.code === 'blow-up'),
      [],
    );
    const note = r.findings.find((f) => f.code === 'reference-unavailable');
    assert.equal(note?.severity, 'information');
    // Its adjoint grows like e^{λT}: either float32 overflows or the reference's own error estimate is large.
    assert.match(
      note!.message,
      /The continuous reference cannot judge AD here: its (solve stays finite|own estimated relative error is)/,
    );
  });
});
