import type pg from 'pg';
import type { Pool } from './pool.js';
import { inTransaction } from './transaction.js';

/** The actor of the changes the connector makes itself (a webhook disabled after 410 Gone or days of failures). */
export const CONNECTOR_ACTOR = 'identity-webhooks';

/**
 * Runs a change to webhooks in a transaction that records it as a WEBHOOK_*
 * event for the organization's subscribers (the trigger of migration
 * 1764000000006 reads the setting), `actor` being who made it: an admin API
 * token's subject, or CONNECTOR_ACTOR. Local to the transaction, so it holds
 * behind a transaction-pooling PgBouncer too, and writes that are not news
 * (verification results, failing streaks, a script's) are not recorded.
 */
export function recordedWebhookChange<T>(pool: Pool, actor: string, change: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query(`SELECT set_config('identity_webhooks.record_changes', 'on', true), set_config('identity_webhooks.actor', $1, true)`, [actor]);
    return change(client);
  });
}
