import { describe, expect, it } from 'vitest';
import { admit, admitsAgainAt, breakerAfter, CLOSED, MIN_PROBE_WAIT_MS, recordFailure, recordSuccess, type BreakerState } from '../../connector/delivery/circuit-breaker.js';
import { OffsetTracker } from '../../connector/delivery/offset-tracker.js';
import { DEFAULT_DELAYS_MS, nextHop, nextRetry, shedUntil, tierLabel, tierLabels, type RetrySchedule } from '../../connector/delivery/retry-schedule.js';

describe('OffsetTracker', () => {
  it('commits only past the contiguous finished prefix', () => {
    const tracker = new OffsetTracker();
    for (const o of [10n, 11n, 12n, 13n]) tracker.add(o);
    expect(tracker.committableOffset).toBe(10n);
    expect(tracker.finish(12n)).toBeNull(); // 10 and 11 still running
    expect(tracker.finish(10n)).toBe(11n);
    expect(tracker.finish(11n)).toBe(13n); // 12 was already done
    expect(tracker.inFlight).toBe(1);
    expect(tracker.finish(13n)).toBe(14n);
  });

  it('ignores offsets it never handed out and reports re-fetched ones as seen', () => {
    const tracker = new OffsetTracker();
    tracker.add(5n);
    expect(tracker.finish(4n)).toBeNull();
    expect(tracker.seen(5n)).toBe(true);
    expect(tracker.seen(6n)).toBe(false);
  });

  it('commits across offsets that were never tasks: transaction markers and aborted records', () => {
    const tracker = new OffsetTracker();
    // A transaction's three tasks, its commit marker at 3, then the next transaction's task at 4.
    for (const o of [0n, 1n, 2n, 4n]) tracker.add(o);
    tracker.finish(4n);
    tracker.finish(1n);
    expect(tracker.committableOffset).toBe(0n);
    tracker.finish(0n);
    expect(tracker.committableOffset).toBe(2n);
    expect(tracker.finish(2n)).toBe(5n);
    expect(tracker.inFlight).toBe(0);
  });

  it('commits past a marker that ends a batch once told the batch went that far', () => {
    const tracker = new OffsetTracker();
    tracker.add(7n);
    tracker.skipTo(9n); // the batch's last record, a commit marker, was at 8
    expect(tracker.committableOffset).toBe(7n);
    expect(tracker.finish(7n)).toBe(9n);
    expect(tracker.seen(8n)).toBe(true);
    tracker.skipTo(5n); // a re-fetch of older records moves nothing back
    expect(tracker.committableOffset).toBe(9n);
  });

  it('keeps nothing for finished work (no growth over a long run with gaps)', () => {
    const tracker = new OffsetTracker();
    let offset = 0n;
    for (let i = 0; i < 50_000; i += 1) {
      tracker.add(offset);
      tracker.add(offset + 1n);
      tracker.finish(offset + 1n);
      tracker.finish(offset);
      offset += 3n; // one marker after every two tasks
    }
    expect(tracker.committableOffset).toBe(offset - 1n);
    expect(entriesKept(tracker)).toBe(0);
  });

  it('keeps only the unfinished offsets while one task holds the commit for a long time (a strict retry in place)', () => {
    const tracker = new OffsetTracker();
    tracker.add(0n);
    for (let offset = 1n; offset <= 200_000n; offset += 1n) {
      tracker.add(offset);
      tracker.finish(offset);
    }
    expect(tracker.committableOffset).toBe(0n);
    expect(entriesKept(tracker)).toBeLessThan(5000);
    expect([...tracker.pendingOffsets()]).toEqual([0n]);
    expect(tracker.finish(0n)).toBe(200_001n);
    expect(entriesKept(tracker)).toBe(0);
  });
});

describe('OffsetTracker against a plain model', () => {
  it('commits below the lowest unfinished offset whatever the order tasks finish in, across compactions', () => {
    let seed = 42;
    const random = (n: number): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n);
    const tracker = new OffsetTracker();
    const unfinished = new Set<bigint>();
    let next = 0n;
    for (let step = 0; step < 60_000; step += 1) {
      // Offset 0 holds the commit for the first half (the queue behind it compacts); after, any offset may finish.
      const held = step < 30_000;
      if (unfinished.size < 3000 && random(3) > 0) {
        tracker.add(next);
        unfinished.add(next);
        next += 1n + BigInt(random(2)); // gaps: markers and aborted records
      } else {
        const candidates = [...unfinished].filter((offset) => !held || offset !== 0n);
        if (candidates.length === 0) continue;
        const offset = candidates[random(candidates.length)]!;
        tracker.finish(offset);
        unfinished.delete(offset);
      }
      const lowest = [...unfinished].reduce<bigint | null>((min, offset) => (min === null || offset < min ? offset : min), null);
      if (step % 97 === 0 || unfinished.size < 2 || step === 30_000) expect(tracker.committableOffset, `step ${step}`).toBe(lowest ?? tracker.end);
    }
    expect([...tracker.pendingOffsets()]).toEqual([...unfinished].sort((a, b) => (a < b ? -1 : 1)));
  });
});

/** Entries in every collection the tracker holds: what it keeps in memory grows with this. */
function entriesKept(tracker: OffsetTracker): number {
  return Object.values(tracker).reduce<number>((sum, field) => sum + (field instanceof Set || field instanceof Map ? field.size : Array.isArray(field) ? field.length : 0), 0);
}

describe('retry schedule', () => {
  const schedule: RetrySchedule = { delaysMs: DEFAULT_DELAYS_MS, jitter: 0.1, maxRetryAfterMs: 3_600_000 };

  it('labels tiers and has one topic per distinct delay', () => {
    expect(tierLabel(5000)).toBe('5s');
    expect(tierLabel(300_000)).toBe('5m');
    expect(tierLabel(36_000_000)).toBe('10h');
    expect(tierLabels(schedule)).toEqual(['5s', '5m', '30m', '2h', '5h', '10h']);
  });

  it('walks the schedule attempt by attempt, with bounded jitter, then gives up', () => {
    const now = 1_000_000;
    expect(nextRetry(schedule, 1, now, 0.5)).toEqual({ kind: 'retry', tierLabel: '5s', dueAt: now + 5000, delayMs: 5000 });
    const low = nextRetry(schedule, 4, now, 0);
    const high = nextRetry(schedule, 4, now, 0.999);
    expect(low).toMatchObject({ tierLabel: '2h', delayMs: 6_480_000 });
    expect(high).toMatchObject({ tierLabel: '2h' });
    expect(high.kind === 'retry' && high.delayMs).toBeLessThanOrEqual(7_920_000);
    expect(nextRetry(schedule, 7, now, 0.5)).toMatchObject({ tierLabel: '10h' });
    expect(nextRetry(schedule, 8, now, 0.5)).toEqual({ kind: 'exhausted' });
  });

  it('keeps a task jittered past its delay in its own tier', () => {
    // 5.5 s and 7.9 h: a tier's tasks come due within its delay ± jitter, so the task waits behind none due much later.
    for (const random of [0.6, 0.999]) {
      expect(nextRetry(schedule, 1, 0, random)).toMatchObject({ tierLabel: '5s' });
      expect(nextRetry(schedule, 4, 0, random)).toMatchObject({ tierLabel: '2h' });
    }
    expect(nextRetry(schedule, 1, 0, 0.999)).toMatchObject({ delayMs: 5499 });
  });

  it('honours a longer Retry-After up to its bound, in the tier that covers it', () => {
    const now = 0;
    // Within the tier's jitter band: it stays there, due when the endpoint asked.
    expect(nextRetry(schedule, 1, now, 0.5, 5400)).toEqual({ kind: 'retry', tierLabel: '5s', dueAt: 5400, delayMs: 5400 });
    // Past it: the next tier that covers it, never a shorter tier than the schedule's (a 1 s Retry-After on attempt 2).
    expect(nextRetry(schedule, 1, now, 0.5, 5600)).toMatchObject({ tierLabel: '5m', delayMs: 5600 });
    expect(nextRetry(schedule, 2, now, 0.5, 1000)).toMatchObject({ tierLabel: '5m', delayMs: 300_000 });
    expect(nextRetry(schedule, 1, now, 0.5, 120_000)).toEqual({ kind: 'retry', tierLabel: '5m', dueAt: 120_000, delayMs: 120_000 });
    expect(nextRetry(schedule, 1, now, 0.5, 1000)).toMatchObject({ delayMs: 5000 }); // never sooner than the schedule
    expect(nextRetry(schedule, 1, now, 0.5, 99_000_000)).toMatchObject({ delayMs: 3_600_000, tierLabel: '2h' });
  });

  it('keeps a Retry-After past the longest tier\'s band as notBefore, the task due at the band\'s end: it hops, unsent, rather than holding the tier', () => {
    // 5 s, 1 m, 5 m with a 6 h bound: a 429 asking for an hour waits 5.5 min (5 m + 10 % jitter) in the 5m tier, then hops.
    const short: RetrySchedule = { delaysMs: [5000, 60_000, 300_000], jitter: 0.1, maxRetryAfterMs: 21_600_000 };
    expect(nextRetry(short, 1, 0, 0.5, 3_600_000)).toEqual({ kind: 'retry', tierLabel: '5m', dueAt: 330_000, delayMs: 330_000, notBefore: 3_600_000 });
    expect(nextRetry(short, 1, 0, 0.5, 320_000)).toEqual({ kind: 'retry', tierLabel: '5m', dueAt: 320_000, delayMs: 320_000 });
    // Still bounded by maxRetryAfterMs.
    expect(nextRetry(short, 1, 0, 0.5, 99_000_000)).toMatchObject({ notBefore: 21_600_000 });
    // Hops: the band's end, then what is left.
    expect(nextHop(short, 3_600_000, 330_000)).toEqual({ tierLabel: '5m', dueAt: 660_000 });
    expect(nextHop(short, 3_600_000, 3_500_000)).toEqual({ tierLabel: '5m', dueAt: 3_600_000 });
    // What is left fits a shorter tier's band: the last hop goes there, not behind the longest tier's tasks.
    expect(nextHop(short, 3_600_000, 3_550_000)).toEqual({ tierLabel: '1m', dueAt: 3_600_000 });
    expect(nextHop(short, 3_600_000, 3_596_000)).toEqual({ tierLabel: '5s', dueAt: 3_600_000 });
  });
});

describe('circuit breaker', () => {
  const policy = { failureThreshold: 3, openMs: 30_000 };

  it('opens after the threshold of consecutive failures and sheds requests while open', () => {
    let state: BreakerState = CLOSED;
    state = recordFailure(state, policy, 0);
    state = recordFailure(state, policy, 0);
    expect(admit(state, 0).allowed).toBe(true);
    state = recordFailure(state, policy, 1000);
    expect(state).toEqual({ kind: 'open', until: 31_000 });
    expect(admit(state, 30_999).allowed).toBe(false);
  });

  it('lets exactly one probe through when half-open; its result closes or reopens', () => {
    const open: BreakerState = { kind: 'open', until: 100 };
    const probe = admit(open, 100);
    expect(probe).toEqual({ allowed: true, state: { kind: 'half-open', probeInFlight: true } });
    expect(admit(probe.state, 101).allowed).toBe(false);
    expect(recordSuccess()).toEqual(CLOSED);
    expect(recordFailure(probe.state, policy, 200)).toEqual({ kind: 'open', until: 30_200 });
  });

  it('counts only retryable failures against the endpoint: a final answer (400) or a 410 says it is up, and ends a probe', () => {
    let state: BreakerState = CLOSED;
    for (let i = 0; i < 5; i += 1) state = breakerAfter(state, 'final', policy, 0);
    expect(state).toEqual(CLOSED);
    state = breakerAfter(breakerAfter(CLOSED, 'retry', policy, 0), 'retry', policy, 0);
    expect(state).toEqual({ kind: 'closed', failures: 2 });
    expect(breakerAfter(state, 'final', policy, 0)).toEqual(CLOSED);
    const probe = admit({ kind: 'open', until: 100 }, 100).state;
    expect(breakerAfter(probe, 'final', policy, 100)).toEqual(CLOSED);
    expect(breakerAfter(probe, 'disable', policy, 100)).toEqual(CLOSED);
    expect(breakerAfter(probe, 'delivered', policy, 100)).toEqual(CLOSED);
    expect(breakerAfter(probe, 'retry', policy, 100)).toEqual({ kind: 'open', until: 30_100 });
  });

  it('tells when a refused request may be admitted: at the end of the open spell, or a spell after a probe still out', () => {
    expect(admitsAgainAt({ kind: 'open', until: 31_000 }, policy, 1000)).toBe(31_000);
    expect(admitsAgainAt(CLOSED, policy, 1000)).toBe(1000);
    expect(admitsAgainAt({ kind: 'half-open', probeInFlight: true }, policy, 1000)).toBe(31_000);
    // Never at once behind a probe, however short the spell: that would be a tight loop of refusals.
    expect(admitsAgainAt({ kind: 'half-open', probeInFlight: true }, { failureThreshold: 1, openMs: 0 }, 1000)).toBe(1000 + MIN_PROBE_WAIT_MS);
  });

  it('a success resets the failure count', () => {
    let state = recordFailure(recordFailure(CLOSED, policy, 0), policy, 0);
    state = recordSuccess();
    expect(recordFailure(state, policy, 0)).toEqual({ kind: 'closed', failures: 1 });
  });
});

describe('when a shed task is tried again', () => {
  const schedule = { delaysMs: [5000, 300_000, 1_800_000], jitter: 0.1, maxRetryAfterMs: 0 };

  it('once the breaker may admit it, and no sooner than the task is old, up to the longest delay, with jitter', () => {
    // Young: the breaker decides.
    expect(shedUntil(schedule, 30_000, -1000, 0, 0.5)).toBe(30_000);
    // Older than the open spell: its age.
    expect(shedUntil(schedule, 30_000, -120_000, 0, 0.5)).toBe(120_000);
    // Very old: the longest delay, jittered either way; never before the breaker.
    expect(shedUntil(schedule, 30_000, -86_400_000, 0, 0.5)).toBe(1_800_000);
    expect(shedUntil(schedule, 30_000, -86_400_000, 0, 0)).toBe(1_620_000);
    expect(shedUntil(schedule, 30_000, -86_400_000, 0, 0.999)).toBeLessThanOrEqual(1_980_000);
    expect(shedUntil(schedule, 3_000_000, -86_400_000, 0, 0.5)).toBe(3_000_000);
  });
});
