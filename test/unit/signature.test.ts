import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSigningSecret, hmacPads, hmacSha256Base64, sign, signatureHeader } from '../../connector/delivery/signature.js';

describe('Standard Webhooks signatures', () => {
  // The example of the Standard Webhooks specification: secret, id, timestamp, body and the expected signature.
  it('reproduces the specification example', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    expect(sign(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs id.timestamp.body with the base64-decoded key', () => {
    const secret = generateSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const mac = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update('msg_1.100.{}').digest('base64');
    expect(sign(secret, 'msg_1', 100, '{}')).toBe(`v1,${mac}`);
  });

  it('signs with every secret during a rotation, space-separated', () => {
    const [current, previous] = [generateSigningSecret(), generateSigningSecret()];
    const header = signatureHeader([current, previous], 'msg_1', 100, '{}');
    expect(header.split(' ')).toEqual([sign(current, 'msg_1', 100, '{}'), sign(previous, 'msg_1', 100, '{}')]);
  });
});

describe('the receiver-side verifier (scripts/lib/verify-signature.ts)', () => {
  it('accepts what the connector signs, within the tolerance, with either rotation secret', async () => {
    const { verifyStandardWebhook } = await import('../../scripts/lib/verify-signature.js');
    const [current, previous] = [generateSigningSecret(), generateSigningSecret()];
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1000', 'webhook-signature': signatureHeader([current, previous], 'msg_1', 1000, '{"a":1}') };
    expect(verifyStandardWebhook(current, headers, '{"a":1}', 300, 1000)).toBe(true);
    expect(verifyStandardWebhook(previous, headers, '{"a":1}', 300, 1000)).toBe(true);
    expect(verifyStandardWebhook(generateSigningSecret(), headers, '{"a":1}', 300, 1000)).toBe(false);
    expect(verifyStandardWebhook(current, headers, '{"a":2}', 300, 1000)).toBe(false);
    expect(verifyStandardWebhook(current, headers, '{"a":1}', 300, 1400)).toBe(false);
  });
});

describe('HMAC-SHA256 from prepared pads', () => {
  it('equals createHmac for short, block-sized and long keys and for non-ASCII messages', () => {
    for (const keyBytes of [0, 1, 24, 63, 64, 65, 200]) {
      const key = randomBytes(keyBytes);
      for (const message of ['', 'msg_1.100.{}', `msg_2.1614265330.${JSON.stringify({ name: 'Zoë 🎉', text: 'x'.repeat(300) })}`]) {
        expect(hmacSha256Base64(hmacPads(key), message)).toBe(createHmac('sha256', key).update(message).digest('base64'));
      }
    }
  });
});
