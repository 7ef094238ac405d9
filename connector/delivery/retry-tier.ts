import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Logger } from '../observability/logger.js';
import { createGroupConsumer } from '../kafka/client.js';
import { decodeOrDeadLetter, MAX_PAUSE_WHILE_HOLDING_MS, untilDone } from './persist.js';
import type { TaskHandler } from './task-handler.js';

export interface RetryTierDeps {
  kafka: Kafka;
  handle: TaskHandler;
  /** For records of the tier that are not tasks. */
  producer: Producer;
  dlqTopic: string;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  partitionsConcurrently: number;
  /** Its consumer stopped for good (kafkajs gave it up): the process stops in order and exits non-zero. */
  onFatal: (error: unknown) => void;
  log: Logger;
  now?: () => number;
}

/**
 * One retry tier. Tasks in a tier share one delay, so they come due in
 * offset order: the consumer handles the due head of each partition, and
 * when the head is not due yet it pauses that partition until it is, rather
 * than sleeping, so other partitions go on. Only handled offsets are
 * committed.
 */
export function createRetryTier(deps: RetryTierDeps): { start(): Promise<void>; stop(): Promise<void> } {
  const now = deps.now ?? Date.now;
  const shutdown = new AbortController();
  const resumeTimers = new Set<NodeJS.Timeout>();
  let consumer: Consumer | null = null;

  const handleBatch = async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || shutdown.signal.aborted) return;
      const dueAt = Number(message.headers?.['retry.due-at']?.toString() ?? 0);
      const wait = dueAt - now();
      if (wait > 0) {
        const resume = pause();
        const timer = setTimeout(() => {
          resumeTimers.delete(timer);
          resume();
        }, wait);
        resumeTimers.add(timer);
        return;
      }
      const { signal } = shutdown;
      // Postgres or Kafka trouble holds this partition of the tier, not the consumer: no crash and restart loop.
      // The batch is held meanwhile, so the pauses stay short and the group is heartbeated after each.
      const retry = { maxPauseMs: MAX_PAUSE_WHILE_HOLDING_MS, afterPause: heartbeat };
      const task = await decodeOrDeadLetter(message, batch, { producer: deps.producer, dlqTopic: deps.dlqTopic, signal, log: deps.log, retry });
      if (task) {
        const { logged } = await untilDone(() => deps.handle(task, { ...retry, signal }), {
          ...retry,
          signal,
          onFailure: (error, retryInMs) => deps.log.warn({ err: error, webhookId: task.webhookId, taskId: task.taskId, retryInMs }, 'retry could not be completed; retrying'),
        });
        await logged;
      }
      resolveOffset(message.offset);
      await consumer!.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(message.offset) + 1n).toString() }]);
      await heartbeat();
    }
  };

  return {
    async start() {
      consumer = createGroupConsumer(deps.kafka, { groupId: deps.groupId, sessionTimeoutMs: deps.sessionTimeoutMs, onGivenUp: deps.onFatal });
      await consumer.connect();
      await consumer.subscribe({ topics: [deps.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: deps.partitionsConcurrently, eachBatch: handleBatch });
    },
    async stop() {
      shutdown.abort(new Error('shutting down'));
      for (const timer of resumeTimers) clearTimeout(timer);
      await consumer?.disconnect();
      consumer = null;
    },
  };
}
