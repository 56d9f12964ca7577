// Maps (XPPAUT difference equations, solver/language/maps.ts): `x(t+1) = …` and `meth=discrete` parse, get one
// information diagnostic that says what the reference is (the map's own adjoint: a map has no flow), iterate
// `total` times with t advancing by 1 (against a float64 re-implementation here), have AD gradients and a
// reference (engine/mapReference.ts: on the fused program, against TF.js's step-by-step adjoint) equal to the exact
// discrete gradient and to finite differences, flag nothing
// for a gradient whose sign alternates, and say "no reference" on every surface only for a map with a data loss
// (maps with events: test/unit/mapEvents.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyse } from '../../solver/language/index';
import { parse } from '../../solver/language/parser';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';
import { completion, documentSymbols, hover, ServiceDocument } from '../../solver/service/index';
import { reportHoverMarkdown } from '../../solver/service/gradientHover';
import { repoRoot } from '../support/repo';
import { referenceLine } from '../../solver/presentation/referenceText';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { mapReference, stepwiseMapReference } from '../../solver/engine/mapReference';
import type { ReferenceInput } from '../../solver/engine/reference';

const A = 0.9,
  B = -0.8,
  C = 0.05,
  T0 = 2,
  N = 12;

/** A linear map with a t-dependent forcing, a shared and a per-step parameter; b < 0 makes y's gradient alternate. */
const MAP = [
  `par a=${A}, b=${B}`,
  `param c per-step = ${C}`,
  'x(t+1) = a*x + 0.1*y + 0.01*t',
  'y(t+1) = -0.2*x + b*y + c',
  'init x=1, y=0.5',
  'loss = 0.5*(x(T)^2 + y(T)^2)',
  `@ total=${N}, t0=${T0}`,
  'done',
].join('\n');

/** The same map in XPPAUT's other spelling: x' = F under meth=discrete. */
const DISCRETE = MAP.replace('x(t+1) =', "x' =")
  .replace('y(t+1) =', "y' =")
  .replace(`@ total=${N}`, `@ meth=discrete, total=${N}`);

/** Float64: the iterates, the loss and its exact gradient by the discrete adjoint λ_n = Jᵀ λ_{n+1}. */
function reference() {
  const xs = [1],
    ys = [0.5];
  for (let n = 0; n < N; n++) {
    const t = T0 + n;
    xs.push(A * xs[n] + 0.1 * ys[n] + 0.01 * t);
    ys.push(-0.2 * xs[n] + B * ys[n] + C);
  }
  const loss = 0.5 * (xs[N] ** 2 + ys[N] ** 2);
  let lx = xs[N],
    ly = ys[N];
  let da = 0,
    db = 0;
  const dc = new Array<number>(N).fill(0);
  for (let n = N - 1; n >= 0; n--) {
    da += lx * xs[n];
    db += ly * ys[n];
    dc[n] = ly;
    [lx, ly] = [A * lx - 0.2 * ly, 0.1 * lx + B * ly];
  }
  return { xs, ys, loss, da, db, dc };
}

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

describe('maps: the language', () => {
  test('x(t+1) = … parses as the equation of a map', () => {
    const { program, diagnostics } = parse('x(t+1) = 3.5*x*(1-x)\n');
    assert.deepEqual(diagnostics, []);
    const eq = program.statements.find((s) => s.kind === 'equation');
    assert.ok(eq?.kind === 'equation' && eq.map === true && eq.state === 'x');
  });

  test('a map file: meth=discrete, total iterations, dt 1, one information diagnostic on the map line', () => {
    const a = analyse(MAP);
    assert.ok(a.model);
    assert.deepEqual([a.model.options.meth, a.model.options.steps, a.model.options.dt], ['discrete', N, 1]);
    const notes = a.diagnostics.filter((d) => d.code === 'map-model');
    assert.equal(notes.length, 1);
    assert.equal(notes[0].severity, 'information');
    assert.equal(notes[0].range.start.line, 2);
    assert.match(notes[0].message, /12 iterations \(total\), t advancing by 1 from t0/);
    assert.match(notes[0].message, /no continuous flow: its reference gradient is the map's own adjoint/);
    assert.deepEqual(
      a.diagnostics.filter((d) => d.severity === 'error' || d.severity === 'warning'),
      [],
    );
  });

  test("meth=discrete makes x' = F a map; the note sits on the option value", () => {
    const a = analyse(DISCRETE);
    assert.equal(a.model?.options.meth, 'discrete');
    const note = a.diagnostics.find((d) => d.code === 'map-model')!;
    assert.equal(note.range.start.line, 6);
    assert.equal(DISCRETE.split('\n')[6].slice(note.range.start.character, note.range.end.character), 'discrete');
    assert.match(note.message, /^meth=discrete iterates every equation as a map/);
  });

  test('x(t+1) overrides another meth as XPPAUT does, and a dt is said to be unused', () => {
    const a = analyse('x(t+1) = 0.5*x\ninit x=1\n@ meth=rk4, total=5, dt=0.1');
    assert.equal(a.model?.options.meth, 'discrete');
    assert.equal(a.model?.options.steps, 5);
    const note = a.diagnostics.find((d) => d.code === 'map-model')!;
    assert.match(note.message, /meth=rk4 is not used/);
    assert.match(note.message, /dt=0\.1 is not used/);
  });

  test('grad=adjoint and a gradfix are errors on a map: it has no flow', () => {
    const a = analyse('x(t+1) = 0.5*x\ninit x=1\n@ total=5, grad=adjoint, gradfix=filter121');
    assert.equal(a.model, undefined);
    const errs = a.diagnostics.filter((d) => d.code === 'invalid-option');
    assert.deepEqual(
      errs.map((d) => d.message.split(':')[0]),
      ['grad=adjoint', 'gradfix=filter121'],
    );
  });

  test('a map line with a syntax error is reported like a broken equation', () => {
    const codes = (text: string) => analyse(text).diagnostics.map((d) => [d.code, d.range.start.line]);
    assert.deepEqual(codes('x(t+1) = 0.5*x +\ny(t+1) = x\n'), codes("x' = 0.5*x +\ny(t+1) = x\n"));
    assert.equal(analyse('x(t+1) = 0.5*x +\n').diagnostics.filter((d) => d.code === 'syntax-error').length, 1);
  });
});

describe('maps: the check', () => {
  test('iterates against a float64 re-implementation; AD and the reference equal the exact discrete gradient and finite differences', async () => {
    const ref = reference();
    for (const text of [MAP, DISCRETE]) {
      const r = await runCheck(model(text), { backend: 'cpu' });
      assert.equal(r.scheme, 'discrete');
      assert.ok(rel(r.loss, ref.loss) < 1e-5, `loss ${r.loss} vs ${ref.loss}`);
      const byName = new Map(r.parameters.map((p) => [p.name, p]));
      assert.ok(rel(byName.get('a')!.raw[0][0], ref.da) < 1e-4, `a: ${byName.get('a')!.raw[0][0]} vs ${ref.da}`);
      assert.ok(rel(byName.get('b')!.raw[0][0], ref.db) < 1e-4);
      const c = byName.get('c')!;
      assert.deepEqual(
        c.layerTimes,
        Array.from({ length: N }, (_, n) => T0 + n),
      );
      c.raw.forEach((row, n) => assert.ok(rel(row[0], ref.dc[n]) < 1e-4, `c_${n}: ${row[0]} vs ${ref.dc[n]}`));
      // The gradient of c alternates in sign (b < 0): the map's own, nothing is flagged.
      assert.ok(ref.dc.some((g, n) => n > 0 && Math.sign(g) !== Math.sign(ref.dc[n - 1])));
      assert.deepEqual(
        r.findings.filter((f) => f.severity === 'warning' || f.severity === 'error'),
        [],
      );
      for (const p of r.parameters) {
        assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `${p.name}: ${p.metrics.gradcheckRelError}`);
        assert.ok(p.metrics.relError < 1e-5, `${p.name}: AD against the map's adjoint ${p.metrics.relError}`);
        assert.equal(p.oscillating, false);
      }
      // The reference itself against the float64 gradient (not only against AD).
      const refOf = (name: string) => byName.get(name)!.reference;
      assert.ok(rel(refOf('a')[0][0], ref.da) < 1e-4, `reference a: ${refOf('a')[0][0]} vs ${ref.da}`);
      assert.ok(rel(refOf('b')[0][0], ref.db) < 1e-4);
      refOf('c').forEach((row, n) =>
        assert.ok(rel(row[0], ref.dc[n]) < 1e-4, `reference c_${n}: ${row[0]} vs ${ref.dc[n]}`),
      );
      assert.ok(r.referenceUnavailable === undefined);
      assert.ok(r.referenceError > 0 && r.referenceError < 1e-5);
    }
  });

  test("a map's reference on its fused program: TF.js's step-by-step adjoint within float32 rounding, the same iterates", async () => {
    // Nonlinear (tanh, cos, mod), a shared parameter read by both equations, a per-step one whose copies differ, and
    // an initial value checked as a parameter: the JS loop over the fused program (float64 adjoint) against one TF.js
    // scope per iteration (float32), which it replaced where f is fused (nochaos.ode: 2.4 s → 28 ms).
    const steps = 400;
    const m = model(
      [
        'par a=2.7, w=0.618',
        'param c per-step = 0.1',
        "x1' = a*tanh(x1)*cos(x2) + c",
        "x2' = 2*pi*mod(x2/(2*pi) + w, 1)",
        'init x1=0.1, x2=0.1',
        'loss = x1(T)^2 + 0.5*cos(x2(T))',
        `@ total=${steps}, meth=discrete`,
        'done',
      ].join('\n'),
    );
    const { tf } = await initBackend('cpu');
    const { compiled: cm } = compileModel(tf, m);
    try {
      const c = Float32Array.from({ length: steps }, (_x, n) => 0.1 + 0.05 * Math.sin(n));
      const inp: ReferenceInput = {
        N: steps,
        h: 1,
        t0: 0,
        layerTimes: Array.from({ length: steps }, (_x, n) => n),
        params: [
          { perStep: false, values: Float32Array.of(2.7), shape: [], size: 1 },
          { perStep: false, values: Float32Array.of(0.618), shape: [], size: 1 },
          { perStep: true, values: c, shape: [], size: 1, equalCopies: false },
        ],
      };
      const fused = mapReference(tf, m, cm, inp);
      const stepwise = stepwiseMapReference(tf, cm, inp);
      assert.equal(fused.lossAccurate, stepwise.lossAccurate, 'the same float32 iterates, the same loss');
      assert.ok(Number.isFinite(fused.lossAccurate) && !fused.nonFinite);
      fused.g.forEach((g, k) => {
        const norm = Math.hypot(...stepwise.g[k]),
          diff = Math.hypot(...g.map((v, j) => v - stepwise.g[k][j]));
        assert.ok(norm > 0, `parameter ${k} has a gradient`);
        assert.ok(diff <= 1e-4 * norm, `parameter ${k}: ${diff} against ${norm}`);
      });
    } finally {
      cm.dispose();
    }
  });

  test("a shared parameter's verdict names the map's adjoint, not a scheme's order", async () => {
    const r = await runCheck(model('par a=0.5\nx(t+1) = a*x + 0.1\ninit x=1\n@ total=20\n'), { backend: 'cpu' });
    assert.equal(r.parameters[0].verdict?.kind, 'converges');
    assert.match(r.parameters[0].verdict!.explanation, /agrees with the map's own adjoint \(error/);
  });

  test('a map with a data loss has no reference, and the report, the verdict and the hover say so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'odelens-map-data-'));
    writeFileSync(join(dir, 'obs.csv'), 't,x\n3,0.4\n5,0.2\n');
    const text = 'par a=0.5\ndata obs = "obs.csv"\nx(t+1) = a*x\ninit x=1\nloss = sum((x(obs) - obs)^2)\n@ total=6\n';
    const a = analyse(text, { documentPath: join(dir, 'm.ode') });
    assert.ok(a.model, JSON.stringify(a.diagnostics));
    const r = await runCheck(a.model, { backend: 'cpu' });
    assert.equal(r.referenceUnavailable?.cause, 'map');
    assert.match(r.referenceUnavailable?.message ?? '', /a map with a data loss has no reference/);
    // The map-model note is on its line: no second finding.
    assert.ok(!r.findings.some((f) => f.code === 'reference-unavailable'));
    assert.ok(Number.isNaN(r.referenceError));
    assert.equal(r.verdict?.kind, 'inconclusive');
    assert.match(
      r.verdict!.explanation,
      /no continuous reference: a map with a data loss; AD agrees with finite differences/,
    );
    const md = reportHoverMarkdown({ report: r, reportIsCurrent: true });
    assert.match(md, /continuous reference n\/a: a map with a data loss/);
    assert.doesNotMatch(md, /reference error/);
  });

  test('a map with events has a reference stepped back through its resets, said of a map, not of a flow', async () => {
    // x climbs by 1 a step and is reset to 0 when it crosses 2.5: the reset is part of the iterated map.
    const text = 'par a=0.5\nx(t+1) = x + a + 0.5\ninit x=0\nglobal 1 x-2.5 {x=0}\n@ total=10\n';
    const r = await runCheck(model(text), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable, undefined, r.referenceUnavailable?.message);
    // Firings at t = 3, 6, 9 (x = 3 after each third step); the reference is AD's target.
    assert.deepEqual(r.eventReference, { firings: 3, steps: 10 });
    assert.match(
      referenceLine(r),
      /^reference: the map's own adjoint iterated backward through the resets of its 3 firings/,
    );
    assert.doesNotMatch(referenceLine(r), /located|saltation/);
    assert.ok(r.parameters[0].metrics.relError < 1e-6);
    assert.ok(!r.findings.some((f) => f.code === 'reference-unavailable'));
    // The map-model note promises the map's adjoint through the resets.
    const note = analyse(text).diagnostics.find((d) => d.code === 'map-model');
    assert.match(note?.message ?? '', /stepping back through each reset at the iteration where the map fired it/);
  });

  const cli = join(repoRoot(), 'dist/cli.js');
  test("the CLI names the map's adjoint as the reference, text and JSON", {
    skip: !existsSync(cli) && 'dist/cli.js not built',
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'odelens-map-'));
    const file = join(dir, 'map.ode');
    writeFileSync(file, MAP);
    const text = spawnSync(process.execPath, [cli, 'check', file, '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^reference: the map's own adjoint iterated backward, estimated relative error /m);
    // α and β are n/a for a map (no flow to converge to); the error against its adjoint is a number.
    for (const p of ['a', 'b', 'c'])
      assert.match(text.stdout, new RegExp(`^${p} +\\[\\] +(shared +- +-|per-step +n/a +n/a) +[0-9.e-]+ `, 'm'));
    assert.match(text.stderr, /information: x\(t\+1\) = … makes this model a map.*\[map-model\]/);
    const json = spawnSync(process.execPath, [cli, 'check', file, '--json', '--backend', 'cpu'], { encoding: 'utf8' });
    const report = JSON.parse(json.stdout);
    assert.equal(report.referenceUnavailable, undefined);
    assert.ok(report.referenceError > 0);
    assert.ok(report.diagnostics.some((d: { code: string }) => d.code === 'map-model'));
    const refine = spawnSync(process.execPath, [cli, 'check', file, '--refine', '--backend', 'cpu'], {
      encoding: 'utf8',
    });
    assert.match(refine.stdout, /^refinement study: none — a map has no step to refine$/m);
  });
});

describe('maps: the editor', () => {
  test('hover on the state of a map line, the outline, completion of meth=discrete', () => {
    const doc = new ServiceDocument(MAP);
    const h = hover(doc, { line: 2, character: 0 });
    assert.match(h!.markdown, /state `x`/);
    const names = documentSymbols(doc).map((s) => s.name);
    assert.ok(names.includes('x(t+1)') && names.includes('y(t+1)'), JSON.stringify(names));
    const items = completion(new ServiceDocument('x(t+1) = x\n@ meth=di'), { line: 1, character: 9 }).items;
    assert.ok(items.some((i) => i.label === 'discrete'));
  });
});
