// The files the open models name (`data`, `table`), read ahead off the main thread:
// the analysis on the main thread then reads nothing from the disk (it gets the
// files as AnalysisContext.files). Each file is read once per content: an async stat
// per refresh compares modification time, size and inode with what was read, so
// an edit of the model costs one stat per file, and a changed file is read again
// and parsed ahead in slices (parseAhead), so the analysis finds it parsed.
import { stat } from 'node:fs/promises';
import type { AnalysisContext, FileRefusal, PreparedFile } from '../solver/model';
import { loadWorkspaceFile, parseAhead, signatureOf } from '../solver/language/workspaceFiles';
import { hashOf } from './reportCache';

/** One file a model reads: as written, resolved, and the workspace folder it must stay in. */
export type FileRequest = Parameters<NonNullable<AnalysisContext['onFileRead']>>[0];

/** Refusals worth reading again at once (the file may have appeared or shrunk since). */
const RETRY: ReadonlySet<FileRefusal> = new Set(['not-found', 'not-regular', 'too-large', 'unreadable', 'pending']);

export class ModelFiles {
  private readonly entries = new Map<string, { prepared: PreparedFile; limit: number }>();
  /** The same files as a record, which the analysis reads (AnalysisContext.files). */
  private readonly record: Record<string, PreparedFile> = Object.create(null);

  view(): Readonly<Record<string, PreparedFile>> {
    return this.record;
  }

  /** The files read so far among `paths` (a path not read yet is absent). */
  snapshot(paths: Iterable<string>): Record<string, PreparedFile> {
    const out: Record<string, PreparedFile> = {};
    for (const p of paths) {
      const e = this.entries.get(p);
      if (e) out[p] = e.prepared;
    }
    return out;
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** Forgets a file (it changed on disk): the next refresh reads it again. */
  forget(path: string): void {
    this.entries.delete(path);
    delete this.record[path];
  }

  /** Keeps only the files in `paths` (those the open models read). */
  retain(paths: ReadonlySet<string>): void {
    for (const p of [...this.entries.keys()]) if (!paths.has(p)) this.forget(p);
  }

  /**
   * Makes every requested file current (read if absent, changed on disk, refused for a
   * reason that may have gone, or read under another size limit). True when any entry changed.
   */
  async refresh(requests: readonly FileRequest[], limit: number): Promise<boolean> {
    const changed = await Promise.all(requests.map((r) => this.refreshOne(r, limit)));
    return changed.some(Boolean);
  }

  private async refreshOne(r: FileRequest, limit: number): Promise<boolean> {
    const known = this.entries.get(r.resolved);
    if (known && known.limit === limit) {
      const k = known.prepared;
      if ('refusal' in k ? !RETRY.has(k.refusal) : await sameContent(r.resolved, k.signature)) return false;
    }
    const prepared = await loadWorkspaceFile(r.written, r.resolved, r.root, limit);
    await parseAhead(r.format, r.written, r.resolved, prepared);
    this.entries.set(r.resolved, { prepared, limit });
    this.record[r.resolved] = prepared;
    return !known || !samePrepared(known.prepared, prepared);
  }
}

async function sameContent(path: string, signature: string | undefined): Promise<boolean> {
  try {
    const s = await stat(path);
    return signature === signatureOf(s);
  } catch {
    return false;
  }
}

function samePrepared(a: PreparedFile, b: PreparedFile): boolean {
  if ('refusal' in a || 'refusal' in b)
    return 'refusal' in a && 'refusal' in b && a.refusal === b.refusal && a.message === b.message;
  return a.signature === b.signature;
}

/** The content key of a model: its text and the identity of the files its analysis read (the report cache's key). */
export function contentKey(text: string, files: Readonly<Record<string, PreparedFile>> | undefined): string {
  const key = filesKey(files);
  return key ? hashOf(`${text}\0${key}`) : hashOf(text);
}

function filesKey(files: Readonly<Record<string, PreparedFile>> | undefined): string {
  if (!files) return '';
  return Object.keys(files)
    .sort()
    .map((p) => {
      const f = files[p];
      return 'refusal' in f ? `${p}!${f.refusal}:${f.message}` : `${p}=${f.signature}`;
    })
    .join('\n');
}
