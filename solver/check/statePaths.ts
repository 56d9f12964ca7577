// The report's state paths: the continuous reference's x(t) and p(t) at its nodes (engine/statePath.ts),
// as rows with a name per column, for the trajectory and adjoint views.
import type { Model } from '../model';
import type { StatePathRows } from '../report';
import type { NodeValues, StatePaths } from '../engine/statePath';
import { componentName } from '../presentation/componentName';

/** Names of the flattened components of the states, in order: `x`, `h[3]`, `W[1,2]`. */
export function componentLabels(model: Model, count: number): string[] {
  const out: string[] = [];
  for (const s of model.states) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    for (let flat = 0; flat < size && out.length < count; flat++) out.push(componentName(s.name, s.shape, flat));
  }
  return out;
}

/** Rows of plain numbers, filled in one loop: a subarray view per row was 0.19 s of a check with 200,001 nodes (a CPU profile). */
function rowsOf(v: NodeValues, count: number): number[][] {
  const out: number[][] = new Array(count);
  const { columns, values } = v;
  for (let n = 0; n < count; n++) {
    const row: number[] = [];
    for (let at = n * columns, end = Math.min(at + columns, values.length); at < end; at++) row.push(values[at]);
    out[n] = row;
  }
  return out;
}

export function statePathRows(model: Model, paths: StatePaths | undefined): StatePathRows | undefined {
  if (!paths || paths.x.columns === 0) return undefined;
  const count = paths.times.length;
  return {
    times: paths.times,
    labels: componentLabels(model, paths.x.columns),
    x: rowsOf(paths.x, count),
    ...(paths.p ? { p: rowsOf(paths.p, count) } : {}),
  };
}
