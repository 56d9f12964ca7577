// The operation table (solver/ops/table.ts) against itself and against finite
// differences: for every entry, at random points where it is differentiable,
// TF.js's gradient of its TF.js op, the fused path's scalar derivative, the
// hand-written tensor derivative (where there is one) and a central difference
// of the scalar value agree; the TF.js op computes the scalar value; constant
// folding gives the scalar value. And every function name the checker,
// completion and hover know has exactly one entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initBackend } from '../../solver/engine/backend';
import type { TF, Tensor } from '../../solver/engine/tf';
import {
  FUNCTIONS,
  LOWERED_FUNCTIONS,
  NEGATE,
  OPERATORS,
  POWER_FORMS,
  REDUCTIONS,
  engineFunction,
  tableOperation,
  type BinaryOp,
  type Operation,
  type Reduction,
  type UnaryOp,
} from '../../solver/ops/table';
import { analyse } from '../../solver/language/index';
import { BUILTINS, BUILTIN_NAMES, LOWERED } from '../../solver/language/builtins';
import { builtinFunction, builtinFunctions, XPP_FUNCTION_DOCS } from '../../solver/service/vocabulary';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/repo';

/** Every entry, named as a reader finds it. */
function entries(): [string, Operation][] {
  const out: [string, Operation][] = [...FUNCTIONS].map(([n, op]) => [n, op]);
  for (const [n, op] of REDUCTIONS) out.push([`${n} (reduction)`, op]);
  for (const [n, op] of Object.entries(OPERATORS)) out.push([`a ${n} b`, op]);
  out.push(['-x', NEGATE]);
  for (const [k, op] of POWER_FORMS) if (op !== 'identity') out.push([`x^${k}`, op]);
  // A model's tables (XPPAUT `table`) and noise realisations (step functions of t) are made per model.
  const samples = { xlo: -1.5, dx: 0.5, values: [0.3, -1, 2, 0.5, 0.25, -0.75, 1.5] };
  out.push(['a linear table', tableOperation({ ...samples, interpolation: 'linear' }, 'table', 'f(x)')]);
  out.push(['a step table', tableOperation({ ...samples, interpolation: 'step' }, 'noise', 'w(t)')]);
  return out;
}

const H = 1e-6;
/** Points this far (in the arguments) from a kink count as smooth. */
const MARGIN = 1e-3;
const RUNS = 40;

/** |got − want| within float32 rounding of TF.js plus a relative part. */
function near(got: number, want: number, what: string, rel = 2e-4) {
  assert.ok(Math.abs(got - want) <= 1e-5 + rel * Math.abs(want), `${what}: ${got} vs ${want}`);
}

/** Points drawn from each argument's domain (as float32, so TF.js sees the same inputs), away from kinks. */
function points(domain: readonly (readonly [number, number])[], n: number, kink?: (...args: number[]) => number) {
  const arg = (i: number) =>
    fc
      .double({
        min: domain[Math.min(i, domain.length - 1)][0],
        max: domain[Math.min(i, domain.length - 1)][1],
        noNaN: true,
      })
      .map(Math.fround);
  return fc.tuple(...Array.from({ length: n }, (_x, i) => arg(i))).filter((xs) => !kink || kink(...xs) > MARGIN);
}

function checkUnary(tf: TF, name: string, op: UnaryOp) {
  fc.assert(
    fc.property(points(op.smooth.domain, 1, op.smooth.kink), ([x]) => {
      const y = op.value(x),
        d = op.derivative(x, y);
      near(
        d,
        (op.value(x + H) - op.value(x - H)) / (2 * H),
        `${name}: scalar derivative vs central difference at ${x}`,
        1e-5,
      );
      assert.equal(op.fold(x), y, `${name}: constant folding vs scalar value at ${x}`);
      tf.tidy(() => {
        const tx = tf.scalar(x);
        near(op.tensor(tf, tx).dataSync()[0], y, `${name}: TF.js value at ${x}`);
        near(
          tf
            .grad((v: Tensor) => op.tensor(tf, v))(tx)
            .dataSync()[0],
          d,
          `${name}: TF.js VJP vs scalar derivative at ${x}`,
        );
        if (op.tensorDerivative)
          near(
            op.tensorDerivative(tf, tx, op.tensor(tf, tx)).dataSync()[0],
            d,
            `${name}: hand-written tensor derivative at ${x}`,
          );
      });
    }),
    { numRuns: RUNS, seed: 14 },
  );
}

function checkBinary(tf: TF, name: string, op: BinaryOp) {
  fc.assert(
    fc.property(points(op.smooth.domain, 2, op.smooth.kink), ([a, b]) => {
      const y = op.value(a, b),
        da = op.derivativeA(a, b, y),
        db = op.derivativeB(a, b, y);
      near(
        da,
        (op.value(a + H, b) - op.value(a - H, b)) / (2 * H),
        `${name}: ∂/∂a vs central difference at (${a}, ${b})`,
        1e-5,
      );
      near(
        db,
        (op.value(a, b + H) - op.value(a, b - H)) / (2 * H),
        `${name}: ∂/∂b vs central difference at (${a}, ${b})`,
        1e-5,
      );
      assert.equal(op.fold(a, b), y, `${name}: constant folding vs scalar value at (${a}, ${b})`);
      tf.tidy(() => {
        const ta = tf.scalar(a),
          tb = tf.scalar(b);
        const ty = op.tensor(tf, ta, tb);
        near(ty.dataSync()[0], y, `${name}: TF.js value at (${a}, ${b})`);
        const [ga, gb] = tf.grads((u: Tensor, v: Tensor) => op.tensor(tf, u, v))([ta, tb]);
        near(ga.dataSync()[0], da, `${name}: TF.js VJP ∂/∂a vs scalar at (${a}, ${b})`);
        near(gb.dataSync()[0], db, `${name}: TF.js VJP ∂/∂b vs scalar at (${a}, ${b})`);
        if (op.tensorVjp) {
          const dy = tf.scalar(0.75);
          near(
            op.tensorVjp.a(tf, dy, ta, tb, ty).dataSync()[0],
            0.75 * da,
            `${name}: hand-written VJP ∂/∂a at (${a}, ${b})`,
          );
          near(
            op.tensorVjp.b(tf, dy, ta, tb, ty).dataSync()[0],
            0.75 * db,
            `${name}: hand-written VJP ∂/∂b at (${a}, ${b})`,
          );
        }
      });
    }),
    { numRuns: RUNS, seed: 14 },
  );
}

function checkReduction(tf: TF, name: string, op: Reduction) {
  const domain = op.smooth.domain[0];
  const vectors = fc
    .array(fc.double({ min: domain[0], max: domain[1], noNaN: true }).map(Math.fround), { minLength: 1, maxLength: 5 })
    .filter((xs) => !op.smooth.kink || op.smooth.kink(...xs) > MARGIN);
  fc.assert(
    fc.property(vectors, (xs) => {
      const y = op.value(xs);
      assert.equal(op.fold([xs[0]]), op.value([xs[0]]), `${name}: constant folding of a scalar`);
      tf.tidy(() => {
        const tx = tf.tensor1d(xs);
        near(op.tensor(tf, tx).dataSync()[0], y, `${name}: TF.js value of [${xs}]`);
        // The batched form: each batch element of [b, r, c] reduced to [b, 1, 1].
        near(
          op.tensor(tf, tf.reshape(tx, [1, xs.length, 1]), [1, 2], true).dataSync()[0],
          y,
          `${name}: batched TF.js value of [${xs}]`,
        );
        const g = tf
          .grad((v: Tensor) => op.tensor(tf, v))(tx)
          .dataSync();
        xs.forEach((_x, i) => {
          const d = op.derivative(xs, i, y);
          const up = xs.slice(),
            dn = xs.slice();
          up[i] += H;
          dn[i] -= H;
          near(d, (op.value(up) - op.value(dn)) / (2 * H), `${name}: ∂/∂x${i} vs central difference at [${xs}]`, 1e-5);
          near(g[i], d, `${name}: TF.js VJP ∂/∂x${i} vs scalar at [${xs}]`);
        });
      });
    }),
    { numRuns: RUNS, seed: 14 },
  );
}

test('every operation: TF.js VJP, scalar derivative and central differences agree; folding gives the scalar value', async () => {
  const { tf } = await initBackend('cpu');
  const all = entries();
  assert.ok(all.length >= FUNCTIONS.size + 13, 'the table lists functions and operators');
  for (const [name, op] of all) {
    if (op.kind === 'reduce') checkReduction(tf, name, op);
    else if (op.arity === 1) checkUnary(tf, name, op);
    else checkBinary(tf, name, op);
  }
});

test('the property test can fail: a wrong derivative is caught', async () => {
  const { tf } = await initBackend('cpu');
  const wrong: UnaryOp = { ...(FUNCTIONS.get('tanh') as UnaryOp), derivative: (_x, y) => 1 - y };
  /** fast-check reports the failed assertion as the cause. */
  const failsWith = (pattern: RegExp) => (e: unknown) => pattern.test(String((e as Error).cause ?? e));
  assert.throws(() => checkUnary(tf, 'tanh with a wrong derivative', wrong), failsWith(/central difference/));
  const wrongFold: BinaryOp = { ...(FUNCTIONS.get('mod') as BinaryOp), fold: (a, b) => a - b * Math.trunc(a / b) };
  assert.throws(() => checkBinary(tf, 'mod folded with trunc', wrongFold), failsWith(/constant folding/));
  const wrongTensor: BinaryOp = {
    ...OPERATORS['/'],
    tensorVjp: { a: OPERATORS['/'].tensorVjp!.a, b: (tf, dy, _a, b, y) => tf.div(tf.mul(dy, y), b) },
  };
  assert.throws(
    () => checkBinary(tf, 'a / b with a sign error in its VJP', wrongTensor),
    failsWith(/hand-written VJP/),
  );
});

test('every function name the checker, completion and hover know has one entry in the table', () => {
  // The checker's built-ins are the table's functions, in its order.
  assert.deepEqual([...BUILTINS.keys()], [...FUNCTIONS.keys()]);
  assert.deepEqual(BUILTIN_NAMES, [...FUNCTIONS.keys()]);
  assert.deepEqual([...LOWERED.keys()], [...LOWERED_FUNCTIONS.keys()]);
  for (const [name, f] of LOWERED_FUNCTIONS) {
    assert.equal(LOWERED.get(name), f.arity);
    assert.ok(!FUNCTIONS.has(name as never), `${name} is both a built-in and lowered`);
  }
  // Completion and hover list exactly the table's functions, with its docs and parameters (after the
  // XPPAUT functions the checker and the engine read themselves, such as delay).
  const docs = builtinFunctions();
  const own = XPP_FUNCTION_DOCS.map((f) => f.name);
  assert.deepEqual(
    docs.map((f) => f.name),
    [...own, ...FUNCTIONS.keys(), ...LOWERED_FUNCTIONS.keys()],
  );
  for (const f of docs.filter((d) => !own.includes(d.name))) {
    const entry = FUNCTIONS.get(f.name as never) ?? LOWERED_FUNCTIONS.get(f.name)!;
    assert.equal(f.doc, entry.doc, f.name);
    assert.equal(f.params.length, entry.arity, `${f.name}: parameters of ${entry.signature}`);
    assert.deepEqual(builtinFunction(f.name.toUpperCase()), f, `hover finds ${f.name} case-insensitively`);
  }
  // Both engines compile every built-in by its entry.
  for (const [name, op] of FUNCTIONS) assert.equal(engineFunction(name, op.arity), op, name);
  // Every built-in and lowered function passes the checker with its arity, and no other name does.
  for (const [name, f] of [...FUNCTIONS, ...LOWERED_FUNCTIONS]) {
    const args = Array.from({ length: f.arity }, () => '0.5').join(', ');
    const a = analyse(`x' = -x + ${name}(${args})\ninit x = 1\nloss = x(T)^2\n`);
    assert.deepEqual(
      a.diagnostics.filter((d) => d.severity === 'error'),
      [],
      name,
    );
  }
  const unknown = analyse("x' = -x + softplus(x)\nloss = x(T)^2\n");
  assert.ok(unknown.diagnostics.some((d) => d.code === 'unknown-function'));
  assert.equal(engineFunction('constructor', 1), undefined);
  assert.equal(engineFunction('__proto__', 1), undefined);
});

test('the language reference lists every function of the table', () => {
  const text = readFileSync(join(repoRoot(), 'docs/language.md'), 'utf8');
  const start = text.indexOf('Built-in functions');
  assert.ok(start >= 0, 'docs/language.md has a paragraph on built-in functions');
  const paragraph = text.slice(start, text.indexOf('\n\n', start));
  for (const name of [...FUNCTIONS.keys(), ...LOWERED_FUNCTIONS.keys()]) {
    assert.match(paragraph, new RegExp(`[\`\\s(]${name}[\`\\s(]`), `docs/language.md does not list ${name}`);
  }
});
