import type { Consumer, EachBatchPayload, Kafka, Message, Producer } from 'kafkajs';
import { createProducer } from '../kafka/client.js';
import { classify } from '../errors.js';
import type { EventCatalog } from '../events/catalog.js';
import { encodeTask } from '../delivery/task.js';
import { decodeFailures, recordsConsumed, routingFanout, tasksProduced } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { SubscriptionStore } from '../subscriptions/subscription-store.js';
import { toCanonicalEvent } from './canonical-event.js';
import { ingestDeadLetter } from './dead-letter.js';
import type { AvroDecoder } from './decode.js';
import { planTasks } from './route.js';

export interface RouterDeps {
  kafka: Kafka;
  catalog: EventCatalog;
  subscriptions: SubscriptionStore;
  /** Source topic → decoder with that topic's reader schema. */
  decoders: ReadonlyMap<string, AvroDecoder>;
  groupId: string;
  transactionalId: string;
  deliveriesTopic: string;
  ingestDlqTopic: string;
  log: Logger;
}

export interface Router {
  start(): Promise<void>;
  /** Stops fetching, lets the batch in hand finish its transaction, disconnects. */
  stop(): Promise<void>;
}

/**
 * The router: consume source records, decode, match, and publish one task per
 * matching webhook. Tasks, dead letters and the source offsets go in one Kafka
 * transaction, so a crash at any point neither loses nor duplicates tasks.
 */
export function createRouter(deps: RouterDeps): Router {
  const { kafka, log } = deps;
  let consumer: Consumer | null = null;
  let producer: Producer | null = null;

  const handleBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const decoder = deps.decoders.get(batch.topic);
    if (!decoder) throw new Error(`no decoder for topic ${batch.topic}`);
    const tasks: Message[] = [];
    const deadLetters: Message[] = [];
    let lastOffset: string | null = null;
    const index = deps.subscriptions.current();
    const now = Date.now();

    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      try {
        const event = toCanonicalEvent(await decoder.decode(message.value), deps.catalog);
        const planned = planTasks(event, index, now);
        routingFanout.observe(planned.length);
        for (const task of planned) tasks.push({ key: task.webhookId, value: encodeTask(task) });
      } catch (error) {
        const failure = classify(error);
        // Only poison is dead-lettered; a transient failure (registry down) fails the batch, which is retried whole.
        if (failure.kind !== 'poison') throw failure;
        decodeFailures.inc({ topic: batch.topic, reason: failure.code });
        log.warn({ topic: batch.topic, partition: batch.partition, offset: message.offset, code: failure.code, reason: failure.message }, 'source record dead-lettered');
        deadLetters.push(ingestDeadLetter({ topic: batch.topic, partition: batch.partition, message }, failure));
      }
      lastOffset = message.offset;
    }
    if (lastOffset === null) return;

    const transaction = await producer!.transaction();
    try {
      const topicMessages = [];
      if (tasks.length > 0) topicMessages.push({ topic: deps.deliveriesTopic, messages: tasks });
      if (deadLetters.length > 0) topicMessages.push({ topic: deps.ingestDlqTopic, messages: deadLetters });
      if (topicMessages.length > 0) await transaction.sendBatch({ topicMessages });
      await transaction.sendOffsets({
        consumerGroupId: deps.groupId,
        topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(lastOffset) + 1n).toString() }] }],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch((abortError: unknown) => log.warn({ err: abortError }, 'transaction abort failed'));
      throw error;
    }
    const handled = batch.messages.findIndex((m) => m.offset === lastOffset) + 1;
    recordsConsumed.inc({ topic: batch.topic }, handled);
    tasksProduced.inc(tasks.length);
    resolveOffset(lastOffset);
    await heartbeat();
  };

  return {
    async start() {
      producer = createProducer(kafka, { transactionalId: deps.transactionalId, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      consumer = kafka.consumer({ groupId: deps.groupId, readUncommitted: false });
      await consumer.connect();
      await consumer.subscribe({ topics: [...deps.decoders.keys()], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: handleBatch });
      log.info({ topics: [...deps.decoders.keys()], groupId: deps.groupId }, 'router consuming');
    },
    async stop() {
      await consumer?.disconnect();
      await producer?.disconnect();
      consumer = null;
      producer = null;
    },
  };
}
