import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { poison } from '../../connector/errors.js';
import { deadLetterOf } from '../../connector/kafka/dead-letter.js';
import { recordBytes } from '../../connector/kafka/record-size.js';

describe('deadLetterOf', () => {
  const source = (value: Buffer) => ({
    topic: 'identity.user-events', partition: 2,
    message: { key: Buffer.from('k'), value, headers: { origin: 'idp' }, offset: '41', timestamp: '1790000000000', attributes: 0 } as KafkaMessage,
  });
  const error = poison('NOT_AVRO_WIRE_FORMAT', 'no magic byte');

  it('keeps the record, its headers, where it came from and why it failed', () => {
    const letter = deadLetterOf(source(Buffer.from('abc')), error, undefined, 10_000);
    expect(letter.value?.toString()).toBe('abc');
    expect(letter.headers).toMatchObject({
      origin: 'idp', 'dlq.source.topic': 'identity.user-events', 'dlq.source.partition': '2', 'dlq.source.offset': '41', 'dlq.error.code': 'NOT_AVRO_WIRE_FORMAT',
    });
    expect(letter.headers?.['dlq.value.omitted.bytes']).toBeUndefined();
  });

  it('sends null header values (which kafkajs reads but cannot send) as empty, naming them, repeated ones too', () => {
    const message = { ...source(Buffer.from('abc')).message, headers: { trace: null, hops: [Buffer.from('a'), null], origin: 'idp' } } as unknown as KafkaMessage;
    const letter = deadLetterOf({ ...source(Buffer.from('abc')), message }, error, undefined, 10_000);
    expect(letter.headers).toMatchObject({ trace: Buffer.alloc(0), hops: [Buffer.from('a'), Buffer.alloc(0)], origin: 'idp', 'dlq.null.headers': 'trace,hops' });
    expect(Object.values(letter.headers!).flat().every((value) => value !== null && value !== undefined)).toBe(true);
  });

  it('leaves out a value that would pass the dead-letter topic\'s limit, saying how large it was', () => {
    const letter = deadLetterOf(source(Buffer.alloc(50_000)), error, undefined, 10_000);
    expect(letter.value).toBeNull();
    expect(letter.headers).toMatchObject({ 'dlq.value.omitted.bytes': '50000', 'dlq.source.offset': '41', 'dlq.error.code': 'NOT_AVRO_WIRE_FORMAT' });
    expect(recordBytes(letter)).toBeLessThanOrEqual(10_000);
  });

  it('leaves out the record\'s own headers too, then its key, when the letter is still too large, and keeps why it failed', () => {
    const heavy = (key: Buffer) => ({
      topic: 'identity.user-events', partition: 2,
      message: { key, value: Buffer.alloc(100), headers: { trace: Buffer.alloc(30_000), origin: 'idp' }, offset: '41', timestamp: '1790000000000', attributes: 0 } as KafkaMessage,
    });
    const withoutHeaders = deadLetterOf(heavy(Buffer.from('k')), error, undefined, 10_000);
    expect(recordBytes(withoutHeaders)).toBeLessThanOrEqual(10_000);
    expect(withoutHeaders.key?.toString()).toBe('k');
    expect(withoutHeaders.headers).not.toHaveProperty('trace');
    expect(withoutHeaders.headers).toMatchObject({ 'dlq.value.omitted.bytes': '100', 'dlq.error.code': 'NOT_AVRO_WIRE_FORMAT', 'dlq.source.offset': '41' });
    expect(Number(withoutHeaders.headers!['dlq.headers.omitted.bytes'])).toBeGreaterThan(30_000);

    const withoutKey = deadLetterOf(heavy(Buffer.alloc(20_000)), error, undefined, 10_000);
    expect(recordBytes(withoutKey)).toBeLessThanOrEqual(10_000);
    expect(withoutKey.key).toBeNull();
    expect(withoutKey.headers).toMatchObject({ 'dlq.key.omitted.bytes': '20000', 'dlq.error.code': 'NOT_AVRO_WIRE_FORMAT' });
  });
});
