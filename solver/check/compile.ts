// Phase 1, compile: refuse options no solve can run with and models beyond the size limits, then compile
// the model into TF.js functions (engine/compile.ts). Each refusal is a finding, not an exception.
import type { Finding } from '../report';
import { compileModel, CompileError, sizeOf, type CompiledModel } from '../engine/compile';
import { invalidOptionsMessage, solveWorkMessage, tooLargeMessage } from '../presentation/findingText';
import { MAX_CHECK_ELEMENTS, MAX_CHECK_STEPS, MAX_SOLVE_WORK } from './options';
import { optionsRange, type CheckRun } from './run';

/**
 * `solveWork`: a fused program's operations per discrete solve (evaluations × operations each), when fused; a Volterra
 * model's on its plain-JS kernel, its right-hand side and integrands once a step and the sums over its history.
 */
type Compiled = { cm: CompiledModel; solveWork?: number } | { refused: Finding };

/** The compiled model, or the finding that says why there is none. The caller disposes `cm`. */
export function compilePhase(run: CheckRun): Compiled {
  const { model } = run;
  const { steps: N, dt: h } = model.options;
  if (!(N >= 1) || !(h > 0) || !Number.isFinite(h)) {
    return {
      refused: {
        code: 'invalid-options',
        severity: 'error',
        message: invalidOptionsMessage(N, h),
        range: optionsRange(model),
      },
    };
  }
  const elements = model.params.reduce((acc, p) => acc + sizeOf(p.shape) * (p.perStep ? run.copies : 1), 0);
  if (N > MAX_CHECK_STEPS || elements > MAX_CHECK_ELEMENTS) {
    return {
      refused: {
        code: 'model-too-large',
        severity: 'error',
        message: tooLargeMessage(N, elements, MAX_CHECK_STEPS, MAX_CHECK_ELEMENTS),
        range: optionsRange(model),
      },
    };
  }
  // Without a loss the compiled model checks ½‖x(T)‖²; the front end says so (presentation/findingText.ts).
  try {
    const { compiled, fusedWork, volterraWork } = compileModel(run.tf, model, { wholeSolve: run.options.wholeSolve });
    // A fused program's cost is known before any solve: its operations per evaluation times the evaluations.
    const evaluations = N * (run.scheme.kind === 'rk' ? run.scheme.tableau.b.length : 1);
    if (fusedWork !== undefined && fusedWork * evaluations > MAX_SOLVE_WORK) {
      compiled.dispose();
      return {
        refused: {
          code: 'model-too-large',
          severity: 'error',
          message: solveWorkMessage(fusedWork, evaluations, N, MAX_SOLVE_WORK),
          range: optionsRange(model),
        },
      };
    }
    const solveWork = fusedWork !== undefined ? fusedWork * evaluations : volterraWork;
    return { cm: compiled, ...(solveWork !== undefined ? { solveWork } : {}) };
  } catch (err) {
    if (err instanceof CompileError)
      return { refused: { code: err.code, severity: 'error', message: err.message, range: err.range } };
    throw err;
  }
}
