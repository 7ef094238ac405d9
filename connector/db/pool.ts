import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type Pool = pg.Pool;

/**
 * A connection pool. With `queryTimeoutMs` (0: none), a query not answered in that time fails and its connection is
 * dropped (pg-pool discards a client released with an error): a server gone silent (a failover, a network flow
 * dropped) holds nothing for minutes. Enforced here, not with statement_timeout, which poolers such as PgBouncer
 * refuse as a startup parameter.
 */
export function createPool(options: { url: string; max: number; applicationName: string; queryTimeoutMs?: number }, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5000,
    // A peer that vanished without closing (a failover, a NAT dropping the flow) is found by TCP keepalive; without
    // it, the change listener's connection would wait for notifications that never come, with no error to react to.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (error) => log.warn({ err: error }, 'idle Postgres connection failed; the pool will reconnect'));
  return pool;
}
