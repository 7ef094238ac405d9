import type { Pool } from '../db/pool.js';
import { CONNECTOR_ACTOR, recordedWebhookChange } from '../db/webhook-changes.js';

/**
 * Sets a webhook inactive with a reason an admin can read (seed 004's "reason for status change"), told to the
 * organization's webhooks subscribed to WEBHOOK_UPDATED.
 */
export async function deactivateWebhook(pool: Pool, webhookId: string, answeredUrl: string, reason: string): Promise<void> {
  // Only while the webhook still points where the answer came from: moved meanwhile, the new endpoint is not judged
  // by the old one's word.
  await recordedWebhookChange(pool, CONNECTOR_ACTOR, (db) => db.query(
    `UPDATE webhooks SET status = 'inactive', status_reason = $2, status_changed_at = now(), updated_at = now(), version = version + 1
      WHERE id = $1 AND status = 'active' AND url = $3`,
    [webhookId, reason, answeredUrl],
  ));
}
