// Static analysis of schemes (DESIGN 1.4, "needs no run"): consistency order,
// zero-stability from the roots of ρ, zero weights on parameter copies.
// Used by the front end (diagnostics), the language service (hover,
// completion details) and the engine.
// STUB: filled in by the schemes work (issue 4); the signatures are the contract.
import type { Diagnostic, Model, SchemeDecl } from '../model';

export type Stability = 'strong' | 'weak' | 'unstable';

export interface SchemeDescription {
  name: string;
  kind: 'rk' | 'lmm';
  /** Consistency order from the coefficients (0 when inconsistent). */
  order: number;
  /** Zero-stability: strong (only root 1 on the unit circle), weak (another root on it), unstable (a root outside). */
  stability: Stability;
  /** One line for completion details and hovers, e.g. "explicit RK, order 4, strongly stable". */
  summary: string;
  /** Longer markdown for hovers: what AD gradients of per-step parameters do under this scheme. */
  documentation: string;
}

/** Describes a built-in scheme by name, or a declared one. Undefined for unknown names. */
export function describeScheme(name: string, decl?: SchemeDecl): SchemeDescription | undefined {
  void name; void decl;
  return undefined;
}

/** Static diagnostics for a checked model: weakly stable / unstable schemes, zero weights, per-step parameters at risk. */
export function schemeDiagnostics(model: Model): Diagnostic[] {
  void model;
  return [];
}
