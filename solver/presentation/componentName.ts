// The name of one component of a tensor from its flat (row-major) index: `x` for a scalar, `h[3]` for a
// vector, `W[1,2]` for a matrix — as the plots' selects, legends and CSV headers show it.
import type { Shape } from '../model';

export function componentName(name: string, shape: Shape, flat: number): string {
  if (shape.length === 0) return name;
  if (shape.length === 1) return `${name}[${flat}]`;
  const idx: number[] = [];
  let rest = flat;
  for (let k = shape.length - 1; k >= 0; k--) {
    idx.unshift(rest % shape[k]);
    rest = Math.floor(rest / shape[k]);
  }
  return `${name}[${idx.join(',')}]`;
}
