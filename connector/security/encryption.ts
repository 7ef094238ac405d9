import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fatal } from '../errors.js';

/** Sealed to its place: the place is the cipher's associated data. */
const BOUND = 'v2';
/** The first format, sealed without a place: it still opens, anywhere, until reencrypt-secrets seals it again. */
const UNBOUND = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Authenticated encryption (AES-256-GCM) of secrets stored in Postgres.
 * Stored form: `v2:<base64 iv|tag|ciphertext>`; the version prefix lets the
 * key or algorithm change later without ambiguity.
 *
 * Each value is sealed to its place (a `SecretPlace`: which webhook, which
 * secret), given as associated data. Without it, anyone who can write to the
 * table but holds no key could copy a webhook's sealed signing secret into
 * the API key of a webhook of their own, and have the deliverer send it to
 * their URL in plain text; sealed to its place, a copied value no longer
 * opens.
 */
export interface SecretBox {
  encrypt(plaintext: string, place: SecretPlace): string;
  decrypt(stored: string, place: SecretPlace): string;
  /** Whether a stored value is sealed to its place; one in the first format (v1) opens wherever it is put. */
  isBound(stored: string): boolean;
}

/** Where a sealed value belongs, as `secretPlace` names it. */
export type SecretPlace = string & { readonly __place: unique symbol };

const place = (...parts: string[]): SecretPlace => JSON.stringify(parts) as SecretPlace;

/**
 * The places of the values we seal. Ids as Postgres writes them (a route may be given a UUID in capitals). One
 * place for a webhook's current and previous signing secret: a rotation moves the one into the other in SQL.
 */
export const secretPlace = {
  signingSecret: (webhookId: string) => place('webhooks', webhookId.toLowerCase(), 'signing_secret'),
  apiKey: (webhookId: string) => place('webhooks', webhookId.toLowerCase(), 'api_key'),
  /** A kept answer of the admin API (Idempotency-Key), and the fingerprint of its request. */
  idempotentAnswer: (owner: { organization: string; tokenId: string }, key: string) => place('admin_idempotency_keys', owner.organization, owner.tokenId, key, 'response'),
  idempotentRequest: (owner: { organization: string; tokenId: string }, key: string) => place('admin_idempotency_keys', owner.organization, owner.tokenId, key, 'fingerprint'),
};

/**
 * `previousKeys` are keys the current one replaced: what they encrypted still decrypts (GCM's tag tells which key a
 * value was sealed with), and everything encrypted from now on uses the current key (see reencrypt-secrets).
 */
export function createSecretBox(base64Key: string, previousKeys: readonly string[] = []): SecretBox {
  const key = Buffer.from(base64Key, 'base64');
  if (key.length !== 32) throw fatal('ENCRYPTION_KEY_INVALID', 'secrets.encryptionKey must be 32 bytes of base64');
  const keys = [key, ...previousKeys.map((previous) => Buffer.from(previous, 'base64'))];
  if (keys.some((k) => k.length !== 32)) throw fatal('ENCRYPTION_KEY_INVALID', 'secrets.previousEncryptionKeys must be 32 bytes of base64 each');
  const open = (raw: Buffer, k: Buffer, aad: Buffer | null): string => {
    const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    if (aad) decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  };
  return {
    encrypt(plaintext, where) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(where, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${BOUND}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    },
    decrypt(stored, where) {
      const [version, payload] = stored.split(':', 2);
      if ((version !== BOUND && version !== UNBOUND) || payload === undefined) {
        // Not echoed: a value stored without encryption by mistake would be a secret in the logs.
        throw fatal('SECRET_FORMAT_UNKNOWN', `a stored secret has an unknown format (not "${BOUND}:" or "${UNBOUND}:" and base64)`);
      }
      const raw = Buffer.from(payload, 'base64');
      // The full 16-byte tag, always: GCM would otherwise take a shorter one, far easier to forge.
      if (raw.length < IV_BYTES + TAG_BYTES) {
        throw fatal('SECRET_DECRYPT_FAILED', `a stored secret does not decrypt: it is ${raw.length} bytes, shorter than an IV and a tag`);
      }
      const aad = version === BOUND ? Buffer.from(where, 'utf8') : null;
      let lastError: unknown;
      for (const k of keys) {
        try {
          return open(raw, k, aad);
        } catch (error) {
          lastError = error;
        }
      }
      const which = keys.length > 1 ? 'secrets.encryptionKey or any of secrets.previousEncryptionKeys' : 'secrets.encryptionKey';
      const why = aad ? `with ${which} where it is stored (wrong key, or a value copied from elsewhere?)` : `with ${which} (wrong key?)`;
      throw fatal('SECRET_DECRYPT_FAILED', `a stored secret does not decrypt ${why}`, lastError);
    },
    isBound: (stored) => stored.startsWith(`${BOUND}:`),
  };
}
