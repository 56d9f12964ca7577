// Maps (XPPAUT difference equations). A model is a map when it has an `x(t+1) = F` line (XPPAUT then runs it with
// meth=discrete whatever `meth` says) or when `meth=discrete` (every `x' = F` is then read as x(t+1) = F). XPPAUT
// iterates a map `total` times with t advancing by 1 (its step is 1 whatever dt says). The discrete scheme runs as
// forward Euler with h = 1, so each map equation is rewritten to F − x: x_{n+1} = x_n + (F(x_n) − x_n), the same
// solve, AD, finite differences and parameter copies as every other one-step scheme. A map has no flow, hence no
// continuous reference: its reference is the map's own adjoint (engine/mapReference.ts); one information
// diagnostic says so.
import type { Diagnostic, Equation, ModelOptions, OptionLine, Range, StateDecl } from '../model';
import { findOption } from '../model';
import { isMapScheme } from '../schemes/registry';
import type { EquationStmt } from './ast';
import { diag } from './ranges';
import { MAP_EVENTS_REFERENCE, MAP_REFERENCE } from '../presentation/referenceText';

/** Largest number of iterations of a map (as for `steps`). */
const MAX_ITERATIONS = 1_000_000;

/**
 * Makes the options those of a map when the model is one (meth=discrete, dt = 1, steps = round(total)), with the
 * model's one `map-model` information diagnostic. Returns whether the model is a map.
 */
export function mapOptions(
  options: ModelOptions,
  optionLines: OptionLine[],
  equations: EquationStmt[],
  out: Diagnostic[],
  hasEvents = false,
): boolean {
  const mapLine = equations.find((e) => e.map);
  const meth = findOption({ optionLines }, 'meth');
  if (!mapLine && !isMapScheme(options.meth)) return false;
  const overridden =
    mapLine && !isMapScheme(options.meth) && meth ? ` (XPPAUT runs it so; meth=${meth.value} is not used)` : '';
  const dt = findOption({ optionLines }, 'dt');
  // `steps` (ODE Lens's own option) counts the iterations when given; else XPPAUT's round(total).
  const iterations = findOption({ optionLines }, 'steps') ? options.steps : Math.round(options.total);
  options.meth = 'discrete';
  options.steps = Math.min(MAX_ITERATIONS, Math.max(1, iterations));
  options.total = options.steps;
  options.dt = 1;
  const where: Range = meth?.valueRange ?? mapLine!.range;
  const how = mapLine
    ? `x(t+1) = … makes this model a map, iterated with meth=discrete${overridden}`
    : 'meth=discrete iterates every equation as a map x(t+1) = F';
  const dtNote = dt && Number(dt.value) !== 1 ? ` (dt=${dt.value} is not used)` : '';
  // The continuous adjoint and the corrections restore a flow's gradient; a map has none.
  for (const key of ['grad', 'gradfix'] as const) {
    const setting = findOption({ optionLines }, key);
    if (setting && (key === 'grad' ? options.grad === 'adjoint' : options.gradfix !== 'none'))
      out.push(
        diag(
          'invalid-option',
          'error',
          `${key}=${setting.value}: a map has no continuous flow, so no ${key === 'grad' ? 'continuous adjoint' : 'flow gradient for a correction to restore'}; its AD gradient is exact for the map`,
          setting.valueRange,
        ),
      );
  }
  out.push(
    diag(
      'map-model',
      'information',
      `${how}: ${options.steps} iteration${options.steps === 1 ? '' : 's'} (total), t advancing by 1 from t0${dtNote}; ${hasEvents ? MAP_EVENTS_REFERENCE : MAP_REFERENCE}`,
      where,
    ),
  );
  return true;
}

/** The equations of a map as the discrete scheme runs them: F − x (x_{n+1} = x_n + 1·(F − x_n)). */
export function mapEquations(equations: Equation[], states: StateDecl[]): Equation[] {
  const shapeOf = new Map(states.map((s) => [s.name, s.shape]));
  return equations.map((e) => {
    const shape = shapeOf.get(e.state) ?? e.rhs.shape ?? [];
    const x = { kind: 'name' as const, name: e.state, range: e.rhs.range, shape };
    return {
      ...e,
      rhs: { kind: 'binary', op: '-', left: e.rhs, right: x, range: e.rhs.range, opRange: e.rhs.range, shape },
    };
  });
}
