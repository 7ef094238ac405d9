import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type Pool = pg.Pool;

/** How much longer than the statement timeout a query waits for an answer: the server's own cancel comes first. */
const ANSWER_GRACE_MS = 1000;

/**
 * A connection pool. With `queryTimeoutMs`, Postgres cancels a statement running longer (the connection stays
 * usable), and a query without any answer a second after that fails and its connection is dropped (pg-pool discards
 * a client released with an error): a server gone silent holds nothing for minutes.
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
    ...(options.queryTimeoutMs === undefined ? {} : { statement_timeout: options.queryTimeoutMs, query_timeout: options.queryTimeoutMs + ANSWER_GRACE_MS }),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (error) => log.warn({ err: error }, 'idle Postgres connection failed; the pool will reconnect'));
  return pool;
}
