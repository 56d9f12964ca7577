// Which models the Volterra solve (engine/volterraSolve.ts) runs, and what it needs of the compile.
import type { TF } from './tf';
import { solveCalls, type Model } from '../model';
import { integralCalls } from '../language/volterraSyntax';
import { DEFAULT_MAX_POINTS, VolterraIntegrals } from './volterra';
import { volterraProgram, type VolterraProgram } from './volterraProgram';
import type { Unconverged } from './volterraKernel';

export interface VolterraModel {
  integrals: VolterraIntegrals;
  /** Per state: an integral equation (u = F) rather than a differential one. */
  integralStates: boolean[];
  /** The fused programs of the whole-solve kernel (engine/volterraKernel.ts); undefined: per operation. */
  program?: VolterraProgram;
  /** The rhs the kernel stands for (set by the compile): a view that replaces it is solved per operation. */
  owner?: unknown;
  /** The first solve's first step whose corrections did not settle (a finding of the check). */
  unconverged?: Unconverged;
}

/** A model with integrals or integral equations. */
export function isVolterraModel(model: Model): boolean {
  return model.equations.some((q) => q.volterra) || integralCalls(solveCalls(model)).length > 0;
}

/** After the right-hand sides are compiled (they register their integrals); `kernel`: try the whole-solve kernel. */
export function volterraModel(
  tf: TF,
  compiled: VolterraIntegrals | undefined,
  model: Model,
  kernel = true,
): VolterraModel | undefined {
  if (!isVolterraModel(model)) return undefined;
  const integrals = compiled ?? new VolterraIntegrals(tf);
  integrals.maxPoints = model.options.maxPoints ?? DEFAULT_MAX_POINTS;
  const volterraStates = new Set(model.equations.filter((q) => q.volterra).map((q) => q.state));
  return {
    integrals,
    integralStates: model.states.map((s) => volterraStates.has(s.name)),
    program: kernel ? volterraProgram(model) : undefined,
  };
}
