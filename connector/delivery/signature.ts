import { hash, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing: `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`.
 * Secrets look like `whsec_<base64 key>`; during a rotation both the new and
 * the previous secret sign, space-separated, so receivers verify with either.
 */
const SECRET_PREFIX = 'whsec_';

export function generateSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

/**
 * HMAC-SHA256 (RFC 2104) from a key's inner and outer pads, prepared once per
 * secret: a signature is then two one-shot SHA-256 digests. createHmac per
 * request sets up an OpenSSL MAC context each time, which cost the deliverer
 * three times the digests themselves.
 */
interface HmacPads {
  inner: Buffer;
  outer: Buffer;
}

const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;

export function hmacPads(key: Buffer): HmacPads {
  const block = Buffer.alloc(BLOCK_BYTES);
  // Keys longer than a block are hashed first, as HMAC specifies.
  (key.length > BLOCK_BYTES ? hash('sha256', key, 'buffer') : key).copy(block);
  const inner = Buffer.allocUnsafe(BLOCK_BYTES);
  const outer = Buffer.allocUnsafe(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i += 1) {
    inner[i] = block[i]! ^ 0x36;
    outer[i] = block[i]! ^ 0x5c;
  }
  return { inner, outer };
}

/** HMAC-SHA256 of a UTF-8 message, base64. */
export function hmacSha256Base64(pads: HmacPads, message: string): string {
  const innerInput = Buffer.allocUnsafe(BLOCK_BYTES + Buffer.byteLength(message));
  pads.inner.copy(innerInput, 0);
  innerInput.write(message, BLOCK_BYTES);
  const outerInput = Buffer.allocUnsafe(BLOCK_BYTES + DIGEST_BYTES);
  pads.outer.copy(outerInput, 0);
  hash('sha256', innerInput, 'buffer').copy(outerInput, BLOCK_BYTES);
  return hash('sha256', outerInput, 'base64');
}

/** Prepared keys by secret: a secret signs every request of its webhook, so it is decoded once, not per request. */
const KEY_CACHE_LIMIT = 10_000;
const keys = new Map<string, HmacPads>();

function secretKey(secret: string): HmacPads {
  let key = keys.get(secret);
  if (key === undefined) {
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    key = hmacPads(Buffer.from(encoded, 'base64'));
    // Bounded: rotated and deleted secrets must not pile up; starting over is cheap.
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

export function sign(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  return `v1,${hmacSha256Base64(secretKey(secret), `${messageId}.${timestampSeconds}.${body}`)}`;
}

export function signatureHeader(secrets: readonly string[], messageId: string, timestampSeconds: number, body: string): string {
  // Almost always one secret: no array of signatures to join.
  if (secrets.length === 1) return sign(secrets[0]!, messageId, timestampSeconds, body);
  return secrets.map((secret) => sign(secret, messageId, timestampSeconds, body)).join(' ');
}
