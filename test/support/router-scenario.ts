import type { Kafka } from 'kafkajs';
import type { ConnectorConfig } from '../../config/load.js';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { throwFatal } from '../../connector/lifecycle.js';
import { createKafka } from '../../connector/kafka/client.js';
import { ensureTopics } from '../../connector/kafka/topics.js';
import type { Logger } from '../../connector/observability/logger.js';
import { readTopic, type TopicReader } from './topic-reader.js';

export interface RouterScenario {
  kafka: Kafka;
  pool: Pool;
  /** What the router published to the deliveries topic, and to the ingest DLQ. */
  tasks: TopicReader;
  deadLetters: TopicReader;
  close(): Promise<void>;
}

/**
 * A router running in this process on the config's source topics (one
 * partition each, so order is kept), with readers of the topics it writes.
 * `beforeStart` runs once the source topics and the database are ready
 * (schemas, webhooks, topics made ahead of the connector).
 */
export async function startRouterScenario(
  config: Readonly<ConnectorConfig>,
  options: { log: Logger; routerLog?: Logger; beforeStart?: (scenario: { kafka: Kafka; pool: Pool }) => Promise<unknown> },
): Promise<RouterScenario> {
  const { log } = options;
  await migrateUp(config.database.url, log);
  const pool = createPool({ url: config.database.url, max: 2, applicationName: 'test' }, log);
  const kafka = createKafka(config.kafka, log, 'test');
  const { userEvents, groupEvents, authEvents } = config.topics;
  await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 1 })), 1);
  await options.beforeStart?.({ kafka, pool });
  const parts: RunningPart[] = [...(await startRole('router', config, options.routerLog ?? log, throwFatal)).parts];
  // After the router: it creates the connector's topics these read.
  const tasks = await readTopic(kafka, config.topics.deliveries);
  const deadLetters = await readTopic(kafka, config.topics.ingestDlq);
  return {
    kafka,
    pool,
    tasks,
    deadLetters,
    async close() {
      await stopParts(parts, log);
      await tasks.close();
      await deadLetters.close();
      await pool.end();
    },
  };
}
