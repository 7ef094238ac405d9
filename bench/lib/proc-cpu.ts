import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ); asked once, on first use. */
let clockTicks: number | null | undefined;
function clockTicksPerSecond(): number | null {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || null;
    } catch {
      clockTicks = null;
    }
  }
  return clockTicks;
}

/**
 * CPU time (user + system, every thread) another process has used so far, in
 * microseconds; null where /proc is not there (not Linux).
 */
export function processCpuMicros(pid: number | undefined): number | null {
  return statCpuMicros(pid, `/proc/${pid}/stat`);
}

/**
 * CPU time of a process's main thread alone (the one running its event loop;
 * its thread id is the process id), in microseconds; null off Linux. What one
 * deliverer process can do with cores to spare is bounded by this, not by the
 * process's total (sending threads, GC helpers).
 */
export function mainThreadCpuMicros(pid: number | undefined): number | null {
  return statCpuMicros(pid, `/proc/${pid}/task/${pid}/stat`);
}

function statCpuMicros(pid: number | undefined, path: string): number | null {
  const ticks = clockTicksPerSecond();
  if (pid === undefined || ticks === null) return null;
  try {
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / ticks) * 1e6;
  } catch {
    return null;
  }
}
