import type { KafkaMessage, Producer } from 'kafkajs';
import { classify } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { deadLetters } from '../observability/metrics.js';
import { decodeTask, type DeliveryTask } from './task.js';

/** The longest pause between two tries. */
const MAX_BACKOFF_MS = 30_000;

/**
 * Runs `work` until it succeeds: infrastructure trouble (Postgres or Kafka
 * unreachable, a write Kafka refuses) is not the task's fault, and a task
 * given up would stay unfinished, holding its partition's committed offset
 * back until a restart sent everything after it again. Tries again with a
 * pause doubling from 500 ms to 30 s; stops only when `signal` aborts (the
 * task then stays uncommitted and is redelivered). The caller's queue, and
 * only it, waits meanwhile.
 */
export async function untilDone<T>(work: () => Promise<T>, options: { signal: AbortSignal; log: Logger; context: () => Record<string, unknown>; failed: string }): Promise<T> {
  for (let backoffMs = 500; ; backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS)) {
    try {
      return await work();
    } catch (error) {
      if (options.signal.aborted) throw error;
      options.log.warn({ err: error, ...options.context(), retryInMs: backoffMs }, options.failed);
      await pause(backoffMs, options.signal);
      if (options.signal.aborted) throw error;
    }
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
    const failure = classify(error);
    const { key, value, headers } = message;
    const context = { topic: where.topic, partition: where.partition, offset: message.offset, code: failure.code };
    await untilDone(
      () => deps.producer.send({ topic: deps.dlqTopic, messages: [{ key, value, headers: { ...headers, 'dlq.error.code': failure.code, 'dlq.error.message': failure.message } }] }),
      { signal: deps.signal, log: deps.log, context: () => context, failed: 'malformed task could not be dead-lettered; retrying' },
    );
    deadLetters.inc({ kind: 'delivery', reason: failure.code });
    deps.log.warn({ ...context, reason: failure.message }, 'malformed task dead-lettered');
    return null;
  }
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
