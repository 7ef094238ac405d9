import { createCipheriv, randomBytes } from 'node:crypto';

/**
 * A value as versions before places sealed it (format v1: AES-256-GCM with no associated data), to test that such
 * values still open and that reencrypt-secrets seals them to their place. The product no longer writes this form.
 */
export function sealAsV1(base64Key: string, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(base64Key, 'base64'), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}
