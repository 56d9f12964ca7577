// Check results by content: a check's report depends only on the model text and the
// settings that change what it computes (the backend, finite differences on or off), so
// a text seen before (an undo, a reopened file) gets its report at once. A result is the
// report's summary (what diagnostics, hovers and the status present) and its rows packed
// in typed arrays (what the plots ask for, solver/rows.ts).
// Least recently used, bounded by count and by the number of values the rows hold
// (a width-128, N=1024 model's report holds millions).
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ReportSummary } from '../solver/report';
import { rowValues, type RowTable } from '../solver/rows';

/** A finished check as the server keeps it. */
export interface CheckResult {
  summary: ReportSummary;
  tables: RowTable[];
}

export interface ReportCacheLimits {
  maxEntries: number;
  /** Bound on the floats of all cached reports; a larger single report is not cached. */
  maxValues: number;
}

export const DEFAULT_CACHE_LIMITS: ReportCacheLimits = { maxEntries: 64, maxValues: 8_000_000 };

/** The content key of a document's text. */
export const hashOf = (text: string) => createHash('sha1').update(text).digest('hex');

export class ReportCache {
  private readonly lru: LRUCache<string, CheckResult>;

  constructor(limits: ReportCacheLimits = DEFAULT_CACHE_LIMITS) {
    this.lru = new LRUCache<string, CheckResult>({
      max: limits.maxEntries,
      maxSize: limits.maxValues,
      // lru-cache needs a positive size; a report without gradient rows counts as one value.
      sizeCalculation: (v) => Math.max(1, rowValues(v.tables)),
    });
  }

  /** The report for a text's hash under a variant of the settings (reportVariant); marks it most recently used. */
  get(variant: string, hash: string): CheckResult | undefined {
    return this.lru.get(cacheKey(variant, hash));
  }

  set(variant: string, hash: string, value: CheckResult): void {
    this.lru.set(cacheKey(variant, hash), value);
  }

  get size(): number {
    return this.lru.size;
  }
}

/** What besides the text a report depends on: the backend setting, and whether finite differences ran. */
export const reportVariant = (backend: string, finiteDifferences: boolean) =>
  finiteDifferences ? backend : `${backend}+no-finite-differences`;

const cacheKey = (variant: string, hash: string) => `${variant}:${hash}`;
