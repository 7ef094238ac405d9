/**
 * Which dependency a failure says is out of reach: Postgres or Kafka refusing
 * or dropping connections, or not answering in time. The admin API answers
 * those `503` with `Retry-After` (the request may succeed as it is, later),
 * not `500`: clients and load balancers retry a 503, and SREs page on 500s.
 */
export type Dependency = 'postgres' | 'kafka';

/** kafkajs failures of reaching a broker at all, or in time. */
const KAFKA_UNREACHABLE = new Set([
  'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSBrokerNotFound', 'KafkaJSNoBrokerAvailableError',
  'KafkaJSGroupCoordinatorNotFound', 'KafkaJSTimeout',
]);

/** Socket failures: the peer is down, restarting, or unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * Postgres SQLSTATEs of a server out of reach or out of room: connection failures (08000, 08001, 08003, 08004,
 * 08006; not 08P01, a protocol violation, which is a bug), shutting down or starting (57P01-57P03), too many
 * connections (53300).
 */
const POSTGRES_UNAVAILABLE = new Set(['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300']);

/** The dependency out of reach that caused `error` (or a cause of it, kafkajs wrapping its retries), if any. */
export function unavailableDependency(error: unknown): Dependency | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    // A broker out of reach, or one answering with an error it says to retry (no leader yet, not enough replicas).
    // Not the others: a topic the connector may not write, a task larger than the topic takes, will not pass later.
    if (KAFKA_UNREACHABLE.has(current.name) || (current.name === 'KafkaJSProtocolError' && (current as { retriable?: unknown }).retriable === true)) return 'kafka';
    const code = (current as { code?: unknown }).code;
    // Bare socket errors: kafkajs wraps its own, so these are node-postgres's.
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || POSTGRES_UNAVAILABLE.has(code))) return 'postgres';
    // node-postgres's own words for a connection lost or not had in time, or a query not answered in time.
    if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/.test(current.message)) return 'postgres';
    // A statement cancelled by Postgres: a statement_timeout an operator set for the role, or a cancel of theirs.
    if (code === '57014') return 'postgres';
  }
  return null;
}
