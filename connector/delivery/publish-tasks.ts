import type { Producer } from 'kafkajs';
import { bySize } from '../kafka/by-size.js';
import { encodeTask, type DeliveryTask } from './task.js';

/** Puts delivery tasks on a deliveries topic, as the routers do: keyed by webhook, so each lands in its webhook's partition. */
export type PublishTasks = (tasks: DeliveryTask[]) => Promise<void>;

/**
 * Tasks produced outside the router (redeliveries, recoveries, test events,
 * WEBHOOK_* change events) through an idempotent producer, written by all
 * in-sync replicas before it resolves. `topicLimitBytes` is the topic's
 * `max.message.bytes`: sent in requests the broker takes whole, since one
 * webhook's tasks share a partition and a recovery of thousands in one request
 * passed the limit and was refused every time.
 */
export function taskPublishing(producer: Producer, topic: string, topicLimitBytes: number): PublishTasks {
  return async (tasks) => {
    const messages = tasks.map((task) => ({ key: task.webhookId, value: encodeTask(task) }));
    for (const run of bySize(messages, topicLimitBytes)) await producer.send({ topic, acks: -1, messages: run });
  };
}
