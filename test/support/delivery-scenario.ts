import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { loadConfig, type ConnectorConfig } from '../../config/load.js';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { throwFatal } from '../../connector/lifecycle.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { bySize } from '../../connector/kafka/by-size.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger, type Logger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook, type NewWebhook } from '../../connector/subscriptions/repository.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import type { ServiceEndpoints } from './provide-services.js';
import { forgetWebhookEvents, testEnv, uniqueName } from './harness.js';

export interface DeliveryScenario {
  env: Record<string, string>;
  config: Readonly<ConnectorConfig>;
  kafka: Kafka;
  pool: Pool;
  log: Logger;
  organization: string;
  /** A webhook pointing at a fresh receiver on 127.0.0.1. */
  addWebhook(overrides?: Partial<NewWebhook>): Promise<{ id: string; receiver: Receiver; secret: string }>;
  /** Produces first-attempt tasks for a webhook, in order; returns them. */
  /** `count` tasks for the webhook, each payload `{ userId, seq }` plus `extra`. */
  produceTasks(webhookId: string, count: number, eventType?: string, extra?: Record<string, unknown>): Promise<DeliveryTask[]>;
  /** Where a task produced by produceTasks landed in the deliveries topic. */
  positionOf(taskId: string): { partition: number; offset: bigint } | undefined;
  /** Starts sink and deliverer; `onFatal` hears what would stop the process (default: thrown, failing the run). */
  startDeliverer(onFatal?: (error: unknown) => void): Promise<void>;
  /** Stops what startDeliverer started, in order (a restart is stopDeliverer, then startDeliverer). */
  stopDeliverer(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A deliverer with its own topics and groups, a fast retry schedule, and
 * tasks produced straight to its deliveries topic (the router is tested on
 * its own), so each test controls exactly what is sent where.
 */
export async function deliveryScenario(services: ServiceEndpoints, overrides: Record<string, string> = {}): Promise<DeliveryScenario> {
  const env = testEnv(services, {
    DELIVERER_RETRY_DELAYS_MS: '200,400,600',
    DELIVERER_RETRY_JITTER: '0',
    DELIVERER_BREAKER_FAILURE_THRESHOLD: '1000',
    ...overrides,
  });
  const config = loadConfig(env);
  const log = createRootLogger({ level: config.log.level });
  await migrateUp(config.database.url, log);
  const pool = createPool({ url: config.database.url, max: 3, applicationName: 'test' }, log);
  const kafka = createKafka(config.kafka, log, 'test');
  await ensureTopics(kafka, connectorTopics(config), 1);
  const box = createSecretBox(config.secrets.encryptionKey);
  const organization = uniqueName('org');
  const receivers: Receiver[] = [];
  const parts: RunningPart[] = [];
  const producer = createProducer(kafka);
  const positions = new Map<string, { partition: number; offset: bigint }>();
  await producer.connect();

  return {
    env,
    config,
    kafka,
    pool,
    log,
    organization,
    async addWebhook(extra = {}) {
      const receiver = await startReceiver();
      receivers.push(receiver);
      const secret = generateSigningSecret();
      const id = await insertWebhook(pool, box, {
        organization, name: uniqueName('hook'), url: receiver.url, eventTypes: ['*'], owner: 'test', verified: true, signingSecret: secret, ...extra,
      });
      return { id, receiver, secret };
    },
    async produceTasks(webhookId, count, eventType = 'USER_CREATED', extra = {}) {
      const tasks: DeliveryTask[] = Array.from({ length: count }, (_, i) => {
        const eventId = randomUUID();
        return {
          v: 1, taskId: taskIdFor(eventId, webhookId), webhookId, organization, attempt: 1, routedAt: Date.now(),
          event: { eventId, eventType, family: 'user', occurredAt: Date.now(), organization, actor: null, source: 'test', payload: { userId: `u-${i}`, seq: i, ...extra } },
        };
      });
      // In requests the topic takes; one key, so one partition: each run's tasks follow one another from its base offset.
      let sent = 0;
      for (const run of bySize(tasks.map((t) => ({ key: t.webhookId, value: encodeTask(t) })), config.topics.deliveriesMaxMessageBytes)) {
        const [landed] = await producer.send({ topic: config.topics.deliveries, messages: run });
        for (let i = 0; i < run.length; i++) positions.set(tasks[sent + i]!.taskId, { partition: landed!.partition, offset: BigInt(landed!.baseOffset!) + BigInt(i) });
        sent += run.length;
      }
      return tasks;
    },
    positionOf: (taskId) => positions.get(taskId),
    async startDeliverer(onFatal = throwFatal) {
      parts.push(...(await startRole('sink', config, log, onFatal)).parts);
      parts.push(...(await startRole('deliverer', config, log, onFatal)).parts);
    },
    async stopDeliverer() {
      await stopParts(parts.splice(0), log);
    },
    async close() {
      await stopParts(parts, log);
      await producer.disconnect();
      for (const receiver of receivers) await receiver.close();
      // Best effort: a test that cut Postgres off and failed before restoring it must report its own failure.
      await forgetWebhookEvents(pool, organization).catch((error: unknown) => log.warn({ err: error }, 'could not drop the recorded WEBHOOK_* events'));
      await pool.end();
    },
  };
}

/** The `seq` of each request's payload, in arrival order. */
export const seqs = (receiver: Receiver): number[] => receiver.requests.map((r) => (JSON.parse(r.body) as { payload: { seq: number } }).payload.seq);
