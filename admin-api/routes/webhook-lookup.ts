import type { Pool } from '../../connector/db/pool.js';
import { ApiProblem, notFound } from '../problem.js';
import { findWebhook, type WebhookRow } from '../store/webhooks.js';

/** The organization's webhook, or a 404: another organization's webhook is not found either. */
export async function requireWebhook(pool: Pool, organization: string, id: string): Promise<WebhookRow> {
  const row = await findWebhook(pool, organization, id);
  if (!row) throw notFound('webhook');
  return row;
}

/** Events go only to enabled, verified webhooks (seed 003); a task for any other would be skipped. */
export function assertReceiving(row: WebhookRow): void {
  if (row.status !== 'active') throw new ApiProblem('conflict', `the webhook is disabled${row.status_reason ? ` (${row.status_reason})` : ''}; enable it first`);
  if (row.verification_status !== 'verified') {
    throw new ApiProblem('conflict', `the webhook is not verified (${row.verification_status}${row.verification_error ? `: ${row.verification_error}` : ''}); POST /v1/webhooks/${row.id}/verify`);
  }
}
