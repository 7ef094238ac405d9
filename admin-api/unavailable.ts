/**
 * Which dependency a failure says is out of reach: Postgres or Kafka refusing
 * or dropping connections, or not answering in time. The admin API answers
 * those `503` with `Retry-After` (the request may succeed as it is, later),
 * not `500`: clients and load balancers retry a 503, and SREs page on 500s.
 */
export type Dependency = 'postgres' | 'kafka';

/** Socket failures: the peer is down, restarting, or unreachable. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * Postgres SQLSTATEs of a server out of reach or out of room: connection exceptions (class 08), shutting down or
 * starting (57P01-57P03), too many connections (53300).
 */
function postgresUnavailable(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

export function unavailableDependency(error: unknown): Dependency | null {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    // Every kafkajs error is named KafkaJS…: the admin API's Kafka work is publishing tasks and asking for metadata.
    if (current.name.startsWith('KafkaJS')) return 'kafka';
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && postgresUnavailable(code)))) return 'postgres';
    // node-postgres's own words for a connection lost or not had in time.
    if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(current.message)) return 'postgres';
  }
  return null;
}
