import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createKafka } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { produceEvents, registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startReceiver, type Receiver } from '../../scripts/lib/receiver.js';
import { verifyStandardWebhook } from '../../scripts/lib/verify-signature.js';
import { waitFor } from '../support/wait.js';

describe('walking skeleton: one Avro event in, one signed webhook out', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const kafka = createKafka(config.kafka, log, 'test');
  const registry = createSchemaRegistryClient(config.schemaRegistry);
  const catalog = loadEventCatalog();
  const organization = uniqueName('org');
  const signingSecret = generateSigningSecret();
  let pool: Pool;
  let receiver: Receiver;
  let webhookId: string;
  let schemaId: number;
  const parts: RunningPart[] = [];

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 2, applicationName: 'test' }, log);
    const { userEvents, groupEvents, authEvents } = config.topics;
    await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 1 })), 1);
    schemaId = (await registerSchemas(registry, config)).user;
    receiver = await startReceiver();
    webhookId = await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
      organization,
      name: 'demo',
      url: receiver.url,
      eventTypes: ['USER_CREATED'],
      owner: 'admin@example.com',
      verified: true,
      signingSecret,
    });
    for (const role of ['router', 'deliverer'] as const) parts.push(...(await startRole(role, config, log)).parts);
  });

  afterAll(async () => {
    await stopParts(parts, log);
    await receiver?.close();
    await pool?.end();
  });

  it('delivers the seed-000 USER_CREATED envelope, signed, and nothing the webhook did not ask for', async () => {
    const payload = { username: 'demo', email: 'demo@parallelworks.com', userId: '66ec445884b4103f670d0c86', organization: 'parallelworks', remainingSeats: 5 };
    const otherType = sampleEvent(catalog, 'USER_DISABLED', organization);
    const otherOrganization = sampleEvent(catalog, 'USER_CREATED', uniqueName('other-org'));
    const wanted = sampleEvent(catalog, 'USER_CREATED', organization, payload);
    await produceEvents(kafka, registry, schemaId, config.topics.userEvents, [otherType, otherOrganization, wanted]);

    const request = await waitFor('the webhook request', () => receiver.requests[0]);

    expect(request.method).toBe('POST');
    expect(request.body).toBe(
      JSON.stringify({ type: 'USER_CREATED', webhook: { id: webhookId, organization, name: 'demo' }, payload }),
    );
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toBe(config.http.userAgent);
    expect(request.headers['webhook-id']).toMatch(/^msg_/);
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(verifyStandardWebhook(signingSecret, request.headers, request.body)).toBe(true);
    expect(verifyStandardWebhook(generateSigningSecret(), request.headers, request.body)).toBe(false);

    // A later matching event proves the two non-matching ones (routed before it, same partition) produced nothing.
    const later = sampleEvent(catalog, 'USER_CREATED', organization);
    await produceEvents(kafka, registry, schemaId, config.topics.userEvents, [later]);
    await waitFor('the second webhook request', () => receiver.requests[1]);
    const userIds = receiver.requests.map((r) => (JSON.parse(r.body) as { payload: { userId: string } }).payload.userId);
    expect(userIds).toEqual([payload.userId, later.payload['userId']]);
  });

  it('the router commits past the commit marker of a source written in transactions: no source lag is left', async () => {
    const event = sampleEvent(catalog, 'USER_CREATED', organization);
    const producer = kafka.producer({ transactionalId: uniqueName('source'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const transaction = await producer.transaction();
    await transaction.send({ topic: config.topics.userEvents, messages: [{ key: 'u', value: await registry.encode(schemaId, event) }] });
    await transaction.commit();
    await producer.disconnect();
    await waitFor('the event delivered', () => receiver.requests.find((r) => r.body.includes(String(event.payload['userId']))));
    const admin = kafka.admin();
    await admin.connect();
    try {
      // The source partition now ends with the transaction's commit marker.
      const [end] = await admin.fetchTopicOffsets(config.topics.userEvents);
      await waitFor('router commits up to the end of the source partition', async () => {
        const [committed] = await admin.fetchOffsets({ groupId: config.router.groupId, topics: [config.topics.userEvents] });
        return committed!.partitions[0]!.offset === end!.high;
      });
    } finally {
      await admin.disconnect();
    }
  });

  it('the deliverer commits past transaction markers and aborted tasks: no lag is left once all is delivered', async () => {
    const admin = kafka.admin();
    await admin.connect();
    // An aborted transaction after the tasks: its record and abort marker are never handed to the deliverer.
    const producer = kafka.producer({ transactionalId: uniqueName('aborted'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const transaction = await producer.transaction();
    await transaction.send({ topic: config.topics.deliveries, messages: [{ key: webhookId, value: 'never visible' }] });
    await transaction.abort();
    await producer.disconnect();
    try {
      // Every partition that holds tasks ends with a commit or abort marker, whose offset is no task.
      const ends = await admin.fetchTopicOffsets(config.topics.deliveries);
      const written = ends.filter((p) => Number(p.high) > 0);
      expect(written.length).toBeGreaterThan(0);
      await waitFor('deliverer commits up to the end of each partition', async () => {
        const [committed] = await admin.fetchOffsets({ groupId: config.deliverer.groupId, topics: [config.topics.deliveries] });
        return written.every((end) => committed!.partitions.find((p) => p.partition === end.partition)?.offset === end.high);
      });
    } finally {
      await admin.disconnect();
    }
  });
});
