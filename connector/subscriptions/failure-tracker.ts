import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { CONNECTOR_ACTOR, recordedWebhookChange } from '../db/webhook-changes.js';

/**
 * Auto-disable: a webhook whose deliveries fail continuously for `windowMs`
 * becomes inactive with a reason an admin can read. The start of the failing
 * streak lives in Postgres (shared by all deliverers and retry tiers, kept
 * across restarts), and Postgres has the last word: a webhook is disabled
 * only if the streak it holds is older than the window. What this process
 * remembers of a streak spares a write per outcome, and is trusted for
 * `recheckMs` at most, because others end streaks too: a success on another
 * deliverer, an admin enabling the webhook again.
 *
 * Continuously means failures keep coming: one after a day with none (no
 * deliveries at all) starts a new streak, so a quiet spell never counts as
 * failing. A success ends a streak at once; a failure within a minute of a
 * success this process saw starts none yet.
 *
 * Bookkeeping, not delivery: when Postgres cannot be written, neither call
 * fails (a delivery already sent must not be sent again for it), and none is
 * tried for a few seconds after, so deliveries do not each wait out a
 * timeout while Postgres hangs. A streak that could not be recorded starts
 * later, which only postpones an auto-disable. A window of 0 disables none.
 */
export interface FailureTracker {
  /** Records a failure; true when it made the webhook inactive. */
  failure(webhookId: string): Promise<boolean>;
  /** Ends a streak; never rejects, and a delivery need not wait for it (its write may wait on Postgres). */
  success(webhookId: string): Promise<void>;
}

export interface FailureTrackerDeps {
  pool: Pool;
  windowMs: number;
  log: Logger;
  now?: () => number;
  /** How long what this process knows of a webhook's streak is trusted before Postgres is asked again. */
  recheckMs?: number;
}

/** A minute: a streak another process ended is seen that much later at most, against a window of days. */
const DEFAULT_RECHECK_MS = 60_000;
/**
 * Longest quiet spell within a streak: a failure after a day without any (no deliveries at all, say) starts a new
 * streak. Retries of the default schedule come at most 10 h apart, so an endpoint down throughout keeps its streak.
 */
const MAX_QUIET_MS = 24 * 3_600_000;
/** After a write Postgres did not take, none is tried for this long: outcomes must not each wait out a timeout. */
const BACKOFF_MS = 10_000;

interface Known {
  /** Failing since (ms, Postgres's clock), or null when seen delivering (a success ended any streak). */
  since: number | null;
  /** When this process last read or wrote it (its own clock). */
  at: number;
}

export function createFailureTracker(deps: FailureTrackerDeps): FailureTracker {
  const now = deps.now ?? Date.now;
  const recheckMs = deps.recheckMs ?? DEFAULT_RECHECK_MS;
  const known = new Map<string, Known>();
  const current = (webhookId: string): Known | undefined => {
    const entry = known.get(webhookId);
    return entry && now() - entry.at < recheckMs ? entry : undefined;
  };
  const maxQuietMs = Math.min(deps.windowMs, MAX_QUIET_MS);
  /** Until when writes are not tried (Postgres did not take the last one). */
  let pausedUntil = 0;
  const unwritten = (error: unknown, webhookId: string): void => {
    pausedUntil = now() + BACKOFF_MS;
    deps.log.warn({ err: error, webhookId, retryInMs: BACKOFF_MS }, 'failing streak could not be written to Postgres; outcomes are not tracked for a while');
  };

  /**
   * Notes a failure: starts a streak unless one is under way whose last failure is recent, and records this one
   * as the last; when the webhook's streak began (null: no such webhook). Called once a recheck while the webhook
   * fails, so its row is written at most once a minute per process.
   */
  const streakStart = async (webhookId: string): Promise<number | null> => {
    const { rows } = await deps.pool.query<{ failing_since: Date }>(
      `UPDATE webhooks
          SET failing_since = CASE
                WHEN failing_since IS NULL OR last_failed_at IS NULL OR last_failed_at < now() - $2 * interval '1 millisecond' THEN now()
                ELSE failing_since END,
              last_failed_at = now()
        WHERE id = $1 RETURNING failing_since`,
      [webhookId, maxQuietMs],
    );
    if (!rows[0]) return null;
    const since = rows[0].failing_since.getTime();
    known.set(webhookId, { since, at: now() });
    return since;
  };

  /** Disables the webhook if the streak Postgres holds is older than the window; whether it did. */
  const disableIfFailingThroughout = async (webhookId: string): Promise<boolean> => {
    const hours = Math.round((deps.windowMs / 3_600_000) * 10) / 10;
    // Recorded: the organization's webhooks subscribed to WEBHOOK_UPDATED hear of it, with the reason.
    const { rowCount } = await recordedWebhookChange(deps.pool, CONNECTOR_ACTOR, (db) => db.query(
      `UPDATE webhooks
          SET status = 'inactive', status_changed_at = now(), updated_at = now(), version = version + 1,
              status_reason = 'Disabled automatically: every delivery failed since '
                || to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ' (over ' || $3 || ' h)'
        WHERE id = $1 AND status = 'active' AND failing_since <= now() - $2 * interval '1 millisecond'`,
      [webhookId, deps.windowMs, String(hours)],
    ));
    return rowCount === 1;
  };

  return {
    async failure(webhookId) {
      // 0: webhooks are never disabled for failing.
      if (deps.windowMs === 0 || now() < pausedUntil) return false;
      const entry = current(webhookId);
      // Seen delivering within the recheck interval: no streak starts until it has passed (a minute later, against a
      // window of days). An endpoint failing every other request would otherwise have its row written on nearly every
      // delivery, each failure starting a streak and each success ending it.
      if (entry?.since === null) return false;
      try {
        const since = entry?.since ?? (await streakStart(webhookId));
        if (since === null || now() - since < deps.windowMs) return false;
        if (await disableIfFailingThroughout(webhookId)) {
          known.delete(webhookId);
          return true;
        }
        // The streak this process knew of was ended meanwhile: this failure starts the next one.
        known.delete(webhookId);
        await streakStart(webhookId);
        return false;
      } catch (error) {
        unwritten(error, webhookId);
        return false;
      }
    },
    async success(webhookId) {
      if (deps.windowMs === 0 || current(webhookId)?.since === null) return;
      // Known healthy here at once. Tried even while writes pause (deliveries do not wait for it: see the task
      // handler): a success left unwritten could let another process disable a recovered webhook. Should the write
      // fail, the next success past the recheck interval tries again.
      known.set(webhookId, { since: null, at: now() });
      try {
        await deps.pool.query('UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL', [webhookId]);
      } catch (error) {
        unwritten(error, webhookId);
      }
    },
  };
}
