// Separable sums (language/separableSums.ts): an indexed sum or network function whose terms read the equation's
// own state only through sin/cos of a sum, or through factors that do not vary with the term, is rewritten by
// angle addition into sums that every equation shares. The rewritten right-hand side is the same function as the
// sum (checked against a float64 evaluation of the sum as written, to float32 rounding), costs O(N) per evaluation
// for a Kuramoto network (a constant matrix times a vector with weights that vary with both indices), its AD
// gradients are those of the sum as written; a sum that does not separate keeps its expansion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyse } from '../../solver/language/index';
import { compileScalarProgram } from '../../solver/engine/scalarRhs';
import { evaluationWork } from '../../solver/engine/scalarProgram';
import { interpreterOf } from '../../solver/engine/programInterpreter';
import { initBackend } from '../../solver/engine/backend';
import { compileModel } from '../../solver/engine/compile';
import { initialParameters } from '../../solver/engine/parameters';
import { runCheck } from '../../solver/check';
import { MAX_SOLVE_WORK } from '../../solver/check/options';
import type { Model } from '../../solver/model';
import { lossAndGradients } from '../support/kernelCompare';

function parse(text: string, separateSums = true): Model {
  const a = analyse(text, { separateSums });
  assert.ok(a.model, `${JSON.stringify(a.diagnostics.filter((d) => d.severity === 'error'))}\n${text}`);
  return a.model;
}

const work = (m: Model) => {
  const p = compileScalarProgram(m);
  assert.ok(p, 'the model runs as a fused program');
  return evaluationWork(p);
};

/** Deterministic numbers in [-1, 1). */
function random(seed: number) {
  let s = seed;
  return () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
}

/** f of the program at states s and parameters p (the fused program rounds every operation to float32). */
function fused(m: Model, s: Float64Array, p: Float64Array): number[] {
  const prog = compileScalarProgram(m);
  assert.ok(prog);
  const v = new Float64Array(prog.code.length);
  interpreterOf(prog).forward(s, 0, p, 0, v);
  return prog.outputs.map((o) => (o >= 0 ? v[o] : 0));
}

const h = (phi: number, a: number, b: number) => Math.sin(phi + a) - Math.sin(a) + b * Math.sin(2 * phi);
/** A weight table's sample at index k (the formula of `table mm` below, in t = k). */
const weight = (k: number) => 0.05 + 0.01 * Math.sin(k);

/** Kuramoto networks of n oscillators in the language's constructs, with f_j in float64 from the formula. */
const networks = (n: number) => [
  {
    name: 'indexed sum',
    text: `h(phi)=sin(phi+a)-sin(a)+b*sin(2*phi)
par a=.5, b=.2, k=1
x[0..${n - 1}]'=0.01*[j]+k*sum(0,${n - 1})of(h(shift(x0,i')-x[j]))/${n}
@ total=1, dt=0.1
done`,
    f: (x: number[], [a, b, k]: number[], j: number) =>
      0.01 * j + (k * x.reduce((s, xi) => s + h(xi - x[j], a, b), 0)) / n,
    shared: true,
  },
  {
    name: 'indexed sum with weights read at [j]·n + i',
    text: `h(phi)=sin(phi+a)-sin(a)+b*sin(2*phi)
par a=.5, b=.2, k=1
table mm % ${n * n} 0 ${n * n - 1} 0.05+0.01*sin(t)
x[0..${n - 1}]'=0.01*[j]+k*sum(0,${n - 1})of(mm([j]*${n}+i')*h(shift(x0,i')-x[j]))
@ total=1, dt=0.1
done`,
    f: (x: number[], [a, b, k]: number[], j: number) =>
      0.01 * j + k * x.reduce((s, xi, i) => s + weight(j * n + i) * h(xi - x[j], a, b), 0),
    shared: false,
  },
  {
    name: 'fmmult',
    text: `h(x,y)=sin(x-y+a)-sin(a)+b*sin(2*(x-y))
par a=.5, b=.2, k=1
table mm % ${n * n} 0 ${n * n - 1} 1/${n}
special mxh=fmmult(${n},${n},mm,x0,x0,h)
x[0..${n - 1}]'=0.01*[j]+k*mxh([j])
@ total=1, dt=0.1
done`,
    f: (x: number[], [a, b, k]: number[], j: number) =>
      0.01 * j + k * x.reduce((s, xk) => s + h(xk - x[j], a, b) / n, 0),
    shared: true,
  },
  {
    name: 'what varies times a factor of the equation, one weight',
    text: `par a=.5, b=.2, k=1
x[0..${n - 1}]'=k*sum(0,${n - 1})of(2*shift(x0,i')*sin(x[j]+a)+b)/${n}
@ total=1, dt=0.1
done`,
    f: (x: number[], [a, b, k]: number[], j: number) =>
      (k * x.reduce((s, xi) => s + 2 * xi * Math.sin(x[j] + a) + b, 0)) / n,
    shared: true,
  },
  {
    name: 'a product of separated cos and sin, a parameter in what varies',
    text: `par a=.5, b=.2, k=1
x[0..${n - 1}]'=-x[j]+k*sum(0,${n - 1})of(cos(b*shift(x0,i')-x[j]+a)*sin(2*(shift(x0,i')-x[j]))-x[j])/${n}
@ total=1, dt=0.1
done`,
    f: (x: number[], [a, b, k]: number[], j: number) =>
      -x[j] + (k * x.reduce((s, xi) => s + Math.cos(b * xi - x[j] + a) * Math.sin(2 * (xi - x[j])) - x[j], 0)) / n,
    shared: true,
  },
];

test('a separated Kuramoto network computes the sum as written (float64, to float32 rounding) at O(N) per evaluation', () => {
  const n = 24;
  for (const net of networks(n)) {
    const m = parse(net.text);
    // What the file says is unchanged: the rewrite runs after every diagnostic.
    assert.deepEqual(analyse(net.text).diagnostics, analyse(net.text, { separateSums: false }).diagnostics);
    const rand = random(net.name.length + 7);
    for (let trial = 0; trial < 8; trial++) {
      const x = Array.from({ length: n }, () => 3 * rand());
      const p = m.params.map(() => rand());
      const f = fused(m, Float64Array.from(x), Float64Array.from(p));
      f.forEach((y, j) => {
        const exact = net.f(x, p, j);
        // Each term's parts are at most a few units; float32 rounds each operation to 6e-8 of its value.
        const tol = 2e-6 * (1 + Math.abs(exact) + n * Math.abs(p[2]) * 8);
        assert.ok(Math.abs(y - exact) <= tol, `${net.name}, f[${j}] = ${y}, float64 ${exact} (±${tol})`);
      });
    }
    // The sums left are shared by every equation (or, with weights of both indices, multiply-adds): the work per
    // evaluation is a fraction of the sum's as written, and linear in the oscillators when the sums are shared.
    const written = work(parse(net.text, false));
    assert.ok(work(m) < written / 4, `${net.name}: ${work(m)} operations per evaluation against ${written} as written`);
    if (net.shared) {
      // One weight: the sums are shared, not an equation's row of equal weights times a vector.
      assert.ok(!compileScalarProgram(m)?.code.some((c) => c.op === 'dot'), `${net.name}: a dot product`);
      const large = work(parse(networks(4 * n).find((x) => x.name === net.name)?.text ?? ''));
      assert.ok(large < 5 * work(m), `${net.name}: ${work(m)} operations for ${n} oscillators, ${large} for ${4 * n}`);
    }
  }
});

test("a 100-oscillator network with weights of both indices is a constant matrix times vectors, within a check's budget", () => {
  const text = networks(100)[1].text.replace('total=1, dt=0.1', 'total=100, dt=0.05');
  const m = parse(text);
  const prog = compileScalarProgram(m);
  assert.ok(prog);
  // The sums left: each equation's row of weights times the shared sin x_i, cos x_i, …: dot products of 100
  // multiply-adds, and the sines and cosines O(N), not one per term.
  const dots = prog.code.filter((c) => c.op === 'dot' && c.b && c.a.length === 100);
  assert.ok(dots.length >= 400, `${dots.length} dot products of 100 terms`);
  const trig = prog.code.filter((c) => c.op === 'unary' && c.fn.signature.match(/^(sin|cos)\(/)).length;
  assert.ok(trig <= 10 * 100, `${trig} sines and cosines an evaluation`);
  const evaluations = m.options.steps * 4; // RK4
  assert.ok(evaluationWork(prog) * evaluations <= MAX_SOLVE_WORK, `${evaluationWork(prog)} operations an evaluation`);
  assert.ok(work(parse(text, false)) * evaluations > MAX_SOLVE_WORK, 'as written, the sums are too costly to check');
});

test('a sum that does not separate, or whose sums left no other equation shares, keeps its expansion', () => {
  const n = 20;
  const kept = [
    // tanh of a difference does not separate; nor does exp (exp P · exp Q overflows where exp(P + Q) need not)
    `par a=.5, k=1
x[0..${n - 1}]'=k*sum(0,${n - 1})of(exp(shift(x0,i')-x[j]+a))/${n}
done`,
    `par a=.5, k=1
x[0..${n - 1}]'=k*sum(0,${n - 1})of(tanh(shift(x0,i')-x[j]+a))/${n}
done`,
    // a product of what varies and the element's own state inside the sine
    `par a=.5, k=1
x[0..${n - 1}]'=k*sum(0,${n - 1})of(sin(shift(x0,i')*x[j]+a))/${n}
done`,
    // what varies depends on j too (each equation's sums differ): nothing is shared
    `par a=.5, k=1
x[0..${n - 1}]'=k*sum(0,${n - 1})of(sin(shift(x0,i')*[j]-x[j]))/${n}
done`,
    // one sum in the model: separating it only adds sums
    `par a=.5, k=1
x[0..${n - 1}]'=-x[j]
th'=sum(0,${n - 1})of(shift(x0,i')*sin(th-2*pi*i'/${n}))
done`,
  ];
  for (const text of kept) assert.deepEqual(parse(text).equations, parse(text, false).equations, text);
  // The comparison can fail: a sine of a difference separates.
  const separable = kept[1].replace('tanh', 'sin');
  assert.notDeepEqual(parse(separable).equations, parse(separable, false).equations);
});

test('AD through a separated Kuramoto network: the gradients of the sum as written, and the check agrees with finite differences', async () => {
  const { tf } = await initBackend('cpu');
  // Shared sums, and weight rows times shared vectors (dot products).
  for (const net of networks(16).slice(0, 2)) {
    const text = net.text.replace('total=1, dt=0.1', 'total=2, dt=0.05');
    const separated = parse(text),
      written = parse(text, false);
    const values = initialParameters(tf, separated);
    const a = compileModel(tf, separated).compiled,
      b = compileModel(tf, written).compiled;
    try {
      const s = lossAndGradients(tf, a, separated, values),
        w = lossAndGradients(tf, b, written, values);
      assert.ok(Math.abs(s.loss - w.loss) <= 1e-5 * Math.abs(w.loss), `${net.name}: loss ${s.loss} vs ${w.loss}`);
      w.G.forEach((g, i) =>
        g.forEach((x, k) =>
          assert.ok(
            Math.abs(s.G[i][k] - x) <= 1e-4 * Math.max(1, Math.abs(x)),
            `${net.name}, ${separated.params[i].name}[${k}]: ${s.G[i][k]} vs ${x}`,
          ),
        ),
      );
    } finally {
      a.dispose();
      b.dispose();
    }
  }
  const separated = parse(networks(16)[0].text.replace('total=1, dt=0.1', 'total=2, dt=0.05'));
  const report = await runCheck(separated, { backend: 'cpu' });
  assert.ok(!report.findings.some((f) => f.severity === 'error'), JSON.stringify(report.findings.map((f) => f.code)));
  assert.equal(report.parameters.length, 3);
  for (const p of report.parameters) {
    assert.ok(
      p.metrics.gradcheckRelError < 1e-2,
      `${p.name}: AD against finite differences ${p.metrics.gradcheckRelError}`,
    );
    assert.ok(p.metrics.relError < 1e-3, `${p.name}: AD against the reference ${p.metrics.relError}`);
  }
});

/** A random term of an indexed sum: its text and its value in float64 (x, i, j, a, b), and a bound on its parts. */
interface Body {
  text: string;
  value: (x: number[], i: number, j: number, a: number, b: number) => number;
  /** A bound on the magnitudes float32 rounds in it, however the rewrite arranges them. */
  scale: (x: number[], i: number, j: number, a: number, b: number) => number;
}

const leaf = fc.constantFrom<Body>(
  { text: "shift(x0,i')", value: (x, i) => x[i], scale: (x, i) => Math.abs(x[i]) },
  { text: 'x[j]', value: (x, _i, j) => x[j], scale: (x, _i, j) => Math.abs(x[j]) },
  // the phase difference of a Kuramoto coupling
  {
    text: "(shift(x0,i')-x[j])",
    value: (x, i, j) => x[i] - x[j],
    scale: (x, i, j) => Math.abs(x[i]) + Math.abs(x[j]),
  },
  { text: 'a', value: (_x, _i, _j, a) => a, scale: (_x, _i, _j, a) => Math.abs(a) },
  { text: 'b', value: (_x, _i, _j, _a, b) => b, scale: (_x, _i, _j, _a, b) => Math.abs(b) },
  { text: '0.5', value: () => 0.5, scale: () => 0.5 },
  { text: "0.1*i'", value: (_x, i) => 0.1 * i, scale: (_x, i) => 0.1 * i },
  { text: '2', value: () => 2, scale: () => 2 },
);
const body: fc.Arbitrary<Body> = fc.letrec<{ e: Body }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(tie('e'), fc.constantFrom('+', '-', '*'), tie('e')).map(
      ([l, o, r]): Body => ({
        text: `(${l.text}${o}${r.text})`,
        value: (...v) =>
          o === '+'
            ? l.value(...v) + r.value(...v)
            : o === '-'
              ? l.value(...v) - r.value(...v)
              : l.value(...v) * r.value(...v),
        scale: (...v) => (o === '*' ? l.scale(...v) * r.scale(...v) : l.scale(...v) + r.scale(...v)),
      }),
    ),
    fc.tuple(fc.constantFrom('sin', 'cos', 'tanh'), tie('e')).map(
      ([f, e]): Body => ({
        text: `${f}(${e.text})`,
        value: (...v) => (Math[f as 'sin'] as (x: number) => number)(e.value(...v)),
        scale: (...v) => 1 + e.scale(...v),
      }),
    ),
    tie('e').map(
      (e): Body => ({
        text: `exp(0.3*(${e.text}))`,
        value: (...v) => Math.exp(0.3 * e.value(...v)),
        scale: (...v) => Math.exp(0.3 * e.scale(...v)) * (1 + e.scale(...v)),
      }),
    ),
    tie('e').map((e): Body => ({ text: `-(${e.text})`, value: (...v) => -e.value(...v), scale: e.scale })),
    tie('e').map(
      (e): Body => ({
        text: `(${e.text})/(shift(x0,i')^2+1)`,
        value: (x, i, ...r) => e.value(x, i, ...r) / (x[i] ** 2 + 1),
        scale: (x, i, ...r) => e.scale(x, i, ...r) + 1,
      }),
    ),
    tie('e').map((e): Body => ({ text: `(${e.text})/2`, value: (...v) => e.value(...v) / 2, scale: e.scale })),
  ),
})).e;

test('random sums, separable or not: the right-hand side is the sum as written, in float64 to float32 rounding', () => {
  const n = 16;
  let separated = 0,
    kept = 0;
  fc.assert(
    fc.property(body, (t) => {
      const text = `par a=0.7, b=-0.4
x[0..${n - 1}]' = -x[j] + sum(0, ${n - 1})of(${t.text})/${n}
@ total=0.1, dt=0.05
done`;
      const a = analyse(text);
      if (!a.model) return; // a body the language refuses is not this test's subject
      const m = a.model;
      if (JSON.stringify(m.equations) === JSON.stringify(parse(text, false).equations)) kept++;
      else separated++;
      const rand = random(text.length);
      for (let trial = 0; trial < 3; trial++) {
        const x = Array.from({ length: n }, rand);
        const [pa, pb] = [rand(), rand()];
        const f = fused(m, Float64Array.from(x), Float64Array.from([pa, pb]));
        f.forEach((y, j) => {
          let exact = 0,
            scale = 0;
          for (let i = 0; i < n; i++) {
            exact += t.value(x, i, j, pa, pb);
            scale += t.scale(x, i, j, pa, pb);
          }
          exact = -x[j] + exact / n;
          const tol = 4e-6 * (1 + Math.abs(x[j]) + scale / n) * (1 + scale / n);
          if (!Number.isFinite(exact) || !Number.isFinite(tol)) return;
          assert.ok(Math.abs(y - exact) <= tol, `f[${j}] = ${y}, float64 ${exact} (±${tol})\n${text}`);
        });
      }
    }),
    { seed: 17, numRuns: 200 },
  );
  assert.ok(separated >= 20 && kept >= 20, `${separated} random sums separated, ${kept} kept`);
});
