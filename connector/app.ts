import type { ConnectorConfig } from '../config/load.js';
import { readerSchemas } from '../schemas/avro/index.js';
import { createPool } from './db/pool.js';
import { createDeliverer } from './delivery/deliverer.js';
import { createHttpSender } from './delivery/http-sender.js';
import { createSsrfGuard } from './delivery/ssrf-guard.js';
import { loadEventCatalog } from './events/catalog.js';
import { createAvroDecoder } from './ingest/decode.js';
import { createRouter } from './ingest/router.js';
import { createKafka } from './kafka/client.js';
import { createSchemaRegistryClient } from './kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from './kafka/topics.js';
import type { Logger } from './observability/logger.js';
import type { ReadinessCheck } from './observability/server.js';
import { createSecretBox } from './security/encryption.js';
import { createSubscriptionStore } from './subscriptions/subscription-store.js';
import { createTargetCache } from './subscriptions/target-cache.js';

export type Role = 'router' | 'deliverer';

/** A running part of the connector; `stop` runs in reverse start order. */
export interface RunningPart {
  name: string;
  stop(): Promise<void>;
}

export interface RunningRole {
  parts: RunningPart[];
  /** What /readyz asks: the dependencies this role needs. */
  checks: Record<string, ReadinessCheck>;
}

/**
 * Assembles and starts one role from configuration. Every dependency is made
 * here and passed down explicitly; nothing below reads config or env itself.
 */
export async function startRole(role: Role, config: Readonly<ConnectorConfig>, log: Logger): Promise<RunningRole> {
  const parts: RunningPart[] = [];
  const pool = createPool({ url: config.database.url, max: config.database.poolSize, applicationName: `identity-webhooks-${role}` }, log);
  parts.push({ name: 'postgres pool', stop: () => pool.end() });
  const kafka = createKafka(config.kafka, log, role);
  try {
    await ensureTopics(kafka, connectorTopics(config), config.topics.replicationFactor);
    if (role === 'router') {
      const subscriptions = createSubscriptionStore({ pool, log: log.child({ component: 'subscriptions' }), reloadIntervalMs: 60_000 });
      await subscriptions.start();
      parts.push({ name: 'subscription store', stop: () => subscriptions.stop() });
      const registry = createSchemaRegistryClient(config.schemaRegistry);
      const schemas = readerSchemas();
      const decoders = new Map([
        [config.topics.userEvents, createAvroDecoder(registry, schemas.user)],
        [config.topics.groupEvents, createAvroDecoder(registry, schemas.group)],
        [config.topics.authEvents, createAvroDecoder(registry, schemas.auth)],
      ]);
      const router = createRouter({
        kafka,
        catalog: loadEventCatalog(),
        subscriptions,
        decoders,
        groupId: config.router.groupId,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        transactionalId: config.router.transactionalId,
        deliveriesTopic: config.topics.deliveries,
        ingestDlqTopic: config.topics.ingestDlq,
        log: log.child({ component: 'router' }),
      });
      await router.start();
      parts.push({ name: 'router', stop: () => router.stop() });
    } else {
      const sender = createHttpSender({
        allowPlainHttp: config.http.allowPlainHttp,
        connectTimeoutMs: config.http.connectTimeoutMs,
        requestTimeoutMs: config.http.requestTimeoutMs,
        maxResponseBytes: config.http.maxResponseBytes,
        guard: createSsrfGuard(config.http.ssrfAllowlist),
      });
      parts.push({ name: 'http sender', stop: () => sender.close() });
      const deliverer = createDeliverer({
        kafka,
        pool,
        targets: createTargetCache({ pool, box: createSecretBox(config.secrets.encryptionKey), ttlMs: 5000 }),
        sender,
        groupId: config.deliverer.groupId,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        deliveriesTopic: config.topics.deliveries,
        deliveriesDlqTopic: config.topics.deliveriesDlq,
        partitionsConcurrently: Math.max(1, Math.min(config.deliverer.maxInFlight, config.topics.deliveriesPartitions)),
        userAgent: config.http.userAgent,
        log: log.child({ component: 'deliverer' }),
      });
      await deliverer.start();
      parts.push({ name: 'deliverer', stop: () => deliverer.stop() });
    }
  } catch (error) {
    await stopParts(parts, log);
    throw error;
  }
  const checks: Record<string, ReadinessCheck> = {
    postgres: async () => void (await pool.query('SELECT 1')),
    kafka: async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    },
  };
  if (role === 'router') {
    checks['schemaRegistry'] = async () => {
      const response = await fetch(`${config.schemaRegistry.url.replace(/\/$/, '')}/subjects`, { signal: AbortSignal.timeout(3000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    };
  }
  return { parts, checks };
}

/** Stops parts newest first: consumers stop before the pools they use close. */
export async function stopParts(parts: RunningPart[], log: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
      log.debug({ part: part.name }, 'stopped');
    } catch (error) {
      log.warn({ err: error, part: part.name }, 'error while stopping');
    }
  }
}
