// The edits of the quick fixes that set `@` options (`gradfix=`, `meth=`, `tie=`, `grad=`): minimal text
// edits that set each key to its value, leaving every other byte of the file unchanged. An existing setting
// gets its value replaced; new settings are appended together to one `@` line.
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

interface ScannedSetting {
  key: string;
  start: number;
  end: number;
  value: string;
}

interface OptionLineInfo {
  line: number;
  end: number;
  hasSettings: boolean;
  settings: ScannedSetting[];
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
    const settings: ScannedSetting[] = [];
    for (const g of body.matchAll(/(^|[\s,])([A-Za-z_]\w*)\s*=\s*([^\s,#]*)/g)) {
      const start = m[0].length + (g.index ?? 0) + g[0].length - g[3].length;
      settings.push({ key: g[2].toLowerCase(), start, end: start + g[3].length, value: g[3] });
    }
    out.push({ line: i, end, hasSettings: /\S/.test(body), settings });
  });
  return out;
}

/** The last setting of `key` in the scanned lines, with its line. */
function scannedSetting(scanned: OptionLineInfo[], key: string): { line: number; s: ScannedSetting } | undefined {
  let found: { line: number; s: ScannedSetting } | undefined;
  for (const l of scanned) for (const s of l.settings) if (s.key === key) found = { line: l.line, s };
  return found;
}

/**
 * The edits that set each `key=value` of `settings` (in order), none for a key already at its value:
 * - an existing setting: its value replaced;
 * - the others appended together (`, k=v, k2=v2`) at the end of the `@` line holding `meth` (or the last `@` line);
 * - with no `@` line: an `@ k=v` line inserted before `done` (or at the end).
 */
export function optionEdits(
  text: string,
  model: Pick<Model, 'optionLines'> | undefined,
  settings: readonly (readonly [key: string, value: string])[],
): TextEdit[] {
  const edits: TextEdit[] = [];
  const missing: string[] = [];
  const scanned = model ? undefined : scanOptionLines(text);
  for (const [key, value] of settings) {
    if (model) {
      const existing = findOption(model, key);
      if (existing) {
        if (existing.value.trim() !== value) edits.push({ range: existing.valueRange, newText: value });
        continue;
      }
    } else {
      const found = scannedSetting(scanned!, key);
      if (found) {
        const { line, s } = found;
        if (s.value !== value)
          edits.push({
            range: { start: { line, character: s.start }, end: { line, character: s.end } },
            newText: value,
          });
        continue;
      }
    }
    missing.push(`${key}=${value}`);
  }
  if (missing.length === 0) return edits;
  const added = missing.join(', ');
  if (model && model.optionLines.length > 0) {
    const meth = findOption(model, 'meth');
    const target =
      (meth && [...model.optionLines].reverse().find((l) => l.settings.includes(meth))) ||
      model.optionLines[model.optionLines.length - 1];
    const sep = target.settings.length > 0 ? ', ' : ' ';
    edits.push({ range: { start: target.range.end, end: target.range.end }, newText: `${sep}${added}` });
    return edits;
  }
  if (scanned && scanned.length > 0) {
    const target =
      [...scanned].reverse().find((l) => l.settings.some((s) => s.key === 'meth')) ?? scanned[scanned.length - 1];
    const pos = { line: target.line, character: target.end };
    edits.push({ range: { start: pos, end: pos }, newText: `${target.hasSettings ? ', ' : ' '}${added}` });
    return edits;
  }
  // No `@` line at all.
  const ls = lines(text);
  const eol = preferredEol(text);
  const done = ls.findIndex((l) => /^\s*done\s*(#.*)?$/i.test(l.text));
  if (done >= 0) {
    const pos = { line: done, character: 0 };
    edits.push({ range: { start: pos, end: pos }, newText: `@ ${added}${eol}` });
    return edits;
  }
  const lastLine = ls.length - 1;
  const pos = { line: lastLine, character: ls[lastLine].text.length };
  const lead = ls[lastLine].text.length > 0 ? eol : '';
  edits.push({ range: { start: pos, end: pos }, newText: `${lead}@ ${added}${eol}` });
  return edits;
}

/** The edit that sets gradfix=<correction> (default filter121), or undefined when it is already set. */
export function gradfixEdit(
  text: string,
  model?: Pick<Model, 'optionLines'>,
  correction: Exclude<GradFix, 'none'> = DEFAULT_FIX,
): TextEdit | undefined {
  return optionEdits(text, model, [['gradfix', correction]])[0];
}
