// The summary of `odelens check` over several files: one line per file and a total.
import type { Diagnostic } from '../model';
import type { CheckedFile } from './sarif';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a checked file reported, by severity: front-end diagnostics and findings together. */
function counts(ds: Diagnostic[]): string {
  const by = (s: Diagnostic['severity']) => ds.filter((d) => d.severity === s).length;
  const parts = [plural(by('error'), 'error'), plural(by('warning'), 'warning')];
  const info = by('information') + by('hint');
  if (info > 0) parts.push(`${info} note${info === 1 ? '' : 's'}`);
  return parts.join(', ');
}

export function summaryLine(c: CheckedFile): string {
  if (!c.report) {
    const why = c.refusal?.message ? 'cannot be read' : counts(c.refusal?.errors ?? []);
    return `${c.file}: not checked (${why}); exit ${c.status}`;
  }
  const verdict = c.report.verdict ? `, ${c.report.verdict.kind}` : '';
  return `${c.file}: ${counts([...(c.diagnostics ?? []), ...c.report.findings])}${verdict}; exit ${c.status}`;
}

export function totalLine(checked: CheckedFile[], unmatched: number, worst: number): string {
  const clean = checked.filter((c) => c.status === 0).length;
  const findings = checked.filter((c) => c.status === 1).length;
  const failed = checked.filter((c) => c.status === 2).length;
  const parts = [`${clean} clean`, `${findings} with findings`, `${failed} not checked`];
  if (unmatched > 0) parts.push(`${plural(unmatched, 'pattern')} matching nothing`);
  return `${plural(checked.length, 'file')}: ${parts.join(', ')}; exit status ${worst}`;
}
