import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config/load.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask, taskIdFor } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createKafka } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { produceEvents, registerSchemas, sampleEvent, type IdentityEventRecord } from '../../scripts/lib/sample-events.js';
import { spawnConnector, type ConnectorProcess } from '../support/connector-process.js';
import { testEnv, uniqueName } from '../support/harness.js';
import { startOwnKafka, type OwnKafka } from '../support/provide-services.js';
import { readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

const log = createRootLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'error' });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OUTAGE_MS = 20_000;

/**
 * The broker restarts while the connector routes and delivers: its clients
 * lose every connection, in-flight transactions, produce requests and offset
 * commits fail, and the group coordinator comes back from its log. The
 * restart is of a broker of this test's own, so the rest of the run keeps
 * the shared one.
 */
describe('a broker restart', () => {
  const services = inject('services');
  let broker: OwnKafka | undefined;
  let pool: Pool | undefined;
  let receiver: Receiver | undefined;
  let connector: ConnectorProcess | undefined;
  let tasks: TopicReader | undefined;

  afterAll(async () => {
    connector?.child.kill('SIGKILL');
    await tasks?.close().catch(() => undefined);
    await receiver?.close();
    await pool?.end();
    await broker?.close();
  });

  // Two broker starts and a 20 s outage on top of the usual waits.
  it('mid-stream, loses no event, routes none twice, and the delivery log gets every attempt', { timeout: 300_000 }, async () => {
    broker = await startOwnKafka((line) => log.info(line));
    const env = testEnv(services, {
      KAFKA_BROKERS: broker.brokers.join(','),
      LOG_LEVEL: 'info',
      DELIVERER_RETRY_DELAYS_MS: '200,400,600',
      DELIVERER_RETRY_JITTER: '0',
    });
    const config = loadConfig(env);
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 2, applicationName: 'test' }, log);
    const kafka = createKafka(config.kafka, log, 'test');
    const { userEvents, groupEvents, authEvents } = config.topics;
    await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 3 })), 1);
    await ensureTopics(kafka, connectorTopics(config), 1);
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const { user: schemaId } = await registerSchemas(registry, config);

    // One endpoint, a little slow, so the restart lands with deliveries under way.
    receiver = await startReceiver();
    receiver.respondWith(async () => (await pause(20), { status: 204 }));
    const organization = uniqueName('org');
    const webhookId = await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
      organization, name: 'restart', url: receiver.url, eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
    });
    const catalog = loadEventCatalog();
    const expected = new Set<string>();
    const produce = async (count: number): Promise<void> => {
      const events: IdentityEventRecord[] = Array.from({ length: count }, () => sampleEvent(catalog, 'USER_CREATED', organization));
      for (const event of events) expected.add(taskIdFor(event.eventId, webhookId));
      await produceEvents(kafka, registry, schemaId, userEvents, events);
    };
    const received = () => new Set(receiver!.requests.map((r) => String(r.headers['webhook-id'])));

    connector = spawnConnector('all', env);
    await waitFor('the connector to be running', () => connector!.output().includes('connector running'), 30_000);
    await produce(300);
    await waitFor('some deliveries before the restart', () => received().size >= 50, 60_000);
    expect(received().size, 'the restart begins mid-stream').toBeLessThan(300);
    // Down longer than kafkajs retries a request: the connector's own retries must carry it through.
    await broker.restart(OUTAGE_MS);
    await produce(100);

    await waitFor('every event delivered after the restart', () => received().size >= expected.size, 120_000).catch((error: Error) => {
      throw new Error(`${error.message} (${received().size} of ${expected.size})\n--- connector:\n${connector!.output().slice(-6000)}`);
    });
    expect([...received()].filter((id) => !expected.has(id))).toEqual([]);
    // Exactly once into the task topic, whatever the restart broke off (read from the start, by a reader that
    // did not live through the outage: kafkajs backs off for long after one).
    tasks = await readTopic(kafka, config.topics.deliveries);
    await waitFor('every task readable', () => tasks!.messages.length >= expected.size, 30_000);
    const taskIds = tasks.messages.map((m) => decodeTask(m.value).taskId);
    expect(taskIds.length - new Set(taskIds).size, 'tasks routed twice').toBe(0);
    // Deliveries are at least once: a few sent just before the broker went away may go again, not the stream.
    expect(receiver.requests.length - expected.size).toBeLessThanOrEqual(Number(config.deliverer.maxBuffered));
    // The sink writes every delivered attempt to Postgres, including those logged around the restart.
    await waitFor('every delivered attempt in the delivery log', async () => {
      const { rows } = await pool!.query<{ n: number }>(`SELECT count(DISTINCT task_id)::int AS n FROM delivery_attempts WHERE webhook_id = $1 AND outcome = 'delivered'`, [webhookId]);
      return rows[0]!.n >= expected.size;
    }, 60_000);

    // It rode the restart out rather than exiting, and still stops cleanly.
    expect(connector.child.exitCode).toBeNull();
    connector.child.kill('SIGTERM');
    expect(await connector.exited, connector.output().slice(-4000)).toBe(0);
  });
});
