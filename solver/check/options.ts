// What a caller may ask of one gradient check, and the size limits every phase respects.
import type { BackendPreference } from '../engine/backend';

/** The phases of a check a progress display names, in order. */
export type CheckPhase = 'solve' | 'reference' | 'finite differences' | 'analysis';

export interface CheckOptions {
  backend?: BackendPreference;
  signal?: AbortSignal;
  /** Called as each phase starts (progress displays). */
  onPhase?: (phase: CheckPhase) => void;
  timeBudgetMs?: number;
  /**
   * Parameter values to check instead of the seeded initialisation (e.g. after
   * training): one Float32Array per model.params entry, row-major, N×P for
   * per-step parameters (copy n at offset n·P), P for shared ones.
   */
  parameterValues?: Float32Array[];
  /** Where parameterValues came from (a file name), for the report's checkedParameters. */
  parameterSource?: string;
  /**
   * Refinement study (docs/design.md#detector): re-solve the same θ(t) with 2N and 4N steps
   * (true = up to 4N; a number = that many extra levels), each with AD, the
   * correction and the continuous reference, giving observed orders. Levels
   * beyond MAX_STUDY_STEPS steps or the element limit are skipped. Without
   * it, flagged parameters still get α at N/2 (N ≥ 32, even; else 2N) (refinedAlpha, refinedSteps).
   */
  refinement?: boolean | number;
  /**
   * Largest predicted time of the refined solves that stand for the reference of Volterra and delay models
   * (check/refinedReference.ts); default REFINED_REFERENCE_BUDGET_MS, and never more than half the time budget.
   */
  refinedReferenceBudgetMs?: number;
  /**
   * Largest time of the reference's solves on a stable step when its RK4 blows up on the usual grid of a stiff model
   * (engine/reference.ts: stableReference); default STIFF_REFERENCE_BUDGET_MS, and never more than half the time left.
   */
  stiffReferenceBudgetMs?: number;
  /** Skip the continuous reference (errors are then NaN); default true. */
  reference?: boolean;
  /**
   * Time the finite differences' passes at finer steps may bring them to (engine/finiteDifferences.ts); default
   * FD_BUDGET_FACTOR × the AD solve's measured cost, at least FD_MIN_BUDGET_MS.
   */
  finiteDifferenceBudgetMs?: number;
  /** Skip the finite-difference gradcheck; default true. */
  gradcheck?: boolean;
  /**
   * Threads the check may use: 2 (the default, DEFAULT_CHECK_THREADS) runs the continuous reference on a second
   * thread beside the finite differences, and then part of the finite differences there, when AD took at least
   * THREAD_MIN_AD_MS (check/thread.ts); 1 runs every phase on the calling thread. The report is the same either way
   * (but where the finite differences' time budget decides, a time-based decision).
   */
  threads?: number;
  /** The second thread's bundle (default: check/thread.ts's THREAD_BUNDLE beside the running bundle). */
  threadScript?: string;
  /** AD cheaper than this keeps the reference on the calling thread (default check/thread.ts's THREAD_MIN_AD_MS). */
  threadMinAdMs?: number;
  /** A fused solve of fewer operations does not start the second thread (default check/thread.ts's THREAD_MIN_SOLVE_WORK). */
  threadMinSolveWork?: number;
  /**
   * TF.js tensor models use the second thread too (default false: two TF.js cpu backends in one process slowed each
   * other's AD up to 4× through V8's parallel garbage collection on 2 cores; check/thread.ts).
   */
  threadTensorModels?: boolean;
  /** Fused scalar models: discrete solves as one plain-JS kernel (engine/scalarKernel/); default true (false: the per-kernel solve, for comparisons). */
  wholeSolve?: boolean;
}

/** Largest step count of a refinement-study level. */
export const MAX_STUDY_STEPS = 4096;

/** Size limits of one check (per-step copies count N times; the reference keeps up to 4 interpolated copies). */
// Steps: a check solves a few times (AD, finite differences, the reference); the memory guard (engine/memoryGuard.ts)
// stops a tape that would not fit, so the step limit only bounds the per-step arrays (trajectory, reference grid).
export const MAX_CHECK_STEPS = 1_000_000;
/** Steps of a training run, which solves and differentiates the model once per iteration. */
export const MAX_TRAIN_STEPS = 100_000;
export const MAX_CHECK_ELEMENTS = 10_000_000;
/**
 * Most operations of the fused program one discrete solve may run (evaluations of f × operations each,
 * engine/scalarProgram.ts: evaluationWork). A check solves a few dozen times (AD and its adjoint, the batched
 * finite differences, the reference and its adjoint); the largest XPPAUT networks that check in a few
 * seconds run 1.6·10⁸ per solve (docs/performance.md#loop-instruction-2026-12-06-issue-15).
 */
export const MAX_SOLVE_WORK = 400_000_000;

/** Largest N for which a flagged oscillation is confirmed by a second step count (N/2, or 2N below MIN_COARSE_CONFIRM_STEPS or for odd N). */
export const MAX_REFINEMENT_STEPS = 512;

/** From this N on (N even) a flagged oscillation is confirmed at N/2 instead of 2N when no study is requested. */
export const MIN_COARSE_CONFIRM_STEPS = 32;
