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
  /** `notBefore`: the time Retry-After asked for, when past the longest tier's band (see nextRetry). */
  | { kind: 'retry'; tierLabel: string; dueAt: number; delayMs: number; notBefore?: number }
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
 * `maxRetryAfterMs`. Past the longest tier's delay with its jitter, the
 * task is due at the end of that band and carries the time asked for as
 * `notBefore`: it hops through the longest tier, unsent, until then (see
 * nextHop). Left due at that time, with a short schedule (5 s, 1 m, 5 m) a
 * 429 asking for an hour sat at the head of the 5m tier's partition for that
 * hour, every other webhook's retries behind it.
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
  const asked = Math.max(jittered, Math.min(retryAfterMs ?? 0, schedule.maxRetryAfterMs));
  // Within the longest tier's band: a wait past it would hold every task behind it in that tier (see above).
  const delayMs = Math.min(asked, longestBand(schedule));
  const tierDelay = tiers.find((d) => d >= base && d * (1 + schedule.jitter) >= delayMs) ?? longest;
  const step: RetryStep = { kind: 'retry', tierLabel: tierLabel(tierDelay), dueAt: now + delayMs, delayMs };
  if (asked > delayMs) step.notBefore = now + asked;
  return step;
}

/** The longest wait a task spends in a tier: the longest delay with its jitter. */
function longestBand(schedule: RetrySchedule): number {
  return Math.round(Math.max(...schedule.delaysMs) * (1 + schedule.jitter));
}

/**
 * The next hop of a task whose endpoint asked not to be sent it before `notBefore`: into the longest tier again, due
 * at the end of its band; or, once what is left fits a tier's band, into the smallest such tier, due at `notBefore`
 * (in the longest tier it would wait behind tasks due up to a band later).
 */
export function nextHop(schedule: RetrySchedule, notBefore: number, now: number): { tierLabel: string; dueAt: number } {
  const left = notBefore - now;
  const tiers = [...new Set(schedule.delaysMs)].sort((a, b) => a - b);
  const covering = tiers.find((d) => d * (1 + schedule.jitter) >= left);
  if (covering === undefined) return { tierLabel: tierLabel(tiers[tiers.length - 1]!), dueAt: now + longestBand(schedule) };
  return { tierLabel: tierLabel(covering), dueAt: notBefore };
}

/**
 * When a task an open circuit breaker shed is tried again: once the breaker
 * may admit it, and no sooner than the task is old (routed, or resent, that
 * long ago), up to the longest delay, with the schedule's jitter. A shed is
 * not an attempt, so without the age every task of a dead endpoint's backlog
 * would come back each time the breaker half-opens, all at once, for as long
 * as it stays dead; with it each task's waits double, as retries' do, and
 * the tasks come back spread out.
 */
export function shedUntil(schedule: RetrySchedule, admitsAt: number, routedAt: number, now: number, random: number): number {
  const longest = Math.max(...schedule.delaysMs);
  const wait = Math.min(Math.max(0, now - routedAt), longest) * (1 + schedule.jitter * (2 * random - 1));
  return Math.max(admitsAt, now + Math.round(wait));
}
