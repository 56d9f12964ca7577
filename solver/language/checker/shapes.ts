// Shapes as the checker's messages show them, and the largest tensor it accepts.
// Broadcasting itself is ops/shapes.ts (one rule for the checker and both engines).
import type { Shape } from '../../model';

/** Largest number of elements of any declared or intermediate tensor. */
export const MAX_ELEMENTS = 10_000_000;

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

export function describeShape(s: Shape): string {
  return s.length === 0 ? 'a scalar' : s.length === 1 ? `a vector ${formatShape(s)}` : `a matrix ${formatShape(s)}`;
}
