// The cost of a phase as the lesser of its wall and CPU time: CPU time does not grow with other jobs' load and
// wall time does not grow with a multithreaded backend's threads, so a prediction made from it comes out the
// same on a busy machine as on an idle one.

/** CPU time of this process so far, in ms (0 where the runtime has no process.cpuUsage). */
function cpuMs(): number {
  if (typeof process === 'undefined' || typeof process.cpuUsage !== 'function') return 0;
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
