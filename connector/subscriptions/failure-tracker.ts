import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { deactivateWebhook } from './status.js';

/**
 * Auto-disable: a webhook whose deliveries fail continuously for `windowMs`
 * becomes inactive with a reason an admin can read. The start of the failing
 * streak lives in Postgres (shared by all deliverers, kept across restarts);
 * this process writes only when a streak starts or ends.
 *
 * Bookkeeping, not delivery: when Postgres cannot be written, neither call
 * fails (a delivery already sent must not be sent again for it); the write is
 * tried again on the webhook's next outcome. A streak that could not be
 * recorded starts later, which only postpones an auto-disable.
 */
export interface FailureTracker {
  /** Records a failure; true when it made the webhook inactive. */
  failure(webhookId: string): Promise<boolean>;
  success(webhookId: string): Promise<void>;
}

export function createFailureTracker(deps: { pool: Pool; windowMs: number; log: Logger; now?: () => number }): FailureTracker {
  const now = deps.now ?? Date.now;
  /** webhook id → failing since (ms), or null when known healthy; absent when unknown. */
  const streaks = new Map<string, number | null>();
  const unwritten = (error: unknown, webhookId: string): void => {
    deps.log.warn({ err: error, webhookId }, 'failing streak could not be written to Postgres; tried again on the next outcome');
  };
  return {
    async failure(webhookId) {
      let since = streaks.get(webhookId);
      try {
        if (since === undefined || since === null) {
          const { rows } = await deps.pool.query<{ failing_since: Date }>(
            'UPDATE webhooks SET failing_since = COALESCE(failing_since, now()) WHERE id = $1 RETURNING failing_since',
            [webhookId],
          );
          if (!rows[0]) return false;
          since = rows[0].failing_since.getTime();
          streaks.set(webhookId, since);
        }
        if (now() - since < deps.windowMs) return false;
        const hours = Math.round((deps.windowMs / 3_600_000) * 10) / 10;
        await deactivateWebhook(deps.pool, webhookId, `Disabled automatically: every delivery failed since ${new Date(since).toISOString()} (over ${hours} h)`);
        streaks.delete(webhookId);
        return true;
      } catch (error) {
        unwritten(error, webhookId);
        return false;
      }
    },
    async success(webhookId) {
      if (streaks.get(webhookId) === null) return;
      try {
        await deps.pool.query('UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [webhookId]);
        streaks.set(webhookId, null);
      } catch (error) {
        unwritten(error, webhookId);
      }
    },
  };
}
