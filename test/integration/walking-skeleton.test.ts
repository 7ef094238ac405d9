import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRole, stopParts, type RunningPart } from '../../connector/app.js';
import { throwFatal } from '../../connector/lifecycle.js';
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
    for (const role of ['router', 'deliverer'] as const) parts.push(...(await startRole(role, config, log, throwFatal)).parts);
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
    const written = await inOneTransaction('source', config.topics.userEvents, 'u', await registry.encode(schemaId, event), 'commit');
    await waitFor('the event delivered', () => receiver.requests.find((r) => r.body.includes(String(event.payload['userId']))));
    await committedToEnd(config.router.groupId, config.topics.userEvents, written);
  });

  it('the router commits past a source transaction that was aborted: its records and marker leave no lag', async () => {
    // kafkajs hands the router no batch for it (nothing in it is an event), only reports that one was fetched.
    const event = sampleEvent(catalog, 'USER_CREATED', organization);
    const aborted = await inOneTransaction('source-aborted', config.topics.userEvents, 'u', await registry.encode(schemaId, event), 'abort');
    await committedToEnd(config.router.groupId, config.topics.userEvents, aborted);
    // A committed event after it, with the same key (so the same partition, routed after it, and the same webhook's
    // queue, delivered after it): once that one is delivered, the aborted one would have been too.
    const after = sampleEvent(catalog, 'USER_CREATED', organization);
    const committed = await inOneTransaction('source-after-abort', config.topics.userEvents, 'u', await registry.encode(schemaId, after), 'commit');
    expect(committed.partition).toBe(aborted.partition);
    await waitFor('the event after the aborted one delivered', () => receiver.requests.find((r) => r.body.includes(String(after.payload['userId']))));
    expect(receiver.requests.find((r) => r.body.includes(String(event.payload['userId'])))).toBeUndefined();
  });

  it('the deliverer commits past transaction markers and aborted tasks: no lag is left once all is delivered', async () => {
    // An aborted transaction after the tasks: its record and abort marker are never handed to the deliverer.
    const aborted = await inOneTransaction('aborted', config.topics.deliveries, webhookId, 'never visible', 'abort');
    await committedToEnd(config.deliverer.groupId, config.topics.deliveries, aborted);
  });

  /** Writes one record in a transaction that is then committed or aborted; returns where the record went. */
  async function inOneTransaction(name: string, topic: string, key: string, value: string | Buffer, end: 'commit' | 'abort'): Promise<{ partition: number; offset: bigint }> {
    const producer = kafka.producer({ transactionalId: uniqueName(name), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const transaction = await producer.transaction();
      const [sent] = await transaction.send({ topic, messages: [{ key, value }] });
      await transaction[end]();
      return { partition: sent!.partition, offset: BigInt(sent!.baseOffset!) };
    } finally {
      await producer.disconnect();
    }
  }

  /**
   * Waits until the group's committed offset is the end of every partition
   * holding records, and past the marker that closed the test's transaction.
   * The ends are read on every poll: a transaction's marker is written after
   * commit() or abort() returns, so an end read once could be one short.
   */
  async function committedToEnd(groupId: string, topic: string, transaction: { partition: number; offset: bigint }): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(`${groupId} commits up to the end of each partition of ${topic}`, async () => {
        const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => BigInt(p.high) > 0n);
        const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
        const at = (partition: number): string | undefined => committed!.partitions.find((p) => p.partition === partition)?.offset;
        const markerEnd = ends.find((p) => p.partition === transaction.partition);
        const behind = ends.filter((end) => at(end.partition) !== end.high);
        if (markerEnd && BigInt(markerEnd.high) > transaction.offset + 1n && behind.length === 0) return true;
        // Thrown, not returned: a timeout then says where each partition stood.
        throw new Error(`ends ${ends.map((e) => `${e.partition}:${e.high}`).join(' ')}, committed ${ends.map((e) => `${e.partition}:${at(e.partition)}`).join(' ')}, transaction record at ${transaction.partition}:${transaction.offset}`);
      });
    } finally {
      await admin.disconnect();
    }
  }
});
