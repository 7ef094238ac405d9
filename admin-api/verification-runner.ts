import type { Logger } from '../connector/observability/logger.js';
import { recordVerification, type WebhookRow } from './store/webhooks.js';
import type { Pool } from '../connector/db/pool.js';
import type { Verifier } from './verification.js';
import { createConcurrencyLimit } from './concurrency-limit.js';

/**
 * Runs verification challenges: in the background right after a webhook is
 * created or re-pointed (the admin's request does not wait up to 15 s for a
 * slow endpoint), or on demand. Shutdown waits for challenges under way.
 */
export interface VerificationRunner {
  run(row: WebhookRow): Promise<WebhookRow | null>;
  start(row: WebhookRow): void;
  drain(): Promise<void>;
}

/** Challenges out at once per admin API process; later ones wait their turn. */
export const MAX_CONCURRENT_CHALLENGES = 16;

/**
 * `maxConcurrent` bounds the challenges out at once: each is an outgoing POST to an address an admin chose, up to
 * 15 s long, and without a bound a burst of webhooks created against slow URLs would hold hundreds of them open.
 */
export function createVerificationRunner(deps: { pool: Pool; verifier: Verifier; log: Logger; maxConcurrent?: number }): VerificationRunner {
  const running = new Set<Promise<unknown>>();
  const background = createConcurrencyLimit(deps.maxConcurrent ?? MAX_CONCURRENT_CHALLENGES);
  const record = (row: WebhookRow, problem: string | null): Promise<WebhookRow | null> => {
    deps.log.info({ webhookId: row.id, verified: problem === null, problem }, 'verification challenge answered');
    return recordVerification(deps.pool, row.id, row.url, problem);
  };
  return {
    // An admin's own check (POST /verify) waits for its answer: it does not queue behind the background ones.
    run: async (row) => record(row, await deps.verifier.challenge(row)),
    start(row) {
      const task = background.run(() => deps.verifier.challenge(row))
        .then((problem) => record(row, problem))
        .catch((error: unknown) => deps.log.warn({ err: error, webhookId: row.id }, 'verification challenge could not be recorded'));
      running.add(task);
      void task.finally(() => running.delete(task));
    },
    async drain() {
      // Those still waiting go out now, all at once, as before the limit: the drain is bound by one challenge's timeout.
      background.lift();
      await Promise.allSettled([...running]);
    },
  };
}
