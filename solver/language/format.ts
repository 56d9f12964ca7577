// The formatter: normalises spacing, keeps every comment, never changes meaning.
//
// It works one physical line at a time and only touches a line that holds a
// whole statement the parser accepted (no syntax error, no `\` continuation,
// nothing after `done`); every other line is left exactly as it is. Inside a
// formatted line: no indentation, one space around binary operators, `=` and
// `~`, none around `^`, none inside brackets, `, ` between items, calls and
// indexing glued to their name, `@` options as `@ key=value, key=value`, and
// a trailing comment kept after one space.
//
//   format(text)                    → the formatted text
//   formatEdits(text)               → one edit per changed line (LSP document formatting)
//   formatRange(text, first, last)  → the edits for lines first..last (LSP range formatting)

import type { Range } from '../model';
import { Lexer, type Token } from './lexer';
import { parse } from './parser';

/** Reserved for future settings; the formatter has none yet. */
export type FormatOptions = Record<string, never>;

/** An LSP-style edit: replace `range` (0-based lines/characters) by `newText`. */
export interface TextEdit {
  range: Range;
  newText: string;
}

const BINARY = new Set(['+', '-', '*', '/', '@', '<', '>', '<=', '>=', '==', '!=', '&', '|', '=', '~']);
const OPEN = new Set(['(', '[']);
const CLOSE = new Set([')', ']']);

interface PhysicalLine {
  text: string;
  eol: string;
}

function splitLines(text: string): PhysicalLine[] {
  const out: PhysicalLine[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) {
      const eol = c === 13 && text.charCodeAt(i + 1) === 10 ? '\r\n' : text[i];
      out.push({ text: text.slice(start, i), eol });
      i += eol.length - 1;
      start = i + 1;
    }
  }
  out.push({ text: text.slice(start), eol: '' });
  return out;
}

function isWord(t: Token): boolean {
  return t.kind === 'ident' || t.kind === 'number' || t.kind === 'string';
}
function isPunct(t: Token | undefined, s: string): boolean {
  return t !== undefined && t.kind === 'punct' && t.text === s;
}

/** Source text of a token (the lexer reports `**` as `^`; both mean the same). */
function tokenText(t: Token): string {
  return t.text;
}

/** Joins the tokens of one statement with normalised spacing. */
function joinTokens(toks: Token[], source: string): string {
  if (toks.length > 0 && isPunct(toks[0], '@')) return joinOptions(toks, source);
  let out = '';
  let prev: Token | undefined;
  let afterUnary = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    // `dx/dt` at the start of an equation and `per-step` stay glued.
    if (
      i === 0 &&
      t.kind === 'ident' &&
      isPunct(toks[1], '/') &&
      toks[2]?.kind === 'ident' &&
      toks[2].text.toLowerCase() === 'dt' &&
      isPunct(toks[3], '=')
    ) {
      out += `${t.text}/${toks[2].text}`;
      prev = toks[2];
      i = 2;
      continue;
    }
    if (
      t.kind === 'ident' &&
      t.text.toLowerCase() === 'per' &&
      isPunct(toks[i + 1], '-') &&
      !toks[i + 1].spaceBefore &&
      toks[i + 2]?.kind === 'ident' &&
      toks[i + 2].text.toLowerCase() === 'step' &&
      !toks[i + 2].spaceBefore
    ) {
      out += (prev ? ' ' : '') + `${t.text}-${toks[i + 2].text}`;
      prev = toks[i + 2];
      i += 2;
      continue;
    }
    const text = tokenText(t);
    const unary =
      (t.text === '-' || t.text === '+') &&
      t.kind === 'punct' &&
      (prev === undefined || (prev.kind === 'punct' && !CLOSE.has(prev.text) && prev.text !== "'"));
    let sep: string;
    if (prev === undefined) sep = '';
    else if (afterUnary) sep = '';
    else if (t.kind === 'punct' && t.text === ',') sep = '';
    else if (isPunct(prev, ',')) sep = ' ';
    else if (prev.kind === 'punct' && OPEN.has(prev.text)) sep = '';
    else if (t.kind === 'punct' && CLOSE.has(t.text)) sep = '';
    else if (isPunct(t, "'")) sep = '';
    else if (isPunct(t, '..') || isPunct(prev, '..') || isPunct(t, '.') || (isPunct(prev, '.') && isWord(t)))
      sep = ''; // `[0..9]`, `aux P.E.`
    else if (i === 1 && isPunct(prev, '!'))
      sep = ''; // XPPAUT derived parameter `!d = …`
    else if (isPunct(t, '^') || isPunct(prev, '^')) sep = '';
    else if (t.kind === 'punct' && OPEN.has(t.text))
      sep = prev.kind === 'ident' || (prev.kind === 'punct' && CLOSE.has(prev.text) && t.text === '[') ? '' : ' ';
    else if (unary) sep = ' ';
    else if (t.kind === 'punct' && BINARY.has(t.text)) sep = ' ';
    else if (prev.kind === 'punct' && BINARY.has(prev.text)) sep = ' ';
    else if (isWord(t) && (isWord(prev) || (prev.kind === 'punct' && (CLOSE.has(prev.text) || prev.text === "'"))))
      sep = ' ';
    else sep = ' ';
    // A unary sign directly after `^` or an opening bracket needs no space either.
    if (unary && prev !== undefined && (isPunct(prev, '^') || OPEN.has(prev.text) || afterUnary)) sep = '';
    out += sep + text;
    afterUnary = unary;
    prev = t;
  }
  return out;
}

/** `@ key=value, key=value`: values are kept verbatim (they end at the first space). */
function joinOptions(toks: Token[], source: string): string {
  const parts: string[] = [];
  let i = 1;
  while (i < toks.length) {
    if (isPunct(toks[i], ',')) {
      i++;
      continue;
    }
    const key = toks[i];
    const v0 = toks[i + 2];
    if (!isPunct(toks[i + 1], '=') || v0 === undefined) return '';
    let last = v0;
    i += 3;
    while (i < toks.length && !isPunct(toks[i], ',') && !toks[i].spaceBefore) last = toks[i++];
    parts.push(`${key.text}=${source.slice(v0.offset, last.offset + (last.end - last.col))}`);
  }
  return parts.length === 0 ? '@' : `@ ${parts.join(', ')}`;
}

/** The new text of every physical line (undefined: leave it as it is). */
function formatLines(text: string): { lines: PhysicalLine[]; next: (string | undefined)[] } {
  const lines = splitLines(text);
  const next: (string | undefined)[] = new Array(lines.length).fill(undefined);
  const { program, diagnostics, arrayLines: expanded } = parse(text);
  // XPPAUT array lines are kept as written: `[j-1]` is text XPPAUT substitutes, not an expression.
  const arrayLines = new Set(expanded);

  // Lines the formatter may rewrite: the first line of an accepted statement, with no diagnostic.
  const blocked = new Set<number>();
  for (const d of diagnostics) for (let l = d.range.start.line; l <= d.range.end.line; l++) blocked.add(l);
  const statementLines = new Set<number>();
  let doneLine = Infinity;
  for (const s of program.statements) {
    if (s.kind === 'broken' || s.kind === 'opaque') {
      blocked.add(s.range.start.line);
      continue;
    }
    const line = s.kind === 'options' ? s.line.range.start.line : s.range.start.line;
    statementLines.add(line);
    if (s.kind === 'done') doneLine = Math.min(doneLine, line);
  }

  const lexer = new Lexer(text);
  const tokenLines = new Set<number>();
  for (;;) {
    const toks = lexer.nextLine();
    const end = toks[toks.length - 1];
    const body = toks.slice(0, -1);
    if (body.length > 0) {
      const first = body[0].line;
      for (let l = first; l <= end.line; l++) tokenLines.add(l);
      const single = body.every((t) => t.line === first) && end.line === first;
      // A line with an integral int{K#u} is kept as written: its `#` reads as a comment to any other tool.
      const integral = body.some((t) => isPunct(t, '#'));
      if (
        single &&
        first <= doneLine &&
        statementLines.has(first) &&
        !blocked.has(first) &&
        !arrayLines.has(first) &&
        !integral
      ) {
        const formatted = joinTokens(body, text);
        const lineText = lines[first].text;
        const last = body[body.length - 1];
        const rest = lineText.slice(last.end);
        const hash = rest.indexOf('#');
        const comment = hash >= 0 ? rest.slice(hash).trimEnd() : '';
        if (formatted !== '') next[first] = comment ? `${formatted} ${comment}` : formatted;
      }
    }
    if (end.kind === 'eof') break;
  }
  // Blank and comment-only lines lose trailing spaces (and comments their indentation).
  for (let l = 0; l < lines.length && l <= doneLine; l++) {
    if (tokenLines.has(l)) continue;
    const trimmed = lines[l].text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) next[l] = trimmed;
  }
  return { lines, next };
}

/** Formats the whole text. Idempotent; lines the parser rejects are left unchanged. */
export function format(text: string, options?: FormatOptions): string {
  void options;
  const { lines, next } = formatLines(text);
  let out = '';
  for (let i = 0; i < lines.length; i++) out += (next[i] ?? lines[i].text) + lines[i].eol;
  return out;
}

/** One edit per line that changes, replacing the whole line (without its end-of-line). */
export function formatEdits(text: string, options?: FormatOptions): TextEdit[] {
  return formatRange(text, 0, Number.MAX_SAFE_INTEGER, options);
}

/** The edits for lines `startLine`..`endLine` (0-based, inclusive); other lines are not touched. */
export function formatRange(text: string, startLine: number, endLine: number, options?: FormatOptions): TextEdit[] {
  void options;
  const { lines, next } = formatLines(text);
  const edits: TextEdit[] = [];
  const from = Math.max(0, startLine);
  const to = Math.min(lines.length - 1, endLine);
  for (let l = from; l <= to; l++) {
    const n = next[l];
    if (n === undefined || n === lines[l].text) continue;
    edits.push({
      range: { start: { line: l, character: 0 }, end: { line: l, character: lines[l].text.length } },
      newText: n,
    });
  }
  return edits;
}
