import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { spawnConnector } from '../support/connector-process.js';
import { testEnv } from '../support/harness.js';

/**
 * A key rotation on real Postgres, in a database of its own (the command rewrites every webhook it finds): secrets
 * sealed with the old key are encrypted again with the new one by `identity-webhooks reencrypt-secrets`, after which
 * the new key alone opens them all.
 */
describe('reencrypt-secrets', () => {
  const services = inject('services');
  const database = `reencrypt_${randomUUID().slice(0, 8)}`;
  const adminUrl = new URL(services.databaseUrl);
  const url = new URL(services.databaseUrl);
  url.pathname = `/${database}`;
  const log = createRootLogger({ level: 'error' });
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  let pool: Pool;

  const withAdmin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    await withAdmin(`CREATE DATABASE ${database}`);
    await migrateUp(url.toString(), log);
    pool = createPool({ url: url.toString(), max: 2, applicationName: 'reencrypt-test' }, log);
  });

  afterAll(async () => {
    await pool?.end();
    await withAdmin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
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
    await pool.query('UPDATE webhooks SET previous_signing_secret_enc = $2 WHERE id = $1', [ids[1], oldBox.encrypt('whsec_previous')]);

    const run = spawnConnector('reencrypt-secrets', testEnv(services, { DATABASE_URL: url.toString(), SECRETS_ENCRYPTION_KEY: newKey, SECRETS_PREVIOUS_ENCRYPTION_KEYS: oldKey }));
    expect(await run.exited, run.output()).toBe(0);

    const newBox = createSecretBox(newKey);
    const { rows } = await pool.query<{ id: string; signing_secret_enc: string; previous_signing_secret_enc: string | null; api_key_enc: string | null }>(
      'SELECT id::text, signing_secret_enc, previous_signing_secret_enc, api_key_enc FROM webhooks',
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    ids.forEach((id, i) => expect(newBox.decrypt(byId.get(id)!.signing_secret_enc)).toBe(secrets[i]));
    expect(newBox.decrypt(byId.get(ids[0]!)!.api_key_enc!)).toBe('key-0');
    expect(newBox.decrypt(byId.get(ids[1]!)!.previous_signing_secret_enc!)).toBe('whsec_previous');
    expect(() => oldBox.decrypt(byId.get(ids[2]!)!.signing_secret_enc)).toThrow(/does not decrypt/);
  });

  it('names a webhook no configured key opens, leaves it as it was, and exits non-zero after doing the rest', async () => {
    const lost = await insertWebhook(pool, createSecretBox(randomBytes(32).toString('base64')), {
      organization: 'org', name: 'lost', url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
    });
    const before = (await pool.query<{ s: string }>('SELECT signing_secret_enc AS s FROM webhooks WHERE id = $1', [lost])).rows[0]!.s;
    const run = spawnConnector('reencrypt-secrets', testEnv(services, { DATABASE_URL: url.toString(), SECRETS_ENCRYPTION_KEY: newKey }));
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain(lost);
    expect((await pool.query<{ s: string }>('SELECT signing_secret_enc AS s FROM webhooks WHERE id = $1', [lost])).rows[0]!.s).toBe(before);
  });
});
