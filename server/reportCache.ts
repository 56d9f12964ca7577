// Reports by content: a check's report depends only on the model text and the
// backend setting, so a text seen before (an undo, a reopened file) gets its report
// at once. Least recently used, bounded by count and by the number of floats the
// reports hold (a width-128, N=1024 model's report holds millions).
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Report } from '../solver/report';

export interface CachedReport {
  report: Report;
  /** How long the check took, for the status shown with a cached result. */
  ms: number;
}

export interface ReportCacheLimits {
  maxEntries: number;
  /** Bound on the floats of all cached reports; a larger single report is not cached. */
  maxValues: number;
}

export const DEFAULT_CACHE_LIMITS: ReportCacheLimits = { maxEntries: 64, maxValues: 8_000_000 };

/** The content key of a document's text. */
export const hashOf = (text: string) => createHash('sha1').update(text).digest('hex');

/** The floats a report holds (its per-layer gradient rows). */
export function reportValues(r: Report): number {
  let n = 0;
  for (const p of r.parameters)
    for (const rows of [p.raw, p.corrected, p.reference]) for (const row of rows) n += row.length;
  return n;
}

export class ReportCache {
  private readonly lru: LRUCache<string, CachedReport>;

  constructor(limits: ReportCacheLimits = DEFAULT_CACHE_LIMITS) {
    this.lru = new LRUCache<string, CachedReport>({
      max: limits.maxEntries,
      maxSize: limits.maxValues,
      // lru-cache needs a positive size; a report without gradient rows counts as one value.
      sizeCalculation: (v) => Math.max(1, reportValues(v.report)),
    });
  }

  /** The report for a text's hash under a backend setting; marks it most recently used. */
  get(backend: string, hash: string): CachedReport | undefined {
    return this.lru.get(cacheKey(backend, hash));
  }

  set(backend: string, hash: string, value: CachedReport): void {
    this.lru.set(cacheKey(backend, hash), value);
  }

  get size(): number {
    return this.lru.size;
  }
}

const cacheKey = (backend: string, hash: string) => `${backend}:${hash}`;
