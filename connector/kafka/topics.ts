import type { Kafka } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import { tierLabels } from '../delivery/retry-schedule.js';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
}

/**
 * The largest message each of the connector's topics takes, from the task
 * limit. A task becomes bigger on every hop after the deliveries topic: a
 * retry or a dead letter is the task plus headers; an attempt record is its
 * event plus the request frame and up to 64 KiB of response; a refused
 * attempt row's dead letter holds the payload twice (in the event and in the
 * request body). Each hop's topic has room for what the hop before can
 * produce, so a task the deliveries topic took is never refused further on,
 * where it could only be retried forever.
 */
export function topicMessageLimits(config: ConnectorConfig): { deliveries: number; downstream: number; attemptsDlq: number } {
  const task = config.topics.deliveriesMaxMessageBytes;
  return { deliveries: task, downstream: 2 * task, attemptsDlq: 4 * task };
}

const maxMessageBytes = (bytes: number): TopicSpec['configEntries'] => [{ name: 'max.message.bytes', value: String(bytes) }];

/** The topics the connector owns (source topics belong to the identity platform). */
export function connectorTopics(config: ConnectorConfig): TopicSpec[] {
  const { topics } = config;
  const limits = topicMessageLimits(config);
  const downstream = maxMessageBytes(limits.downstream);
  return [
    { topic: topics.deliveries, numPartitions: topics.deliveriesPartitions, configEntries: maxMessageBytes(limits.deliveries) },
    { topic: topics.ingestDlq, numPartitions: 1, configEntries: downstream },
    { topic: topics.deliveriesDlq, numPartitions: 1, configEntries: downstream },
    { topic: topics.attempts, numPartitions: topics.deliveriesPartitions, configEntries: downstream },
    { topic: topics.attemptsDlq, numPartitions: 1, configEntries: maxMessageBytes(limits.attemptsDlq) },
    ...retryTopics(config).map((topic) => ({ topic, numPartitions: topics.deliveriesPartitions, configEntries: downstream })),
  ];
}

/** One retry topic per distinct delay of the schedule, e.g. `webhooks.deliveries.retry.5m`. */
export function retryTopics(config: ConnectorConfig): string[] {
  return tierLabels({ delaysMs: config.deliverer.retryDelaysMs, jitter: 0, maxRetryAfterMs: 0 }).map((label) => retryTopic(config, label));
}

export function retryTopic(config: ConnectorConfig, tierLabel: string): string {
  return `${config.topics.retryPrefix}.${tierLabel}`;
}

/**
 * Creates missing topics; existing ones are left as they are. A broker that
 * has just started may still answer with retriable errors (an unknown
 * partition, no leader yet) while it loads; those are retried for a while.
 */
export async function ensureTopics(kafka: Kafka, specs: TopicSpec[], replicationFactor: number, timeoutMs = 60_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const existing = new Set(await admin.listTopics());
        const missing = specs.filter((spec) => !existing.has(spec.topic));
        if (missing.length > 0) {
          await admin.createTopics({ waitForLeaders: true, topics: missing.map((spec) => ({ ...spec, replicationFactor })) });
        }
        return;
      } catch (error) {
        if (!(error as { retriable?: boolean }).retriable || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
