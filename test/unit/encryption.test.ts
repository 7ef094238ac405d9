import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, secretPlace } from '../../connector/security/encryption.js';
import { sealAsV1 } from '../support/legacy-seal.js';

describe('createSecretBox', () => {
  const key = randomBytes(32).toString('base64');
  const box = createSecretBox(key);
  const webhook = randomUUID();
  const here = secretPlace.signingSecret(webhook);

  it('round-trips and never stores the plaintext', () => {
    const stored = box.encrypt('whsec_topsecret', here);
    expect(stored).toMatch(/^v2:/);
    expect(stored).not.toContain('topsecret');
    expect(box.decrypt(stored, here)).toBe('whsec_topsecret');
    expect(box.encrypt('same', here)).not.toBe(box.encrypt('same', here));
  });

  it('opens a value only where it was sealed: copied to another webhook, or to another column of its own, it does not decrypt', () => {
    const signing = box.encrypt('whsec_victim', here);
    // The attack: a signing secret copied into an API key the deliverer sends in plain text to another URL.
    expect(() => box.decrypt(signing, secretPlace.apiKey(webhook))).toThrow(/does not decrypt .*where it is stored/);
    expect(() => box.decrypt(signing, secretPlace.signingSecret(randomUUID()))).toThrow(/does not decrypt/);
    const owner = { organization: 'org', tokenId: 't1' };
    const answer = box.encrypt('{"secret":"whsec_x"}', secretPlace.idempotentAnswer(owner, 'k1'));
    expect(() => box.decrypt(answer, secretPlace.idempotentAnswer({ ...owner, tokenId: 't2' }, 'k1'))).toThrow(/does not decrypt/);
    expect(() => box.decrypt(answer, secretPlace.idempotentRequest(owner, 'k1'))).toThrow(/does not decrypt/);
    // A webhook's current and previous secret share a place (a rotation moves one into the other), and an id is
    // the same place in capitals as Postgres writes it.
    expect(box.decrypt(signing, secretPlace.signingSecret(webhook.toUpperCase()))).toBe('whsec_victim');
  });

  it('still opens the first format (no place), anywhere, and tells it apart so reencrypt-secrets can seal it again', () => {
    const legacy = sealAsV1(key, 'whsec_old');
    expect(box.decrypt(legacy, here)).toBe('whsec_old');
    expect(box.decrypt(legacy, secretPlace.apiKey(webhook))).toBe('whsec_old');
    expect(box.isBound(legacy)).toBe(false);
    expect(box.isBound(box.encrypt('whsec_new', here))).toBe(true);
  });

  it('refuses tampered ciphertext and a wrong key', () => {
    const stored = box.encrypt('value', here);
    const raw = Buffer.from(stored.slice(3), 'base64');
    raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
    expect(() => box.decrypt(`v2:${raw.toString('base64')}`, here)).toThrow(/does not decrypt/);
    expect(() => createSecretBox(randomBytes(32).toString('base64')).decrypt(stored, here)).toThrow(/does not decrypt/);
    // Nor does relabelling a sealed value as the first format get it opened without its place.
    expect(() => box.decrypt(`v1:${stored.slice(3)}`, here)).toThrow(/does not decrypt/);
  });

  it('refuses a value of unknown format as fatal without echoing it: one stored unencrypted by mistake is a secret', () => {
    for (const stored of ['whsec_storedInTheClear', 'v3:whsec_storedInTheClear']) {
      let thrown: unknown;
      try {
        box.decrypt(stored, here);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ kind: 'fatal', code: 'SECRET_FORMAT_UNKNOWN' });
      expect((thrown as Error).message).not.toContain('storedInTheClear');
    }
  });

  it('takes only the full 16-byte tag: a shortened one, or a value too short to hold one, is refused as not decrypting', () => {
    const raw = Buffer.from(box.encrypt('value', here).slice(3), 'base64');
    // IV, then the first 4 bytes of the tag only, then the ciphertext: GCM accepts such a tag unless told its length.
    const shortTag = Buffer.concat([raw.subarray(0, 12), raw.subarray(12, 16), raw.subarray(28)]);
    expect(() => box.decrypt(`v2:${shortTag.toString('base64')}`, here)).toThrow(/does not decrypt/);
    expect(() => box.decrypt(`v2:${raw.subarray(0, 20).toString('base64')}`, here)).toThrow(/does not decrypt/);
    expect(() => box.decrypt('v2:', here)).toThrow(/does not decrypt/);
  });

  it('decrypts what a previous key sealed and encrypts with the current one: a key rotation loses no secret', () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const sealedBefore = createSecretBox(oldKey).encrypt('whsec_before', here);
    const rotating = createSecretBox(newKey, [oldKey]);
    expect(rotating.decrypt(sealedBefore, here)).toBe('whsec_before');
    const sealedNow = rotating.encrypt('whsec_now', here);
    // Sealed with the new key alone: the old key no longer opens it, the new one does without any other.
    expect(() => createSecretBox(oldKey).decrypt(sealedNow, here)).toThrow(/does not decrypt/);
    expect(createSecretBox(newKey).decrypt(sealedNow, here)).toBe('whsec_now');
    // A key neither current nor previous still opens nothing.
    expect(() => createSecretBox(newKey, [randomBytes(32).toString('base64')]).decrypt(sealedBefore, here)).toThrow(/any of secrets\.previousEncryptionKeys/);
  });
});
