import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { createProducer } from '../../connector/kafka/client.js';
import { ConnectorError } from '../../connector/errors.js';
import { deliveryScenario, type DeliveryScenario } from '../support/delivery-scenario.js';
import { header, readTopic, type TopicReader } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

/**
 * Tasks that can never be sent as they are: each is classified once, as poison
 * (dead-lettered, its partition goes on) or fatal (the process stops), and
 * never retried in a slot for good, holding its webhook's queue and its
 * partition's committed offset.
 */
describe('delivery of tasks that cannot be sent', () => {
  let s: DeliveryScenario;
  let dlq: TopicReader;
  const fatalErrors: unknown[] = [];

  beforeAll(async () => {
    s = await deliveryScenario(inject('services'));
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

  it('stops the process, rather than retrying for good, when a webhook\'s secret opens with no configured key; the task stays uncommitted', async () => {
    const hook = await s.addWebhook();
    // What a database restored under another encryption key, or a key dropped too soon, looks like.
    await s.pool.query('UPDATE webhooks SET signing_secret_enc = $2 WHERE id = $1', [hook.id, `v1:${Buffer.alloc(60, 7).toString('base64')}`]);
    const [task] = await s.produceTasks(hook.id, 1);
    const error = await waitFor('the fatal error', () => fatalErrors[0]);
    expect(error).toBeInstanceOf(ConnectorError);
    expect(error).toMatchObject({ kind: 'fatal', code: 'SECRET_DECRYPT_FAILED' });
    expect(fatalErrors).toHaveLength(1);
    // The stop the process makes then finishes: the task waits aside, not in a retry loop, and is left unfinished.
    await s.stopDeliverer();
    expect(hook.receiver.requests).toHaveLength(0);
    const { partition, offset } = s.positionOf(task!.taskId)!;
    expect(await committedOffset(partition)).toBeLessThanOrEqual(offset);
  });
});
