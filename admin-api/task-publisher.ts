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

/**
 * How many times a publish is tried again before the request answers 503: about 10 s of tries (300 ms doubling).
 * kafkajs's idempotent producer retries for ever an error a broker answers with and says to retry (too few in-sync
 * replicas, a partition with no leader): while that lasts a request was never answered, and a client sending its
 * Idempotency-Key again after a minute (the claim then counts as abandoned) queued the tasks a second time once
 * Kafka took them. Brokers gone altogether already ended in a 503 (connection errors end kafkajs's tries).
 */
export const PUBLISH_RETRIES = 5;

/** `topicLimitBytes`: the deliveries topic's `max.message.bytes` (TOPIC_DELIVERIES_MAX_MESSAGE_BYTES). */
export async function createTaskPublisher(kafka: Kafka, topic: string, topicLimitBytes: number): Promise<TaskPublisher> {
  // Not idempotent, so its tries can be bounded (kafkajs ties idempotence to endless tries); one request in flight
  // keeps its order. A try whose answer was lost may write a task twice: it has the same task id, so the receiver
  // deduplicates it by webhook-id, as any redelivery.
  const producer: Producer = createProducer(kafka, { idempotent: false, maxInFlightRequests: 1, retry: { retries: PUBLISH_RETRIES } });
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
