import pg from 'pg';
import type { Logger } from '../observability/logger.js';

export type Pool = pg.Pool;

/** The session setting under which changes to webhooks are recorded as WEBHOOK_* events (see migration 1764000000006). */
export const RECORD_WEBHOOK_CHANGES = 'identity_webhooks.record_changes';

/**
 * `recordWebhookChanges`: this pool's changes to webhooks are recorded as WEBHOOK_* events for the organization's
 * subscribers. The admin API's pool sets it: a change an admin makes is news; bookkeeping by the connector is not.
 * Set by a statement on each new connection rather than a startup option, which connection poolers such as
 * PgBouncer refuse unless told to ignore it.
 */
export function createPool(options: { url: string; max: number; applicationName: string; recordWebhookChanges?: boolean }, log: Logger): pg.Pool {
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
  if (options.recordWebhookChanges) {
    // Queued ahead of the query the connection was made for, so no statement of this pool runs without it.
    pool.on('connect', (client) => {
      client.query(`SET ${RECORD_WEBHOOK_CHANGES} = on`).catch((error: unknown) => log.warn({ err: error }, 'could not turn on recording webhook changes on a connection; its changes send no WEBHOOK_* events'));
    });
  }
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', (error) => log.warn({ err: error }, 'idle Postgres connection failed; the pool will reconnect'));
  return pool;
}
