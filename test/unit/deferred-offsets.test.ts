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
});
