import type { Kafka } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import { tierLabels } from '../delivery/retry-schedule.js';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
}

/** The topics the connector owns (source topics belong to the identity platform). */
export function connectorTopics(config: ConnectorConfig): TopicSpec[] {
  const { topics } = config;
  return [
    { topic: topics.deliveries, numPartitions: topics.deliveriesPartitions },
    { topic: topics.ingestDlq, numPartitions: 1 },
    { topic: topics.deliveriesDlq, numPartitions: 1 },
    { topic: topics.attempts, numPartitions: topics.deliveriesPartitions },
    { topic: topics.attemptsDlq, numPartitions: 1 },
    ...retryTopics(config).map((topic) => ({ topic, numPartitions: topics.deliveriesPartitions })),
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
