import type { KafkaMessage, Message } from 'kafkajs';
import type { ConnectorError } from '../errors.js';

/**
 * A record that cannot be processed, kept for inspection and replay: its key,
 * value and headers (or, where only part of it failed, that part in its
 * place), plus where it came from and why it failed.
 */
export function deadLetterOf(
  source: { topic: string; partition: number; message: KafkaMessage },
  error: ConnectorError,
  content: Pick<Message, 'key' | 'value'> = source.message,
): Message {
  const { topic, partition, message } = source;
  return {
    key: content.key,
    value: content.value,
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
