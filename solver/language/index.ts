// The language front end: text → checked model + diagnostics.
//
//   analyse(text) never throws. It returns a model iff there is no
//   error-severity diagnostic.

import type { Analysis, AnalysisContext, Diagnostic } from '../model';
import { check } from './checker';
import { foldArrayDiagnostics } from './arrayDiagnostics';
import { parse, type ParseResult } from './parser';
import { separateSums } from './separableSums';
import { vectorizeArrays } from './vectorize';

export { BUILTIN_NAMES, LOWERED, type BuiltinName, type BuiltinInfo } from './builtins';
export { evalConst } from './checker';
export { format, formatEdits, formatRange, type FormatOptions, type TextEdit } from './format';
export { tokenize, type Token, type TokenKind } from './lexer';
export { parse, type ParseResult } from './parser';

/**
 * An Analysis together with the syntax tree it was checked from, so the
 * language service can answer requests on this version without parsing the
 * text again. `syntax` is absent only when the parser itself failed.
 */
export interface AnalysedDocument extends Analysis {
  syntax?: ParseResult;
}

/** Why a model that has errors is not checked: the first error, with its line (and how many more). */
export function modelErrorsMessage(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length === 0) return 'the model could not be analysed';
  const first = errors.reduce((a, b) =>
    b.range.start.line < a.range.start.line ||
    (b.range.start.line === a.range.start.line && b.range.start.character < a.range.start.character)
      ? b
      : a,
  );
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
  return `the model has errors: line ${first.range.start.line + 1}: ${first.message}${more}`;
}

/** `context` tells where the file lives, so `data` paths resolve (see AnalysisContext). */
export function analyse(text: string, context: AnalysisContext = {}): Analysis {
  const analysis = analyseDocument(text, context);
  delete analysis.syntax; // callers that keep an Analysis need not keep the tree alive
  return analysis;
}

/** Like analyse, and also returns the syntax tree (the checker does not modify it). */
export function analyseDocument(text: string, context: AnalysisContext = {}): AnalysedDocument {
  let syntax: ParseResult | undefined;
  try {
    syntax = parse(typeof text === 'string' ? text : String(text));
    const given = context ?? {};
    const arrays = !!syntax.arrayOrigins?.size;
    // The scalar model of a file with arrays is kept only when the tensor form does not check: its sums are
    // separated then, not before (the rewrite changes no diagnostic; cgl.ode's scalar form took 7 ms of it).
    const analysis = check(syntax.program, syntax.diagnostics, arrays ? { ...given, separateSums: false } : given);
    if (syntax.arrayLines?.length) analysis.diagnostics = foldArrayDiagnostics(analysis.diagnostics, syntax.arrayLines);
    // The diagnostics are those of the file as written (scalar elements); the model solves its
    // complete arrays as tensor states when that form checks too (vectorize.ts).
    if (analysis.model && syntax.arrayOrigins?.size) {
      const vectorized = vectorizeArrays(syntax.program, syntax.arrayOrigins);
      const tensor = vectorized && check(vectorized, [], given);
      if (tensor?.model) analysis.model = tensor.model;
      else if (given.separateSums !== false) separateSums(analysis.model);
    }
    return { ...analysis, syntax };
  } catch (e) {
    // A bug in the front end must not take the server down: report it on line 0.
    const message = e instanceof Error ? e.message : String(e);
    return {
      diagnostics: [
        {
          code: 'internal-error',
          severity: 'error',
          message: `ODE Lens could not analyse this file (internal error: ${message})`,
          range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        },
      ],
      syntax,
    };
  }
}
