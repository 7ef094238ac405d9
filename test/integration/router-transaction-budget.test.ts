import { describe, expect, inject, it } from 'vitest';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createProducer } from '../../connector/kafka/client.js';
import { recordBytes } from '../../connector/kafka/record-size.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { routerTransactions } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startRouterScenario } from '../support/router-scenario.js';
import { waitFor } from '../support/wait.js';

const EVENTS = 40;
const WEBHOOKS = 10;
const BUDGET_BYTES = 20_000;

/**
 * A router transaction carries at most ROUTER_TRANSACTION_MAX_TASK_BYTES of
 * tasks, so many webhooks per event cannot make one slice's tasks outgrow
 * memory or the group session; events are never split, and every task is
 * still written once, in order.
 */
describe('router transaction budget', () => {
  it('splits a batch whose tasks pass the budget into several transactions, each (event, webhook) once and in order', async () => {
    const catalog = loadEventCatalog();
    const config = testConfig(inject('services'), { ROUTER_TRANSACTION_MAX_TASK_BYTES: String(BUDGET_BYTES), ROUTER_LINGER_MS: '0' });
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const organization = uniqueName('org');
    const produced: string[] = [];
    const transactionsBefore = (await routerTransactions.get()).values[0]?.value ?? 0;
    const scenario = await startRouterScenario(config, {
      log: createRootLogger({ level: config.log.level }),
      // Everything is in the topic before the router starts, so it comes in one fetched batch.
      beforeStart: async ({ pool, kafka }) => {
        const schemaId = (await registerSchemas(registry, config)).user;
        const box = createSecretBox(config.secrets.encryptionKey);
        for (let i = 0; i < WEBHOOKS; i += 1) {
          await insertWebhook(pool, box, { organization, name: `all-${i}`, url: `https://example.com/hook/${i}`, eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret() });
        }
        const messages = [];
        for (let i = 0; i < EVENTS; i += 1) {
          const event = sampleEvent(catalog, 'USER_CREATED', organization);
          produced.push(event.eventId);
          messages.push({ value: await registry.encode(schemaId, event) });
        }
        const producer = createProducer(kafka);
        await producer.connect();
        await producer.send({ topic: config.topics.userEvents, messages });
        await producer.disconnect();
      },
    });
    try {
      await waitFor('every task written', () => scenario.tasks.messages.length >= EVENTS * WEBHOOKS);
      const tasks = scenario.tasks.messages.map((m) => ({ task: decodeTask(m.value), bytes: recordBytes({ key: m.key, value: m.value }) }));
      expect(tasks).toHaveLength(EVENTS * WEBHOOKS);
      expect(new Set(tasks.map(({ task }) => `${task.event.eventId}/${task.webhookId}`)).size).toBe(EVENTS * WEBHOOKS);
      const byWebhook = new Map<string, string[]>();
      for (const { task } of tasks) byWebhook.set(task.webhookId, [...(byWebhook.get(task.webhookId) ?? []), task.event.eventId]);
      for (const events of byWebhook.values()) expect(events).toEqual(produced);

      // A transaction closes at the first event that takes its tasks to the budget: it holds less than the budget
      // and one event's tasks, so there are at least this many.
      const totalBytes = tasks.reduce((sum, { bytes }) => sum + bytes, 0);
      const eventBytes = Math.max(...[...new Set(tasks.map(({ task }) => task.event.eventId))].map((id) => tasks.filter(({ task }) => task.event.eventId === id).reduce((sum, { bytes }) => sum + bytes, 0)));
      const transactions = ((await routerTransactions.get()).values[0]?.value ?? 0) - transactionsBefore;
      expect(transactions).toBeGreaterThanOrEqual(Math.ceil(totalBytes / (BUDGET_BYTES + eventBytes)));
      expect(transactions).toBeGreaterThan(3);
    } finally {
      await scenario.close();
    }
  });
});
