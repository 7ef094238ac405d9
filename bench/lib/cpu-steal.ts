import { readFileSync } from 'node:fs';

/** The machine's CPU time so far from /proc/stat, in ticks: all of it, the idle part, and the part the hypervisor gave to others. */
function cpuTicks(): { total: number; idle: number; steal: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user and nice]
    return { total: fields.slice(0, 8).reduce((sum, ticks) => sum + ticks, 0), idle: (fields[3] ?? 0) + (fields[4] ?? 0), steal: fields[7] ?? 0 };
  } catch {
    return null;
  }
}

/**
 * Waits until the machine is quiet: under `busyShare` of its CPU busy over a
 * second (the broker deleting the last round's topics, or writing this
 * round's backlog, goes on for seconds after the call that started it). A
 * baseline measured on a busy machine is low, and the ratio against it
 * flatters whatever is compared. Resolves with the seconds waited; gives up
 * after `maxMs` (the share is then in the log line), or at once off Linux.
 */
export async function waitForQuietMachine(label: string, { busyShare = 0.1, maxMs = 30_000 } = {}): Promise<number> {
  const started = Date.now();
  let last = 1;
  while (Date.now() - started < maxMs) {
    const before = cpuTicks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = cpuTicks();
    if (!before || !after || after.total === before.total) return 0;
    last = 1 - (after.idle - before.idle) / (after.total - before.total);
    if (last < busyShare) return Math.round((Date.now() - started) / 1000);
  }
  console.log(`  (${label}: the machine stayed ${(last * 100).toFixed(0)} % busy for ${maxMs / 1000} s; measuring anyway)`);
  return Math.round((Date.now() - started) / 1000);
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
