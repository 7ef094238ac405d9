import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createProducer } from '../../connector/kafka/client.js';
import { createSchemaRegistryClient } from '../../connector/kafka/schema-registry.js';
import { ensureTopics, retryTopics, topicMessageLimits } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { registerSchemas, sampleEvent } from '../../scripts/lib/sample-events.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { header } from '../support/topic-reader.js';
import { startRouterScenario, type RouterScenario } from '../support/router-scenario.js';
import { waitFor } from '../support/wait.js';

/**
 * Topics made before the connector sized them (by hand, or by an earlier
 * release) keep their limits: the connector says which are too small, and
 * the router bounds its tasks by the deliveries topic it finds.
 */
describe('topics made with smaller limits than the connector asks for', () => {
  // Retry topics of its own: the tier made small below must be made here, not found from another test.
  const config = testConfig(inject('services'), { TOPIC_RETRY_PREFIX: `${uniqueName('t')}.retry` });
  const log = createRootLogger({ level: 'error' });
  const warnings: Array<Record<string, unknown>> = [];
  const capture = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().trim().split('\n')) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['level'] === 40 || entry['level'] === 'warn') warnings.push(entry);
      }
      done();
    },
  });
  const deliveriesLimit = 100_000;
  const tierLimit = 65_536;
  const tier = retryTopics(config)[0]!;
  let scenario: RouterScenario;

  beforeAll(async () => {
    const small = (topic: string, bytes: number) => ({ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] });
    scenario = await startRouterScenario(config, {
      log,
      routerLog: createRootLogger({ level: 'warn', destination: capture }),
      beforeStart: ({ kafka }) => ensureTopics(kafka, [small(config.topics.deliveries, deliveriesLimit), small(tier, tierLimit)], 1),
    });
  });

  afterAll(async () => {
    await scenario?.close();
  });

  it('warns at start-up of each topic too small, with what it takes and what it needs', () => {
    const limits = topicMessageLimits(config);
    const about = (topic: string) => warnings.find((w) => w['topic'] === topic);
    expect(about(config.topics.deliveries)).toMatchObject({ maxMessageBytes: deliveriesLimit, needed: limits.deliveries });
    expect(about(tier)).toMatchObject({ maxMessageBytes: tierLimit, needed: limits.downstream });
    expect(String(about(tier)!['msg'])).toContain(`Raise its max.message.bytes to ${limits.downstream}`);
    // The topics the connector made itself are sized as it asks.
    expect(about(config.topics.attempts)).toBeUndefined();
  });

  it('dead-letters an event whose task the deliveries topic it found would refuse, and routes the next', async () => {
    const catalog = loadEventCatalog();
    const registry = createSchemaRegistryClient(config.schemaRegistry);
    const { user: schemaId } = await registerSchemas(registry, config);
    const organization = uniqueName('org');
    await insertWebhook(scenario.pool, createSecretBox(config.secrets.encryptionKey), {
      organization, name: 'all', url: 'https://example.com/hook', eventTypes: ['*'], owner: 'test', verified: true, signingSecret: generateSigningSecret(),
    });
    // A 150 KB task: under the configured 1 MiB, over the 100 KB the deliveries topic takes.
    const large = sampleEvent(catalog, 'USER_CREATED', organization, { attributes: { note: 'x'.repeat(150_000) } });
    const next = sampleEvent(catalog, 'USER_CREATED', organization);
    const { tasks, deadLetters } = scenario;
    const producer = createProducer(scenario.kafka);
    await producer.connect();
    await producer.send({
      topic: config.topics.userEvents,
      messages: [{ key: 'large', value: await registry.encode(schemaId, large) }, { key: 'next', value: await registry.encode(schemaId, next) }],
    });
    await producer.disconnect();
    await waitFor('the next event routed', () => tasks.messages.length >= 1);
    await waitFor('the large one dead-lettered', () => deadLetters.messages.length >= 1);
    expect(tasks.messages.map((m) => decodeTask(m.value).event.eventId)).toEqual([next.eventId]);
    expect(deadLetters.messages.map((m) => m.key?.toString())).toEqual(['large']);
    expect(header(deadLetters.messages[0]!, 'dlq.error.code')).toBe('TASK_TOO_LARGE');
    expect(header(deadLetters.messages[0]!, 'dlq.error.message')).toContain(`at most ${deliveriesLimit}`);
  });
});
