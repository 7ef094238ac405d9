import { describe, expect, it } from 'vitest';
import { isProducerFenced, needsFreshProducers, rootCause } from '../../connector/kafka/consumer-crash.js';

/** The shape kafkajs gives up with: a retry error whose cause is the broker's answer. */
const wrapped = (type: string) => Object.assign(new Error('Producer attempted an operation with an old epoch'), { name: 'KafkaJSNonRetriableError', cause: Object.assign(new Error('inner'), { type, retriable: false }) });

describe('consumer crash classification', () => {
  it('finds the innermost cause', () => {
    const inner = new Error('inner');
    expect(rootCause(new Error('outer', { cause: new Error('middle', { cause: inner }) }))).toBe(inner);
    expect(rootCause(inner)).toBe(inner);
    expect(rootCause('text')).toBe('text');
  });

  it('knows a fenced transactional producer under kafkajs wrapping, and nothing else', () => {
    expect(isProducerFenced(wrapped('INVALID_PRODUCER_EPOCH'))).toBe(true);
    expect(isProducerFenced(wrapped('PRODUCER_FENCED'))).toBe(true);
    expect(isProducerFenced(wrapped('UNKNOWN_TOPIC_OR_PARTITION'))).toBe(false);
    expect(isProducerFenced(new Error('plain'))).toBe(false);
    expect(isProducerFenced(null)).toBe(false);
  });

  it('goes on with fresh producers when fenced or when the broker lost a producer\'s state, and stops on anything else', () => {
    for (const type of ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING', 'UNKNOWN_PRODUCER_ID', 'INVALID_TXN_STATE', 'OUT_OF_ORDER_SEQUENCE_NUMBER']) {
      expect(needsFreshProducers(wrapped(type)), type).toBe(true);
    }
    for (const error of [wrapped('TOPIC_AUTHORIZATION_FAILED'), wrapped('MESSAGE_TOO_LARGE'), new Error('plain'), null]) {
      expect(needsFreshProducers(error)).toBe(false);
    }
  });
});
