import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { loadEventCatalog } from '../../connector/events/catalog.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { subscriptionReloadFailures } from '../../connector/observability/metrics.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { CHANGE_CHANNEL } from '../../connector/subscriptions/change-listener.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { createSubscriptionStore, type SubscriptionStore } from '../../connector/subscriptions/subscription-store.js';
import { testConfig } from '../support/harness.js';
import { createOwnDatabase, type OwnDatabase } from '../support/own-database.js';
import { waitFor } from '../support/wait.js';

/**
 * A refresh of the router's subscription index that fails while the LISTEN
 * connection stays up (a query timing out behind a lock, a pooled connection
 * dropped) is tried again by itself, soon: no notification may come to
 * trigger one, and the periodic reload (an hour here) is far off. In a
 * database of its own, as the test locks the webhooks table.
 */
describe('subscription index refresh after a failure', () => {
  const services = inject('services');
  const config = testConfig(services);
  const log = createRootLogger({ level: 'fatal' });
  const box = createSecretBox(config.secrets.encryptionKey);
  let database: OwnDatabase;
  let url: string;
  let pool: Pool;
  let store: SubscriptionStore;

  beforeAll(async () => {
    database = await createOwnDatabase(services.databaseUrl, 'refresh', log);
    url = database.url;
    // Queries time out fast, so one waiting behind the test's lock fails while the listener stays connected.
    pool = createPool({ url, max: 3, applicationName: 'refresh-failure-test', queryTimeoutMs: 300 }, log);
    store = createSubscriptionStore({ pool, log, reloadIntervalMs: 3_600_000, canonicalPattern: loadEventCatalog().canonicalPattern });
    await store.start();
  });

  afterAll(async () => {
    await store?.stop();
    await pool?.end();
    await database?.drop();
  });

  it('reloads by itself after a failed refresh, without another notification', async () => {
    const failures = async (): Promise<number> => (await subscriptionReloadFailures.get()).values[0]?.value ?? 0;
    const failedBefore = await failures();
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      // A webhook written with the table locked and its trigger off: its commit notifies nobody.
      await holder.query('BEGIN');
      await holder.query('SET LOCAL session_replication_role = replica');
      await holder.query('LOCK TABLE webhooks IN ACCESS EXCLUSIVE MODE');
      const id = await insertWebhook(holder as unknown as Pool, box, {
        organization: 'org', name: 'w', url: 'https://example.com/h', eventTypes: ['USER_CREATED'], owner: 't', verified: true, signingSecret: generateSigningSecret(),
      });
      // A change notified meanwhile: its refresh waits behind the lock and times out.
      const notifier = new pg.Client({ connectionString: url });
      await notifier.connect();
      await notifier.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify({ op: 'UPDATE', id: randomUUID(), organization: 'org' })]);
      await notifier.end();
      await waitFor('a refresh failing behind the lock', async () => (await failures()) > failedBefore, 10_000);
      await holder.query('COMMIT');
      await waitFor('the webhook in the index after a retry', () => store.current().match('org', 'USER_CREATED', 'user').some((route) => route.id === id), 10_000);
    } finally {
      await holder.end();
    }
  });
});
