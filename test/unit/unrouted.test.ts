import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { unrouted } from '../../connector/ingest/router.js';

const at = (...offsets: number[]): KafkaMessage[] =>
  offsets.map((offset) => ({ offset: String(offset), key: null, value: null, timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage);
const offsetsOf = (messages: KafkaMessage[]): string[] => messages.map((m) => m.offset);

describe('unrouted: the records a new owner of a partition still has to route', () => {
  it('keeps every record when nothing was committed', () => {
    expect(offsetsOf(unrouted(at(0, 1, 2), null))).toEqual(['0', '1', '2']);
  });

  it('keeps every record when the batch starts at or past the committed offset', () => {
    const batch = at(5, 6);
    expect(unrouted(batch, 5n)).toBe(batch);
    expect(unrouted(batch, 3n)).toBe(batch);
  });

  it('drops the records below the committed offset: a previous owner routed them', () => {
    expect(offsetsOf(unrouted(at(3, 4, 5, 6), 5n))).toEqual(['5', '6']);
  });

  it('drops the whole batch when the previous owner committed past it', () => {
    expect(unrouted(at(0, 1, 2), 10n)).toEqual([]);
  });

  it('compares offsets as numbers, not strings', () => {
    expect(offsetsOf(unrouted(at(9, 10, 11), 10n))).toEqual(['10', '11']);
  });
});
