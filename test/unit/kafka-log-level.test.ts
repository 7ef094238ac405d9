import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLogCreator, kafkaLogLevel } from '../../connector/kafka/client.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createRepeatLimiter } from '../../connector/observability/repeat-limiter.js';

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

  it('writes a repeating warning once per window, then with the number held back; other lines as they come', () => {
    let clock = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = createRootLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    const write = kafkaLogCreator(log, createRepeatLimiter(1000, () => clock))(logLevel.DEBUG);
    const refused = { namespace: 'Connection', level: logLevel.ERROR, label: 'ERROR', log: { timestamp: '', message: 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', broker: '127.0.0.1:9092' } };
    for (let i = 0; i < 5; i += 1) write(refused);
    write({ namespace: 'Consumer', level: logLevel.INFO, label: 'INFO', log: { timestamp: '', message: 'Starting' } });
    write({ namespace: 'Consumer', level: logLevel.INFO, label: 'INFO', log: { timestamp: '', message: 'Starting' } });
    clock = 1000;
    write(refused);
    expect(lines.map((line) => [line['level'], line['msg'], line['repeatsHeldBack']])).toEqual([
      ['warn', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', undefined],
      ['debug', 'Starting', undefined],
      ['debug', 'Starting', undefined],
      ['warn', 'Connection error: connect ECONNREFUSED 127.0.0.1:9092', 4],
    ]);
  });
});
