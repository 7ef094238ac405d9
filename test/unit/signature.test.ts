import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSigningSecret, sign, signatureHeader } from '../../connector/delivery/signature.js';

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

  it('signs non-ASCII bodies as their UTF-8 bytes', () => {
    const secret = generateSigningSecret();
    const body = JSON.stringify({ name: 'Zoë 🎉', text: 'x'.repeat(300) });
    const mac = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(Buffer.from(`msg_2.1614265330.${body}`, 'utf8')).digest('base64');
    expect(sign(secret, 'msg_2', 1614265330, body)).toBe(`v1,${mac}`);
  });

  it('signs with every secret during a rotation, space-separated', () => {
    const [current, previous] = [generateSigningSecret(), generateSigningSecret()];
    const header = signatureHeader([current, previous], 'msg_1', 100, '{}');
    expect(header.split(' ')).toEqual([sign(current, 'msg_1', 100, '{}'), sign(previous, 'msg_1', 100, '{}')]);
  });
});

describe('the receiver-side verifier (scripts/lib/verify-signature.ts)', () => {
  it('verifies the specification example, and refuses it with one byte of the body changed', async () => {
    const { verifyStandardWebhook } = await import('../../scripts/lib/verify-signature.js');
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const headers = { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' };
    expect(verifyStandardWebhook(secret, headers, '{"test": 2432232314}', 300, 1614265330)).toBe(true);
    expect(verifyStandardWebhook(secret, headers, '{"test": 2432232315}', 300, 1614265330)).toBe(false);
  });

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
