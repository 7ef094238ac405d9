import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing: `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`.
 * Secrets look like `whsec_<base64 key>`; during a rotation both the new and
 * the previous secret sign, space-separated, so receivers verify with either.
 */
const SECRET_PREFIX = 'whsec_';

export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

/** Decoded keys by secret: a secret signs every request of its webhook, so it is decoded once, not per request. */
const KEY_CACHE_LIMIT = 10_000;
const keys = new Map<string, Buffer>();

function secretKey(secret: string): Buffer {
  let key = keys.get(secret);
  if (key === undefined) {
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    key = Buffer.from(encoded, 'base64');
    // Bounded: rotated and deleted secrets must not pile up; starting over is cheap.
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${messageId}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export function signatureHeader(secrets: readonly string[], messageId: string, timestampSeconds: number, body: string): string {
  return secrets.map((secret) => sign(secret, messageId, timestampSeconds, body)).join(' ');
}
