import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { createAttemptRetention } from '../../connector/delivery/attempt-retention.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig, uniqueName } from '../support/harness.js';
import { waitFor } from '../support/wait.js';

/** The delivery log's retention by age, on real Postgres: rows of one webhook per test, written `daysAgo` old. */
describe('delivery log retention', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  let pool: Pool;

  const addRows = async (webhookId: string, count: number, daysAgo: number): Promise<void> => {
    await pool.query(
      `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, attempt, outcome, attempted_at)
       SELECT gen_random_uuid()::text, 't', $1, 'org', 'e', 'USER_CREATED', 1, 'delivered', now() - make_interval(days => $3) - interval '1 minute'
         FROM generate_series(1, $2)`,
      [webhookId, count, daysAgo],
    );
  };
  const ages = async (webhookId: string) =>
    (await pool.query<{ old: number; recent: number }>(
      `SELECT count(*) FILTER (WHERE attempted_at < now() - interval '30 days')::int AS old, count(*) FILTER (WHERE attempted_at >= now() - interval '30 days')::int AS recent
         FROM delivery_attempts WHERE webhook_id = $1`,
      [webhookId],
    )).rows[0]!;

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 4, applicationName: uniqueName('retention') }, log);
    // Rows past retention that earlier tests or runs left are this suite's to delete too: start from none.
    await pool.query(`DELETE FROM delivery_attempts WHERE attempted_at < now() - interval '30 days'`);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('deletes rows past retention in batches, and keeps the rest', async () => {
    const webhookId = randomUUID();
    await addRows(webhookId, 23, 31);
    await addRows(webhookId, 7, 29);
    const retention = createAttemptRetention({ pool, retentionDays: 30, log, batchRows: 5 });
    expect(await retention.prune()).toBe(23);
    expect(await ages(webhookId)).toEqual({ old: 0, recent: 7 });
    expect(await retention.prune()).toBe(0);
  });

  it('runs in several sinks at once, each deleting rows the others are not: every old row is deleted once', async () => {
    const webhookId = randomUUID();
    await addRows(webhookId, 200, 40);
    const sinks = Array.from({ length: 3 }, () => createAttemptRetention({ pool, retentionDays: 30, log, batchRows: 10 }));
    const deleted = await Promise.all(sinks.map((sink) => sink.prune()));
    expect(deleted.reduce((sum, n) => sum + n, 0)).toBe(200);
    expect(await ages(webhookId)).toEqual({ old: 0, recent: 0 });
  });

  it('runs first soon after start, not an interval later, and then on its interval', async () => {
    const webhookId = randomUUID();
    await addRows(webhookId, 5, 31);
    // An interval far past the test: only a first run that does not wait for it can delete the rows in time.
    const first = createAttemptRetention({ pool, retentionDays: 30, log, firstRunDelayMs: 0, intervalMs: 3_600_000 });
    first.start();
    try {
      await waitFor('the first run', async () => (await ages(webhookId)).old === 0, 10_000);
    } finally {
      await first.stop();
    }
    const repeating = createAttemptRetention({ pool, retentionDays: 30, log, firstRunDelayMs: 0, intervalMs: 50 });
    repeating.start();
    try {
      await waitFor('its first run', async () => (await ages(webhookId)).old === 0, 10_000);
      await addRows(webhookId, 5, 31);
      await waitFor('a later run', async () => (await ages(webhookId)).old === 0, 10_000);
    } finally {
      await repeating.stop();
    }
  });
});
