/**
 * The retry schedule as data. Delays are per failed attempt: attempt 1 fails →
 * wait delays[0], …; after the last delay the task is dead-lettered. Each
 * distinct delay is one retry topic, `<prefix>.<label>` (e.g. `…retry.5m`).
 */
export interface RetrySchedule {
  delaysMs: readonly number[];
  jitter: number;
  maxRetryAfterMs: number;
}

export const DEFAULT_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;

export type RetryStep =
  | { kind: 'retry'; tierLabel: string; dueAt: number; delayMs: number }
  | { kind: 'exhausted' };

/** `5s`, `5m`, `2h`: the label of a delay, used in topic names and metrics. */
export function tierLabel(delayMs: number): string {
  if (delayMs % 3_600_000 === 0) return `${delayMs / 3_600_000}h`;
  if (delayMs % 60_000 === 0) return `${delayMs / 60_000}m`;
  if (delayMs % 1000 === 0) return `${delayMs / 1000}s`;
  return `${delayMs}ms`;
}

/** Distinct tiers in schedule order: one retry topic each. */
export function tierLabels(schedule: RetrySchedule): string[] {
  return [...new Set(schedule.delaysMs.map(tierLabel))];
}

/**
 * What happens after attempt `attempt` failed retryably. `random` is in [0, 1).
 * A `Retry-After` longer than the tier's delay is honoured up to
 * `maxRetryAfterMs`, and up to the longest tier's delay with its jitter:
 * with a short schedule (5 s, 1 m, 5 m), a 429 asking for an hour would
 * otherwise sit at the head of the 5m tier's partition for that hour, every
 * other webhook's retries behind it.
 *
 * The task goes to the smallest tier, not below its scheduled delay, whose
 * tasks come due as late as this one: a tier consumer pauses a partition at
 * its first task not due yet, so a task waits behind every task ahead of it
 * in its tier. Jitter spreads a tier's tasks around its delay, up to
 * `delay × (1 + jitter)`; a wait within that band stays in the tier (it holds
 * the tasks behind it no longer than jitter does), while a wait past it goes
 * to the next tier that covers it (it waits at most that tier's delay, as
 * `Retry-After` allows, rather than holding a shorter tier's tasks up). Chosen
 * from the jittered delay itself, half of all retries went one tier up: a
 * first retry due after 5.2 s waited behind the 5m tier's tasks.
 */
export function nextRetry(schedule: RetrySchedule, attempt: number, now: number, random: number, retryAfterMs?: number): RetryStep {
  const base = schedule.delaysMs[attempt - 1];
  if (base === undefined) return { kind: 'exhausted' };
  const jittered = Math.round(base * (1 + schedule.jitter * (2 * random - 1)));
  const tiers = [...new Set(schedule.delaysMs)].sort((a, b) => a - b);
  const longest = tiers[tiers.length - 1]!;
  // Up to the longest tier's band: a wait past it would hold every task behind it in that tier (see above).
  const retryAfterCap = Math.min(schedule.maxRetryAfterMs, Math.max(jittered, Math.round(longest * (1 + schedule.jitter))));
  const delayMs = Math.max(jittered, Math.min(retryAfterMs ?? 0, retryAfterCap));
  const tierDelay = tiers.find((d) => d >= base && d * (1 + schedule.jitter) >= delayMs) ?? longest;
  return { kind: 'retry', tierLabel: tierLabel(tierDelay), dueAt: now + delayMs, delayMs };
}
