// A sum written out term by term, as the balanced tree of `+` that XPPAUT's network functions become
// (networkFunctions.ts, delayedNetworks.ts). Its root carries the term count (model.ts: `terms`), which lets the
// fused program run it as one loop instruction (engine/scalarRhs.ts) in the same order of additions.
import type { Expr, Range, Shape } from '../model';

/**
 * Sum of the terms as a balanced tree of `+` (0 without terms). `countTerms: false` leaves the count off, so the
 * engine writes the terms out (delayedNetworks.ts: each term is a delayed read with its own delay). `shape` and
 * `opRange` annotate the new nodes for passes after the checker (separableSums.ts).
 */
export function balancedSum(
  terms: Expr[],
  at: Range,
  { countTerms = true, shape, opRange = at }: { countTerms?: boolean; shape?: Shape; opRange?: Range } = {},
): Expr {
  const typed = shape ? { shape } : {};
  if (terms.length === 0) return { kind: 'number', value: 0, range: at, ...typed };
  let level = terms;
  while (level.length > 1) {
    const next: Expr[] = [];
    for (let k = 0; k + 1 < level.length; k += 2)
      next.push({ kind: 'binary', op: '+', left: level[k], right: level[k + 1], range: at, opRange, ...typed });
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  const root = level[0];
  if (countTerms && terms.length > 1 && root.kind === 'binary') root.terms = terms.length;
  return root;
}
