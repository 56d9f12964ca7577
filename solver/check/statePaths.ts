// The report's state paths: the continuous reference's x(t) and p(t) at its nodes (engine/statePath.ts),
// as rows with a name per column, for the trajectory and adjoint views.
import type { Model } from '../model';
import type { StatePathRows } from '../report';
import type { NodeValues, StatePaths } from '../engine/statePath';
import { componentName } from '../presentation/componentName';
import { pathSources } from '../rows';

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

/**
 * The report's x(t) and p(t) rows. They are built when first read (a plot, the report sent whole, JSON): the
 * report's tables are packed from the node arrays (rows.ts's pathSources), which is all a check's summary needs.
 */
export function statePathRows(model: Model, paths: StatePaths | undefined): StatePathRows | undefined {
  if (!paths || paths.x.columns === 0) return undefined;
  const count = paths.times.length;
  const out = { times: paths.times, labels: componentLabels(model, paths.x.columns) } as StatePathRows;
  const { x, p } = paths;
  rowsWhenRead(out, 'x', () => rowsOf(x, count));
  if (p) rowsWhenRead(out, 'p', () => rowsOf(p, count));
  pathSources.set(out, { x, ...(p ? { p } : {}) });
  return out;
}

/** `key` of `o` as an enumerable property whose rows are made on first read (then a plain value). */
function rowsWhenRead(o: StatePathRows, key: 'x' | 'p', make: () => number[][]): void {
  const settle = (value: number[][]) =>
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(o, key, {
    enumerable: true,
    configurable: true,
    get: () => {
      const rows = make();
      settle(rows);
      return rows;
    },
    set: settle,
  });
}
