import type { Pool } from '../../connector/db/pool.js';
import { ApiProblem, invalidField, notFound } from '../problem.js';
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

/**
 * `If-Match: "7"` (or 7, or W/"7") as a version number; `*` (any version) as none; anything else is a 400 naming
 * the header.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^(?:W\/)?"?(\d{1,9})"?$/.exec(header.trim());
  if (!match) throw invalidField('header', 'if-match', 'must be the ETag of the webhook, e.g. "3"');
  return Number(match[1]);
}

/**
 * Answers a change that touched no row: a 412 when the webhook is there at another version than If-Match named
 * (read as it stands now), a 404 otherwise.
 */
export async function refuseChange(pool: Pool, organization: string, id: string, expectedVersion: number | undefined): Promise<never> {
  const current = expectedVersion === undefined ? null : await findWebhook(pool, organization, id);
  if (current) throw staleVersion(current.version, expectedVersion);
  throw notFound('webhook');
}

/** The 412 of an If-Match naming a version the webhook has moved on from. */
export const staleVersion = (current: number, expected: number | undefined): ApiProblem =>
  new ApiProblem('precondition-failed', `the webhook is at version ${current}, not ${String(expected)}; read it again and retry`);
