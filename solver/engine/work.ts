// The cost of a phase as the lesser of its wall and CPU time: CPU time does not grow with other jobs' load and
// wall time does not grow with a multithreaded backend's threads, so a prediction made from it comes out the
// same on a busy machine as on an idle one. The CPU time is the calling thread's (a check's second thread,
// check/thread.ts, runs a phase beside the main one: the process's CPU time would count both).
import { readFileSync } from 'node:fs';

type ThreadCpuUsage = () => { user: number; system: number };

/** Node ≥ 23.9 measures the calling thread's CPU time itself. */
const threadCpuUsage = (process as unknown as { threadCpuUsage?: ThreadCpuUsage }).threadCpuUsage;

/** Linux: the calling thread's run time in ns, the first field of /proc/thread-self/schedstat (undefined elsewhere). */
function schedstatMs(): number | undefined {
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
    return Number.isFinite(ns) && ns > 0 ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

let perThread: boolean | undefined;

/** CPU time of this thread so far, in ms (the process's where the runtime measures no thread; 0 where neither). */
function cpuMs(): number {
  if (typeof process === 'undefined') return 0;
  if (typeof threadCpuUsage === 'function') {
    const { user, system } = threadCpuUsage();
    return (user + system) / 1000;
  }
  if (perThread !== false) {
    const ms = schedstatMs();
    perThread = ms !== undefined;
    if (ms !== undefined) return ms;
  }
  if (typeof process.cpuUsage !== 'function') return 0;
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** A clock started now: `wallMs()` is the wall time since, `workMs()` the phase's cost as above. */
export function workClock(): { wallMs: () => number; workMs: () => number } {
  const wall = performance.now();
  const cpu = cpuMs();
  const wallMs = () => performance.now() - wall;
  return {
    wallMs,
    workMs: () => {
      const spent = cpuMs() - cpu;
      return spent > 0 ? Math.min(wallMs(), spent) : wallMs();
    },
  };
}
