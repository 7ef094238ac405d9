import { randomUUID } from 'node:crypto';
import type { Pool } from '../db/pool.js';
import { secretPlace, type SecretBox } from '../security/encryption.js';
import { isWebhookId, type BodyFormat, type OrderingMode, type WebhookRoute, type WebhookTarget } from './webhook.js';

/** Webhooks that may receive events: enabled and verified (seed 003). */
export async function loadRoutableWebhooks(pool: Pool): Promise<WebhookRoute[]> {
  const { rows } = await pool.query<{ id: string; organization: string; event_types: string[] }>(
    `SELECT id, organization, event_types FROM webhooks
      WHERE status = 'active' AND verification_status = 'verified'`,
  );
  return rows.map((row) => ({ id: row.id, organization: row.organization, eventTypes: row.event_types }));
}

/**
 * The current state of some webhooks, for applying notified changes one by
 * one: a webhook missing from the answer was deleted, one with `routable`
 * false is disabled or unverified. Either way it leaves the index.
 */
export async function loadWebhookRoutes(pool: Pool, ids: readonly string[]): Promise<Array<WebhookRoute & { routable: boolean }>> {
  const { rows } = await pool.query<{ id: string; organization: string; event_types: string[]; routable: boolean }>(
    `SELECT id, organization, event_types, status = 'active' AND verification_status = 'verified' AS routable
       FROM webhooks WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return rows.map((row) => ({ id: row.id, organization: row.organization, eventTypes: row.event_types, routable: row.routable }));
}

/** Which of these webhook ids still exist (ids that are no UUID never do). */
export async function existingWebhookIds(pool: Pool, ids: readonly string[]): Promise<Set<string>> {
  const uuids = ids.filter(isWebhookId);
  if (uuids.length === 0) return new Set();
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM webhooks WHERE id = ANY($1::uuid[])', [uuids]);
  return new Set(rows.map((row) => row.id));
}

interface TargetRow {
  id: string;
  organization: string;
  name: string;
  url: string;
  body_format: BodyFormat;
  ordering: OrderingMode;
  status: string;
  verification_status: string;
  signing_secret_enc: string;
  previous_signing_secret_enc: string | null;
  previous_secret_expires_at: Date | null;
  previous_secret_still_valid: boolean;
  api_key_header: string | null;
  api_key_enc: string | null;
}

/** The delivery view of one webhook, or null when it no longer exists. */
export async function loadWebhookTarget(pool: Pool, box: SecretBox, id: string): Promise<WebhookTarget | null> {
  const { rows } = await pool.query<TargetRow>(
    `SELECT id, organization, name, url, body_format, ordering, status, verification_status,
            signing_secret_enc, previous_signing_secret_enc, previous_secret_expires_at,
            coalesce(previous_secret_expires_at > now(), false) AS previous_secret_still_valid,
            api_key_header, api_key_enc
       FROM webhooks WHERE id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row) return null;
  const signingSecrets = [box.decrypt(row.signing_secret_enc, secretPlace.signingSecret(row.id))];
  let previousSecretUntil: number | undefined;
  if (row.previous_signing_secret_enc && row.previous_secret_still_valid && row.previous_secret_expires_at) {
    signingSecrets.push(box.decrypt(row.previous_signing_secret_enc, secretPlace.signingSecret(row.id)));
    previousSecretUntil = row.previous_secret_expires_at.getTime();
  }
  return {
    id: row.id,
    organization: row.organization,
    name: row.name,
    url: row.url,
    bodyFormat: row.body_format,
    ordering: row.ordering,
    signingSecrets,
    ...(previousSecretUntil === undefined ? {} : { previousSecretUntil }),
    apiKey: row.api_key_header && row.api_key_enc ? { header: row.api_key_header, value: box.decrypt(row.api_key_enc, secretPlace.apiKey(row.id)) } : null,
    deliverable: row.status === 'active' && row.verification_status === 'verified',
  };
}

export interface NewWebhook {
  organization: string;
  name: string;
  description?: string;
  url: string;
  eventTypes: string[];
  owner: string;
  enabled?: boolean;
  verified?: boolean;
  bodyFormat?: BodyFormat;
  ordering?: OrderingMode;
  signingSecret: string;
  apiKey?: { header: string; value: string };
}

/**
 * Inserts a webhook with its secrets encrypted; returns its id, chosen here so the secrets are sealed to it. The
 * NOTIFY trigger tells routers.
 */
export async function insertWebhook(pool: Pool, box: SecretBox, input: NewWebhook): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO webhooks (organization, name, description, url, event_types, status, verification_status, verified_at,
                           body_format, ordering, signing_secret_enc, api_key_header, api_key_enc, owner, id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 = 'verified' THEN now() END, $8, $9, $10, $11, $12, $13, $14)`,
    [
      input.organization,
      input.name,
      input.description ?? '',
      input.url,
      input.eventTypes,
      input.enabled === false ? 'inactive' : 'active',
      input.verified ? 'verified' : 'pending',
      input.bodyFormat ?? 'parallelworks',
      input.ordering ?? 'relaxed',
      box.encrypt(input.signingSecret, secretPlace.signingSecret(id)),
      input.apiKey?.header ?? null,
      input.apiKey ? box.encrypt(input.apiKey.value, secretPlace.apiKey(id)) : null,
      input.owner,
      id,
    ],
  );
  return id;
}
