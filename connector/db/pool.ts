import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type Pool = pg.Pool;

export function createPool(options: { url: string; max: number; applicationName: string }, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName,
    connectionTimeoutMillis: 5000,
    // A peer that vanished without closing (a failover, a NAT dropping the flow) is found by TCP keepalive; without
    // it, the change listener's connection would wait for notifications that never come, with no error to react to.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (error) => log.warn({ err: error }, 'idle Postgres connection failed; the pool will reconnect'));
  return pool;
}
