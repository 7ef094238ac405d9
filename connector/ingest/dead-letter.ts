import type { KafkaMessage, Message } from 'kafkajs';
import type { ConnectorError } from '../errors.js';

/**
 * A source record that cannot be routed, kept whole for inspection and replay:
 * original key, value and headers, plus where it came from and why it failed.
 */
export function ingestDeadLetter(source: { topic: string; partition: number; message: KafkaMessage }, error: ConnectorError): Message {
  const { topic, partition, message } = source;
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      'dlq.source.topic': topic,
      'dlq.source.partition': String(partition),
      'dlq.source.offset': message.offset,
      'dlq.source.timestamp': message.timestamp,
      'dlq.error.code': error.code,
      'dlq.error.message': error.message.slice(0, 1000),
      'dlq.failed.at': new Date().toISOString(),
    },
  };
}
