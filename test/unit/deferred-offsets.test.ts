import { describe, expect, it } from 'vitest';
import { DeferredOffsets } from '../../connector/delivery/deferred-offsets.js';

describe('DeferredOffsets', () => {
  it('hands a webhook\'s deferred offsets back one at a time, in order, and only the next one', () => {
    const deferred = new DeferredOffsets();
    deferred.defer('a', 5n);
    deferred.defer('a', 9n);
    deferred.defer('b', 7n);
    expect(deferred.untaken).toBe(3);
    expect(deferred.nextOf('a')).toBe(5n);
    expect(deferred.take('a', 9n)).toBe(false);
    expect(deferred.take('a', 5n)).toBe(true);
    expect(deferred.take('a', 5n)).toBe(false);
    expect(deferred.nextOf('a')).toBe(9n);
    expect(deferred.untaken).toBe(2);
    expect([...deferred.waiting()]).toEqual([['a', 9n], ['b', 7n]]);
    expect(deferred.take('a', 9n)).toBe(true);
    expect(deferred.has('a')).toBe(false);
    expect(deferred.nextOf('a')).toBeNull();
    expect(deferred.has('b')).toBe(true);
  });

  it('keeps the commit below every task not finished, taken or still in Kafka', () => {
    const deferred = new DeferredOffsets();
    expect(deferred.lowestUnfinished()).toBeNull();
    deferred.defer('a', 5n);
    deferred.defer('a', 9n);
    deferred.defer('b', 7n);
    expect(deferred.lowestUnfinished()).toBe(5n);
    deferred.take('a', 5n);
    // Taken but not finished still holds the commit.
    expect(deferred.lowestUnfinished()).toBe(5n);
    deferred.finish('a', 5n);
    expect(deferred.lowestUnfinished()).toBe(7n);
    deferred.take('b', 7n);
    deferred.finish('b', 7n);
    expect(deferred.lowestUnfinished()).toBe(9n);
    deferred.take('a', 9n);
    deferred.finish('a', 9n);
    expect(deferred.lowestUnfinished()).toBeNull();
  });

  it('finishes offsets whose attempt-log writes are acknowledged out of order', () => {
    const deferred = new DeferredOffsets();
    for (const offset of [1n, 2n, 3n]) deferred.defer('a', offset);
    for (const offset of [1n, 2n, 3n]) deferred.take('a', offset);
    deferred.finish('a', 2n);
    deferred.finish('a', 3n);
    expect(deferred.lowestUnfinished()).toBe(1n);
    deferred.finish('a', 1n);
    expect(deferred.lowestUnfinished()).toBeNull();
  });

  it('stays correct across the compaction of a long finished prefix', () => {
    const deferred = new DeferredOffsets();
    for (let offset = 0n; offset < 5000n; offset += 2n) deferred.defer('a', offset);
    for (let offset = 0n; offset < 3000n; offset += 2n) {
      expect(deferred.take('a', offset)).toBe(true);
      deferred.finish('a', offset);
    }
    expect(deferred.lowestUnfinished()).toBe(3000n);
    expect(deferred.nextOf('a')).toBe(3000n);
    expect(deferred.untaken).toBe(1000);
  });

  it('forgets a partition handed to another owner, reporting what was left untaken', () => {
    const deferred = new DeferredOffsets();
    deferred.defer('a', 1n);
    deferred.defer('b', 2n);
    deferred.take('a', 1n);
    expect(deferred.clear()).toBe(1);
    expect(deferred.untaken).toBe(0);
    expect(deferred.lowestUnfinished()).toBeNull();
  });

  it('takes back a held webhook\'s queued tasks, latest first: taken ones become untaken, the others join before them', () => {
    const deferred = new DeferredOffsets();
    deferred.defer('a', 8n);
    deferred.defer('a', 9n);
    deferred.take('a', 8n);
    // Queued: 3 and 4 (never deferred), then 8 (read again); 9 still in Kafka.
    expect(deferred.giveBack('a', 8n)).toBe(true);
    expect(deferred.giveBack('a', 4n)).toBe(true);
    expect(deferred.giveBack('a', 3n)).toBe(true);
    expect(deferred.untaken).toBe(4);
    expect(deferred.lowestUnfinished()).toBe(3n);
    const order: bigint[] = [];
    for (let next = deferred.nextOf('a'); next !== null; next = deferred.nextOf('a')) {
      expect(deferred.take('a', next)).toBe(true);
      order.push(next);
    }
    expect(order).toEqual([3n, 4n, 8n, 9n]);
    for (const offset of order) deferred.finish('a', offset);
    expect(deferred.lowestUnfinished()).toBeNull();
  });

  it('refuses, changing nothing, an offset given back out of order', () => {
    const deferred = new DeferredOffsets();
    deferred.defer('a', 8n);
    deferred.defer('a', 9n);
    deferred.take('a', 8n);
    deferred.finish('a', 8n);
    // 8 is finished: it cannot be queued, so it cannot come back; 12 lies past 9, which is still in Kafka.
    expect(deferred.giveBack('a', 8n)).toBe(false);
    expect(deferred.giveBack('a', 12n)).toBe(false);
    expect(deferred.untaken).toBe(1);
    expect(deferred.nextOf('a')).toBe(9n);
    // A webhook never deferred takes any offset.
    expect(deferred.giveBack('b', 2n)).toBe(true);
    expect(deferred.nextOf('b')).toBe(2n);
  });
});
