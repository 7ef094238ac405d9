import { describe, expect, it } from 'vitest';
import { sendOffsetsRetrying } from '../../connector/ingest/router.js';

const offsets = { consumerGroupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }] };
const concurrent = Object.assign(new Error('another concurrent operation on the same transaction'), { type: 'CONCURRENT_TRANSACTIONS' });

describe('sendOffsetsRetrying', () => {
  it('retries while the broker answers CONCURRENT_TRANSACTIONS, then succeeds', async () => {
    let calls = 0;
    const sendOffsets = async (): Promise<void> => {
      calls += 1;
      if (calls < 3) throw concurrent;
    };
    await sendOffsetsRetrying({ sendOffsets }, offsets);
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const other = Object.assign(new Error('fenced'), { type: 'INVALID_PRODUCER_EPOCH' });
    await expect(sendOffsetsRetrying({ sendOffsets: () => (calls++, Promise.reject(other)) }, offsets)).rejects.toBe(other);
    expect(calls).toBe(1);
  });

  it('gives up after the given number of retries', async () => {
    let calls = 0;
    await expect(sendOffsetsRetrying({ sendOffsets: () => (calls++, Promise.reject(concurrent)) }, offsets, 2)).rejects.toBe(concurrent);
    expect(calls).toBe(3);
  });
});
