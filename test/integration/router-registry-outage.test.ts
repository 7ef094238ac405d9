import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConnectorConfig } from '../../config/load.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createKafka, createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { consumerCrashes } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { startRouterScenario, type RouterScenario } from '../support/router-scenario.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

/** Longer than kafkajs's retries of a failing batch (about 10 s), after which it would restart the consumer. */
const OUTAGE_MS = 15_000;

/**
 * The router reaching the schema registry through a proxy the test cuts: an
 * outage is waited out inside the batch, heartbeating, so the router stays in
 * its group rather than restarting its consumer (and rebalancing the group)
 * every few seconds while it lasts.
 */
describe('router: the schema registry out of reach', () => {
  const services = inject('services');
  const log = createRootLogger({ level: 'error' });
  const catalog = loadEventCatalog();
  const organization = uniqueName('org');
  let proxy: TcpProxy;
  let config: Readonly<ConnectorConfig>;
  let scenario: RouterScenario;
  let schemaId: number;

  beforeAll(async () => {
    const registryUrl = new URL(services.schemaRegistryUrl);
    proxy = await startTcpProxy({ host: registryUrl.hostname, port: Number(registryUrl.port) });
    const proxied = new URL(services.schemaRegistryUrl);
    proxied.port = String(proxy.port);
    config = testConfig(services, { SCHEMA_REGISTRY_URL: proxied.toString() });
    scenario = await startRouterScenario(config, {
      log,
      beforeStart: async ({ pool }) => {
        // Registered straight at the registry: the router has not read a schema yet.
        schemaId = (await registerSchemas(createSchemaRegistryClient({ ...config.schemaRegistry, url: services.schemaRegistryUrl }), config)).user;
        await insertWebhook(pool, createSecretBox(config.secrets.encryptionKey), {
          organization, name: 'all user events', url: 'https://example.com/hook', eventTypes: ['user.*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
        });
      },
    });
  });

  afterAll(async () => {
    await scenario?.close();
    await proxy?.close();
  });

  const crashesOfRouter = async (): Promise<number> =>
    (await consumerCrashes.get()).values.filter((v) => v.labels['group'] === config.router.groupId).reduce((sum, v) => sum + v.value, 0);

  it('waits out the outage in its group, without restarting its consumer, and routes the event once the registry answers again', async () => {
    const registry = createSchemaRegistryClient({ ...config.schemaRegistry, url: services.schemaRegistryUrl });
    const event = sampleEvent(catalog, 'USER_CREATED', organization);
    const crashesBefore = await crashesOfRouter();
    proxy.cut();
    const kafka = createKafka(config.kafka, log, 'test');
    const producer = createProducer(kafka);
    await producer.connect();
    await producer.send({ topic: config.topics.userEvents, messages: [{ key: event.eventId, value: await registry.encode(schemaId, event) }] });
    await producer.disconnect();
    const routed = () => scenario.tasks.messages.some((m) => decodeTask(m.value).event.eventId === event.eventId);
    // The outage is a span of time, past kafkajs's retries: what is checked is that nothing gave way meanwhile.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    expect(routed()).toBe(false);
    expect(await crashesOfRouter()).toBe(crashesBefore);
    proxy.restore();
    await waitFor('the event routed once the registry is back', routed, 30_000);
    expect(await crashesOfRouter()).toBe(crashesBefore);
  });
});
