import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWebhookEventRelay } from '../../connector/subscriptions/webhook-events-relay.js';
import { createTaskPublisher } from '../../admin-api/task-publisher.js';
import { insertWebhookRow } from '../../admin-api/store/webhooks.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { decodeTask } from '../../connector/delivery/task.js';
import { createKafka } from '../../connector/kafka/client.js';
import { ensureTopics } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox, secretPlace } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

/**
 * The relay of WEBHOOK_* events against a real broker that refuses its
 * writes: the recorded changes stay in Postgres, and a later relay delivers
 * them. No admin API runs in this file, so no other relay takes them first.
 */
describe('webhook change events: a relay that cannot publish loses nothing', () => {
  const services = inject('services');
  const config = testConfig(services);
  const log = createRootLogger({ level: 'silent' });
  const kafka = createKafka(config.kafka, log, 'relay-test');
  const organization = uniqueName('org');
  let pool: Pool;
  let reader: TopicReader | undefined;

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 3, applicationName: 'relay-test' }, log);
  });

  afterAll(async () => {
    await reader?.close();
    await pool?.end();
  });

  const pendingOf = async (org: string): Promise<number> =>
    Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM webhook_admin_events WHERE organization = $1', [org])).rows[0]!.n);

  it('keeps the recorded change while the broker refuses the tasks, and delivers it from the next relay', async () => {
    const box = createSecretBox(config.secrets.encryptionKey);
    const watcher = await insertWebhook(pool, box, { organization, name: 'watcher', url: 'https://example.com/hook', eventTypes: ['admin.*'], owner: 'test', verified: true, signingSecret: generateSigningSecret() });
    // Through the admin API's store, as the API writes: recorded.
    const createdId = randomUUID();
    const created = await insertWebhookRow(pool, {
      id: createdId, organization, owner: 'test', name: 'watched', description: '', url: 'https://example.com/watched', eventTypes: ['user.*'], bodyFormat: 'parallelworks',
      ordering: 'relaxed', enabled: true, verified: false, signingSecretEnc: box.encrypt(generateSigningSecret(), secretPlace.signingSecret(createdId)), apiKey: null,
    });
    expect(await pendingOf(organization)).toBe(1);

    // A topic that takes nothing as large as a task: the broker refuses every publish.
    const refusing = `${config.topics.deliveries}.refusing`;
    await ensureTopics(kafka, [{ topic: refusing, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '64' }] }], 1);
    const refusingPublisher = await createTaskPublisher(kafka, refusing, 1024 * 1024);
    const warnings: string[] = [];
    const relayLog = createRootLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(line) } });
    // Passes counted, so the relay is seen to fail several times, not stopped after its first warning.
    let tries = 0;
    const failing = createWebhookEventRelay({ pool, publish: (tasks) => ((tries += 1), refusingPublisher.publish(tasks)), log: relayLog, intervalMs: 20 });
    failing.start();
    await waitFor('three refused passes', () => tries >= 3 && warnings.some((line) => line.includes('could not deliver webhook change events')), 30_000);
    await failing.stop();
    // Said once for the outage, not once a pass.
    expect(warnings.filter((line) => line.includes('could not deliver webhook change events'))).toHaveLength(1);
    await refusingPublisher.close();
    expect(await pendingOf(organization)).toBe(1);

    const deliveries = `${config.topics.deliveries}.relayed`;
    await ensureTopics(kafka, [{ topic: deliveries, numPartitions: 1 }], 1);
    reader = await readTopic(kafka, deliveries);
    const publisher = await createTaskPublisher(kafka, deliveries, 1024 * 1024);
    const relay = createWebhookEventRelay({ pool, publish: publisher.publish, log, intervalMs: 20 });
    relay.start();
    try {
      await waitFor('the recorded change published and taken off the outbox', async () => (await pendingOf(organization)) === 0, 30_000);
      const task = await waitFor('the task on the topic', () => reader!.messages.map((m) => decodeTask(m.value!)).find((t) => t.webhookId === watcher));
      expect(task.event).toMatchObject({ eventType: 'WEBHOOK_CREATED', family: 'admin', organization, payload: { resourceId: created.id, resourceName: 'watched' } });
    } finally {
      await relay.stop();
      await publisher.close();
    }
  });
});
