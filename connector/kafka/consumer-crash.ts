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

/** Answers about a transactional producer's own state that a fresh producer (initialized anew) does not get. */
const PRODUCER_STATE_LOST = new Set(['INVALID_PRODUCER_ID_MAPPING', 'UNKNOWN_PRODUCER_ID', 'INVALID_TXN_STATE', 'OUT_OF_ORDER_SEQUENCE_NUMBER']);

/**
 * Whether the process goes on with fresh transactional producers after this
 * error, rather than stopping: fenced (see isProducerFenced), or the broker
 * forgot or no longer accepts a producer's state (its transactional id
 * expired after a partition had no events for transactional.id.expiration.ms,
 * 7 days by default). Nothing was committed by the failed transaction, so
 * routing again from the committed offsets loses and duplicates nothing.
 */
export function needsFreshProducers(error: unknown): boolean {
  const type = (rootCause(error) as { type?: unknown } | null)?.type;
  return isProducerFenced(error) || (typeof type === 'string' && PRODUCER_STATE_LOST.has(type));
}
