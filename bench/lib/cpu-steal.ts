import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

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
 * Waits until the machine is quiet: under `busyCores` of CPU at work over a
 * second, in cores whatever their number (the broker deleting the last
 * round's topics, or writing this round's backlog, goes on for seconds after
 * the call that started it). Time the hypervisor gave other guests is not
 * this machine's work and is left out. A baseline measured on a busy machine
 * is low, and the ratio against it flatters whatever is compared. Resolves
 * with the seconds waited; gives up after `maxMs` (saying how busy it
 * stayed), or at once off Linux.
 */
export async function waitForQuietMachine(label: string, { busyCores = 0.25, maxMs = 30_000 } = {}): Promise<number> {
  const cores = cpus().length;
  const started = Date.now();
  let last = cores;
  while (Date.now() - started < maxMs) {
    const before = cpuTicks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = cpuTicks();
    if (!before || !after || after.total === before.total) return 0;
    const total = after.total - before.total;
    const working = total - (after.idle - before.idle) - (after.steal - before.steal);
    last = (working / total) * cores;
    if (last < busyCores) return Math.round((Date.now() - started) / 1000);
  }
  console.log(`  (${label}: ${last.toFixed(2)} cores stayed busy for ${maxMs / 1000} s; measuring anyway)`);
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
