import { createHash, randomBytes } from 'node:crypto';

/**
 * Admin API tokens: `iwh_` + 32 random bytes (base64url). Only a SHA-256 of
 * the token is stored; 256 bits of randomness need no slow hash.
 */
const TOKEN_PREFIX = 'iwh_';
const SHOWN_PREFIX_LENGTH = 12;

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** What listings show of a token: enough to tell tokens apart, never enough to use one. */
export function tokenPrefix(token: string): string {
  return token.slice(0, SHOWN_PREFIX_LENGTH);
}

/** How long a token made by the tokens command lives unless told otherwise. */
export const DEFAULT_TOKEN_LIFETIME = '90d';
const HOUR_MS = 3_600_000;
const MAX_LIFETIME_DAYS = 3650;

/**
 * A token lifetime as an operator writes it: `<n>d` (days), `<n>h` (hours),
 * or `never`. Returns milliseconds (null for never), or the reason it is not
 * one. Bounded to ten years so a typo such as 9000000d is not a token for good
 * under another name.
 */
export function parseTokenLifetime(text: string): { ms: number | null } | { problem: string } {
  if (text === 'never') return { ms: null };
  const match = /^([1-9][0-9]{0,5})([dh])$/.exec(text);
  if (!match) return { problem: `--expires-in "${text}" is not a lifetime; use days (90d), hours (12h) or never` };
  const hours = Number(match[1]) * (match[2] === 'd' ? 24 : 1);
  if (hours > MAX_LIFETIME_DAYS * 24) return { problem: `--expires-in "${text}" is over ${MAX_LIFETIME_DAYS} days; use never for a token without expiry` };
  return { ms: hours * HOUR_MS };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const token = match?.[1];
  return token && token.startsWith(TOKEN_PREFIX) ? token : null;
}

/** Who is calling: everything they see and change is within this organization. */
export interface Principal {
  tokenId: string;
  organization: string;
  subject: string;
}
