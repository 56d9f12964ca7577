// Name resolution and static shape inference (NumPy broadcasting).
//
// The checker never mutates the parse tree: it builds new `Expr` nodes with
// `shape` filled, which lets it expand XPPAUT user functions and fixed
// quantities inline (the checked model only contains states, parameters, `t`,
// numbers and built-in calls). Names are case-insensitive, as in XPPAUT; every
// reference is rewritten to the spelling of its declaration.
//
// check() is the pipeline of the phases below, in this order (each reports into
// the shared CheckContext; the order fixes which of two diagnostics comes first).
import type {
  Analysis,
  AnalysisContext,
  DataDecl,
  Diagnostic,
  Equation,
  Loss,
  Model,
  ParamDecl,
  StateDecl,
} from '../../model';
import { schemeDiagnostics } from '../../schemes/analysis';
import type { EquationStmt, LossStmt, Program } from '../ast';
import { diag } from '../ranges';
import { CheckContext } from './context';
import { checkInits, checkParams, declareNames, functionArgs } from './declarations';
import { checkEquations, checkLoss, collectStates, reportUnused } from './equations';
import { ExpressionChecker } from './expressions';
import { checkOptions, readDataSets, type CheckedOptions } from './options';
import { buildTables, modelTables } from './tables';

export function check(program: Program, parseDiagnostics: Diagnostic[], context: AnalysisContext = {}): Analysis {
  const ctx = new CheckContext(context, parseDiagnostics);
  const exprs = new ExpressionChecker(ctx);
  const st = program.statements;
  const broken = declareNames(ctx, st);
  const options = checkOptions(ctx, exprs, st, broken.broken);
  const data = readDataSets(ctx, options.options);
  buildTables(ctx, exprs, options.options);
  // User-function arguments that hide a declared name.
  for (const sym of ctx.symbols.values()) if (sym.kind === 'function') functionArgs(ctx, sym.stmt);
  const params = checkParams(ctx, exprs, st);
  const inits = checkInits(ctx, exprs, st);
  const equations = checkEquations(
    ctx,
    exprs,
    st.filter((s): s is EquationStmt => s.kind === 'equation'),
  );
  const states = collectStates(ctx, equations, broken, inits);
  const loss = checkLoss(
    ctx,
    exprs,
    st.filter((s): s is LossStmt => s.kind === 'loss'),
    broken,
    states,
  );
  reportUnused(ctx, st, program.refusedReads);
  return finish(ctx, { ...options, states, params, equations: equations.list, data, loss });
}

interface CheckedParts extends CheckedOptions {
  states: StateDecl[];
  params: ParamDecl[];
  equations: Equation[];
  data: DataDecl[];
  loss: Loss | undefined;
}

/** The model when nothing is an error, after the scheme analysis; the diagnostics in text order. */
function finish(
  ctx: CheckContext,
  { states, params, equations: eqList, data, schemes, options, optionLines, loss }: CheckedParts,
): Analysis {
  const sortDiagnostics = (): void => {
    ctx.diagnostics.sort(
      (a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character,
    );
  };
  const hasError = (): boolean => ctx.diagnostics.some((d) => d.severity === 'error');
  if (hasError()) {
    sortDiagnostics();
    return { diagnostics: ctx.diagnostics };
  }
  const model: Model = { states, params, equations: eqList, data, schemes, options, optionLines };
  if (loss) model.loss = loss;
  const tables = modelTables(ctx);
  if (tables.length > 0) model.tables = tables;
  // Static analysis of the scheme (per-step parameters at risk, weak stability…).
  try {
    for (const d of schemeDiagnostics(model)) ctx.report(d);
  } catch (e) {
    ctx.report(
      diag(
        'internal-error',
        'warning',
        `The scheme analysis failed (internal error: ${e instanceof Error ? e.message : String(e)})`,
        { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
      ),
    );
  }
  sortDiagnostics();
  if (hasError()) return { diagnostics: ctx.diagnostics };
  return { model, diagnostics: ctx.diagnostics };
}
