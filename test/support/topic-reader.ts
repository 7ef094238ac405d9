import { randomUUID } from 'node:crypto';
import type { Consumer, ConsumerConfig, Kafka, KafkaMessage } from 'kafkajs';

export interface TopicReader {
  messages: KafkaMessage[];
  close(): Promise<void>;
}

/** Reads a topic from the beginning (committed transactions only) into memory, as a consumer would. */
export async function readTopic(kafka: Kafka, topic: string, options: Pick<ConsumerConfig, 'maxBytesPerPartition'> = {}): Promise<TopicReader> {
  const consumer: Consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, readUncommitted: false, ...options });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
  return { messages, close: () => consumer.disconnect() };
}

export const header = (message: KafkaMessage, name: string): string | undefined => message.headers?.[name]?.toString();
