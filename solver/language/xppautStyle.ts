// Which defaults a model's options start from. A file written in XPPAUT's language alone is an XPPAUT model, and
// XPPAUT integrates it for total=20 with dt=0.05 when its `@` lines do not say otherwise (xpp_doc.tex, TOTAL= and
// DT=); ODE Lens's own models (a neural ODE with a loss, tensor states, per-step parameters) default to t ∈ [0, 1]
// in 64 steps, a depth that suits training.
import type { Program } from './ast';

type Statement = Program['statements'][number];

/**
 * True when the file uses no declaration of ODE Lens's own, so XPPAUT's defaults apply to its options (the tensor
 * states made from a file's XPPAUT arrays are not written declarations).
 */
export function isXppautStyle(statements: readonly Statement[]): boolean {
  return !statements.some(
    (s) =>
      (s.kind === 'state' && !s.fromEquations) ||
      s.kind === 'loss' ||
      s.kind === 'data' ||
      s.kind === 'scheme' ||
      (s.kind === 'param' && s.items.some((p) => p.shape !== undefined || p.perStep || p.init?.kind === 'normal')),
  );
}
