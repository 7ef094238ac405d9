import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { createProducer } from '../../connector/kafka/client.js';
import { deliveryScenario, type DeliveryScenario } from '../support/delivery-scenario.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { header, readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

/**
 * Tasks that cannot be sent as they are: poison is dead-lettered and its
 * partition goes on; a webhook whose secret opens with no configured key
 * waits, aside, until an operator mends it. Neither holds one of the slots
 * every webhook shares (one slot and one partition here: a task holding
 * the slot would stop every task behind it).
 */
/** One slot, nothing signed ahead, one partition: a task holding the slot would stop every task behind it. */
const ONE_SLOT = { DELIVERER_MAX_IN_FLIGHT: '1', DELIVERER_SEND_AHEAD: '0', TOPIC_DELIVERIES_PARTITIONS: '1' };

describe('delivery of tasks that cannot be sent', () => {
  let s: DeliveryScenario;
  let dlq: TopicReader;
  const fatalErrors: unknown[] = [];

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'), ONE_SLOT);
    dlq = await readTopic(s.kafka, s.config.topics.deliveriesDlq);
    await s.startDeliverer((error) => fatalErrors.push(error));
  });

  afterAll(async () => {
    await dlq?.close();
    await s?.close();
  });

  const committedOffset = async (partition: number): Promise<bigint> => {
    const admin = s.kafka.admin();
    await admin.connect();
    try {
      const [topic] = await admin.fetchOffsets({ groupId: s.config.deliverer.groupId, topics: [s.config.topics.deliveries] });
      return BigInt(topic!.partitions.find((p) => p.partition === partition)!.offset);
    } finally {
      await admin.disconnect();
    }
  };

  it('dead-letters a task whose webhook id is no UUID, and commits past it', async () => {
    const hook = await s.addWebhook();
    const eventId = randomUUID();
    const damaged: DeliveryTask = {
      v: 1, taskId: taskIdFor(eventId, 'not-a-uuid'), webhookId: 'not-a-uuid', organization: s.organization, attempt: 1, routedAt: Date.now(),
      event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: s.organization, actor: null, source: 'test', payload: { seq: 0 } },
    };
    const producer = createProducer(s.kafka);
    await producer.connect();
    // Keyed as the webhook's tasks are: the same partition, ahead of them.
    await producer.send({ topic: s.config.topics.deliveries, messages: [{ key: hook.id, value: encodeTask(damaged) }] });
    await producer.disconnect();
    const [after] = await s.produceTasks(hook.id, 1);
    const letter = await waitFor('the dead letter', () => dlq.messages.find((m) => m.key?.toString() === hook.id));
    expect(header(letter, 'dlq.error.code')).toBe('TASK_MALFORMED');
    expect(header(letter, 'dlq.error.message')).toContain('not a UUID');
    await waitFor('the webhook\'s own task delivered', () => hook.receiver.requests.length === 1);
    const { partition, offset } = s.positionOf(after!.taskId)!;
    // Before, its lookup failed in Postgres on every try, and the partition's commit stayed below it for good.
    await waitFor('the commit past both', async () => (await committedOffset(partition)) === offset + 1n, 15_000);
    expect(fatalErrors).toEqual([]);
  });

  it('holds only the webhook whose secret opens with no configured key, without a slot, and sends its task once the secret is mended', async () => {
    const broken = await s.addWebhook();
    const healthy = await s.addWebhook();
    const { rows } = await s.pool.query<{ signing_secret_enc: string }>('SELECT signing_secret_enc FROM webhooks WHERE id = $1', [broken.id]);
    // Another webhook's secret copied into its row: sealed to that webhook, no key opens it here, as none opens a
    // value in a database restored under another encryption key, or one sealed with a key dropped too soon.
    await s.pool.query('UPDATE webhooks SET signing_secret_enc = (SELECT signing_secret_enc FROM webhooks WHERE id = $2) WHERE id = $1', [broken.id, healthy.id]);
    const [held] = await s.produceTasks(broken.id, 1);
    // Behind it in the one partition, and sent though the one slot was its first: it waits aside.
    await s.produceTasks(healthy.id, 3);
    await waitFor('the healthy webhook\'s tasks', () => healthy.receiver.requests.length === 3, 15_000);
    expect(broken.receiver.requests).toHaveLength(0);
    const { partition, offset } = s.positionOf(held!.taskId)!;
    expect(await committedOffset(partition)).toBeLessThanOrEqual(offset);
    // Mended (the key configured again, here the secret sealed as before): the task goes out, signed, and is committed.
    await s.pool.query('UPDATE webhooks SET signing_secret_enc = $2 WHERE id = $1', [broken.id, rows[0]!.signing_secret_enc]);
    await waitFor('the held task sent', () => broken.receiver.requests.length === 1, 30_000);
    expect(broken.receiver.requests[0]!.headers['webhook-id']).toBe(held!.taskId);
    await waitFor('the commit past it', async () => (await committedOffset(partition)) > offset, 15_000);
    expect(fatalErrors).toEqual([]);
  });
});

describe('delivery of tasks that cannot be sent yet', () => {
  it('holds only the webhook Postgres cannot give while it is unreachable, without a slot: a webhook read before goes on, and the held task goes out once Postgres is back', async () => {
    const services = inject('services');
    // The connector reaches Postgres through a proxy the test cuts.
    const direct = new URL(services.databaseUrl);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    const viaProxy = new URL(services.databaseUrl);
    viaProxy.port = String(proxy.port);
    const fatalErrors: unknown[] = [];
    const s = await deliveryScenario(services, { ...ONE_SLOT, DATABASE_URL: viaProxy.toString() });
    try {
      const known = await s.addWebhook();
      const unread = await s.addWebhook();
      await s.startDeliverer((error) => fatalErrors.push(error));
      await s.produceTasks(known.id, 1);
      await waitFor('the first delivery, which reads its webhook', () => known.receiver.requests.length === 1, 15_000);

      proxy.cut();
      // First in the one partition: its webhook was never read, and cannot be now.
      const [waiting] = await s.produceTasks(unread.id, 1);
      const behind = await s.produceTasks(known.id, 3);
      // Before, the unread webhook's task kept the one slot between its tries, and these waited for Postgres too.
      await waitFor('the known webhook\'s tasks behind it', () => known.receiver.requests.length === 4, 20_000);
      expect(known.receiver.requests.slice(1).map((r) => r.headers['webhook-id'])).toEqual(behind.map((task) => task.taskId));
      expect(unread.receiver.requests).toHaveLength(0);

      proxy.restore();
      await waitFor('the held task, once Postgres is back', () => unread.receiver.requests.length === 1, 30_000);
      expect(unread.receiver.requests[0]!.headers['webhook-id']).toBe(waiting!.taskId);
      expect(fatalErrors).toEqual([]);
    } finally {
      await s.close();
      await proxy.close();
    }
  });
});
