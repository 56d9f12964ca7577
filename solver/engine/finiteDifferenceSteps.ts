// The steps of finite differences and the parameters they need not move: shared by the ladder
// (engine/finiteDifferences.ts) and the solves a second thread takes before AD (engine/earlySolves.ts).
import type { ParamDecl } from '../model';

/** Bounds of the relative finite-difference step. */
const EPS_MIN = 1e-3,
  EPS_MAX = 3e-2;

/** A tensor's step ε: the step that resolves its loss change (`resolving`), held within its bounds for a tensor of rms θ. */
export function stepWithin(rms: number, resolving: number): number {
  // Steps scale with θ above 1, else with 1; but a tensor smaller than the smallest of those steps (a rate of
  // 8e-6) would be moved by many times its own size: its steps scale with θ itself while they resolve the loss.
  const scale = rms > 0 && rms < EPS_MIN && resolving <= EPS_MAX * rms ? rms : Math.max(rms, 1);
  return Math.min(EPS_MAX * scale, Math.max(EPS_MIN * scale, resolving));
}

/**
 * A parameter that nothing checked reads (only lines ODE Lens ignores, a table's samples, or the rates of a Markov
 * path drawn once: readOnlyBy, sampledBy, ratesOf): moving it moves no value of any solve.
 */
export const unreadParameter = (p: ParamDecl): boolean => !!(p.readOnlyBy || p.sampledBy || p.ratesOf);
