import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { LATEST_PLAUSIBLE_DUE_MS, retryDueAt, RETRY_DUE_AT_HEADER } from '../../connector/delivery/retry-tier.js';

const message = (headers?: Record<string, string | Buffer>): KafkaMessage => ({ key: null, value: null, offset: '0', timestamp: '1790000000000', attributes: 0, ...(headers ? { headers } : {}) }) as KafkaMessage;

describe('retry tier: when a record is due', () => {
  it('reads the due time the deliverer wrote, as text or bytes', () => {
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: '1790000000123' }))).toBe(1_790_000_000_123);
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: Buffer.from('1790000000123') }))).toBe(1_790_000_000_123);
  });

  it('a record without a due time, or with one that is not a number, is due at once rather than never', () => {
    expect(retryDueAt(message(undefined))).toBe(0);
    expect(retryDueAt(message({}))).toBe(0);
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: 'soon' }))).toBe(0);
  });

  it('a due time further ahead of its writing than any configuration writes is due then: the partition would wait on it for good', () => {
    const writtenAt = 1_790_000_000_000;
    const at = (dueAt: number): KafkaMessage => ({ ...message({ [RETRY_DUE_AT_HEADER]: String(dueAt) }), timestamp: String(writtenAt) });
    const sixDays = writtenAt + 6 * 24 * 3600 * 1000;
    expect(retryDueAt(at(sixDays))).toBe(sixDays);
    expect(retryDueAt(at(writtenAt + LATEST_PLAUSIBLE_DUE_MS))).toBe(writtenAt + LATEST_PLAUSIBLE_DUE_MS);
    expect(retryDueAt(at(writtenAt + LATEST_PLAUSIBLE_DUE_MS + 1))).toBe(writtenAt);
    // Seconds written as milliseconds, times a thousand: 56,000 years ahead.
    expect(retryDueAt(at(writtenAt * 1000))).toBe(writtenAt);
    // Written by a clock far ahead, its timestamp agreeing: judged from now.
    const ahead = writtenAt + 30 * 24 * 3600 * 1000;
    const skewed: KafkaMessage = { ...message({ [RETRY_DUE_AT_HEADER]: String(ahead + 5000) }), timestamp: String(ahead) };
    expect(retryDueAt(skewed, writtenAt)).toBe(writtenAt);
    expect(retryDueAt(skewed, ahead)).toBe(ahead + 5000);
  });
});
