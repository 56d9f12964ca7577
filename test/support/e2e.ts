// Helpers for the end-to-end suites: repo paths, a scratch root that keeps every
// program's files inside .scratch/, free ports, child processes that are always killed.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { homedir } from 'node:os';

export { repoRoot } from './repo';
import { repoRoot } from './repo';

/** Where scripts/setup-e2e.sh installs code-server and Node 24. */
export function toolsDir(): string {
  return process.env.ODELENS_TOOLS || join(homedir(), '.cache', 'odelens-tools');
}

export function codeServerBin(): string | undefined {
  const p = join(toolsDir(), 'bin', 'code-server');
  return existsSync(p) ? p : undefined;
}

/** True when `cmd` is an executable on PATH. */
export function onPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH || '').split(':')) {
    const p = join(d || '.', cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface Scratch {
  root: string;
  /** Environment for child programs: XDG_* and TMPDIR inside the scratch root. */
  env: NodeJS.ProcessEnv;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A fresh scratch root .scratch/<name>-<pid> with XDG_* and TMPDIR folders inside. Per process,
 * so that concurrent test runs in one work tree do not clobber each other; the folders of
 * earlier runs whose process is gone are removed.
 */
export function makeScratch(name: string): Scratch {
  const base = join(repoRoot(), '.scratch');
  mkdirSync(base, { recursive: true });
  for (const f of readdirSync(base)) {
    const m = f.startsWith(`${name}-`) ? /^(\d+)$/.exec(f.slice(name.length + 1)) : null;
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1])))
      rmSync(join(base, f), { recursive: true, force: true });
  }
  const root = join(base, `${name}-${process.pid}`);
  rmSync(root, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, sub] of [
    ['XDG_CONFIG_HOME', 'xdg/config'],
    ['XDG_DATA_HOME', 'xdg/data'],
    ['XDG_CACHE_HOME', 'xdg/cache'],
    ['XDG_STATE_HOME', 'xdg/state'],
    ['XDG_RUNTIME_DIR', 'xdg/runtime'],
    ['TMPDIR', 'tmp'],
  ] as const) {
    const p = join(root, sub);
    mkdirSync(p, { recursive: true, mode: 0o700 });
    env[k] = p;
  }
  return { root, env };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Spawn in its own process group with output appended to logFile; kill with killTree(). */
export function spawnLogged(cmd: string, args: string[], logFile: string, opts: SpawnOptions = {}): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  log.write(`$ ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.on('exit', (code, sig) => log.end(`\n[exit code=${code} signal=${sig}]\n`));
  return child;
}

/** SIGTERM the child's whole process group, SIGKILL after graceMs if it is still there. */
export async function killTree(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      try {
        process.kill(pid, s);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
    signal('SIGKILL');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}

/** Poll `fn` until it returns a truthy value or timeoutMs passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs: number,
  everyMs = 200,
): Promise<NonNullable<T>> {
  const t0 = Date.now();
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
