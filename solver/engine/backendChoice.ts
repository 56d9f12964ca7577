// What `auto` decided on this machine, remembered: a small JSON file in the user's cache directory,
// shared by the CLI and the editor's check worker. A decision is measured once per model size class
// and reused by every later run, so a check pays nothing for it and identical runs take the same
// backend. Decisions are keyed by what they depend on (this engine's version, TF.js's, the machine's
// processor); any change decides again. A cache that cannot be read or written only costs the
// measurement (at most once per process).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import { version as packageVersion } from '../../package.json';

export interface BackendDecision {
  backend: 'cpu' | 'wasm';
  /** The probe's times, ms (absent: not measured). */
  cpuMs?: number;
  wasmMs?: number;
  /** When it was measured (ISO date). */
  date: string;
}

interface DecisionFile {
  /** What the decisions depend on; another key discards them. */
  key: string;
  decisions: Record<string, BackendDecision>;
}

/** The user's cache directory for ODE Lens (ODELENS_CACHE_DIR overrides it, e.g. for tests). */
export function cacheDirectory(): string {
  const env = process.env;
  if (env.ODELENS_CACHE_DIR) return env.ODELENS_CACHE_DIR;
  if (process.platform === 'win32')
    return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'odelens', 'Cache');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'odelens');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'odelens');
}

export const decisionFile = () => join(cacheDirectory(), 'backend-choices.json');

/** What a decision depends on: ODE Lens's version, TF.js's, and the processor it was measured on. */
export function decisionKey(tfjsVersion: string): string {
  const cpu = cpus();
  return `odelens ${packageVersion} · tfjs ${tfjsVersion} · ${cpu[0]?.model ?? 'unknown cpu'} ×${cpu.length}`;
}

function readFile(key: string): DecisionFile {
  try {
    const parsed = JSON.parse(readFileSync(decisionFile(), 'utf8')) as Partial<DecisionFile>;
    if (parsed.key === key && parsed.decisions && typeof parsed.decisions === 'object')
      return { key, decisions: parsed.decisions };
  } catch {
    /* absent or unreadable: decide again */
  }
  return { key, decisions: {} };
}

/** The remembered decision for a size class under this key, if any. */
export function rememberedDecision(key: string, sizeClass: number): BackendDecision | undefined {
  const d = readFile(key).decisions[String(sizeClass)];
  return d && (d.backend === 'cpu' || d.backend === 'wasm') ? d : undefined;
}

/** Remembers a decision (written whole to a temporary file, then renamed: readers never see half a file). */
export function rememberDecision(key: string, sizeClass: number, decision: BackendDecision): void {
  const file = readFile(key);
  file.decisions[String(sizeClass)] = decision;
  try {
    mkdirSync(cacheDirectory(), { recursive: true });
    const tmp = `${decisionFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
    renameSync(tmp, decisionFile());
  } catch {
    /* a read-only cache: the decision holds for this process only */
  }
}
