// Backward Euler's Newton solve on the Jacobian's sparsity (solver/engine/stepMatrix.ts): the band and dense LU
// solves and transposed solves against Gaussian elimination written here, Newton's method on a sparse pattern
// against the same on the dense pattern, and whole checks of random sparse and dense systems (fused program: sparse
// rows and band factors; per-kernel tensor path: dense rows) against a float64 backward Euler written here, their
// AD gradients against its central differences.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  densePattern,
  factorStepMatrix,
  type JacobianPattern,
  patternOfRows,
  programPattern,
} from '../../solver/engine/stepMatrix';
import { newtonWith, type StepField } from '../../solver/engine/newtonStep';
import { analyse } from '../../solver/language/index';
import { runCheck } from '../../solver/check';
import { compileModel } from '../../solver/engine/compile';
import { initBackend } from '../../solver/engine/backend';
import type { Model } from '../../solver/model';
import { Rng } from '../../solver/engine/random';

/** A seeded uniform generator in [0, 1) (the engine's own). */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.uniform();
}

/** A random permutation of 0 … D−1. */
function shuffled(D: number, rnd: () => number): number[] {
  const p = Array.from({ length: D }, (_, i) => i);
  for (let i = D - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

type Structure = 'ladder' | 'sparse' | 'dense';

/** Per row the columns it reads: a ladder (two chains and rungs, state names shuffled), ~3 random, or all. */
function structure(kind: Structure, D: number, rnd: () => number): number[][] {
  if (kind === 'dense') return Array.from({ length: D }, () => Array.from({ length: D }, (_, j) => j));
  if (kind === 'sparse')
    return Array.from({ length: D }, (_, i) => [...new Set([i, Math.floor(rnd() * D), Math.floor(rnd() * D)])]);
  const name = shuffled(D, rnd),
    half = D >> 1;
  const rows: number[][] = Array.from({ length: D }, () => []);
  for (let k = 0; k < D; k++) {
    const nb = [
      k,
      k % half > 0 ? k - 1 : -1,
      k % half < half - 1 && k + 1 < D ? k + 1 : -1,
      k < half ? k + half : k - half,
    ];
    rows[name[k]] = nb.filter((j) => j >= 0 && j < D).map((j) => name[j]);
  }
  return rows;
}

/** Solve A x = b by Gaussian elimination with partial pivoting on a dense copy (float64). */
function gauss(A: number[][], b: number[]): number[] {
  const n = b.length;
  const a = A.map((r, i) => [...r, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = c + 1; r < n; r++) {
      const m = a[r][c] / a[c][c];
      for (let j = c; j <= n; j++) a[r][j] -= m * a[c][j];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = a[i][n];
    for (let j = i + 1; j < n; j++) s -= a[i][j] * x[j];
    x[i] = s / a[i][i];
  }
  return x;
}

/** The pattern's entries as a dense matrix. */
function denseOf(p: JacobianPattern, values: Float64Array): number[][] {
  const A = Array.from({ length: p.D }, () => new Array<number>(p.D).fill(0));
  for (let i = 0; i < p.D; i++) for (let k = p.rowStart[i]; k < p.rowStart[i + 1]; k++) A[i][p.cols[k]] = values[k];
  return A;
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0,
    s = 0;
  for (let i = 0; i < b.length; i++) s = Math.max(s, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + s));
  return m;
};

describe('the step matrix M = I − h J: band and dense LU', () => {
  for (const kind of ['ladder', 'sparse', 'dense'] as Structure[])
    for (const D of [1, 6, 41, 120])
      test(`${kind}, D = ${D}: M⁻¹r and M⁻ᵀg equal Gaussian elimination`, () => {
        const rnd = random(D * 7 + kind.length);
        const pattern = patternOfRows(
          D,
          structure(kind, D, rnd).map((r) => Int32Array.from(r)),
        );
        if (kind === 'ladder' && D > 6) {
          // Reverse Cuthill–McKee finds the ladder under the shuffled names: a band two or three wide.
          assert.ok(pattern.order, 'band order');
          assert.ok(pattern.order.below <= 3 && pattern.order.above <= 3, JSON.stringify(pattern.order));
          assert.ok(pattern.groups.length <= 8, `${pattern.groups.length} groups`);
        }
        if (kind === 'dense') assert.ok(pattern.dense);
        // h J of order 1 and more: M far from diagonally dominant, pivots chosen off the diagonal.
        const h = 0.9;
        const values = Float64Array.from(pattern.cols, () => 4 * (rnd() - 0.5));
        const J = denseOf(pattern, values);
        const M = J.map((row, i) => row.map((v, j) => (i === j ? 1 : 0) - h * v));
        const Mt = M.map((_, i) => M.map((row) => row[i]));
        const r = Float64Array.from({ length: D }, () => rnd() - 0.5);
        const lu = factorStepMatrix(pattern, values, h);
        assert.equal(lu.singular, false);
        const x = lu.solve(r),
          z = lu.solveTransposed(r);
        // Solves after these (the factors' scratch is reused) leave their answers as they were.
        const r2 = Float64Array.from({ length: D }, () => rnd() - 0.5);
        const x2 = lu.solve(r2),
          z2 = lu.solveTransposed(r2);
        assert.ok(maxRel(x, gauss(M, [...r])) < 1e-9, 'solve');
        assert.ok(maxRel(z, gauss(Mt, [...r])) < 1e-9, 'transposed solve');
        assert.ok(maxRel(x2, gauss(M, [...r2])) < 1e-9, 'a second solve');
        assert.ok(maxRel(z2, gauss(Mt, [...r2])) < 1e-9, 'a second transposed solve');
      });

  test('a singular M solves to NaN (the step then fails) instead of throwing', () => {
    const pattern = densePattern(2);
    // J = [[1, 1], [1, 1]], h = 0.5: M = [[0.5, −0.5], [−0.5, 0.5]] is singular.
    const lu = factorStepMatrix(pattern, Float64Array.of(1, 1, 1, 1), 0.5);
    assert.equal(lu.singular, true);
    assert.ok(lu.solve(Float64Array.of(1, 2)).every(Number.isNaN));
  });
});

/** A random nonlinear field on a structure: f_i = −k x_i − x_i³/10 + Σ_j w_ij tanh(x_j) + c x_{j0}; its Jacobian. */
function randomField(rows: number[][], rnd: () => number, k: number, c: number) {
  return fieldOf(
    rows,
    rows.map((r) => r.map(() => 3 * (rnd() - 0.5))),
    k,
    c,
  );
}

/** That field with the weights w. */
function fieldOf(rows: number[][], w: number[][], k: number, c: number) {
  const f = (x: ArrayLike<number>) =>
    Float64Array.from(rows, (r, i) => {
      let s = -k * x[i] - x[i] ** 3 / 10 + c * x[r[r.length - 1]];
      r.forEach((j, q) => {
        s += w[i][q] * Math.tanh(x[j]);
      });
      return s;
    });
  const jac = (x: ArrayLike<number>) =>
    rows.map((r, i) => {
      const row = new Map<number, number>([[i, -k - (3 * x[i] ** 2) / 10]]);
      const add = (j: number, v: number) => row.set(j, (row.get(j) ?? 0) + v);
      add(r[r.length - 1], c);
      r.forEach((j, q) => add(j, w[i][q] * (1 - Math.tanh(x[j]) ** 2)));
      return row;
    });
  return { w, f, jac };
}

/** A StepField on the test's float64 field, its Jacobian entries in `pattern`'s order. */
function fieldOn(pattern: JacobianPattern, fld: ReturnType<typeof randomField>): StepField {
  return {
    pattern,
    f: fld.f,
    jacobian: (y) => {
      const rows = fld.jac(y);
      return Float64Array.from(pattern.cols, (col, k) => {
        let i = 0;
        while (pattern.rowStart[i + 1] <= k) i++;
        return rows[i].get(col) ?? 0;
      });
    },
  };
}

/** One backward Euler step solved here: Newton's method in float64, the Jacobian dense, to 1e-13. */
function referenceStep(fld: ReturnType<typeof randomField>, x: Float64Array, h: number): Float64Array {
  const D = x.length;
  let y = Float64Array.from(x);
  for (let it = 0; it < 50; it++) {
    const fy = fld.f(y);
    const r = y.map((v, i) => v - x[i] - h * fy[i]);
    if (Math.max(...r.map(Math.abs)) < 1e-13) break;
    const J = fld.jac(y);
    const M = Array.from({ length: D }, (_, i) =>
      Array.from({ length: D }, (_, j) => (i === j ? 1 : 0) - h * (J[i].get(j) ?? 0)),
    );
    const d = gauss(M, [...r]);
    y = y.map((v, i) => v - d[i]);
  }
  return y;
}

describe("Newton's method on the sparse pattern", () => {
  for (const kind of ['ladder', 'sparse'] as Structure[])
    test(`${kind}: the same steps as on the dense pattern and as a float64 Newton written here`, () => {
      const D = 30,
        h = 0.4,
        rnd = random(kind === 'ladder' ? 11 : 12);
      const rows = structure(kind, D, rnd);
      const fld = randomField(rows, rnd, 2, 0.7);
      const sparse = patternOfRows(
        D,
        rows.map((r) => Int32Array.from(r)),
      );
      assert.ok(!sparse.dense);
      let x: Float64Array = Float64Array.from({ length: D }, () => 2 * (rnd() - 0.5));
      for (let n = 0; n < 5; n++) {
        const a = newtonWith(fieldOn(sparse, fld), x, h, true);
        const b = newtonWith(fieldOn(densePattern(D), fld), x, h, true);
        const ref = referenceStep(fld, x, h);
        assert.ok(a.matrix && b.matrix && !a.failure, `step ${n}`);
        assert.ok(maxRel(a.y, b.y) < 1e-12, `step ${n}: sparse vs dense ${maxRel(a.y, b.y)}`);
        assert.ok(maxRel(a.y, ref) < 1e-5, `step ${n}: vs float64 ${maxRel(a.y, ref)}`);
        // The AD path's factors are at the solution: both transposed solves agree.
        const g = Float64Array.from({ length: D }, () => rnd() - 0.5);
        assert.ok(maxRel(a.matrix.solveTransposed(g), b.matrix.solveTransposed(g)) < 1e-10);
        x = a.y;
      }
    });
});

/** An XPPAUT-style file of D scalar states s0 … with the structure's couplings and parameters k, c. */
function modelText(rows: number[][], w: number[][], k: number, c: number, steps: number, h: number): string {
  const eqs = rows.map((r, i) => {
    const terms = r.map((j, q) => `${w[i][q] < 0 ? '-' : '+'} ${Math.abs(w[i][q])}*tanh(s${j})`).join(' ');
    return `s${i}' = -k*s${i} - s${i}^3/10 + c*s${r[r.length - 1]} ${terms}`;
  });
  const inits = rows.map((_, i) => `s${i}=${((((i * 37) % 11) - 5) / 5).toString()}`).join(', ');
  return `par k=${k}, c=${c}\n${eqs.join('\n')}\ninit ${inits}\n@ total=${steps * h}, dt=${h}, meth=backeul\n`;
}

function model(text: string): Model {
  const a = analyse(text);
  assert.ok(a.model, JSON.stringify(a.diagnostics));
  return a.model;
}

describe('backward Euler checks of random sparse and dense systems', () => {
  for (const kind of ['ladder', 'sparse', 'dense'] as Structure[])
    test(`${kind}: loss and AD equal a float64 backward Euler and its central differences; dense rows agree`, async () => {
      const D = 12,
        steps = 8,
        h = 0.25,
        k = 3,
        c = 0.5,
        rnd = random(kind.length * 101);
      const rows = structure(kind, D, rnd);
      // Weights with few digits, so the file and the float64 solve below read the same numbers (none 0: a term 0·x
      // reads nothing).
      const w = rows.map((r) => r.map(() => (Math.round(300 * (rnd() - 0.5)) || 1) / 100));
      const text = modelText(rows, w, k, c, steps, h);
      const m = model(text);
      const lossAt = (kk: number, cc: number) => {
        const fld = fieldOf(rows, w, kk, cc);
        let x: Float64Array = Float64Array.from(rows, (_, i) => (((i * 37) % 11) - 5) / 5);
        for (let n = 0; n < steps; n++) x = referenceStep(fld, x, h);
        return x.reduce((s, v) => s + v * v, 0) / 2;
      };
      // The fused program's pattern: the file's couplings, not every state.
      const { tf } = await initBackend('cpu');
      const cm = compileModel(tf, m).compiled;
      const prog = cm.wholeSolve?.program;
      assert.ok(prog, 'a fused program');
      const pattern = programPattern(prog);
      for (let i = 0; i < D; i++)
        assert.deepEqual(
          [...pattern.cols.subarray(pattern.rowStart[i], pattern.rowStart[i + 1])],
          [...new Set([i, ...rows[i]])].sort((a, b) => a - b),
          `row ${i}`,
        );
      if (kind === 'ladder') assert.ok(pattern.order, 'band factors');
      const fused = await runCheck(m, { backend: 'cpu', reference: false });
      const perKernel = await runCheck(m, { backend: 'cpu', reference: false, wholeSolve: false });
      const L = lossAt(k, c);
      assert.ok(Math.abs(fused.loss - L) / L < 1e-5, `loss ${fused.loss} vs ${L}`);
      assert.ok(Math.abs(perKernel.loss - L) / L < 1e-5, `per kernel: loss ${perKernel.loss} vs ${L}`);
      const eps = 1e-5;
      const fd = {
        k: (lossAt(k + eps, c) - lossAt(k - eps, c)) / (2 * eps),
        c: (lossAt(k, c + eps) - lossAt(k, c - eps)) / (2 * eps),
      };
      for (const r of [fused, perKernel])
        for (const p of r.parameters) {
          const want = fd[p.name as 'k' | 'c'];
          const got = p.raw[0][0];
          assert.ok(Math.abs(got - want) / Math.abs(want) < 1e-3, `${p.name}: AD ${got} vs float64 FD ${want}`);
          assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: gradcheck ${p.metrics.gradcheckRelError}`);
        }
    });
});

test('an XPPAUT array chain (u[1..18] between u0 and u19): each row reads its neighbours only; band factors; the per-kernel dense path agrees', async () => {
  // 20 cells: the front end groups u0 … u19 into one array state whose f scatters the end cells' equations.
  const text = `par a=1.05, d=2, e=9
u0'=-u0+v0*u0^2+d*(u1-u0)
u[1..18]'=-u[j]+v[j]*u[j]^2+d*(u[j+1]-2*u[j]+u[j-1])
u19'=-u19+v19*u19^2+d*(u18-u19)
v0'=a-v0*u0^2+e*(v1-v0)
v[1..18]'=a-v[j]*u[j]^2+e*(v[j+1]-2*v[j]+v[j-1])
v19'=a-v19*u19^2+e*(v18-v19)
init u0=1.5,u1=1.3,v0=1.05,v1=1.05
init u[2..19]=1.05,v[j]=1.05
@ total=2, dt=0.25, meth=backeul
`;
  const m = model(text);
  const { tf } = await initBackend('cpu');
  const prog = compileModel(tf, m).compiled.wholeSolve?.program;
  assert.ok(prog && prog.states === 40, 'a fused program over 40 states');
  assert.deepEqual(
    m.states.map((s) => s.shape),
    [[20], [20]],
  );
  // Element k of u is u<k>. The end cells' equations are scattered into the array's f by products with 0: the
  // inner cells' rows do not read the end cells.
  const names = m.states.flatMap((s) => Array.from({ length: s.shape[0] }, (_, k) => `${s.name}${k}`));
  const at = new Map(names.map((n, i) => [n, i]));
  const pattern = programPattern(prog);
  names.forEach((n, i) => {
    const [kind, k] = [n[0], Number(n.slice(1))];
    const other = kind === 'u' ? 'v' : 'u';
    const want = [`${kind}${k - 1}`, n, `${kind}${k + 1}`, `${other}${k}`]
      .filter((x) => at.has(x))
      .map((x) => at.get(x)!);
    assert.deepEqual(
      [...pattern.cols.subarray(pattern.rowStart[i], pattern.rowStart[i + 1])],
      want.sort((p, q) => p - q),
      n,
    );
  });
  assert.ok(pattern.order && pattern.order.below <= 3 && pattern.order.above <= 3, JSON.stringify(pattern.order));
  const sparse = await runCheck(m, { backend: 'cpu', reference: false });
  const dense = await runCheck(m, { backend: 'cpu', reference: false, wholeSolve: false });
  assert.ok(Math.abs(sparse.loss - dense.loss) / dense.loss < 1e-6, `${sparse.loss} vs ${dense.loss}`);
  for (const p of sparse.parameters) {
    const q = dense.parameters.find((x) => x.name === p.name)!;
    assert.ok(
      Math.abs(p.raw[0][0] - q.raw[0][0]) / Math.abs(q.raw[0][0]) < 1e-4,
      `${p.name}: ${p.raw[0][0]} vs ${q.raw[0][0]}`,
    );
    assert.ok(p.metrics.gradcheckRelError < 1e-2, `${p.name}: gradcheck ${p.metrics.gradcheckRelError}`);
  }
});
