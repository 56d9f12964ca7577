// Which models the Volterra solve (engine/volterraSolve.ts) runs, and what it needs of the compile.
import type { TF } from './tf';
import { solveExpressions, type Model } from '../model';
import { integralCalls } from '../language/volterraSyntax';
import { DEFAULT_MAX_POINTS, VolterraIntegrals } from './volterra';

export interface VolterraModel {
  integrals: VolterraIntegrals;
  /** Per state: an integral equation (u = F) rather than a differential one. */
  integralStates: boolean[];
}

/** A model with integrals or integral equations. */
export function isVolterraModel(model: Model): boolean {
  return model.equations.some((q) => q.volterra) || integralCalls(solveExpressions(model)).length > 0;
}

/** After the right-hand sides are compiled (they register their integrals). */
export function volterraModel(
  tf: TF,
  compiled: VolterraIntegrals | undefined,
  model: Model,
): VolterraModel | undefined {
  if (!isVolterraModel(model)) return undefined;
  const integrals = compiled ?? new VolterraIntegrals(tf);
  integrals.maxPoints = model.options.maxPoints ?? DEFAULT_MAX_POINTS;
  const volterraStates = new Set(model.equations.filter((q) => q.volterra).map((q) => q.state));
  return { integrals, integralStates: model.states.map((s) => volterraStates.has(s.name)) };
}
