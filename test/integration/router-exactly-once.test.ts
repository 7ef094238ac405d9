import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type ConnectorConfig } from '../../config/load.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask, encodeTask, taskIdFor } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { toCanonicalEvent } from '../../connector/ingest/canonical-event.js';
import { transactionalIdFor } from '../../connector/ingest/router.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient, type SchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { connectorTopics, ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { produceEvents, registerSchemas, sampleEvent, type IdentityEventRecord } from '../../scripts/lib/sample-events.js';
import { spawnConnector, type ConnectorProcess } from '../support/connector-process.js';
import { testEnv, uniqueName } from '../support/harness.js';
import { readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

const EVENTS = 3000;
const services = inject('services');
const catalog = loadEventCatalog();
const log = createRootLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'error' });

/** One isolated scenario: its own topics, group, org with three webhooks, and a reader of its task topic. */
async function scenario(pool: Pool): Promise<{
  env: Record<string, string>; config: Readonly<ConnectorConfig>; tasks: TopicReader; produce: () => Promise<Set<string>>;
  organization: string; webhookIds: string[]; schemaId: number; kafka: Kafka; registry: SchemaRegistryClient;
}> {
  // Info level: the tests wait for each router's "connector running" line before stopping it.
  const env = testEnv(services, { LOG_LEVEL: 'info' });
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, log, 'test');
  const registry = createSchemaRegistryClient(config.schemaRegistry);
  const { userEvents, groupEvents, authEvents } = config.topics;
  await ensureTopics(kafka, [userEvents, groupEvents, authEvents].map((topic) => ({ topic, numPartitions: 3 })), 1);
  await ensureTopics(kafka, connectorTopics(config), 1);
  const { user: schemaId } = await registerSchemas(registry, config);
  const organization = uniqueName('org');
  const box = createSecretBox(config.secrets.encryptionKey);
  const webhookIds: string[] = [];
  for (const eventTypes of [['USER_CREATED'], ['user.*'], ['*']]) {
    webhookIds.push(await insertWebhook(pool, box, { organization, name: eventTypes[0]!, url: 'https://example.com/h', eventTypes, owner: 'test', verified: true, signingSecret: generateSigningSecret() }));
  }
  await insertWebhook(pool, box, { organization: uniqueName('other'), name: 'x', url: 'https://example.com/x', eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret() });
  const tasks = await readTopic(kafka, config.topics.deliveries);
  const produce = async (): Promise<Set<string>> => {
    const expected = new Set<string>();
    for (let sent = 0; sent < EVENTS; sent += 500) {
      const batch: IdentityEventRecord[] = Array.from({ length: 500 }, () => sampleEvent(catalog, 'USER_CREATED', organization));
      for (const event of batch) for (const id of webhookIds) expected.add(taskIdFor(event.eventId, id));
      await produceEvents(kafka, registry, schemaId, userEvents, batch);
    }
    return expected;
  };
  return { env, config, tasks, produce, organization, webhookIds, schemaId, kafka, registry };
}

function assertExactlyOnce(tasks: TopicReader, expected: Set<string>): void {
  const ids = tasks.messages.map((m) => decodeTask(m.value).taskId);
  const unexpected = ids.filter((id) => !expected.has(id));
  expect(unexpected).toEqual([]);
  expect(ids.length - new Set(ids).size).toBe(0); // duplicates
  expect(new Set(ids).size).toBe(expected.size); // losses
}

describe('router: exactly-once fan-out through crashes and scale-out', () => {
  let pool: Pool;
  const processes: ConnectorProcess[] = [];
  const readers: TopicReader[] = [];

  beforeAll(async () => {
    const env = testEnv(services);
    await migrateUp(env['DATABASE_URL']!, log);
    pool = createPool({ url: env['DATABASE_URL']!, max: 2, applicationName: 'test' }, log);
  });

  afterAll(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    for (const r of readers) await r.close();
    await pool?.end();
  });

  it('a router killed with SIGKILL mid-stream and restarted produces every task exactly once', async () => {
    const { env, tasks, produce } = await scenario(pool);
    readers.push(tasks);
    const first = spawnConnector('router', env);
    processes.push(first);
    // Events keep arriving while it runs, so the kill lands mid-stream, not after the last commit. Production
    // starts once the router consumes: started earlier, every event could be in before the router's first fetch,
    // which then routes them all at once (a CI run saw all 9,000 tasks appear before the kill).
    await waitFor('the first router to be running', () => first.output().includes('connector running'), 30_000);
    const producing = produce();
    await waitFor('the first router to commit some tasks', () => tasks.messages.length >= EVENTS * 3 * 0.1, 90_000);
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const expected = await producing;
    expect(expected.size).toBe(EVENTS * 3);
    expect(tasks.messages.length).toBeLessThan(expected.size); // it really died mid-stream

    const second = spawnConnector('router', env);
    processes.push(second);
    await waitFor('all tasks after the restart', () => new Set(tasks.messages.map((m) => decodeTask(m.value).taskId)).size >= expected.size, 120_000);
    assertExactlyOnce(tasks, expected);

    // An ordered shutdown on SIGTERM exits 0.
    await waitFor('the second router to be running', () => second.output().includes('connector running'), 30_000);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
  });

  it('a router frozen past its session timeout is fenced: its open transaction neither holds back nor duplicates tasks', async () => {
    const { env, config, tasks, produce } = await scenario(pool);
    readers.push(tasks);
    const taskIds = () => new Set(tasks.messages.map((m) => decodeTask(m.value).taskId));
    const frozen = spawnConnector('router', env);
    processes.push(frozen);
    // Production starts once the router consumes, as in the test above: started earlier, every event could be in
    // before its first fetch, and routed before the freeze (a CI run saw all 9,000 tasks before it).
    await waitFor('the first router to be running', () => frozen.output().includes('connector running'), 30_000);
    const producing = produce();
    await waitFor('the first router to commit some tasks', () => tasks.messages.length >= EVENTS * 3 * 0.1, 90_000);
    // A stopped process: a long GC pause or a frozen VM, most likely in the middle of a transaction.
    frozen.child.kill('SIGSTOP');
    const expected = await producing;
    expect(tasks.messages.length).toBeLessThan(expected.size);
    const successor = spawnConnector('router', env);
    processes.push(successor);
    // The successor gets the partitions when the frozen router's session expires. Initializing their
    // transactional ids aborts what the frozen one left open; otherwise read_committed readers would
    // see nothing past it until the transaction timed out.
    await waitFor('every task, from the successor, while the first router is frozen', () => taskIds().size >= expected.size, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\n--- successor:\n${successor.output()}`);
    });
    frozen.child.kill('SIGCONT');
    // Awake, it finds itself fenced and out of the group, and rejoins; nothing it had under way may appear.
    const admin = createKafka(config.kafka, log, 'test-admin').admin();
    await admin.connect();
    try {
      await waitFor('both routers in the group again', async () => {
        const { groups } = await admin.describeGroups([config.router.groupId]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 2;
      }, 60_000).catch((error: Error) => {
        throw new Error(`${error.message}\n--- woken router:\n${frozen.output()}\n--- successor:\n${successor.output()}`);
      });
    } finally {
      await admin.disconnect();
    }
    assertExactlyOnce(tasks, expected);
    for (const router of [frozen, successor]) {
      await waitFor('the router to be running', () => router.output().includes('connector running'), 30_000);
      router.child.kill('SIGTERM');
      expect(await router.exited, router.output()).toBe(0);
    }
  });

  it('two routers in one group share the partitions; stopping one mid-stream loses and duplicates nothing', async () => {
    const { env, tasks, produce } = await scenario(pool);
    readers.push(tasks);
    // The same settings for both, as replicas of one deployment run.
    const a = spawnConnector('router', env);
    const b = spawnConnector('router', env);
    processes.push(a, b);
    const expected = await produce();

    await waitFor('some tasks from the pair', () => tasks.messages.length >= expected.size * 0.1, 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n--- router a:\n${a.output()}\n--- router b:\n${b.output()}`);
    });
    a.child.kill('SIGTERM');
    expect(await a.exited, a.output()).toBe(0);
    await waitFor('all tasks after one router left', () => new Set(tasks.messages.map((m) => decodeTask(m.value).taskId)).size >= expected.size, 120_000);
    assertExactlyOnce(tasks, expected);
    b.child.kill('SIGTERM');
    expect(await b.exited, b.output()).toBe(0);
  });
  it("a router taking a partition over routes nothing its previous owner committed after the router read the partition's offset", async () => {
    // What a rebalance right after the previous owner's commit looks like: kafkajs read the committed offset
    // on assignment while that commit was still writing its markers, so the position it fetches from is stale.
    const { env, config, tasks, organization, webhookIds, schemaId, kafka, registry } = await scenario(pool);
    readers.push(tasks);
    const topic = config.topics.userEvents;
    const expected = new Set<string>();
    const eventsOf = (count: number) => Array.from({ length: count }, () => sampleEvent(catalog, 'USER_CREATED', organization));
    const encoded = (events: IdentityEventRecord[]) => Promise.all(events.map(async (event) => ({ value: await registry.encode(schemaId, event) })));
    const routed = (events: IdentityEventRecord[]) => events.flatMap((event) => webhookIds.map((id) => taskIdFor(event.eventId, id)));

    const router = spawnConnector('router', env);
    processes.push(router);
    // A first event on partition 1, routed, shows the router has read every assigned partition's offset.
    const canary = eventsOf(1);
    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, messages: (await encoded(canary)).map((m) => ({ ...m, partition: 1 })) });
    for (const id of routed(canary)) expected.add(id);
    await waitFor('the canary routed', () => tasks.messages.length >= expected.size, 60_000);

    // Events for partition 0, in a source transaction held open so the router cannot see them yet.
    const events = eventsOf(50);
    const source = createProducer(kafka, { transactionalId: uniqueName('source'), idempotent: true, maxInFlightRequests: 1 });
    await source.connect();
    const held = await source.transaction();
    const [written] = await held.send({ topic, messages: (await encoded(events)).map((m) => ({ ...m, partition: 0 })) });
    const next = BigInt(written!.baseOffset!) + BigInt(events.length);
    // The previous owner routes them and commits, with the partition's transactional id, as a router would.
    const previous = createProducer(kafka, { transactionalId: transactionalIdFor(config.router.groupId, topic, 0), idempotent: true, maxInFlightRequests: 1 });
    await previous.connect();
    const routing = await previous.transaction();
    await routing.send({
      topic: config.topics.deliveries,
      messages: events.flatMap((event) => webhookIds.map((webhookId) => ({
        key: webhookId,
        value: encodeTask({ v: 1, taskId: taskIdFor(event.eventId, webhookId), webhookId, organization, attempt: 1, routedAt: Date.now(), event: toCanonicalEvent(event as unknown as Record<string, unknown>, catalog) }),
      }))),
    });
    await routing.sendOffsets({ consumerGroupId: config.router.groupId, topics: [{ topic, partitions: [{ partition: 0, offset: next.toString() }] }] });
    await routing.commit();
    await previous.disconnect();
    for (const id of routed(events)) expected.add(id);
    await held.commit();
    await source.disconnect();

    // Routing goes on past them: a later event on partition 0 is routed, once.
    const later = eventsOf(1);
    await producer.send({ topic, messages: (await encoded(later)).map((m) => ({ ...m, partition: 0 })) });
    await producer.disconnect();
    for (const id of routed(later)) expected.add(id);
    await waitFor('the later event routed', () => new Set(tasks.messages.map((m) => decodeTask(m.value).taskId)).size >= expected.size, 60_000);
    assertExactlyOnce(tasks, expected);
    router.child.kill('SIGTERM');
    expect(await router.exited, router.output()).toBe(0);
  });

  it('a router whose partition producer is fenced while it still owns the partition rejoins its group and routes on, once', async () => {
    // What a router woken from a pause past its session meets when it commits: another producer initialized
    // its partition's transactional id. kafkajs gives a consumer up on that error; the router must not idle.
    const { env, config, tasks, organization, webhookIds, schemaId, kafka, registry } = await scenario(pool);
    readers.push(tasks);
    const topic = config.topics.userEvents;
    const expected = new Set<string>();
    const producer = createProducer(kafka, { idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sendTo = async (partition: number, count: number): Promise<void> => {
      const events = Array.from({ length: count }, () => sampleEvent(catalog, 'USER_CREATED', organization));
      const messages = await Promise.all(events.map(async (event) => ({ value: await registry.encode(schemaId, event), partition })));
      await producer.send({ topic, messages });
      for (const event of events) for (const id of webhookIds) expected.add(taskIdFor(event.eventId, id));
    };
    const routedAll = () => new Set(tasks.messages.map((m) => decodeTask(m.value).taskId)).size >= expected.size;

    const router = spawnConnector('router', env);
    processes.push(router);
    await sendTo(1, 5);
    await waitFor('the first events routed', routedAll, 60_000);

    const fencer = createProducer(kafka, { transactionalId: transactionalIdFor(config.router.groupId, topic, 1), idempotent: true, maxInFlightRequests: 1 });
    await fencer.connect();
    await (await fencer.transaction()).abort(); // initializes the id: the router's producer for partition 1 is fenced
    await fencer.disconnect();

    await sendTo(1, 20);
    await waitFor('the events after the fence routed', routedAll, 90_000).catch((error: Error) => {
      throw new Error(`${error.message}\n--- router:\n${router.output()}`);
    });
    expect(router.output()).toContain('router rejoined its group');
    await sendTo(0, 5);
    await sendTo(1, 5);
    await producer.disconnect();
    await waitFor('later events on every partition routed', routedAll, 60_000);
    assertExactlyOnce(tasks, expected);
    router.child.kill('SIGTERM');
    expect(await router.exited, router.output()).toBe(0);
  });
});
