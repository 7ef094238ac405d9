import { randomUUID } from 'node:crypto';
import type { Pool } from '../../connector/db/pool.js';

/** How long a key's answer is kept and given again. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600 * 1000;

export interface StoredAnswer {
  status: number;
  responseEnc: string;
  headers: Record<string, string>;
}

/** Whose key it is: the token that sent it, in its organization. */
export interface KeyOwner {
  organization: string;
  tokenId: string;
}

/** The stored fingerprint of a key's first request (sealed), and how to tell whether a request is that one. */
export interface Fingerprint {
  sealed: string;
  matches(stored: string): boolean;
}

export type KeyClaim =
  /** `token` names this request's claim: only it records the answer or frees the key. */
  | { kind: 'claimed'; token: string }
  /** The first request's answer, to give again. */
  | { kind: 'answered'; answer: StoredAnswer }
  /** The key came with another request (another path or body). */
  | { kind: 'mismatch' }
  /** The first request is still under way. */
  | { kind: 'in-flight' };

/**
 * Claims a key for a request, or says what became of its first use. A key
 * past its day, or whose first request was left unanswered for longer than
 * `abandonedAfterMs` (its process died), is claimed afresh.
 */
export async function claimIdempotencyKey(pool: Pool, owner: KeyOwner, key: string, fingerprint: Fingerprint, abandonedAfterMs: number): Promise<KeyClaim> {
  const token = randomUUID();
  const { rows: claimed } = await pool.query(
    `INSERT INTO admin_idempotency_keys (organization, token_id, idempotency_key, fingerprint_enc, claim_token) VALUES ($1, $2, $3, $4, $7)
     ON CONFLICT (organization, token_id, idempotency_key) DO UPDATE
        SET fingerprint_enc = EXCLUDED.fingerprint_enc, claim_token = EXCLUDED.claim_token, status = NULL, response_enc = NULL, response_headers = NULL, created_at = now()
      WHERE admin_idempotency_keys.created_at < now() - $5 * interval '1 millisecond'
         OR (admin_idempotency_keys.status IS NULL AND admin_idempotency_keys.created_at < now() - $6 * interval '1 millisecond')
     RETURNING 1`,
    [owner.organization, owner.tokenId, key, fingerprint.sealed, IDEMPOTENCY_KEY_TTL_MS, abandonedAfterMs, token],
  );
  if (claimed.length > 0) return { kind: 'claimed', token };
  const { rows } = await pool.query<{ fingerprint_enc: string; status: number | null; response_enc: string | null; response_headers: Record<string, string> | null }>(
    'SELECT fingerprint_enc, status, response_enc, response_headers FROM admin_idempotency_keys WHERE organization = $1 AND token_id = $2 AND idempotency_key = $3',
    [owner.organization, owner.tokenId, key],
  );
  const row = rows[0];
  // Released between the two statements (its first request failed): under way for all this one can tell.
  if (!row) return { kind: 'in-flight' };
  if (!fingerprint.matches(row.fingerprint_enc)) return { kind: 'mismatch' };
  if (row.status === null || row.response_enc === null) return { kind: 'in-flight' };
  return { kind: 'answered', answer: { status: row.status, responseEnc: row.response_enc, headers: row.response_headers ?? {} } };
}

/** Keeps the answer of the request holding the claim `token` (not of one whose abandoned claim was taken over). */
export async function recordIdempotentAnswer(pool: Pool, owner: KeyOwner, key: string, token: string, answer: StoredAnswer): Promise<void> {
  await pool.query(
    `UPDATE admin_idempotency_keys SET status = $5, response_enc = $6, response_headers = $7
      WHERE organization = $1 AND token_id = $2 AND idempotency_key = $3 AND claim_token = $4 AND status IS NULL`,
    [owner.organization, owner.tokenId, key, token, answer.status, answer.responseEnc, JSON.stringify(answer.headers)],
  );
}

/** Lets the claim `token` go (its request was refused, changing nothing): the same key may be sent again and runs afresh. */
export async function releaseIdempotencyKey(pool: Pool, owner: KeyOwner, key: string, token: string): Promise<void> {
  await pool.query(
    'DELETE FROM admin_idempotency_keys WHERE organization = $1 AND token_id = $2 AND idempotency_key = $3 AND claim_token = $4 AND status IS NULL',
    [owner.organization, owner.tokenId, key, token],
  );
}

/** Drops keys past their day. */
export async function purgeIdempotencyKeys(pool: Pool): Promise<number> {
  const { rowCount } = await pool.query(`DELETE FROM admin_idempotency_keys WHERE created_at < now() - $1 * interval '1 millisecond'`, [IDEMPOTENCY_KEY_TTL_MS]);
  return rowCount ?? 0;
}
