import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { memoizedKeyPartitioner } from '../../connector/kafka/partitioner.js';

const metadata = (count: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));

describe('memoizedKeyPartitioner', () => {
  it('gives the Java-compatible default partition for every key, first time and remembered', () => {
    const memoized = memoizedKeyPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    for (const count of [1, 3, 12, 50]) {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 500; i++) {
          const args = { topic: 'tasks', partitionMetadata: metadata(count), message: { key: `webhook-${i}`, value: 'x' } };
          expect(memoized(args)).toBe(reference(args));
        }
      }
    }
  });

  it('forgets remembered keys when the partition count changes', () => {
    const memoized = memoizedKeyPartitioner();
    const reference = Partitioners.DefaultPartitioner();
    const keys = Array.from({ length: 200 }, (_, i) => `wh-${i}`);
    for (const key of keys) memoized({ topic: 't', partitionMetadata: metadata(3), message: { key, value: null } });
    const moved = keys.filter((key) => {
      const args = { topic: 't', partitionMetadata: metadata(7), message: { key, value: null } };
      return memoized(args) !== reference({ ...args, partitionMetadata: metadata(3) });
    });
    // With 7 partitions instead of 3 most keys hash elsewhere; a stale cache would keep all of them put.
    expect(moved.length).toBeGreaterThan(100);
    for (const key of keys) {
      const args = { topic: 't', partitionMetadata: metadata(7), message: { key, value: null } };
      expect(memoized(args)).toBe(reference(args));
    }
  });

  it('keeps an explicit partition and spreads keyless records', () => {
    const memoized = memoizedKeyPartitioner();
    expect(memoized({ topic: 't', partitionMetadata: metadata(12), message: { key: 'k', partition: 9, value: null } })).toBe(9);
    const seen = new Set(Array.from({ length: 24 }, () => memoized({ topic: 't', partitionMetadata: metadata(12), message: { value: null } })));
    expect(seen.size).toBeGreaterThan(1);
  });
});
