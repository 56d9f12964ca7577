// The Volterra solve's findings: a step whose fixed-point corrections did not settle (engine/volterraSolve.ts
// and engine/volterraKernel.ts record the first of the check's solves), on the model's first integral.
import type { Model } from '../model';
import { solveCalls } from '../model';
import type { Finding, Report } from '../report';
import type { CompiledModel } from '../engine/compile';
import { MAX_CORRECTIONS } from '../engine/volterraKernel';
import { integralCalls } from '../language/volterraSyntax';
import { volterraUnconvergedMessage } from '../presentation/findingText';
import { optionsRange } from './run';

/** A last correction's change below this (100× the tolerance) is a near miss: information, not a warning. */
const NEAR_MISS = 1e-4;

export function volterraFindings(model: Model, cm: CompiledModel): Finding[] {
  const u = cm.volterra?.unconverged;
  if (!u) return [];
  const range =
    integralCalls(solveCalls(model))[0]?.range ?? model.equations.find((q) => q.volterra)?.range ?? optionsRange(model);
  return [
    {
      code: 'volterra-not-converged',
      severity: u.change > NEAR_MISS ? 'warning' : 'information',
      message: volterraUnconvergedMessage(u.step, u.time, u.change, u.steps, model.options.steps, MAX_CORRECTIONS),
      range,
    },
  ];
}

/** How a Volterra model's solves ran, when the whole-solve kernel ran them (else undefined). */
export function volterraPath(cm: CompiledModel): Pick<Report, 'rhsPath' | 'rhsPathNote'> | undefined {
  const vm = cm.volterra;
  if (!vm?.program || vm.owner !== cm.rhs) return undefined;
  return {
    rhsPath: 'scalar-solve',
    rhsPathNote:
      "XPPAUT's volterra scheme: the whole solve, its integrals and delays, and its discrete adjoint in plain JS",
  };
}
