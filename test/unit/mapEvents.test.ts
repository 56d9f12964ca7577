// The reference of a map with events (engine/mapReference.ts: mapEventsReference, scalarKernel/referenceMap.ts):
// the map's adjoint stepped back through the resets at the iterations where the map fires them. Checked against
// central differences in float64 of a float64 re-implementation of the map written here, its firing iterations
// held fixed; AD against it; the texts of the check (the reference line, the map-model note, the refusal of a
// condition on the edge of its test that moves with the states, the note of one that moves with a parameter).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import type { Model } from '../../solver/model';
import { referenceLine } from '../../solver/presentation/referenceText';
import { GRADCHECK_TOLERANCE } from '../../solver/engine/finiteDifferences';

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

const N = 30;

/**
 * Two events, both firing in the middle of the run and once at the same iteration: the first resets x to a value
 * that reads x and the parameter c, and y to a constant (y's adjoint is zeroed there); the second resets y to a
 * value that reads y, x and b. When both fire, the second (later line) wins y.
 */
const TWO_EVENTS = [
  'par a=0.9, b=0.3, c=0.5',
  'x(t+1) = a*x + b + 0.1*y',
  'y(t+1) = 0.8*y + c*x',
  'init x=0.2, y=0.1',
  'global 1 x-0.8 {x=c*x-0.4; y=0.5}',
  'global 1 y-0.5 {y=b*y+0.2*x}',
  'loss = 0.5*x(T)^2 + y(T)',
  `@ total=${N}`,
  'done',
].join('\n');

/** The same map with c a per-step parameter (one copy per iteration; the reset at iteration n reads copy n). */
const PER_STEP = TWO_EVENTS.replace('par a=0.9, b=0.3, c=0.5', 'par a=0.9, b=0.3\nparam c per-step = 0.5');

interface Theta {
  a: number;
  b: number;
  /** c per iteration. */
  c: number[];
}

/**
 * Float64: the iterates, with XPPAUT's rule (each event's condition before and after the step, every reset value
 * on the state after the step, a later event winning a state). With `fired` given, those firings are applied
 * whatever the conditions say (the firing iterations held fixed); the firings and the smallest |condition| seen.
 */
function iterate(th: Theta, fired?: boolean[][]) {
  let x = 0.2,
    y = 0.1;
  const cond = (xx: number, yy: number) => [xx - 0.8, yy - 0.5];
  const firings: boolean[][] = [];
  let closest = Infinity;
  for (let n = 0; n < N; n++) {
    const c = th.c[n];
    const before = cond(x, y);
    const xs = th.a * x + th.b + 0.1 * y,
      ys = 0.8 * y + c * x;
    const after = cond(xs, ys);
    const fires = before.map((c0, e) => c0 < 0 && after[e] > 0);
    for (const v of [...before, ...after]) closest = Math.min(closest, Math.abs(v));
    const f = fired ? fired[n] : fires;
    firings.push(fires);
    let xn = xs,
      yn = ys;
    if (f[0]) {
      xn = c * xs - 0.4;
      yn = 0.5;
    }
    if (f[1]) yn = th.b * ys + 0.2 * xs;
    x = xn;
    y = yn;
  }
  return { loss: 0.5 * x * x + y, firings, closest };
}

/** dℓ/da, dℓ/db, dℓ/dc_n by central differences in float64 with the firings of θ held fixed. */
function centralDifferences(th: Theta) {
  const { firings } = iterate(th);
  const eps = 1e-6;
  const quotient = (move: (t: Theta, d: number) => void) => {
    const plus = structuredClone(th),
      minus = structuredClone(th);
    move(plus, eps);
    move(minus, -eps);
    return (iterate(plus, firings).loss - iterate(minus, firings).loss) / (2 * eps);
  };
  return {
    a: quotient((t, d) => (t.a += d)),
    b: quotient((t, d) => (t.b += d)),
    c: th.c.map((_v, n) => quotient((t, d) => (t.c[n] += d))),
  };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-9, Math.abs(b));
const THETA: Theta = { a: 0.9, b: 0.3, c: new Array(N).fill(0.5) };

describe('maps with events: the reference steps back through the resets', () => {
  test('the map fires both events in the middle of the run, once together, far from the edges of their tests', () => {
    const { firings, closest } = iterate(THETA);
    const steps = (e: number) => firings.flatMap((f, n) => (f[e] ? [n] : []));
    assert.ok(steps(0).length >= 2 && steps(1).length >= 2, JSON.stringify(firings));
    assert.ok(steps(0)[0] > 0 && steps(1)[0] > 0, 'firings in the middle');
    assert.ok(
      firings.some((f) => f[0] && f[1]),
      'both at one iteration',
    );
    assert.ok(
      firings.some((f) => !f[0] && f[1]),
      'the second alone',
    );
    assert.ok(closest > 1e-3, `a condition at ${closest} from 0: float32 and float64 might fire apart`);
  });

  test('shared parameters: the reference equals float64 central differences with the firings held fixed, and AD equals it', async () => {
    const fd = centralDifferences(THETA);
    const r = await runCheck(model(TWO_EVENTS), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable, undefined, r.referenceUnavailable?.message);
    const byName = new Map(r.parameters.map((p) => [p.name, p]));
    for (const [name, want] of [
      ['a', fd.a],
      ['b', fd.b],
      ['c', fd.c.reduce((s, v) => s + v, 0)],
    ] as const) {
      const p = byName.get(name)!;
      assert.ok(rel(p.reference[0][0], want) < 1e-4, `reference ${name}: ${p.reference[0][0]} against ${want}`);
      assert.ok(rel(p.raw[0][0], want) < 1e-4, `AD ${name}: ${p.raw[0][0]} against ${want}`);
      assert.ok(p.metrics.relError < 1e-5, `${name}: AD against the reference ${p.metrics.relError}`);
      assert.ok(p.metrics.gradcheckRelError < GRADCHECK_TOLERANCE, `${name}: ${p.metrics.gradcheckRelError}`);
    }
    assert.ok(r.referenceError > 0 && r.referenceError < 1e-5);
    assert.deepEqual(r.eventReference, { firings: iterate(THETA).firings.flat().filter(Boolean).length, steps: N });
    assert.match(
      referenceLine(r),
      /^reference: the map's own adjoint iterated backward through the resets of its \d+ firings \(held at their iterations\)/,
    );
    assert.ok(!r.findings.some((f) => f.code === 'reference-unavailable' || f.code === 'map-event-edge'));
  });

  test('a per-step parameter read by a reset: each copy equals float64 central differences in that copy', async () => {
    const fd = centralDifferences(THETA);
    const r = await runCheck(model(PER_STEP), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable, undefined, r.referenceUnavailable?.message);
    const c = r.parameters.find((p) => p.name === 'c')!;
    assert.equal(c.reference.length, N);
    const { firings } = iterate(THETA);
    // A copy whose iteration fires event 1 gets the reset's term (c·x̃ − 0.4 reads c) besides the step's.
    assert.ok(firings.some((f) => f[0]));
    c.reference.forEach((row, n) => {
      assert.ok(
        Math.abs(row[0] - fd.c[n]) <= 1e-4 * Math.max(1e-3, Math.abs(fd.c[n])),
        `reference c_${n}: ${row[0]} against ${fd.c[n]}`,
      );
      assert.ok(
        Math.abs(c.raw[n][0] - fd.c[n]) <= 1e-4 * Math.max(1e-3, Math.abs(fd.c[n])),
        `AD c_${n}: ${c.raw[n][0]} against ${fd.c[n]}`,
      );
    });
  });

  test('a reset to a constant zeroes its state’s adjoint: the initial value of y has no gradient through a firing of both', async () => {
    // No parameter: the check differentiates x(0) and y(0). Event 1 sets y = 0.5 whatever y was; the loss reads y(T)
    // only through later steps from that constant, so ∂ℓ/∂y(0) passes only through x (y's share is cut at the firing).
    const text = [
      'x(t+1) = 0.9*x + 0.3 + 0.1*y',
      'y(t+1) = 0.8*y + 0.5*x',
      'init x=0.2, y=0.1',
      'global 1 x-1 {y=0.5}',
      'loss = y(T)',
      `@ total=${N}`,
    ].join('\n');
    const r = await runCheck(model(text), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable, undefined, r.referenceUnavailable?.message);
    // Float64 central differences in x(0), y(0) with the firings held fixed.
    const run = (x0: number, y0: number, fired?: boolean[]) => {
      let x = x0,
        y = y0;
      const fires: boolean[] = [];
      for (let n = 0; n < N; n++) {
        const xs = 0.9 * x + 0.3 + 0.1 * y,
          ys = 0.8 * y + 0.5 * x;
        const f = fired ? fired[n] : x - 1 < 0 && xs - 1 > 0;
        fires.push(x - 1 < 0 && xs - 1 > 0);
        x = xs;
        y = f ? 0.5 : ys;
      }
      return { loss: y, fires };
    };
    const { fires } = run(0.2, 0.1);
    assert.ok(fires.some(Boolean));
    const d = 1e-6;
    const dx = (run(0.2 + d, 0.1, fires).loss - run(0.2 - d, 0.1, fires).loss) / (2 * d);
    const dy = (run(0.2, 0.1 + d, fires).loss - run(0.2, 0.1 - d, fires).loss) / (2 * d);
    const byName = new Map(r.parameters.map((p) => [p.name, p]));
    assert.ok(
      rel(byName.get('x(0)')!.reference[0][0], dx) < 1e-4,
      `x(0): ${byName.get('x(0)')!.reference[0][0]} against ${dx}`,
    );
    assert.ok(
      Math.abs(byName.get('y(0)')!.reference[0][0] - dy) < 1e-6,
      `y(0): ${byName.get('y(0)')!.reference[0][0]} against ${dy}`,
    );
  });

  test('a condition exactly 0 on the edge of its test that moves with the states: no reference, and why', async () => {
    // x climbs by a = 1 to exactly 2 at t = 2: sign 1 needs x − 2 > 0 after the step, so it does not fire, but any
    // larger a fires it there. The states carry the move to every parameter: the loss has no derivative.
    const text = 'par a=1\nx(t+1) = x + a\ninit x=0\nglobal 1 x-2 {x=0}\n@ total=5\n';
    const r = await runCheck(model(text), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable?.cause, 'events');
    assert.equal(r.referenceUnavailable?.range.start.line, 3);
    assert.match(
      r.referenceUnavailable!.reason,
      /^event 1's condition is exactly 0 at t = 2, on the edge of its firing test, and moves with the states/,
    );
    assert.match(
      r.referenceUnavailable!.message,
      /^No reference for this map: .*applies each reset at the iteration where its condition crosses/,
    );
    assert.doesNotMatch(r.referenceUnavailable!.message, /flow|saltation/);
    assert.match(referenceLine(r), /^reference: n\/a, event 1's condition is exactly 0/);
    assert.ok(r.findings.some((f) => f.code === 'reference-unavailable'));
  });

  test('a condition exactly 0 on the edge of its test that moves only with a parameter it reads: the reference, and a note naming it', async () => {
    // XPPAUT's `global 0 t-t0 {…}` at t = t0: sign 0 needs a nonzero value before the step, so it does not fire;
    // a larger t0 fires it at the first iteration. Only t0 moves it: a, the loss's own slope, is unaffected.
    const text = 'par a=0.5, t0=0\nx(t+1) = a*x + 1\ninit x=0.3\nglobal 0 t-t0 {x=2}\n@ total=8\n';
    const r = await runCheck(model(text), { backend: 'cpu' });
    assert.equal(r.referenceUnavailable, undefined, r.referenceUnavailable?.message);
    assert.deepEqual(r.eventReference, { firings: 0, steps: 8 });
    assert.match(referenceLine(r), /its events never fire here: no reset to step back through/);
    const notes = r.findings.filter((f) => f.code === 'map-event-edge');
    assert.equal(notes.length, 1);
    assert.equal(notes[0].range.start.line, 3);
    assert.equal(notes[0].parameter, 't0');
    assert.match(
      notes[0].message,
      /^This event's condition is exactly 0 at t = 0, on the edge of its firing test, and moves with t0:/,
    );
    // x_N = a^N x_0 + (1 − a^N)/(1 − a): dℓ/da for ℓ = ½x_N² in float64.
    const a = 0.5,
      n = 8;
    const xN = a ** n * 0.3 + (1 - a ** n) / (1 - a);
    const dxN = n * a ** (n - 1) * 0.3 + (-(n * a ** (n - 1)) * (1 - a) + (1 - a ** n)) / (1 - a) ** 2;
    const pa = r.parameters.find((p) => p.name === 'a')!;
    assert.ok(rel(pa.reference[0][0], xN * dxN) < 1e-5, `a: ${pa.reference[0][0]} against ${xN * dxN}`);
  });

  test('random maps with events: AD through the solve equals the reference (the same firings, the same adjoint)', async () => {
    // Seeded: contracting maps of 2–3 states, 1–2 events whose resets read states, parameters, or nothing.
    let seed = 12345;
    const rnd = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
    const num = (lo: number, hi: number) => (lo + (hi - lo) * rnd()).toFixed(3);
    let compared = 0,
      fired = 0;
    for (let m = 0; m < 12; m++) {
      const S = 2 + Math.floor(rnd() * 2);
      const names = ['x', 'y', 'z'].slice(0, S);
      const lines = [`par a=${num(0.5, 0.9)}, b=${num(0.1, 0.5)}`];
      if (rnd() < 0.5) lines.push(`param c per-step = ${num(0.2, 0.6)}`);
      else lines.push(`par c=${num(0.2, 0.6)}`);
      names.forEach((v, i) => {
        const other = names[(i + 1) % S];
        lines.push(`${v}(t+1) = a*${v} + b*tanh(${other}) + c*${num(0.2, 1)}`);
      });
      lines.push(`init ${names.map((v) => `${v}=${num(-0.5, 0.5)}`).join(', ')}`);
      const events = 1 + Math.floor(rnd() * 2);
      for (let e = 0; e < events; e++) {
        const v = pick(names),
          w = pick(names);
        const value = pick([`c*${w}-0.3`, `${num(-0.5, 0.5)}`, `b*${v}*${w}`, `${w}+a-1`]);
        lines.push(`global ${pick(['1', '-1', '0'])} ${v}-${num(0.3, 1)} {${w}=${value}}`);
      }
      lines.push(`loss = ${names.map((v) => `${v}(T)^2`).join(' + ')}`, '@ total=25');
      const text = lines.join('\n');
      const r = await runCheck(model(text), { backend: 'cpu' });
      if (r.referenceUnavailable) {
        // Only the honest refusal of an edge that moves with the states may stop it.
        assert.match(r.referenceUnavailable.reason, /on the edge of its firing test/, text);
        continue;
      }
      compared++;
      fired += r.eventReference?.firings ?? 0;
      for (const p of r.parameters)
        assert.ok(p.metrics.relError < 1e-5, `${p.name}: AD against the reference ${p.metrics.relError}\n${text}`);
    }
    assert.ok(compared >= 8 && fired >= 10, `${compared} maps compared, ${fired} firings`);
  });

  test('the map-model note says the reference steps back through the resets', () => {
    const note = analyse(TWO_EVENTS).diagnostics.find((d) => d.code === 'map-model');
    assert.match(note?.message ?? '', /stepping back through each reset at the iteration where the map fired it/);
    assert.doesNotMatch(note?.message ?? '', /does not step back/);
  });
});
