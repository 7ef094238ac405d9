import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLogLevel } from '../../connector/kafka/client.js';

describe('kafkajs log levels', () => {
  it('keeps failures one level down from kafkajs (real ones reach us as errors)', () => {
    expect(kafkaLogLevel(logLevel.ERROR, { message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092' })).toBe('warn');
    expect(kafkaLogLevel(logLevel.WARN, { message: 'Retrying' })).toBe('info');
  });

  it('logs CONCURRENT_TRANSACTIONS answers, routine between back-to-back transactions, at debug', () => {
    const error = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';
    expect(kafkaLogLevel(logLevel.ERROR, { message: 'Response AddPartitionsToTxn(key: 24, version: 1)', error })).toBe('debug');
    expect(kafkaLogLevel(logLevel.ERROR, { message: `Failed to send messages: ${error}` })).toBe('debug');
  });
});
