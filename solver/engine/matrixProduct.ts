// Matrix products for the per-step networks on the cpu backend. TF.js's cpu matMul walks every
// operand through generic strided, blocked loops: 2.6 ns a multiply–add for W @ x with W [256, 64],
// and 8 ns an element for the outer product dy xᵀ of its gradient, which a per-step weight needs
// at every step. These loops give the same float32 numbers (per output, the products of each block
// of 48 shared indices summed in double from 0 in index order, each block's sum added to the float32
// result) in the loop order that reads memory contiguously, and the gradient is TF.js's
// BatchMatMul gradient written with the same product. Other backends keep tf.matMul.
import type { TF, Tensor } from './tf';

/**
 * Whether the cpu backend uses these loops (tests turn them off to compare with tf.matMul), and the
 * smallest |a|·|b| they take: below it the custom gradient's bookkeeping costs more than the loops save
 * (a d = 2, width 16 network, W [16, 2] @ x: |a|·|b| = 64, checked 12 % slower; width 256 or d = 64
 * with width 16, |a|·|b| ≥ 16 K, 8–10 % faster).
 */
export const cpuProduct = { enabled: true, minOperandProduct: 1024 };

export type MatMul = (a: Tensor, b: Tensor, transposeA?: boolean, transposeB?: boolean) => Tensor;

/** TF.js cpu's block of shared indices (MathBackendCPU.blockSize). */
const BLOCK = 48;

/** Scratch for one block's double sums, grown as needed (the kernels run one at a time). */
let scratch = new Float64Array(1024);
function sums(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(Math.max(size, 2 * scratch.length));
  return scratch;
}

/** Batch count and the [rows, cols] of a rank-2 or rank-3 operand (rank 2: a batch of one). */
function split(shape: number[]): [number, number, number] {
  return shape.length === 2 ? [1, shape[0], shape[1]] : [shape[0], shape[1], shape[2]];
}

// One small function per loop shape, so that V8 compiles each tightly. A(i, k) = a[aBase + i·aI + k·aK],
// B(k, j) = b[bBase + k·bK + j·bJ]; out[o + i·n + j] receives the product.

/** K = 1: one rounded product per element (0 + p, as TF.js sums it: −0 becomes 0). B's row has stride 1 either way. */
function outerProduct(
  a: Float32Array,
  aBase: number,
  aI: number,
  b: Float32Array,
  bBase: number,
  m: number,
  n: number,
  out: Float32Array,
  o: number,
): void {
  for (let i = 0; i < m; i++) {
    const ai = a[aBase + i * aI],
      row = o + i * n;
    for (let j = 0; j < n; j++) out[row + j] = 0 + ai * b[bBase + j];
  }
}

/**
 * A @ v (v's stride is 1 whether or not it is transposed): row dot products, eight rows at a time,
 * then four. Each row's double sum is a chain of dependent adds in index order; four independent
 * chains run about three times faster than one (the adds' latency, not the multiplies, bounds a dot
 * product), eight another fifth faster (W [256, 64] @ x: 9.7 µs against 12.0).
 */
function rowDots(
  a: Float32Array,
  aBase: number,
  b: Float32Array,
  bBase: number,
  m: number,
  K: number,
  out: Float32Array,
  o: number,
): void {
  let i = 0;
  for (; i + 8 <= m; i += 8) {
    const r0 = aBase + i * K,
      r1 = r0 + K,
      r2 = r1 + K,
      r3 = r2 + K,
      r4 = r3 + K,
      r5 = r4 + K,
      r6 = r5 + K,
      r7 = r6 + K;
    let c0 = 0,
      c1 = 0,
      c2 = 0,
      c3 = 0,
      c4 = 0,
      c5 = 0,
      c6 = 0,
      c7 = 0;
    for (let k0 = 0; k0 < K; k0 += BLOCK) {
      const k1 = Math.min(k0 + BLOCK, K);
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        s4 = 0,
        s5 = 0,
        s6 = 0,
        s7 = 0;
      for (let k = k0; k < k1; k++) {
        const bk = b[bBase + k];
        s0 += a[r0 + k] * bk;
        s1 += a[r1 + k] * bk;
        s2 += a[r2 + k] * bk;
        s3 += a[r3 + k] * bk;
        s4 += a[r4 + k] * bk;
        s5 += a[r5 + k] * bk;
        s6 += a[r6 + k] * bk;
        s7 += a[r7 + k] * bk;
      }
      c0 = Math.fround(c0 + s0);
      c1 = Math.fround(c1 + s1);
      c2 = Math.fround(c2 + s2);
      c3 = Math.fround(c3 + s3);
      c4 = Math.fround(c4 + s4);
      c5 = Math.fround(c5 + s5);
      c6 = Math.fround(c6 + s6);
      c7 = Math.fround(c7 + s7);
    }
    out[o + i] = c0;
    out[o + i + 1] = c1;
    out[o + i + 2] = c2;
    out[o + i + 3] = c3;
    out[o + i + 4] = c4;
    out[o + i + 5] = c5;
    out[o + i + 6] = c6;
    out[o + i + 7] = c7;
  }
  for (; i + 4 <= m; i += 4) {
    const r0 = aBase + i * K,
      r1 = r0 + K,
      r2 = r1 + K,
      r3 = r2 + K;
    let c0 = 0,
      c1 = 0,
      c2 = 0,
      c3 = 0;
    for (let k0 = 0; k0 < K; k0 += BLOCK) {
      const k1 = Math.min(k0 + BLOCK, K);
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      for (let k = k0; k < k1; k++) {
        const bk = b[bBase + k];
        s0 += a[r0 + k] * bk;
        s1 += a[r1 + k] * bk;
        s2 += a[r2 + k] * bk;
        s3 += a[r3 + k] * bk;
      }
      c0 = Math.fround(c0 + s0);
      c1 = Math.fround(c1 + s1);
      c2 = Math.fround(c2 + s2);
      c3 = Math.fround(c3 + s3);
    }
    out[o + i] = c0;
    out[o + i + 1] = c1;
    out[o + i + 2] = c2;
    out[o + i + 3] = c3;
  }
  for (; i < m; i++) {
    const row = aBase + i * K;
    let acc = 0;
    for (let k0 = 0; k0 < K; k0 += BLOCK) {
      const k1 = Math.min(k0 + BLOCK, K);
      let s = 0;
      for (let k = k0; k < k1; k++) s += a[row + k] * b[bBase + k];
      acc = Math.fround(acc + s);
    }
    out[o + i] = acc;
  }
}

/** Aᵀ @ v: rows of A scaled and summed, eight at a time, then four (each output's double sum still runs over k in order). */
function columnDots(
  a: Float32Array,
  aBase: number,
  aK: number,
  b: Float32Array,
  bBase: number,
  m: number,
  K: number,
  out: Float32Array,
  o: number,
): void {
  const t = sums(m);
  for (let k0 = 0; k0 < K; k0 += BLOCK) {
    const k1 = Math.min(k0 + BLOCK, K);
    t.fill(0, 0, m);
    let k = k0;
    for (; k + 8 <= k1; k += 8) {
      const b0 = b[bBase + k],
        b1 = b[bBase + k + 1],
        b2 = b[bBase + k + 2],
        b3 = b[bBase + k + 3];
      const b4 = b[bBase + k + 4],
        b5 = b[bBase + k + 5],
        b6 = b[bBase + k + 6],
        b7 = b[bBase + k + 7];
      const c0 = aBase + k * aK,
        c1 = c0 + aK,
        c2 = c1 + aK,
        c3 = c2 + aK,
        c4 = c3 + aK,
        c5 = c4 + aK,
        c6 = c5 + aK,
        c7 = c6 + aK;
      for (let i = 0; i < m; i++) {
        t[i] =
          t[i] +
          a[c0 + i] * b0 +
          a[c1 + i] * b1 +
          a[c2 + i] * b2 +
          a[c3 + i] * b3 +
          a[c4 + i] * b4 +
          a[c5 + i] * b5 +
          a[c6 + i] * b6 +
          a[c7 + i] * b7;
      }
    }
    for (; k + 4 <= k1; k += 4) {
      const b0 = b[bBase + k],
        b1 = b[bBase + k + 1],
        b2 = b[bBase + k + 2],
        b3 = b[bBase + k + 3];
      const c0 = aBase + k * aK,
        c1 = c0 + aK,
        c2 = c1 + aK,
        c3 = c2 + aK;
      for (let i = 0; i < m; i++) t[i] = t[i] + a[c0 + i] * b0 + a[c1 + i] * b1 + a[c2 + i] * b2 + a[c3 + i] * b3;
    }
    for (; k < k1; k++) {
      const bk = b[bBase + k],
        col = aBase + k * aK;
      for (let i = 0; i < m; i++) t[i] += a[col + i] * bk;
    }
    for (let i = 0; i < m; i++) out[o + i] += t[i];
  }
}

/** The general case: k outermost within a block, then i, then j (B's row read contiguously). */
function blockedProduct(
  a: Float32Array,
  aBase: number,
  aI: number,
  aK: number,
  b: Float32Array,
  bBase: number,
  bK: number,
  bJ: number,
  m: number,
  K: number,
  n: number,
  out: Float32Array,
  o: number,
): void {
  const t = sums(m * n);
  for (let k0 = 0; k0 < K; k0 += BLOCK) {
    const k1 = Math.min(k0 + BLOCK, K);
    t.fill(0, 0, m * n);
    for (let k = k0; k < k1; k++) {
      for (let i = 0; i < m; i++) {
        const aik = a[aBase + i * aI + k * aK],
          row = i * n,
          bRow = bBase + k * bK;
        for (let j = 0; j < n; j++) t[row + j] += aik * b[bRow + j * bJ];
      }
    }
    for (let e = 0; e < m * n; e++) out[o + e] += t[e];
  }
}

/** [batch of a, batch of b, m, K, n, batch] of a product the loops take: rank-2 or rank-3 operands whose batch counts are equal or 1. */
function productDims(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): [number, number, number, number, number, number] | undefined {
  if (aShape.length < 2 || aShape.length > 3 || bShape.length < 2 || bShape.length > 3) return undefined;
  const [batchA, ar, ac] = split(aShape),
    [batchB, br, bc] = split(bShape);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  const m = transposeA ? ac : ar,
    K = transposeA ? ar : ac;
  const n = transposeB ? br : bc,
    K2 = transposeB ? bc : br;
  return K === K2 ? [batchA, batchB, m, K, n, Math.max(batchA, batchB)] : undefined;
}

/**
 * The product as TF.js's cpu BatchMatMul computes it; undefined for shapes the loops do not take
 * (productDims; tf.matMul then).
 */
export function productValues(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): { values: Float32Array; shape: number[] } | undefined {
  const dims = productDims(aShape, bShape, transposeA, transposeB);
  if (!dims) return undefined;
  const [batchA, batchB, m, K, n, batch] = dims;
  const out = new Float32Array(batch * m * n);
  const aI = transposeA ? 1 : K,
    aK = transposeA ? m : 1;
  const bK = transposeB ? 1 : n,
    bJ = transposeB ? K : 1;
  for (let bi = 0; bi < batch; bi++) {
    const aBase = (batchA === 1 ? 0 : bi) * m * K,
      bBase = (batchB === 1 ? 0 : bi) * K * n,
      o = bi * m * n;
    if (K === 1) outerProduct(a, aBase, aI, b, bBase, m, n, out, o);
    else if (n === 1 && aK === 1) rowDots(a, aBase, b, bBase, m, K, out, o);
    else if (n === 1) columnDots(a, aBase, aK, b, bBase, m, K, out, o);
    else blockedProduct(a, aBase, aI, aK, b, bBase, bK, bJ, m, K, n, out, o);
  }
  const outer = aShape.length === 3 || bShape.length === 3 ? [batch] : [];
  return { values: out, shape: [...outer, m, n] };
}

/**
 * tf.matMul for the engine: on the cpu backend the loops above (values and gradients equal to
 * TF.js's own), elsewhere, and for shapes they do not take, tf.matMul.
 */
export function matrixProduct(tf: TF): MatMul {
  const plain = (a: Tensor, b: Tensor, tA: boolean, tB: boolean): Tensor => {
    const r = productValues(a.dataSync() as Float32Array, a.shape, b.dataSync() as Float32Array, b.shape, tA, tB);
    // Only reached for shapes productDims took, and their gradients' shapes (dy has the output's batch).
    if (!r) throw new Error(`matrixProduct: [${a.shape}] @ [${b.shape}] reached the loops`);
    return tf.tensor(r.values, r.shape);
  };
  /** A gradient computed at the broadcast batch, summed back to the operand's shape. */
  const fit = (g: Tensor, like: Tensor) =>
    g.shape.length > like.shape.length
      ? tf.sum(g, 0)
      : like.shape.length === 3 && like.shape[0] === 1 && g.shape[0] !== 1
        ? tf.sum(g, 0, true)
        : g;
  return (a, b, transposeA = false, transposeB = false) => {
    if (
      !cpuProduct.enabled ||
      tf.getBackend() !== 'cpu' ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.size * b.size < cpuProduct.minOperandProduct ||
      !productDims(a.shape, b.shape, transposeA, transposeB)
    )
      return tf.matMul(a, b, transposeA, transposeB);
    return tf.customGrad((x, y, save) => {
      (save as (ts: Tensor[]) => void)([x as Tensor, y as Tensor]); // kept for the gradient, as BatchMatMul keeps a and b
      return {
        value: plain(x as Tensor, y as Tensor, transposeA, transposeB),
        // TF.js's BatchMatMul gradient (tfjs-core gradients/BatchMatMul_grad).
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const [A, B] = saved;
          const [dA, dB] =
            !transposeA && !transposeB
              ? [plain(dy, B, false, true), plain(A, dy, true, false)]
              : !transposeA
                ? [plain(dy, B, false, false), plain(dy, A, true, false)]
                : !transposeB
                  ? [plain(B, dy, false, true), plain(A, dy, false, false)]
                  : [plain(B, dy, true, true), plain(dy, A, true, true)];
          return [fit(dA, A), fit(dB, B)];
        },
      };
    })(a, b) as Tensor;
  };
}
