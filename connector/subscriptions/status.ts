import type { Pool } from '../db/pool.js';
import { CONNECTOR_ACTOR, recordedWebhookChange } from '../db/webhook-changes.js';

/** What became of a webhook an endpoint's 410 asked to disable: disabled now, inactive already, or moved elsewhere meanwhile. */
export type Deactivation = 'disabled' | 'not-active' | 'moved';

/**
 * Sets a webhook inactive with a reason an admin can read (seed 004's "reason for status change"), told to the
 * organization's webhooks subscribed to WEBHOOK_UPDATED.
 */

export async function deactivateWebhook(pool: Pool, webhookId: string, answeredUrl: string, reason: string): Promise<Deactivation> {
  // Only while the webhook still points where the answer came from: moved meanwhile, the new endpoint is not judged
  // by the old one's word.
  const { rowCount } = await recordedWebhookChange(pool, CONNECTOR_ACTOR, (db) => db.query(
    `UPDATE webhooks SET status = 'inactive', status_reason = $2, status_changed_at = now(), updated_at = now(), version = version + 1
      WHERE id = $1 AND status = 'active' AND url = $3`,
    [webhookId, reason, answeredUrl],
  ));
  if (rowCount === 1) return 'disabled';
  const { rows } = await pool.query<{ status: string; url: string }>('SELECT status, url FROM webhooks WHERE id = $1', [webhookId]);
  return rows[0]?.status === 'active' && rows[0].url !== answeredUrl ? 'moved' : 'not-active';
}
