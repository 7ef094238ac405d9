import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fatal } from '../errors.js';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Authenticated encryption (AES-256-GCM) of secrets stored in Postgres.
 * Stored form: `v1:<base64 iv|tag|ciphertext>`; the version prefix lets the
 * key or algorithm change later without ambiguity.
 */
export interface SecretBox {
  encrypt(plaintext: string): string;
  decrypt(stored: string): string;
}

/**
 * `previousKeys` are keys the current one replaced: what they encrypted still decrypts (GCM's tag tells which key a
 * value was sealed with), and everything encrypted from now on uses the current key (see reencrypt-secrets).
 */
export function createSecretBox(base64Key: string, previousKeys: readonly string[] = []): SecretBox {
  const key = Buffer.from(base64Key, 'base64');
  if (key.length !== 32) throw fatal('ENCRYPTION_KEY_INVALID', 'secrets.encryptionKey must be 32 bytes of base64');
  const keys = [key, ...previousKeys.map((previous) => Buffer.from(previous, 'base64'))];
  if (keys.some((k) => k.length !== 32)) throw fatal('ENCRYPTION_KEY_INVALID', 'secrets.previousEncryptionKeys must be 32 bytes of base64 each');
  const open = (raw: Buffer, k: Buffer): string => {
    const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  };
  return {
    encrypt(plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    },
    decrypt(stored) {
      const [version, payload] = stored.split(':', 2);
      if (version !== VERSION || payload === undefined) {
        // Not echoed: a value stored without encryption by mistake would be a secret in the logs.
        throw fatal('SECRET_FORMAT_UNKNOWN', `a stored secret has an unknown format (not "${VERSION}:" and base64)`);
      }
      const raw = Buffer.from(payload, 'base64');
      // The full 16-byte tag, always: GCM would otherwise take a shorter one, far easier to forge.
      if (raw.length < IV_BYTES + TAG_BYTES) {
        throw fatal('SECRET_DECRYPT_FAILED', `a stored secret does not decrypt: it is ${raw.length} bytes, shorter than an IV and a tag`);
      }
      let lastError: unknown;
      for (const k of keys) {
        try {
          return open(raw, k);
        } catch (error) {
          lastError = error;
        }
      }
      const which = keys.length > 1 ? 'secrets.encryptionKey or any of secrets.previousEncryptionKeys' : 'secrets.encryptionKey';
      throw fatal('SECRET_DECRYPT_FAILED', `a stored secret does not decrypt with ${which} (wrong key?)`, lastError);
    },
  };
}
