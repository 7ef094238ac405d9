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
