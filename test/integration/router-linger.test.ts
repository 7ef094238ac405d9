import { describe, expect, inject, it } from 'vitest';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { routerTransactions } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startRouterScenario } from '../support/router-scenario.js';
import { waitFor } from '../support/wait.js';

const EVENTS = 30;
const GAP_MS = 30;

/**
 * The router's linger: events arriving one at a time share transactions
 * instead of each paying for one (five broker round trips), and every event
 * is still routed.
 */
describe('router linger', () => {
  const catalog = loadEventCatalog();

  /** Routes EVENTS events produced one every GAP_MS; returns the router's transactions meanwhile. */
  const trickle = async (lingerMs: number): Promise<number> => {
    const config = testConfig(inject('services'), { ROUTER_LINGER_MS: String(lingerMs) });
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const organization = uniqueName('org');
    let schemaId = 0;
    const scenario = await startRouterScenario(config, {
      log: createRootLogger({ level: config.log.level }),
      beforeStart: async ({ pool }) => {
        schemaId = (await registerSchemas(registry, config)).user;
        await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
          organization, name: 'all', url: 'https://example.com/hook', eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
        });
      },
    });
    const { tasks } = scenario;
    const producer = createProducer(scenario.kafka);
    try {
      await producer.connect();
      const before = (await routerTransactions.get()).values[0]?.value ?? 0;
      const produced: string[] = [];
      for (let i = 0; i < EVENTS; i += 1) {
        const event = sampleEvent(catalog, 'USER_CREATED', organization);
        produced.push(event.eventId);
        await producer.send({ topic: config.topics.userEvents, messages: [{ value: await registry.encode(schemaId, event) }] });
        await new Promise((resolve) => setTimeout(resolve, GAP_MS));
      }
      await waitFor('every event routed', () => tasks.messages.length >= EVENTS);
      expect(tasks.messages.map((m) => decodeTask(m.value).event.eventId)).toEqual(produced);
      return ((await routerTransactions.get()).values[0]?.value ?? 0) - before;
    } finally {
      await producer.disconnect();
      await scenario.close();
    }
  };

  it('gathers events arriving one at a time into a few transactions, and routes each in order', async () => {
    // About a second of events, 30 ms apart, against a 250 ms linger: four or five transactions, not thirty.
    const transactions = await trickle(250);
    expect(transactions).toBeGreaterThan(0);
    expect(transactions).toBeLessThanOrEqual(8);
  });

  it('with the linger off, commits a transaction for each event that arrives on its own', async () => {
    const transactions = await trickle(0);
    expect(transactions).toBeGreaterThan(15);
  });
});
