import type { Pool } from '../../connector/db/pool.js';
import { recordedWebhookChange } from '../../connector/db/webhook-changes.js';
import { secretPlace, type SecretBox, type SecretPlace } from '../../connector/security/encryption.js';
import type { BodyFormat, OrderingMode } from '../../connector/subscriptions/webhook.js';
import { decodeCursor, likePattern, pageOf, refusedCursor } from '../pagination.js';
import { DEFAULT_API_KEY_HEADER, maskSecret } from '../webhook-rules.js';

/**
 * Webhook rows as the admin API reads and writes them. Every statement is
 * scoped by organization: another organization's webhook is simply not
 * found. Every write bumps `version` and fires the NOTIFY trigger, so
 * routers see the change within a second.
 */
export interface WebhookRow {
  id: string;
  organization: string;
  name: string;
  description: string;
  url: string;
  event_types: string[];
  status: 'active' | 'inactive';
  status_reason: string | null;
  status_changed_at: Date | null;
  verification_status: 'pending' | 'verified' | 'failed';
  verified_at: Date | null;
  verification_attempted_at: Date | null;
  verification_error: string | null;
  body_format: BodyFormat;
  ordering: OrderingMode;
  signing_secret_enc: string;
  /** The secret a rotation replaced, signing too until previous_secret_expires_at. */
  previous_signing_secret_enc: string | null;
  previous_secret_expires_at: Date | null;
  api_key_header: string | null;
  api_key_enc: string | null;
  owner: string;
  created_at: Date;
  updated_at: Date;
  version: number;
  sort_key?: string;
}

export interface WebhookView {
  id: string;
  organization: string;
  name: string;
  description: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  status: 'active' | 'inactive';
  statusReason: string | null;
  statusChangedAt: string | null;
  verification: { status: string; verifiedAt: string | null; attemptedAt: string | null; error: string | null };
  receivingEvents: boolean;
  bodyFormat: BodyFormat;
  ordering: OrderingMode;
  signingSecret: { masked: string; previousValidUntil: string | null };
  apiKey: { header: string; masked: string } | null;
  owner: string;
  createdAt: string;
  updatedAt: string;
  version: number;
}

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

/**
 * A stored secret, masked. A value that does not decrypt (stored under
 * another SECRETS_ENCRYPTION_KEY) shows as fully masked instead of failing
 * the whole listing; the deliverer reports it when it needs the secret.
 */
function masked(box: SecretBox, stored: string, place: SecretPlace): string {
  try {
    return maskSecret(box.decrypt(stored, place));
  } catch {
    return '****';
  }
}

/** Whether the secret a rotation replaced still signs (its overlap has not ended). */
export function previousSecretSigns(row: Pick<WebhookRow, 'previous_signing_secret_enc' | 'previous_secret_expires_at'>, now = Date.now()): boolean {
  return row.previous_signing_secret_enc !== null && row.previous_secret_expires_at !== null && row.previous_secret_expires_at.getTime() > now;
}

/** The admin's view of a row: secrets masked, never in clear. */
export function toView(row: WebhookRow, box: SecretBox): WebhookView {
  const previousValid = previousSecretSigns(row);
  return {
    id: row.id,
    organization: row.organization,
    name: row.name,
    description: row.description,
    url: row.url,
    eventTypes: row.event_types,
    enabled: row.status === 'active',
    status: row.status,
    statusReason: row.status_reason,
    statusChangedAt: iso(row.status_changed_at),
    verification: {
      status: row.verification_status,
      verifiedAt: iso(row.verified_at),
      attemptedAt: iso(row.verification_attempted_at),
      error: row.verification_error,
    },
    receivingEvents: row.status === 'active' && row.verification_status === 'verified',
    bodyFormat: row.body_format,
    ordering: row.ordering,
    signingSecret: { masked: masked(box, row.signing_secret_enc, secretPlace.signingSecret(row.id)), previousValidUntil: previousValid ? iso(row.previous_secret_expires_at) : null },
    apiKey: row.api_key_header && row.api_key_enc ? { header: row.api_key_header, masked: masked(box, row.api_key_enc, secretPlace.apiKey(row.id)) } : null,
    owner: row.owner,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
  };
}

export interface CreateWebhookInput {
  /** Chosen before the insert: the secrets are sealed to it. */
  id: string;
  organization: string;
  owner: string;
  name: string;
  description: string;
  url: string;
  eventTypes: string[];
  bodyFormat: BodyFormat;
  ordering: OrderingMode;
  enabled: boolean;
  verified: boolean;
  signingSecretEnc: string;
  apiKey: { header: string; valueEnc: string } | null;
}

export async function insertWebhookRow(pool: Pool, input: CreateWebhookInput): Promise<WebhookRow> {
  const { rows } = await recordedWebhookChange(pool, input.owner, (db) => db.query<WebhookRow>(
    `INSERT INTO webhooks (organization, owner, name, description, url, event_types, body_format, ordering, status, verification_status,
                           verified_at, signing_secret_enc, api_key_header, api_key_enc, id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $10 = 'verified' THEN now() END, $11, $12, $13, $14)
     RETURNING *`,
    [
      input.organization, input.owner, input.name, input.description, input.url, input.eventTypes, input.bodyFormat, input.ordering,
      input.enabled ? 'active' : 'inactive', input.verified ? 'verified' : 'pending', input.signingSecretEnc,
      input.apiKey?.header ?? null, input.apiKey?.valueEnc ?? null, input.id,
    ],
  ));
  return rows[0]!;
}

export async function findWebhook(pool: Pool, organization: string, id: string): Promise<WebhookRow | null> {
  const { rows } = await pool.query<WebhookRow>(`SELECT * FROM webhooks WHERE organization = $1 AND id = $2`, [organization, id]);
  return rows[0] ?? null;
}

const SORT_COLUMNS = { createdAt: 'created_at', name: 'name', url: 'url', owner: 'owner', status: 'status' } as const;
export type WebhookSort = keyof typeof SORT_COLUMNS;

export interface ListWebhooksQuery {
  limit: number;
  cursor?: string;
  sort: WebhookSort;
  order: 'asc' | 'desc';
  status?: 'active' | 'inactive';
  verification?: 'pending' | 'verified' | 'failed';
  /** Any of these patterns among the webhook's event types. */
  eventTypePatterns?: string[];
  q?: string;
}

export async function listWebhookRows(pool: Pool, organization: string, query: ListWebhooksQuery): Promise<{ items: WebhookRow[]; nextCursor: string | null }> {
  const column = SORT_COLUMNS[query.sort];
  const sortKey = `${query.sort}:${query.order}`;
  const params: unknown[] = [organization];
  const where = ['organization = $1'];
  const bind = (value: unknown): string => `$${params.push(value)}`;
  if (query.status) where.push(`status = ${bind(query.status)}`);
  if (query.verification) where.push(`verification_status = ${bind(query.verification)}`);
  if (query.eventTypePatterns) where.push(`event_types && ${bind(query.eventTypePatterns)}::text[]`);
  if (query.q) {
    const pattern = bind(likePattern(query.q));
    where.push(`(name ILIKE ${pattern} OR description ILIKE ${pattern} OR url ILIKE ${pattern})`);
  }
  if (query.cursor) {
    const position = decodeCursor(query.cursor, sortKey);
    const valueType = column === 'created_at' ? 'timestamptz' : 'text';
    where.push(`(${column}, id) ${query.order === 'asc' ? '>' : '<'} (${bind(position.value)}::${valueType}, ${bind(position.id)}::uuid)`);
  }
  const direction = query.order === 'asc' ? 'ASC' : 'DESC';
  // The sort value as text keeps created_at's microseconds, which a JS Date would lose.
  const { rows } = await pool.query<WebhookRow>(
    `SELECT *, ${column}::text AS sort_key FROM webhooks WHERE ${where.join(' AND ')}
      ORDER BY ${column} ${direction}, id ${direction} LIMIT ${bind(query.limit + 1)}`,
    params,
  ).catch(refusedCursor(query.cursor));
  return pageOf(rows, query.limit, (row) => ({ value: row.sort_key!, id: row.id }), sortKey);
}

/** The fields an admin sets directly, as the API takes them and the table stores them. */
export interface WebhookFields {
  name?: string;
  description?: string;
  url?: string;
  eventTypes?: string[];
  bodyFormat?: BodyFormat;
  ordering?: OrderingMode;
}

export interface WebhookChanges extends WebhookFields {
  /** null removes the API key; a null header keeps the stored one (x-api-key where there was none). */
  apiKey?: { header: string | null; valueEnc: string } | null;
  /** A URL that differs from the stored one must be verified again (seed 003): told apart under the row's lock. */
  verifyChangedUrl?: boolean;
  /** Enable or disable (seed 000's Enable on the edit form), as setWebhookEnabled: a status it already has is kept with its reason. */
  status?: { enabled: boolean; reason: string | null };
}

export type UpdateResult =
  | { kind: 'updated'; row: WebhookRow; urlChanged: boolean }
  | { kind: 'not-found' }
  | { kind: 'version-mismatch'; current: number }
  | { kind: 'api-key-needed' };

/**
 * One UPDATE that sets only the given columns: concurrent updates of
 * different fields both survive. With `expectedVersion` (If-Match) a change
 * made since the caller read the webhook wins and this one is refused.
 */
export async function updateWebhookRow(pool: Pool, actor: string, organization: string, id: string, changes: WebhookChanges, expectedVersion?: number): Promise<UpdateResult> {
  const params: unknown[] = [organization, id];
  const bind = (value: unknown): string => `$${params.push(value)}`;
  const sets = ['updated_at = now()', 'version = version + 1'];
  const conditions: string[] = [];
  /** What ends the webhook's failing streak (see failure-tracker.ts). */
  const streakEnds: string[] = [];
  if (changes.name !== undefined) sets.push(`name = ${bind(changes.name)}`);
  if (changes.description !== undefined) sets.push(`description = ${bind(changes.description)}`);
  if (changes.url !== undefined) {
    const url = bind(changes.url);
    // The API key is a credential for the receiver it was given for: moved to another URL without being sent again,
    // it would go to whoever can change the URL (in the challenge, then in every delivery). Judged under the lock.
    if (changes.apiKey === undefined) conditions.push(`(w.url = ${url} OR w.api_key_enc IS NULL)`);
    sets.push(`url = ${url}`);
    // Another endpoint's failures say nothing of this one: its streak starts afresh, as it would once enabled again
    // (an endpoint moved a day before the auto-disable window ends would otherwise go on its first failure).
    streakEnds.push(`w.url IS DISTINCT FROM ${url}`);
    if (changes.verifyChangedUrl) {
      // Compared with the URL stored when the row is locked, not one read before: a concurrent change of the URL
      // (verified meanwhile) must not let this one keep that verification.
      const changed = `w.url IS DISTINCT FROM ${url}`;
      sets.push(
        `verification_status = CASE WHEN ${changed} THEN 'pending' ELSE w.verification_status END`,
        `verified_at = CASE WHEN ${changed} THEN NULL ELSE w.verified_at END`,
        `verification_error = CASE WHEN ${changed} THEN NULL ELSE w.verification_error END`,
        `verification_attempted_at = CASE WHEN ${changed} THEN NULL ELSE w.verification_attempted_at END`,
      );
    }
  }
  if (changes.eventTypes !== undefined) sets.push(`event_types = ${bind(changes.eventTypes)}`);
  if (changes.bodyFormat !== undefined) sets.push(`body_format = ${bind(changes.bodyFormat)}`);
  if (changes.ordering !== undefined) sets.push(`ordering = ${bind(changes.ordering)}`);
  if (changes.apiKey === null) sets.push('api_key_header = NULL', 'api_key_enc = NULL');
  else if (changes.apiKey !== undefined) {
    // A new value alone must not move the key to another header: the receiver looks for it where it was.
    sets.push(`api_key_header = coalesce(${bind(changes.apiKey.header)}::text, w.api_key_header, '${DEFAULT_API_KEY_HEADER}')`, `api_key_enc = ${bind(changes.apiKey.valueEnc)}`);
  }
  if (changes.status !== undefined) {
    // Compared with the stored status (SET reads the row as it was): only a real change takes the reason and time.
    const status = bind(changes.status.enabled ? 'active' : 'inactive');
    const flips = `w.status <> ${status}`;
    sets.push(
      `status = ${status}`,
      `status_reason = CASE WHEN ${flips} THEN ${bind(changes.status.reason)}::text ELSE w.status_reason END`,
      `status_changed_at = CASE WHEN ${flips} THEN now() ELSE w.status_changed_at END`,
    );
    streakEnds.push(`(${flips} AND ${status} = 'active')`);
  }
  // One assignment of the column, whatever ends the streak: Postgres refuses a column set twice.
  if (streakEnds.length > 0) sets.push(`failing_since = CASE WHEN ${streakEnds.join(' OR ')} THEN NULL ELSE w.failing_since END`);
  if (expectedVersion !== undefined) conditions.push(`w.version = ${bind(expectedVersion)}`);
  // The row is locked first, so the URL it held before this change is the one the change replaced.
  const { rows } = await recordedWebhookChange(pool, actor, (db) => db.query<WebhookRow & { previous_url: string }>(
    `WITH previous AS (SELECT id, url FROM webhooks WHERE organization = $1 AND id = $2 FOR UPDATE)
     UPDATE webhooks w SET ${sets.join(', ')} FROM previous
      WHERE ${['w.id = previous.id', ...conditions].join(' AND ')} RETURNING w.*, previous.url AS previous_url`,
    params,
  ));
  if (rows[0]) {
    const { previous_url: previousUrl, ...row } = rows[0];
    return { kind: 'updated', row, urlChanged: previousUrl !== row.url };
  }
  if (conditions.length === 0) return { kind: 'not-found' };
  // Which condition refused it, as the row stands now (a change since may have moved it further; either answer is true).
  const current = await findWebhook(pool, organization, id);
  if (!current) return { kind: 'not-found' };
  if (expectedVersion !== undefined && current.version !== expectedVersion) return { kind: 'version-mismatch', current: current.version };
  return { kind: 'api-key-needed' };
}

/**
 * Enables or disables with the reason kept (seed 004). Enabling a disabled webhook also forgets its failure
 * streak, so an endpoint that was auto-disabled gets a fresh window. A webhook already in the asked state is left
 * as it is (`changed: false`): its reason and `status_changed_at` still tell the change that put it there (a
 * script disabling what the connector disabled after a 410 must not replace that reason with its own), and its
 * subscribers hear of no change. Null when there is no such webhook, or (with `expectedVersion`, If-Match) it is
 * at another version.
 */
export async function setWebhookEnabled(
  pool: Pool, actor: string, organization: string, id: string, enabled: boolean, reason: string | null, expectedVersion?: number,
): Promise<{ row: WebhookRow; changed: boolean } | null> {
  const status = enabled ? 'active' : 'inactive';
  // Read under the row's lock, then changed or not: what is answered is the row as this request left it.
  return recordedWebhookChange(pool, actor, async (db) => {
    const { rows: [current] } = await db.query<WebhookRow>('SELECT * FROM webhooks WHERE organization = $1 AND id = $2 FOR UPDATE', [organization, id]);
    if (!current || (expectedVersion !== undefined && current.version !== expectedVersion)) return null;
    if (current.status === status) return { row: current, changed: false };
    const { rows: [row] } = await db.query<WebhookRow>(
      `UPDATE webhooks
          SET status = $2, status_reason = $3, status_changed_at = now(), updated_at = now(), version = version + 1,
              -- Enabled again, a webhook starts a new auto-disable window.
              failing_since = CASE WHEN $2 = 'active' THEN NULL ELSE failing_since END
        WHERE id = $1 RETURNING *`,
      [current.id, status, reason],
    );
    return { row: row!, changed: true };
  });
}

/** Whether a webhook's previous secret still signs (its rotation's overlap is open), by Postgres's clock. */
const PREVIOUS_SECRET_SIGNS = 'coalesce(previous_signing_secret_enc IS NOT NULL AND previous_secret_expires_at > now(), false)';

/**
 * Rotates a webhook's signing secret: the current one becomes the previous,
 * signing beside the new one for `overlapMs`. Not while an earlier
 * rotation's overlap is open, unless `force`: receivers may still verify
 * with the secret that rotation replaced, and only two secrets sign, so it
 * would stop signing at once. Null when nothing was rotated (rotationState
 * tells why); with If-Match, of two admins rotating at once only one wins.
 */
export async function rotateWebhookSecret(
  pool: Pool, actor: string, organization: string, id: string, newSecretEnc: string, overlapMs: number, expectedVersion: number | undefined, force: boolean,
): Promise<WebhookRow | null> {
  const { rows } = await recordedWebhookChange(pool, actor, (db) => db.query<WebhookRow>(
    `UPDATE webhooks
        SET previous_signing_secret_enc = signing_secret_enc,
            previous_secret_expires_at = now() + make_interval(secs => $4::double precision / 1000),
            signing_secret_enc = $3, updated_at = now(), version = version + 1
      WHERE organization = $1 AND id = $2 AND ($5::integer IS NULL OR version = $5)
        AND ($6::boolean OR NOT ${PREVIOUS_SECRET_SIGNS})
      RETURNING *`,
    [organization, id, newSecretEnc, overlapMs, expectedVersion ?? null, force],
  ));
  return rows[0] ?? null;
}

/** Why a rotation was refused, by Postgres's clock: the webhook's version, and until when an overlap is open (null: none). */
export async function rotationState(pool: Pool, organization: string, id: string): Promise<{ version: number; overlapUntil: Date | null } | null> {
  const { rows } = await pool.query<{ version: number; overlap_until: Date | null }>(
    `SELECT version, CASE WHEN ${PREVIOUS_SECRET_SIGNS} THEN previous_secret_expires_at END AS overlap_until
       FROM webhooks WHERE organization = $1 AND id = $2`,
    [organization, id],
  );
  return rows[0] ? { version: rows[0].version, overlapUntil: rows[0].overlap_until } : null;
}

/** Ends a rotation's overlap now: the previous secret stops signing (a leaked secret, or every receiver switched). */
export async function revokePreviousSecret(pool: Pool, actor: string, organization: string, id: string, expectedVersion?: number): Promise<WebhookRow | null> {
  const { rows } = await recordedWebhookChange(pool, actor, (db) => db.query<WebhookRow>(
    `UPDATE webhooks
        SET previous_signing_secret_enc = NULL, previous_secret_expires_at = NULL,
            updated_at = CASE WHEN ${PREVIOUS_SECRET_SIGNS} THEN now() ELSE updated_at END,
            version = CASE WHEN ${PREVIOUS_SECRET_SIGNS} THEN version + 1 ELSE version END
      WHERE organization = $1 AND id = $2 AND ($3::integer IS NULL OR version = $3) RETURNING *`,
    [organization, id, expectedVersion ?? null],
  ));
  return rows[0] ?? null;
}

/** Deletes one webhook; false as for setWebhookEnabled. */
export async function deleteWebhook(pool: Pool, actor: string, organization: string, id: string, expectedVersion?: number): Promise<boolean> {
  const { rowCount } = await recordedWebhookChange(pool, actor, (db) => db.query(
    'DELETE FROM webhooks WHERE organization = $1 AND id = $2 AND ($3::integer IS NULL OR version = $3)',
    [organization, id, expectedVersion ?? null],
  ));
  return (rowCount ?? 0) > 0;
}

export async function deleteWebhooks(pool: Pool, actor: string, organization: string, ids: string[]): Promise<string[]> {
  const { rows } = await recordedWebhookChange(pool, actor, (db) => db.query<{ id: string }>(`DELETE FROM webhooks WHERE organization = $1 AND id = ANY($2::uuid[]) RETURNING id`, [organization, ids]));
  return rows.map((row) => row.id);
}

/**
 * Claims up to `limit` webhooks whose verification has stalled: still
 * pending `stalledForMs` after they were created or re-pointed, with no
 * challenge sent for as long (an admin API stopped between the commit and
 * its background challenge, which lives in memory only). The claim marks a
 * challenge sent now, so another admin API's sweep passes them over; one
 * that never answers (this process stopped too) is claimable again later.
 * Bookkeeping only: neither the version nor updated_at moves.
 */
export async function claimStalledVerifications(pool: Pool, stalledForMs: number, limit: number): Promise<WebhookRow[]> {
  const { rows } = await pool.query<WebhookRow>(
    `UPDATE webhooks SET verification_attempted_at = now()
      WHERE id IN (
        SELECT id FROM webhooks
         WHERE verification_status = 'pending'
           AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
           AND (verification_attempted_at IS NULL OR verification_attempted_at < now() - make_interval(secs => $1::double precision / 1000))
         ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [stalledForMs, limit],
  );
  return rows;
}

/**
 * Records a verification result, but only if the URL is still the one that
 * was challenged: a URL changed meanwhile needs its own challenge.
 *
 * A failed challenge to a URL already verified keeps it verified, the failure
 * in verification_error: the URL was proven, and an endpoint down for a
 * moment is the delivery engine's to handle (retries, the circuit breaker,
 * auto-disable). Unverified, the webhook would get no tasks at all, so its
 * events from then on would be lost, not failed, and recover could not bring
 * them back.
 */
export async function recordVerification(pool: Pool, id: string, challengedUrl: string, error: string | null): Promise<WebhookRow | null> {
  const { rows } = await pool.query<WebhookRow>(
    `UPDATE webhooks
        SET verification_status = CASE WHEN $3::text IS NULL OR verification_status = 'verified' THEN 'verified' ELSE 'failed' END,
            verified_at = CASE WHEN $3::text IS NULL THEN now() ELSE verified_at END,
            verification_error = $3, verification_attempted_at = now(), updated_at = now(), version = version + 1
      WHERE id = $1 AND url = $2 RETURNING *`,
    [id, challengedUrl, error],
  );
  return rows[0] ?? null;
}
