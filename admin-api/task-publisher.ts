import type { Kafka, Producer } from 'kafkajs';
import { bySize } from '../connector/kafka/by-size.js';
import { createProducer } from '../connector/kafka/client.js';
import { encodeTask, type DeliveryTask } from '../connector/delivery/task.js';

/**
 * The admin API never sends events itself: redeliveries, recoveries and test
 * events become delivery tasks on the deliveries topic, keyed by webhook, so
 * they take the same path (order, retries, signing, log) as routed events.
 */
export interface TaskPublisher {
  publish(tasks: DeliveryTask[]): Promise<void>;
  /** Resolves when the broker answers metadata requests (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** `topicLimitBytes`: the deliveries topic's `max.message.bytes` (TOPIC_DELIVERIES_MAX_MESSAGE_BYTES). */
export async function createTaskPublisher(kafka: Kafka, topic: string, topicLimitBytes: number): Promise<TaskPublisher> {
  const producer: Producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  return {
    async publish(tasks) {
      // In requests the broker takes whole: one webhook's tasks share a partition, and a recovery of thousands in one
      // request passed the topic's message limit and was refused every time.
      const messages = tasks.map((task) => ({ key: task.webhookId, value: encodeTask(task) }));
      for (const run of bySize(messages, topicLimitBytes)) await producer.send({ topic, acks: -1, messages: run });
    },
    async check() {
      await admin.describeCluster();
    },
    async close() {
      await admin.disconnect();
      await producer.disconnect();
    },
  };
}
