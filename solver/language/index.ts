// The language front end: text → checked model + diagnostics.
//
//   analyse(text) never throws. It returns a model iff there is no
//   error-severity diagnostic.

import type { Analysis, AnalysisContext } from '../model';
import { check } from './checker';
import { parse } from './parser';

export { BUILTINS, BUILTIN_NAMES, CONSTANTS, LOWERED, isBuiltin, type BuiltinName, type BuiltinInfo } from './builtins';
export { broadcast, broadcastsTo, formatShape, evalConst, constTensor, MAX_ELEMENTS } from './checker';
export { DEFAULT_OPTIONS, OPTION_KEYS, MAX_STEPS, ONE_STEP_SCHEMES, SCHEME_ALIASES } from './options';
export { format, formatEdits, formatRange, type FormatOptions, type TextEdit } from './format';
export { tokenize, type Token, type TokenKind } from './lexer';
export { parse } from './parser';

/** `context` tells where the file lives, so `data` paths resolve (see AnalysisContext). */
export function analyse(text: string, context: AnalysisContext = {}): Analysis {
  try {
    const { program, diagnostics } = parse(typeof text === 'string' ? text : String(text));
    return check(program, diagnostics, context ?? {});
  } catch (e) {
    // A bug in the front end must not take the server down: report it on line 0.
    const message = e instanceof Error ? e.message : String(e);
    return {
      diagnostics: [{
        code: 'internal-error',
        severity: 'error',
        message: `ODE Lens could not analyse this file (internal error: ${message})`,
        range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
      }],
    };
  }
}
