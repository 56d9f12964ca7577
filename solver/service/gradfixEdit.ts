// The edit of the quick fix "Correct AD gradients with <correction>": one minimal text
// edit that sets `gradfix=<correction>` (the report's recommended correction for the
// scheme, filter121 by default), leaving every other byte of the file unchanged.
import type { TextEdit } from 'vscode-languageserver-types';
import { findOption, type GradFix, type Model } from '../model';

const DEFAULT_FIX: Exclude<GradFix, 'none'> = 'filter121';

/** Title of the quick fix for a correction. */
export function quickFixTitle(correction: Exclude<GradFix, 'none'> = DEFAULT_FIX): string {
  return `Correct AD gradients with ${correction}`;
}

/** Splits like LSP does (\r\n, \r or \n end a line). */
function lines(text: string): { text: string; eol: string }[] {
  const out: { text: string; eol: string }[] = [];
  const re = /\r\n|\r|\n/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    out.push({ text: text.slice(last, m.index), eol: m[0] });
    last = m.index + m[0].length;
  }
  out.push({ text: text.slice(last), eol: '' });
  return out;
}

function preferredEol(text: string): string {
  const m = /\r\n|\r|\n/.exec(text);
  return m ? m[0] : '\n';
}

interface OptionLineInfo {
  line: number;
  end: number;
  hasSettings: boolean;
  meth: boolean;
  gradfix?: { start: number; end: number; value: string };
}

/** Text-only reading of `@` lines, for when the model is unavailable (e.g. the file has errors elsewhere). */
function scanOptionLines(text: string): OptionLineInfo[] {
  const out: OptionLineInfo[] = [];
  lines(text).forEach((l, i) => {
    const m = /^(\s*)@/.exec(l.text);
    if (!m) return;
    const hash = l.text.indexOf('#');
    const content = hash >= 0 ? l.text.slice(0, hash) : l.text;
    const end = content.replace(/\s+$/, '').length;
    const body = content.slice(m[0].length);
    const info: OptionLineInfo = { line: i, end, hasSettings: /\S/.test(body), meth: /(^|[\s,])meth\s*=/i.test(body) };
    const g = /(^|[\s,])gradfix\s*=\s*([^\s,#]*)/i.exec(body);
    if (g) {
      const valueStart = m[0].length + g.index + g[0].length - g[2].length;
      info.gradfix = { start: valueStart, end: valueStart + g[2].length, value: g[2] };
    }
    out.push(info);
  });
  return out;
}

/**
 * The edit that sets gradfix=<correction> (default filter121), or undefined when it is already set.
 * - an existing `gradfix` setting: replace its value;
 * - else append `, gradfix=filter121` at the end of the `@` line holding `meth` (or the last `@` line);
 * - else insert an `@ gradfix=filter121` line before `done` (or at the end).
 */
export function gradfixEdit(
  text: string,
  model?: Pick<Model, 'optionLines'>,
  correction: Exclude<GradFix, 'none'> = DEFAULT_FIX,
): TextEdit | undefined {
  const FIX_VALUE = correction;
  if (model) {
    const existing = findOption(model, 'gradfix');
    if (existing) {
      if (existing.value.trim() === FIX_VALUE) return undefined;
      return { range: existing.valueRange, newText: FIX_VALUE };
    }
    if (model.optionLines.length > 0) {
      const meth = findOption(model, 'meth');
      const target =
        (meth && [...model.optionLines].reverse().find((l) => l.settings.includes(meth))) ||
        model.optionLines[model.optionLines.length - 1];
      const sep = target.settings.length > 0 ? ', ' : ' ';
      return { range: { start: target.range.end, end: target.range.end }, newText: `${sep}gradfix=${FIX_VALUE}` };
    }
  } else {
    const scanned = scanOptionLines(text);
    const withFix = [...scanned].reverse().find((l) => l.gradfix);
    if (withFix?.gradfix) {
      if (withFix.gradfix.value === FIX_VALUE) return undefined;
      const { line, gradfix } = withFix;
      return {
        range: { start: { line, character: gradfix.start }, end: { line, character: gradfix.end } },
        newText: FIX_VALUE,
      };
    }
    if (scanned.length > 0) {
      const target = [...scanned].reverse().find((l) => l.meth) ?? scanned[scanned.length - 1];
      const pos = { line: target.line, character: target.end };
      return { range: { start: pos, end: pos }, newText: `${target.hasSettings ? ', ' : ' '}gradfix=${FIX_VALUE}` };
    }
  }
  // No `@` line at all.
  const ls = lines(text);
  const eol = preferredEol(text);
  const done = ls.findIndex((l) => /^\s*done\s*(#.*)?$/i.test(l.text));
  if (done >= 0) {
    const pos = { line: done, character: 0 };
    return { range: { start: pos, end: pos }, newText: `@ gradfix=${FIX_VALUE}${eol}` };
  }
  const lastLine = ls.length - 1;
  const pos = { line: lastLine, character: ls[lastLine].text.length };
  const lead = ls[lastLine].text.length > 0 ? eol : '';
  return { range: { start: pos, end: pos }, newText: `${lead}@ gradfix=${FIX_VALUE}${eol}` };
}
