import type { Consumer } from 'kafkajs';

/**
 * kafkajs restarts a consumer by itself after a crash it deems retriable.
 * After any other (a non-retriable broker answer, an error thrown from the
 * batch handler) it disconnects the consumer and stays silent: the process
 * keeps running, healthy to every probe, and consumes nothing. This hands
 * such a crash to the component, which rejoins or stops the process.
 */
export function whenConsumerGivesUp(consumer: Consumer, handler: (error: Error) => void): void {
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) handler(payload.error);
  });
}

/** The innermost `cause` of an error: kafkajs wraps a broker's answer in retry errors. */
export function rootCause(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 10; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) return current;
    current = cause;
  }
  return current;
}

/** A transactional producer whose id another producer has initialized since: the partition has a new owner. */
export function isProducerFenced(error: unknown): boolean {
  const type = (rootCause(error) as { type?: unknown } | null)?.type;
  return type === 'PRODUCER_FENCED' || type === 'INVALID_PRODUCER_EPOCH';
}
