import { describe, expect, it } from 'vitest';
import { mayQueue, refusedByPressureOnly, roomFor, shouldReadAgain } from '../../connector/delivery/queue-limits.js';

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

  it('tells a task refused only by the buffer\'s pressure from one refused by its webhook\'s cap or hold', () => {
    // Under pressure, past a tenth and under the cap: it would queue were the buffer less full.
    expect(refusedByPressureOnly(limits, 100, 9500)).toBe(true);
    expect(refusedByPressureOnly(limits, 999, 9500)).toBe(true);
    // It may queue: not refused at all.
    expect(refusedByPressureOnly(limits, 99, 9500)).toBe(false);
    expect(refusedByPressureOnly(limits, 500, 8999)).toBe(false);
    // At its cap: refused whatever the buffer holds.
    expect(refusedByPressureOnly(limits, 1000, 9500)).toBe(false);
    expect(refusedByPressureOnly(limits, 1000, 0)).toBe(false);
    // Held: its part of the buffer refuses it, not the pressure.
    expect(refusedByPressureOnly(limits, 100, 9500, 3)).toBe(false);
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

  it('gives held webhooks an equal part of half the buffer, at most a tenth of their cap, whatever the buffer holds', () => {
    // One held webhook: a tenth of its cap, as under pressure; the buffer's fill does not matter.
    expect(roomFor(limits, 0, 1)).toBe(100);
    expect(roomFor(limits, 9500, 1)).toBe(100);
    // Seventy held: 5,000 / 70 each, so together they keep under half the buffer, where a tenth each would be 7,000.
    expect(roomFor(limits, 0, 70)).toBe(71);
    expect(70 * roomFor(limits, 0, 70)).toBeLessThanOrEqual(limits.maxBuffered / 2);
    expect(mayQueue(limits, 70, 0, 70)).toBe(true);
    expect(mayQueue(limits, 71, 0, 70)).toBe(false);
    // Ten thousand held: still the task each runs.
    expect(roomFor(limits, 0, 10_000)).toBe(1);
    // Small caps: never less than the task it runs.
    expect(roomFor({ maxQueuedPerWebhook: 10, maxBuffered: 40 }, 0, 1)).toBe(1);
    // Read again at half the held room.
    expect(shouldReadAgain(limits, 37, 0, 70)).toBe(false);
    expect(shouldReadAgain(limits, 36, 0, 70)).toBe(true);
    expect(shouldReadAgain(limits, 1, 0, 10_000)).toBe(true);
  });
});
