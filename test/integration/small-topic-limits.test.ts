import { afterEach, describe, expect, inject, it } from 'vitest';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { bySize } from '../../connector/kafka/by-size.js';
import { createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { deliveryScenario, type DeliveryScenario } from '../support/delivery-scenario.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startRouterScenario, type RouterScenario } from '../support/router-scenario.js';
import { waitFor } from '../support/wait.js';

/**
 * The smallest task limit the connector takes (TOPIC_DELIVERIES_MAX_MESSAGE_BYTES=16384, topics made to match):
 * every write goes out in requests each topic takes, however much is written at once.
 */
describe('topics with the smallest message limits', () => {
  const services = inject('services');
  let s: DeliveryScenario | undefined;
  let router: RouterScenario | undefined;

  afterEach(async () => {
    await s?.close();
    s = undefined;
    await router?.close();
    router = undefined;
  });

  it('the router writes a slice of many tasks in requests the deliveries topic takes', async () => {
    const config = testConfig(services, { TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: '16384' });
    const organization = uniqueName('org');
    const catalog = loadEventCatalog();
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const events = Array.from({ length: 200 }, () => sampleEvent(catalog, 'USER_CREATED', organization));
    router = await startRouterScenario(config, {
      log: createRootLogger({ level: 'error' }),
      // Three webhooks and 200 events in before the router starts: one slice of 600 tasks, about 30 times the limit.
      beforeStart: async ({ kafka, pool }) => {
        const box = createSecretBox(config.secrets.encryptionKey);
        for (const name of ['a', 'b', 'c']) {
          await insertWebhook(pool, box, { organization, name, url: 'https://example.com/hook', eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret() });
        }
        const { user: schemaId } = await registerSchemas(registry, config);
        const producer = createProducer(kafka);
        await producer.connect();
        const messages = await Promise.all(events.map(async (event) => ({ key: event.eventId, value: await registry.encode(schemaId, event) })));
        for (const run of bySize(messages)) await producer.send({ topic: config.topics.userEvents, messages: run });
        await producer.disconnect();
      },
    });
    await waitFor('600 tasks', () => router!.tasks.messages.length >= 600, 60_000);
    expect(new Set(router.tasks.messages.map((m) => decodeTask(m.value).taskId)).size).toBe(600);
    expect(router.deadLetters.messages).toEqual([]);
  });

  it('a backlog\'s attempt records reach the delivery log: packs and requests stay within the attempts topic\'s limit', async () => {
    s = await deliveryScenario(services, { TOPIC_DELIVERIES_MAX_MESSAGE_BYTES: '16384', TOPIC_DELIVERIES_PARTITIONS: '1' });
    const hooks = await Promise.all([s.addWebhook(), s.addWebhook(), s.addWebhook()]);
    await s.startDeliverer();
    for (const hook of hooks) await s.produceTasks(hook.id, 200);
    const logged = async () => (await s!.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM delivery_attempts WHERE webhook_id = ANY($1)', [hooks.map((h) => h.id)])).rows[0]!.n;
    await waitFor('600 attempts in the delivery log', async () => (await logged()) >= 600, 60_000);
    expect(await logged()).toBe(600);
  });
});
