import { describe, expect, it } from 'vitest';
import { FRESH_BEFORE_SKIP_MS } from '../../connector/delivery/task-handler.js';
import type { TargetCache } from '../../connector/subscriptions/target-cache.js';
import { answer, handlerWith, target, taskNumber } from '../support/task-handler-harness.js';

/** Skipping a task (its webhook deleted, inactive or unverified) is final: it goes by a version read a moment ago. */
describe('the task handler, for a webhook it holds as not deliverable', () => {
  it('reads the webhook again before skipping: one enabled again since (its notification lost) gets the task', async () => {
    const asked: Array<number | undefined> = [];
    // The cache's version is from before the admin enabled it again; a fresh read says it is deliverable.
    const targets: TargetCache = {
      get: async (_id, maxAgeMs) => (asked.push(maxAgeMs), { ...target, deliverable: maxAgeMs === FRESH_BEFORE_SKIP_MS }),
      invalidate: () => undefined,
      clear: () => undefined,
    };
    const { handle, posted, logged } = handlerWith([answer(204)], { targets });
    await handle(taskNumber(1), new AbortController().signal);
    expect(asked).toEqual([undefined, FRESH_BEFORE_SKIP_MS]);
    expect(posted).toEqual(['msg_1']);
    expect(logged.map((r) => r.outcome)).toEqual(['delivered']);
  });

  it('skips it when the fresh read agrees, and reads nothing again for a deliverable one', async () => {
    const asked: Array<number | undefined> = [];
    let deliverable = false;
    const targets: TargetCache = { get: async (_id, maxAgeMs) => (asked.push(maxAgeMs), { ...target, deliverable }), invalidate: () => undefined, clear: () => undefined };
    const { handle, posted, logged } = handlerWith([answer(204)], { targets });
    await handle(taskNumber(1), new AbortController().signal);
    expect(posted).toEqual([]);
    expect(logged.map((r) => r.outcome)).toEqual(['skipped']);
    deliverable = true;
    asked.length = 0;
    await handle(taskNumber(2), new AbortController().signal);
    expect(asked).toEqual([undefined]);
  });
});

describe('the task handler, with Postgres hung', () => {
  it('does not hold a delivered webhook\'s next task on ending its failing streak', async () => {
    const ended: string[] = [];
    // A streak end that never completes, as its write would while Postgres hangs.
    const failures = { failure: async () => false, success: (id: string) => (ended.push(id), new Promise<void>(() => undefined)) };
    const { handle, logged } = handlerWith([answer(204)], { failures });
    await handle(taskNumber(1), new AbortController().signal);
    expect(ended).toEqual([target.id]);
    expect(logged.map((r) => r.outcome)).toEqual(['delivered']);
  });
});
