import type { Pool } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';

export interface AttemptRetentionDeps {
  pool: Pool;
  /** Rows older than this are deleted (ATTEMPTS_RETENTION_DAYS). */
  retentionDays: number;
  log: Logger;
  /** How long after start the first run begins; a sink restarted more often than the interval still prunes. */
  firstRunDelayMs?: number;
  /** Pause between runs, counted from the end of one to the start of the next. */
  intervalMs?: number;
  /** Rows one statement deletes at most. */
  batchRows?: number;
}

export interface AttemptRetention {
  /** Deletes every row past retention, a batch at a time; the number deleted. */
  prune(): Promise<number>;
  start(): void;
  /** Stops scheduling, ends a run under way after its current batch, and waits for it. */
  stop(): Promise<void>;
}

const DEFAULT_FIRST_RUN_DELAY_MS = 60_000;
const DEFAULT_INTERVAL_MS = 3_600_000;
const DEFAULT_BATCH_ROWS = 5_000;

/**
 * The delivery log's retention by age. Rows go in batches, each a short
 * statement, so a first run over months of rows neither holds locks for
 * long nor writes one huge transaction; `SKIP LOCKED` lets every sink
 * instance run it at once, each taking rows the others are not deleting.
 */
export function createAttemptRetention(deps: AttemptRetentionDeps): AttemptRetention {
  const batchRows = deps.batchRows ?? DEFAULT_BATCH_ROWS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  let stopping = false;

  const prune = async (): Promise<number> => {
    let deleted = 0;
    for (;;) {
      const { rowCount } = await deps.pool.query(
        `DELETE FROM delivery_attempts WHERE attempt_id IN (
           SELECT attempt_id FROM delivery_attempts WHERE attempted_at < now() - make_interval(days => $1) LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [deps.retentionDays, batchRows],
      );
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < batchRows || stopping) break;
    }
    if (deleted > 0) deps.log.info({ deleted, retentionDays: deps.retentionDays }, 'old delivery attempts deleted');
    return deleted;
  };

  const schedule = (delayMs: number): void => {
    timer = setTimeout(() => {
      running = prune()
        .catch((error: unknown) => deps.log.warn({ err: error }, 'delivery log retention run failed; trying again at the next run'))
        .finally(() => {
          running = null;
          if (!stopping) schedule(deps.intervalMs ?? DEFAULT_INTERVAL_MS);
        });
    }, delayMs);
    timer.unref();
  };

  return {
    prune,
    start: () => schedule(deps.firstRunDelayMs ?? DEFAULT_FIRST_RUN_DELAY_MS),
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await running;
    },
  };
}
