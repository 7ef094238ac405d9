import type { Pool } from '../../connector/db/pool.js';
import { generateToken, hashToken, tokenPrefix, type Principal } from '../auth/tokens.js';

export interface TokenInfo {
  id: string;
  organization: string;
  subject: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** When it stops working by itself; null: never. */
  expiresAt: string | null;
}

interface TokenRow {
  id: string;
  organization: string;
  subject: string;
  name: string;
  token_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  expires_at: Date | null;
}

const toInfo = (row: TokenRow): TokenInfo => ({
  id: row.id,
  organization: row.organization,
  subject: row.subject,
  name: row.name,
  prefix: row.token_prefix,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
  revokedAt: row.revoked_at?.toISOString() ?? null,
  expiresAt: row.expires_at?.toISOString() ?? null,
});

/**
 * Creates a token; the clear token is returned here once and never stored.
 * `lifetimeMs` counts from the database's clock, as the check at use does; omitted or null, it never expires.
 */
export async function createToken(pool: Pool, input: { organization: string; subject: string; name?: string; lifetimeMs?: number | null }): Promise<{ token: string; info: TokenInfo }> {
  const token = generateToken();
  const { rows } = await pool.query<TokenRow>(
    `INSERT INTO api_tokens (organization, subject, name, token_hash, token_prefix, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::double precision / 1000)) RETURNING *`,
    [input.organization, input.subject, input.name ?? '', hashToken(token), tokenPrefix(token), input.lifetimeMs ?? null],
  );
  return { token, info: toInfo(rows[0]!) };
}

export async function listTokens(pool: Pool, organization?: string): Promise<TokenInfo[]> {
  const { rows } = await pool.query<TokenRow>(
    `SELECT * FROM api_tokens WHERE $1::text IS NULL OR organization = $1 ORDER BY organization, created_at`,
    [organization ?? null],
  );
  return rows.map(toInfo);
}

/** Revokes by id; returns false when no live token has that id. */
export async function revokeToken(pool: Pool, id: string): Promise<boolean> {
  const { rowCount } = await pool.query(`UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, [id]);
  return rowCount === 1;
}

/** Whether a listed token still works, and if not why. */
export function tokenState(info: TokenInfo, now = Date.now()): string {
  if (info.revokedAt) return `REVOKED ${info.revokedAt}`;
  if (info.expiresAt && Date.parse(info.expiresAt) <= now) return `EXPIRED ${info.expiresAt}`;
  return info.expiresAt ? `active until ${info.expiresAt}` : 'active, no expiry';
}

/**
 * The principal of a live token (not revoked, not expired), by its hash (see hashToken), or null. `last_used_at` is written at most
 * once a minute per token, so authentication stays one indexed read.
 */
export async function authenticateToken(pool: Pool, tokenHash: Buffer): Promise<Principal | null> {
  const { rows } = await pool.query<{ id: string; organization: string; subject: string; stale: boolean }>(
    `SELECT id, organization, subject, coalesce(last_used_at < now() - interval '1 minute', true) AS stale
       FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [tokenHash],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await pool.query(`UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, [row.id]);
  return { tokenId: row.id, organization: row.organization, subject: row.subject };
}
