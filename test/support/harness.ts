import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig, type ConnectorConfig } from '../../config/load.js';
import type { Pool } from '../../connector/db/pool.js';
import type { ServiceEndpoints } from './provide-services.js';

/**
 * Drops the WEBHOOK_* events an organization's changes recorded (the connector disabling a webhook, the admin store's
 * writes) in a file where no admin API relays them: every test file shares one Postgres, and a later file's relay
 * would send them to this organization's webhooks, whose endpoints are gone by then.
 */
export async function forgetWebhookEvents(pool: Pool, organization: string): Promise<void> {
  await pool.query('DELETE FROM webhook_admin_events WHERE organization = $1', [organization]);
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * The environment of one test's connector: the run's services, and topic and
 * group names of its own so tests never see each other's records. Child
 * processes get exactly this environment.
 */
export function testEnv(services: ServiceEndpoints, overrides: Record<string, string> = {}): Record<string, string> {
  const id = randomUUID().slice(0, 8);
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'error',
    KAFKA_BROKERS: services.kafkaBrokers.join(','),
    KAFKA_SESSION_TIMEOUT_MS: '8000',
    SCHEMA_REGISTRY_URL: services.schemaRegistryUrl,
    DATABASE_URL: services.databaseUrl,
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    TOPIC_REPLICATION_FACTOR: '1',
    TOPIC_DELIVERIES_PARTITIONS: '4',
    TOPIC_USER_EVENTS: `t-${id}.identity.user-events`,
    TOPIC_GROUP_EVENTS: `t-${id}.identity.group-events`,
    TOPIC_AUTH_EVENTS: `t-${id}.identity.auth-events`,
    TOPIC_DELIVERIES: `t-${id}.webhooks.deliveries`,
    TOPIC_INGEST_DLQ: `t-${id}.webhooks.ingest.dlq`,
    TOPIC_DELIVERIES_DLQ: `t-${id}.webhooks.deliveries.dlq`,
    TOPIC_ATTEMPTS_DLQ: `t-${id}.webhooks.attempts.dlq`,
    TOPIC_ATTEMPTS: `t-${id}.webhooks.attempts`,
    TOPIC_RETRY_PREFIX: `t-${id}.webhooks.deliveries.retry`,
    ROUTER_GROUP_ID: `t-${id}-router`,
    DELIVERER_GROUP_ID: `t-${id}-deliverer`,
    ATTEMPTS_SINK_GROUP_ID: `t-${id}-sink`,
    HTTP_ALLOW_PLAIN_HTTP: 'true',
    HTTP_SSRF_ALLOWLIST: '127.0.0.1',
    SERVER_PORT: '0',
    ...overrides,
  };
}

export function testConfig(services: ServiceEndpoints, overrides: Record<string, string> = {}): Readonly<ConnectorConfig> {
  return loadConfig(testEnv(services, overrides));
}
