// XPPAUT's `meth=` values. XPPAUT picks the method by the first character of the value alone (load_eqn.c compares
// it with "demragvbqsc582y"), so `meth=r`, `meth=rungekutta`, `meth=8` and `meth=qualrk4` are all read. ODE Lens
// accepts the documented names and the spellings that are a prefix of one or extend one (`r`, `disc`, `qualrk4`);
// a word that only shares the first letter is reported with what XPPAUT would make of it, since it is far more
// often a typo than a choice. Which scheme each method runs as is the scheme registry's (`xppaut` of its entries).
import { SCHEME_NAMES, XPPAUT_SCHEME_ALIASES, type SchemeAlias, type SchemeName } from './registry';

/** The documented method names (xpp_doc.tex, `METH=`), in XPPAUT's order of its method keys. */
export const XPPAUT_METHODS = [
  'discrete',
  'euler',
  'modeuler',
  'rungekutta',
  'adams',
  'gear',
  'volterra',
  'backeul',
  'qualrk',
  'stiff',
  'cvode',
  '5dp',
  '83dp',
  '2rb',
  'ymp',
] as const;

export type XppautMethod = (typeof XPPAUT_METHODS)[number];

/** The method XPPAUT selects for a value (by its first character), or undefined when none. */
export function xppautMethodOf(value: string): XppautMethod | undefined {
  const first = value.toLowerCase()[0];
  return first === undefined ? undefined : XPPAUT_METHODS.find((m) => m[0] === first);
}

/** The documented method a value spells (the name, a prefix of it, or the name with characters added). */
export function spelledXppautMethod(value: string): XppautMethod | undefined {
  const v = value.toLowerCase();
  const m = xppautMethodOf(v);
  return m !== undefined && (m.startsWith(v) || v.startsWith(m)) ? m : undefined;
}

/** The built-in scheme a documented XPPAUT method runs as (with a note where the mapping is not exact). */
export function xppautMethodScheme(m: XppautMethod): SchemeAlias | undefined {
  return (SCHEME_NAMES as readonly string[]).includes(m) ? { scheme: m as SchemeName } : XPPAUT_SCHEME_ALIASES.get(m);
}
