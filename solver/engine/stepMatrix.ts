// The step matrix of backward Euler's Newton iterations, M = I − h ∂f/∂x (engine/implicitStep.ts), on the sparsity of
// ∂f/∂x. A reaction–diffusion array reads a few neighbours per state: its Jacobian has a handful of entries per row,
// found from the fused program's operands (`jacobianPattern`), computed in a handful of reverse passes (rows that read
// disjoint states share one: `groups`) and factored as a band after reverse Cuthill–McKee ordering (a ladder of 202
// states: bandwidth 2 instead of 202). A dense pattern (an MLP field, the tensor path) is factored densely. Both are
// LU with partial pivoting in float64; M⁻¹r and M⁻ᵀg are solves with the factors (the adjoint's transposed solve
// reuses the step's factorisation).
import { OPERATORS, ZERO_DERIVATIVE } from '../ops/table';
import type { ScalarProgram } from './scalarProgram';

/**
 * Newton's method's limits, for backward Euler's steps (engine/implicitStep.ts: on the residual) and a DAE's
 * algebraic solve (engine/algebraic.ts: on the step). At most this many iterations: a well-posed step converges in two
 * or three, a step across an upstroke in a dozen.
 */
export const MAX_NEWTON_ITERATIONS = 30;
/** Converged below this, relative to the solution (float32 evaluation of f sets the floor). */
export const NEWTON_TOLERANCE = 1e-5;
/** After the last iteration, above this (relative) there is no solution within Newton's reach: NaN. */
export const NEWTON_FAILURE = 1e-3;

/** ∂f/∂x's structure: row i's columns cols[rowStart[i] … rowStart[i+1]) (sorted, the diagonal always among them). */
export interface JacobianPattern {
  D: number;
  rowStart: Int32Array;
  cols: Int32Array;
  /** Rows whose columns are disjoint: one reverse pass with cotangent 1 on each gives all their entries. */
  groups: Int32Array[];
  /** Every entry (D² of them): rows one at a time, factored densely. */
  dense: boolean;
  /** Band factorisation: the order (new index → state) and the bandwidths below and above the diagonal in it. */
  order?: { perm: Int32Array; position: Int32Array; below: number; above: number };
}

/** Bits of the per-instruction state sets at most (D/32 words each); a larger program's Jacobian is taken as dense. */
const MAX_PATTERN_WORDS = 1 << 23;

const densePatterns = new Map<number, JacobianPattern>();

/** Every row all columns: the tensor path (its Jacobian rows come from AD one at a time) and programs too large. */
export function densePattern(D: number): JacobianPattern {
  let p = densePatterns.get(D);
  if (!p) densePatterns.set(D, (p = makeDensePattern(D)));
  return p;
}

function makeDensePattern(D: number): JacobianPattern {
  const rowStart = new Int32Array(D + 1).map((_, i) => i * D);
  const cols = new Int32Array(D * D).map((_, k) => k % D);
  return { D, rowStart, cols, groups: Array.from({ length: D }, (_, i) => Int32Array.of(i)), dense: true };
}

const patterns = new WeakMap<ScalarProgram, JacobianPattern>();

/**
 * The pattern of the program's ∂f/∂x: per output, the states its value reads through derivatives that are not zero
 * everywhere (as the interpreter's reverse pass propagates them: heav, sign, comparisons and a select's condition
 * carry none). Made on first use, kept while the program lives.
 */
export function programPattern(prog: ScalarProgram): JacobianPattern {
  let p = patterns.get(prog);
  if (!p) patterns.set(prog, (p = patternOfRows(prog.states, stateReads(prog))));
  return p;
}

/** Per state element, the sorted states its f reads; undefined (dense) when the sets would be too large to tabulate. */
function stateReads(prog: ScalarProgram): Int32Array[] | undefined {
  const D = prog.states,
    W = (D + 31) >>> 5;
  // Through a DAE's algebraic variables a state's f may read any state its `0 =` equations read: dense.
  if (prog.delays || prog.algebraic || prog.code.length * W > MAX_PATTERN_WORDS) return undefined;
  const bits = new Uint32Array(prog.code.length * W);
  const or = (k: number, a: number) => {
    for (let w = 0; w < W; w++) bits[k * W + w] |= bits[a * W + w];
  };
  const zero = (d: unknown) => d === ZERO_DERIVATIVE;
  // 0·x (a scalar equation scattered into its place in an array's f by a product with 0) passes x's adjoint 0·g.
  const isZero = (i: number) => {
    const c = prog.code[i];
    return c.op === 'const' && c.value === 0;
  };
  const times = OPERATORS['*'];
  prog.code.forEach((c, k) => {
    switch (c.op) {
      case 'state':
        bits[k * W + (c.index >>> 5)] |= 1 << (c.index & 31);
        break;
      case 'unary':
        if (!zero(c.fn.derivative)) or(k, c.a);
        break;
      case 'binary':
        if (c.fn === times && (isZero(c.a) || isZero(c.b))) break;
        if (!zero(c.fn.derivativeA)) or(k, c.a);
        if (!zero(c.fn.derivativeB)) or(k, c.b);
        break;
      case 'select':
        or(k, c.a);
        or(k, c.b);
        break;
      case 'dot':
        c.a.forEach((i, j) => {
          if (!c.b) or(k, i);
          else if (!isZero(i) && !isZero(c.b[j])) {
            or(k, i);
            or(k, c.b[j]);
          }
        });
        break;
    }
  });
  return prog.outputs.map((o) => {
    const row: number[] = [];
    if (o >= 0)
      for (let w = 0; w < W; w++)
        for (let word = bits[o * W + w]; word !== 0; word &= word - 1)
          row.push(w * 32 + (31 - Math.clz32(word & -word)));
    return Int32Array.from(row);
  });
}

/** The pattern with these rows (the diagonal added), its reverse-pass groups and its band order; dense when most entries are. */
export function patternOfRows(D: number, rows: Int32Array[] | undefined): JacobianPattern {
  if (!rows) return densePattern(D);
  const withDiagonal = rows.map((r, i) => Int32Array.from(new Set([...r, i])).sort());
  const nnz = withDiagonal.reduce((a, r) => a + r.length, 0);
  if (nnz * 2 > D * D) return densePattern(D);
  const rowStart = new Int32Array(D + 1);
  withDiagonal.forEach((r, i) => {
    rowStart[i + 1] = rowStart[i] + r.length;
  });
  const cols = new Int32Array(nnz);
  withDiagonal.forEach((r, i) => cols.set(r, rowStart[i]));
  const pattern: JacobianPattern = { D, rowStart, cols, groups: rowGroups(D, rowStart, cols), dense: false };
  const order = bandOrder(D, rowStart, cols);
  // A band as wide as the matrix stores more than the dense factors: factor densely.
  if (2 * order.below + order.above + 1 < D) pattern.order = order;
  return pattern;
}

/** Greedy colouring of the rows: two rows sharing a column never share a group. */
function rowGroups(D: number, rowStart: Int32Array, cols: Int32Array): Int32Array[] {
  const rowsOf: number[][] = Array.from({ length: D }, () => []);
  for (let i = 0; i < D; i++) for (let k = rowStart[i]; k < rowStart[i + 1]; k++) rowsOf[cols[k]].push(i);
  const color = new Int32Array(D).fill(-1);
  const seen = new Int32Array(D + 1).fill(-1);
  let colors = 0;
  for (let i = 0; i < D; i++) {
    for (let k = rowStart[i]; k < rowStart[i + 1]; k++)
      for (const r of rowsOf[cols[k]]) if (color[r] >= 0) seen[color[r]] = i;
    let c = 0;
    while (seen[c] === i) c++;
    color[i] = c;
    colors = Math.max(colors, c + 1);
  }
  const groups: number[][] = Array.from({ length: colors }, () => []);
  for (let i = 0; i < D; i++) groups[color[i]].push(i);
  return groups.map((g) => Int32Array.from(g));
}

/** Reverse Cuthill–McKee on the symmetrised pattern, and the bandwidths of the reordered matrix. */
function bandOrder(D: number, rowStart: Int32Array, cols: Int32Array) {
  const adj: Set<number>[] = Array.from({ length: D }, () => new Set());
  for (let i = 0; i < D; i++)
    for (let k = rowStart[i]; k < rowStart[i + 1]; k++)
      if (cols[k] !== i) {
        adj[i].add(cols[k]);
        adj[cols[k]].add(i);
      }
  const degree = adj.map((s) => s.size);
  const byDegree = (a: number, b: number) => degree[a] - degree[b] || a - b;
  const order: number[] = [];
  const placed = new Uint8Array(D);
  const bfs = (start: number, record: boolean) => {
    const seen = new Uint8Array(D);
    let level = [start],
      last = [start];
    seen[start] = 1;
    const visited: number[] = [];
    while (level.length > 0) {
      last = level;
      const next: number[] = [];
      for (const v of level) {
        visited.push(v);
        const ns = [...adj[v]].filter((u) => !seen[u] && !placed[u]).sort(byDegree);
        for (const u of ns) {
          seen[u] = 1;
          next.push(u);
        }
      }
      level = next;
    }
    if (record) for (const v of visited) placed[v] = 1;
    return { visited, last };
  };
  for (let s = 0; s < D; s++) {
    if (placed[s]) continue;
    // A start of least degree in the component's last BFS level (a pseudo-peripheral node), then its BFS order.
    let start = s;
    for (let pass = 0; pass < 2; pass++) start = [...bfs(start, false).last].sort(byDegree)[0];
    order.push(...bfs(start, true).visited);
  }
  order.reverse();
  const perm = Int32Array.from(order);
  const position = new Int32Array(D);
  perm.forEach((v, k) => {
    position[v] = k;
  });
  let below = 0,
    above = 0;
  for (let i = 0; i < D; i++)
    for (let k = rowStart[i]; k < rowStart[i + 1]; k++) {
      const d = position[i] - position[cols[k]];
      if (d > below) below = d;
      if (-d > above) above = -d;
    }
  return { perm, position, below, above };
}

/** LU factors of M = I − h J: M⁻¹ r and M⁻ᵀ g by solves. `singular`: a zero (or non-finite) pivot; solves give NaN. */
export interface StepMatrix {
  readonly singular: boolean;
  solve(r: Float64Array): Float64Array;
  solveTransposed(g: Float64Array): Float64Array;
}

/** M = I − h J factored, J's entries `values` in `pattern`'s order (row i at rowStart[i]). */
export function factorStepMatrix(pattern: JacobianPattern, values: Float64Array, h: number): StepMatrix {
  return pattern.order ? new BandFactors(pattern, pattern.order, values, h) : denseFactors(pattern, values, h);
}

const nans = (D: number) => new Float64Array(D).fill(NaN);

/** Entries i and j of x exchanged (a pivot's row swap, applied to a solve's right-hand side). */
function swapEntries(x: Float64Array, i: number, j: number): void {
  const w = x[i];
  x[i] = x[j];
  x[j] = w;
}

/** Row-major dense LU with partial pivoting (of M = I − hJ). */
function denseFactors(pattern: JacobianPattern, values: Float64Array, h: number): StepMatrix {
  const { D, rowStart, cols } = pattern;
  const a = new Float64Array(D * D);
  for (let i = 0; i < D; i++) {
    a[i * D + i] = 1;
    for (let k = rowStart[i]; k < rowStart[i + 1]; k++) a[i * D + cols[k]] -= h * values[k];
  }
  return denseLu(a, D);
}

/**
 * The dense D×D matrix a (row-major, overwritten by its factors) factored: also a DAE's ∂g/∂z (engine/algebraic.ts).
 */
export function denseLu(a: Float64Array, D: number): StepMatrix {
  const piv = new Int32Array(D);
  let singular = false;
  for (let c = 0; c < D && !singular; c++) {
    let p = c;
    for (let r = c + 1; r < D; r++) if (Math.abs(a[r * D + c]) > Math.abs(a[p * D + c])) p = r;
    piv[c] = p;
    if (!(Math.abs(a[p * D + c]) > 0) || !Number.isFinite(a[p * D + c])) {
      singular = true;
      break;
    }
    // Only the columns from c: the multipliers stay with the column's elimination (the solves swap as they go).
    if (p !== c)
      for (let j = c; j < D; j++) {
        const s = a[c * D + j];
        a[c * D + j] = a[p * D + j];
        a[p * D + j] = s;
      }
    const d = a[c * D + c];
    for (let r = c + 1; r < D; r++) {
      const m = a[r * D + c] / d;
      a[r * D + c] = m;
      if (m === 0) continue;
      for (let j = c + 1; j < D; j++) a[r * D + j] -= m * a[c * D + j];
    }
  }
  return {
    singular,
    solve(r) {
      if (singular) return nans(D);
      const x = Float64Array.from(r);
      for (let c = 0; c < D; c++) {
        const p = piv[c];
        if (p !== c) swapEntries(x, c, p);
        const xc = x[c];
        if (xc !== 0) for (let i = c + 1; i < D; i++) x[i] -= a[i * D + c] * xc;
      }
      for (let i = D - 1; i >= 0; i--) {
        let s = x[i];
        for (let j = i + 1; j < D; j++) s -= a[i * D + j] * x[j];
        x[i] = s / a[i * D + i];
      }
      return x;
    },
    solveTransposed(g) {
      if (singular) return nans(D);
      const z = Float64Array.from(g);
      // Uᵀ z = g, then Lᵀ and the row swaps in reverse.
      for (let i = 0; i < D; i++) {
        let s = z[i];
        for (let j = 0; j < i; j++) s -= a[j * D + i] * z[j];
        z[i] = s / a[i * D + i];
      }
      for (let c = D - 1; c >= 0; c--) {
        let s = z[c];
        for (let i = c + 1; i < D; i++) s -= a[i * D + c] * z[i];
        z[c] = s;
        const p = piv[c];
        if (p !== c) swapEntries(z, c, p);
      }
      return z;
    },
  };
}

/**
 * Band LU with partial pivoting (LAPACK's gbtrf layout: column j holds rows j − below − above … j + below, the upper
 * band widened by `below` for the row swaps' fill), in the reordered indices. Entry (i, j) of the reordered matrix is
 * ab[j·ld + up + i − j]. A class and loops on locals, not closures over the factors: a step's factorisation is made
 * thousands of times a solve (schnak.ode: 500 steps × 13 solves), and closures made that often are never optimised
 * for their captured arrays (a factorisation of 202 rows, band 2 + 2: 25 → 13 µs; a solve 10 → 6 µs).
 */
class BandFactors implements StepMatrix {
  readonly singular: boolean;
  private readonly D: number;
  private readonly kl: number;
  private readonly up: number;
  private readonly ld: number;
  private readonly ab: Float64Array;
  private readonly work: Float64Array;
  private readonly piv: Int32Array;
  private readonly perm: Int32Array;
  private readonly position: Int32Array;

  constructor(pattern: JacobianPattern, order: NonNullable<JacobianPattern['order']>, values: Float64Array, h: number) {
    const { D, rowStart, cols } = pattern;
    const { perm, position, below: kl, above: ku } = order;
    const up = kl + ku,
      ld = 2 * kl + ku + 1;
    // The factors, the pivots and the solves' scratch in one buffer: each typed array's own backing store cost
    // schnak.ode's finite differences more than the elimination (6,000 factorisations of 202 rows, band 2 + 2).
    const buffer = new ArrayBuffer(8 * (ld * D + D) + 4 * D);
    const ab = new Float64Array(buffer, 0, ld * D),
      piv = new Int32Array(buffer, 8 * (ld * D + D), D);
    for (let i = 0; i < D; i++) {
      const pi = position[i];
      ab[pi * ld + up] += 1;
      for (let k = rowStart[i]; k < rowStart[i + 1]; k++) {
        const pj = position[cols[k]];
        ab[pj * ld + up + pi - pj] -= h * values[k];
      }
    }
    this.D = D;
    this.kl = kl;
    this.up = up;
    this.ld = ld;
    this.ab = ab;
    this.work = new Float64Array(buffer, 8 * ld * D, D);
    this.piv = piv;
    this.perm = perm;
    this.position = position;
    this.singular = !bandEliminate(ab, piv, D, kl, up, ld);
  }

  solve(r: Float64Array): Float64Array {
    const { D, kl, up, ld, ab, piv, perm, position } = this;
    if (this.singular) return nans(D);
    const x = this.work;
    for (let i = 0; i < D; i++) x[position[i]] = r[i];
    for (let c = 0; c < D; c++) {
      const p = piv[c];
      if (p !== c) swapEntries(x, c, p);
      const xc = x[c];
      if (xc !== 0)
        for (let i = c + 1, last = Math.min(c + kl, D - 1), at = c * ld + up + 1; i <= last; i++, at++)
          x[i] -= ab[at] * xc;
    }
    for (let i = D - 1; i >= 0; i--) {
      let s = x[i];
      // (i, j) for j > i: column j, row offset up + i − j.
      for (let j = i + 1, right = Math.min(i + up, D - 1); j <= right; j++) s -= ab[j * ld + up + i - j] * x[j];
      x[i] = s / ab[i * ld + up];
    }
    const out = new Float64Array(D);
    for (let k = 0; k < D; k++) out[perm[k]] = x[k];
    return out;
  }

  solveTransposed(g: Float64Array): Float64Array {
    const { D, kl, up, ld, ab, piv, perm, position } = this;
    if (this.singular) return nans(D);
    const z = this.work;
    for (let i = 0; i < D; i++) z[position[i]] = g[i];
    for (let i = 0; i < D; i++) {
      let s = z[i];
      for (let j = Math.max(0, i - up); j < i; j++) s -= ab[i * ld + up + j - i] * z[j];
      z[i] = s / ab[i * ld + up];
    }
    for (let c = D - 1; c >= 0; c--) {
      let s = z[c];
      for (let i = c + 1, last = Math.min(c + kl, D - 1), at = c * ld + up + 1; i <= last; i++, at++)
        s -= ab[at] * z[i];
      z[c] = s;
      const p = piv[c];
      if (p !== c) swapEntries(z, c, p);
    }
    const out = new Float64Array(D);
    for (let k = 0; k < D; k++) out[perm[k]] = z[k];
    return out;
  }
}

/** The band's elimination in place (ab in BandFactors's layout); false at a zero or non-finite pivot. */
function bandEliminate(ab: Float64Array, piv: Int32Array, D: number, kl: number, up: number, ld: number): boolean {
  for (let c = 0; c < D; c++) {
    const last = Math.min(c + kl, D - 1),
      right = Math.min(c + up, D - 1),
      diagonal = c * ld + up;
    // Column c's rows r ≥ c are ab[diagonal + (r − c)].
    let p = c;
    for (let r = c + 1; r <= last; r++) if (Math.abs(ab[diagonal + r - c]) > Math.abs(ab[diagonal + p - c])) p = r;
    piv[c] = p;
    const pivot = ab[diagonal + p - c];
    if (!(Math.abs(pivot) > 0) || !Number.isFinite(pivot)) return false;
    if (p !== c)
      for (let j = c; j <= right; j++) {
        const cj = j * ld + up + c - j,
          pj = j * ld + up + p - j;
        const s = ab[cj];
        ab[cj] = ab[pj];
        ab[pj] = s;
      }
    for (let r = c + 1; r <= last; r++) {
      const m = ab[diagonal + r - c] / pivot;
      ab[diagonal + r - c] = m;
      if (m === 0) continue;
      for (let j = c + 1; j <= right; j++) ab[j * ld + up + r - j] -= m * ab[j * ld + up + c - j];
    }
  }
  return true;
}
