// XPPAUT's commands as XPPAUT reads them, for the constructs ODE Lens refuses and for its
// integral equations (`vo…`, which ODE Lens checks): XPPAUT knows a command by its first
// letters (`ma` is markov, `so` solve, `ex` export, `vo` volterra, …), so a file may spell
// one so, and the refusal must still name it. And the refusals that have their own code,
// so a reader (and a filter) can tell a model ODE Lens cannot check from one with an error in it.
import type { DiagnosticCode } from '../registry/diagnosticCodes';
import type { Diagnostic } from '../model';
import { diag } from './ranges';

/**
 * XPPAUT's first-letter rules (its form_ode.c) by two letters (and `vo`): prefix → the
 * command's full name. XPPAUT also reads single letters (`v`, `w`, `g`, …); those would
 * turn a mistyped ODE Lens line into an unrelated construct, so only the spellings that
 * cannot be anything else are read.
 */
const COMMAND_PREFIXES: readonly [string, string][] = [
  ['ma', 'markov'],
  ['so', 'solve'],
  ['au', 'aux'],
  ['sp', 'special'],
  ['ex', 'export'],
  ['on', 'only'],
  ['ta', 'table'],
  ['se', 'set'],
  ['vo', 'volterra'],
  ['pa', 'par'],
  ['wi', 'wiener'],
  ['nu', 'number'],
  ['op', 'options'],
  ['bd', 'bdry'],
  ['bn', 'bdry'],
  ['gl', 'global'],
  ['in', 'init'],
];

/**
 * The command a line's first word spells in XPPAUT, when it is not a keyword ODE Lens knows
 * and the line reads as a command (the word is followed by a name, a number or `{`, as in
 * `ma z 2`, `so y=0`, `ex {x} {y}`). Undefined otherwise.
 */
export function xppautCommand(word: string, next: { kind: string; text: string }, known: (w: string) => boolean) {
  const w = word.toLowerCase();
  if (known(w)) return undefined;
  const commandShaped = next.kind === 'ident' || next.kind === 'number' || (next.kind === 'punct' && next.text === '{');
  if (!commandShaped) return undefined;
  const full = COMMAND_PREFIXES.find(([prefix]) => w.startsWith(prefix))?.[1];
  return full !== undefined && known(full) ? full : undefined;
}

/** The refusals with a code of their own, by the construct's keyword. */
export const REFUSAL_CODES: ReadonlyMap<string, DiagnosticCode> = new Map<string, DiagnosticCode>([
  ['markov', 'unsupported-markov'],
  ['export', 'unsupported-export'],
  ['import', 'unsupported-import'],
]);

/** Refusal messages: the construct, and why it has no meaning for ODE Lens. */
export const GILLESPIE_REFUSAL =
  "`gill(…)` runs Gillespie's stochastic simulation of reactions (XPPAUT's `special … = gill`): the states jump by whole reactions at random times, a jump process with no gradient to check, so ODE Lens cannot check the model";
export const IMPORT_REFUSAL =
  '`import` computes right-hand sides in a C library that XPPAUT loads (its shared-object interface, `special … = import(…)`); ODE Lens cannot run that code, so the model cannot be checked';
/** The refusal of a `special NAME = FUN(…)` line that has one of its own, by FUN as XPPAUT reads it (its first letters). */
export function specialRefusal(fn: { kind: string; text: string }): [DiagnosticCode, string] | undefined {
  const f = fn.kind === 'ident' ? fn.text.toLowerCase() : '';
  if (f.startsWith('gill')) return ['unsupported-gillespie', GILLESPIE_REFUSAL];
  if (f.startsWith('impo')) return ['unsupported-import', IMPORT_REFUSAL];
  return undefined;
}
export const EXPORT_REFUSAL =
  '`export` exchanges variables with a C library that XPPAUT loads (its dynamic-library interface); ODE Lens cannot run that code, so the model cannot be checked';
/**
 * `#include file` lines: XPPAUT reads the file in; ODE Lens checks the file alone (a `#`
 * line is a comment to its parser), so each gets a warning that says so.
 */
export function includeDirectives(text: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)#include\b(.*)$/.exec(lines[i]);
    if (!m) continue;
    const start = m[1].length;
    out.push(
      diag(
        'unsupported-include',
        'warning',
        `\`#include\` is not followed by ODE Lens: it checks this file alone; copy the included lines (${m[2].trim() || 'the file'}) here if the model needs them`,
        { start: { line: i, character: start }, end: { line: i, character: lines[i].trimEnd().length } },
      ),
    );
  }
  return out;
}

/**
 * XPPAUT ends the file at any command whose word starts with `d` (form_ode.c tells a command by its first letter),
 * so a lone `dobe` or `don` line is its `done`. Only a word alone on its line is read so: `d…` followed by more is
 * far more likely an ODE Lens line with a typo than the end of the file.
 */
export function isXppautDone(word: string, next: { kind: string }): boolean {
  return word.startsWith('d') && (next.kind === 'newline' || next.kind === 'eof');
}

/**
 * The commands of pHtools, a preprocessor that writes XPPAUT equations for buffered solutions (`mksol mysol`,
 * `pHsol mysol pH pHrhs`, …): XPPAUT's own reader has no such commands, and the right-hand sides they name are
 * generated by that tool, so a model that uses them cannot be checked. Every name on such a line is declared by it.
 */
export const PHTOOLS_COMMANDS: readonly string[] = [
  'mksol',
  'addtosol',
  'tracksol',
  'phsol',
  'strength',
  'buffcap',
  'cb',
];
export const PHTOOLS_REFUSAL =
  "This is a command of pHtools, a preprocessor that writes XPPAUT's equations for buffered solutions; XPPAUT's language has no such command and the right-hand sides it names are generated by that tool, so ODE Lens cannot check the model";
