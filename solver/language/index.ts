// The language front end: text → checked model + diagnostics.
//
//   analyse(text) never throws. It returns a model iff there is no
//   error-severity diagnostic.

import type { Analysis } from '../model';
import { check } from './checker';
import { parse } from './parser';

export { BUILTINS, BUILTIN_NAMES, isBuiltin, type BuiltinName, type BuiltinInfo } from './builtins';
export { broadcast, broadcastsTo, formatShape, evalConst, MAX_ELEMENTS } from './checker';
export { DEFAULT_OPTIONS, OPTION_KEYS, MAX_STEPS } from './options';
export { tokenize, type Token, type TokenKind } from './lexer';
export { parse } from './parser';

export function analyse(text: string): Analysis {
  try {
    const { program, diagnostics } = parse(typeof text === 'string' ? text : String(text));
    return check(program, diagnostics);
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
