import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { failedEventsSince, listAttemptRows } from '../../admin-api/store/attempts.js';
import { migrateUp } from '../../connector/db/migrate.js';
import { createPool, type Pool } from '../../connector/db/pool.js';
import { createRootLogger } from '../../connector/observability/logger.js';
import { testConfig, uniqueName } from '../support/harness.js';

/**
 * The delivery log's failure queries on real Postgres, on a webhook with many deliveries and few failures: recover
 * and the log filtered to dead letters read the failures through their own index, not every attempt in the range.
 */
describe('delivery log queries for failures', () => {
  const config = testConfig(inject('services'));
  const log = createRootLogger({ level: config.log.level });
  const webhookId = randomUUID();
  const organization = uniqueName('org');
  let pool: Pool;

  /** The plan Postgres makes for the one query `run` sends, with the values it sends. */
  const planOf = async (run: (recording: Pool) => Promise<unknown>): Promise<string> => {
    let sent: { text: string; values: unknown[] } | undefined;
    const recording = { query: async (text: string, values: unknown[]) => { sent = { text, values }; return { rows: [] }; } } as unknown as Pool;
    await run(recording);
    const { rows } = await pool.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sent!.text}`, sent!.values);
    return JSON.stringify(rows[0]!['QUERY PLAN']);
  };

  beforeAll(async () => {
    await migrateUp(config.database.url, log);
    pool = createPool({ url: config.database.url, max: 2, applicationName: uniqueName('attempt-queries') }, log);
    // A day of deliveries, then three dead letters among them.
    await pool.query(
      `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, attempt, outcome, attempted_at)
       SELECT gen_random_uuid()::text, 'msg_' || n, $1, $2, 'e' || n, 'USER_CREATED', 1, 'delivered', now() - make_interval(secs => n)
         FROM generate_series(1, 50000) AS n`,
      [webhookId, organization],
    );
    await pool.query(
      `INSERT INTO delivery_attempts (attempt_id, task_id, webhook_id, organization, event_id, event_type, event, attempt, outcome, attempted_at)
       SELECT gen_random_uuid()::text, 'msg_failed_' || n, $1, $2, 'f' || n, 'USER_CREATED', '{}'::json, 7, 'dead_letter', now() - make_interval(mins => n * 100)
         FROM generate_series(1, 3) AS n`,
      [webhookId, organization],
    );
    await pool.query('ANALYZE delivery_attempts');
  });

  afterAll(async () => {
    await pool?.query('DELETE FROM delivery_attempts WHERE webhook_id = $1', [webhookId]);
    await pool?.end();
  });

  it('recover walks the webhook\'s failures through their own index, and finds each', async () => {
    const range = { since: new Date(Date.now() - 86_400_000).toISOString(), until: new Date().toISOString() };
    expect(await planOf((recording) => failedEventsSince(recording, organization, webhookId, range, 100))).toContain('"Index Name":"delivery_attempts_failed_idx"');
    const found = await failedEventsSince(pool, organization, webhookId, range, 100);
    expect(found.map((f) => f.taskId)).toEqual(['msg_failed_3', 'msg_failed_2', 'msg_failed_1']);
  });

  it('lists the dead letters of the log through the same index, newest first', async () => {
    const query = { status: 'dead_letter', limit: 2 };
    expect(await planOf((recording) => listAttemptRows(recording, organization, webhookId, query))).toContain('"Index Name":"delivery_attempts_failed_idx"');
    const page = await listAttemptRows(pool, organization, webhookId, query);
    expect(page.items.map((row) => row.task_id)).toEqual(['msg_failed_1', 'msg_failed_2']);
    expect(page.nextCursor).not.toBeNull();
  });
});
