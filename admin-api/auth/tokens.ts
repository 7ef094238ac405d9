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
