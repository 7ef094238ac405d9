import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox, secretPlace } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { reencryptSecrets } from '../../connector/security/reencrypt.js';
import { spawnConnector } from '../support/connector-process.js';
import { testEnv } from '../support/harness.js';
import { sealAsV1 } from '../support/legacy-seal.js';
import { createOwnDatabase, type OwnDatabase } from '../support/own-database.js';

/**
 * A key rotation on real Postgres, in a database of its own (the command rewrites every webhook it finds): secrets
 * sealed with the old key are encrypted again with the new one by `identity-webhooks reencrypt-secrets`, after which
 * the new key alone opens them all.
 */
describe('reencrypt-secrets', () => {
  const services = inject('services');
  const log = createRootLogger({ level: 'error' });
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  let database: OwnDatabase;
  let url: string;
  let pool: Pool;
  const request = (tokenId: string, key: string) => secretPlace.idempotentRequest({ organization: 'org', tokenId }, key);
  const response = (tokenId: string, key: string) => secretPlace.idempotentAnswer({ organization: 'org', tokenId }, key);

  beforeAll(async () => {
    database = await createOwnDatabase(services.databaseUrl, 'reencrypt', log);
    url = database.url;
    pool = createPool({ url, max: 2, applicationName: 'reencrypt-test' }, log);
  });

  afterAll(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('encrypts every stored secret again with the new key; the old key can go', async () => {
    const oldBox = createSecretBox(oldKey);
    const secrets = Array.from({ length: 3 }, () => generateSigningSecret());
    const ids: string[] = [];
    for (const [i, secret] of secrets.entries()) {
      ids.push(await insertWebhook(pool, oldBox, {
        organization: 'org', name: `w${i}`, url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: secret,
        ...(i === 0 ? { apiKey: { header: 'x-api-key', value: 'key-0' } } : {}),
      }));
    }
    // One mid-rotation too: its previous secret also under the old key.
    await pool.query(`UPDATE webhooks SET previous_signing_secret_enc = $2, previous_secret_expires_at = now() + interval '1 hour' WHERE id = $1`, [ids[1], oldBox.encrypt('whsec_previous', secretPlace.signingSecret(ids[1]!))]);
    // And one whose previous secret's overlap is over: it signs nothing any more, and is dropped rather than kept.
    await pool.query(`UPDATE webhooks SET previous_signing_secret_enc = $2, previous_secret_expires_at = now() - interval '1 hour' WHERE id = $1`, [ids[2], oldBox.encrypt('whsec_expired', secretPlace.signingSecret(ids[2]!))]);

    // A kept admin API answer (Idempotency-Key) holding a new webhook's secret, and a claim still under way.
    await pool.query(
      `INSERT INTO admin_idempotency_keys (organization, token_id, idempotency_key, fingerprint_enc, claim_token, status, response_enc, response_headers)
       VALUES ('org', 't1', 'answered', $1, 'c1', 201, $2, '{}'), ('org', 't1', 'under-way', $3, 'c2', NULL, NULL, NULL)`,
      [oldBox.encrypt('hash-1', request('t1', 'answered')), oldBox.encrypt('{"secret":"whsec_kept"}', response('t1', 'answered')), oldBox.encrypt('hash-2', request('t1', 'under-way'))],
    );

    const run = spawnConnector('reencrypt-secrets', testEnv(services, { DATABASE_URL: url, SECRETS_ENCRYPTION_KEY: newKey, SECRETS_PREVIOUS_ENCRYPTION_KEYS: oldKey }));
    expect(await run.exited, run.output()).toBe(0);
    const answers = await pool.query<{ idempotency_key: string; fingerprint_enc: string; response_enc: string | null }>(
      'SELECT idempotency_key, fingerprint_enc, response_enc FROM admin_idempotency_keys ORDER BY idempotency_key',
    );
    const alone = createSecretBox(newKey);
    expect(answers.rows.map((row) => [
      row.idempotency_key, alone.decrypt(row.fingerprint_enc, request('t1', row.idempotency_key)), row.response_enc && alone.decrypt(row.response_enc, response('t1', row.idempotency_key)),
    ])).toEqual([
      ['answered', 'hash-1', '{"secret":"whsec_kept"}'],
      ['under-way', 'hash-2', null],
    ]);

    const newBox = createSecretBox(newKey);
    const { rows } = await pool.query<{ id: string; signing_secret_enc: string; previous_signing_secret_enc: string | null; api_key_enc: string | null }>(
      'SELECT id::text, signing_secret_enc, previous_signing_secret_enc, api_key_enc FROM webhooks',
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    ids.forEach((id, i) => expect(newBox.decrypt(byId.get(id)!.signing_secret_enc, secretPlace.signingSecret(id))).toBe(secrets[i]));
    expect(newBox.decrypt(byId.get(ids[0]!)!.api_key_enc!, secretPlace.apiKey(ids[0]!))).toBe('key-0');
    expect(newBox.decrypt(byId.get(ids[1]!)!.previous_signing_secret_enc!, secretPlace.signingSecret(ids[1]!))).toBe('whsec_previous');
    expect(byId.get(ids[2]!)!.previous_signing_secret_enc).toBeNull();
    expect(() => oldBox.decrypt(byId.get(ids[2]!)!.signing_secret_enc, secretPlace.signingSecret(ids[2]!))).toThrow(/does not decrypt/);
  });

  it('seals values of the first format (no place) to their place with the same key, and fails while a process still writes them', async () => {
    const box = createSecretBox(newKey);
    const id = await insertWebhook(pool, box, {
      organization: 'org-legacy', name: 'legacy', url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: 'whsec_legacy',
      apiKey: { header: 'x-api-key', value: 'legacy-key' },
    });
    // As a version before places wrote them: both open anywhere, so one copied to the other would be sent as the key.
    await pool.query('UPDATE webhooks SET signing_secret_enc = $2, api_key_enc = $3 WHERE id = $1', [id, sealAsV1(newKey, 'whsec_legacy'), sealAsV1(newKey, 'legacy-key')]);
    await pool.query(
      `INSERT INTO admin_idempotency_keys (organization, token_id, idempotency_key, fingerprint_enc, claim_token, status, response_enc, response_headers)
       VALUES ('org', 't3', 'legacy', $1, 'c5', 201, $2, '{}')`,
      [sealAsV1(newKey, 'hash-5'), sealAsV1(newKey, '{"secret":"whsec_legacy"}')],
    );

    // No key rotation at all: the one key, current alone.
    await reencryptSecrets(pool, box, box, log);
    const { rows } = await pool.query<{ s: string; k: string }>('SELECT signing_secret_enc AS s, api_key_enc AS k FROM webhooks WHERE id = $1', [id]);
    expect([rows[0]!.s, rows[0]!.k].map((stored) => box.isBound(stored))).toEqual([true, true]);
    expect(box.decrypt(rows[0]!.s, secretPlace.signingSecret(id))).toBe('whsec_legacy');
    expect(box.decrypt(rows[0]!.k, secretPlace.apiKey(id))).toBe('legacy-key');
    // Swapped now, neither opens.
    expect(() => box.decrypt(rows[0]!.s, secretPlace.apiKey(id))).toThrow(/does not decrypt/);
    const answer = (await pool.query<{ f: string; r: string }>(`SELECT fingerprint_enc AS f, response_enc AS r FROM admin_idempotency_keys WHERE idempotency_key = 'legacy'`)).rows[0]!;
    expect(box.decrypt(answer.f, request('t3', 'legacy'))).toBe('hash-5');
    expect(box.decrypt(answer.r, response('t3', 'legacy'))).toBe('{"secret":"whsec_legacy"}');

    // A process of the earlier version writing the first format meanwhile: named, so the operator runs it again.
    const racing = {
      query: async (text: string, values?: unknown[]) => {
        if (text.startsWith('SELECT') && text.includes('FROM webhooks WHERE id > $1')) {
          await pool.query('UPDATE webhooks SET api_key_enc = $2 WHERE id = $1', [id, sealAsV1(newKey, 'legacy-key')]);
        }
        return pool.query(text, values);
      },
    } as unknown as Pool;
    await expect(reencryptSecrets(racing, box, box, log)).rejects.toThrow(new RegExp(`not sealed to their webhook: .*${id}`));
    await pool.query(`DELETE FROM webhooks WHERE organization = 'org-legacy'`);
    await pool.query(`DELETE FROM admin_idempotency_keys WHERE idempotency_key = 'legacy'`);
  });

  it('rewrites a webhook an admin rotated between the read and the write, so no secret is left under the old key', async () => {
    const oldBox = createSecretBox(oldKey);
    const newBox = createSecretBox(newKey, [oldKey]);
    const first = generateSigningSecret();
    const id = await insertWebhook(pool, oldBox, {
      organization: 'org-rotating', name: 'rotating', url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: first,
    });
    await pool.query(`DELETE FROM webhooks WHERE organization <> 'org-rotating'`);
    const second = generateSigningSecret();
    // The real pool, with an admin's rotate-secret (as the admin API writes it, already on the new key) run just
    // before the command's first write: the stored current secret, still under the old key, becomes the previous one.
    let rotated = false;
    const racing = {
      query: async (text: string, values?: unknown[]) => {
        if (!rotated && text.includes('UPDATE webhooks SET signing_secret_enc')) {
          rotated = true;
          await pool.query(
            `UPDATE webhooks SET previous_signing_secret_enc = signing_secret_enc, previous_secret_expires_at = now() + interval '1 hour', signing_secret_enc = $2 WHERE id = $1`,
            [id, newBox.encrypt(second, secretPlace.signingSecret(id))],
          );
        }
        return pool.query(text, values);
      },
    } as unknown as Pool;
    expect(await reencryptSecrets(racing, newBox, createSecretBox(newKey), log)).toEqual({ rewritten: 1, answers: 2 });
    expect(rotated).toBe(true);
    const { rows } = await pool.query<{ s: string; p: string }>('SELECT signing_secret_enc AS s, previous_signing_secret_enc AS p FROM webhooks WHERE id = $1', [id]);
    const alone = createSecretBox(newKey);
    expect(alone.decrypt(rows[0]!.s, secretPlace.signingSecret(id))).toBe(second);
    expect(alone.decrypt(rows[0]!.p, secretPlace.signingSecret(id))).toBe(first);
  });

  it('names a webhook no configured key opens, leaves it as it was, and exits non-zero after doing the rest', async () => {
    const lost = await insertWebhook(pool, createSecretBox(randomBytes(32).toString('base64')), {
      organization: 'org', name: 'lost', url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
    });
    const before = (await pool.query<{ s: string }>('SELECT signing_secret_enc AS s FROM webhooks WHERE id = $1', [lost])).rows[0]!.s;
    const run = spawnConnector('reencrypt-secrets', testEnv(services, { DATABASE_URL: url, SECRETS_ENCRYPTION_KEY: newKey }));
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(lost);
    expect((await pool.query<{ s: string }>('SELECT signing_secret_enc AS s FROM webhooks WHERE id = $1', [lost])).rows[0]!.s).toBe(before);
  });

  it('fails while a kept admin API answer is sealed with a key it was not given, and leaves the answer as it was', async () => {
    await pool.query('DELETE FROM webhooks');
    const stranger = createSecretBox(randomBytes(32).toString('base64'));
    const sealed = stranger.encrypt('{"secret":"whsec_unknown"}', response('t2', 'sealed-elsewhere'));
    await pool.query(
      `INSERT INTO admin_idempotency_keys (organization, token_id, idempotency_key, fingerprint_enc, claim_token, status, response_enc, response_headers)
       VALUES ('org', 't2', 'sealed-elsewhere', $1, 'c3', 201, $2, '{}')`,
      [stranger.encrypt('hash-3', request('t2', 'sealed-elsewhere')), sealed],
    );
    // Past its day, waiting for the admin API's purge: never opened again, so neither sealed again nor counted.
    await pool.query(
      `INSERT INTO admin_idempotency_keys (organization, token_id, idempotency_key, fingerprint_enc, claim_token, status, response_enc, response_headers, created_at)
       VALUES ('org', 't2', 'expired', $1, 'c4', 201, $2, '{}', now() - interval '25 hours')`,
      [stranger.encrypt('hash-4', request('t2', 'expired')), stranger.encrypt('{}', response('t2', 'expired'))],
    );
    const run = spawnConnector('reencrypt-secrets', testEnv(services, { DATABASE_URL: url, SECRETS_ENCRYPTION_KEY: newKey }));
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/1 kept admin API answer\(s\) \(Idempotency-Key, kept a day\) the current key alone does not open/);
    expect((await pool.query<{ r: string }>(`SELECT response_enc AS r FROM admin_idempotency_keys WHERE idempotency_key = 'sealed-elsewhere'`)).rows[0]!.r).toBe(sealed);
  });
});
