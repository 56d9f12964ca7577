// The `@` options (with the declared schemes they may select) and the data
// files, whose times must lie in the solved interval.
import type { DataDecl, Diagnostic, ModelOptions, SchemeDecl } from '../../model';
import type { BrokenStmt, OptionsStmt, Program } from '../ast';
import { readData } from '../data';
import { resolveOptions } from '../options';
import { isXppautStyle } from '../xppautStyle';
import { diag } from '../ranges';
import type { CheckContext } from './context';
import type { ExpressionChecker } from './expressions';
import { checkScheme } from './schemes';

type Statement = Program['statements'][number];

export interface CheckedOptions {
  options: ModelOptions;
  optionLines: OptionsStmt['line'][];
  schemes: SchemeDecl[];
}

/** The options, then the declared schemes (an unused one is a warning). */
export function checkOptions(
  ctx: CheckContext,
  exprs: ExpressionChecker,
  st: Statement[],
  broken: BrokenStmt[],
): CheckedOptions {
  const optionLines = st.flatMap((s) => (s.kind === 'options' ? [s.line] : []));
  const optionDiags: Diagnostic[] = [];
  const schemeNames = new Map<string, string>();
  for (const [key, stmt] of ctx.schemes) schemeNames.set(key, stmt.name);
  for (const b of broken)
    if (b.declares?.keyword === 'scheme') schemeNames.set(b.declares.name.toLowerCase(), b.declares.name);
  const options = resolveOptions(optionLines, optionDiags, schemeNames, isXppautStyle(st));
  for (const d of optionDiags) ctx.report(d);
  const schemes: SchemeDecl[] = [];
  for (const stmt of ctx.schemes.values()) {
    const decl = checkScheme(ctx, exprs, stmt);
    if (decl) schemes.push(decl);
    if (decl && stmt.name !== options.meth)
      ctx.report(
        diag(
          'unused-name',
          'warning',
          `The scheme '${stmt.name}' is never used; select it with @ meth=${stmt.name}`,
          stmt.nameRange,
        ),
      );
  }
  return { options, optionLines, schemes };
}

/** Data files (their times must lie in the solved interval, so after the options). */
export function readDataSets(ctx: CheckContext, options: ModelOptions): DataDecl[] {
  const data: DataDecl[] = [];
  for (const sym of ctx.symbols.values()) {
    if (sym.kind !== 'data') continue;
    const out: Diagnostic[] = [];
    sym.decl = readData(sym.stmt, ctx.context, [options.t0, options.t0 + options.total], out);
    for (const d of out) ctx.report(d);
    if (sym.decl) data.push(sym.decl);
  }
  return data;
}
