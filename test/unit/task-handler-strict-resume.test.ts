import { describe, expect, it } from 'vitest';
import type { DeliveryTask } from '../../connector/delivery/task.js';
import { answer, handlerWith, taskNumber } from '../support/task-handler-harness.js';

/** A strict webhook's head task, taken over by another instance, counts on from the attempts already logged. */
describe('the task handler, for a strict webhook\'s task tried before elsewhere', () => {
  it('numbers its attempts on from the logged ones, and runs out of retries where the schedule ends', async () => {
    const asked: DeliveryTask[] = [];
    // Three retries, four attempts in all; two were made before a restart.
    const { handle, posted, logged, produced } = handlerWith([answer(503), answer(503), answer(503)], {
      schedule: { delaysMs: [10, 10, 10], jitter: 0, maxRetryAfterMs: 60_000 },
      breakerPolicy: { failureThreshold: 100, openMs: 0 },
      ordering: 'strict',
      logged: (task) => (asked.push(task), 2),
    });
    await handle(taskNumber(1), new AbortController().signal);
    expect(posted).toEqual(['msg_1', 'msg_1']);
    expect(logged.map((r) => [r.attempt, r.outcome])).toEqual([[3, 'retry'], [4, 'dead_letter']]);
    expect(produced.map((p) => [p.topic, p.task.attempt, p.headers['dlq.error.code']])).toEqual([['dlq', 4, 'RETRIES_EXHAUSTED']]);
    // Looked up once, at its first failure here, for the chain the task read from the topic began.
    expect(asked.map((task) => [task.taskId, task.attempt])).toEqual([['msg_1', 1]]);
  });

  it('looks nothing up for a relaxed webhook (its tier records carry the count) nor for a task that succeeds', async () => {
    let lookups = 0;
    const relaxed = handlerWith([answer(503)], { breakerPolicy: { failureThreshold: 100, openMs: 0 }, logged: () => (lookups += 1, 5) });
    await relaxed.handle(taskNumber(1), new AbortController().signal);
    expect(relaxed.produced.map((p) => p.task.attempt)).toEqual([2]);
    const strict = handlerWith([answer(204)], { ordering: 'strict', logged: () => (lookups += 1, 5) });
    await strict.handle(taskNumber(2), new AbortController().signal);
    expect(strict.logged.map((r) => [r.attempt, r.outcome])).toEqual([[1, 'delivered']]);
    expect(lookups).toBe(0);
  });
});
