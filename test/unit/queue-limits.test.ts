import { describe, expect, it } from 'vitest';
import { mayQueue, roomFor, shouldReadAgain } from '../../connector/delivery/queue-limits.js';

const limits = { maxQueuedPerWebhook: 1000, maxBuffered: 10_000 };

describe('queue limits', () => {
  it('lets a webhook queue up to its cap while the shared buffer has room', () => {
    expect(mayQueue(limits, 0, 0)).toBe(true);
    expect(mayQueue(limits, 999, 5000)).toBe(true);
    expect(mayQueue(limits, 1000, 5000)).toBe(false);
  });

  it('past 90 % of the shared buffer, lets a webhook queue a tenth of its cap, at least one task', () => {
    expect(roomFor(limits, 8999)).toBe(1000);
    expect(roomFor(limits, 9000)).toBe(100);
    expect(mayQueue(limits, 99, 9500)).toBe(true);
    expect(mayQueue(limits, 100, 9500)).toBe(false);
    expect(roomFor({ maxQueuedPerWebhook: 5, maxBuffered: 40 }, 39)).toBe(1);
  });

  it('reads deferred tasks again once half the room is free, counting the task that is ending', () => {
    expect(shouldReadAgain(limits, 502, 0)).toBe(false);
    expect(shouldReadAgain(limits, 501, 0)).toBe(true);
    // Under pressure: half of a tenth.
    expect(shouldReadAgain(limits, 52, 9500)).toBe(false);
    expect(shouldReadAgain(limits, 51, 9500)).toBe(true);
    // A queue of one: its last task ending leaves room for the next.
    expect(shouldReadAgain({ maxQueuedPerWebhook: 1, maxBuffered: 100 }, 1, 0)).toBe(true);
  });

  it('lets a held webhook queue a hundredth of its cap, and only the task it runs once the buffer is nearly full', () => {
    expect(roomFor(limits, 0, true)).toBe(10);
    expect(mayQueue(limits, 9, 0, true)).toBe(true);
    expect(mayQueue(limits, 10, 0, true)).toBe(false);
    expect(roomFor(limits, 9000, true)).toBe(1);
    expect(mayQueue(limits, 1, 9000, true)).toBe(false);
    // Small caps: never less than the task it runs.
    expect(roomFor({ maxQueuedPerWebhook: 10, maxBuffered: 40 }, 0, true)).toBe(1);
    // Seventy held webhooks keep 700 of the 10,000 together, not 7,000.
    expect(70 * roomFor(limits, 0, true)).toBeLessThan(limits.maxBuffered * 0.1);
    // Read again at half the held room: every fifth task's end.
    expect(shouldReadAgain(limits, 7, 0, true)).toBe(false);
    expect(shouldReadAgain(limits, 6, 0, true)).toBe(true);
    expect(shouldReadAgain(limits, 1, 9500, true)).toBe(true);
  });
});
