import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { createProducer } from '../../connector/kafka/client.js';
import { ensureTopics, recordsLeft, retryTopic, standingOf } from '../../connector/kafka/topics.js';
import { deliveryScenario, seqs, type DeliveryScenario } from '../support/delivery-scenario.js';
import { waitFor } from '../support/wait.js';

/**
 * A retry schedule changed while tasks waited in a tier it no longer has: the deliverer drains that tier's topic
 * too, or its tasks would sit until the topic's retention deleted them, unsent and unreported.
 */
describe('retired retry tier', () => {
  let s: DeliveryScenario | undefined;

  afterAll(async () => {
    await s?.close();
  });

  it('delivers the tasks left in the topic of a tier dropped from the schedule, each when due, in order', async () => {
    s = await deliveryScenario(inject('services'));
    const hook = await s.addWebhook();
    // 7s is in no schedule of this scenario (200, 400, 600 ms): a tier of an earlier configuration.
    const retired = retryTopic(s.config, '7s');
    await ensureTopics(s.kafka, [{ topic: retired, numPartitions: 2 }], 1);
    const task = (seq: number): DeliveryTask => {
      const eventId = randomUUID();
      return {
        v: 1, taskId: taskIdFor(eventId, hook.id), webhookId: hook.id, organization: s!.organization, attempt: 2, routedAt: Date.now(),
        event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: s!.organization, actor: null, source: 'test', payload: { seq } },
      };
    };
    const producer = createProducer(s.kafka);
    await producer.connect();
    const notBefore = Date.now() + 2000;
    await producer.send({
      topic: retired,
      messages: [
        { key: hook.id, value: encodeTask(task(0)), headers: { 'retry.due-at': String(Date.now()) } },
        { key: hook.id, value: encodeTask(task(1)), headers: { 'retry.due-at': String(notBefore) } },
      ],
    });
    await producer.disconnect();

    await s.startDeliverer();
    await waitFor('both retired-tier tasks delivered', () => hook.receiver.requests.length >= 2, 30_000);
    expect(seqs(hook.receiver)).toEqual([0, 1]);
    // A tier's wait still holds: the second was dated two seconds on.
    expect(hook.receiver.requests[1]!.receivedAt).toBeGreaterThanOrEqual(notBefore);

    // Drained (both committed), the next start leaves the retired tier alone, so its topic may be deleted.
    const group = `${s.config.deliverer.groupId}.retry.7s`;
    await waitFor('the retired tier committed', async () => !recordsLeft(await standingOf(s!.kafka, group, retired)), 15_000);
    await s.stopDeliverer();
    await s.startDeliverer();
    const admin = s.kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups([group, `${s.config.deliverer.groupId}.retry.200ms`]);
      expect(groups.find((g) => g.groupId === group)!.members).toHaveLength(0);
      expect(groups.find((g) => g.groupId !== group)!.members).toHaveLength(1);
    } finally {
      await admin.disconnect();
    }
  });
});
