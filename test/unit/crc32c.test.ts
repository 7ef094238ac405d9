import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
// First, as in the connector's modules: kafkajs must load after it.
import { crc32c, useFastCrc32cInKafkajs } from '../../connector/kafka/crc32c.js';
import { createKafka } from '../../connector/kafka/client.js';

const require = createRequire(import.meta.url);
/** kafkajs's own checksum, a byte at a time: the reference. */
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (bytes: Uint8Array) => number;

describe('crc32c', () => {
  it('gives the standard check value and kafkajs\'s result for every length around the 8-byte steps', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    for (let length = 0; length < 70; length += 1) {
      const bytes = randomBytes(length);
      expect(crc32c(bytes)).toBe(kafkajsCrc32c(bytes));
    }
    for (const length of [1000, 4093, 65_536, 131_071]) {
      const bytes = randomBytes(length);
      expect(crc32c(bytes)).toBe(kafkajsCrc32c(bytes));
      // A view into a larger buffer, as kafkajs's encoder hands over.
      expect(crc32c(bytes.subarray(3, length - 5))).toBe(kafkajsCrc32c(bytes.subarray(3, length - 5)));
    }
  });

  it('is the checksum kafkajs encodes record batches with, once the connector\'s Kafka client is loaded', () => {
    expect(typeof createKafka).toBe('function');
    expect(require('kafkajs/src/protocol/recordBatch/crc32C/index.js')).toBe(crc32c);
    expect(useFastCrc32cInKafkajs()).toBe(true);
  });
});
