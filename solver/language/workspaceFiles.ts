// The one way the language reads a file a model names (`data`, `table`): the path
// resolves against the model's folder and must stay inside the workspace (after
// links); only a regular file is read (a FIFO or a device would block the reader),
// up to a size limit known from `stat` before any byte is read; a UTF-8 BOM is
// dropped. A parsed file is kept by path, modification time and size, so an edit of
// the model does not parse its data again.
//
// Three sources, in this order: `context.files` (read ahead, off the server's main
// thread, by loadWorkspaceFile; the analysis then touches no disk), `context.readFile`
// (tests), else the disk, synchronously (the CLI and the check worker).

import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { AnalysisContext, FileRefusal, PreparedFile } from '../model';

export type { FileRefusal, PreparedFile };

/** The size limit when none is set (the `odeLens.data.maxFileSizeMB` setting's default). */
export const DEFAULT_MAX_FILE_MB = 10;
const MB = 1024 * 1024;

/** What readWorkspaceFile returns: the parsed content, or why not (the message completes "<kind> '<name>': "). */
export type WorkspaceRead<T> =
  | { readonly ok: true; readonly value: T; readonly resolvedPath: string }
  | { readonly ok: false; readonly refusal: FileRefusal | 'malformed'; readonly message: string };

/** How a kind of file is parsed: `name` keys the cache; `{ malformed }` says why the text is not of this kind. */
export interface FileFormat<T> {
  readonly name: string;
  parse(text: string, written: string): T | { readonly malformed: string };
  /** The same parse in slices that yield to the event loop (the server parses ahead with it). */
  parseAsync?(text: string, written: string): Promise<T | { readonly malformed: string }>;
}

/** The formats the analysis has read files as, by name (the server parses ahead in them). */
const formats = new Map<string, FileFormat<unknown>>();

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const refused = (refusal: FileRefusal, message: string) => ({ refusal, message }) as const;

/** The limit in bytes of a context (its maxFileBytes, else the default). */
export function maxFileBytes(context: AnalysisContext): number {
  const m = context.maxFileBytes;
  return typeof m === 'number' && m > 0 ? m : DEFAULT_MAX_FILE_MB * MB;
}

/** Where a written path points: resolved against the model's folder, inside the workspace. */
export function locateWorkspaceFile(
  written: string,
  context: AnalysisContext,
): { resolved: string; root: string } | { refusal: FileRefusal; message: string } {
  if (written.trim() === '') return refused('empty-name', 'the file name is empty');
  if (!context.documentPath)
    return refused(
      'untitled',
      `"${written}" is not read: an unsaved (untitled) document reads no files; save the model in the workspace first`,
    );
  const base = dirname(context.documentPath);
  const root = resolve(context.workspaceRoot ?? base);
  const resolved = resolve(base, written);
  if (!inside(root, resolved))
    return refused('outside-workspace', `"${written}" is outside the workspace (${root}); files must be inside it`);
  return { resolved, root };
}

const stripBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

/** The identity of a file's content: a changed file has another. */
export const signatureOf = (s: Pick<Stats, 'mtimeMs' | 'size' | 'ino'>) => `${s.mtimeMs}:${s.size}:${s.ino}`;

const sizeText = (bytes: number) =>
  bytes >= 100 * MB
    ? `${Math.round(bytes / MB)} MB`
    : bytes >= MB
      ? `${Number((bytes / MB).toPrecision(3))} MB`
      : `${Math.round(bytes)} bytes`;

function describeKind(s: Stats): string {
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isDirectory()) return 'a folder';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Refusal for a stat that is not a regular file or is too large; undefined when it may be read. */
function checkStat(written: string, s: Stats, limit: number): PreparedFile | undefined {
  if (!s.isFile()) return refused('not-regular', `"${written}" is ${describeKind(s)}; only regular files are read`);
  if (s.size > limit)
    return refused(
      'too-large',
      `"${written}" is ${sizeText(s.size)}, more than the ${sizeText(limit)} limit (setting odeLens.data.maxFileSizeMB)`,
    );
  return undefined;
}

function failureOf(written: string, resolved: string, e: unknown): PreparedFile {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return refused('not-found', `file "${written}" not found (looked for ${resolved})`);
  if (code === 'EISDIR') return refused('not-regular', `"${written}" is a folder; only regular files are read`);
  return refused('unreadable', `cannot read "${written}" (${e instanceof Error ? e.message : String(e)})`);
}

const outsideAfterLinks = (written: string, root: string) =>
  refused('outside-workspace', `"${written}" leads outside the workspace (${root}); files must be inside it`);

// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer;
// the stat of the open descriptor then refuses it (no race between a stat and the open).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Reads a located file from the disk, synchronously (CLI, check worker). */
export function readFileSafely(written: string, resolved: string, root: string, limit: number): PreparedFile {
  let fd: number | undefined;
  try {
    const real = realpathSync(resolved);
    if (!inside(realpathSync(root), real)) return outsideAfterLinks(written, root);
    fd = openSync(real, OPEN_FLAGS);
    const s = fstatSync(fd);
    const bad = checkStat(written, s, limit);
    if (bad) return bad;
    const buffer = Buffer.alloc(s.size);
    let n = 0;
    while (n < s.size) {
      const k = readSync(fd, buffer, n, s.size - n, n);
      if (k === 0) break;
      n += k;
    }
    return { text: stripBom(buffer.toString('utf8', 0, n)), signature: signatureOf(s) };
  } catch (e) {
    return failureOf(written, resolved, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The same read, asynchronously (the language server reads ahead with it, off its main thread). */
export async function loadWorkspaceFile(
  written: string,
  resolved: string,
  root: string,
  limit: number,
): Promise<PreparedFile> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    const real = await realpath(resolved);
    if (!inside(await realpath(root), real)) return outsideAfterLinks(written, root);
    handle = await open(real, OPEN_FLAGS);
    const s = await handle.stat();
    const bad = checkStat(written, s, limit);
    if (bad) return bad;
    const text = await handle.readFile({ encoding: 'utf8' });
    return { text: stripBom(text), signature: signatureOf(s) };
  } catch (e) {
    return failureOf(written, resolved, e);
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Parsed files by format, path and signature (a changed file has a new signature). */
const parsed = new LRUCache<string, { value: unknown } | { malformed: string }>({ max: 64 });

const parsedKey = (format: string, at: string, signature: string) => `${format}\0${at}\0${signature}`;

function parseEntry<T>(result: T | { readonly malformed: string }): { value: T } | { malformed: string } {
  return typeof result === 'object' && result !== null && 'malformed' in result
    ? { malformed: (result as { malformed: string }).malformed }
    : { value: result as T };
}

function parseCached<T>(
  format: FileFormat<T>,
  written: string,
  file: { text: string; signature?: string },
  at: string,
) {
  const key = file.signature === undefined ? undefined : parsedKey(format.name, at, file.signature);
  const hit = key === undefined ? undefined : parsed.get(key);
  if (hit) return hit as { value: T } | { malformed: string };
  const entry = parseEntry(format.parse(file.text, written));
  if (key !== undefined) parsed.set(key, entry);
  return entry;
}

/**
 * Parses a file read ahead in its format, in slices that yield to the event loop, so that the
 * analysis on the server's main thread finds it parsed. Nothing to do for a format without
 * an asynchronous parse, a refused file, or one parsed already.
 */
export async function parseAhead(format: string, written: string, resolved: string, file: PreparedFile): Promise<void> {
  const f = formats.get(format);
  if (!f?.parseAsync || 'refusal' in file || file.signature === undefined) return;
  const key = parsedKey(format, resolved, file.signature);
  if (parsed.has(key)) return;
  parsed.set(key, parseEntry(await f.parseAsync(file.text, written)));
}

/**
 * Reads and parses the file a model names as `written`. Never throws; never blocks on a
 * FIFO; reads nothing for an untitled document. Tells context.onFileRead every path it
 * looks up (the server watches them and reads them ahead).
 */
export function readWorkspaceFile<T>(
  written: string,
  context: AnalysisContext,
  format: FileFormat<T>,
): WorkspaceRead<T> {
  const located = locateWorkspaceFile(written, context);
  if ('refusal' in located) return { ok: false, refusal: located.refusal, message: located.message };
  const { resolved, root } = located;
  formats.set(format.name, format as FileFormat<unknown>);
  context.onFileRead?.({ written, resolved, root, format: format.name });
  let file: PreparedFile;
  if (context.files) {
    file = context.files[resolved] ?? refused('pending', `"${written}" is being read`);
  } else if (context.readFile) {
    try {
      file = { text: stripBom(context.readFile(resolved)) };
    } catch (e) {
      file = failureOf(written, resolved, e);
    }
  } else {
    file = readFileSafely(written, resolved, root, maxFileBytes(context));
  }
  if ('refusal' in file) return { ok: false, refusal: file.refusal, message: file.message };
  if (typeof file.text !== 'string') return { ok: false, refusal: 'unreadable', message: `cannot read "${written}"` };
  const result = parseCached(format, written, file, resolved);
  if ('malformed' in result) return { ok: false, refusal: 'malformed', message: result.malformed };
  return { ok: true, value: result.value, resolvedPath: resolved };
}
