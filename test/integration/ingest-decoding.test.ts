import { ConfigResourceTypes } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeTask } from '../../connector/delivery/task.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { metricsRegistry } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { readerSchema } from '../../schemas/avro/index.js';
import { produceEvents, registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { header, type TopicReader } from '../support/topic-reader.js';
import { startRouterScenario, type RouterScenario } from '../support/router-scenario.js';
import { waitFor } from '../support/wait.js';

/** webhooks_dead_letters_total{kind="ingest"} of this process (the router runs in it), by reason. */
async function ingestDeadLetterCounts(): Promise<Record<string, number>> {
  const metric = await metricsRegistry.getSingleMetric('webhooks_dead_letters_total')!.get();
  const counts: Record<string, number> = {};
  for (const { labels, value } of metric.values) if (labels['kind'] === 'ingest') counts[String(labels['reason'])] = value;
  return counts;
}

/** webhooks_decode_failures_total of one source topic, by reason. */
async function decodeFailureCounts(topic: string): Promise<Record<string, number>> {
  const metric = await metricsRegistry.getSingleMetric('webhooks_decode_failures_total')!.get();
  const counts: Record<string, number> = {};
  for (const { labels, value } of metric.values) if (labels['topic'] === topic) counts[String(labels['reason'])] = value;
  return counts;
}

/**
 * The router against a real registry: producers on newer and older compatible
 * schemas keep flowing without a restart, and every kind of poison record
 * lands in the ingest DLQ once while the good records around it are routed.
 */
describe('ingest: schema evolution and poison records', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const kafka = createKafka(config.kafka, log, 'test');
  const registry = createSchemaRegistryClient(config.schemaRegistry);
  const catalog = loadEventCatalog();
  const organization = uniqueName('org');
  const topic = config.topics.userEvents;
  let scenario: RouterScenario;
  let tasks: TopicReader;
  let deadLetters: TopicReader;
  let currentSchemaId: number;
  let schemaIds: Awaited<ReturnType<typeof registerSchemas>>;

  const routedEventIds = (): string[] => tasks.messages.map((m) => decodeTask(m.value).event.eventId);

  beforeAll(async () => {
    scenario = await startRouterScenario(config, {
      log,
      beforeStart: async ({ pool }) => {
        schemaIds = await registerSchemas(registry, config);
        currentSchemaId = schemaIds.user;
        await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
          organization, name: 'all user events', url: 'https://example.com/hook', eventTypes: ['user.*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
        });
      },
    });
    ({ tasks, deadLetters } = scenario);
  });

  afterAll(async () => {
    await scenario?.close();
  });

  it('routes the group and auth topics too, each with its own schema, admin-family events on the group topic', async () => {
    const other = uniqueName('org');
    const webhookId = await insertWebhook(scenario.pool, createSecretBox(config.secrets.encryptionKey), {
      organization: other, name: 'everything', url: 'https://example.com/all', eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
    });
    // Routable once the router's index has it: a marker event on the user topic shows when.
    await waitFor('the new webhook routable', async () => {
      await produceEvents(kafka, registry, schemaIds.user, topic, [sampleEvent(catalog, 'USER_CREATED', other)]);
      return tasks.messages.some((m) => decodeTask(m.value).webhookId === webhookId);
    }, 15_000);
    const group = sampleEvent(catalog, 'GROUP_CREATED', other);
    const admin = sampleEvent(catalog, 'APP_CREATED', other);
    const auth = sampleEvent(catalog, 'USER_LOGIN', other);
    await produceEvents(kafka, registry, schemaIds.group, config.topics.groupEvents, [group, admin]);
    await produceEvents(kafka, registry, schemaIds.auth, config.topics.authEvents, [auth]);
    const routed = () => tasks.messages.map((m) => decodeTask(m.value)).filter((t) => t.webhookId === webhookId);
    await waitFor('the group, admin and auth events routed', () => [group, admin, auth].every((e) => routed().some((t) => t.event.eventId === e.eventId)));
    const families = Object.fromEntries(routed().map((t) => [t.event.eventId, `${t.event.eventType}/${t.event.family}`]));
    expect(families[group.eventId]).toBe('GROUP_CREATED/group');
    expect(families[admin.eventId]).toBe('APP_CREATED/admin');
    expect(families[auth.eventId]).toBe('USER_LOGIN/auth');
  });

  it('routes events written with a newer schema (added fields with defaults) and an older one (fields missing)', async () => {
    const current = readerSchema('user') as { fields: Array<{ name: string; type: unknown }> } & Record<string, unknown>;
    const payloadSchema = current.fields.find((f) => f.name === 'payload')!.type as { fields: Array<{ name: string }> } & Record<string, unknown>;
    const newer = {
      ...current,
      fields: [
        ...current.fields.map((f) => (f.name === 'payload' ? { ...f, type: { ...payloadSchema, fields: [...payloadSchema.fields, { name: 'department', type: ['null', 'string'], default: null }] } } : f)),
        { name: 'region', type: 'string', default: 'eu-west' },
      ],
    };
    const older = {
      ...current,
      fields: current.fields
        .filter((f) => f.name !== 'schemaVersion')
        .map((f) => (f.name === 'payload' ? { ...f, type: { ...payloadSchema, fields: payloadSchema.fields.filter((p) => !['remainingSeats', 'attributes'].includes(p.name)) } } : f)),
    };
    const subject = `${topic}-value`;
    const newerId = await registry.register(subject, newer);
    const olderId = await registry.register(subject, older);
    expect(new Set([currentSchemaId, newerId, olderId]).size).toBe(3);

    const fromNewer = { ...sampleEvent(catalog, 'USER_CREATED', organization, { department: 'R&D' }), region: 'us-east' };
    const fromOlder = sampleEvent(catalog, 'USER_MODIFIED', organization);
    delete (fromOlder as Partial<typeof fromOlder>).schemaVersion;
    delete fromOlder.payload['remainingSeats'];
    await produceEvents(kafka, registry, newerId, topic, [fromNewer]);
    await produceEvents(kafka, registry, olderId, topic, [fromOlder]);

    await waitFor('both events routed', () => routedEventIds().includes(fromOlder.eventId) && routedEventIds().includes(fromNewer.eventId));
    const routed = tasks.messages.map((m) => decodeTask(m.value));
    const newerTask = routed.find((t) => t.event.eventId === fromNewer.eventId)!;
    // The reader schema has no `department`: resolution drops it rather than failing.
    expect(newerTask.event.payload).not.toHaveProperty('department');
    expect(newerTask.event.payload['userId']).toBe(fromNewer.payload['userId']);
    expect(routed.find((t) => t.event.eventId === fromOlder.eventId)!.event.eventType).toBe('USER_MODIFIED');
  });

  it('dead-letters each poison record once, with its reason, and routes every good record around them', async () => {
    const foreignId = await registry.register(uniqueName('foreign-subject'), { type: 'record', name: 'Invoice', fields: [{ name: 'amount', type: 'int' }] });
    const good = Array.from({ length: 10 }, () => sampleEvent(catalog, 'USER_CREATED', organization));
    const unknownType = sampleEvent(catalog, 'USER_CREATED', organization);
    unknownType.eventType = 'USER_TELEPORTED';
    const unknownSchemaId = Buffer.from([0, 0x7f, 0xff, 0xff, 0x00, 1, 2, 3]);
    // 200 KB in Avro, whose task is over the deliveries topic's 1 MiB: JSON writes each control character as \u0001.
    const huge = sampleEvent(catalog, 'USER_CREATED', organization, { attributes: { note: '\u0001'.repeat(200_000) } });
    const poison = [
      { key: 'not-avro', value: Buffer.from('{"eventType":"USER_CREATED"}'), code: 'NOT_AVRO_WIRE_FORMAT' },
      { key: 'unknown-schema', value: unknownSchemaId, code: 'UNKNOWN_SCHEMA_ID' },
      { key: 'incompatible', value: await registry.encode(foreignId, { amount: 7 }), code: 'SCHEMA_INCOMPATIBLE' },
      { key: 'unknown-type', value: await registry.encode(currentSchemaId, unknownType), code: 'UNKNOWN_EVENT_TYPE' },
      // A group event on the user topic: its schema has no group fields, so the group it names would be lost.
      { key: 'wrong-topic', value: await registry.encode(currentSchemaId, sampleEvent(catalog, 'USER_REMOVED_FROM_GROUP', organization)), code: 'WRONG_SOURCE_TOPIC' },
      { key: 'tombstone', value: null, code: 'NOT_AVRO_WIRE_FORMAT' },
      { key: 'too-large', value: await registry.encode(currentSchemaId, huge), code: 'TASK_TOO_LARGE' },
      // A known schema id before a body cut short: poison, not a transient failure that would stall the partition.
      { key: 'truncated', value: (await registry.encode(currentSchemaId, sampleEvent(catalog, 'USER_CREATED', organization))).subarray(0, 12), code: 'AVRO_DECODE_FAILED' },
      // Larger than the ingest DLQ takes (2 MiB): the letter keeps everything but the value.
      { key: 'larger-than-the-dlq', value: Buffer.alloc(2_500_000, 'x'), code: 'NOT_AVRO_WIRE_FORMAT', omitted: true },
    ];
    // A source topic may take larger records than the connector's own topics.
    const admin = kafka.admin();
    await admin.connect();
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'max.message.bytes', value: String(4 * 1024 * 1024) }] }] });
    await admin.disconnect();
    const encodedGood = await Promise.all(good.map(async (e) => ({ key: e.eventId, value: await registry.encode(currentSchemaId, e) })));
    // Good, bad, good, bad, … in one partition: a poison record must not hold up the ones after it.
    const interleaved = encodedGood.flatMap((g, i) => (poison[i] ? [g, { key: poison[i]!.key, value: poison[i]!.value, headers: { origin: 'test' } }] : [g]));
    // Every poison record follows a good one: a case added past the good records' count would be left out.
    expect(interleaved).toHaveLength(good.length + poison.length);
    const countedBefore = await ingestDeadLetterCounts();
    const decodeFailuresBefore = await decodeFailureCounts(topic);
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic, messages: interleaved });
    await producer.disconnect();

    await waitFor('every good record routed', () => good.every((e) => routedEventIds().includes(e.eventId)));
    await waitFor('every poison record dead-lettered', () => deadLetters.messages.length >= poison.length);
    // Counted where operators look (the dead-letter alert and panel), by reason, once each.
    const expectedCounts: Record<string, number> = {};
    for (const { code } of poison) expectedCounts[code] = (expectedCounts[code] ?? 0) + 1;
    await waitFor('the dead letters counted', async () => {
      const after = await ingestDeadLetterCounts();
      return Object.entries(expectedCounts).every(([code, n]) => (after[code] ?? 0) - (countedBefore[code] ?? 0) === n);
    });
    // The decode-failures panel agrees with the dead letters, per source topic.
    const decodeFailuresAfter = await decodeFailureCounts(topic);
    for (const [code, n] of Object.entries(expectedCounts)) expect((decodeFailuresAfter[code] ?? 0) - (decodeFailuresBefore[code] ?? 0), code).toBe(n);

    expect(deadLetters.messages.map((m) => m.key?.toString()).sort()).toEqual(poison.map((p) => p.key).sort());
    for (const expected of poison) {
      const letter = deadLetters.messages.find((m) => m.key?.toString() === expected.key)!;
      expect(header(letter, 'dlq.error.code'), expected.key).toBe(expected.code);
      expect(header(letter, 'dlq.source.topic')).toBe(topic);
      expect(header(letter, 'dlq.source.partition')).toBe('0');
      expect(header(letter, 'dlq.source.offset')).toMatch(/^\d+$/);
      expect(header(letter, 'dlq.error.message')).toBeTruthy();
      expect(header(letter, 'origin')).toBe('test');
      if (expected.omitted) {
        expect(letter.value).toBeNull();
        expect(header(letter, 'dlq.value.omitted.bytes')).toBe(String(expected.value!.length));
        continue;
      }
      expect(letter.value === null ? null : Buffer.compare(letter.value, expected.value ?? Buffer.alloc(0))).toBe(expected.value === null ? null : 0);
    }
    expect(routedEventIds().filter((id) => good.some((e) => e.eventId === id))).toHaveLength(good.length);
  });

  it('dead-letters a poison record with a header whose value is null (which kafkajs cannot send as it reads it), and routes the record after it', async () => {
    const after = sampleEvent(catalog, 'USER_CREATED', organization);
    const producer = createProducer(kafka);
    await producer.connect();
    // Kafka takes a null header value and kafkajs reads one, but sizing a header to send throws on it: let the test's
    // producer size it as the empty value it encodes, as any other client would send it.
    const byteLength = Buffer.byteLength;
    Buffer.byteLength = ((value: Parameters<typeof byteLength>[0], encoding?: BufferEncoding) => (value === null ? 0 : byteLength(value, encoding))) as typeof byteLength;
    try {
      await producer.send({ topic, messages: [{ key: 'null-header', value: Buffer.from('not avro'), headers: { trace: null as unknown as Buffer, origin: 'test' } }] });
    } finally {
      Buffer.byteLength = byteLength;
    }
    await producer.send({ topic, messages: [{ key: after.eventId, value: await registry.encode(currentSchemaId, after) }] });
    await producer.disconnect();
    await waitFor('the record after it routed', () => routedEventIds().includes(after.eventId));
    const letter = await waitFor('its dead letter', () => deadLetters.messages.find((m) => m.key?.toString() === 'null-header'));
    expect(header(letter, 'dlq.error.code')).toBe('NOT_AVRO_WIRE_FORMAT');
    expect(header(letter, 'dlq.null.headers')).toBe('trace');
    expect(header(letter, 'trace')).toBe('');
    expect(header(letter, 'origin')).toBe('test');
  });
});
