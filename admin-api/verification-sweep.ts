import type { Pool } from '../connector/db/pool.js';
import type { Logger } from '../connector/observability/logger.js';
import { claimStalledVerifications } from './store/webhooks.js';
import type { VerificationRunner } from './verification-runner.js';

/** Pending this long with no challenge sent: no admin API is challenging it (a challenge and its queue take minutes at most). */
export const STALLED_AFTER_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 5 * 60_000;
/** Claimed per sweep: the runner's fair limit paces the challenges themselves. */
const CLAIM_LIMIT = 200;

export interface VerificationSweep {
  /** Sweeps now, then every few minutes. */
  start(): void;
  /** Stops sweeping; waits for a sweep under way (its challenges are the runner's to drain). */
  stop(): Promise<void>;
}

/**
 * Background challenges live in memory: an admin API stopped between a
 * webhook's commit and its challenge (a crash, a deploy) would leave the
 * webhook pending, receiving nothing, until an admin asked POST /verify.
 * The sweep finds such webhooks and challenges them, at start-up and every
 * few minutes after.
 */
export function createVerificationSweep(deps: { pool: Pool; runner: VerificationRunner; log: Logger; stalledAfterMs?: number; everyMs?: number }): VerificationSweep {
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> = Promise.resolve();
  let stopped = false;
  const sweep = async (): Promise<void> => {
    try {
      const stalled = await claimStalledVerifications(deps.pool, deps.stalledAfterMs ?? STALLED_AFTER_MS, CLAIM_LIMIT);
      if (stalled.length > 0) deps.log.info({ webhooks: stalled.length }, 'challenging webhooks whose verification stalled (pending, with no challenge sent)');
      for (const row of stalled) deps.runner.start(row);
    } catch (error) {
      deps.log.warn({ err: error }, 'could not look for webhooks whose verification stalled; trying again later');
    }
  };
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      sweeping = sweep().finally(schedule);
    }, deps.everyMs ?? SWEEP_EVERY_MS);
    timer.unref();
  };
  return {
    start() {
      sweeping = sweep().finally(schedule);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await sweeping;
    },
  };
}
