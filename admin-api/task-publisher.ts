import type { Kafka, Producer } from 'kafkajs';
import { createProducer } from '../connector/kafka/client.js';
import { taskPublishing } from '../connector/delivery/publish-tasks.js';
import type { DeliveryTask } from '../connector/delivery/task.js';

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
  // Idempotent, and still its tries end: Kafka#producer passes kafkajs's cluster retry settings ({} unless set), so
  // the endless retries kafkajs gives an idempotent producer by default never apply, and its 5 tries do (about 10 s).
  // With the brokers out of reach the request then answers 503 (test/integration/admin-api-kafka-outage.test.ts).
  const producer: Producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  return {
    publish: taskPublishing(producer, topic, topicLimitBytes),
    async check() {
      await admin.describeCluster();
    },
    async close() {
      await admin.disconnect();
      await producer.disconnect();
    },
  };
}
