import type { AddressInfo } from 'node:net';
import { buildAdminApp } from '../../admin-api/app.js';
import { createToken } from '../../admin-api/store/tokens.js';
import { createWebhookEventRelay } from '../../connector/subscriptions/webhook-events-relay.js';
import { createTaskPublisher, type TaskPublisher } from '../../admin-api/task-publisher.js';
import { createVerifier, type Verifier } from '../../admin-api/verification.js';
import type { ConnectorConfig } from '../../config/load.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { createHttpSender, type HttpSender } from '../../connector/delivery/http-sender.js';
import { createSsrfGuard } from '../../connector/delivery/ssrf-guard.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createKafka } from '../../connector/kafka/client.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger, type Logger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import type { FastifyInstance } from 'fastify';

/** A JSON answer, read field by field in assertions (a schema per response would only restate the API's own). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ApiJson = any;

export interface RunningAdminApi {
  /** Base URL, e.g. http://127.0.0.1:12345 */
  url: string;
  app: FastifyInstance;
  pool: Pool;
  config: Readonly<ConnectorConfig>;
  /** A token for `organization`, and a way to make more. */
  token: string;
  organization: string;
  tokenFor(organization: string, subject?: string): Promise<string>;
  /** fetch against the API with a token (default: this one), JSON in and out. */
  call(method: string, path: string, options?: { body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: ApiJson }>;
  close(): Promise<void>;
}

/**
 * The admin API as main runs it (real Postgres, real Kafka, real HTTP on
 * 127.0.0.1), built in the test process so tests can also read the pool.
 */
export interface StartAdminApiOptions {
  log?: Logger;
  /** Wraps the real verifier, e.g. so a fuzz test's challenges never leave 127.0.0.1. */
  verifier?: (real: Verifier) => Verifier;
}

export async function startAdminApi(config: Readonly<ConnectorConfig>, organization: string, options: StartAdminApiOptions = {}): Promise<RunningAdminApi> {
  const log = options.log ?? createRootLogger({ level: config.log.level });
  await migrateUp(config.database.url, log);
  const pool = createPool({ url: config.database.url, max: 5, applicationName: 'admin-api-test' }, log);
  const box = createSecretBox(config.secrets.encryptionKey, config.secrets.previousEncryptionKeys);
  const guard = createSsrfGuard(config.http.ssrfAllowlist);
  const sender: HttpSender = createHttpSender({ ...config.http, guard });
  const kafka = createKafka(config.kafka, log, 'admin-api-test');
  await ensureTopics(kafka, connectorTopics(config), config.topics.replicationFactor);
  const publisher: TaskPublisher = await createTaskPublisher(kafka, config.topics.deliveries, config.topics.deliveriesMaxMessageBytes);
  const realVerifier = createVerifier({ sender, box, userAgent: config.http.userAgent });
  const verifier = options.verifier ? options.verifier(realVerifier) : realVerifier;
  const { app, verifications } = await buildAdminApp(
    { config, pool, box, catalog: loadEventCatalog(), publisher, verifier, guard, log },
    { postgres: async () => void (await pool.query('SELECT 1')), kafka: () => publisher.check() },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  // As main runs it, polling faster: tests wait on what it delivers.
  const webhookEvents = createWebhookEventRelay({ pool, publish: publisher.publish, log: log.child({ component: 'webhook-events' }), intervalMs: 100 });
  webhookEvents.start();
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const tokenFor = async (org: string, subject = 'admin@example.com'): Promise<string> => (await createToken(pool, { organization: org, subject })).token;
  const token = await tokenFor(organization);

  return {
    url,
    app,
    pool,
    config,
    token,
    organization,
    tokenFor,
    async call(method, path, callOptions = {}) {
      const headers: Record<string, string> = { ...callOptions.headers };
      const bearer = callOptions.token === undefined ? token : callOptions.token;
      if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`;
      if (callOptions.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(url + path, { method, headers, body: callOptions.body === undefined ? undefined : JSON.stringify(callOptions.body) });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // Not JSON (metrics, docs): the text itself.
      }
      return { status: response.status, headers: response.headers, body };
    },
    async close() {
      await app.close();
      await verifications.drain();
      await webhookEvents.stop();
      await publisher.close();
      await sender.close();
      await pool.end();
    },
  };
}
