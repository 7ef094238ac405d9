import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTaskPublisher, type TaskPublisher } from '../../admin-api/task-publisher.js';
import { decodeTask, taskIdFor, type DeliveryTask } from '../../connector/delivery/task.js';
import { createKafka } from '../../connector/kafka/client.js';
import { connectorTopics, ensureTopics, topicMessageLimits } from '../../connector/kafka/topics.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig } from '../support/harness.js';
import { readTopic } from '../support/topic-reader.js';
import { waitFor } from '../support/wait.js';

/** The admin API's way onto the deliveries topic (test events, redeliveries, recoveries), on a real broker. */
describe('task publisher', () => {
  const config = testConfig(inject('services'));
  const kafka = createKafka(config.kafka, createRootLogger({ level: 'error' }), 'test');
  let publisher: TaskPublisher;

  beforeAll(async () => {
    await ensureTopics(kafka, connectorTopics(config), 1);
    publisher = await createTaskPublisher(kafka, config.topics.deliveries, config.topics.deliveriesMaxMessageBytes);
  });

  afterAll(async () => {
    await publisher?.close();
  });

  it('publishes one webhook\'s tasks, together far past the topic\'s message limit, all of them and in order', async () => {
    const webhookId = randomUUID();
    const limit = topicMessageLimits(config).deliveries;
    // Each task a tenth of the limit: thirty of them, three times what one request for their partition may carry.
    const tasks: DeliveryTask[] = Array.from({ length: 30 }, (_, seq) => {
      const eventId = randomUUID();
      return {
        v: 1, taskId: taskIdFor(eventId, webhookId), webhookId, organization: 'org', attempt: 1, routedAt: Date.now(),
        event: { eventId, eventType: 'USER_CREATED', family: 'user', occurredAt: Date.now(), organization: 'org', actor: null, source: 'test', payload: { seq, padding: 'x'.repeat(limit / 10) } },
      };
    });
    await publisher.publish(tasks);
    const reader = await readTopic(kafka, config.topics.deliveries);
    try {
      const ours = () => reader.messages.filter((m) => m.key?.toString() === webhookId);
      await waitFor('the thirty tasks', () => ours().length >= 30, 30_000);
      expect(ours().map((m) => decodeTask(m.value!).taskId)).toEqual(tasks.map((t) => t.taskId));
    } finally {
      await reader.close();
    }
  });
});
