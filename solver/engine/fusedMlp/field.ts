// A per-step MLP field f(x) = W_L @ act(… act(W_1 @ x + b_1) …) + b_L evaluated as one TF.js op
// (tf.customGrad) whose forward and vector–Jacobian product run over the tensors' Float32Array data.
// One op per evaluation instead of three or four kernels per layer, and one backward call instead of
// their gradients' eight to ten: a check's forward+backward is bound by that per-kernel overhead.
// The arithmetic is TF.js cpu's (the matrix products' blocks of matrixProduct.ts, activations.ts), so
// on cpu the values and gradients equal the per-operation compile's bit for bit; on wasm they agree
// to float32 rounding.
import type { TF, Tensor } from '../tf';
import { productValues } from '../matrixProduct';
import { ACTIVATIONS } from './activations';
import type { MlpField } from './recognise';

type Data = Float32Array;

/** Values of layer outputs kept for the backward pass: pre-activation z and the layer's input a. */
interface Trace {
  inputs: Data[];
  z: Data[];
}

/** TF.js cpu's block of shared indices in a matrix product (matrixProduct.ts). */
const BLOCK = 48;

/**
 * From this many weights on, matrixProduct.ts' unrolled loops (eight independent sums at a time) take
 * the products: below it their dispatch costs more than the plain loops here lose to the adds' latency.
 */
const UNROLLED_FROM = 1024;

/** W a for W [m, n]: per row, each block's products summed in double, added to the float32 result (TF.js cpu's BatchMatMul). */
function matVec(W: Data, m: number, n: number, a: Data): Data {
  if (m * n >= UNROLLED_FROM) return productValues(W, [m, n], a, [n, 1], false, false)!.values;
  return matVecInto(W, m, n, a, new Float32Array(m));
}

/** matVec's plain loops (fewer than UNROLLED_FROM weights) into `out`. */
function matVecInto(W: Data, m: number, n: number, a: Data, out: Data): Data {
  for (let i = 0; i < m; i++) {
    const row = i * n;
    let acc = 0;
    for (let k0 = 0; k0 < n; k0 += BLOCK) {
      const k1 = Math.min(k0 + BLOCK, n);
      let s = 0;
      for (let k = k0; k < k1; k++) s += W[row + k] * a[k];
      acc = Math.fround(acc + s);
    }
    out[i] = acc;
  }
  return out;
}

/** Wᵀ g for W [m, n], in the same block arithmetic (the shared index runs over W's rows). */
function matTVec(W: Data, m: number, n: number, g: Data): Data {
  if (m * n >= UNROLLED_FROM) return productValues(W, [m, n], g, [m, 1], true, false)!.values;
  const out = new Float32Array(n);
  const t = new Float64Array(n);
  for (let i0 = 0; i0 < m; i0 += BLOCK) {
    const i1 = Math.min(i0 + BLOCK, m);
    t.fill(0);
    for (let i = i0; i < i1; i++) {
      const gi = g[i],
        row = i * n;
      for (let j = 0; j < n; j++) t[j] += W[row + j] * gi;
    }
    for (let j = 0; j < n; j++) out[j] += t[j];
  }
  return out;
}

/** g aᵀ [m, n]: one rounded product per element (0 + p, as TF.js sums it). */
function outer(g: Data, m: number, a: Data, n: number): Data {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    const gi = g[i],
      row = i * n;
    for (let j = 0; j < n; j++) out[row + j] = 0 + gi * a[j];
  }
  return out;
}

/** dest += g aᵀ, each product rounded as outer's and then summed (the tape's add of a second gradient). */
function addOuter(dest: Data, g: Data, m: number, a: Data, n: number): void {
  for (let i = 0; i < m; i++) {
    const gi = g[i],
      row = i * n;
    for (let j = 0; j < n; j++) dest[row + j] += Math.fround(gi * a[j]);
  }
}

/**
 * addOuter into zeros: 0 + each rounded product, written without reading dest first (fresh pages are then
 * faulted in once, for the write, instead of once to read zeros and again to write).
 */
function setOuter(dest: Data, g: Data, m: number, a: Data, n: number): void {
  for (let i = 0; i < m; i++) {
    const gi = g[i],
      row = i * n;
    for (let j = 0; j < n; j++) dest[row + j] = 0 + Math.fround(gi * a[j]);
  }
}

/** f(x) with the layer values the backward pass reads. */
export function forward(
  field: MlpField,
  x: Data,
  weights: Data[],
  biases: (Data | undefined)[],
): { y: Data; trace: Trace } {
  const inputs: Data[] = [],
    zs: Data[] = [];
  let a = x,
    n = field.size;
  field.layers.forEach((layer, k) => {
    const m = layer.out;
    const z = matVec(weights[k], m, n, a);
    const b = biases[k];
    if (b) for (let i = 0; i < m; i++) z[i] = Math.fround(z[i] + b[i]);
    inputs.push(a);
    zs.push(z);
    const act = layer.activation && ACTIVATIONS[layer.activation];
    if (act) {
      const y = new Float32Array(m);
      for (let i = 0; i < m; i++) y[i] = act.value(z[i]);
      a = y;
    } else a = z;
    n = m;
  });
  return { y: a, trace: { inputs, z: zs } };
}

/**
 * forward's trace without the last layer's product: what a backward pass reads (every layer's input, the
 * hidden layers' z; the last layer has no activation), for a linearisation whose f(x) is not wanted.
 */
export function linearise(field: MlpField, x: Data, weights: Data[], biases: (Data | undefined)[]): Trace {
  const hidden = { ...field, layers: field.layers.slice(0, -1) };
  const { y, trace } = forward(hidden, x, weights, biases);
  return { inputs: [...trace.inputs, y], z: [...trace.z, new Float32Array(0)] };
}

/**
 * f(x) alone, forward's arithmetic, its small layers' values in `scratch` (reused from call to call: a solve's
 * stages make tens of thousands of them, each a buffer of its own otherwise); the result is a new array.
 */
export function forwardValue(
  field: MlpField,
  x: Data,
  weights: Data[],
  biases: (Data | undefined)[],
  scratch: Data[],
): Data {
  let a = x,
    n = field.size;
  field.layers.forEach((layer, k) => {
    const m = layer.out,
      last = k === field.layers.length - 1;
    const small = m * n < UNROLLED_FROM && !last;
    if (small && !(scratch[2 * k]?.length === m)) {
      scratch[2 * k] = new Float32Array(m);
      scratch[2 * k + 1] = new Float32Array(m);
    }
    const z = small ? matVecInto(weights[k], m, n, a, scratch[2 * k]) : matVec(weights[k], m, n, a);
    const b = biases[k];
    if (b) for (let i = 0; i < m; i++) z[i] = Math.fround(z[i] + b[i]);
    const act = layer.activation && ACTIVATIONS[layer.activation];
    if (act) {
      const y = small ? scratch[2 * k + 1] : new Float32Array(m);
      for (let i = 0; i < m; i++) y[i] = act.value(z[i]);
      a = y;
    } else a = z;
    n = m;
  });
  return a;
}

/**
 * (∂f/∂x)ᵀ dy, (∂f/∂W_k)ᵀ dy and (∂f/∂b_k)ᵀ dy, in TF.js's gradient arithmetic. A layer's weight and
 * bias gradients are added into `into` where it gives an array (then left undefined in the result);
 * `into.zeros`: its arrays hold zeros, and the sums are written without reading them (the same values).
 */
export function backward(
  field: MlpField,
  trace: Trace,
  weights: Data[],
  dy: Data,
  into?: { W: (Data | undefined)[]; b: (Data | undefined)[]; zeros?: boolean },
): { dx: Data; dW: (Data | undefined)[]; db: (Data | undefined)[] } {
  const L = field.layers.length;
  const dW: (Data | undefined)[] = new Array(L),
    db: (Data | undefined)[] = new Array(L);
  let dz = dy,
    dx = dy;
  for (let k = L - 1; k >= 0; k--) {
    const layer = field.layers[k],
      m = layer.out,
      n = k === 0 ? field.size : field.layers[k - 1].out;
    const input = trace.inputs[k];
    if (layer.bias !== undefined) {
      const b = into?.b[k];
      if (b && into?.zeros) for (let i = 0; i < m; i++) b[i] = 0 + dz[i];
      else if (b) for (let i = 0; i < m; i++) b[i] += dz[i];
      else db[k] = Float32Array.from(dz);
    }
    const w = into?.W[k];
    if (w && into?.zeros) setOuter(w, dz, m, input, n);
    else if (w) addOuter(w, dz, m, input, n);
    else dW[k] = outer(dz, m, input, n);
    const da = matTVec(weights[k], m, n, dz);
    if (k === 0) {
      dx = da;
      break;
    }
    const below = field.layers[k - 1];
    const act = below.activation && ACTIVATIONS[below.activation];
    if (act) {
      const z = trace.z[k - 1];
      for (let i = 0; i < n; i++) da[i] = act.back(da[i], z[i], input[i]);
    }
    dz = da;
  }
  return { dx, dW, db };
}

/**
 * f as one differentiable TF.js op on the model's tensors: x [d, 1] and the parameters (internal
 * shapes, in model.params order); undefined when the shapes are not the field's own (a batched
 * evaluation), which the caller computes per operation.
 */
export function fieldOp(tf: TF, field: MlpField): (x: Tensor, params: Tensor[]) => Tensor | undefined {
  const d = field.size;
  return (x, params) => {
    const W = field.layers.map((l) => params[l.weight]);
    const B = field.layers.map((l) => (l.bias === undefined ? undefined : params[l.bias]));
    if (x.shape.length !== 2 || x.shape[0] !== d || x.shape[1] !== 1 || x.dtype !== 'float32') return undefined;
    let n = d;
    for (const [k, l] of field.layers.entries()) {
      const w = W[k].shape,
        b = B[k]?.shape;
      if (w.length !== 2 || w[0] !== l.out || w[1] !== n || (b && (b.length !== 2 || b[0] !== l.out || b[1] !== 1)))
        return undefined;
      n = l.out;
    }
    const inputs = [x, ...W, ...B.filter((b): b is Tensor => !!b)];
    return tf.customGrad((...args: unknown[]) => {
      const ts = args.slice(0, inputs.length) as Tensor[];
      const wData = ts.slice(1, 1 + W.length).map((t) => t.dataSync() as Data);
      let j = 1 + W.length;
      const bData = B.map((b) => (b ? (ts[j++].dataSync() as Data) : undefined));
      const { y, trace } = forward(field, ts[0].dataSync() as Data, wData, bData);
      return {
        value: tf.tensor(y, [d, 1]),
        gradFunc: (dy: Tensor) => {
          const g = backward(field, trace, wData, dy.dataSync() as Data);
          return [
            tf.tensor(g.dx, [d, 1]),
            ...g.dW.map((v, k) => tf.tensor(v!, W[k].shape)),
            ...g.db.flatMap((v, k) => (v ? [tf.tensor(v, B[k]!.shape)] : [])),
          ];
        },
      };
    })(...inputs) as Tensor;
  };
}
