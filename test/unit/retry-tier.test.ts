import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { LATEST_PLAUSIBLE_DUE_MS, retryDueAt, RETRY_DUE_AT_HEADER } from '../../connector/delivery/retry-tier.js';

const message = (headers?: Record<string, string | Buffer>): KafkaMessage => ({ key: null, value: null, offset: '0', timestamp: '0', attributes: 0, ...(headers ? { headers } : {}) }) as KafkaMessage;

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

  it('a due time further ahead than any configuration writes is due now: the partition would wait on it for good', () => {
    const now = 1_790_000_000_000;
    const sixDays = now + 6 * 24 * 3600 * 1000;
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: String(sixDays) }), now)).toBe(sixDays);
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: String(now + LATEST_PLAUSIBLE_DUE_MS) }), now)).toBe(now + LATEST_PLAUSIBLE_DUE_MS);
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: String(now + LATEST_PLAUSIBLE_DUE_MS + 1) }), now)).toBe(now);
    // Seconds written as milliseconds, times a thousand: 56,000 years ahead.
    expect(retryDueAt(message({ [RETRY_DUE_AT_HEADER]: String(now * 1000) }), now)).toBe(now);
  });
});
