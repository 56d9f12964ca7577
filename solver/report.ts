// The one typed result of a gradient check. The CLI prints it, the server
// turns it into diagnostics and hovers, the webview plots it; nobody
// recomputes what is in here.
import type { Diagnostic, GradFix, Range, Shape } from './model';

/**
 * How a check's discrete solves evaluate the right-hand side f: the whole solve of an MLP field as one op
 * (`mlp-solve`, solver/engine/fusedMlp), one op per evaluation of an MLP field (`mlp-stage`), the whole
 * solve of a fused scalar program as one plain-JS op with its discrete adjoint (`scalar-solve`,
 * solver/engine/scalarKernel), the fused scalar program one kernel per evaluation (`scalar-program`),
 * or one TF.js kernel per operation.
 */
export type RhsPath = 'mlp-solve' | 'mlp-stage' | 'scalar-solve' | 'scalar-program' | 'per-operation';

/** RhsPath in words, for the CLI's summary line. */
export const RHS_PATH_TEXT: Record<RhsPath, string> = {
  'mlp-solve': 'MLP field, the whole solve as one op',
  'mlp-stage': 'MLP field, one op per evaluation of f',
  'scalar-solve': 'fused scalar program, the whole solve and its discrete adjoint as one plain-JS op',
  'scalar-program': 'fused scalar program',
  'per-operation': 'one TF.js kernel per operation',
};

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
  /**
   * Relative error against the reference after each correction priced from the same AD gradient (filter121 and
   * average, or stagesum for per-stage copies; engine/layerAnalysis.ts postProcessingErrors): what switching
   * `gradfix` would give. Per-step parameters with a reference only.
   */
  correctionErrors?: Partial<Record<Exclude<GradFix, 'none'>, number>>;
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
  /**
   * α and β of the parameter's own copies across layers (the values checked, not their gradient), set when the
   * detector flags them: the period-2 pattern that training on an oscillating AD gradient leaves in a per-step
   * parameter (docs/design.md#training-consequence).
   */
  copiesAlpha?: number;
  copiesBeta?: number;
  /**
   * ‖corrected gradient‖ / ‖reference‖ of a per-step parameter whose AD gradient oscillates, set when the corrected
   * error is at least CORRECTED_NORM_ERROR (the findings that quote it are the oscillation's): a corrected gradient that nearly vanishes against the flow's marks a stationary point of
   * training with the correction, where the flow's gradient is the discretisation error of the loss.
   */
  correctedNormRatio?: number;
}

/** The corrected error from which a report says how large the corrected gradient is against the reference's. */
export const CORRECTED_NORM_ERROR = 0.5;

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

/**
 * What presenters need of one parameter tensor (diagnostics, hovers, the status, the CLI's table, the plot
 * page's selectors): everything but the per-layer rows. A ParameterReport is one; `summarise` makes one
 * from it (solver/summary.ts).
 */
export interface ParameterSummary {
  name: string;
  shape: Shape;
  perStep: boolean;
  /** Declaration range, for diagnostics. */
  range: Range;
  metrics: ParameterMetrics;
  /** True when the detector flags this tensor. */
  oscillating: boolean;
  /** Refinement study, when run (CheckOptions.refinement, or automatically for flagged parameters). */
  refinement?: Refinement;
  verdict?: Verdict;
  /** Per-step parameters in a summary: the number of copies (rows of its per-layer table); a full report has `raw.length`. */
  copies?: number;
  /**
   * The state whose initial value this entry is (named `x(0)`): a model that declares no parameter has its initial
   * values checked instead (docs/design.md#initial-values). Absent for declared parameters.
   */
  initialValueOf?: string;
}

export interface ParameterReport extends ParameterSummary {
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
  /** Times of the `corrected` rows when they differ from `layerTimes` (`average` sits at t_{n+½}). */
  correctedTimes?: number[];
  /** Per copy: stage index i of per-stage parameters (tie=stage); absent when copies are tied to steps. */
  stages?: number[];
}

/** x(t) and p(t) at the reference's nodes: one row per node, one column per state component (all states flattened, in order). */
export interface StatePathRows {
  times: number[];
  /** Per column, the component's name: `x`, `h[3]`, `W[1,2]`. */
  labels: string[];
  x: number[][];
  /** Absent when the adjoint solve does not keep p at its nodes (losses with observation jumps). */
  p?: number[][];
}

/** Components per layer a report carries for one per-step tensor (plots pick one at a time). */
export const MAX_REPORTED_COMPONENTS = 256;

/** A finding is a Diagnostic the engine produced, with the parameter it concerns and its figures. */
export interface Finding extends Diagnostic {
  parameter?: string;
  metrics?: ParameterMetrics;
}

/**
 * A report without its rows: what diagnostics, hovers, the status and the CLI's table present, and what the
 * server sends after a check (its rows stay in the server, solver/rows.ts). A Report is one.
 */
export interface ReportSummary extends Omit<Report, 'parameters' | 'statePaths'> {
  parameters: ParameterSummary[];
  /** The tables of rows the report holds and a client may ask for (set by `summarise`). */
  rowTables?: RowTableInfo[];
}

/** The report format's version: raised whenever a field is added, removed or changes meaning (docs/report.schema.json). */
export const REPORT_VERSION = 4;

/** The parameter values a check measured: the model's seeded initialisation, or values given (odelens check --params). */
export interface CheckedParameters {
  kind: 'seeded' | 'given';
  /** `seed=N`, or the file the values came from. */
  source: string;
  /** The parameters, in model order. */
  names: string[];
}

/** Why a check has no continuous reference (solver/check/referenceAvailability.ts). */
/** Why there is no reference: the model's construct, or (`unstable`) the reference's explicit solve blew up. */
export type ReferenceUnavailableCause = 'map' | 'events' | 'delays' | 'volterra' | 'unstable';

/**
 * How the reference of a model with Volterra integrals or delays, or of a stiff model whose explicit RK4 blows up, was
 * taken (check/refinedReference.ts): AD of the same model on refined grids, whose limit is the continuous gradient;
 * absent for the adjoint reference.
 */
export interface RefinedReference {
  /**
   * The scheme of the refined solves (`volterra`, XPPAUT's scheme for integrals; `rk4` for delays; a stiff model's own
   * implicit scheme, `backeul`, when explicit RK4 blows up).
   */
  scheme: string;
  /** Steps of each refined level (2N, 4N); the reference is the finest. */
  steps: number[];
  /** The order of convergence used for the error estimate (observed, or the conservative 1). */
  order: number;
  /** True when the order was observed from three levels (the model's own scheme at N was one). */
  observed: boolean;
}

/**
 * How the reference of a stiff model was taken (engine/reference.ts: stableReference): its RK4 blew up on the usual
 * grid and was solved again on a step at which it is stable; absent otherwise (a refused one is reference-unavailable).
 */
export interface StiffReferenceSteps {
  /** Spectral radius of ∂f/∂x estimated at x(t0) (NaN when it could not be estimated). */
  spectralRadius: number;
  /** Steps of the usual grid that blew up, and of the stable grid solved. */
  usualSteps: number;
  steps: number;
}

/**
 * How the reference of a model with events was taken (engine/eventReference.ts), or of a map with events
 * (engine/mapReference.ts: its adjoint stepped back through the resets); absent for other references.
 */
export interface EventReference {
  /** Firings of the continuous solve on [t0, T], each located inside its step; a map's firings, at their iterations. */
  firings: number;
  /** Steps of the finer of the reference's two RK4 solves (the one reported); a map's iterations. */
  steps: number;
}

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
  version: typeof REPORT_VERSION;
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
  /** Why that backend: requested, auto's rule, its decision for this size class (measured now or remembered), or a fallback. */
  backendReason?: string;
  /** How the discrete solve evaluated f (RhsPath); absent when the check stopped before compiling. */
  rhsPath?: RhsPath;
  /** Why the discrete solve is not one op where a whole-solve path exists (a scheme or construct it does not cover). */
  rhsPathNote?: string;
  loss: number;
  /** Which parameter values were checked. */
  checkedParameters: CheckedParameters;
  /** Set when the model has no continuous reference (a map, events, delays): reference rows are empty and errors against it NaN (n/a). */
  referenceUnavailable?: ReferenceUnavailable;
  /**
   * Set when the check ran no finite differences (CheckOptions.gradcheck false: the CLI's --no-gradcheck, the setting
   * odeLens.check.finiteDifferences): every gradcheck figure is NaN and the views leave the gradcheck column out.
   */
  finiteDifferencesOff?: true;
  /** Set when the reference is the limit of refined grids (Volterra integrals, delays) instead of the adjoint. */
  refinedReference?: RefinedReference;
  /** Set when the reference of a stiff model was solved on a step of its own at which RK4 is stable. */
  stiffReference?: StiffReferenceSteps;
  /** Set when the reference located the model's events (firings, steps of its solve). */
  eventReference?: EventReference;
  /** Estimated relative error of the continuous reference itself (embedded third-order estimate of its truncation plus modelled float32 rounding). */
  referenceError: number;
  findings: Finding[];
  parameters: ParameterReport[];
  /** The state x(t) and the adjoint p(t) of the continuous reference at its grid nodes (absent without a reference). */
  statePaths?: StatePathRows;
  /**
   * `totalMs`: the check's time, from the parsed model to this report (runCheck; the solves of step halvings
   * included), the one number every view shows (presentation/format.ts checkTimeMs).
   * Wall time of each phase. With `referenceConcurrent` the reference ran on the check's second thread beside AD and
   * finite differences (check/thread.ts), so the phases overlap and their sum exceeds the total.
   * `finiteDifferencesOnSecondThread`: the parameters whose finite differences the second thread computed (absent when
   * none); `finiteDifferenceMs` is then the check thread's wall time of the phase, waiting for them included.
   * `finiteDifferencesEarly`: the perturbed solves of finite differences the second thread took while AD ran
   * (engine/earlySolves.ts; absent when none).
   */
  timings: {
    totalMs: number;
    adMs: number;
    referenceMs: number;
    finiteDifferenceMs: number;
    referenceConcurrent?: true;
    finiteDifferencesOnSecondThread?: number;
    finiteDifferencesEarly?: number;
  };
}

// ---------------------------------------------------------------- rows (solver/rows.ts packs and answers them)

/**
 * The views a check's rows serve. `layers`: a per-step parameter's densities per layer (x = layer time;
 * series raw, corrected, reference; one column per component). `sensitivities`: a shared parameter's
 * gradient (x = the component's flat index; series raw AD, corrected, reference; one column).
 * `trajectory` x(t) and `adjoint` p(t) (target `state`; x = t, one column per state component, series `x` or `p`)
 * come from the continuous reference's nodes (Report.statePaths).
 */
export type RowView = 'layers' | 'sensitivities' | 'trajectory' | 'adjoint';

/** What a report holds of one table of rows (in its summary), so a client knows what it may ask for. */
export interface RowTableInfo {
  view: RowView;
  /** The parameter (layers, sensitivities) or the state (trajectory, adjoint) the table belongs to. */
  target: string;
  /** Points along x. */
  rows: number;
  /** Values per point and series. */
  columns: number;
  /** The flat (row-major) index in the tensor of each column; absent: column j is component j. */
  componentIndices?: number[];
  /** Per column, its name (trajectory, adjoint: `x`, `h[3]`). */
  columnLabels?: string[];
  /** Per column, the 2-norm of its finite reference values (raw AD where there is no reference): what a view picks by. */
  columnNorms: number[];
  /** The series, in drawing order. */
  series: string[];
  /** What x is. */
  x: 'layer time' | 'component' | 't';
}

/** One series of a table: its x values (ascending) and its values, x.length × columns, row-major. */
export interface RowSeriesData {
  name: string;
  x: Float64Array;
  values: Float64Array;
}

export interface RowTable {
  info: RowTableInfo;
  series: RowSeriesData[];
}

/** A request for rows: which table, which columns and series, over which x range, at what resolution. */
export interface RowQuery {
  view: RowView;
  target: string;
  /** Column positions in the table (not flat component indices); at most MAX_QUERY_COLUMNS. */
  columns: number[];
  /** Series to return; absent: all of the table's. */
  series?: string[];
  /** x range (inclusive); absent ends: the table's. */
  from?: number;
  to?: number;
  /** Horizontal resolution, e.g. the chart's width in pixels: each series keeps at most its min and max per bucket. */
  buckets: number;
}

/** One column of one series, as drawn: y is null where the value is not finite (a gap in the line). */
export interface RowSeries {
  series: string;
  column: number;
  x: number[];
  y: (number | null)[];
}

export interface RowsAnswer {
  view: RowView;
  target: string;
  /** Points of the table inside the x range (per series, before downsampling). */
  rows: number;
  /** The buckets used (the request's, lowered to keep the answer within MAX_ANSWER_POINTS). */
  buckets: number;
  /** True when some series had more points in range than 2 per bucket and were reduced to their min and max per bucket. */
  downsampled: boolean;
  series: RowSeries[];
}
