// Shapes of the language's tensors: element counts and NumPy broadcasting, one
// rule for the checker, the per-operation compiler and the fused scalar path.
import type { Shape } from '../model';

/** Number of elements of a tensor of this shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting of two shapes; undefined when incompatible. */
export function broadcast(a: Shape, b: Shape): Shape | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const x = i < n - a.length ? 1 : a[i - (n - a.length)];
    const y = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (x === y || y === 1) out[i] = x;
    else if (x === 1) out[i] = y;
    else return undefined;
  }
  return out;
}

/** The NumPy broadcast of several shapes, or undefined when they do not broadcast. */
export function broadcastAll(shapes: readonly Shape[]): Shape | undefined {
  let out: Shape | undefined = shapes[0] ?? [];
  for (let i = 1; i < shapes.length && out; i++) out = broadcast(out, shapes[i]);
  return out;
}

/** True when `from` broadcasts to exactly `to` (e.g. a scalar to any shape). */
export function broadcastsTo(from: Shape, to: Shape): boolean {
  const b = broadcast(from, to);
  return b !== undefined && sameShape(b, to);
}

/** Row-major index of each element of `out` (broadcast shape) in an operand of shape `shape` (trailing alignment, as NumPy). */
export function broadcastIndex(shape: number[], out: number[]): number[] | undefined {
  if (shape.length > out.length) return undefined;
  const lead = out.length - shape.length;
  for (let d = 0; d < shape.length; d++) if (shape[d] !== 1 && shape[d] !== out[lead + d]) return undefined;
  const idx: number[] = [];
  const total = elementCount(out);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat,
      k = 0,
      stride = 1;
    for (let d = out.length - 1; d >= 0; d--) {
      const coord = rem % out[d];
      rem = Math.floor(rem / out[d]);
      if (d >= lead) {
        const size = shape[d - lead];
        k += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    idx.push(k);
  }
  return idx;
}
