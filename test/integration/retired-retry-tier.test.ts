import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { encodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { createProducer } from '../../connector/kafka/client.js';
import { ensureTopics, readByGroup, retryTopic, withAdmin } from '../../connector/kafka/topics.js';
import { retiredTiersToDrain, tierGroupId } from '../../connector/delivery/retry-tier.js';
import { createRootLogger } from '../../connector/observability/logger.js';
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

    // A retired tier with no task written this week is left alone: its group's offsets expire after a week without
    // members, and reading it again would send what was sent long ago.
    const quiet = retryTopic(s.config, '9s');
    await ensureTopics(s.kafka, [{ topic: quiet, numPartitions: 1 }], 1);
    const old = createProducer(s.kafka);
    await old.connect();
    await old.send({ topic: quiet, messages: [{ key: hook.id, value: encodeTask(task(2)), timestamp: String(Date.now() - 8 * 24 * 3600 * 1000), headers: { 'retry.due-at': '0' } }] });
    await old.disconnect();
    await s.stopDeliverer();
    await s.startDeliverer();
    const admin = s.kafka.admin();
    await admin.connect();
    try {
      const groupOf = (label: string) => `${s!.config.deliverer.groupId}.retry.${label}`;
      const { groups } = await admin.describeGroups([groupOf('7s'), groupOf('9s')]);
      // Still written to this week: read again (a deploy may still be writing to it).
      expect(groups.find((g) => g.groupId === groupOf('7s'))!.members).toHaveLength(1);
      expect(groups.find((g) => g.groupId === groupOf('9s'))!.members).toHaveLength(0);
    } finally {
      await admin.disconnect();
    }
    expect(seqs(hook.receiver)).toEqual([0, 1]);

    // Left alone, but not in silence. A group that committed partway: what lies past its offset will not be sent
    // unless copied on. A group with no offsets (never read, or expired): what it holds cannot be told of.
    const partlyRead = retryTopic(s.config, '11s');
    await ensureTopics(s.kafka, [{ topic: partlyRead, numPartitions: 1 }], 1);
    const older = createProducer(s.kafka);
    await older.connect();
    const longAgo = String(Date.now() - 8 * 24 * 3600 * 1000);
    await older.send({ topic: partlyRead, messages: [task(3), task(4)].map((t) => ({ key: hook.id, value: encodeTask(t), timestamp: longAgo, headers: { 'retry.due-at': '0' } })) });
    await older.disconnect();
    const setter = s.kafka.admin();
    await setter.connect();
    await setter.setOffsets({ groupId: tierGroupId(s.config, '11s'), topic: partlyRead, partitions: [{ partition: 0, offset: '1' }] });
    await setter.disconnect();
    const lines: Array<Record<string, unknown>> = [];
    const log = createRootLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    const drained = await retiredTiersToDrain(s.kafka, s.config, log);
    expect(drained).toContain('7s');
    expect(drained).not.toContain('9s');
    expect(drained).not.toContain('11s');
    expect(lines.find((line) => line['topic'] === quiet)).toMatchObject({ level: 'warn', groupId: tierGroupId(s.config, '9s'), unreadTasks: 0, tasksOfUnknownState: 1 });
    expect(lines.find((line) => line['topic'] === partlyRead)).toMatchObject({ level: 'warn', groupId: tierGroupId(s.config, '11s'), unreadTasks: 1, tasksOfUnknownState: 0 });
    // The drained tier's group read both of its tasks: nothing is left there once its offsets are committed.
    await waitFor('the retired tier committed past its tasks', async () => {
      const read = await withAdmin(s!.kafka, (admin) => readByGroup(admin, tierGroupId(s!.config, '7s'), retired));
      return read.unread === 0n && read.unknown === 0n;
    }, 15_000);
  });
});
