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
  AlgebraicPart,
  Analysis,
  AnalysisContext,
  DataDecl,
  Diagnostic,
  Equation,
  Expr,
  Loss,
  Model,
  MarkovChain,
  ModelEvent,
  ParamDecl,
  StateDecl,
} from '../../model';
import { callsByCallee, solveExpressions, visitExpressions } from '../../model';
import { schemeDiagnostics } from '../../schemes/analysis';
import type { EquationStmt, LossStmt, Program } from '../ast';
import { diag } from '../ranges';
import { CheckContext } from './context';
import { checkInits, checkParams, declareNames, functionArgs } from './declarations';
import { checkEquations, checkLoss, collectStates, reportUnused } from './equations';
import { checkEvents } from './events';
import { checkAlgebraic } from './algebraic';
import { checkDelayBounds } from './delays';
import { volterraOptions } from './volterra';
import { ExpressionChecker } from './expressions';
import { checkOptions, readDataSets, type CheckedOptions } from './options';
import { mapEquations, mapOptions } from '../maps';
import { buildTables, modelTables } from './tables';
import { separateSums } from '../separableSums';
import { checkMarkov } from './markov';
import { markovUnsupported } from '../../engine/markov';

export function check(program: Program, parseDiagnostics: Diagnostic[], context: AnalysisContext = {}): Analysis {
  const ctx = new CheckContext(context, parseDiagnostics);
  const exprs = new ExpressionChecker(ctx);
  const st = program.statements;
  const broken = declareNames(ctx, st);
  const options = checkOptions(ctx, exprs, st, broken.broken);
  const equationStmts = st.filter((s): s is EquationStmt => s.kind === 'equation');
  const mapDiagnostics: Diagnostic[] = [];
  const hasEvents = st.some((s) => s.kind === 'global');
  const isMap = mapOptions(options.options, options.optionLines, equationStmts, mapDiagnostics, hasEvents);
  for (const d of mapDiagnostics) ctx.report(d);
  const data = readDataSets(ctx, options.options);
  buildTables(ctx, exprs, options.options);
  // User-function arguments that hide a declared name.
  for (const sym of ctx.symbols.values()) if (sym.kind === 'function') functionArgs(ctx, sym.stmt);
  const params = checkParams(ctx, exprs, st);
  const histories = new Map<string, Expr>();
  const inits = checkInits(ctx, exprs, st, histories);
  const equations = checkEquations(ctx, exprs, equationStmts);
  const states = collectStates(ctx, equations, broken, inits, histories);
  const events = checkEvents(ctx, exprs, st);
  const algebraic = checkAlgebraic(ctx, exprs, st);
  const markov = checkMarkov(ctx, exprs);
  // One walk finds the calls both phases look for, when the checker built one (most models have neither).
  const calls = ctx.readsHistory
    ? callsByCallee(solveExpressions({ equations: equations.list, events, algebraic }))
    : callsByCallee([]);
  checkDelayBounds(ctx, calls, options.options);
  volterraOptions(ctx, equations.list, calls, options);
  const loss = checkLoss(
    ctx,
    exprs,
    st.filter((s): s is LossStmt => s.kind === 'loss'),
    broken,
    states,
  );
  const readOnlyBy = reportUnused(ctx, st, program.refusedReads, program.ignoredReads);
  for (const p of params) {
    const keyword = readOnlyBy.get(p.name.toLowerCase());
    if (keyword) p.readOnlyBy = keyword;
    const sym = ctx.symbols.get(p.name.toLowerCase());
    const table = sym && !ctx.used.has(sym) ? ctx.sampledBy.get(sym) : undefined;
    if (table && !keyword) p.sampledBy = table;
  }
  const list = isMap ? mapEquations(equations.list, states) : equations.list;
  return finish(ctx, { ...options, states, params, equations: list, data, loss, events, algebraic, markov });
}

interface CheckedParts extends CheckedOptions {
  states: StateDecl[];
  params: ParamDecl[];
  equations: Equation[];
  data: DataDecl[];
  loss: Loss | undefined;
  events: ModelEvent[];
  algebraic: AlgebraicPart | undefined;
  markov: MarkovChain[];
}

/** The parameters that only Markov transition rates read (ParamDecl.ratesOf): the pathwise gradient misses them. */
function markRatesOnly(model: Model): void {
  const read = (exprs: Expr[]) => {
    const names = new Set<string>();
    visitExpressions(exprs, (e) => {
      if (e.kind === 'name') names.add(e.name);
    });
    return names;
  };
  const solved = read([...solveExpressions({ ...model, markov: undefined }), ...(model.loss ? [model.loss.expr] : [])]);
  for (const m of model.markov ?? []) {
    const rates = read(m.rates.flat().filter((r): r is Expr => r !== undefined));
    for (const p of model.params) if (!p.ratesOf && rates.has(p.name) && !solved.has(p.name)) p.ratesOf = m.name;
  }
}

/** The model when nothing is an error, after the scheme analysis; the diagnostics in text order. */
function finish(
  ctx: CheckContext,
  {
    states,
    params,
    equations: eqList,
    data,
    schemes,
    options,
    optionLines,
    loss,
    events,
    algebraic,
    markov,
  }: CheckedParts,
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
  if (events.length > 0) model.events = events;
  if (algebraic) model.algebraic = algebraic;
  const tables = modelTables(ctx);
  if (tables.length > 0) model.tables = tables;
  if (markov.length > 0) {
    model.markov = markov;
    markRatesOnly(model);
    const why = markovUnsupported(model);
    if (why)
      for (const m of markov)
        ctx.error(
          'unsupported-markov',
          `The check cannot draw the jumps of ${m.name}: it realises a Markov variable along a plain solve of the equations, and this model has ${why}`,
          m.range,
        );
  }
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
  // After every diagnostic: the rewrite changes how sums are computed, not what the file says.
  if (ctx.context.separateSums !== false) separateSums(model);
  return { model, diagnostics: ctx.diagnostics };
}
