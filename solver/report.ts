// The one typed result of a gradient check. The CLI prints it, the server
// turns it into diagnostics and hovers, the webview plots it; nobody
// recomputes what is in here.
import type { Diagnostic, GradFix, Range, Shape } from './model';

/** Detector metrics of DESIGN 1.4, for one parameter tensor. */
export interface ParameterMetrics {
  /** ‖alternating part‖ / ‖d‖ on interior layers. */
  alpha: number;
  /** 4‖alternating part‖ / ‖smooth curvature‖. */
  beta: number;
  /** ‖raw AD density − continuous reference‖ / ‖reference‖. */
  relError: number;
  /** Same, after the model's `gradfix` correction (or filter121 if gradfix=none, to show what a fix would give). */
  correctedRelError: number;
  /** ‖AD − finite differences‖ / ‖finite differences‖ along random directions (a classic gradcheck of the discrete model). */
  gradcheckRelError: number;
  /**
   * α of the same parameter re-solved with 2N steps (copies interpolated in t),
   * computed only for flagged parameters when N ≤ 512: about equal to `alpha`
   * when the oscillation does not vanish as h → 0 (DESIGN 1.4, refinement).
   */
  refinedAlpha?: number;
}

export interface ParameterReport {
  name: string;
  shape: Shape;
  perStep: boolean;
  /** Declaration range, for diagnostics. */
  range: Range;
  metrics: ParameterMetrics;
  /** Time of each layer t_n (per-step parameters), or [] for shared ones. */
  layerTimes: number[];
  /** Per layer, the flattened density d_n = G_n / (h w_n) from AD. Shared parameters: one row, the total gradient. */
  raw: number[][];
  /** Per layer, the corrected density (the correction named in `Report.correction`). */
  corrected: number[][];
  /** Per layer, the continuous gradient density g(t_n). Shared parameters: one row, ∫ g dt. */
  reference: number[][];
  /** True when the detector flags this tensor. */
  oscillating: boolean;
}

/** A finding is a Diagnostic the engine produced, with the parameter it concerns and its figures. */
export interface Finding extends Diagnostic {
  parameter?: string;
  metrics?: ParameterMetrics;
}

export interface Report {
  version: 1;
  /** The model's `meth` (a built-in or a user-declared scheme). */
  scheme: string;
  steps: number;
  dt: number;
  t0: number;
  total: number;
  /** The model's gradfix option. */
  gradfix: GradFix;
  /** The correction shown in `corrected` and `correctedRelError` (gradfix, or filter121 when gradfix is none). */
  correction: Exclude<GradFix, 'none'>;
  /** TensorFlow.js backend that ran the check: tensorflow, wasm or cpu. */
  backend: string;
  loss: number;
  /** Estimated relative error of the continuous reference itself (from a coarser solve). */
  referenceError: number;
  findings: Finding[];
  parameters: ParameterReport[];
  timings: { totalMs: number; adMs: number; referenceMs: number; finiteDifferenceMs: number };
}
