// An XPPAUT array line stands for many statements (`x[0..99]' = …` is one
// hundred equations), and the checker reports each element that has the
// problem. On the line the user wrote, that is one problem: the diagnostics
// with the same code and range on an array line fold into the first, which
// says how many elements share it.

import type { Diagnostic } from '../model';

export function foldArrayDiagnostics(diagnostics: Diagnostic[], arrayLines: number[]): Diagnostic[] {
  const lines = new Set(arrayLines);
  const groups = new Map<string, { first: Diagnostic; count: number }>();
  const out: Diagnostic[] = [];
  for (const d of diagnostics) {
    if (!lines.has(d.range.start.line)) {
      out.push(d);
      continue;
    }
    const r = d.range;
    const key = `${d.code}|${d.severity}|${r.start.line}:${r.start.character}-${r.end.line}:${r.end.character}`;
    const group = groups.get(key);
    if (group) {
      group.count++;
      continue;
    }
    const copy = { ...d };
    groups.set(key, { first: copy, count: 1 });
    out.push(copy);
  }
  for (const { first, count } of groups.values()) {
    if (count > 1)
      first.message += ` (and the same for ${count - 1} more element${count > 2 ? 's' : ''} of this array line)`;
  }
  return out;
}
