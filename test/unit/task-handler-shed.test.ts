import { describe, expect, it } from 'vitest';
import { answer, handlerWith, RETRY_DUE_AT_HEADER, taskNumber } from '../support/task-handler-harness.js';

/** A task its webhook's open circuit breaker refuses is shed, and being shed is not an attempt. */
describe('the task handler, for a task shed by an open circuit breaker', () => {
  it('sends it on through a tier at the same attempt, due when the breaker probes, even on its last attempt; then the probe delivers it', async () => {
    let clock = 1_000_000;
    // Two retries: a task's third attempt is its last.
    const { handle, posted, logged, produced } = handlerWith([answer(503), answer(204)], {
      schedule: { delaysMs: [5000, 60_000], jitter: 0, maxRetryAfterMs: 3_600_000 },
      breakerPolicy: { failureThreshold: 1, openMs: 30_000 },
      now: () => clock,
    });
    const stop = new AbortController().signal;
    // Another task's failure opens the breaker for 30 s.
    await handle(taskNumber(1, 2), stop);
    expect(posted).toEqual(['msg_1']);

    clock += 1000;
    // Back from a tier for its last attempt while the breaker is open: not sent, and not dead-lettered. Routed
    // moments ago, it waits for the breaker alone.
    await handle({ ...taskNumber(2, 3), routedAt: clock - 500 }, stop);
    expect(posted).toEqual(['msg_1']);
    const shed = produced.at(-1)!;
    expect(shed.topic).not.toBe('dlq');
    expect(shed.task.taskId).toBe('msg_2');
    expect(shed.task.attempt).toBe(3);
    const reopensAt = 1_000_000 + 30_000;
    expect(Number(shed.headers[RETRY_DUE_AT_HEADER])).toBe(reopensAt);
    expect(logged.at(-1)).toMatchObject({ taskId: 'msg_2', attempt: 3, outcome: 'retry', errorCode: 'CIRCUIT_OPEN', nextRetryAt: new Date(reopensAt).toISOString() });

    // Due, the breaker half-open: it goes out as the probe, at its third attempt still, and is delivered.
    clock = reopensAt;
    await handle(shed.task, stop);
    expect(posted).toEqual(['msg_1', 'msg_2']);
    expect(logged.at(-1)).toMatchObject({ taskId: 'msg_2', attempt: 3, outcome: 'delivered', status: 204 });
    expect(produced.map((p) => p.topic)).not.toContain('dlq');
  });

  it('holds an old task back longer: as long as it has existed, up to the longest delay, so a dead endpoint\'s backlog does not return at every probe', async () => {
    const clock = 1_000_000;
    const { handle, produced } = handlerWith([answer(503)], {
      schedule: { delaysMs: [5000, 60_000], jitter: 0, maxRetryAfterMs: 3_600_000 },
      breakerPolicy: { failureThreshold: 1, openMs: 30_000 },
      now: () => clock,
    });
    const stop = new AbortController().signal;
    await handle(taskNumber(1), stop);
    // 45 s old: past the breaker's 30 s, it waits 45 s.
    await handle({ ...taskNumber(2), routedAt: clock - 45_000 }, stop);
    expect(Number(produced.at(-1)!.headers[RETRY_DUE_AT_HEADER])).toBe(clock + 45_000);
    // An hour old: the longest delay (a minute here).
    await handle({ ...taskNumber(3), routedAt: clock - 3_600_000 }, stop);
    expect(Number(produced.at(-1)!.headers[RETRY_DUE_AT_HEADER])).toBe(clock + 60_000);
    expect(produced.slice(1).map((p) => p.task.attempt)).toEqual([1, 1]);
  });

  it('holds a strict webhook\'s task in place until the breaker probes, then retries it at the same attempt', async () => {
    // One in-place retry, 20 ms after the first failure; the breaker opened by that failure stays open 300 ms.
    const { handle, posted, logged, produced } = handlerWith([answer(503), answer(204)], {
      schedule: { delaysMs: [20], jitter: 0, maxRetryAfterMs: 60_000 },
      breakerPolicy: { failureThreshold: 1, openMs: 300 },
      ordering: 'strict',
    });
    await handle(taskNumber(1), new AbortController().signal);
    expect(posted).toEqual(['msg_1', 'msg_1']);
    expect(logged.map((r) => [r.attempt, r.outcome, r.status ?? r.errorCode])).toEqual([
      [1, 'retry', 503],
      [2, 'retry', 'CIRCUIT_OPEN'],
      [2, 'delivered', 204],
    ]);
    // Sent again only once the breaker could admit it, and never through a tier or the dead-letter topic.
    expect(Date.parse(logged[2]!.attemptedAt)).toBeGreaterThanOrEqual(Date.parse(logged[1]!.nextRetryAt!));
    expect(produced).toEqual([]);
  });
});
