// The one typed result of a gradient check. The CLI prints it, the server
// turns it into diagnostics and hovers, the webview plots it; nobody
// recomputes what is in here.
import type { Diagnostic, GradFix, Range, Shape } from './model';

/** Ratios in the report (α, β, relative errors) are capped here so they stay finite (JSON has no Infinity): a value at the cap means "at least this". */
export const RATIO_CAP = 1e6;

/** Detector metrics (docs/design.md#detector), for one parameter tensor. */
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
  /** Set when the AD gradient is exactly zero in every component (the loss does not move with this parameter here, e.g. every relu unit it feeds is inactive). */
  vanishing?: boolean;
  /** Set when finite differences could not judge AD: at ε, ε/4 and ε/16 they do not agree with each other (extreme sensitivity of the loss), or the change they probe is below float32 rounding. */
  gradcheckUnresolved?: boolean;
  /**
   * α of the same parameter re-solved with `refinedSteps` steps (copies interpolated in t),
   * computed only for flagged parameters: about equal to `alpha`
   * when the oscillation does not vanish as h → 0 (docs/design.md#detector, confirmation by refinement).
   */
  refinedAlpha?: number;
  /** Step count of `refinedAlpha`: N/2 (N ≥ 32, even, no study), else 2N. */
  refinedSteps?: number;
  /**
   * Stage imbalance of per-stage parameters (docs/design.md#detector):
   * ‖d_{n,i} − stagesum interpolant‖ / ‖interpolant‖ on interior steps; > 0.3 is flagged.
   */
  kappa?: number;
}

/** One level of a refinement study: the same θ(t) re-solved with more steps. */
export interface RefinementLevel {
  steps: number;
  /** Raw AD density against the continuous reference. */
  relError: number;
  /** After the report's correction. */
  correctedRelError: number;
  alpha: number;
  kappa?: number;
}

/** Refinement study of one parameter tensor (levels N, 2N, 4N, as many as fit the size limit). */
export interface Refinement {
  levels: RefinementLevel[];
  /** log2(e_N / e_2N) between successive levels; about 0 when the error does not shrink with h. */
  rawOrders: number[];
  correctedOrders: number[];
  /** Observed order between the first and the last level whose errors are above `errorFloor` (NaN with fewer than two). */
  rawOrder: number;
  correctedOrder: number;
  /**
   * Relative error at or below which float32 rounding, not truncation, sets the error (and the reference's own
   * estimated error): no order is observed between levels at or below it (their entries in the orders are NaN).
   */
  errorFloor: number;
}

export type VerdictKind =
  /** The raw AD density converges to g(t) as h → 0. */
  | 'converges'
  /** Period-2 oscillation across layers that does not vanish as h → 0 (weakly stable multistep). */
  | 'oscillating'
  /** Per-stage copies split the gradient unevenly between stages (zero or unequal RK weights). */
  | 'stage-imbalance'
  /** A copy with quadrature weight 0 gets no gradient at all. */
  | 'zero-weight'
  /** The model's correction is on and its density converges. */
  | 'corrected'
  /** AD disagrees with finite differences of the discrete loss. */
  | 'gradcheck-mismatch'
  /** The AD gradient is exactly zero: the parameter gets no gradient at all. */
  | 'vanishing'
  /** Not enough steps or no reference to judge. */
  | 'inconclusive';

export interface Verdict {
  kind: VerdictKind;
  /** One or two plain-language sentences, e.g. "oscillating: does not converge as h → 0; filter121 converges at order 2". */
  explanation: string;
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
  /**
   * Per-step tensors with more than MAX_REPORTED_COMPONENTS components: the flat
   * (row-major) indices of the components the rows hold, ascending — those with the
   * largest continuous gradient (raw AD without a reference). Absent: every component.
   * The metrics always cover every component.
   */
  components?: number[];
  /** True when the detector flags this tensor. */
  oscillating: boolean;
  /** Times of the `corrected` rows when they differ from `layerTimes` (`average` sits at t_{n+½}). */
  correctedTimes?: number[];
  /** Per copy: stage index i of per-stage parameters (tie=stage); absent when copies are tied to steps. */
  stages?: number[];
  /** Refinement study, when run (CheckOptions.refinement, or automatically for flagged parameters). */
  refinement?: Refinement;
  verdict?: Verdict;
}

/** Components per layer a report carries for one per-step tensor (plots pick one at a time). */
export const MAX_REPORTED_COMPONENTS = 256;

/** A finding is a Diagnostic the engine produced, with the parameter it concerns and its figures. */
export interface Finding extends Diagnostic {
  parameter?: string;
  metrics?: ParameterMetrics;
}

/** Why a check has no continuous reference (solver/check/referenceAvailability.ts). */
export type ReferenceUnavailableCause = 'events' | 'delays';

/** A model whose continuous reference gradient is not computed: the errors against it are n/a. */
export interface ReferenceUnavailable {
  cause: ReferenceUnavailableCause;
  /** A short clause for tables and hovers: "the model has delays (delay(x, tau))". */
  reason: string;
  /** The full explanation, the text of the `reference-unavailable` finding. */
  message: string;
  /** The construct's line. */
  range: Range;
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
  /**
   * The correction the scheme calls for with these parameters (filter121 for leapfrog/milne with per-step
   * copies, stagesum for per-stage 2-stage RK), whatever gradfix says; absent when raw AD converges.
   * Quick fixes and hovers offer this one.
   */
  recommendedCorrection?: Exclude<GradFix, 'none'>;
  /** Overall verdict: the worst parameter's, in a sentence. */
  verdict?: Verdict;
  /** TensorFlow.js backend that ran the check: tensorflow, wasm or cpu. */
  backend: string;
  loss: number;
  /** Set when the model has no continuous reference (events, delays): reference rows are empty and errors against it NaN (n/a). */
  referenceUnavailable?: ReferenceUnavailable;
  /** Estimated relative error of the continuous reference itself (embedded third-order estimate of its truncation plus modelled float32 rounding). */
  referenceError: number;
  findings: Finding[];
  parameters: ParameterReport[];
  timings: { totalMs: number; adMs: number; referenceMs: number; finiteDifferenceMs: number };
}
