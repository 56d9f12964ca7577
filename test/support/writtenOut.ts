// A model with its sums' term counts removed (model.ts: `terms`): the fused program then writes every term out
// instead of running a loop instruction, the baseline a loop is held to (tests) and measured against (bench).
import type { Model } from '../../solver/model';

export function writtenOut(m: Model): Model {
  const copy = structuredClone(m);
  const stack: unknown[] = [copy];
  const seen = new Set<object>();
  while (stack.length > 0) {
    const x = stack.pop();
    if (!x || typeof x !== 'object' || seen.has(x)) continue;
    seen.add(x);
    if ((x as { kind?: string }).kind === 'binary') delete (x as { terms?: number }).terms;
    for (const v of Object.values(x)) stack.push(v);
  }
  return copy;
}
