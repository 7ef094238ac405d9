import type { KafkaMessage, Producer } from 'kafkajs';
import { classify, type ConnectorError } from '../errors.js';
import { deadLetterOf } from '../kafka/dead-letter.js';
import type { Logger } from '../observability/logger.js';
import { deadLetters } from '../observability/metrics.js';
import { decodeTask, type DeliveryTask } from './task.js';

/** Longest pause between tries for a caller holding a consumer's batch: well below the group's session timeout. */
export const MAX_PAUSE_WHILE_HOLDING_MS = 5000;

export interface UntilDoneOptions {
  /** Aborted when the process stops: the loop ends with the last error. */
  signal: AbortSignal;
  /** Told of each failure, before the pause that follows it. */
  onFailure: (error: unknown, retryInMs: number) => void;
  /** The longest pause (default 30 s). A caller holding a consumer's batch keeps it below the group's session timeout. */
  maxPauseMs?: number;
  /** Runs after each pause: a caller holding a batch heartbeats its group here. Throwing ends the loop. */
  afterPause?: () => Promise<void>;
  /** Errors not worth another try (the work can never succeed): thrown at once. */
  giveUpOn?: (error: unknown) => boolean;
  /** How the pause after `error` is waited out (a scheduled task's: aside, not holding a slot); at once by default. */
  wait?: (pausing: Promise<void>, error: unknown) => Promise<void>;
}

/**
 * Runs `work` until it succeeds: infrastructure trouble (Postgres or Kafka
 * unreachable, a write Kafka refuses) is not the work's fault, and work
 * given up would leave its record unfinished, holding its partition's
 * committed offset back until a restart sent everything after it again (or,
 * thrown to kafkajs, crash and restart the consumer over and over). Tries
 * again with a pause doubling from 500 ms to `maxPauseMs`; stops when
 * `signal` aborts (the record then stays uncommitted and is read again), or
 * on an error `giveUpOn` says no try will mend.
 * The caller's queue, and only it, waits meanwhile.
 */
export async function untilDone<T>(work: () => Promise<T>, options: UntilDoneOptions): Promise<T> {
  const maxPauseMs = options.maxPauseMs ?? 30_000;
  for (let pauseMs = 500; ; pauseMs = Math.min(pauseMs * 2, maxPauseMs)) {
    try {
      return await work();
    } catch (error) {
      if (options.signal.aborted || options.giveUpOn?.(error)) throw error;
      options.onFailure(error, pauseMs);
      const pausing = pause(pauseMs, options.signal);
      await (options.wait ? options.wait(pausing, error) : pausing);
      if (options.signal.aborted) throw error;
      await options.afterPause?.();
    }
  }
}

/** How often a batch handler waiting on slow work heartbeats (kafkajs sends one only once its interval has passed). */
const HEARTBEAT_EVERY_MS = 1000;

/**
 * Runs `work` while heartbeating the consumer's group, so a slow write (Postgres taking its time, up to
 * DATABASE_QUERY_TIMEOUT_MS) does not cost the member its partitions. A heartbeat refused (the group rebalancing)
 * is left to the caller's next one to report: the work still finishes, and what it wrote is idempotent.
 */
export async function heartbeatWhile<T>(heartbeat: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The task in a record of a task topic, or null when the record is not a
 * task: then it has been dead-lettered with the reason (retried until Kafka
 * takes it, see untilDone), and the caller counts it as done.
 */
export async function decodeOrDeadLetter(
  message: KafkaMessage,
  where: { topic: string; partition: number },
  deps: { producer: Producer; dlqTopic: string; signal: AbortSignal; log: Logger },
): Promise<DeliveryTask | null> {
  try {
    return decodeTask(message.value);
  } catch (error) {
    await deadLetterRecord(message, where, classify(error), deps);
    return null;
  }
}

/**
 * Dead-letters a record of a task topic as it was read, with the reason: a
 * record that is no task, or a task that can never be sent (retried until
 * Kafka takes it, see untilDone). The caller counts it as done.
 */
export async function deadLetterRecord(
  message: KafkaMessage,
  where: { topic: string; partition: number },
  failure: ConnectorError,
  deps: { producer: Producer; dlqTopic: string; signal: AbortSignal; log: Logger },
): Promise<void> {
  const letter = deadLetterOf({ ...where, message }, failure);
  const context = { topic: where.topic, partition: where.partition, offset: message.offset, code: failure.code };
  await untilDone(
    () => deps.producer.send({ topic: deps.dlqTopic, messages: [letter] }),
    {
      signal: deps.signal,
      onFailure: (sendError, retryInMs) => deps.log.warn({ err: sendError, ...context, retryInMs }, 'task could not be dead-lettered; retrying'),
    },
  );
  deadLetters.inc({ kind: 'delivery', reason: failure.code });
  deps.log.warn({ ...context, reason: failure.message }, 'task dead-lettered unsent');
}

/** Waits `ms`, or less when `signal` aborts (the process is stopping). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
