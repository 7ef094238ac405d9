import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { recordBytes } from '../../connector/kafka/record-size.js';

// kafkajs's own encoders: the bytes of a record batch as the producer sends it and the broker measures it.
const require = createRequire(import.meta.url);
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (record: object) => unknown;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (batch: object) => Promise<{ size(): number }> };

const batchBytes = async (message: { key: Buffer | null; value: Buffer | null; headers?: Record<string, string | string[]> }): Promise<number> =>
  (await RecordBatch({ records: [Record({ key: message.key, value: message.value, headers: message.headers ?? {}, timestampDelta: 0, offsetDelta: 0 })] })).size();

describe('recordBytes', () => {
  it('is never below the size of the record alone in a record batch', async () => {
    const cases = [
      { key: null, value: null },
      { key: Buffer.from('webhook-id'), value: Buffer.alloc(10) },
      { key: Buffer.alloc(36), value: Buffer.alloc(1_048_000) },
      { key: Buffer.alloc(36), value: Buffer.alloc(300), headers: { 'retry.due.at': '1790000000000', 'retry.reason': 'x'.repeat(1000), many: ['a', 'b', 'c'] } },
    ];
    for (const message of cases) {
      const actual = await batchBytes(message);
      expect(recordBytes(message)).toBeGreaterThanOrEqual(actual);
      // A bound close enough to decide a task 200 bytes under a limit.
      expect(recordBytes(message) - actual).toBeLessThan(160);
    }
  });

  it('counts string keys and values by their UTF-8 bytes', () => {
    expect(recordBytes({ key: 'é', value: 'ü'.repeat(10) }) - recordBytes({ key: null, value: null })).toBe(22);
  });
});
