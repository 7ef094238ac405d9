import { readFileSync } from 'node:fs';

/** The machine's CPU time so far from /proc/stat, in ticks: all of it, and the part the hypervisor gave to others. */
function cpuTicks(): { total: number; steal: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
    return { total: fields.slice(0, 8).reduce((sum, ticks) => sum + ticks, 0), steal: fields[7] ?? 0 };
  } catch {
    return null;
  }
}

/**
 * Starts measuring CPU steal: the share of this VM's CPU time the hypervisor
 * ran other guests on. On a shared VM it swings the measured rates; a
 * round with a high share is a round to read with care. The function
 * returned gives the percentage since the start, or null off Linux.
 */
export function startStealMeter(): () => number | null {
  const start = cpuTicks();
  return () => {
    const end = cpuTicks();
    if (!start || !end || end.total === start.total) return null;
    return Number((((end.steal - start.steal) / (end.total - start.total)) * 100).toFixed(1));
  };
}
