// Built-in functions that can appear in a checked model (`Expr` kind `call`),
// as the language sees them: the operation table (solver/ops/table.ts) declares
// each once. The engine compiles exactly these (BUILTIN_NAMES is the list its
// tests walk); the checker rewrites a few more (XPPAUT's cosh, sinh, tan, log10,
// pow, flr) into them. Every lookup is by Map or own property, so names such as
// `constructor` or `__proto__` are ordinary unknown names.
import { FUNCTIONS, LOWERED_FUNCTIONS, type BuiltinName } from '../ops/table';

export type { BuiltinName };

export interface BuiltinInfo {
  arity: number;
  /** `elementwise`: result has the (broadcast) shape of the arguments; `reduce`: result is a scalar. */
  kind: 'elementwise' | 'reduce';
  /** One line for hovers and completion. */
  doc: string;
  /** Signature for signature help, e.g. `max(a, b)`. */
  signature: string;
}

/** Built-in functions by name. */
export const BUILTINS: ReadonlyMap<BuiltinName, BuiltinInfo> = FUNCTIONS;

/** Every built-in the engine must compile. */
export const BUILTIN_NAMES: readonly BuiltinName[] = [...FUNCTIONS.keys()];

export function isBuiltin(name: string): name is BuiltinName {
  return (BUILTINS as ReadonlyMap<string, BuiltinInfo>).has(name);
}

/** Functions rewritten by the checker into built-ins: name → arity. */
export const LOWERED: ReadonlyMap<string, number> = new Map([...LOWERED_FUNCTIONS].map(([name, f]) => [name, f.arity]));

/** XPPAUT functions that this release cannot express. */
export const XPP_UNSUPPORTED_FUNCTIONS: ReadonlySet<string> = new Set([
  'erf',
  'erfc',
  'besselj',
  'bessely',
  'besseli',
  'lgamma',
  'hom_bcs',
  'int',
  'not',
]);

/** Functions that draw a new sample at each call site (each call is its own realisation, so calls never merge). */
export const NOISE_FUNCTIONS: ReadonlySet<string> = new Set(['ran', 'normal']);

/** Named constants (XPPAUT has `pi`). A declaration of the same name takes precedence. */
export const CONSTANTS: ReadonlyMap<string, number> = new Map([['pi', Math.PI]]);
