import { loadEventCatalog } from '../../connector/events/catalog.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { subscriptionRefreshes } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { deactivateWebhook } from '../../connector/subscriptions/status.js';
import { createSubscriptionStore, type SubscriptionStore } from '../../connector/subscriptions/subscription-store.js';
import { forgetWebhookEvents, testConfig, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/**
 * The router's subscription index follows Postgres through LISTEN/NOTIFY. The
 * periodic safety-net reload is set to an hour here, so only notifications
 * can explain a change showing up.
 */
describe('subscription index refresh', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const box = createSecretBox(config.secrets.encryptionKey);
  const organization = uniqueName('org');
  const applicationName = uniqueName('store');
  let pool: Pool;
  let store: SubscriptionStore;

  const matches = (type = 'USER_CREATED', family = 'user') => store.current().match(organization, type, family).map((r) => r.id);
  const addWebhook = (overrides: { verified?: boolean; eventTypes?: string[] } = {}) =>
    insertWebhook(pool, box, { organization, name: 'w', url: 'https://example.com/h', eventTypes: ['USER_CREATED'], owner: 't', verified: true, signingSecret: generateSigningSecret(), ...overrides });

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 3, applicationName }, log);
    store = createSubscriptionStore({ pool, log, reloadIntervalMs: 3_600_000, canonicalPattern: loadEventCatalog().canonicalPattern });
    await store.start();
  });

  afterAll(async () => {
    await store?.stop();
    if (pool) await forgetWebhookEvents(pool, organization);
    await pool?.end();
  });

  it('picks up a new webhook, an unverified one never, and drops a disabled one', async () => {
    const started = Date.now();
    const id = await addWebhook();
    await waitFor('the new webhook in the index', () => matches().includes(id), 5000);
    log.info({ ms: Date.now() - started }, 'subscription change visible');
    const unverified = await addWebhook({ verified: false });
    const marker = await addWebhook({ eventTypes: ['user.*'] });
    await waitFor('the marker webhook', () => matches('USER_DISABLED').includes(marker), 5000);
    expect(matches()).not.toContain(unverified);

    await deactivateWebhook(pool, id, 'https://example.com/h', 'test');
    await waitFor('the disabled webhook to leave the index', () => !matches().includes(id), 5000);
  });

  it('matches a pattern stored under another product\'s name (an alias) by the catalog\'s name, on a change and a full reload', async () => {
    // Written around the admin API (which stores the catalog's names): cidaas's GROUP_USER_REMOVED.
    const id = await addWebhook({ eventTypes: ['GROUP_USER_REMOVED'] });
    await waitFor('the webhook under the catalog\'s name', () => matches('USER_REMOVED_FROM_GROUP', 'group').includes(id), 5000);
    const ownStore = createSubscriptionStore({ pool, log, reloadIntervalMs: 3_600_000, canonicalPattern: loadEventCatalog().canonicalPattern });
    await ownStore.start();
    try {
      expect(ownStore.current().match(organization, 'USER_REMOVED_FROM_GROUP', 'group').map((r) => r.id)).toContain(id);
    } finally {
      await ownStore.stop();
    }
  });

  it('applies a change by reading that webhook alone, not by reloading every webhook', async () => {
    const refreshes = async (kind: 'full' | 'changes'): Promise<number> =>
      (await subscriptionRefreshes.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
    const id = await addWebhook();
    await waitFor('the new webhook in the index', () => matches().includes(id), 5000);
    const fullBefore = await refreshes('full');
    const changesBefore = await refreshes('changes');
    await pool.query(`UPDATE webhooks SET event_types = ARRAY['group.*'] WHERE id = $1`, [id]);
    await waitFor('the webhook under its new pattern', () => matches('GROUP_CREATED', 'group').includes(id) && !matches().includes(id), 5000);
    await pool.query('DELETE FROM webhooks WHERE id = $1', [id]);
    await waitFor('the deleted webhook to leave the index', () => !matches('GROUP_CREATED', 'group').includes(id), 5000);
    expect(await refreshes('changes')).toBeGreaterThanOrEqual(changesBefore + 1);
    expect(await refreshes('full')).toBe(fullBefore);
  });

  it('reconnects its listener after the connection is killed and catches up on missed changes', async () => {
    // Out of the index before the reload, and to stay out through it: the full reload filters as changes do.
    const unverified = await addWebhook({ verified: false, eventTypes: ['*'] });
    const inactive = await addWebhook({ eventTypes: ['*'] });
    await waitFor('the webhook in the index', () => matches().includes(inactive), 5000);
    await deactivateWebhook(pool, inactive, 'https://example.com/h', 'test');
    await waitFor('the disabled webhook to leave the index', () => !matches().includes(inactive), 5000);
    const { rowCount } = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
      [applicationName],
    );
    expect(rowCount).toBe(1);
    const id = await addWebhook();
    await waitFor('the webhook added while reconnecting', () => matches().includes(id), 10_000);
    expect(matches()).not.toContain(unverified);
    expect(matches()).not.toContain(inactive);
  });

  it('closes its listening connection when stopped, rather than handing it back to the pool with its handlers on', async () => {
    const own = uniqueName('store');
    const ownPool = createPool({ url: config.database.url, max: 3, applicationName: own }, log);
    const listeningBackends = async (): Promise<number> => {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE '%LISTEN%'`, [own]);
      return rows[0]!.n;
    };
    try {
      const ownStore = createSubscriptionStore({ pool: ownPool, log, reloadIntervalMs: 3_600_000, canonicalPattern: loadEventCatalog().canonicalPattern });
      await ownStore.start();
      expect(await listeningBackends()).toBe(1);
      await ownStore.stop();
      // The pool is still open: a connection handed back to it would stay, idle after its UNLISTEN.
      await waitFor('the listening connection closed', async () => (await listeningBackends()) === 0, 10_000);
    } finally {
      await ownPool.end();
    }
  });
});
