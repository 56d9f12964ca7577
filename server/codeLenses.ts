// The CodeLens row on a model's `@` line: Check now · Plots · Refine · Train raw vs corrected, and the last
// check's one-line verdict. The commands are the VS Code client's (odeLens.*), with the document's URI.
import type { CodeLens } from 'vscode-languageserver/node';
import { findOption } from '../solver/model';
import { checkTimeMs } from '../solver/presentation/format';
import type { OpenDocument } from './documentStore';
import { RESTRICTED_MESSAGE } from './checkScheduler';

/** The lens commands, in the order they show. */
export const LENS_COMMANDS = [
  { title: '$(play) Check now', command: 'odeLens.runCheck' },
  { title: '$(graph) Plots', command: 'odeLens.showGradientPlots' },
  { title: '$(zoom-in) Refine', command: 'odeLens.refine' },
  { title: '$(beaker) Train raw vs corrected', command: 'odeLens.train' },
] as const;

/** The last check's verdict in one line, as the lens shows it. */
export function verdictLine(st: OpenDocument): string {
  if (st.restricted) return RESTRICTED_MESSAGE;
  if (st.state === 'queued' || st.state === 'running') return 'checking…';
  const last = st.last;
  if (!last) return 'not checked yet';
  const earlier = last.hash === st.hash ? '' : ' (an earlier version)';
  const r = last.report;
  const verdict = r.verdict?.explanation ?? (r.findings.length === 0 ? 'no finding' : `${r.findings.length} findings`);
  // One line: the verdict's first clause (the figures of the rest are in the hover and the plots).
  const clause = verdict.split(/;\s|(?<=\.)\s/)[0].replace(/\.$/, '');
  const line = clause.length > 140 ? `${clause.slice(0, 139)}…` : clause;
  return `Last check${earlier}: ${line} · ${r.backend}, ${checkTimeMs(r.timings)} ms`;
}

export function codeLenses(st: OpenDocument | undefined): CodeLens[] {
  const model = st?.analysis.model;
  if (!st || !model || model.optionLines.length === 0) return [];
  const meth = findOption(model, 'meth');
  const line = (meth && model.optionLines.find((l) => l.settings.includes(meth))) ?? model.optionLines[0];
  const range = { start: line.range.start, end: line.range.start };
  const lenses: CodeLens[] = st.restricted
    ? []
    : LENS_COMMANDS.map((c) => ({ range, command: { title: c.title, command: c.command, arguments: [st.uri] } }));
  lenses.push({ range, command: { title: verdictLine(st), command: '' } });
  return lenses;
}
