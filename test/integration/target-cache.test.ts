import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { createTargetCache, STALE_RETRY_MS } from '../../connector/subscriptions/target-cache.js';
import { testConfig, uniqueName } from '../support/harness.js';

/** The deliverer's cache of webhooks on real Postgres, with no change listener: every change is a notification lost. */
describe('target cache', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: 'silent' });
  const box = createSecretBox(config.secrets.encryptionKey);
  let pool: Pool;

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 2, applicationName: uniqueName('target-cache') }, log);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('serves the version it holds for its age, and reads again when asked for one read more recently', async () => {
    const id = await insertWebhook(pool, box, {
      organization: uniqueName('org'), name: uniqueName('hook'), url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
    });
    let clock = 0;
    const cache = createTargetCache({ pool, box, ttlMs: 60_000, log, now: () => clock });
    await pool.query(`UPDATE webhooks SET status = 'inactive' WHERE id = $1`, [id]);
    expect((await cache.get(id))?.deliverable).toBe(false);
    // Enabled again, its notification lost: the version held still says inactive, a minute at most.
    await pool.query(`UPDATE webhooks SET status = 'active' WHERE id = $1`, [id]);
    clock += 2000;
    expect((await cache.get(id))?.deliverable).toBe(false);
    // Asked for a version no older than a second: read again.
    expect((await cache.get(id, 1000))?.deliverable).toBe(true);
    // That read is now the version held.
    expect((await cache.get(id))?.deliverable).toBe(true);
  });

  it('while Postgres cannot be read, serves the version it holds, and tries again only every few seconds however recent a version is asked for', async () => {
    const id = await insertWebhook(pool, box, {
      organization: uniqueName('org'), name: uniqueName('hook'), url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
    });
    let clock = 0;
    let reads = 0;
    let down = false;
    const flaky = {
      query: (...args: unknown[]) => {
        reads += 1;
        return down ? Promise.reject(new Error('connection terminated unexpectedly')) : (pool.query as (...a: unknown[]) => unknown)(...args);
      },
    } as unknown as Pool;
    const cache = createTargetCache({ pool: flaky, box, ttlMs: 60_000, log, now: () => clock });
    expect((await cache.get(id))?.deliverable).toBe(true);
    down = true;
    clock += 2000;
    expect((await cache.get(id, 1000))?.deliverable).toBe(true);
    expect(reads).toBe(2);
    // Not another try for each caller while it is down: the version held is served.
    expect((await cache.get(id, 1000))?.deliverable).toBe(true);
    expect(reads).toBe(2);
    clock += STALE_RETRY_MS;
    down = false;
    await cache.get(id, 1000);
    expect(reads).toBe(3);
  });

  it('past its age, serves the version it holds while it reads the webhook again, once, and then the new version', async () => {
    const id = await insertWebhook(pool, box, {
      organization: uniqueName('org'), name: uniqueName('hook'), url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
    });
    let clock = 0;
    let reads = 0;
    // A Postgres that takes its time: each read waits until the test lets it through.
    const held: Array<() => void> = [];
    let hold = false;
    const slow = {
      query: (...args: unknown[]) => {
        reads += 1;
        const run = () => (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
        return hold ? new Promise((resolve, reject) => held.push(() => void run().then(resolve, reject))) : run();
      },
    } as unknown as Pool;
    const cache = createTargetCache({ pool: slow, box, ttlMs: 60_000, log, now: () => clock });
    expect((await cache.get(id))?.deliverable).toBe(true);
    await pool.query(`UPDATE webhooks SET status = 'inactive' WHERE id = $1`, [id]);
    hold = true;
    clock += 61_000;
    // Answered at once with the version held, however long the read takes; one read for every caller.
    expect((await cache.get(id))?.deliverable).toBe(true);
    expect((await cache.get(id))?.deliverable).toBe(true);
    expect(reads).toBe(2);
    held.splice(0).forEach((release) => release());
    await expect.poll(async () => (await cache.get(id))?.deliverable).toBe(false);
    expect(reads).toBe(2);
  });
});
