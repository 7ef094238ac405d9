import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../../connector/security/encryption.js';

describe('createSecretBox', () => {
  const box = createSecretBox(randomBytes(32).toString('base64'));

  it('round-trips and never stores the plaintext', () => {
    const stored = box.encrypt('whsec_topsecret');
    expect(stored).toMatch(/^v1:/);
    expect(stored).not.toContain('topsecret');
    expect(box.decrypt(stored)).toBe('whsec_topsecret');
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'));
  });

  it('refuses tampered ciphertext and a wrong key', () => {
    const stored = box.encrypt('value');
    const raw = Buffer.from(stored.slice(3), 'base64');
    raw.writeUInt8(raw.readUInt8(raw.length - 1) ^ 1, raw.length - 1);
    expect(() => box.decrypt(`v1:${raw.toString('base64')}`)).toThrow(/does not decrypt/);
    expect(() => createSecretBox(randomBytes(32).toString('base64')).decrypt(stored)).toThrow(/does not decrypt/);
  });

  it('refuses a value of unknown format as fatal without echoing it: one stored unencrypted by mistake is a secret', () => {
    for (const stored of ['whsec_storedInTheClear', 'v2:whsec_storedInTheClear']) {
      let thrown: unknown;
      try {
        box.decrypt(stored);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ kind: 'fatal', code: 'SECRET_FORMAT_UNKNOWN' });
      expect((thrown as Error).message).not.toContain('storedInTheClear');
    }
  });

  it('takes only the full 16-byte tag: a shortened one, or a value too short to hold one, is refused as not decrypting', () => {
    const raw = Buffer.from(box.encrypt('value').slice(3), 'base64');
    // IV, then the first 4 bytes of the tag only, then the ciphertext: GCM accepts such a tag unless told its length.
    const shortTag = Buffer.concat([raw.subarray(0, 12), raw.subarray(12, 16), raw.subarray(28)]);
    expect(() => box.decrypt(`v1:${shortTag.toString('base64')}`)).toThrow(/does not decrypt/);
    expect(() => box.decrypt(`v1:${raw.subarray(0, 20).toString('base64')}`)).toThrow(/does not decrypt/);
    expect(() => box.decrypt('v1:')).toThrow(/does not decrypt/);
  });

  it('decrypts what a previous key sealed and encrypts with the current one: a key rotation loses no secret', () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const sealedBefore = createSecretBox(oldKey).encrypt('whsec_before');
    const rotating = createSecretBox(newKey, [oldKey]);
    expect(rotating.decrypt(sealedBefore)).toBe('whsec_before');
    const sealedNow = rotating.encrypt('whsec_now');
    // Sealed with the new key alone: the old key no longer opens it, the new one does without any other.
    expect(() => createSecretBox(oldKey).decrypt(sealedNow)).toThrow(/does not decrypt/);
    expect(createSecretBox(newKey).decrypt(sealedNow)).toBe('whsec_now');
    // A key neither current nor previous still opens nothing.
    expect(() => createSecretBox(newKey, [randomBytes(32).toString('base64')]).decrypt(sealedBefore)).toThrow(/any of secrets\.previousEncryptionKeys/);
  });
});
