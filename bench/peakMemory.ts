// The peak resident memory of this process. Node's resourceUsage().maxRSS is getrusage's ru_maxrss, which Linux keeps
// across fork + exec: a bench child spawned by a 300 MiB parent reported 309 MiB at every model size. /proc's VmHWM is
// the high-water mark of this process's own address space; maxRSS stands in where /proc is absent.
import { readFileSync } from 'node:fs';

export function peakRssMiB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
