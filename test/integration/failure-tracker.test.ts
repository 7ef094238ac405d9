import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setWebhookEnabled, updateWebhookRow } from '../../admin-api/store/webhooks.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { generateSigningSecret } from '../../connector/delivery/signature.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { createSecretBox } from '../../connector/security/encryption.js';
import { createFailureTracker, type FailureTracker } from '../../connector/subscriptions/failure-tracker.js';
import { insertWebhook } from '../../connector/subscriptions/repository.js';
import { deactivateWebhook } from '../../connector/subscriptions/status.js';
import { forgetWebhookEvents, testConfig, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

const HOUR = 3_600_000;
/** The auto-disable window of these tests. Streaks are aged in Postgres, and each tracker's clock set ahead to match. */
const WINDOW_MS = 10 * 60_000;

/**
 * The auto-disable window across deliverers: each process remembers streaks
 * for a while, Postgres holds them, and others end them (a success on
 * another deliverer, an admin enabling the webhook again).
 */
describe('failure tracker', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const box = createSecretBox(config.secrets.encryptionKey);
  const organization = uniqueName('org');
  let pool: Pool;

  /** A deliverer's tracker whose clock runs `aheadMs` ahead (moved by `advance`). */
  const deliverer = (aheadMs = 0) => {
    const clock = { aheadMs };
    const tracker: FailureTracker = createFailureTracker({ pool, windowMs: WINDOW_MS, log, now: () => Date.now() + clock.aheadMs });
    return { tracker, advance: (ms: number) => void (clock.aheadMs += ms) };
  };
  const addWebhook = () =>
    insertWebhook(pool, box, { organization, name: uniqueName('hook'), url: 'https://example.com/h', eventTypes: ['*'], owner: 't', verified: true, signingSecret: generateSigningSecret() });
  const row = async (id: string) =>
    (await pool.query<{ status: string; status_reason: string | null; failing_since: Date | null; last_failed_at: Date | null }>('SELECT status, status_reason, failing_since, last_failed_at FROM webhooks WHERE id = $1', [id])).rows[0]!;
  /** Moves the webhook's streak, if any, an hour into the past, as if it had failed that long. */
  const ageStreak = (id: string) => pool.query(`UPDATE webhooks SET failing_since = failing_since - interval '1 hour' WHERE id = $1`, [id]);

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 2, applicationName: uniqueName('tracker') }, log);
  });

  afterAll(async () => {
    if (pool) await forgetWebhookEvents(pool, organization);
    await pool?.end();
  });

  it('disables a webhook whose deliveries failed for the whole window, with the streak\'s start in the reason', async () => {
    const id = await addWebhook();
    const a = deliverer();
    expect(await a.tracker.failure(id)).toBe(false);
    const started = (await row(id)).failing_since!;
    await ageStreak(id);
    a.advance(HOUR);
    expect(await a.tracker.failure(id)).toBe(true);
    const after = await row(id);
    expect(after.status).toBe('inactive');
    expect(after.status_reason).toBe(`Disabled automatically: every delivery failed since ${new Date(started.getTime() - HOUR).toISOString()} (over 0.2 h)`);
    // Recorded for the organization's WEBHOOK_UPDATED subscribers, the connector as its actor.
    const { rows: recorded } = await pool.query<{ actor: string; payload: { changed: string[]; statusReason: string } }>(
      `SELECT actor, payload FROM webhook_admin_events WHERE organization = $1 AND event_type = 'WEBHOOK_UPDATED' AND payload->>'resourceId' = $2`, [organization, id]);
    expect(recorded).toEqual([{ actor: 'identity-webhooks', payload: expect.objectContaining({ changed: ['status'], statusReason: after.status_reason }) }]);
  });

  it('does not disable a webhook an admin enabled again: its next failure starts a new streak', async () => {
    const id = await addWebhook();
    const a = deliverer();
    await a.tracker.failure(id);
    await ageStreak(id);
    // Disabled meanwhile (by an admin, or by another deliverer's verdict), then enabled again.
    await setWebhookEnabled(pool, 'test', organization, id, false, 'paused');
    await setWebhookEnabled(pool, 'test', organization, id, true, null);
    a.advance(HOUR);
    expect(await a.tracker.failure(id)).toBe(false);
    const after = await row(id);
    expect(after.status).toBe('active');
    // The new streak began with this failure, not an hour ago.
    expect(Date.now() - after.failing_since!.getTime()).toBeLessThan(WINDOW_MS);
  });

  it('starts a webhook\'s streak afresh when its URL changes: the old endpoint\'s failures do not disable the new one', async () => {
    const id = await addWebhook();
    const a = deliverer();
    await a.tracker.failure(id);
    await ageStreak(id);
    const moved = await updateWebhookRow(pool, 'test', organization, id, { url: 'https://example.com/moved', verifyChangedUrl: true });
    expect(moved.kind).toBe('updated');
    expect((await row(id)).failing_since).toBeNull();
    // Its first failure after the move, past the window as this deliverer remembers the old streak: Postgres says no.
    a.advance(HOUR);
    expect(await a.tracker.failure(id)).toBe(false);
    const after = await row(id);
    expect(after.status).toBe('active');
    expect(Date.now() - after.failing_since!.getTime()).toBeLessThan(WINDOW_MS);
    // So does a URL changed with the form's Enable box sent along (the column is set once, whatever ends the streak).
    await ageStreak(id);
    const withEnable = await updateWebhookRow(pool, 'test', organization, id, { url: 'https://example.com/moved-again', verifyChangedUrl: true, status: { enabled: true, reason: null } });
    expect(withEnable.kind).toBe('updated');
    expect((await row(id)).failing_since).toBeNull();
    // A name change keeps the streak.
    await pool.query(`UPDATE webhooks SET failing_since = now() - interval '1 hour' WHERE id = $1`, [id]);
    const before = (await row(id)).failing_since;
    expect(before).not.toBeNull();
    await updateWebhookRow(pool, 'test', organization, id, { name: uniqueName('renamed') });
    expect((await row(id)).failing_since).toEqual(before);
  });

  it('takes a 410 Gone only from the URL the webhook still has: one from the URL it was moved from disables nothing', async () => {
    const id = await addWebhook();
    await updateWebhookRow(pool, 'test', organization, id, { url: 'https://example.com/new' });
    expect(await deactivateWebhook(pool, id, 'https://example.com/h', 'gone (old URL)')).toBe('moved');
    expect((await row(id)).status).toBe('active');
    expect(await deactivateWebhook(pool, id, 'https://example.com/new', 'gone')).toBe('disabled');
    expect(await row(id)).toMatchObject({ status: 'inactive', status_reason: 'gone' });
    // Another deliverer's 410 came first: nothing left to disable, and nothing moved.
    expect(await deactivateWebhook(pool, id, 'https://example.com/new', 'gone again')).toBe('not-active');
    expect((await row(id)).status_reason).toBe('gone');
  });

  it('a success on one deliverer ends the streak another started, however long ago the first saw the webhook healthy', async () => {
    const id = await addWebhook();
    const a = deliverer();
    const b = deliverer();
    await b.tracker.success(id);
    await a.tracker.failure(id);
    // Two minutes later B delivers again; it last saw the webhook healthy before A's streak began.
    b.advance(2 * 60_000);
    await b.tracker.success(id);
    expect((await row(id)).failing_since).toBeNull();
    await ageStreak(id);
    a.advance(HOUR);
    expect(await a.tracker.failure(id)).toBe(false);
    expect((await row(id)).status).toBe('active');
  });

  it('writes a webhook\'s row at most once a recheck while it fails (its last failure), and notifies no router or deliverer of it', async () => {
    const [id, renamed] = [await addWebhook(), await addWebhook()];
    const listener = new pg.Client({ connectionString: config.database.url });
    await listener.connect();
    const notified: string[] = [];
    listener.on('notification', (message) => notified.push((JSON.parse(message.payload ?? '{}') as { id: string }).id));
    await listener.query('LISTEN webhooks_changed');
    try {
      const a = deliverer();
      const version = async () => (await pool.query<{ xmin: string }>('SELECT xmin FROM webhooks WHERE id = $1', [id])).rows[0]!.xmin;
      await a.tracker.failure(id);
      const started = await version();
      const streak = await row(id);
      // Within the recheck interval: nothing written.
      expect(await a.tracker.failure(id)).toBe(false);
      expect(await version()).toBe(started);
      // Past it: the last failure is written, the streak's start kept.
      a.advance(61_000);
      expect(await a.tracker.failure(id)).toBe(false);
      expect(await version()).not.toBe(started);
      expect((await row(id)).failing_since).toEqual(streak.failing_since);
      expect((await row(id)).last_failed_at!.getTime()).toBeGreaterThanOrEqual(streak.last_failed_at!.getTime());
      await a.tracker.success(id);
      // Notifications arrive in commit order: once the rename's is in, any of the streak's would have come before it.
      await pool.query('UPDATE webhooks SET name = $2 WHERE id = $1', [renamed, uniqueName('renamed')]);
      await waitFor('the rename\'s notification', () => notified.includes(renamed), 10_000);
      expect(notified).toEqual([renamed]);
    } finally {
      await listener.end();
    }
  });

  it('starts a new streak at a failure after a quiet spell: failures far apart with no deliveries between are no streak', async () => {
    const id = await addWebhook();
    const a = deliverer();
    await a.tracker.failure(id);
    const first = (await row(id)).failing_since!;
    // An hour with no delivery at all (longer than the quiet spell a streak allows: the window here, 10 minutes).
    await pool.query(`UPDATE webhooks SET failing_since = failing_since - interval '1 hour', last_failed_at = last_failed_at - interval '1 hour' WHERE id = $1`, [id]);
    a.advance(HOUR);
    expect(await a.tracker.failure(id)).toBe(false);
    const after = await row(id);
    expect(after.status).toBe('active');
    expect(after.failing_since!.getTime()).toBeGreaterThanOrEqual(first.getTime());
  });

  it('starts no streak at a failure within a recheck of a success: an endpoint failing every other request is written about once a minute', async () => {
    const id = await addWebhook();
    const a = deliverer();
    await a.tracker.failure(id);
    await a.tracker.success(id);
    const version = async () => (await pool.query<{ xmin: string }>('SELECT xmin FROM webhooks WHERE id = $1', [id])).rows[0]!.xmin;
    const cleared = await version();
    for (let i = 0; i < 5; i += 1) {
      expect(await a.tracker.failure(id)).toBe(false);
      await a.tracker.success(id);
    }
    expect(await version()).toBe(cleared);
    expect((await row(id)).failing_since).toBeNull();
    // A recheck later, a failure starts the streak.
    a.advance(61_000);
    await a.tracker.failure(id);
    expect((await row(id)).failing_since).not.toBeNull();
  });

  it('with a window of 0 disables nothing and writes nothing', async () => {
    const id = await addWebhook();
    const never = createFailureTracker({ pool, windowMs: 0, log, now: () => Date.now() + 365 * 24 * HOUR });
    expect(await never.failure(id)).toBe(false);
    expect(await never.failure(id)).toBe(false);
    expect(await row(id)).toMatchObject({ status: 'active', failing_since: null });
  });

  it('tries no write for a while after one Postgres did not take: outcomes do not each wait on it', async () => {
    const id = await addWebhook();
    let queries = 0;
    let refuse = true;
    const flaky = {
      query: (...args: Parameters<Pool['query']>) => {
        queries += 1;
        return refuse ? Promise.reject(new Error('connection terminated unexpectedly')) : (pool.query as (...a: unknown[]) => unknown)(...args);
      },
    } as unknown as Pool;
    const clock = { aheadMs: 0 };
    const tracker = createFailureTracker({ pool: flaky, windowMs: WINDOW_MS, log: createRootLogger({ level: 'silent' }), now: () => Date.now() + clock.aheadMs });
    expect(await tracker.failure(id)).toBe(false);
    expect(queries).toBe(1);
    await tracker.failure(id);
    expect(queries).toBe(1);
    refuse = false;
    clock.aheadMs += 11_000;
    await tracker.failure(id);
    expect(queries).toBe(2);
    expect((await row(id)).failing_since).not.toBeNull();
  });

  it('goes by what it knows of a streak for a minute, then asks Postgres again', async () => {
    const id = await addWebhook();
    const a = deliverer();
    await a.tracker.failure(id);
    // Ended behind its back: within the recheck interval the tracker goes by what it knows, without asking.
    await pool.query('UPDATE webhooks SET failing_since = NULL WHERE id = $1', [id]);
    expect(await a.tracker.failure(id)).toBe(false);
    expect((await row(id)).failing_since).toBeNull();
    // Past it, it asks again and starts the streak anew.
    a.advance(61_000);
    await a.tracker.failure(id);
    expect((await row(id)).failing_since).not.toBeNull();
  });
});
